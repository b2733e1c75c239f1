import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment, isShmbusError } from '../../../src/index.js';
import {
  QUEUE_SLOT_LENGTH_OFFSET,
  QUEUE_SLOT_SEQ_OFFSET,
  QUEUE_SLOTS_OFFSET,
  QUEUE_TAIL_OFFSET,
  queueRingSize,
  queueSlotStride,
} from '../../../src/protocol/layout.js';
import { trackNames } from '../../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

const code = (c: string) => (e: unknown) => isShmbusError(e) && e.code === c;

describe('Queue in one process', () => {
  it('delivers messages in order, bytes and strings, and reports its length', async () => {
    const q = Queue.create(name('q-basic'), { slots: 8, maxMessageSize: 64 });
    assert.equal(q.length, 0);
    await q.send(new Uint8Array([1, 2, 3]));
    assert.equal(q.trySend('héllo'), true);
    assert.equal(q.length, 2);
    const a = await q.receive();
    assert.deepEqual(a && [...a.data], [1, 2, 3]);
    assert.equal(a?.isText, false);
    const b = q.tryReceive();
    assert.equal(b?.text(), 'héllo');
    assert.equal(b?.isText, true);
    assert.equal(q.tryReceive(), null);
    q.close();
  });

  it('trySend is false when full, nothing is dropped, and a waiting send goes on once a slot frees', async () => {
    const q = Queue.create(name('q-full'), { slots: 4, maxMessageSize: 16 });
    for (let i = 0; i < 4; i++) assert.equal(q.trySend(String(i)), true);
    assert.equal(q.trySend('x'), false);
    assert.equal(q.length, 4);
    const pending = q.send('4', { timeout: 5000 });
    assert.equal(q.tryReceive()?.text(), '0');
    await pending;
    const got: string[] = [];
    for (let m = q.tryReceive(); m !== null; m = q.tryReceive()) got.push(m.text());
    assert.deepEqual(got, ['1', '2', '3', '4']);
    q.close();
  });

  it('a send on a full queue times out with ERR_TIMEOUT and aborts with ERR_ABORTED', async () => {
    const q = Queue.create(name('q-to'), { slots: 1, maxMessageSize: 8, spin: 0 });
    assert.equal(q.trySend('a'), true);
    await assert.rejects(q.send('b', { timeout: 20 }), code('ERR_TIMEOUT'));
    const ac = new AbortController();
    const p = q.send('b', { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(p, code('ERR_ABORTED'));
    await assert.rejects(q.receive({ timeout: 0 }).then(() => q.receive({ timeout: 10 })), code('ERR_TIMEOUT'));
    q.close();
  });

  it('refuses a message larger than maxMessageSize with ERR_MESSAGE_TOO_LARGE and leaves the queue usable', async () => {
    const q = Queue.create(name('q-big'), { slots: 2, maxMessageSize: 8 });
    assert.throws(() => q.trySend(new Uint8Array(9)), code('ERR_MESSAGE_TOO_LARGE'));
    assert.throws(() => q.trySend('ééééé'), code('ERR_MESSAGE_TOO_LARGE')); // 10 UTF-8 bytes
    await assert.rejects(q.send('123456789'), code('ERR_MESSAGE_TOO_LARGE'));
    assert.equal(q.trySend('12345678'), true);
    assert.equal(q.tryReceive()?.text(), '12345678');
    assert.equal(q.tryReceive(), null);
    q.close();
  });

  it('end() ends the stream: receivers drain, then get null, the iterator ends, sends throw ERR_CLOSED', async () => {
    const q = Queue.create(name('q-end'), { slots: 8, maxMessageSize: 8 });
    const waiting = q.receive();
    await q.send('a');
    assert.equal((await waiting)?.text(), 'a');
    await q.send('b');
    await q.send('c');
    q.end();
    q.end();
    assert.equal(q.ended, true);
    assert.equal(q.closed, false);
    assert.throws(() => q.trySend('d'), code('ERR_CLOSED'));
    await assert.rejects(q.send('d'), code('ERR_CLOSED'));
    const got: string[] = [];
    for await (const m of q) got.push(m.text());
    assert.deepEqual(got, ['b', 'c']);
    assert.equal(await q.receive(), null);
    const blocked = Queue.create(name('q-end2'), { slots: 2, maxMessageSize: 8 });
    const r = blocked.receive({ timeout: 10_000 });
    blocked.end();
    assert.equal(await r, null);
    q.close();
    blocked.close();
  });

  it('close() detaches only this handle: idempotent, pending receives reject with ERR_CLOSED, the stream goes on for others', async () => {
    const n = name('q-close');
    const a = Queue.create(n, { slots: 4, maxMessageSize: 8 });
    const b = Queue.open(n);
    const pending = b.receive();
    b.close();
    b.close();
    assert.equal(b.closed, true);
    await assert.rejects(pending, code('ERR_CLOSED'));
    assert.throws(() => b.trySend('x'), code('ERR_CLOSED'));
    assert.equal(a.ended, false);
    assert.equal(a.trySend('still'), true);
    assert.equal(a.tryReceive()?.text(), 'still');
    {
      using c = Queue.open(n);
      assert.equal(c.closed, false);
    }
    a.close();
  });

  it('for await ended by break closes the handle it iterates (not the stream)', async () => {
    const n = name('q-break');
    const q = Queue.create(n, { slots: 4, maxMessageSize: 8 });
    const other = Queue.open(n);
    q.trySend('1');
    q.trySend('2');
    for await (const m of q) {
      assert.equal(m.text(), '1');
      break;
    }
    assert.equal(q.closed, true);
    assert.equal(other.ended, false);
    assert.equal(other.tryReceive()?.text(), '2');
    other.close();
  });

  it('stats() reports depth, size, recovery counters and this handle\'s sent/received', async () => {
    const n = name('q-stats');
    const a = Queue.create(n, { slots: 4, maxMessageSize: 8 });
    const b = Queue.open(n);
    a.trySend('1');
    await a.send('2');
    assert.deepEqual(a.stats(), { length: 2, slots: 4, maxMessageSize: 8, abandoned: 0, lost: 0, sent: 2, received: 0 });
    b.tryReceive();
    assert.deepEqual(b.stats(), { length: 1, slots: 4, maxMessageSize: 8, abandoned: 0, lost: 0, sent: 0, received: 1 });
    assert.doesNotThrow(() => JSON.stringify(b.stats()));
    a.close();
    b.close();
  });

  it('a codec makes the queue typed: send values, receive m.value; text() and json() work on any message', async () => {
    const n = name('q-codec');
    const q = Queue.create<{ id: number; tags: string[] }>(n, { slots: 4, maxMessageSize: 64, codec: 'json' });
    await q.send({ id: 7, tags: ['a'] });
    const m = await q.receive();
    assert.deepEqual(m?.value, { id: 7, tags: ['a'] });
    assert.equal(m?.isText, true);
    assert.deepEqual(m?.json(), { id: 7, tags: ['a'] });
    const v8q = Queue.open<Map<string, bigint>>(n, { codec: 'v8' });
    v8q.trySend(new Map([['k', 1n]]));
    assert.deepEqual(v8q.tryReceive()?.value, new Map([['k', 1n]]));
    const raw = Queue.open(n);
    raw.trySend('{"x":1}');
    const r = raw.tryReceive();
    assert.deepEqual(r?.json(), { x: 1 });
    assert.ok(r?.value instanceof Uint8Array);
    assert.throws(() => Queue.open(n, { codec: 'yaml' as 'json' }), code('ERR_INVALID_ARG'));
    for (const h of [q, v8q, raw]) h.close();
  });

  it('Queue.open waits up to `timeout` for the queue to appear; openAsync without blocking, abortable', async () => {
    const missing = name('q-missing');
    assert.throws(() => Queue.open(missing), code('ERR_SHM_NOT_FOUND'));
    assert.throws(() => Queue.open(missing, { timeout: 5 }), code('ERR_SHM_NOT_FOUND'));
    await assert.rejects(Queue.openAsync(missing, { timeout: 5 }), code('ERR_SHM_NOT_FOUND'));
    const ac = new AbortController();
    const aborted = Queue.openAsync(missing, { timeout: 60_000, signal: ac.signal });
    ac.abort();
    await assert.rejects(aborted, code('ERR_ABORTED'));
    await assert.rejects(Queue.openAsync(missing, { timeout: 60_000, signal: AbortSignal.timeout(5) }), code('ERR_TIMEOUT'));
    const later = Queue.openAsync(missing, { timeout: 30_000 });
    setImmediate(() => Queue.create(missing, { slots: 2, maxMessageSize: 8 }).close());
    const q = await later;
    assert.equal(q.slots, 2);
    q.close();
  });

  it('tickets wrap around 2^32 without losing or reordering a message', async () => {
    for (const slots of [1, 4, 8]) {
      const q = Queue.createAtTicket(name('q-wrap'), { slots, maxMessageSize: 8 }, 0xffffffff - 2 * slots);
      let next = 0;
      let expect = 0;
      for (let round = 0; round < 6 * slots; round++) {
        while (q.trySend(String(next))) next++;
        const m = q.tryReceive();
        assert.equal(m?.text(), String(expect++));
      }
      for (let m = q.tryReceive(); m !== null; m = q.tryReceive()) assert.equal(m.text(), String(expect++));
      assert.equal(expect, next);
      assert.ok(next >= 6 * slots);
      q.close();
    }
  });

  it('large payloads (2.7 MB) round-trip byte for byte', async () => {
    const q = Queue.create(name('q-large'), { slots: 2, maxMessageSize: 3 << 20 });
    const img = new Uint8Array(2_764_800);
    for (let i = 0; i < img.length; i++) img[i] = (i * 31) & 0xff;
    await q.send(img);
    const m = await q.receive();
    assert.equal(m?.data.length, img.length);
    assert.deepEqual(Buffer.from(m!.data).equals(Buffer.from(img)), true);
    q.close();
  });

  it('a default queue takes 266 KiB of /dev/shm (64 slots of 4096 bytes); rings of big messages stay within 16 MiB', () => {
    const small = Queue.create(name('q-def'));
    assert.deepEqual([small.slots, small.maxMessageSize], [64, 4096]);
    assert.equal(queueRingSize(small.slots, small.maxMessageSize), 266_560);
    const big = Queue.create(name('q-def-big'), { maxMessageSize: 4 << 20 });
    assert.equal(big.slots, 4);
    const huge = Queue.create(name('q-def-huge'), { maxMessageSize: 64 << 20 });
    assert.equal(huge.slots, 2);
    for (const q of [small, big, huge]) q.close();
  });

  it('bad options are ERR_INVALID_ARG naming the option and what it got; a wrong kind is ERR_SHM_KIND; use after close is ERR_CLOSED', async () => {
    const named = (opt: string, got: string) => (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG') && e.message.includes(opt) && e.message.includes(got);
    assert.throws(() => Queue.create(name('q-bad'), { maxMessageSize: '4096' as unknown as number }), named('maxMessageSize', 'string "4096"'));
    assert.throws(() => Queue.create(name('q-bad'), { slotSize: 64 } as never), named('slotSize', 'maxMessageSize'));
    assert.throws(() => Queue.create(name('q-bad'), { mode: 0o755 }), named('mode', 'number 493'));
    assert.throws(() => Queue.create(name('q-bad'), { livenessInterval: 0 }), named('livenessInterval', 'number 0'));
    assert.throws(() => Queue.create(name('q-bad'), null as never), named('options', 'null'));
    assert.throws(() => Queue.open(name('q-bad'), { signal: 'yes' as never }), named('signal', 'string "yes"'));
    const ok = Queue.create(name('q-bad-call'), { slots: 2, maxMessageSize: 8 });
    ok.trySend('x');
    // A bad call option fails even when the call would not have waited.
    await assert.rejects(ok.receive({ signal: 'yes' as never }), named('signal', 'string "yes"'));
    await assert.rejects(ok.send('y', { timeout: -1 }), code('ERR_INVALID_ARG'));
    assert.throws(() => ok.tryReceive({ into: 'buf' as never }), named('into', 'string "buf"'));
    ok.close();
    assert.throws(() => Queue.create(name('q-bad'), { slots: 3 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Queue.create(name('q-bad'), { slots: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Queue.create(name('q-bad'), { maxMessageSize: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Queue.create(name('q-bad'), { maxMessageSize: 1.5 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Queue.create(name('q-bad'), { spin: -1 }), code('ERR_INVALID_ARG'));
    const q = Queue.create(name('q-arg'), { slots: 2, maxMessageSize: 8 });
    assert.throws(() => q.trySend(42 as unknown as string), code('ERR_INVALID_ARG'));
    assert.throws(() => q.trySend({} as unknown as Uint8Array), code('ERR_INVALID_ARG'));
    q.close();
    q.close();
    assert.throws(() => q.trySend('a'), code('ERR_CLOSED'));
    const raw = name('q-raw');
    Segment.create(raw, { size: 4096 }).close();
    assert.throws(() => Queue.open(raw), code('ERR_SHM_KIND'));
  });

  it('corrupt layout parameters and control words are ERR_SHM_CORRUPT, never a crash', () => {
    for (const params of [[3, 8], [0, 8], [4, 0], [1 << 20, 1 << 20], [2, 2 ** 31]]) {
      const n = name('q-corrupt');
      Segment.create(n, { size: 4096, kind: 'queue', params }).close();
      assert.throws(() => Queue.open(n), code('ERR_SHM_CORRUPT'), `params ${params.join(',')}`);
    }
    const n = name('q-corrupt-len');
    const q = Queue.create(n, { slots: 4, maxMessageSize: 16 });
    q.trySend('abc');
    q.trySend('def');
    const seg = Segment.open(n, { kind: 'queue' });
    seg.words[(QUEUE_SLOTS_OFFSET + QUEUE_SLOT_LENGTH_OFFSET) >> 2] = 0x7fffffff;
    assert.throws(() => q.tryReceive(), code('ERR_SHM_CORRUPT'));
    assert.equal(q.tryReceive()?.text(), 'def');
    // A garbage tail ticket: the slot words decide, so the queue stays usable (the slot of that ticket is found).
    seg.words[QUEUE_TAIL_OFFSET >> 2] = 0x12345678;
    assert.equal(typeof q.trySend('x'), 'boolean');
    // Garbage in every slot's state word: tries return or throw ERR_SHM_CORRUPT, never hang or crash.
    for (let i = 0; i < 4; i++) seg.words[(QUEUE_SLOTS_OFFSET + i * queueSlotStride(16) + QUEUE_SLOT_SEQ_OFFSET) >> 2] = 0x7fff0000 + i * 5;
    for (let i = 0; i < 8; i++) {
      try {
        q.trySend('y');
        q.tryReceive();
      } catch (e) {
        assert.ok(isShmbusError(e), String(e));
      }
    }
    seg.close();
    q.close();
  });
});

describe('Queue receive into a caller buffer', () => {
  it('copies into `into` when it fits (no allocation), and into a fresh array when it does not', async () => {
    const q = Queue.create(name('q-into'), { slots: 4, maxMessageSize: 8192 });
    const buf = new Uint8Array(4096);
    const big = new Uint8Array(3000).fill(7);
    await q.send(big);
    const m = await q.receive({ into: buf });
    assert.ok(m?.data.buffer === buf.buffer, 'the message went into the caller buffer');
    assert.equal(m?.data.length, 3000);
    assert.equal(buf[2999], 7);
    q.trySend('hi');
    assert.equal(q.tryReceive({ into: buf })?.text(), 'hi');
    await q.send(new Uint8Array(5000));
    const m2 = await q.receive({ into: buf });
    assert.ok(m2?.data.buffer !== buf.buffer, 'a message too large for `into` gets a fresh array');
    assert.equal(m2?.data.length, 5000);
    assert.throws(() => q.tryReceive({ into: [] as unknown as Uint8Array }), code('ERR_INVALID_ARG'));
    q.close();
  });
});
