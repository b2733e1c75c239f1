#!/usr/bin/env node
// Generates the byte-exact test vectors in test/vectors/ from the Node implementation (run `npx tsc -p
// tsconfig.json` first). Run after a deliberate layout change (and bump PROTOCOL.md); the .bin diffs are reviewed
// like code. Every vector follows the convention of test/vectors/schema.ts (README.md there): typed `fields` at
// byte offsets and `expect` steps with JSON results, no prose outcomes.
//
// Structure: one generator function per vector, listed in GENERATORS. Each returns { bin, json } and owns nothing
// else, so the engineer of a kind edits only that kind's function. Shared helpers: field(), writeVector().
//   node scripts/gen-vectors.mjs              all vectors
//   node scripts/gen-vectors.mjs queue-ring   only the named ones
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeHeader } from '../dist/src/protocol/header.js';
import * as L from '../dist/src/protocol/layout.js';
import { readField, validateVector } from '../dist/test/vectors/schema.js';

const out = fileURLToPath(new URL('../test/vectors/', import.meta.url));

/** A { name, offset, type, value } field whose value is read from `bytes` (so it is what the bytes hold). */
function field(bytes, name, offset, type) {
  const f = { name, offset, type, value: 0 };
  f.value = readField(bytes, f);
  return f;
}

/** JSON with arrays of numbers kept on one line (payload bytes stay readable). */
function stringify(json) {
  return JSON.stringify(json, null, 2).replace(/\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]/g, (_, nums) => `[${nums.split(/,\s+/).join(', ')}]`);
}

function writeVector({ bin, json }) {
  const full = { vector: json.vector, protocolVersion: L.PROTOCOL_VERSION, size: bin.length, ...json };
  const problems = validateVector(full, json.vector);
  if (problems.length > 0) throw new Error(`${json.vector}: not a valid vector:\n  ${problems.join('\n  ')}`);
  writeFileSync(`${out}${json.vector}.bin`, bin);
  writeFileSync(`${out}${json.vector}.json`, `${stringify(full)}\n`);
  console.log(`wrote test/vectors/${json.vector}.{bin,json}`);
}

// ---- §2 segment header (owner: protocol) ------------------------------------------------------------------------
// A topic header whose params and payloadSize are those of topic-ring (valid: a topic opener accepts them, and
// this header followed by topic-ring.bin is a complete topic segment).
function segmentHeader() {
  const fields = {
    kind: 'topic',
    payloadSize: L.TOPIC_DATA_OFFSET + 1024,
    creatorPid: 4242,
    creatorStartTime: 123456789,
    createdAt: 1767225600000,
    creatorNs: 4026531836,
    params: [1024, 0, 200, L.TOPIC_DATA_OFFSET, ...new Array(12).fill(0)],
  };
  const bin = new Uint8Array(L.HEADER_SIZE);
  const view = new DataView(bin.buffer);
  encodeHeader(view, fields);
  view.setUint32(L.HDR_STATE_OFFSET, 1, true);
  const f = (name, offset, type) => field(bin, name, offset, type);
  const json = {
    vector: 'segment-header',
    section: '2',
    description:
      'The 128-byte header of a ready topic segment (state 1) created by pid 4242; its params and payloadSize ' +
      'are those of topic-ring, so this header followed by topic-ring.bin is an openable topic segment.',
    map: { as: 'header' },
    fields: [
      f('magic', L.HDR_MAGIC_OFFSET, 'u32'),
      f('version', L.HDR_VERSION_OFFSET, 'u16'),
      f('kind', L.HDR_KIND_OFFSET, 'u16'),
      f('state', L.HDR_STATE_OFFSET, 'u32'),
      f('headerSize', L.HDR_HEADER_SIZE_OFFSET, 'u32'),
      f('totalSize', L.HDR_TOTAL_SIZE_OFFSET, 'u64'),
      f('payloadSize', L.HDR_PAYLOAD_SIZE_OFFSET, 'u64'),
      f('creatorPid', L.HDR_CREATOR_PID_OFFSET, 'u32'),
      f('flags', L.HDR_FLAGS_OFFSET, 'u32'),
      f('creatorStartTime', L.HDR_CREATOR_START_OFFSET, 'u64'),
      f('createdAt', L.HDR_CREATED_AT_OFFSET, 'u64'),
      f('creatorNs', L.HDR_CREATOR_NS_OFFSET, 'u32'),
      ...fields.params.map((_, i) => f(`params[${i}]`, L.HDR_PARAMS_OFFSET + 4 * i, 'u32')),
    ],
    expect: [
      {
        op: 'decodeHeader',
        result: { ...fields, state: 1, version: L.PROTOCOL_VERSION, headerSize: L.HEADER_SIZE, totalSize: L.HEADER_SIZE + fields.payloadSize },
      },
      { op: 'reencode', result: true },
    ],
  };
  return { bin, json };
}

