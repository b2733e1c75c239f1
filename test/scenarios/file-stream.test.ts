/**
 * examples/file-stream end to end with real processes: a Node and a Python client start before the C++ server and
 * wait for its queue; the server streams a listing of a tree this test made (so the expected count is known here)
 * as Parts records; each client's count and checksum equal the server's trailer, its own lstat listing, and each
 * other's; the example leaves nothing in /dev/shm.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackNames } from '../helpers/index.js';
import { runExample } from './example-run.js';

const names = trackNames();
const tree = mkdtempSync(join(tmpdir(), 'shmbus-test-file-stream-'));
after(() => {
  names.cleanup();
  rmSync(tree, { recursive: true, force: true });
});

describe('examples/file-stream', () => {
  it('a C++ server streams a listing to Node and Python clients that waited for it: nothing lost', async () => {
    // 5 folders x 120 files (60 of them empty, names with spaces and UTF-8), a nested folder, a symlink: 608 entries.
    let files = 0;
    let bytes = 0;
    for (let d = 0; d < 5; d++) {
      mkdirSync(join(tree, `d${d}`));
      for (let f = 0; f < 120; f++) {
        const size = f % 10 === 0 ? 0 : d * 1000 + f;
        writeFileSync(join(tree, `d${d}`, f % 7 === 0 ? `naïve name ${f}.txt` : `f${f}`), Buffer.alloc(size, 7));
        files++;
        bytes += size;
      }
    }
    mkdirSync(join(tree, 'd0', 'sub'));
    writeFileSync(join(tree, 'd0', 'sub', 'x'), 'xyz');
    symlinkSync('d1/f1', join(tree, 'link'));
    files++;
    bytes += 3;
    const entries = files + 5 + 1 + 1; // files, folders, the nested folder, the symlink

    const name = names.name('file-stream');
    const run = await runExample('file-stream', [tree, name]);
    assert.equal(run.code, 0, run.all);
    const { out: text } = run;

    // The clients waited before the server existed.
    const order = ['A (node): waiting for', 'B (python): waiting for', '> both clients wait', 'server (cpp '].map((s) => text.indexOf(s));
    assert.ok(order.every((i) => i >= 0), text);
    assert.ok(Math.max(order[0]!, order[1]!) < order[2]! && order[2]! < order[3]!, `the clients waited first:\n${text}`);

    const checksums = new Set<string>();
    for (const who of ['A (node)', 'B (python)']) {
      const got = new RegExp(`\\| ${who.replace(/[()]/g, '\\$&')}: got (\\d+) records \\((.*); (\\d+) bytes of files\\), checksum ([0-9a-f]{16}), then the end of the stream`).exec(text);
      assert.ok(got, `${who} reported no listing:\n${text}`);
      assert.equal(Number(got[1]), entries, `${who}: every entry arrived`);
      assert.equal(got[2], `6 dir, ${files} file, 1 symlink`);
      assert.equal(Number(got[3]), bytes);
      checksums.add(got[4]!);
      assert.ok(text.includes(`| ${who}: the server's trailer says ${entries} records, checksum ${got[4]}`), `${who}: the trailer agrees`);
      assert.ok(text.includes(`| ${who}: this machine's own listing: ${entries} records, checksum ${got[4]}`), `${who}: the disk agrees`);
      assert.ok(text.includes(`| ${who}: all three agree: nothing lost, nothing changed`));
    }
    assert.equal(checksums.size, 1, 'Node and Python got the same listing');
    assert.equal((text.match(new RegExp(`server: sent ${entries} records and the trailer to`, 'g')) ?? []).length, 2);
    assert.match(text, /server: served 2 listings/);
    const left = readdirSync('/dev/shm').filter((f) => f.startsWith(`shmbus.${name}`));
    assert.deepEqual(left, [], 'the server and the clients remove their queues');
  });
});
