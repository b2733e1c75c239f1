/**
 * Defect 5 (issue 10): COMMIT and FREE are 64-bit CASes, so a holder whose slot was recovered under it (a wrong
 * "dead" verdict) notices instead of overwriting the slot's next owner. The wrong verdict is made here exactly as
 * a recovering peer makes it (PROTOCOL.md §6 RECOVER: the 64-bit CAS to the next lap's FREE, +1 abandoned/lost),
 * in the middle of a send or a receive, and the slot is then reused by another handle before the holder goes on.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment } from '../../../src/index.js';
import { QueueRing } from '../../../src/channels/queue-ring.js';
import {
  QUEUE_ABANDONED_OFFSET,
  QUEUE_FLAG_TEXT,
  QUEUE_LOST_OFFSET,
  QUEUE_SLOT_SEQ_OFFSET,
  QUEUE_SLOTS_OFFSET,
  queueSlotStride,
} from '../../../src/protocol/layout.js';
import { trackNames } from '../../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

/** RECOVER of slot `slot` as a peer that judged its holder dead would do it; returns true if the CAS won. */
function recoverAsPeer(seg: Segment, slots: number, maxMessageSize: number, slot: number, counter: number): boolean {
  const si = (QUEUE_SLOTS_OFFSET + slot * queueSlotStride(maxMessageSize) + QUEUE_SLOT_SEQ_OFFSET) >> 2;
  const w64 = new BigInt64Array(seg.buffer, 0, seg.size >> 3);
  const cur = Atomics.load(w64, si >> 1);
  const seq = Number(BigInt.asUintN(32, cur));
  const next = BigInt(((Math.imul(slots, 4) + (seq & ~3)) | 0) >>> 0);
  if (Atomics.compareExchange(w64, si >> 1, cur, next) !== cur) return false;
  Atomics.add(seg.words, counter >> 2, 1);
  return true;
}

describe('Queue commit and free are compare-and-swaps', () => {
  it('a sender whose slot was recovered while it wrote sends its message again under a new ticket: delivered once, nothing overwritten', () => {
    const n = name('q-cas-commit');
    const slots = 2;
    const size = 16;
    const q = Queue.create(n, { slots, maxMessageSize: size });
    const other = Queue.open(n);
    const receiver = Queue.open(n);
    const seg = Segment.open(n, { kind: 'queue' });
    const ring = new QueueRing(seg, 0, slots, size);
    let interfered = false;
    const sent = ring.tryWrite((bytes, offset) => {
      bytes.set(new TextEncoder().encode('mine'), offset);
      if (!interfered) {
        interfered = true;
        // We stall after writing; a peer judges us dead and recovers slot 0, then the ring moves on through it.
        assert.equal(recoverAsPeer(seg, slots, size, 0, QUEUE_ABANDONED_OFFSET), true);
        assert.equal(other.trySend('x1'), true); // ticket 1, slot 1
        assert.equal(receiver.tryReceive()?.text(), 'x1'); // head passes ticket 0 (recovered) and takes ticket 1
        assert.equal(other.trySend('x2'), true); // ticket 2: slot 0 again, committed before our commit
      }
      return 4;
    }, QUEUE_FLAG_TEXT);
    assert.equal(sent, true);
    assert.equal(ring.counters.resent, 1, 'the commit CAS failed once and the message went again');
    assert.equal(receiver.tryReceive()?.text(), 'x2', 'the slot\'s new owner kept its message');
    assert.equal(receiver.tryReceive()?.text(), 'mine', 'the resent message arrives once');
    assert.equal(receiver.tryReceive(), null);
    assert.equal(q.stats().abandoned, 1);
    for (let i = 0; i < 6; i++) {
      assert.equal(q.trySend(`after${i}`), true);
      assert.equal(receiver.tryReceive()?.text(), `after${i}`);
    }
    for (const h of [q, other, receiver]) h.close();
    seg.close();
  });

  it('a receiver whose slot was recovered while it copied drops its copy (counted lost once) and takes the next message', () => {
    const n = name('q-cas-free');
    const slots = 2;
    const size = 16;
    const q = Queue.create(n, { slots, maxMessageSize: size });
    const seg = Segment.open(n, { kind: 'queue' });
    const ring = new QueueRing(seg, 0, slots, size);
    assert.equal(q.trySend('m0'), true); // ticket 0, slot 0
    assert.equal(q.trySend('m1'), true); // ticket 1, slot 1
    let interfered = false;
    const got = ring.tryTake((bytes, offset, length) => {
      const text = new TextDecoder().decode(bytes.slice(offset, offset + length));
      if (!interfered) {
        interfered = true;
        // We stall while copying m0; a peer judges us dead, recovers slot 0 (m0 counted lost), a sender reuses it.
        assert.equal(recoverAsPeer(seg, slots, size, 0, QUEUE_LOST_OFFSET), true);
        assert.equal(q.trySend('y'), true); // ticket 2: slot 0
      }
      return text;
    });
    assert.equal(got, 'm1', 'the void copy of m0 is not delivered; the receive goes on with the next ticket');
    assert.equal(q.tryReceive()?.text(), 'y', 'the slot\'s new owner kept its message');
    assert.equal(q.tryReceive(), null);
    const s = q.stats();
    assert.deepEqual([s.lost, s.abandoned], [1, 0]);
    assert.equal(ring.counters.received, 1);
    for (let i = 0; i < 6; i++) {
      assert.equal(q.trySend(`after${i}`), true);
      assert.equal(q.tryReceive()?.text(), `after${i}`);
    }
    q.close();
    seg.close();
  });
});