// ---- §6 queue ring (owner: queue) -------------------------------------------------------------------------------
// Slots 4, slotSize 16, tickets starting at 0xFFFFFFFE so the vector crosses the u32 wrap. Sent: "a" (text),
// bytes 01 02 03, "hello" (text); "a" received; then ticket 1 claimed (WRITING) by pid 0x3FFFFFFF, which can never
// be alive (above Linux's pid_max), so a reader must recover (abandon) that slot. Pids and start times of the live
// writer are normalised to 4242 / 123456789 so the bytes do not depend on this run.
async function queueRing() {
  const { Queue, Segment } = await import('../dist/src/index.js');
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
  const slotWords = (words) =>
    [0, 1, 2, 3].map((slot) => ({ slot, seq: words[word(slot, L.QUEUE_SLOT_SEQ_OFFSET)] >>> 0, pid: words[word(slot, L.QUEUE_SLOT_PID_OFFSET)] >>> 0 }));
  const before = { head: w[L.QUEUE_HEAD_OFFSET >> 2] >>> 0, tail: w[L.QUEUE_TAIL_OFFSET >> 2] >>> 0, slots: slotWords(w) };
  seg.close();
  q.close();
  // Replay the steps on a fresh copy to record the state after them (what every implementation must reach).
  const replay = `gen-vectors-r-${process.pid}`;
  Segment.create(replay, { size, kind: 'queue', params: [4, 16], init: (s) => s.bytes.set(bin) }).close();
  const r = Queue.open(replay);
  const expect = [
    { op: 'tryReceive', result: { bytes: [1, 2, 3] } }, // ticket 0xFFFFFFFF, COMMITTED
    { op: 'tryReceive', result: { text: 'hello' } }, // ticket 0 (after the u32 wrap), COMMITTED
    // Ticket 1 is WRITING by dead pid 1073741823: the first empty attempt sees it claimed, the second checks the
    // holder, RECOVERs the slot and finds the queue empty.
    { op: 'tryReceive', result: null },
    { op: 'tryReceive', result: null },
    { op: 'stats', result: { abandoned: 1, lost: 0 } },
    { op: 'trySend', args: { text: 'next' }, result: true }, // ticket 2
    { op: 'tryReceive', result: { text: 'next' } },
    { op: 'tryReceive', result: null },
  ];
  for (const s of expect) {
    if (s.op === 'tryReceive') r.tryReceive();
    else if (s.op === 'trySend') r.trySend(s.args.text);
  }
  const rs = Segment.open(replay, { kind: 'queue' });
  Segment.unlink(replay);
  const after = { head: rs.words[L.QUEUE_HEAD_OFFSET >> 2] >>> 0, tail: rs.words[L.QUEUE_TAIL_OFFSET >> 2] >>> 0, slots: slotWords(rs.words) };
  rs.close();
  r.close();
  const f = (name, offset, type) => field(bin, name, offset, type);
  const slotFields = [0, 1, 2, 3].flatMap((s) => {
    const at = L.QUEUE_SLOTS_OFFSET + s * stride;
    return [
      f(`slot[${s}].seq`, at + L.QUEUE_SLOT_SEQ_OFFSET, 'u32'),
      f(`slot[${s}].pid`, at + L.QUEUE_SLOT_PID_OFFSET, 'u32'),
      f(`slot[${s}].length`, at + L.QUEUE_SLOT_LENGTH_OFFSET, 'u32'),
      f(`slot[${s}].flags`, at + L.QUEUE_SLOT_FLAGS_OFFSET, 'u32'),
    ];
  });
  const json = {
    vector: 'queue-ring',
    section: '6',
    description:
      'A 4-slot ring (maxMessageSize 16) whose tickets crossed the u32 wrap: "a" (text), bytes 01 02 03 and "hello" ' +
      '(text) were sent and "a" received; then ticket 1 was claimed (WRITING) by pid 1073741823, which is never ' +
      'alive, so a reader recovers (abandons) that slot and finds the queue empty.',
    map: { as: 'payload', kind: 'queue', params: [4, 16] },
    params: [4, 16],
    payloadSize: size,
    head: 0xffffffff,
    tail: 2,
    receive: [{ bytes: [1, 2, 3] }, { text: 'hello' }],
    abandoned: 1,
    fields: [f('tail', L.QUEUE_TAIL_OFFSET, 'u32'), f('head', L.QUEUE_HEAD_OFFSET, 'u32'), f('closed', L.QUEUE_CLOSED_OFFSET, 'u32'), ...slotFields],
    expect,
    notes: ['A reader may need more than one empty attempt to judge the writer of ticket 1 dead (liveness check).'],
    // The ring words before and after replaying `expect` (what every implementation must reach).
    before,
    after,
  };
  return { bin, json };
}

