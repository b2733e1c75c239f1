import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Semaphore, SEMAPHORE_SIZE, Segment, isShmbusError } from '../../src/index.js';
import { MUTEX_OWNER_PID_OFFSET, MUTEX_OWNER_START_OFFSET, MUTEX_WORD_OFFSET, SEM_MUTEX_OFFSET, SEM_WAITERS_OFFSET } from '../../src/protocol/index.js';
import { processStartTime } from '../../src/base/process.js';
import { ask, counterRun, exitPeers, lockTestScope, until } from '../helpers/locks.js';

const { name, peer: spawn } = lockTestScope();
const peer = (...args: string[]) => spawn('semaphore', ...args);

describe('Semaphore across processes', () => {
  it('four processes x 50 000 increments of a plain counter under a one-unit Semaphore give exactly 200 000', async () => {
    await counterRun(name('semcount'), 'semaphore', 50_000, ['sync', 'async', 'sync', 'async']);
  });

  it('with 2 units two processes hold one each at once, a third waits until one is released', async () => {
    const n = name('sem2');
    const s = Semaphore.create(n, { initial: 2 });
    try {
      const [a, b, c] = await Promise.all([peer('named', n), peer('named', n), peer('named', n)]);
      assert.equal(await ask(a!, 'acquire', /^acquired|error/), 'acquired recovered=false');
      assert.equal(await ask(b!, 'acquire', /^acquired|error/), 'acquired recovered=false');
      assert.equal(s.value, 0);
      assert.equal(await ask(c!, 'tryacquire', /^acquired|busy/), 'busy');
      c!.send('acquire-async');
      const cGot = c!.line(/^acquired|error/);
      assert.equal(await ask(a!, 'release', 'released'), 'released');
      assert.equal(await cGot, 'acquired recovered=false');
      for (const p of [b!, c!]) assert.equal(await ask(p, 'release', 'released'), 'released');
      assert.equal(s.value, 2);
      await exitPeers(a!, b!, c!);
    } finally {
      s.close();
    }
  });

  it('sleepers word: a waiter whose handle is closed while it sleeps leaves no lasting announcement', async () => {
    const n = name('semclose');
    const s = Semaphore.create(n);
    const sleepers = (): number => Atomics.load(s.segment.words, SEM_WAITERS_OFFSET / 4);
    try {
      const h = Semaphore.open(n, { spin: 0 });
      const pending = h.acquire({ timeout: 20_000 });
      await until(() => sleepers() === 1, 'the waiter to announce itself');
      h.close();
      await assert.rejects(pending, (e) => isShmbusError(e, 'ERR_CLOSED'));
      // The closed waiter cannot withdraw (its mapping is gone): the next release clears its announcement with
      // one wake, and from then on a release finds 0 sleepers and makes no wake call.
      s.release();
      assert.equal(sleepers(), 0, 'the next release cleared the stale announcement');
      assert.equal(s.tryAcquire()?.recovered, false);
      s.release();
      assert.equal(sleepers(), 0, 'no announcement is left: the release after made no wake call');
    } finally {
      s.close();
    }
  });

  it('sleepers word: a waiter killed with -9 while it sleeps leaves no lasting announcement', async () => {
    const n = name('semdead');
    const s = Semaphore.create(n);
    const sleepers = (): number => Atomics.load(s.segment.words, SEM_WAITERS_OFFSET / 4);
    try {
      const waiter = await peer('named', n);
      waiter.send('acquire');
      await until(() => sleepers() === 1, 'the waiter to announce itself');
      waiter.kill('SIGKILL');
      await waiter.exited;
      assert.equal(sleepers(), 1, 'the dead waiter\'s announcement is still there');
      s.release();
      assert.equal(sleepers(), 0, 'the next release cleared it');
      s.release();
      assert.equal(sleepers(), 0, 'the release after found nobody to wake');
      assert.equal(s.value, 2);
    } finally {
      s.close();
    }
  });

  it('a holder killed with -9: its unit is returned and the waiting process gets it with recovered: true', async () => {
    const n = name('semkill');
    const s = Semaphore.create(n, { initial: 1, livenessInterval: 20 });
    try {
      const holder = await peer('named', n);
      assert.equal(await ask(holder, 'acquire', /^acquired/), 'acquired recovered=false');
      assert.equal(s.tryAcquire(), null);
      const pending = s.acquire({ timeout: 20_000 });
      holder.kill('SIGKILL');
      await holder.exited;
      assert.deepEqual(await pending, { recovered: true });
      assert.equal(s.value, 0);
      s.release();
      assert.equal(s.value, 1, 'exactly the dead holder\'s unit came back');
      const other = await peer('named', n, '0', '10');
      assert.equal(await ask(other, 'acquire', /^acquired/), 'acquired recovered=false');
      await exitPeers(other);
      // The exited process's unit is returned to the next acquirer that looks (a clean exit without release is a
      // death too).
      assert.deepEqual(s.acquireSync({ timeout: 5000 }), { recovered: true });
    } finally {
      s.close();
    }
  });

  it('ledger mode: the identity stays across unlocks, a dead namesake\'s record is cleared, a holder dead over a kept record is taken over', async () => {
    const segName = name('semledger');
    const seg = Segment.create(segName, { size: SEMAPHORE_SIZE, init: (x) => Semaphore.init(x, 0, { initial: 1 }) });
    const w = seg.words;
    const word = (SEM_MUTEX_OFFSET + MUTEX_WORD_OFFSET) / 4;
    const ownerPid = (SEM_MUTEX_OFFSET + MUTEX_OWNER_PID_OFFSET) / 4;
    const startLo = (SEM_MUTEX_OFFSET + MUTEX_OWNER_START_OFFSET) / 4;
    const mine = processStartTime(process.pid) % 2 ** 32 | 0;
    try {
      // A dead process whose pid we now have left its record (pid reuse): it must not vouch for us.
      w[ownerPid] = process.pid;
      w[startLo] = mine + 1;
      const s = new Semaphore(seg, 0, { livenessInterval: 10 });
      assert.equal(w[ownerPid], 0, 'a record of our pid with another start time is cleared before our first lock');
      assert.deepEqual(s.acquireSync(), { recovered: false });
      assert.equal(w[word], 0);
      assert.equal(w[ownerPid], process.pid, 'the identity stays after the ledger unlock');
      assert.equal(w[startLo], mine);
      s.release();
      assert.equal(w[ownerPid], process.pid);
      new Semaphore(seg, 0).close(); // our own record is left alone
      assert.equal(w[ownerPid], process.pid);
      const other = await peer('embedded', segName, '0');
      assert.equal(await ask(other, 'acquire', /^acquired/), 'acquired recovered=false');
      assert.equal(w[ownerPid], other.pid, 'another process rewrites the record');
      assert.equal(await ask(other, 'release', 'released'), 'released');
      await exitPeers(other);
      // The peer dies holding the ledger over the record it left (complete, its start time): taken over.
      w[word] = other.pid;
      assert.deepEqual(s.acquireSync({ timeout: 5000 }), { recovered: true });
      assert.equal(w[ownerPid], process.pid);
      s.release();
      // It dies between its CAS and its identity stores over our kept record: judged by its pid alone.
      w[word] = other.pid;
      assert.deepEqual(s.acquireSync({ timeout: 5000 }), { recovered: true });
      s.release();
      // Same, after it wrote its start time over ours (a torn record): the recoverer (us) leaves a whole record.
      w[word] = other.pid;
      w[startLo] = mine + 7;
      assert.deepEqual(s.acquireSync({ timeout: 5000 }), { recovered: true });
      assert.equal(w[ownerPid], process.pid);
      assert.equal(w[startLo], mine);
      s.release();
      assert.equal(s.value, 1, 'the recounts kept exactly the one unit');
      s.close();
    } finally {
      seg.close();
    }
  });

  it('releases beyond what a process holds add units (signalling); untracked semaphores never return units', async () => {
    const n = name('semsig');
    const s = Semaphore.create(n, { trackHolders: false });
    try {
      const taker = await peer('named', n, '0', '10');
      taker.send('acquire-async');
      const took = taker.line(/^acquired|error/);
      s.release(3);
      assert.equal(await took, 'acquired recovered=false');
      assert.equal(s.value, 2);
      taker.kill('SIGKILL');
      await taker.exited;
      assert.deepEqual(s.acquireSync({ timeout: 1000 }), { recovered: false });
      assert.deepEqual(s.acquireSync({ timeout: 1000 }), { recovered: false });
      assert.throws(() => s.acquireSync({ timeout: 50 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'), 'the dead taker\'s unit is gone');
    } finally {
      s.close();
    }
  });

  it('acquire waits without blocking the event loop, honours timeout and signal; bad input is refused', async () => {
    const n = name('semasync');
    const s = Semaphore.create(n);
    try {
      let settled = false;
      const pending = s.acquire({ timeout: 20_000 }).then((r) => {
        settled = true;
        return r;
      });
      await new Promise((resolve) => setTimeout(resolve, 0));
      await readFile(new URL(import.meta.url));
      assert.equal(settled, false);
      await assert.rejects(s.acquire({ timeout: 20 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'));
      const ac = new AbortController();
      const aborted = s.acquire({ signal: ac.signal });
      ac.abort();
      await assert.rejects(aborted, (e) => isShmbusError(e, 'ERR_ABORTED'));
      const other = await peer('named', n);
      assert.equal(await ask(other, 'release', 'released'), 'released');
      assert.deepEqual(await pending, { recovered: false });
      assert.throws(() => s.release(0), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      assert.throws(() => s.release(1.5), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      s.release(2 ** 31 - 1 - s.value);
      assert.throws(() => s.release(), (e) => isShmbusError(e, 'ERR_INVALID_ARG'), 'past 2^31-1');
      assert.throws(() => Semaphore.create(name('semneg'), { initial: -1 }), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      const seg = Segment.create(name('semembed'), { size: SEMAPHORE_SIZE + 8 });
      assert.throws(() => new Semaphore(seg, 4), (e) => isShmbusError(e, 'ERR_INVALID_ARG'));
      Semaphore.init(seg, 8, { initial: 1 });
      const embedded = new Semaphore(seg, 8);
      assert.deepEqual(embedded.tryAcquire(), { recovered: false });
      assert.equal(embedded.tryAcquire(), null);
      seg.close();
      await exitPeers(other);
    } finally {
      s.close();
    }
  });
});
