/**
 * Defect 1 (issue 10): a waiter that leaves without withdrawing (its handle closed under it, or its process
 * killed while parked) must not make every later send pay a futex wake. The consumers' sleepers word (§6 offset
 * 132, §3) is read straight from shared memory: the next send clears it and wakes once; later sends see 0 and
 * make no wake call.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment, isShmbusError } from '../../src/index.js';
import { QUEUE_CONSUMER_WAITERS_OFFSET, QUEUE_PRODUCER_WAITERS_OFFSET } from '../../src/protocol/layout.js';
import { fixture, spawnPeer, trackNames } from '../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

const SLEEPERS = QUEUE_CONSUMER_WAITERS_OFFSET >> 2;

/** Resolves once `words[index]` is non-zero (a waiter announced itself); bounded. */
async function announced(words: Int32Array, index: number): Promise<void> {
  for (let turn = 0; turn < 200_000; turn++) {
    // SYNC PARK (seq_cst load): the announcement of the waiter under test.
    if (Atomics.load(words, index) !== 0) return;
    await new Promise((r) => (turn < 500 ? setImmediate(r) : setTimeout(r, 1)));
  }
  assert.fail('the waiter never announced itself');
}

describe('Queue sleepers words heal after a waiter leaves without withdrawing', () => {
  it('a receiver pending when its handle is closed: the next send clears the sleepers word, later sends see 0', async () => {
    const n = name('q-sleep-close');
    const q = Queue.create(n, { slots: 4, maxMessageSize: 16 });
    const watch = Segment.open(n, { kind: 'queue' });
    const receiver = Queue.open(n, { spin: 0 });
    const pending = receiver.receive();
    await announced(watch.words, SLEEPERS);
    receiver.close();
    await assert.rejects(pending, (e) => isShmbusError(e, 'ERR_CLOSED'));
    assert.notEqual(Atomics.load(watch.words, SLEEPERS), 0, 'the closed receiver left its announcement (no withdraw)');
    assert.equal(q.trySend('wake once'), true);
    assert.equal(Atomics.load(watch.words, SLEEPERS), 0, 'the first send cleared the stale announcement');
    for (let i = 0; i < 3; i++) {
      assert.equal(q.tryReceive()?.text(), i === 0 ? 'wake once' : `m${i - 1}`);
      assert.equal(q.trySend(`m${i}`), true);
      assert.equal(Atomics.load(watch.words, SLEEPERS), 0, 'no announcement, so no wake call');
    }
    watch.close();
    q.close();
  });

  it('a receiver killed -9 while parked: the next send wakes once and clears the word, later sends make no wake call', async () => {
    const n = name('q-sleep-kill');
    const q = Queue.create(n, { slots: 4, maxMessageSize: 16 });
    const watch = Segment.open(n, { kind: 'queue' });
    const waiter = spawnPeer(fixture('queue-stuck'), ['wait', n]);
    await waiter.line('waiting');
    await announced(watch.words, SLEEPERS);
    waiter.kill('SIGKILL');
    await waiter.exited;
    assert.notEqual(Atomics.load(watch.words, SLEEPERS), 0);
    assert.equal(q.trySend('first'), true);
    assert.equal(Atomics.load(watch.words, SLEEPERS), 0);
    for (let i = 0; i < 3; i++) {
      q.tryReceive();
      assert.equal(q.trySend(`m${i}`), true);
      assert.equal(Atomics.load(watch.words, SLEEPERS), 0);
    }
    watch.close();
    q.close();
  });

  it('a sender pending on a full queue when its handle is closed: the next free clears the producers\' sleepers word', async () => {
    const n = name('q-sleep-send');
    const q = Queue.create(n, { slots: 1, maxMessageSize: 16 });
    const watch = Segment.open(n, { kind: 'queue' });
    const sender = Queue.open(n, { spin: 0 });
    assert.equal(q.trySend('fill'), true);
    const pending = sender.send('blocked');
    const producers = QUEUE_PRODUCER_WAITERS_OFFSET >> 2;
    await announced(watch.words, producers);
    sender.close();
    await assert.rejects(pending, (e) => isShmbusError(e, 'ERR_CLOSED'));
    assert.equal(q.tryReceive()?.text(), 'fill');
    assert.equal(Atomics.load(watch.words, producers), 0);
    watch.close();
    q.close();
  });
});