// ---- §5 topic ring (owner: topic) -------------------------------------------------------------------------------
// Capacity 1024, maxMessageSize 200. Twelve records of sizes that wrap the ring once (a PAD before record 8),
// payload byte i of record seq = (seq * 7 + i) & 0xff, timestamp 1700000000000000 + seq µs. Then a publisher that
// died after reserving 150 bytes (its reclaim, ahead by reclaimAhead, moved the tail to 9) and filling the next
// head slot, before its commit store: readers must ignore it and the next publisher gets seq 13.
async function topicRing() {
  const ring = await import('../dist/src/channels/ring.js');
  const layout = await import('../dist/src/protocol/layout.js');
  const capacity = 1024;
  const maxMessageSize = 200;
  const dataOffset = layout.TOPIC_DATA_OFFSET;
  const buf = new ArrayBuffer(dataOffset + capacity);
  const view = { words: new Int32Array(buf), bytes: new Uint8Array(buf), dataOffset, capacity, maxMessageSize, name: 'vector' };
  ring.initRing(view);
  const T0 = 1_700_000_000_000_000;
  const payload = (seq, size) => Array.from({ length: size }, (_, i) => (seq * 7 + i) & 0xff);
  const pads = [];
  for (const size of [100, 150, 5, 200, 60, 0, 120, 180, 33, 90, 200, 10]) {
    const r = ring.reserve(view, size);
    view.bytes.set(payload(r.seq, size), dataOffset + r.at + 32);
    if (r.padAt >= 0) pads.push({ padAt: r.padAt, beforeSeq: r.seq });
    ring.commitRecord(view, r, size, T0 + r.seq);
  }
  const before = ring.readCursor(view);
  const dead = ring.reserve(view, 150);
  const headSlot = (L.TOPIC_HEAD_SLOTS_OFFSET + (dead.seq & 1) * L.TOPIC_HEAD_SLOT_SIZE) / 4;
  view.words[headSlot] = dead.seq;
  view.words[headSlot + 2] = 999_999;
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
  const bin = view.bytes;
  const tailVersion = view.words[L.TOPIC_TAIL_VERSION_OFFSET / 4];
  const f = (name, offset, type) => field(bin, name, offset, type);
  const tail = L.TOPIC_TAIL_SLOTS_OFFSET + (tailVersion & 1) * L.TOPIC_TAIL_SLOT_SIZE;
  const head = L.TOPIC_HEAD_SLOTS_OFFSET + (c.writeSeq & 1) * L.TOPIC_HEAD_SLOT_SIZE;
  const json = {
    vector: 'topic-ring',
    section: '5',
    description:
      'A topic ring (capacity 1024, maxMessageSize 200) after twelve records that wrap it once (a pad before ' +
      'record 8); payload byte i of record seq is (seq * 7 + i) & 0xff, its timestamp 1700000000000000 + seq µs. ' +
      'Then a publisher died after reserving 150 bytes for record 13 (its reclaim moved the tail to 9) and ' +
      'filling the next head slot, before its commit store: readers ignore it and the next publisher gets seq 13. ' +
      'The registration table (§5.8) holds a publisher in entry 0 and a subscriber in entry 2 (entry 1 free); ' +
      'the registry word is 2.',
    map: { as: 'payload', kind: 'topic', params: [capacity, 0, maxMessageSize, dataOffset, 0] },
    params: [capacity, 0, maxMessageSize, dataOffset, 0],
    payloadSize: dataOffset + capacity,
    payloadByte: { seqMultiplier: 7, mask: 0xff },
    timestampMicrosBase: T0,
    commit: c.writeSeq,
    tailVersion,
    cursor: c,
    cursorBeforeDeadWriter: before,
    pads,
    // A publisher that died before its commit store: readers ignore its head slot and reservation.
    deadWriter: { seq: dead.seq, ringOffset: dead.at, size: 150, headSlot: dead.seq & 1, headSlotValue: { writeSeq: dead.seq, writePos: 999_999 } },
    registry: entries.length,
    entries,
    oldest,
    nextSeq: c.writeSeq + 1,
    fields: [
      f('commit', L.TOPIC_COMMIT_OFFSET, 'u32'),
      f('tailVersion', L.TOPIC_TAIL_VERSION_OFFSET, 'u32'),
      f('tail.tailSeq', tail + L.TOPIC_TAIL_SEQ, 'u64'),
      f('tail.tailPos', tail + L.TOPIC_TAIL_POS, 'u64'),
      f('head.writeSeq', head + L.TOPIC_HEAD_WRITE_SEQ, 'u64'),
      f('head.writePos', head + L.TOPIC_HEAD_WRITE_POS, 'u64'),
      f('deadHead.writeSeq', L.TOPIC_HEAD_SLOTS_OFFSET + (dead.seq & 1) * L.TOPIC_HEAD_SLOT_SIZE + L.TOPIC_HEAD_WRITE_SEQ, 'u64'),
      f('deadHead.writePos', L.TOPIC_HEAD_SLOTS_OFFSET + (dead.seq & 1) * L.TOPIC_HEAD_SLOT_SIZE + L.TOPIC_HEAD_WRITE_POS, 'u64'),
      ...pads.map((p) => f(`pad@${p.padAt}.flags`, dataOffset + p.padAt + L.TOPIC_RECORD_FLAGS_OFFSET, 'u32')),
    ],
    expect: [
      { op: 'subscribe', args: { id: 'oldest', from: 'oldest' }, result: null },
      { op: 'subscribe', args: { id: 'latest', from: 'latest' }, result: null },
      ...oldest.map((r) => ({
        op: 'tryRead',
        args: { id: 'oldest' },
        result: { seq: r.seq, size: r.size, timestampMicros: r.timestampMicros, bytes: payload(r.seq, r.size) },
      })),
      { op: 'tryRead', args: { id: 'oldest' }, result: null },
      { op: 'tryRead', args: { id: 'latest' }, result: null },
      { op: 'lost', args: { id: 'oldest' }, result: 0 },
      // The dead writer's reservation and head slot are simply reused.
      { op: 'publish', args: { text: 'next' }, result: c.writeSeq + 1 },
      { op: 'tryRead', args: { id: 'oldest' }, result: { seq: c.writeSeq + 1, size: 4, bytes: [...Buffer.from('next')] } },
      { op: 'tryRead', args: { id: 'latest' }, result: { seq: c.writeSeq + 1, size: 4, bytes: [...Buffer.from('next')] } },
    ],
  };
  return { bin, json };
}

