#!/usr/bin/env node
// Generates the byte-exact test vectors in test/vectors/ from the Node implementation. Run after a deliberate
// layout change (and bump PROTOCOL.md); the .bin diffs are reviewed like code. The Python and C peers must
// decode/encode the same bytes.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeHeader } from '../dist/src/protocol/header.js';
import { HEADER_SIZE, HDR_STATE_OFFSET } from '../dist/src/protocol/layout.js';

const out = fileURLToPath(new URL('../test/vectors/', import.meta.url));
const fields = { kind: 'topic', payloadSize: 4096, creatorPid: 4242, creatorStartTime: 123456789, createdAt: 1767225600000, params: [65536, 2048, 7] };
const bytes = new Uint8Array(HEADER_SIZE);
const view = new DataView(bytes.buffer);
encodeHeader(view, fields);
view.setUint32(HDR_STATE_OFFSET, 1, true);
writeFileSync(`${out}segment-header.bin`, bytes);
writeFileSync(`${out}segment-header.json`, `${JSON.stringify({ ...fields, state: 1, version: 1, headerSize: 128, totalSize: 4224 }, null, 2)}\n`);
console.log('wrote test/vectors/segment-header.{bin,json}');

// Queue ring (PROTOCOL.md §6): slots 4, maxMessageSize 16, tickets starting at 0xFFFFFFFE so the vector crosses the
// u32 wrap. Sent: "a" (text), bytes 01 02 03, "hello" (text); "a" received; then ticket 1 claimed (WRITING) by pid
// 0x3FFFFFFF, which can never be alive (above Linux's pid_max), so a reader must recover (abandon) that slot.
// Holder stamps left in the slots (start time, pid namespace) are normalised to 123456789 / 4026531836 so the bytes
// do not depend on this run. The expected outcomes are steps a test replays (queue-ring.json "steps").
{
  const { Queue, Segment } = await import('../dist/src/index.js');
  const L = await import('../dist/src/protocol/layout.js');
  const name = `gen-vectors-${process.pid}`;
  const q = Queue.createAtTicket(name, { slots: 4, maxMessageSize: 16 }, 0xfffffffe);
  q.trySend('a');
  q.trySend(new Uint8Array([1, 2, 3]));
  q.trySend('hello');
  q.tryReceive();
  const seg = Segment.open(name, { kind: 'queue' });
  Segment.unlink(name);
  const w = seg.words;
  const stride = L.queueSlotStride(16);
  const word = (slot, off) => (L.QUEUE_SLOTS_OFFSET + slot * stride + off) >> 2;
  for (let slot = 0; slot < 4; slot++) {
    if (w[word(slot, L.QUEUE_SLOT_START_OFFSET)] !== 0 || w[word(slot, L.QUEUE_SLOT_START_OFFSET) + 1] !== 0) {
      w[word(slot, L.QUEUE_SLOT_START_OFFSET)] = 123456789;
      w[word(slot, L.QUEUE_SLOT_START_OFFSET) + 1] = 0;
    }
    if (w[word(slot, L.QUEUE_SLOT_NS_OFFSET)] !== 0) w[word(slot, L.QUEUE_SLOT_NS_OFFSET)] = 4026531836 | 0;
  }
  // Ticket 1 -> slot 1: WRITING by a dead producer (as its CAS leaves it: seq 4*1+1, pid set, not stamped yet).
  w[word(1, L.QUEUE_SLOT_SEQ_OFFSET)] = 4 * 1 + L.QUEUE_STATE_WRITING;
  w[word(1, L.QUEUE_SLOT_PID_OFFSET)] = 0x3fffffff;
  w[L.QUEUE_TAIL_OFFSET >> 2] = 2;
  const size = L.queueRingSize(4, 16);
  const bin = seg.bytes.slice(0, size);
  writeFileSync(`${out}queue-ring.bin`, bin);
  const slotWords = (words) =>
    [0, 1, 2, 3].map((slot) => ({ slot, seq: words[word(slot, L.QUEUE_SLOT_SEQ_OFFSET)] >>> 0, pid: words[word(slot, L.QUEUE_SLOT_PID_OFFSET)] >>> 0 }));
  const before = { head: w[L.QUEUE_HEAD_OFFSET >> 2] >>> 0, tail: w[L.QUEUE_TAIL_OFFSET >> 2] >>> 0, slots: slotWords(w) };
  seg.close();
  q.close();
  // Replay the steps on a fresh copy to record the state after them (what every implementation must reach).
  const replay = `gen-vectors-r-${process.pid}`;
  Segment.create(replay, { size, kind: 'queue', params: [4, 16], init: (s) => s.bytes.set(bin) }).close();
  const r = Queue.open(replay);
  const steps = [
    { op: 'tryReceive', expect: { bytes: [1, 2, 3], isText: false }, why: 'ticket 0xFFFFFFFF, COMMITTED' },
    { op: 'tryReceive', expect: { text: 'hello', isText: true }, why: 'ticket 0 (after the u32 wrap), COMMITTED' },
    { op: 'tryReceive', expect: null, why: 'ticket 1 is WRITING by dead pid 1073741823: empty (first sighting)' },
    { op: 'tryReceive', expect: null, why: 'second sighting: the holder is dead, RECOVER frees the slot; then empty' },
    { op: 'stats', expect: { abandoned: 1, lost: 0 } },
    { op: 'trySend', data: { text: 'next' }, expect: true, why: 'ticket 2' },
    { op: 'tryReceive', expect: { text: 'next', isText: true } },
    { op: 'tryReceive', expect: null },
  ];
  for (const s of steps) {
    if (s.op === 'tryReceive') r.tryReceive();
    else if (s.op === 'trySend') r.trySend(s.data.text);
  }
  const rs = Segment.open(replay, { kind: 'queue' });
  Segment.unlink(replay);
  const after = { head: rs.words[L.QUEUE_HEAD_OFFSET >> 2] >>> 0, tail: rs.words[L.QUEUE_TAIL_OFFSET >> 2] >>> 0, slots: slotWords(rs.words) };
  rs.close();
  r.close();
  const json = { params: [4, 16], payloadSize: size, before, steps, after };
  writeFileSync(`${out}queue-ring.json`, `${JSON.stringify(json, null, 2)}\n`);
  console.log('wrote test/vectors/queue-ring.{bin,json}');
}

