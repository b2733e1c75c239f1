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

// Queue ring (PROTOCOL.md §6): slots 4, slotSize 16, tickets starting at 0xFFFFFFFE so the vector crosses the u32
// wrap. Sent: "a" (text), bytes 01 02 03, "hello" (text); "a" received; then ticket 1 claimed (WRITING) by pid
// 0x3FFFFFFF, which can never be alive (above Linux's pid_max), so a reader must recover (abandon) that slot.
// Pids and start times of the live writer are normalised to 4242 / 123456789 so the bytes do not depend on this run.
{
  const { Queue, Segment } = await import('../dist/src/index.js');
  const L = await import('../dist/src/protocol/layout.js');
  const name = `gen-vectors-${process.pid}`;
  const q = Queue.createAtTicket(name, { slots: 4, slotSize: 16 }, 0xfffffffe);
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
    if (w[word(slot, L.QUEUE_SLOT_PID_OFFSET)] !== 0) w[word(slot, L.QUEUE_SLOT_PID_OFFSET)] = 4242;
    if (w[word(slot, L.QUEUE_SLOT_START_OFFSET)] !== 0 || w[word(slot, L.QUEUE_SLOT_START_OFFSET) + 1] !== 0) {
      w[word(slot, L.QUEUE_SLOT_START_OFFSET)] = 123456789;
      w[word(slot, L.QUEUE_SLOT_START_OFFSET) + 1] = 0;
    }
  }
  // Ticket 1 -> slot 1: WRITING by a dead producer (as its CAS leaves it: seq 4*1+1, pid set, nothing else yet).
  w[word(1, L.QUEUE_SLOT_SEQ_OFFSET)] = 4 * 1 + L.QUEUE_STATE_WRITING;
  w[word(1, L.QUEUE_SLOT_PID_OFFSET)] = 0x3fffffff;
  w[L.QUEUE_TAIL_OFFSET >> 2] = 2;
  const size = L.queueRingSize(4, 16);
  writeFileSync(`${out}queue-ring.bin`, seg.bytes.slice(0, size));
  seg.close();
  q.detach();
  const json = {
    params: [4, 16],
    payloadSize: size,
    head: 0xffffffff,
    tail: 2,
    receive: [{ bytes: [1, 2, 3] }, { text: 'hello' }],
    then: 'empty: ticket 1 is WRITING by dead pid 1073741823; a reader recovers it (abandoned = 1) and finds the queue empty',
    abandoned: 1,
  };
  writeFileSync(`${out}queue-ring.json`, `${JSON.stringify(json, null, 2)}\n`);
  console.log('wrote test/vectors/queue-ring.{bin,json}');
}

// Topic ring (PROTOCOL.md §5): capacity 1024, maxMessageSize 200. Twelve records of sizes that wrap the ring once
// (a PAD before record 8), payload byte i of record seq = (seq * 7 + i) & 0xff, timestamp 1700000000000000 + seq µs.
// Then a publisher that died after reserving 150 bytes (its reclaim, ahead by reclaimAhead, moved the tail to 9) and
// filling the next head slot, before its commit store: readers must ignore it and the next publisher gets seq 13.
// The registration table (§5.8) holds a publisher in entry 0 and a subscriber in entry 2 (entry 1 free); the
// registry word is 2 (two registrations).
{
  const ring = await import('../dist/src/channels/ring.js');
  const layout = await import('../dist/src/protocol/layout.js');
  const capacity = 1024;
  const maxMessageSize = 200;
  const dataOffset = layout.TOPIC_DATA_OFFSET;
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
  const entries = [
    { entry: 0, pid: 4242, role: layout.TOPIC_ROLE_PUBLISHER, start: 123456789, ns: 4026531836, nextSeq: 0, lost: 0 },
    { entry: 2, pid: 4343, role: layout.TOPIC_ROLE_SUBSCRIBER, start: 2 ** 40 + 5, ns: 4026531836, nextSeq: 9, lost: 6 },
  ];
  for (const e of entries) {
    const b = (layout.TOPIC_ENTRIES_OFFSET + e.entry * layout.TOPIC_ENTRY_SIZE) / 4;
    view.words[b + layout.TOPIC_ENTRY_OWNER / 4] = (e.pid | (e.role << layout.TOPIC_ROLE_SHIFT)) | 0;
    view.words[b + layout.TOPIC_ENTRY_START / 4] = e.start % 2 ** 32;
    view.words[b + layout.TOPIC_ENTRY_START / 4 + 1] = Math.floor(e.start / 2 ** 32);
    view.words[b + layout.TOPIC_ENTRY_NS / 4] = e.ns | 0;
    view.words[b + layout.TOPIC_ENTRY_NEXT_SEQ / 4] = e.nextSeq;
    view.words[b + layout.TOPIC_ENTRY_LOST / 4] = e.lost;
  }
  view.words[layout.TOPIC_REGISTRY_OFFSET / 4] = entries.length;
  writeFileSync(`${out}topic-ring.bin`, view.bytes);
  const json = {
    params: [capacity, 0, maxMessageSize, dataOffset, 0],
    payloadSize: dataOffset + capacity,
    payloadRule: 'payload byte i of record seq = (seq * 7 + i) & 0xff; timestamp = 1700000000000000 + seq (µs)',
    commit: c.writeSeq,
    tailVersion: view.words[72 / 4],
    cursor: c,
    cursorBeforeDeadWriter: before,
    pads,
    // A publisher that died before its commit store: readers ignore its head slot and reservation.
    deadWriter: { seq: dead.seq, ringOffset: dead.at, size: 150, headSlot: dead.seq & 1, headSlotValue: { writeSeq: dead.seq, writePos: 999_999 } },
    registry: entries.length,
    entries,
    oldest,
    nextSeq: c.writeSeq + 1,
  };
  writeFileSync(`${out}topic-ring.json`, `${JSON.stringify(json, null, 2)}\n`);
  console.log('wrote test/vectors/topic-ring.{bin,json}');
}