// ---- §9 Frame codec (owner: cli) --------------------------------------------------------------------------------
// A 3x2 RGB uint16 frame with a padded row stride (24 bytes: 18 of samples, 6 of padding), so a reader must honour
// the stride, read little-endian samples and keep the padding out of the pixels.
async function frame() {
  const { Frame, FRAME_HEADER_SIZE } = await import('../dist/src/codecs/frame.js');
  const F = await import('../dist/src/codecs/frame.js');
  const [width, height, stride] = [3, 2, 24];
  const packed = new Uint16Array(width * height * 3);
  for (let i = 0; i < packed.length; i++) packed[i] = 1000 * (i + 1) + i; // 1000, 2001, ... (both bytes vary)
  const timestampMicros = 1700000000123456;
  const bin = Frame.encode({ width, height, format: 'RGB', dtype: 'uint16', stride, data: packed, timestamp: timestampMicros / 1000 });
  const samples = [...Frame.decode(bin).data];
  const f = (name, offset, type) => field(bin, name, offset, type);
  const json = {
    vector: 'frame',
    section: '9',
    description: 'One Frame message (PROTOCOL 9): 3x2 RGB uint16, row stride 24 bytes (6 bytes of padding per row), timestamp 1700000000123456 us.',
    map: { as: 'message', codec: 'frame' },
    fields: [
      f('magic', F.FRAME_MAGIC_OFFSET, 'u32'),
      f('version', F.FRAME_VERSION_OFFSET, 'u16'),
      f('headerSize', F.FRAME_HEADER_SIZE_OFFSET, 'u16'),
      f('width', F.FRAME_WIDTH_OFFSET, 'u32'),
      f('height', F.FRAME_HEIGHT_OFFSET, 'u32'),
      f('channels', F.FRAME_CHANNELS_OFFSET, 'u32'),
      f('dtype', F.FRAME_DTYPE_OFFSET, 'u16'),
      f('format', F.FRAME_FORMAT_OFFSET, 'u16'),
      f('stride', F.FRAME_STRIDE_OFFSET, 'u32'),
      f('flags', F.FRAME_FLAGS_OFFSET, 'u32'),
      f('timestampMicros', F.FRAME_TIMESTAMP_OFFSET, 'u64'),
      f('dataSize', F.FRAME_DATA_SIZE_OFFSET, 'u32'),
      f('row0.sample0', FRAME_HEADER_SIZE, 'u16'),
      f('row0.padding', FRAME_HEADER_SIZE + 18, 'u16'),
      f('row1.sample0', FRAME_HEADER_SIZE + stride, 'u16'),
    ],
    expect: [
      {
        op: 'decode',
        result: { width, height, channels: 3, dtype: 'uint16', format: 'RGB', stride, timestampMicros, data: samples },
      },
      { op: 'reencode', result: true },
    ],
    notes: ['data lists every sample of the stride-wide rows, padding included (zeros): 12 samples per row.'],
  };
  return { bin, json };
}

