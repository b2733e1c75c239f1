import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { RwLock, RWLOCK_SIZE, Segment, isShmbusError } from '../../src/index.js';
import { ask, counterRun, exitPeers, lockTestScope, until } from '../helpers/locks.js';
import { RWLOCK_OCCUPIED_OFFSET, RWLOCK_OCCUPIED_WAITERS_OFFSET, RWLOCK_WRITER_OFFSET } from '../../src/protocol/layout.js';

const { name, peer: spawn } = lockTestScope();
const peer = (...args: string[]) => spawn('rwlock', ...args);
const exit = exitPeers;

describe('RwLock across processes', () => {
  it('four processes x 100 000 increments of a plain counter under the write lock give exactly 400 000', async () => {
    await counterRun(name('rwcount'), 'rwlock', 100_000, ['sync', 'async', 'sync', 'async']);
  });

  it('readers overlap: four reader processes are inside at once, writers are kept out, readers never wait for readers', async () => {
    const n = name('rwover');
    const rw = RwLock.create(n);
    try {
      const readers = await Promise.all([1, 2, 3, 4].map(() => peer('named', n)));
      // Each reply comes while that reader holds its lock, and none has released: all four are inside together.
      for (const r of readers) assert.equal(await ask(r, 'read', /^read|error/), 'read recovered=false');
      assert.equal(rw.tryWriteLock(), null, 'a writer is kept out while readers are inside');
      const writer = await peer('named', n);
      assert.equal(await ask(writer, 'trywrite', /^write|busy/), 'busy');
      // A fifth reader comes and goes repeatedly while the four stay inside.
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(rw.readLockSync({ timeout: 1000 }), { recovered: false });
        rw.readUnlock();
      }
      for (const r of readers) assert.equal(await ask(r, 'read-unlock', /^unlocked|error/), 'unlocked');
      assert.deepEqual(rw.tryWriteLock(), { recovered: false });
      rw.writeUnlock();
      await exit(...readers, writer);
    } finally {
      rw.close();
    }
  });

  it('a writer excludes readers and writers; a waiting reader gets in when it leaves', async () => {
    const n = name('rwexcl');
    const rw = RwLock.create(n);
    try {
      const other = await peer('named', n);
      assert.deepEqual(rw.writeLockSync(), { recovered: false });
      assert.equal(await ask(other, 'tryread', /^read|busy/), 'busy');
      assert.equal(await ask(other, 'trywrite', /^write|busy/), 'busy');
      other.send('read-async');
      const got = other.line(/^read|error/);
      rw.writeUnlock();
      assert.equal(await got, 'read recovered=false');
      assert.equal(rw.tryWriteLock(), null);
      assert.throws(() => rw.writeUnlock(), (e) => isShmbusError(e, 'ERR_NOT_OWNER'));
      assert.throws(() => rw.readUnlock(), (e) => isShmbusError(e, 'ERR_NOT_OWNER'));
      assert.equal(await ask(other, 'write-unlock', /^unlocked|error/), 'error ERR_NOT_OWNER');
      assert.equal(await ask(other, 'read-unlock', /^unlocked|error/), 'unlocked');
      await exit(other);
    } finally {
      rw.close();
    }
  });

  it('a steady stream of overlapping readers cannot starve a writer (writer preference)', async () => {
    const n = name('rwpref');
    const rw = RwLock.create(n);
    try {
      const streams = await Promise.all([peer('named', n), peer('named', n)]);
      for (const s of streams) await ask(s, 'stream', 'streaming');
      const writer = await peer('named', n);
      // The child's own 20 s timeout (and the watchdog) bound this; starvation would fail it.
      assert.equal(await ask(writer, 'write-async', /^write|error/), 'write recovered=false');
      assert.equal(await ask(writer, 'write-unlock', /^unlocked|error/), 'unlocked');
      for (const s of streams) {
        s.send('stop');
        assert.match(await s.line(/^stream done/), /n=[1-9]/);
      }
      await exit(...streams, writer);
    } finally {
      rw.close();
    }
  });

  it('a reader killed with -9 while holding a read lock: its hold is released and a writer gets in', async () => {
    const n = name('rwdeadr');
    const rw = RwLock.create(n, { livenessInterval: 20 });
    try {
      const reader = await peer('named', n);
      assert.equal(await ask(reader, 'read', /^read/), 'read recovered=false');
      assert.equal(rw.tryWriteLock(), null);
      const pending = rw.writeLock({ timeout: 20_000 });
      reader.kill('SIGKILL');
      await reader.exited;
      assert.deepEqual(await pending, { recovered: false }, 'readers change nothing: nothing to repair');
      rw.writeUnlock();
    } finally {
      rw.close();
    }
  });

  it('a writer killed with -9: a waiting reader takes it over exclusively with recovered: true, and so does a waiting writer', async () => {
    for (const next of ['read', 'write'] as const) {
      const n = name(`rwdeadw${next}`);
      const rw = RwLock.create(n);
      try {
        const writer = await peer('named', n, '0', '10');
        const waiter = await peer('named', n, '0', '10');
        assert.equal(await ask(writer, 'write', /^write/), 'write recovered=false');
        waiter.send(next === 'read' ? 'read-async' : 'write');
        writer.kill('SIGKILL');
        await writer.exited;
        assert.equal(await waiter.line(/^read|^write|error/), `${next} recovered=true`);
        // Whoever recovers holds the lock alone (a reader too), so it may repair what the writer left half-done.
        assert.equal(rw.tryReadLock(), null);
        assert.equal(rw.tryWriteLock(), null);
        assert.equal(await ask(waiter, `${next}-unlock`, /^unlocked|error/), 'unlocked');
        assert.deepEqual(rw.tryWriteLock(), { recovered: false }, 'clean after one recovery');
        rw.writeUnlock();
        await exit(waiter);
      } finally {
        rw.close();
      }
    }
  });

  it('async locks keep the event loop free and honour timeout and signal; sync self-deadlocks are refused', async () => {
    const n = name('rwasync');
    const rw = RwLock.create(n);
    try {
      const writer = await peer('named', n);
      assert.equal(await ask(writer, 'write', /^write/), 'write recovered=false');
      let settled = false;
      const pending = rw.readLock({ timeout: 20_000 }).then((r) => {
        settled = true;
        return r;
      });
      await new Promise((resolve) => setTimeout(resolve, 0));
      await readFile(new URL(import.meta.url));
      assert.equal(settled, false);
      await assert.rejects(rw.readLock({ timeout: 30 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'));
      await assert.rejects(rw.writeLock({ timeout: 30 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'));
      assert.throws(() => rw.readLockSync({ timeout: 30 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'));
      const ac = new AbortController();
      const aborted = rw.writeLock({ signal: ac.signal });
      ac.abort();
      await assert.rejects(aborted, (e) => isShmbusError(e, 'ERR_ABORTED'));
      assert.equal(await ask(writer, 'write-unlock', /^unlocked/), 'unlocked');
      assert.deepEqual(await pending, { recovered: false });
      assert.throws(() => rw.writeLockSync(), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      rw.readUnlock();
      rw.writeLockSync();
      assert.throws(() => rw.readLockSync(), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      rw.writeUnlock();
      await assert.rejects(
        rw.withWrite(() => {
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await rw.withRead(() => 7), 7);
      assert.deepEqual(rw.tryWriteLock(), { recovered: false }, 'withRead and withWrite released');
      rw.writeUnlock();
      await exit(writer);
    } finally {
      rw.close();
    }
  });

  it('async readers of one thread respect writer preference: a second task waits behind a waiting writer', async () => {
    const n = name('rwasyncpref');
    const rw = RwLock.create(n, { livenessInterval: 20 });
    const flag = (): number => Atomics.load(rw.segment.words, RWLOCK_WRITER_OFFSET / 4);
    try {
      const writer = await peer('named', n);
      let endFirst!: () => void;
      const first = rw.withRead(() => new Promise<void>((resolve) => (endFirst = resolve)));
      await until(() => endFirst !== undefined, 'the first task to hold its read lock');
      writer.send('write-async');
      await until(() => (flag() & 1) !== 0, 'the writer to raise its flag');
      // Task 2 of this thread: a thread that already reads must not pass a waiting writer asynchronously
      // (its first task releases by itself; passing would starve the writer).
      assert.equal(rw.tryReadLock(), null, 'tryReadLock passed a waiting writer');
      let secondSettled = false;
      const second = rw.readLock({ timeout: 30_000 }).then((r) => {
        secondSettled = true;
        return r;
      });
      assert.equal(await ask(writer, 'ping', 'pong'), 'pong');
      assert.equal(secondSettled, false, 'an async read of a reading thread passed a waiting writer');
      endFirst();
      await first;
      assert.equal(await writer.line(/^write/), 'write recovered=false');
      assert.equal(secondSettled, false, 'a reader got in while the writer holds the lock');
      assert.equal(await ask(writer, 'write-unlock', 'unlocked'), 'unlocked');
      assert.deepEqual(await second, { recovered: false });
      rw.readUnlock();
      // A sync nested read still passes a waiting writer (blocking this thread would deadlock it).
      rw.readLockSync();
      writer.send('write-async');
      await until(() => (flag() & 1) !== 0, 'the writer to raise its flag again');
      assert.deepEqual(rw.readLockSync({ timeout: 5000 }), { recovered: false });
      rw.readUnlock();
      rw.readUnlock();
      assert.equal(await writer.line(/^write/), 'write recovered=false');
      assert.equal(await ask(writer, 'write-unlock', 'unlocked'), 'unlocked');
      await exit(writer);
    } finally {
      rw.close();
    }
  });

  it('sleepers word of `occupied`: a draining writer killed with -9 while it sleeps leaves no lasting announcement', async () => {
    const n = name('rwdeaddrain');
    const rw = RwLock.create(n, { livenessInterval: 10 });
    const sleepers = (): number => Atomics.load(rw.segment.words, RWLOCK_OCCUPIED_WAITERS_OFFSET / 4);
    try {
      assert.deepEqual(rw.readLockSync(), { recovered: false });
      const writer = await peer('named', n);
      writer.send('write');
      await until(() => sleepers() === 1, 'the writer to park while it drains the readers');
      writer.kill('SIGKILL');
      await writer.exited;
      assert.equal(sleepers(), 1, 'the dead writer\'s announcement is still there');
      rw.readUnlock();
      assert.equal(sleepers(), 0, 'the read unlock cleared it');
      // The dead writer left its flag raised: the next reader takes its lock over (exclusively), then reads go on.
      assert.deepEqual(await rw.readLock({ timeout: 20_000 }), { recovered: true });
      rw.readUnlock();
      assert.deepEqual(rw.readLockSync({ timeout: 5000 }), { recovered: false });
      rw.readUnlock();
      assert.equal(sleepers(), 0, 'no announcement is left: later unlocks make no wake call');
    } finally {
      rw.close();
    }
  });

  it('withRead releases exactly its own hold, not the newest hold of the thread', async () => {
    const n = name('rwownhold');
    const rw = RwLock.create(n);
    const occupied = (): number => Atomics.load(rw.segment.words, RWLOCK_OCCUPIED_OFFSET / 4);
    try {
      const writer = await peer('named', n);
      let inside = false;
      let endA!: () => void;
      const a = rw.withRead(async () => {
        inside = true;
        await new Promise<void>((resolve) => (endA = resolve));
      });
      // Task B takes a hold of its own before A's body starts, and ends it while A is still inside.
      rw.readLockSync();
      await until(() => inside, 'withRead to enter its body');
      rw.readUnlock();
      endA();
      await a;
      assert.equal(occupied(), 0, 'a read hold was left behind');
      assert.equal(await ask(writer, 'trywrite', /^write|busy/), 'write recovered=false');
      assert.equal(await ask(writer, 'write-unlock', 'unlocked'), 'unlocked');
      await exit(writer);
    } finally {
      rw.close();
    }
  });

  it('an embedded RwLock checks its placement', () => {
    const seg = Segment.create(name('rwembed'), { size: RWLOCK_SIZE + 8 });
    try {
      assert.throws(() => new RwLock(seg, 4), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      assert.throws(() => new RwLock(seg, 16), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      const rw = new RwLock(seg, 8);
      assert.deepEqual(rw.tryReadLock(), { recovered: false });
      rw.readUnlock();
    } finally {
      seg.close();
    }
  });
});
