import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Event, EVENT_SIZE, Segment, isShmbusError } from '../../src/index.js';
import { ask, exitPeers, lockTestScope, until } from '../helpers/locks.js';
import { EVENT_WAITERS_OFFSET } from '../../src/protocol/layout.js';

const { name, peer: spawn } = lockTestScope();
const peer = (...args: string[]) => spawn('event', ...args);

describe('Event across processes', () => {
  it('manual reset: one set() releases every waiting process, even when reset() follows at once', async () => {
    const n = name('evmanual');
    const e = Event.create(n, { manualReset: true });
    try {
      const waiters = await Promise.all([1, 2, 3].map(() => peer('named', n)));
      for (const w of waiters) assert.equal(await ask(w, 'wait-async', 'waiting'), 'waiting');
      e.set();
      e.reset();
      for (const w of waiters) assert.equal(await w.line('woke'), 'woke');
      assert.equal(e.isSet, false);
      // Reset: a new wait blocks until the next set; a set event releases at once and stays set.
      const late = waiters[0]!;
      assert.equal(await ask(late, 'wait-async', 'waiting'), 'waiting');
      assert.equal(await ask(late, 'status', /^pending/), 'pending 1');
      e.set();
      assert.equal(await late.line('woke'), 'woke');
      assert.equal(await ask(waiters[1]!, 'wait', 'woke'), 'woke');
      assert.equal(e.isSet, true);
      await exitPeers(...waiters);
    } finally {
      e.close();
    }
  });

  it('auto reset: each set() releases exactly one waiting process', async () => {
    const n = name('evauto');
    const e = Event.create(n);
    try {
      const waiters = await Promise.all([1, 2, 3].map(() => peer('named', n)));
      for (const w of waiters) assert.equal(await ask(w, 'wait-async', 'waiting'), 'waiting');
      const woke = waiters.map((w) => w.line('woke').then(() => w));
      const released = new Set<unknown>();
      for (let round = 1; round <= 3; round++) {
        e.set();
        const first = await Promise.race(woke.filter((_, i) => !released.has(waiters[i])));
        released.add(first);
        assert.equal(e.isSet, false, 'the set was consumed by the one it released');
        // Every process that was not released still has its wait pending.
        for (const w of waiters) {
          const reply = await ask(w, 'status', /^pending/);
          assert.equal(reply, released.has(w) ? 'pending 0' : 'pending 1', `round ${round}`);
        }
      }
      assert.equal(released.size, 3);
      // With nobody waiting a set stays until one comes; a second set on a set event does nothing.
      e.set();
      e.set();
      assert.equal(await ask(waiters[0]!, 'wait', 'woke'), 'woke');
      assert.equal(e.isSet, false);
      await exitPeers(...waiters);
    } finally {
      e.close();
    }
  });

  it('sleepers word: a waiter whose segment is closed while it sleeps leaves no lasting announcement', async () => {
    const n = name('evclose');
    const e = Event.create(n);
    const sleepers = (): number => Atomics.load(e.segment.words, EVENT_WAITERS_OFFSET / 4);
    try {
      const seg = Segment.open(n);
      const pending = new Event(seg, 0, { spin: 0 }).wait({ timeout: 20_000 });
      await until(() => sleepers() === 1, 'the waiter to announce itself');
      seg.close();
      await assert.rejects(pending, (err) => isShmbusError(err, 'ERR_CLOSED'));
      e.set();
      assert.equal(sleepers(), 0, 'the next set cleared the stale announcement');
      e.waitSync({ timeout: 0 });
      e.set();
      assert.equal(sleepers(), 0, 'no announcement is left: the set after made no wake call');
    } finally {
      e.close();
    }
  });

  it('sleepers word: a waiter killed with -9 while it sleeps leaves no lasting announcement', async () => {
    const n = name('evdead');
    const e = Event.create(n, { manualReset: true });
    const sleepers = (): number => Atomics.load(e.segment.words, EVENT_WAITERS_OFFSET / 4);
    try {
      const waiter = await peer('named', n);
      waiter.send('wait');
      await until(() => sleepers() === 1, 'the waiter to announce itself');
      waiter.kill('SIGKILL');
      await waiter.exited;
      assert.equal(sleepers(), 1, 'the dead waiter\'s announcement is still there');
      e.set();
      assert.equal(sleepers(), 0, 'the next set cleared it');
      e.reset();
      e.set();
      assert.equal(sleepers(), 0, 'the set after found nobody to wake');
    } finally {
      e.close();
    }
  });

  it('spin and livenessInterval are checked (naming the option and the type received); a spinning wait still wakes', async () => {
    const n = name('evspin');
    const e = Event.create(n, { spin: 0 });
    try {
      assert.throws(() => Event.open(n, { spin: -1 }), (err) => isShmbusError(err, 'ERR_INVALID_ARG') && /spin/.test(String(err)));
      assert.throws(() => Event.open(n, { spin: '5' as unknown as number }), (err) => isShmbusError(err, 'ERR_INVALID_ARG') && /string/.test(String(err)));
      assert.throws(() => Event.open(n, { livenessInterval: 0 }), (err) => isShmbusError(err, 'ERR_INVALID_ARG') && /livenessInterval/.test(String(err)));
      // A wait that spins still ends on a set from another process (the spin only delays its sleep).
      const spinner = await peer('named', n, '0', '50');
      assert.equal(await ask(spinner, 'wait-async', 'waiting'), 'waiting');
      e.set();
      assert.equal(await spinner.line('woke'), 'woke');
      await exitPeers(spinner);
    } finally {
      e.close();
    }
  });

  it('wait keeps the event loop free and honours timeout and signal; waitSync times out', async () => {
    const n = name('evasync');
    const e = Event.create(n);
    try {
      let settled = false;
      const pending = e.wait({ timeout: 20_000 }).then(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 0));
      await readFile(new URL(import.meta.url));
      assert.equal(settled, false);
      await assert.rejects(e.wait({ timeout: 20 }), (err) => isShmbusError(err, 'ERR_TIMEOUT'));
      assert.throws(() => e.waitSync({ timeout: 20 }), (err) => isShmbusError(err, 'ERR_TIMEOUT'));
      const ac = new AbortController();
      const aborted = e.wait({ signal: ac.signal });
      ac.abort();
      await assert.rejects(aborted, (err) => isShmbusError(err, 'ERR_ABORTED'));
      const setter = await peer('named', n);
      assert.equal(await ask(setter, 'set', 'done'), 'done');
      await pending;
      assert.equal(e.manualReset, false);
      const seg = Segment.create(name('evembed'), { size: EVENT_SIZE * 2, init: (s) => Event.init(s, EVENT_SIZE, { manualReset: true, set: true }) });
      assert.throws(() => new Event(seg, 4), (err) => isShmbusError(err, 'ERR_INVALID_ARG'));
      const embedded = new Event(seg, EVENT_SIZE);
      assert.equal(embedded.manualReset, true);
      embedded.waitSync({ timeout: 0 });
      assert.equal(new Event(seg, 0).isSet, false);
      seg.close();
      await exitPeers(setter);
    } finally {
      e.close();
    }
  });
});
