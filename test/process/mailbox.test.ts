/** Mailbox across real processes: no torn reads under a fast writer, changed() wakes other processes, a writer killed mid-write. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { Mailbox, Segment } from '../../src/index.js';
import { MAILBOX_WAITERS_OFFSET } from '../../src/protocol/index.js';
import { expectCleanExit, fixture, spawnPeer, uniqueName, unlinkQuietly } from '../helpers/index.js';
import { tornReadSoak } from './mailbox-soak.js';

describe('Mailbox across processes', () => {
  it('1 writer rewriting a 1 MiB value, 4 readers checking every read: never a torn value (3 s)', async () => {
    await tornReadSoak(3000);
  });

  it('changed() wakes waiters in other processes with the new version', async () => {
    const name = uniqueName('mbwake');
    const mb = Mailbox.create(name, { maxMessageSize: 1024 });
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
    const mb = Mailbox.create(name, { maxMessageSize: 1 << 20 });
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

  it('writeAsync waits for a writer in another process without blocking the event loop', async () => {
    const name = uniqueName('mbasync');
    const mb = Mailbox.create(name, { maxMessageSize: 64 });
    const holder = spawnPeer(fixture('mailbox-peer'), ['hold', name]);
    try {
      await holder.line('holding');
      let settled = false;
      const p = mb.writeAsync('late', { timeout: 30_000 }).finally(() => (settled = true));
      // The event loop runs while the write waits: a timer fires and the child is told to release.
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal(settled, false, 'the write waits while the other process holds the lock');
      holder.send('release');
      await holder.line('released');
      assert.equal(await p, 1);
      assert.equal(mb.read().text(), 'late');
      await expectCleanExit(holder);
    } finally {
      mb.close();
      unlinkQuietly(name);
    }
  });

  it('a changed() caller killed -9 while parked leaves no stale sleeper after the next write', async () => {
    const name = uniqueName('mbdead');
    const mb = Mailbox.create(name, { maxMessageSize: 64 });
    const seg = Segment.open(name, { kind: 'mailbox' });
    try {
      const watcher = spawnPeer(fixture('mailbox-peer'), ['watcher', name, '0']);
      await watcher.line('waiting');
      // Parked = announced in the sleepers word (it does so just before its futex wait).
      const until = performance.now() + 20_000;
      while (Atomics.load(seg.words, MAILBOX_WAITERS_OFFSET / 4) === 0 && performance.now() < until) {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      assert.notEqual(Atomics.load(seg.words, MAILBOX_WAITERS_OFFSET / 4), 0, 'the watcher parked');
      watcher.kill('SIGKILL');
      assert.equal(await watcher.exited, 'SIGKILL');
      mb.write('one');
      assert.equal(Atomics.load(seg.words, MAILBOX_WAITERS_OFFSET / 4), 0, 'the stale announcement is gone');
      mb.write('two');
      assert.equal(Atomics.load(seg.words, MAILBOX_WAITERS_OFFSET / 4), 0, 'no sleeper: no wake call');
    } finally {
      seg.close();
      mb.close();
      unlinkQuietly(name);
    }
  });

  it('an unref’d mailbox with a pending changed() lets its process exit', async () => {
    const name = uniqueName('mbunref');
    const mb = Mailbox.create(name, { maxMessageSize: 64 });
    try {
      const watcher = spawnPeer(fixture('mailbox-peer'), ['unref-watcher', name]);
      await watcher.line('waiting');
      await expectCleanExit(watcher);
    } finally {
      mb.close();
      unlinkQuietly(name);
    }
  });
});
