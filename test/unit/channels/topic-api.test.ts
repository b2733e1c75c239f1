/**
 * Topic API of issue 11/12 in one process: numbers for seqs, codecs and message helpers, async publishing that
 * waits for the writers' lock without blocking the loop, single-publisher mode, reused messages, stats, `for await`
 * closing on break, and option errors that name the option.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Topic, isShmbusError, type ShmbusErrorCode } from '../../../src/index.js';
import { uniqueName, unlinkQuietly } from '../../helpers/index.js';

const code = (c: ShmbusErrorCode, text?: RegExp) => (e: unknown) => isShmbusError(e, c) && (text === undefined || text.test((e as Error).message));

function withTopic<T>(fn: (name: string) => Promise<T> | T, prefix = 'topicapi'): Promise<T> {
  const name = uniqueName(prefix);
  return Promise.resolve()
    .then(() => fn(name))
    .finally(() => unlinkQuietly(name));
}

describe('Topic API', () => {
  it('sequence numbers are plain numbers (JSON-friendly) on publish, Loan and Message', () =>
    withTopic((name) => {
      const pub = Topic.create(name, { capacity: 4096 });
      const sub = Topic.subscribe(name);
      try {
        assert.equal(pub.publish('a'), 1);
        const loan = pub.loan(1);
        assert.equal(loan.seq, 2);
        assert.equal(loan.commit(), 2);
        const m = sub.tryRead()!;
        assert.equal(typeof m.seq, 'number');
        assert.equal(JSON.stringify({ seq: m.seq }), '{"seq":1}');
        assert.equal(sub.tryRead()!.seq, 2);
      } finally {
        sub.close();
        pub.close();
      }
    }));

  it("codec 'json': publish values, read them back as msg.value; text() and json() on raw messages", () =>
    withTopic((name) => {
      const pub = Topic.create<{ x: number }>(name, { capacity: 4096, codec: 'json' });
      const sub = Topic.subscribe<{ x: number }>(name, { codec: 'json' });
      const raw = Topic.subscribe(name);
      try {
        pub.publish({ x: 42 });
        assert.deepEqual(sub.tryRead()!.value, { x: 42 });
        const m = raw.tryRead()!;
        assert.equal(m.text(), '{"x":42}');
        assert.deepEqual(m.json(), { x: 42 });
        assert.ok(m.value instanceof Uint8Array, 'without a codec, value is the bytes');
        const v8 = Topic.subscribe<Map<string, number>>(name, { codec: 'v8' });
        pub.publish({ x: 1 });
        assert.throws(() => v8.tryRead()!.value, code('ERR_INVALID_ARG', /cannot be decoded with codec 'v8'/));
        v8.close();
        assert.throws(() => Topic.subscribe(name, { codec: 'yaml' as never }), code('ERR_INVALID_ARG', /codec/));
      } finally {
        raw.close();
        sub.close();
        pub.close();
      }
    }));

  it('publishAsync and loanAsync wait for another publisher\'s loan without blocking the event loop', () =>
    withTopic(async (name) => {
      const a = Topic.create(name, { capacity: 1 << 16 });
      const b = Topic.open(name);
      const sub = Topic.subscribe(name);
      try {
        assert.equal(await b.publishAsync('uncontended'), 1);
        const loan = a.loan(5);
        let done = false;
        const pending = b.publishAsync('after').then((seq) => {
          done = true;
          return seq;
        });
        // The loop keeps running while b waits: this timer fires before the lock is free.
        await new Promise<void>((resolve) => setImmediate(resolve));
        assert.equal(done, false);
        loan.bytes.set(Buffer.from('first'));
        assert.equal(loan.commit(), 2);
        assert.equal(await pending, 3);
        const l2 = a.loan(1);
        const pendingLoan = b.loanAsync(4, { timeout: 60_000 });
        l2.abort();
        const l3 = await pendingLoan;
        l3.bytes.set([1, 2, 3, 4]);
        assert.equal(l3.commit(), 4);
        assert.deepEqual(
          [sub.tryRead()!.text(), sub.tryRead()!.text(), sub.tryRead()!.text(), [...sub.tryRead()!.data]],
          ['uncontended', 'first', 'after', [1, 2, 3, 4]],
        );
        const l4 = a.loan(1);
        await assert.rejects(b.publishAsync('x', { signal: AbortSignal.abort() }), code('ERR_ABORTED'));
        await assert.rejects(b.publishAsync('x', { timeout: 10 }), code('ERR_TIMEOUT'));
        await assert.rejects(b.publishAsync('x', { signal: 'yes' as never }), code('ERR_INVALID_ARG', /signal/));
        l4.abort();
      } finally {
        sub.close();
        b.close();
        a.close();
      }
    }));

  it('singlePublisher: the creator publishes without locking; a second publisher gets ERR_PUBLISHER_EXISTS until it closes', () =>
    withTopic((name) => {
      const pub = Topic.create(name, { capacity: 4096, singlePublisher: true });
      const sub = Topic.subscribe(name);
      try {
        assert.equal(pub.singlePublisher, true);
        assert.throws(() => Topic.open(name), code('ERR_PUBLISHER_EXISTS'));
        assert.equal(pub.publish('one'), 1);
        const loan = pub.loan(3);
        loan.bytes.set([1, 2, 3]);
        assert.equal(loan.commit(), 2);
        assert.equal(sub.tryRead()!.text(), 'one');
        assert.equal(sub.tryRead()!.size, 3);
        pub.close();
        const next = Topic.open(name);
        assert.equal(next.singlePublisher, true);
        assert.equal(next.publish('two'), 3);
        assert.equal(sub.tryRead()!.text(), 'two');
        next.close();
      } finally {
        sub.close();
        pub.close();
      }
    }));

  it('reuse: one Message object updated in place; into and copy: false views are reused for a repeating size', () =>
    withTopic((name) => {
      const pub = Topic.create(name, { capacity: 4096, maxMessageSize: 64, timestamps: false });
      const sub = Topic.subscribe(name);
      try {
        const into = new Uint8Array(64);
        const opts = { into, reuse: true };
        pub.publish(new Uint8Array(16).fill(1));
        const m1 = sub.tryRead(opts)!;
        const d1 = m1.data;
        pub.publish(new Uint8Array(16).fill(2));
        const m2 = sub.tryRead(opts)!;
        assert.equal(m2, m1);
        assert.equal(m2.data, d1, 'same size into the same buffer: the same view');
        assert.deepEqual([...m2.data], new Array(16).fill(2));
        assert.equal(m2.seq, 2);
        assert.equal(m2.timestamp, 0, 'timestamps: false records 0');
        // Around the ring and back: copy: false views come from the cache.
        const views = new Map<number, Uint8Array>();
        let reused = 0;
        for (let i = 0; i < 400; i++) {
          pub.publish(new Uint8Array(16).fill(i & 0xff));
          const m = sub.tryRead({ copy: false, reuse: true })!;
          assert.equal(m.data[0], i & 0xff);
          assert.ok(m.valid());
          const key = m.data.byteOffset;
          if (views.get(key) === m.data) reused++;
          views.set(key, m.data);
        }
        assert.ok(reused > 300, `views reused ${reused} times`);
      } finally {
        sub.close();
        pub.close();
      }
    }));

  it('for await: break closes the subscriber', () =>
    withTopic(async (name) => {
      const pub = Topic.create(name, { capacity: 4096 });
      const sub = Topic.subscribe(name, { from: 'oldest' });
      try {
        pub.publish('a');
        pub.publish('b');
        for await (const m of sub) {
          assert.equal(m.text(), 'a');
          break;
        }
        assert.equal(sub.closed, true);
        assert.throws(() => sub.tryRead(), code('ERR_CLOSED'));
      } finally {
        sub.close();
        pub.close();
      }
    }));

  it('stats(): published and oldest on the publisher; read, lost and lag on the subscriber', () =>
    withTopic((name) => {
      const pub = Topic.create(name, { capacity: 1024, maxMessageSize: 64 });
      const sub = Topic.subscribe(name);
      try {
        for (let i = 0; i < 3; i++) pub.publish('x');
        sub.tryRead();
        assert.deepEqual(sub.stats(), { read: 1, lost: 0, lag: 2 });
        for (let i = 0; i < 100; i++) pub.publish(new Uint8Array(64));
        const s = pub.stats();
        assert.equal(s.published, 103);
        assert.ok(s.oldest > 3);
        while (sub.tryRead() !== null);
        const t = sub.stats();
        assert.equal(t.lag, 0);
        assert.equal(t.read + t.lost, 103);
        assert.ok(t.lost > 0);
      } finally {
        sub.close();
        pub.close();
      }
    }));

  it('option errors name the option and the type received', () =>
    withTopic((name) => {
      assert.throws(() => Topic.create(name, { capacity: '4096' as never }), code('ERR_INVALID_ARG', /capacity .*got string "4096"/));
      assert.throws(() => Topic.create(name, { capacity: 4096, singlePublisher: 1 as never }), code('ERR_INVALID_ARG', /singlePublisher/));
      assert.throws(() => Topic.create(name, { capacity: 4096, maxMessageSize: null as never }), code('ERR_INVALID_ARG', /maxMessageSize.*got null/));
      const pub = Topic.create(name, { capacity: 4096 });
      try {
        assert.throws(() => Topic.subscribe(name, { from: 'newest' as never }), code('ERR_INVALID_ARG', /from .*got string "newest"/));
        assert.throws(() => Topic.subscribe(name, { signal: 'yes' as never }), code('ERR_INVALID_ARG', /signal/));
        assert.throws(() => Topic.subscribe(name, 'x' as never), code('ERR_INVALID_ARG', /options/));
        assert.throws(() => pub.publish(42 as never), code('ERR_INVALID_ARG', /publish data .*got number 42/));
        assert.throws(() => pub.publish('x', 5 as never), code('ERR_INVALID_ARG', /options/));
      } finally {
        pub.close();
      }
    }));

  it('subscribe({ timeout, signal }): aborting the wait for the topic rejects ready and reads with ERR_ABORTED', async () => {
    const ac = new AbortController();
    const sub = Topic.subscribe(uniqueName('never'), { timeout: 60_000, signal: ac.signal });
    const read = sub.read();
    ac.abort();
    await assert.rejects(sub.ready, code('ERR_ABORTED'));
    await assert.rejects(read, code('ERR_ABORTED'));
    sub.close();
  });
});
