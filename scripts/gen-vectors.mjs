#!/usr/bin/env node
// Generates the byte-exact test vectors in test/vectors/ from the Node implementation. Run after a deliberate
// layout change (and bump PROTOCOL.md); the .bin diffs are reviewed like code. The Python and C peers must
// decode/encode the same bytes.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeHeader } from '../dist/src/segment/header.js';
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
