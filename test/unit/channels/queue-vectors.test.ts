import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Queue, Segment } from '../../../src/index.js';
import { QUEUE_HEAD_OFFSET, QUEUE_SLOT_PID_OFFSET, QUEUE_SLOT_SEQ_OFFSET, QUEUE_SLOTS_OFFSET, QUEUE_TAIL_OFFSET, queueSlotStride } from '../../../src/protocol/layout.js';
import { trackNames } from '../../helpers/index.js';

const vectors = new URL('../../../../test/vectors/', import.meta.url);
const { name, cleanup } = trackNames();
after(cleanup);

/** A received message as the vector states it: text (sent as a string) or bytes. */
type Body = { bytes: number[] } | { text: string };
interface Words {
  head: number;
  tail: number;
  slots: { slot: number; seq: number; pid: number }[];
}
interface Vector {
  params: [number, number];
  payloadSize: number;
  before: Words;
  /** The steps of the vector convention (test/vectors/schema.ts) that a queue replays. */
  expect: (
    | { op: 'tryReceive'; result: Body | null }
    | { op: 'trySend'; args: { text: string }; result: boolean }
    | { op: 'stats'; result: { abandoned: number; lost: number } }
  )[];
  after: Words;
}

function words(seg: Segment, slotSize: number, slots: number): Words {
  const w = seg.words;
  const at = (slot: number, off: number): number => (QUEUE_SLOTS_OFFSET + slot * queueSlotStride(slotSize) + off) >> 2;
  return {
    head: w[QUEUE_HEAD_OFFSET >> 2]! >>> 0,
    tail: w[QUEUE_TAIL_OFFSET >> 2]! >>> 0,
    slots: Array.from({ length: slots }, (_, slot) => ({ slot, seq: w[at(slot, QUEUE_SLOT_SEQ_OFFSET)]! >>> 0, pid: w[at(slot, QUEUE_SLOT_PID_OFFSET)]! >>> 0 })),
  };
}

describe('queue test vector (for implementations written from PROTOCOL.md)', () => {
  it('queue-ring.bin replays as queue-ring.json says: across the u32 ticket wrap, with a dead writer recovered', () => {
    const bin = new Uint8Array(readFileSync(new URL('queue-ring.bin', vectors)));
    const v = JSON.parse(readFileSync(new URL('queue-ring.json', vectors), 'utf8')) as Vector;
    assert.equal(bin.length, v.payloadSize);
    const n = name('q-vector');
    const seg = Segment.create(n, { size: bin.length, kind: 'queue', params: v.params, init: (s) => s.bytes.set(bin) });
    assert.deepEqual(words(seg, v.params[1], v.params[0]), v.before);
    const q = Queue.open(n);
    // The same steps the general vector test replays; here the ring words after them are checked too.
    for (const [i, step] of v.expect.entries()) {
      const where = `step ${i} (${step.op})`;
      if (step.op === 'tryReceive') {
        const m = q.tryReceive();
        if (step.result === null) assert.equal(m, null, where);
        else {
          assert.ok(m !== null, where);
          assert.equal(m.isText, 'text' in step.result, where);
          if ('text' in step.result) assert.equal(m.text(), step.result.text, where);
          else assert.deepEqual([...m.data], step.result.bytes, where);
        }
      } else if (step.op === 'trySend') {
        assert.equal(q.trySend(step.args.text), step.result, where);
      } else {
        const s = q.stats();
        assert.deepEqual({ abandoned: s.abandoned, lost: s.lost }, step.result, where);
      }
    }
    assert.deepEqual(words(seg, v.params[1], v.params[0]), v.after);
    seg.close();
    q.close();
  });
});
