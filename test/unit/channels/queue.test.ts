import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment, isShmbusError } from '../../../src/index.js';
import {
  QUEUE_SLOT_LENGTH_OFFSET,
  QUEUE_SLOT_SEQ_OFFSET,
  QUEUE_SLOTS_OFFSET,
  QUEUE_TAIL_OFFSET,
  queueSlotStride,
} from '../../../src/protocol/layout.js';
import { trackNames } from '../../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

const code = (c: string) => (e: unknown) => isShmbusError(e) && e.code === c;

describe('Queue in one process', () => {
  it('delivers messages in order, bytes and strings, and reports its length', async () => {
    const q = Queue.create(name('q-basic'), { slots: 8, slotSize: 64 });
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
    q.detach();
  });

  it('trySend is false when full, nothing is dropped, and a waiting send goes on once a slot frees', async () => {
    const q = Queue.create(name('q-full'), { slots: 4, slotSize: 16 });
    for (let i = 0; i < 4; i++) assert.equal(q.trySend(String(i)), true);
    assert.equal(q.trySend('x'), false);
    assert.equal(q.length, 4);
    const pending = q.send('4', { timeout: 5000 });
    assert.equal(q.tryReceive()?.text(), '0');
    await pending;
    const got: string[] = [];
    for (let m = q.tryReceive(); m !== null; m = q.tryReceive()) got.push(m.text());
    assert.deepEqual(got, ['1', '2', '3', '4']);
    q.detach();
  });

  it('a send on a full queue times out with ERR_TIMEOUT and aborts with ERR_ABORTED', async () => {
    const q = Queue.create(name('q-to'), { slots: 1, slotSize: 8, spin: 0 });
    assert.equal(q.trySend('a'), true);
    await assert.rejects(q.send('b', { timeout: 20 }), code('ERR_TIMEOUT'));
    const ac = new AbortController();
    const p = q.send('b', { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(p, code('ERR_ABORTED'));
    await assert.rejects(q.receive({ timeout: 0 }).then(() => q.receive({ timeout: 10 })), code('ERR_TIMEOUT'));
    q.detach();
  });

  it('refuses a message larger than slotSize with ERR_MESSAGE_TOO_LARGE and leaves the queue usable', async () => {
    const q = Queue.create(name('q-big'), { slots: 2, slotSize: 8 });
    assert.throws(() => q.trySend(new Uint8Array(9)), code('ERR_MESSAGE_TOO_LARGE'));
    assert.throws(() => q.trySend('ééééé'), code('ERR_MESSAGE_TOO_LARGE')); // 10 UTF-8 bytes
    await assert.rejects(q.send('123456789'), code('ERR_MESSAGE_TOO_LARGE'));
    assert.equal(q.trySend('12345678'), true);
    assert.equal(q.tryReceive()?.text(), '12345678');
    assert.equal(q.tryReceive(), null);
    q.detach();
  });

  it('close() ends the stream: receivers drain, then get null, the iterator ends, sends throw ERR_CLOSED', async () => {
    const q = Queue.create(name('q-close'), { slots: 8, slotSize: 8 });
    const waiting = q.receive();
    await q.send('a');
    assert.equal((await waiting)?.text(), 'a');
    await q.send('b');
    await q.send('c');
    q.close();
    q.close();
    assert.equal(q.closed, true);
    assert.throws(() => q.trySend('d'), code('ERR_CLOSED'));
    await assert.rejects(q.send('d'), code('ERR_CLOSED'));
    const got: string[] = [];
    for await (const m of q) got.push(m.text());
    assert.deepEqual(got, ['b', 'c']);
    assert.equal(await q.receive(), null);
    const blocked = Queue.create(name('q-close2'), { slots: 2, slotSize: 8 });
    const r = blocked.receive({ timeout: 10_000 });
    blocked.close();
    assert.equal(await r, null);
    q.detach();
    blocked.detach();
  });

  it('tickets wrap around 2^32 without losing or reordering a message', async () => {
    for (const slots of [1, 4, 8]) {
      const q = Queue.createAtTicket(name('q-wrap'), { slots, slotSize: 8 }, 0xffffffff - 2 * slots);
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
      q.detach();
    }
  });

  it('large payloads (2.7 MB) round-trip byte for byte', async () => {
    const q = Queue.create(name('q-large'), { slots: 2, slotSize: 3 << 20 });
    const img = new Uint8Array(2_764_800);
    for (let i = 0; i < img.length; i++) img[i] = (i * 31) & 0xff;
    await q.send(img);
    const m = await q.receive();
    assert.equal(m?.data.length, img.length);
    assert.deepEqual(Buffer.from(m!.data).equals(Buffer.from(img)), true);
    q.detach();
  });

  it('the default slot count keeps rings of big slots within 32 MiB', () => {
    const small = Queue.create(name('q-def'));
    assert.deepEqual([small.slots, small.slotSize], [1024, 4096]);
    const big = Queue.create(name('q-def-big'), { slotSize: 4 << 20 });
    assert.equal(big.slots, 8);
    const huge = Queue.create(name('q-def-huge'), { slotSize: 64 << 20 });
    assert.equal(huge.slots, 2);
    for (const q of [small, big, huge]) q.detach();
  });

  it('bad options are ERR_INVALID_ARG; a wrong kind is ERR_SHM_KIND; use after detach is ERR_CLOSED', () => {
    assert.throws(() => Queue.create(name('q-bad'), { slots: 3 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Queue.create(name('q-bad'), { slots: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Queue.create(name('q-bad'), { slotSize: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Queue.create(name('q-bad'), { slotSize: 1.5 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Queue.create(name('q-bad'), { spin: -1 }), code('ERR_INVALID_ARG'));
    const q = Queue.create(name('q-arg'), { slots: 2, slotSize: 8 });
    assert.throws(() => q.trySend(42 as unknown as string), code('ERR_INVALID_ARG'));
    assert.throws(() => q.trySend({} as unknown as Uint8Array), code('ERR_INVALID_ARG'));
    q.detach();
    q.detach();
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
    const q = Queue.create(n, { slots: 4, slotSize: 16 });
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
    q.detach();
  });
});

describe('Queue receive into a caller buffer', () => {
  it('copies into `into` when it fits (no allocation), and into a fresh array when it does not', async () => {
    const q = Queue.create(name('q-into'), { slots: 4, slotSize: 8192 });
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
    q.detach();
  });
});
