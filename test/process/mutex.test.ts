import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { Mutex, MUTEX_SIZE, Segment, isShmbusError, type LockResult } from '../../src/index.js';
import { MUTEX_OWNER_PID_OFFSET, MUTEX_OWNER_START_OFFSET, MUTEX_WORD_OFFSET } from '../../src/protocol/index.js';
import { processStartTime } from '../../src/base/process.js';
import { expectCleanExit, fixture } from '../helpers/index.js';
import { counterRun, lockTestScope } from '../helpers/locks.js';

const { name, peer } = lockTestScope();

describe('Mutex across processes', () => {
  it('four processes x 100 000 increments of a plain counter under an embedded Mutex give exactly 400 000', async () => {
    await counterRun(name('mcount'), 'mutex', 100_000, ['sync', 'sync', 'async', 'async']);
  });

  it('a process killed with -9 while holding the mutex: the waiting process takes it over with recovered: true', async () => {
    const n = name('mkill');
    const m = Mutex.create(n, { livenessInterval: 20 });
    try {
      const holder = await peer('mutex', 'named', n);
      holder.send('lock');
      assert.equal(await holder.line(/^locked/), 'locked recovered=false');
      assert.equal(m.tryLock(), null);
      const pending = m.lock({ timeout: 20_000 });
      holder.kill('SIGKILL');
      await holder.exited;
      assert.deepEqual(await pending, { recovered: true });
      m.unlock();
      assert.deepEqual(m.lockSync({ timeout: 1000 }), { recovered: false }, 'after one takeover the lock is clean');
      m.unlock();
    } finally {
      m.close();
    }
  });

  it('kill -9 of the holder while two other processes sleep on it: one recovers, the other then gets it clean', async () => {
    const n = name('mkill2');
    const m = Mutex.create(n);
    try {
      const holder = await peer('mutex', 'named', n, '0', '10');
      const a = await peer('mutex', 'named', n, '0', '10');
      const b = await peer('mutex', 'named', n, '0', '10');
      holder.send('lock');
      await holder.line('locked recovered=false');
      a.send('lock');
      b.send('lock-async');
      holder.kill('SIGKILL');
      await holder.exited;
      const lines = [a.line(/^locked/), b.line(/^locked/)];
      const first = await Promise.race(lines.map((l, i) => l.then((text) => ({ text, i }))));
      assert.equal(first.text, 'locked recovered=true');
      const winner = first.i === 0 ? a : b;
      const other = first.i === 0 ? b : a;
      winner.send('unlock');
      await winner.line('unlocked');
      assert.equal(await lines[1 - first.i], 'locked recovered=false');
      other.send('unlock');
      await other.line('unlocked');
      for (const p of [a, b]) {
        p.send('exit');
        await expectCleanExit(p);
      }
    } finally {
      m.close();
    }
  });

  it('the owner identity is pid + start time: a live pid with another start time is a dead owner (pid reuse)', async () => {
    const segName = name('mreuse');
    const seg = Segment.create(segName, { size: 256 });
    const stranger = await peer('mutex', 'embedded', segName, '128'); // alive, never touches the mutex at 0
    try {
      const pid = stranger.pid;
      const w = seg.words;
      const start = processStartTime(pid);
      assert.ok(start > 0);
      // Forge "pid holds it" with a complete identity whose start time is not the live process's.
      w[MUTEX_WORD_OFFSET / 4] = pid;
      w[MUTEX_OWNER_START_OFFSET / 4] = start + 1;
      w[MUTEX_OWNER_PID_OFFSET / 4] = pid;
      const m = new Mutex(seg, 0, { livenessInterval: 10 });
      assert.deepEqual(await m.lock({ timeout: 5000 }), { recovered: true });
      m.unlock();
      // The same forged holder with its true start time is alive: we must wait, and time out.
      w[MUTEX_WORD_OFFSET / 4] = pid;
      w[MUTEX_OWNER_START_OFFSET / 4] = start;
      w[MUTEX_OWNER_PID_OFFSET / 4] = pid;
      await assert.rejects(m.lock({ timeout: 100 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'));
      assert.throws(() => m.lockSync({ timeout: 50 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'));
      // An incomplete identity (holder between its CAS and its identity stores) is judged by the pid alone.
      w[MUTEX_OWNER_PID_OFFSET / 4] = 0;
      assert.throws(() => m.lockSync({ timeout: 50 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'));
      stranger.send('exit');
      await expectCleanExit(stranger);
      assert.deepEqual(m.lockSync({ timeout: 5000 }), { recovered: true }, 'pid dead: taken over');
      m.unlock();
      // A dead holder whose pid this very process now has (pid reuse) is not mistaken for one of our threads.
      const mine = processStartTime(process.pid);
      w[MUTEX_WORD_OFFSET / 4] = process.pid;
      w[MUTEX_OWNER_START_OFFSET / 4] = mine + 1;
      w[MUTEX_OWNER_PID_OFFSET / 4] = process.pid;
      assert.deepEqual(m.lockSync({ timeout: 5000 }), { recovered: true }, 'our own pid with another start time');
      m.unlock();
      m.close();
    } finally {
      seg.close();
    }
  });

  it('unlock by a process or thread that does not hold the mutex throws ERR_NOT_OWNER', async () => {
    const n = name('mowner');
    const m = Mutex.create(n);
    try {
      const other = await peer('mutex', 'named', n);
      m.lockSync();
      other.send('unlock');
      assert.equal(await other.line(/^error/), 'error ERR_NOT_OWNER');
      const fromWorker = await new Promise<string>((resolve, reject) => {
        const wk = new Worker(fixture('mutex-worker'), { workerData: { name: n, op: 'unlock' } });
        wk.once('message', (msg: string) => resolve(msg));
        wk.once('error', reject);
      });
      assert.equal(fromWorker, 'ERR_NOT_OWNER');
      m.unlock();
      assert.throws(() => m.unlock(), (e) => isShmbusError(e, 'ERR_NOT_OWNER'));
      other.send('trylock');
      assert.equal(await other.line(/^locked|busy/), 'locked recovered=false');
      assert.throws(() => m.unlock(), (e) => isShmbusError(e, 'ERR_NOT_OWNER'));
      other.send('exit');
      await expectCleanExit(other);
    } finally {
      m.close();
    }
  });

  it('a worker thread of the same process is excluded like another process', async () => {
    const n = name('mthread');
    const m = Mutex.create(n);
    try {
      m.lockSync();
      const wk = new Worker(fixture('mutex-worker'), { workerData: { name: n, op: 'lock' } });
      // Listen for the exit from the start: a fast worker can be gone before a later listener is attached.
      const exited = new Promise((resolve) => wk.once('exit', resolve));
      const msgs: string[] = [];
      const locked = new Promise<void>((resolve, reject) => {
        wk.on('message', (msg: string) => {
          msgs.push(msg);
          if (msg.startsWith('locked')) resolve();
        });
        wk.once('error', reject);
      });
      await new Promise<void>((resolve) => wk.once('message', () => resolve())); // 'waiting'
      assert.deepEqual(msgs, ['waiting']);
      m.unlock();
      await locked;
      assert.equal(msgs[1], 'locked recovered=false');
      await exited;
    } finally {
      m.close();
    }
  });

  it('an async lock keeps the event loop free, honours timeout and signal, and close() rejects it', async () => {
    const n = name('masync');
    const m = Mutex.create(n);
    try {
      const holder = await peer('mutex', 'named', n);
      holder.send('lock');
      await holder.line('locked recovered=false');
      let settled = false;
      const pending = m.lock({ timeout: 20_000 }).then((r: LockResult) => {
        settled = true;
        return r;
      });
      // Timers and fs run while the lock is pending.
      await new Promise((resolve) => setTimeout(resolve, 0));
      await readFile(new URL(import.meta.url));
      assert.equal(settled, false);
      await assert.rejects(m.lock({ timeout: 30 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'));
      const ac = new AbortController();
      const aborted = m.lock({ signal: ac.signal });
      ac.abort(new Error('stop'));
      await assert.rejects(aborted, (e) => isShmbusError(e, 'ERR_ABORTED'));
      await assert.rejects(m.lock({ signal: AbortSignal.abort() }), (e) => isShmbusError(e, 'ERR_ABORTED'));
      holder.send('unlock');
      await holder.line('unlocked');
      assert.deepEqual(await pending, { recovered: false });
      // withLock releases on throw.
      m.unlock();
      await assert.rejects(
        m.withLock(() => {
          throw new Error('boom');
        }),
        /boom/,
      );
      holder.send('trylock');
      assert.equal(await holder.line(/^locked|busy/), 'locked recovered=false');
      const closing = m.lock();
      m.close();
      await assert.rejects(closing, (e) => isShmbusError(e, 'ERR_CLOSED'));
      assert.throws(() => m.tryLock(), (e) => isShmbusError(e, 'ERR_CLOSED'));
      holder.send('exit');
      await expectCleanExit(holder);
    } finally {
      m.close();
    }
  });

  it('embedded mutexes at different offsets of one segment are independent', () => {
    const segName = name('membed');
    const seg = Segment.create(segName, { size: 2 * MUTEX_SIZE });
    try {
      const a = new Mutex(seg, 0);
      const b = new Mutex(seg, MUTEX_SIZE);
      assert.deepEqual(a.tryLock(), { recovered: false });
      assert.deepEqual(b.tryLock(), { recovered: false });
      assert.equal(a.isLockedByMe, true);
      a.unlock();
      b.unlock();
      assert.throws(() => new Mutex(seg, 4), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      assert.throws(() => new Mutex(seg, 2 * MUTEX_SIZE), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      assert.throws(() => new Mutex(seg, 0, { livenessInterval: 0 }), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      assert.throws(() => a.lockSync({ timeout: -1 }), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      a.lockSync();
      assert.throws(() => a.lockSync(), (e) => isShmbusError(e, 'ERR_INVALID_ARG'), 'self-deadlock is refused');
      a.unlock();
    } finally {
      seg.close();
    }
  });

  it('an async re-lock by the object that holds the mutex refuses at once, as lockSync does; another object of the thread waits', async () => {
    const seg = Segment.create(name('mrelock'), { size: MUTEX_SIZE });
    try {
      const m = new Mutex(seg, 0);
      const other = new Mutex(seg, 0);
      assert.deepEqual(await m.lock(), { recovered: false });
      await assert.rejects(m.lock({ timeout: 500 }), (e) => isShmbusError(e, 'ERR_INVALID_ARG') && /already holds/.test(String(e)));
      // A blocking lock from this thread could never end: refused whichever object asks.
      assert.throws(() => other.lockSync({ timeout: 500 }), (e) => isShmbusError(e, 'ERR_INVALID_ARG') && /already holds/.test(String(e)));
      // An async lock of another object can outlast the hold (two Topic handles of one thread, say): it waits.
      const waiting = other.lock({ timeout: 30_000 });
      await new Promise<void>((resolve) => setImmediate(resolve));
      m.unlock();
      assert.deepEqual(await waiting, { recovered: false });
      other.unlock();
    } finally {
      seg.close();
    }
  });

  it('bad options name the option and the type received; mode is limited to read/write bits', async () => {
    const n = name('mopts');
    const refusedFor = (what: RegExp) => (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG') && what.test(String(e));
    assert.throws(() => Mutex.create(n, { mode: 0o777 }), refusedFor(/mode .*0o666.*number 511/));
    assert.throws(() => Mutex.create(n, { livenessInterval: '50' as unknown as number }), refusedFor(/livenessInterval.*string "50"/));
    assert.throws(() => Mutex.create(n, null as unknown as object), refusedFor(/options.*null/));
    assert.throws(() => Segment.create(n, { size: 64, mode: 0o700 }), refusedFor(/mode/));
    assert.throws(() => Segment.create(n, { size: '4096' as unknown as number }), refusedFor(/size.*string "4096"/));
    const m = Mutex.create(n, { mode: 0o660 });
    try {
      // A positional timeout (an old API shape) is refused instead of being read as "wait forever".
      assert.throws(() => m.lockSync(100 as unknown as object), refusedFor(/Mutex.lockSync options.*number 100/));
      await assert.rejects(m.lock({ signal: 'yes' as unknown as AbortSignal }), refusedFor(/signal.*string "yes"/));
    } finally {
      m.close();
    }
  });

  it('Mutex.open refuses a segment of another kind with ERR_SHM_KIND', () => {
    const n = name('mkind');
    const seg = Segment.create(n, { size: 64 });
    try {
      assert.throws(() => Mutex.open(n), (e) => isShmbusError(e, 'ERR_SHM_KIND'));
      assert.throws(() => Mutex.open(name('mnone')), (e) => isShmbusError(e, 'ERR_SHM_NOT_FOUND'));
    } finally {
      seg.close();
    }
  });
});
