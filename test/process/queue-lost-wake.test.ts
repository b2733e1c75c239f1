/**
 * The lost wake of the §3 counter rule (found in CI: a 100 000-record stream stalled for the whole send timeout).
 * A waker whose change of the futex word happened BEFORE a sleeper read its expected value used to clear that
 * sleeper's announcement (CAS sleepers -> 0) on its way out; the next real waker then saw 0 and made no wake call.
 * Under the tag rule a waker clears only announcements made on its old value or earlier. Each case plays the stale
 * waker by hand on the real words of a real queue, with a real receiver (or sender) parked in the kernel.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment } from '../../src/index.js';
import { wakeCounter } from '../../src/base/park.js';
import {
  QUEUE_COMMITS_OFFSET,
  QUEUE_CONSUMER_WAITERS_OFFSET,
  QUEUE_PRODUCER_WAITERS_OFFSET,
  QUEUE_RELEASES_OFFSET,
} from '../../src/protocol/layout.js';
import { trackNames } from '../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

const COMMITS = QUEUE_COMMITS_OFFSET >> 2;
const RELEASES = QUEUE_RELEASES_OFFSET >> 2;
const CONSUMERS = QUEUE_CONSUMER_WAITERS_OFFSET >> 2;
const PRODUCERS = QUEUE_PRODUCER_WAITERS_OFFSET >> 2;

/** Resolves once `words[index]` is non-zero (the waiter under test announced itself); bounded. */
async function announced(words: Int32Array, index: number): Promise<void> {
  for (let turn = 0; turn < 200_000; turn++) {
    // SYNC PARK (seq_cst load): the announcement of the waiter under test.
    if (Atomics.load(words, index) !== 0) return;
    await new Promise((r) => (turn < 500 ? setImmediate(r) : setTimeout(r, 1)));
  }
  assert.fail('the waiter never announced itself');
}

describe('§3 counter rule: a stale waker never clears a newer sleeper', () => {
  it('consumer side: a commit bump the receiver had already seen leaves its tag; the next send wakes it', async () => {
    const n = name('q-stale-c');
    const q = Queue.create(n, { slots: 4, maxMessageSize: 16 });
    const watch = Segment.open(n, { kind: 'queue' });
    const w = watch.words;
    // The stale waker's change: made before the receiver reads the word (a producer paused after its commit bump).
    const old = Atomics.add(w, COMMITS, 1);
    const receiver = Queue.open(n, { spin: 0 });
    const pending = receiver.receive({ timeout: 60_000 });
    await announced(w, CONSUMERS);
    // The stale waker resumes: it must not clear the announcement of a receiver that saw its change.
    wakeCounter(w, CONSUMERS, COMMITS, old);
    assert.notEqual(Atomics.load(w, CONSUMERS), 0, 'the stale waker cleared a newer announcement');
    assert.equal(q.trySend('after'), true);
    assert.equal((await pending)?.text(), 'after');
    receiver.close();
    watch.close();
    q.close();
  });

  it('producer side: a release bump the sender had already seen leaves its tag; the next receive wakes it', async () => {
    const n = name('q-stale-p');
    const q = Queue.create(n, { slots: 2, maxMessageSize: 16 });
    const watch = Segment.open(n, { kind: 'queue' });
    const w = watch.words;
    assert.equal(q.trySend('a'), true);
    assert.equal(q.trySend('b'), true);
    const old = Atomics.add(w, RELEASES, 1);
    const sender = Queue.open(n, { spin: 0 });
    const pending = sender.send('c', { timeout: 60_000 });
    await announced(w, PRODUCERS);
    wakeCounter(w, PRODUCERS, RELEASES, old);
    assert.notEqual(Atomics.load(w, PRODUCERS), 0, 'the stale waker cleared a newer announcement');
    assert.equal(q.tryReceive()?.text(), 'a');
    await pending;
    assert.equal(q.tryReceive()?.text(), 'b');
    assert.equal(q.tryReceive()?.text(), 'c');
    sender.close();
    watch.close();
    q.close();
  });

  it('a waker that moved the word past every announcer clears the tag (no wake call for the next change)', async () => {
    const n = name('q-stale-clear');
    const q = Queue.create(n, { slots: 4, maxMessageSize: 16 });
    const watch = Segment.open(n, { kind: 'queue' });
    const w = watch.words;
    const receiver = Queue.open(n, { spin: 0 });
    const pending = receiver.receive({ timeout: 60_000 });
    await announced(w, CONSUMERS);
    assert.equal(q.trySend('x'), true);
    assert.equal(Atomics.load(w, CONSUMERS), 0, 'the send moved the word past the announcer: tag cleared');
    assert.equal((await pending)?.text(), 'x');
    receiver.close();
    watch.close();
    q.close();
  });
});
