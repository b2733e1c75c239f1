import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Event, EVENT_SIZE, Segment, isShmbusError } from '../../src/index.js';
import { ask, exitPeers, lockTestScope } from '../helpers/locks.js';

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