// ---- §10 Parts codec (owner: parts) ------------------------------------------------------------------------------
// One part of each type, in this order: a 3x2 GRAY float32 Frame in a bytes part (64-byte aligned, so it decodes in
// place), JSON parameters, a non-ASCII string under a non-ASCII name, a float64, an int64 beyond 2^53 (a reader must
// keep all 64 bits), an empty bytes part and a boolean (JSON). Re-encoding the decoded parts in order must give the
// same bytes in every language (the writer layout of §10 is deterministic).
async function parts() {
  const { Frame } = await import('../dist/src/codecs/frame.js');
  const P = await import('../dist/src/codecs/parts.js');
  const pixels = [0.5, 1, 1.5, 2, 2.5, 3];
  const image = Frame.encode({ width: 3, height: 2, format: 'GRAY', dtype: 'float32', data: new Float32Array(pixels) });
  const status = -1234567890123456789n;
  const record = {
    image,
    params: { op: 'gray', size: [640, 480], keep: true, note: null, name: 'é' },
    'notë': 'héllo-✓',
    scale: 0.25,
    status,
    empty: new Uint8Array(0),
    ok: true,
  };
  const bin = P.Parts.encode(record);
  const dv = new DataView(bin.buffer);
  const dir = dv.getUint32(P.PARTS_DIR_OFFSET, true);
  const typeName = Object.fromEntries(Object.entries(P.PART_TYPES).map(([k, v]) => [v, k]));
  const decoded = P.Parts.decode(bin);
  const entries = Object.keys(record).map((name, i) => {
    const e = dir + P.PARTS_ENTRY_SIZE * i;
    const type = typeName[dv.getUint8(e + P.PARTS_ENTRY_TYPE)];
    const v = decoded[name];
    const value = type === 'bytes' ? [...v] : type === 'int64' ? String(v) : v;
    return { name, type, nameOffset: dv.getUint32(e, true), valueOffset: dv.getUint32(e + P.PARTS_ENTRY_VALUE_OFFSET, true), size: dv.getUint32(e + P.PARTS_ENTRY_VALUE_SIZE, true), value };
  });
  const f = (name, offset, type) => field(bin, name, offset, type);
  const json = {
    vector: 'parts',
    section: '10',
    description:
      'One Parts record (PROTOCOL 10): a 3x2 GRAY float32 Frame as a bytes part, JSON params, a string under a ' +
      'non-ASCII name, a float64, an int64 beyond 2^53, an empty bytes part and a boolean (JSON), in that order.',
    map: { as: 'message', codec: 'parts' },
    fields: [
      f('magic', P.PARTS_MAGIC_OFFSET, 'u32'),
      f('version', P.PARTS_VERSION_OFFSET, 'u16'),
      f('headerSize', P.PARTS_HEADER_SIZE_OFFSET, 'u16'),
      f('count', P.PARTS_COUNT_OFFSET, 'u32'),
      f('flags', P.PARTS_FLAGS_OFFSET, 'u32'),
      f('dirOffset', P.PARTS_DIR_OFFSET, 'u32'),
      f('totalSize', P.PARTS_TOTAL_SIZE_OFFSET, 'u32'),
      ...entries.flatMap((_, i) => {
        const e = dir + P.PARTS_ENTRY_SIZE * i;
        return [
          f(`entry[${i}].nameOffset`, e + P.PARTS_ENTRY_NAME_OFFSET, 'u32'),
          f(`entry[${i}].nameSize`, e + P.PARTS_ENTRY_NAME_SIZE, 'u16'),
          f(`entry[${i}].type`, e + P.PARTS_ENTRY_TYPE, 'u8'),
          f(`entry[${i}].flags`, e + P.PARTS_ENTRY_FLAGS, 'u8'),
          f(`entry[${i}].valueOffset`, e + P.PARTS_ENTRY_VALUE_OFFSET, 'u32'),
          f(`entry[${i}].valueSize`, e + P.PARTS_ENTRY_VALUE_SIZE, 'u32'),
        ];
      }),
      f('image.frameMagic', entries[0].valueOffset, 'u32'),
    ],
    expect: [
      { op: 'decode', result: { count: entries.length, totalSize: bin.length, parts: entries } },
      { op: 'decodeFrame', args: { part: 'image' }, result: { width: 3, height: 2, channels: 1, dtype: 'float32', format: 'GRAY', stride: 12, data: pixels } },
      { op: 'reencode', result: true },
    ],
    notes: [
      'parts lists every part in directory order: value is the bytes as numbers (bytes), the text (string), the parsed value (json), the number (float64) or the decimal text (int64, beyond 2^53).',
      'Bytes values start at multiples of 64 within the record, other values at multiples of 8; padding bytes are 0.',
    ],
  };
  return { bin, json };
}

const GENERATORS = { 'segment-header': segmentHeader, 'queue-ring': queueRing, 'topic-ring': topicRing, frame, parts };

const only = process.argv.slice(2);
for (const [name, generate] of Object.entries(GENERATORS)) {
  if (only.length === 0 || only.includes(name)) writeVector(await generate());
}