// Topic ring (PROTOCOL.md §5): capacity 1024, maxMessageSize 200. Twelve records of sizes that wrap the ring once
// (a PAD before record 8), payload byte i of record seq = (seq * 7 + i) & 0xff, timestamp 1700000000000000 + seq µs.
// Then a publisher that died after reserving 150 bytes (its reclaim, ahead by reclaimAhead, moved the tail to 9) and
// filling the next head slot, before its commit store: readers must ignore it and the next publisher gets seq 13.
{
  const ring = await import('../dist/src/channels/ring.js');
  const capacity = 1024;
  const maxMessageSize = 200;
  const dataOffset = 256;
  const buf = new ArrayBuffer(dataOffset + capacity);
  const view = { words: new Int32Array(buf), bytes: new Uint8Array(buf), dataOffset, capacity, maxMessageSize, name: 'vector' };
  ring.initRing(view);
  const T0 = 1_700_000_000_000_000;
  const pads = [];
  for (const size of [100, 150, 5, 200, 60, 0, 120, 180, 33, 90, 200, 10]) {
    const r = ring.reserve(view, size);
    for (let i = 0; i < size; i++) view.bytes[dataOffset + r.at + 32 + i] = (r.seq * 7 + i) & 0xff;
    if (r.padAt >= 0) pads.push({ padAt: r.padAt, beforeSeq: r.seq });
    ring.commitRecord(view, r, size, T0 + r.seq);
  }
  const before = ring.readCursor(view);
  const dead = ring.reserve(view, 150);
  const head = (128 + (dead.seq & 1) * 16) / 4;
  view.words[head] = dead.seq;
  view.words[head + 2] = 999_999;
  const c = ring.readCursor(view);
  const reader = new ring.RingReader(view, 'oldest');
  const ref = { seq: 0, offset: 0, size: 0, timestampMicros: 0 };
  const oldest = [];
  for (let r; (r = reader.tryNext(null, ref)) !== null; ) {
    oldest.push({ seq: r.seq, size: r.size, timestampMicros: r.timestampMicros, ringOffset: r.offset - dataOffset - 32 });
  }
  writeFileSync(`${out}topic-ring.bin`, view.bytes);
  const json = {
    params: [capacity, 0, maxMessageSize, dataOffset],
    payloadSize: dataOffset + capacity,
    payloadRule: 'payload byte i of record seq = (seq * 7 + i) & 0xff; timestamp = 1700000000000000 + seq (µs)',
    commit: c.writeSeq,
    tailVersion: view.words[72 / 4],
    cursor: c,
    cursorBeforeDeadWriter: before,
    pads,
    deadWriter:
      `record ${dead.seq} reserved at ring offset ${dead.at} (150 bytes), head slot ${dead.seq & 1} filled with ` +
      `{ writeSeq ${dead.seq}, writePos 999999 }, never committed: readers ignore it, the next publisher gets seq ${dead.seq}`,
    oldest,
    nextSeq: c.writeSeq + 1,
  };
  writeFileSync(`${out}topic-ring.json`, `${JSON.stringify(json, null, 2)}\n`);
  console.log('wrote test/vectors/topic-ring.{bin,json}');
}
