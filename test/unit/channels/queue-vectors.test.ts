import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Queue, Segment } from '../../../src/index.js';
import { QUEUE_HEAD_OFFSET, QUEUE_SLOT_PID_OFFSET, QUEUE_SLOT_SEQ_OFFSET, QUEUE_SLOTS_OFFSET, QUEUE_TAIL_OFFSET, queueSlotStride } from '../../../src/protocol/layout.js';
import { trackNames } from '../../helpers/index.js';

const vectors = new URL('../../../../test/vectors/', import.meta.url);
const { name, cleanup } = trackNames();
after(cleanup);

type Body = { bytes: number[]; isText: boolean } | { text: string; isText: boolean };
interface Words {
  head: number;
  tail: number;
  slots: { slot: number; seq: number; pid: number }[];
}
interface Vector {
  params: [number, number];
  payloadSize: number;
  before: Words;
  steps: (
    | { op: 'tryReceive'; expect: Body | null }
    | { op: 'trySend'; data: { text: string }; expect: boolean }
    | { op: 'stats'; expect: { abandoned: number; lost: number } }
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
    for (const [i, step] of v.steps.entries()) {
      const where = `step ${i} (${step.op})`;
      if (step.op === 'tryReceive') {
        const m = q.tryReceive();
        if (step.expect === null) assert.equal(m, null, where);
        else {
          assert.ok(m !== null, where);
          assert.equal(m.isText, step.expect.isText, where);
          if ('text' in step.expect) assert.equal(m.text(), step.expect.text, where);
          else assert.deepEqual([...m.data], step.expect.bytes, where);
        }
      } else if (step.op === 'trySend') {
        assert.equal(q.trySend(step.data.text), step.expect, where);
      } else {
        const s = q.stats();
        assert.deepEqual({ abandoned: s.abandoned, lost: s.lost }, step.expect, where);
      }
    }
    assert.deepEqual(words(seg, v.params[1], v.params[0]), v.after);
    seg.close();
    q.close();
  });
});
