/**
 * examples/camera-to-python end to end with real processes (seed 000): a C++ writer publishes 1280x720 BGR frames,
 * a Python reader (numpy over the ring) and a Node reader (Uint8Array over the ring) check every pixel and sum
 * them; the orchestrator compares each sum with the writer's sums of the same frames. Then a legacy C writer that
 * knows nothing of shmbus, read through openRaw/open_raw, and one whose header lies, refused by both readers.
 * Also the three-language block at the top of README.md ("## Camera frames from C++ to Python and Node"), which
 * test/readme.test.ts cannot run (it runs ```js blocks alone): compiled and run together here.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackNames } from '../helpers/index.js';
import { venvPython } from '../helpers/peers.js';
import { repoRoot as root, runCommand as run, runExample } from './example-run.js';

const names = trackNames();
after(names.cleanup);
/** Raw shm objects (not shmbus.*) whose name starts with `prefix`. */
const rawObjects = (prefix: string) => readdirSync('/dev/shm').filter((n) => n.startsWith(prefix));
const legacyPrefixes: string[] = [];
// The legacy writers' plain objects, should a failure have killed them before they removed them.
after(() => {
  for (const p of legacyPrefixes) for (const n of rawObjects(p)) rmSync(`/dev/shm/${n}`, { force: true });
});

