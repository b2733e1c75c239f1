/** Mailbox across real processes: no torn reads under a fast writer, changed() wakes other processes, a writer killed mid-write. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { Mailbox } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, uniqueName, unlinkQuietly } from '../helpers/index.js';
import { tornReadSoak } from './mailbox-soak.js';

describe('Mailbox across processes', () => {
  it('1 writer rewriting a 1 MiB value, 4 readers checking every read: never a torn value (3 s)', async () => {
    await tornReadSoak(3000);
  });

  it('changed() wakes waiters in other processes with the new version', async () => {
    const name = uniqueName('mbwake');
    const mb = Mailbox.create(name, { maxSize: 1024 });
    try {
      const watchers = [0, 1].map(() => spawnPeer(fixture('mailbox-peer'), ['watcher', name, '0']));
      for (const w of watchers) await w.line('waiting');
      assert.equal(mb.write('hello'), 1);
      for (const w of watchers) {
        assert.equal(await w.line(/^changed/), 'changed 1 hello');
        await expectCleanExit(w);
      }
    } finally {
      mb.close();
      unlinkQuietly(name);
    }
  });

  it('a writer killed mid-write leaves the last complete value readable, and the next writer takes over', async () => {
    const name = uniqueName('mbkill');
    const mb = Mailbox.create(name, { maxSize: 1 << 20 });
    try {
      const flood = spawnPeer(fixture('mailbox-peer'), ['flood', name]);
      await flood.line('flooding');
      flood.kill('SIGKILL');
      assert.equal(await flood.exited, 'SIGKILL');
      const v = mb.read();
      assert.equal(v.data.length, 1 << 20);
      const dv = new DataView(v.data.buffer, v.data.byteOffset, 8);
      assert.equal(crc32(v.data.subarray(4)), dv.getUint32(0, true));
      assert.equal(mb.write('after', { timeout: 10_000 }), v.version + 1);
      assert.equal(mb.read().text(), 'after');
    } finally {
      mb.close();
      unlinkQuietly(name);
    }
  });
});
