/** Topic in one process: options, typed errors, corrupt control blocks, zero-copy views, iteration. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mailbox, Queue, Segment, Topic, isShmbusError, type ShmbusErrorCode } from '../../../src/index.js';
import {
  HDR_PARAMS_OFFSET,
  TOPIC_HEAD_SLOTS_OFFSET,
  TOPIC_TAIL_SLOTS_OFFSET,
  TOPIC_TAIL_VERSION_OFFSET,
  TOPIC_PARAM_MAX_MESSAGE,
  osName,
} from '../../../src/protocol/index.js';
import { uniqueName, unlinkQuietly } from '../../helpers/index.js';

const code = (c: ShmbusErrorCode) => (e: unknown) => isShmbusError(e, c);

describe('Topic (one process)', () => {
  it('refuses bad options with ERR_INVALID_ARG', () => {
    const name = uniqueName('topicargs');
    assert.throws(() => Topic.create(name, { capacity: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Topic.create(name, { capacity: 1.5 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Topic.create(name, { capacity: 1024, maxMessageSize: 4096 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Topic.create(name, { capacity: 1024, maxMessageSize: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Topic.create(name, null as never), code('ERR_INVALID_ARG'));
    assert.throws(() => Topic.create('bad/name', { capacity: 1024 }), code('ERR_INVALID_NAME'));
    const t = Topic.create(name, { capacity: 1024 });
    try {
      assert.throws(() => Topic.subscribe(name, { from: 'newest' as never }), code('ERR_INVALID_ARG'));
      assert.throws(() => Topic.subscribe(name, { timeout: -1 }), code('ERR_INVALID_ARG'));
      assert.throws(() => Topic.subscribe(name, { spin: -1 }), code('ERR_INVALID_ARG'));
      assert.throws(() => t.loan(-1), code('ERR_INVALID_ARG'));
      assert.throws(() => t.publish(42 as never), code('ERR_INVALID_ARG'));
      const loan = t.loan(4);
      assert.throws(() => t.loan(4), code('ERR_INVALID_ARG'));
      loan.abort();
      assert.throws(() => loan.commit(), code('ERR_CLOSED'));
    } finally {
      t.close();
      unlinkQuietly(name);
    }
  });

  it('a message larger than maxMessageSize gets ERR_MESSAGE_TOO_LARGE and nothing else is harmed', () => {
    const name = uniqueName('topicbig');
    const t = Topic.create(name, { capacity: 4096, maxMessageSize: 100 });
    const sub = Topic.subscribe(name);
    try {
      t.publish('a');
      assert.throws(() => t.publish(new Uint8Array(101)), code('ERR_MESSAGE_TOO_LARGE'));
      assert.throws(() => t.loan(101), code('ERR_MESSAGE_TOO_LARGE'));
      t.publish(new Uint8Array(100).fill(3));
      assert.equal(sub.tryRead()!.text(), 'a');
      assert.deepEqual(sub.tryRead()!.data, new Uint8Array(100).fill(3));
      assert.equal(sub.tryRead(), null);
    } finally {
      sub.close();
      t.close();
      unlinkQuietly(name);
    }
  });

  it('opening a queue as a topic (or a mailbox) gets ERR_SHM_KIND; a missing topic ERR_SHM_NOT_FOUND', () => {
    const name = uniqueName('topickind');
    const q = Queue.create(name, { slots: 4, maxMessageSize: 64 });
    try {
      assert.throws(() => Topic.open(name), code('ERR_SHM_KIND'));
      assert.throws(() => Topic.subscribe(name), code('ERR_SHM_KIND'));
      assert.throws(() => Mailbox.open(name), code('ERR_SHM_KIND'));
      assert.throws(() => Topic.subscribe(uniqueName('nope')), code('ERR_SHM_NOT_FOUND'));
    } finally {
      q.close();
      unlinkQuietly(name);
    }
  });

  it('corrupt parameters and cursor values are refused with ERR_SHM_CORRUPT', () => {
    const name = uniqueName('topiccorrupt');
    const t = Topic.create(name, { capacity: 4096, maxMessageSize: 100 });
    const raw = Segment.openRaw(`/${osName(name).replace(/^\//, '')}`);
    try {
      const header = new DataView(raw.buffer);
      header.setUint32(HDR_PARAMS_OFFSET + 4 * TOPIC_PARAM_MAX_MESSAGE, 1 << 20, true);
      assert.throws(() => Topic.open(name), code('ERR_SHM_CORRUPT'));
      assert.throws(() => Topic.subscribe(name), code('ERR_SHM_CORRUPT'));
      header.setUint32(HDR_PARAMS_OFFSET + 4 * TOPIC_PARAM_MAX_MESSAGE, 100, true);
      const sub = Topic.subscribe(name);
      t.publish('x');
      // Both head slots: writePos far outside the ring (publishers and new subscribers read the head).
      const seg = Segment.open(name);
      const words = seg.words;
      for (const slot of [0, 1]) words[(TOPIC_HEAD_SLOTS_OFFSET + slot * 16 + 8) / 4] = 1 << 30;
      assert.throws(() => t.publish('y'), code('ERR_SHM_CORRUPT'));
      assert.throws(() => Topic.subscribe(name), code('ERR_SHM_CORRUPT'));
      // Both tail slots: tailSeq at 2^62 (a reader validates every record against the tail).
      for (const slot of [0, 1]) words[(TOPIC_TAIL_SLOTS_OFFSET + slot * 16 + 4) / 4] = 1 << 30;
      Atomics.add(words, TOPIC_TAIL_VERSION_OFFSET / 4, 1);
      assert.throws(() => sub.tryRead(), code('ERR_SHM_CORRUPT'));
      sub.close();
      seg.close();
    } finally {
      raw.close();
      t.close();
      unlinkQuietly(name);
    }
  });

  it('zero-copy: loan/commit writes in place; copy:false gives a view that valid() checks', () => {
    const name = uniqueName('topiczc');
    const t = Topic.create(name, { capacity: 1024, maxMessageSize: 200 });
    const sub = Topic.subscribe(name);
    try {
      const loan = t.loan(10);
      assert.equal(loan.seq, 1);
      loan.bytes.set([1, 2, 3, 4, 5]);
      assert.equal(loan.commit(5), 1);
      const m = sub.tryRead({ copy: false })!;
      // A view into the ring itself (a SharedArrayBuffer, or the external ArrayBuffer of the SHMBUS_BUFFER=external fallback).
      assert.ok(m.data.buffer instanceof SharedArrayBuffer || process.env['SHMBUS_BUFFER'] === 'external');
      assert.deepEqual([...m.data], [1, 2, 3, 4, 5]);
      assert.equal(m.valid(), true);
      for (let i = 0; i < 20; i++) t.publish(new Uint8Array(150));
      assert.equal(m.valid(), false);
      assert.equal(sub.tryRead()!.valid(), true);
      assert.ok(sub.lost > 0);
    } finally {
      sub.close();
      t.close();
      unlinkQuietly(name);
    }
  });

  it('read({ into }) copies into the caller\'s buffer when the message fits, else into a fresh one', async () => {
    const name = uniqueName('topicinto');
    const t = Topic.create(name, { capacity: 1 << 16, maxMessageSize: 8192 });
    const sub = Topic.subscribe(name);
    try {
      const into = new Uint8Array(4096);
      t.publish(new Uint8Array(3000).fill(7));
      t.publish(new Uint8Array(5000).fill(8));
      const a = sub.tryRead({ into })!;
      assert.equal(a.data.buffer, into.buffer);
      assert.deepEqual(a.data, new Uint8Array(3000).fill(7));
      const b = (await sub.read({ into }))!;
      assert.notEqual(b.data.buffer, into.buffer);
      assert.deepEqual(b.data, new Uint8Array(5000).fill(8));
      assert.throws(() => sub.tryRead({ into: [] as never }), code('ERR_INVALID_ARG'));
    } finally {
      sub.close();
      t.close();
      unlinkQuietly(name);
    }
  });

  it('for await ends when the subscriber is closed; a pending read rejects with ERR_CLOSED', async () => {
    const name = uniqueName('topiciter');
    const t = Topic.create(name, { capacity: 4096 });
    const sub = Topic.subscribe(name, { spin: 0 });
    try {
      const got: string[] = [];
      const loop = (async () => {
        for await (const m of sub) {
          got.push(m.text());
          if (got.length === 3) sub.close();
        }
      })();
      t.publish('a');
      t.publish('b');
      t.publish('c');
      await loop;
      assert.deepEqual(got, ['a', 'b', 'c']);
      const other = Topic.subscribe(name, { spin: 0 });
      const pending = other.read();
      other.close();
      await assert.rejects(pending, code('ERR_CLOSED'));
      const third = Topic.subscribe(name, { spin: 0 });
      await assert.rejects(third.read({ timeout: 5 }), code('ERR_TIMEOUT'));
      await assert.rejects(third.read({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
      third.close();
    } finally {
      t.close();
      unlinkQuietly(name);
    }
  });

  it('a subscriber waiting for a topic that never appears fails with ERR_SHM_NOT_FOUND after `timeout`', async () => {
    const sub = Topic.subscribe(uniqueName('never'), { timeout: 30 });
    await assert.rejects(sub.read(), code('ERR_SHM_NOT_FOUND'));
    assert.equal(sub.tryRead(), null);
    sub.close();
  });
});