describe('examples/camera-to-python', () => {
  it('C++ writer -> Python (numpy) and Node readers: every pixel, checksums equal the writer\'s, read + lost + overwritten = published; legacy layout read and a lying header refused', async () => {
    const name = names.name('camera');
    legacyPrefixes.push(`${name}-legacy`);
    const frames = 40;
    const { code, out: text, lines, all } = await runExample('camera-to-python', ['--name', name, '--frames', String(frames), '--fps', '40']);
    assert.equal(code, 0, `exit ${code}; ${all}`);
    assert.match(text, new RegExp(`^writer \\(C\\+\\+\\): published ${frames} frames in [\\d.]+ s, each rendered straight into the ring`, 'm'), all);

    for (const [reader, views] of [['python', 'numpy \\(720, 1280, 3\\) uint8 arrays'], ['node', 'Uint8Array views']] as const) {
      const re = new RegExp(
        `^${reader} reader: (\\d+) frames as ${views} over the ring \\(no copy\\); lost (\\d+), overwritten while read (\\d+); ` +
          `read \\+ lost \\+ overwritten = (\\d+) of ${frames} published; every pixel as drawn; checksum (\\d+) = the writer's (\\d+)$`,
      );
      const m = lines.map((l) => re.exec(l)).find((x) => x !== null);
      assert.ok(m, `no result line for the ${reader} reader; ${all}`);
      const [read, lost, overwritten, accounted, sum, writers] = m.slice(1).map(Number) as [number, number, number, number, number, number];
      assert.ok(read >= 1, `${reader} read no frame`);
      assert.equal(read + lost + overwritten, frames, `${reader}: the seq arithmetic does not add up`);
      assert.equal(accounted, frames);
      assert.equal(sum, writers);
      // A frame's sum lies between what its pixels can add up to: a sum of 0 or of garbage would not.
      assert.ok(sum > read * 1280 * 720 * 3 * 100 && sum < read * 1280 * 720 * 3 * 155, `${reader}: checksum ${sum} for ${read} frames`);
    }
    // cv2 is optional: with it the Python reader resizes; without it the example says what it skipped.
    const cv2 = spawnSync(venvPython(), ['-c', 'import cv2'], { stdio: 'ignore' }).status === 0;
    if (cv2) assert.match(text, /^python reader: cv2 \S+ resized the last frame to 640x360 \(no copy in\): mean B [\d.]+ G [\d.]+ R [\d.]+$/m, all);
    else assert.match(text, /^python reader: cv2 is not installed \(pip install opencv-python-headless\): the resize step was skipped$/m, all);

    // The legacy writer's picture: B = x, G = y, R = x + y (each & 255), summed here independently.
    let drawn = 0;
    for (let y = 0; y < 720; y++) for (let x = 0; x < 1280; x++) drawn += (x & 255) + (y & 255) + ((x + y) & 255);
    for (const [reader, how] of [['python', 'open_raw'], ['node', 'openRaw']]) {
      assert.ok(
        lines.includes(`${reader} legacy reader: 1280x720x3 through Segment.${how}, read in place; every pixel as drawn; checksum ${drawn}; center [128,104,232]`),
        all,
      );
      assert.ok(
        lines.includes(`${reader} legacy reader: refused through Segment.${how}: header says 4000x3000x3 = 36000012 bytes, the object holds 2764812`),
        all,
      );
    }
    assert.equal(lines.at(-2), 'camera-to-python: every check passed', all);
    assert.equal(existsSync(`/dev/shm/shmbus.${name}`), false, 'the writer removes its topic');
    assert.deepEqual(rawObjects(`${name}-legacy`), [], 'the legacy writers remove their objects');
  });

  it('the README block: its C++ writer, Python reader and Node reader run together as written', async () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const section = readme.split('\n## ').find((s) => s.startsWith('Camera frames from C++ to Python and Node'));
    assert.ok(section, 'README.md has the section "## Camera frames from C++ to Python and Node"');
    const block = (lang: string) => {
      const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section);
      assert.ok(m, `the section has a \`\`\`${lang} block`);
      const code = m[1]!;
      assert.ok(code.split('\n').filter((l) => l.trim() !== '').length < 20, `the ${lang} side is under 20 lines`);
      return code.replace(/(["'])camera\1/g, `$1${name}$1`); // a unique topic name for this run
    };
    const name = names.name('readme-camera');
    const tmp = mkdtempSync(join(tmpdir(), 'shmbus-readme-camera-'));
    // The Node block must run inside this package, where `import ... from 'shmbus'` resolves to this checkout.
    const nodeDir = `${root}dist/readme-camera-${process.pid}/`;
    mkdirSync(nodeDir, { recursive: true });
    try {
      // ```c++, not ```cpp: test/cross/readme-c.test.ts runs the ```c/```cpp programs of the "C" and "C++" sections.
      writeFileSync(join(tmp, 'writer.cpp'), block('c\\+\\+'));
      writeFileSync(join(tmp, 'reader.py'), block('python'));
      writeFileSync(`${nodeDir}reader.mjs`, block('javascript'));
      // The block's own command line (make -C c already ran: npm test builds the C peer first), warnings as errors.
      const cxx = await run('c++', ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-pedantic', join(tmp, 'writer.cpp'), '-I', `${root}c`, `${root}c/build/libshmbus.a`, '-pthread', '-o', join(tmp, 'writer')]);
      assert.equal(cxx.code, 0, `the README's C++ writer compiles as documented:\n${cxx.err}`);
      // The readers first (they wait up to 10 s for the topic), then the writer (it waits for both).
      const python = run(venvPython(), [join(tmp, 'reader.py')]);
      const node = run(process.execPath, [`${nodeDir}reader.mjs`]);
      const writer = await run(join(tmp, 'writer'), []);
      const [py, js] = await Promise.all([python, node]);
      assert.equal(writer.code, 0, writer.err);
      assert.equal(py.code, 0, py.err);
      assert.equal(js.code, 0, js.err);

      // Every pixel byte of frame n is (pixel index + n) & 255: each channel's mean is exactly 127.5.
      const check = (out: string, frame: RegExp, who: string) => {
        const lines = out.trim().split('\n');
        const lost = /^lost (\d+)$/.exec(lines.at(-1)!);
        assert.ok(lost, `${who} ends with "lost N":\n${out}`);
        const seqs = lines.slice(0, -1).map((l) => {
          const m = frame.exec(l);
          assert.ok(m, `${who} printed ${JSON.stringify(l)}`);
          return Number(m[1]);
        });
        assert.ok(seqs.length >= 1, `${who} printed no frame`);
        assert.ok(seqs.every((s, i) => s >= 1 && s <= 100 && (i === 0 || s > seqs[i - 1]!)), `${who}: seqs ${seqs.join(' ')}`);
        assert.ok(seqs.length + Number(lost[1]) <= 100, `${who}: ${seqs.length} frames + ${lost[1]} lost > 100 published`);
      };
      check(py.out, /^(\d+) \(720, 1280, 3\) \[127\.5, 127\.5, 127\.5\]$/, 'the Python reader');
      check(js.out, /^(\d+) 1280 720 BGR 127\.5$/, 'the Node reader');
      assert.equal(existsSync(`/dev/shm/shmbus.${name}`), false, 'the writer removed the name');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      rmSync(nodeDir, { recursive: true, force: true });
    }
  });
});
