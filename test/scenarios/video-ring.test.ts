/**
 * examples/video-ring end to end with real processes (seed 002): 2 producers (C++, Node) x 3 consumers (Node,
 * Python, C++) of 1280x720 BGR frames in one Topic. Every consumer checks every frame it reads (stamp, pattern,
 * checksum, frame numbers going up per producer) and measures its frame rate; the deliberately slow one (here the
 * Python consumer, 200 ms per frame against producers at full speed) must lose frames, and for every consumer
 * read + lost + overwritten-while-read must equal the frames published.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { trackNames } from '../helpers/index.js';
import { runExample } from './example-run.js';

const names = trackNames();
after(names.cleanup);

describe('examples/video-ring', () => {
  it('C++ and Node producers x Node, Python and C++ consumers: every frame verified, the slow consumer loses frames and every count adds up', async () => {
    const name = names.name('video-ring');
    const frames = 40; // per producer
    const { code, out: text, lines, all } = await runExample('video-ring', ['--name', name, '--frames', String(frames), '--fps', '0', '--slow', 'python', '--delay', '200']);
    assert.equal(code, 0, `exit ${code}; ${all}`);
    for (const producer of ['C\\+\\+ \\(0\\)', 'Node \\(1\\)']) {
      assert.match(text, new RegExp(`^producer ${producer}: published ${frames} frames in [\\d.]+ s, each rendered straight into the ring`, 'm'), all);
    }
    const total = 2 * frames;
    for (const consumer of ['node', 'python', 'cpp']) {
      const slow = consumer === 'python';
      const how = slow ? ' \\(slow: copies each frame out, then 200 ms on it\\)' : ' \\(reads in place\\)';
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
      if (slow) {
        assert.ok(lost! > 0, `the slow consumer lost nothing; ${all}`);
        assert.equal(overwritten, 0, 'the slow consumer copies frames out: none can be overwritten under it');
        assert.ok(read! >= 16, 'the slow consumer reads at least the 16 frames the ring still holds at the end');
      }
    }
    assert.equal(lines.at(-2), 'video-ring: every check passed', all);
    assert.equal(existsSync(`/dev/shm/shmbus.${name}`), false, 'the example removes its topic');
  });
});
