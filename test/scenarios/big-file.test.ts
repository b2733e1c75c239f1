/**
 * examples/big-file end to end with real processes (seed 001's tip): a sparse file processed through map-file
 * windows in Node, Python and C at once; every CRC-32 equals the file's, every peak RSS grows by less than 4
 * windows (bounded by the window, not the file), the progress is reported, and the temporary file is removed.
 * npm test runs it on a 256 MiB file with 16 MiB windows (a few seconds on 2 cores); by hand, `npm run example --
 * big-file` uses 1 GiB and 64 MiB windows.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { venvPython } from '../helpers/peers.js';
import { repoRoot as root, runCommand, runExample } from './example-run.js';

describe('examples/big-file', () => {
  it('256 MiB through 16 MiB windows in Node, Python and C: the same CRC-32, peak RSS growth < 4 windows, progress, file removed', async () => {
    const { code, lines, all } = await runExample('big-file', ['--size', '256', '--window', '16']);
    assert.equal(code, 0, `exit ${code}; ${all}`);
    const head = /^big-file: 256 MiB file (\S+) \(sparse: (\d+) MiB on disk\), CRC-32 (0x[0-9a-f]{8}); window 16 MiB$/.exec(lines[0]!);
    assert.ok(head, all);
    const [, file, onDisk, crc] = head;
    assert.ok(Number(onDisk) < 256, 'the file is sparse');
    for (const [label, how] of [['node', 'Segment.mapFile'], ['python', 'Segment.map_file'], ['c', 'shmbus_segment_map_file']]) {
      // Not a terminal: a progress line per quarter.
      for (const p of [25, 50, 75, 100]) assert.ok(lines.includes(`${label}: ${p}% (${(256 * p) / 100} of 256 MiB)`), `${label} ${p}%; ${all}`);
      const re = new RegExp(
        `^${label} \\(${how}\\): CRC-32 (0x[0-9a-f]{8}) = the file's, 16 windows of 16 MiB in [\\d.]+ s \\(\\d+ MiB/s\\); ` +
          `peak RSS (\\d+) MiB, (-?\\d+) MiB above its start \\(window 16 MiB, file 256 MiB\\)$`,
      );
      const m = lines.map((l) => re.exec(l)).find((x) => x !== null);
      assert.ok(m, `no result line for ${label}; ${all}`);
      assert.equal(m[1], crc, `${label}'s CRC-32`);
      assert.ok(Number(m[3]) < 4 * 16, `${label}: peak RSS grew by ${m[3]} MiB, more than 4 windows`);
    }
    assert.match(lines.at(-2)!, /^big-file: every CRC-32 equals the file's; every peak RSS grew by less than 4 windows; \S+ removed$/);
    assert.equal(existsSync(file!), false, 'the example removes its file');
  });

  it('each checksum program alone: the CRC-32 zlib computes, any window size, and a progress bar when asked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmbus-big-file-test-'));
    try {
      const file = join(dir, 'data.bin');
      const data = randomBytes(5 * 2 ** 20 + 12_345); // not a multiple of the window, nor of a page
      writeFileSync(file, data);
      const expected = crc32(data);
      const window = String(2 ** 20 + 4096 + 7); // windows at offsets that are not page-aligned
      for (const [who, cmd, args] of [
        ['node', process.execPath, [`${root}dist/examples/big-file/checksum.js`]],
        ['python', venvPython(), [`${root}examples/big-file/checksum.py`]],
        ['c', `${root}c/build/examples/big-file/checksum`, []],
      ] as const) {
        const res = await runCommand(cmd, [...args, file, window, 'bar']);
        assert.equal(res.code, 0, `${who}: ${res.err}`);
        const result = JSON.parse(/^result (.*)$/m.exec(res.out)![1]!) as { crc: number; bytes: number; windows: number };
        assert.deepEqual([result.crc, result.bytes, result.windows], [expected, data.length, 5], who);
        assert.match(res.err, /\r\[#{30}\] 100% 5\/5 MiB\n$/, `${who} draws a bar on stderr`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
