/**
 * examples/video-ring end to end with real processes (seed 002): 2 producers (C++, Node) x 3 consumers (Node,
 * Python, C++) of 1280x720 BGR frames in one Topic. Every consumer checks every frame it reads (stamp, pattern,
 * checksum, frame numbers going up per producer) and measures its frame rate. The deliberately slow one (the
 * Python consumer, then the C++ one, then the Node one: 50 ms or more per frame, and never done before the
 * producers are a ring ahead, so the losses do not depend on the machine's load) must lose frames, and for every
 * consumer read + lost + overwritten-while-read must equal the frames published.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { trackNames } from '../helpers/index.js';
import { runExample } from './example-run.js';

const names = trackNames();
after(names.cleanup);

/** Runs the example with `slow` as the deliberately slow consumer and checks every line it prints. */
async function ring(slow: 'node' | 'python' | 'cpp', frames: number): Promise<void> {
  const name = names.name('video-ring');
  const { code, out: text, lines, all } = await runExample('video-ring', ['--name', name, '--frames', String(frames), '--fps', '0', '--slow', slow, '--delay', '50']);
  assert.equal(code, 0, `exit ${code}; ${all}`);
  for (const producer of ['C\\+\\+ \\(0\\)', 'Node \\(1\\)']) {
    assert.match(text, new RegExp(`^producer ${producer}: published ${frames} frames in [\\d.]+ s, each rendered straight into the ring`, 'm'), all);
  }
  const total = 2 * frames;
  for (const consumer of ['node', 'python', 'cpp']) {
    const isSlow = consumer === slow;
    const how = isSlow ? ' \\(slow: copies each frame out, then 50 ms or more on it\\)' : ' \\(reads in place\\)';
    const re = new RegExp(
      `^consumer ${consumer}${how}: (\\d+) frames at ([\\d.]+) fps \\(C\\+\\+ (\\d+), Node (\\d+)\\); lost (\\d+), ` +
        `overwritten while read (\\d+): \\d+ \\+ \\d+ \\+ \\d+ = (\\d+) of ${total} published; every frame's pattern and checksum verified$`,
    );
    const m = lines.map((l) => re.exec(l)).find((x) => x !== null);
    assert.ok(m, `no verified result line for consumer ${consumer}; ${all}`);
    const [read, fps, fromCpp, fromNode, lost, overwritten, accounted] = m.slice(1).map(Number) as number[];
    assert.ok(read! >= 2 && fps! > 0, `consumer ${consumer}: ${read} frames at ${fps} fps`);
    assert.equal(fromCpp! + fromNode!, read, `consumer ${consumer}: per-producer counts`);
    assert.equal(read! + lost! + overwritten!, total, `consumer ${consumer}: read + lost + overwritten`);
    assert.equal(accounted, total);
    if (isSlow) {
      assert.ok(lost! > 0, `the slow consumer lost nothing; ${all}`);
      assert.equal(overwritten, 0, 'the slow consumer copies frames out: none can be overwritten under it');
      assert.ok(read! >= 16, 'the slow consumer reads at least the 16 frames the ring still holds at the end');
    }
  }
  assert.equal(lines.at(-2), 'video-ring: every check passed', all);
  assert.equal(existsSync(`/dev/shm/shmbus.${name}`), false, 'the example removes its topic');
}

describe('examples/video-ring', () => {
  it('C++ and Node producers x Node, Python and C++ consumers, Python the slow one: every frame verified, the slow consumer loses frames, every count adds up', async () => {
    await ring('python', 40);
  });
  it('the same with the C++ consumer slow (shmbus_sub_read_copy), then the Node one (read into a buffer)', async () => {
    await ring('cpp', 18); // 36 frames: more than a ring (16) and one, so the slow one must lose some
    await ring('node', 18);
  });
});
