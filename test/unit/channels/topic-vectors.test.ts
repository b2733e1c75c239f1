import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Segment, Topic } from '../../../src/index.js';
import * as L from '../../../src/protocol/layout.js';
import { trackNames } from '../../helpers/index.js';

const vectors = new URL('../../../../test/vectors/', import.meta.url);
const { name, cleanup } = trackNames();
after(cleanup);

interface TopicVector {
  params: number[];
  payloadSize: number;
  commit: number;
  tailVersion: number;
  cursor: { writeSeq: number; writePos: number; tailSeq: number; tailPos: number };
  oldest: { seq: number; size: number; timestampMicros: number; ringOffset: number }[];
  nextSeq: number;
  deadWriter: { seq: number; ringOffset: number; size: number; headSlot: number; headSlotValue: { writeSeq: number; writePos: number } };
  registry: number;
  entries: { entry: number; pid: number; role: number; start: number; ns: number; nextSeq: number; lost: number }[];
}

describe('topic test vector (test/vectors, the byte-level reference for peers)', () => {
  it('topic-ring.bin reads as topic-ring.json says: wrapped with a pad, tail reclaimed ahead, a dead writer ignored', () => {
    const bin = new Uint8Array(readFileSync(new URL('topic-ring.bin', vectors)));
    const expect = JSON.parse(readFileSync(new URL('topic-ring.json', vectors), 'utf8')) as TopicVector;
    assert.equal(bin.length, expect.payloadSize);
    // The control block, byte for byte as PROTOCOL 5.1 lays it out.
    const dv = new DataView(bin.buffer, bin.byteOffset, bin.length);
    assert.equal(dv.getUint32(64, true), expect.commit);
    assert.equal(dv.getUint32(72, true), expect.tailVersion);
    const tail = 80 + (expect.tailVersion & 1) * 16;
    assert.equal(Number(dv.getBigUint64(tail, true)), expect.cursor.tailSeq);
    assert.equal(Number(dv.getBigUint64(tail + 8, true)), expect.cursor.tailPos);
    const head = 128 + (expect.commit & 1) * 16;
    assert.equal(Number(dv.getBigUint64(head, true)), expect.cursor.writeSeq);
    assert.equal(Number(dv.getBigUint64(head + 8, true)), expect.cursor.writePos);
    // The dead writer's head slot: filled, but not the one `commit` names.
    const dead = 128 + expect.deadWriter.headSlot * 16;
    assert.notEqual(expect.deadWriter.headSlot, expect.commit & 1);
    assert.equal(Number(dv.getBigUint64(dead, true)), expect.deadWriter.headSlotValue.writeSeq);
    assert.equal(Number(dv.getBigUint64(dead + 8, true)), expect.deadWriter.headSlotValue.writePos);
    assert.equal(expect.deadWriter.seq, expect.nextSeq);
    // The registration table (5.8), field by field.
    assert.deepEqual(expect.params, [1024, 0, 200, L.TOPIC_DATA_OFFSET, 0]);
    assert.equal(dv.getUint32(L.TOPIC_REGISTRY_OFFSET, true), expect.registry);
    for (let e = 0; e < L.TOPIC_ENTRY_COUNT; e++) {
      const b = L.TOPIC_ENTRIES_OFFSET + e * L.TOPIC_ENTRY_SIZE;
      const want = expect.entries.find((x) => x.entry === e);
      const owner = dv.getUint32(b + L.TOPIC_ENTRY_OWNER, true);
      assert.equal(owner & L.TOPIC_OWNER_PID_MASK, want?.pid ?? 0, `entry ${e} pid`);
      assert.equal(owner >>> L.TOPIC_ROLE_SHIFT, want?.role ?? 0, `entry ${e} role`);
      assert.equal(dv.getUint32(b + 4, true), 0, `entry ${e} reserved`);
      if (want === undefined) continue;
      assert.equal(Number(dv.getBigUint64(b + L.TOPIC_ENTRY_START, true)), want.start);
      assert.equal(dv.getUint32(b + L.TOPIC_ENTRY_NS, true), want.ns);
      assert.equal(Number(dv.getBigUint64(b + L.TOPIC_ENTRY_NEXT_SEQ, true)), want.nextSeq);
      assert.equal(Number(dv.getBigUint64(b + L.TOPIC_ENTRY_LOST, true)), want.lost);
    }

    const n = name('topic-vector');
    Segment.create(n, { size: bin.length, kind: 'topic', params: expect.params, init: (s) => s.bytes.set(bin) }).close();
    const sub = Topic.subscribe(n, { from: 'oldest' });
    const latest = Topic.subscribe(n);
    for (const want of expect.oldest) {
      const m = sub.tryRead();
      assert.ok(m !== null, `record ${want.seq}`);
      assert.equal(m.seq, want.seq);
      assert.equal(m.timestamp, want.timestampMicros / 1000);
      assert.deepEqual([...m.data], Array.from({ length: want.size }, (_, i) => (want.seq * 7 + i) & 0xff));
    }
    assert.equal(sub.tryRead(), null);
    assert.equal(latest.tryRead(), null);
    assert.equal(sub.lost, 0);
    // The dead writer's reservation and head slot are simply reused.
    const pub = Topic.open(n);
    assert.equal(pub.publish('next'), expect.nextSeq);
    assert.equal(sub.tryRead()?.text(), 'next');
    assert.equal(latest.tryRead()?.seq, expect.nextSeq);
    pub.close();
    sub.close();
    latest.close();
  });
});
