/**
 * The Topic ring (PROTOCOL.md §5): record placement, wrap and padding, reclaiming the oldest records, the
 * double-buffered cursor, and the reader's lapping detection. Pure algorithms over an Int32Array + Uint8Array of a
 * topic payload, so unit tests run them on a plain ArrayBuffer with no process or lock around them. Writers call
 * the writer functions holding the topic's Mutex; readers take no lock.
 *
 * Sequence numbers and ring offsets are u64 in shared memory, JS numbers here (exact below 2^53; a value at or
 * above it is refused as corrupt).
 */
import { ShmbusError } from '../errors.js';
import { TWO32, readU64, writeU64 } from '../base/u64.js';
import { acquireFence, releaseFence } from '../base/fence.js';
import type { PairWords } from '../base/pair.js';
import {
  TOPIC_COMMIT_OFFSET,
  TOPIC_FLAG_PAD,
  TOPIC_HEAD_SLOT_SIZE,
  TOPIC_HEAD_SLOTS_OFFSET,
  TOPIC_HEAD_WRITE_POS,
  TOPIC_HEAD_WRITE_SEQ,
  TOPIC_RECORD_ALIGN,
  TOPIC_RECORD_FLAGS_OFFSET,
  TOPIC_RECORD_HEADER_SIZE,
  TOPIC_RECORD_SEQ_OFFSET,
  TOPIC_RECORD_SIZE_OFFSET,
  TOPIC_RECORD_TIMESTAMP_OFFSET,
  TOPIC_TAIL_POS,
  TOPIC_TAIL_SEQ,
  TOPIC_TAIL_SLOT_SIZE,
  TOPIC_TAIL_SLOTS_OFFSET,
  TOPIC_TAIL_VERSION_OFFSET,
  TOPIC_SLEEPERS_OFFSET,
} from '../protocol/layout.js';

/** Largest u64 value the JS side accepts (exact in a double). */
const MAX_U64 = Number.MAX_SAFE_INTEGER;
/** A consistent cursor read retries while writers bump the version; this many in a row means a broken segment. */
const MAX_CURSOR_RETRIES = 100_000;

export const COMMIT_INDEX = TOPIC_COMMIT_OFFSET / 4;
/** The sleepers word (§3) of the commit futex word. */
export const SLEEPERS_INDEX = TOPIC_SLEEPERS_OFFSET / 4;
const TAIL_VERSION = TOPIC_TAIL_VERSION_OFFSET / 4;
/** Word index of head slot 0 / tail slot 0; slot 1 is one slot size (in words) further. */
const HEAD_SLOT0 = TOPIC_HEAD_SLOTS_OFFSET / 4;
const TAIL_SLOT0 = TOPIC_TAIL_SLOTS_OFFSET / 4;
const HEAD_SLOT_WORDS = TOPIC_HEAD_SLOT_SIZE / 4;
const TAIL_SLOT_WORDS = TOPIC_TAIL_SLOT_SIZE / 4;
const W_SEQ = TOPIC_HEAD_WRITE_SEQ / 4;
const W_POS = TOPIC_HEAD_WRITE_POS / 4;
const T_SEQ = TOPIC_TAIL_SEQ / 4;
const T_POS = TOPIC_TAIL_POS / 4;
const HDR = TOPIC_RECORD_HEADER_SIZE;

/** A topic payload as seen by one process: views plus the validated layout parameters. */
export interface RingView {
  /** The whole payload as 32-bit words (control block + data). */
  readonly words: Int32Array;
  /** The whole payload as bytes. */
  readonly bytes: Uint8Array;
  /** Payload offset of the ring data. */
  readonly dataOffset: number;
  /** Ring data bytes (a multiple of 64). */
  readonly capacity: number;
  /** Largest payload of one record. */
  readonly maxMessageSize: number;
  /** Segment name, for error messages. */
  readonly name: string;
}

/** The writers' shared state: what has been committed and what is still valid. */
export interface Cursor {
  /** Seq of the last committed record; 0 before the first. */
  writeSeq: number;
  /** Ring offset where the next record starts. */
  writePos: number;
  /** Seq of the oldest valid record; writeSeq + 1 when the ring holds nothing. */
  tailSeq: number;
  /** Ring offset where record tailSeq starts (before the wrap rule is applied). */
  tailPos: number;
}

/** Bytes a record with `payload` bytes occupies in the ring (header + payload, rounded up to the alignment). */
export function recordSize(payload: number): number {
  // Integer arithmetic below 2^31 (the hot case); a double division above.
  if (payload <= 0x7fff0000) return (HDR + payload + TOPIC_RECORD_ALIGN - 1) & -TOPIC_RECORD_ALIGN;
  return Math.ceil((HDR + payload) / TOPIC_RECORD_ALIGN) * TOPIC_RECORD_ALIGN;
}

/** Distance going forward around the ring from offset `from` to offset `to` (0 when equal). */
export function ringDistance(from: number, to: number, capacity: number): number {
  return to >= from ? to - from : capacity - from + to;
}

/** Where a record of `size` ring bytes goes when the next free offset is `writePos`. */
export interface Placement {
  /** Ring offset of the record's header. */
  at: number;
  /** True when the record does not fit before the end: [writePos, capacity) becomes padding, the record goes to 0. */
  wraps: boolean;
  /** Bytes claimed starting at writePos (padding included). */
  claim: number;
}

export function placeRecord(writePos: number, size: number, capacity: number): Placement {
  if (capacity - writePos >= size) return { at: writePos, wraps: false, claim: size };
  return { at: 0, wraps: true, claim: capacity - writePos + size };
}

/** Ring offsets stay in [0, capacity): the end of the ring is offset 0. */
export function normalizePos(pos: number, capacity: number): number {
  return pos >= capacity ? pos - capacity : pos;
}

/** True when the ring is valid to use for these parameters (also what `open` checks). */
export function ringParamsValid(capacity: number, maxMessageSize: number): boolean {
  return (
    Number.isSafeInteger(capacity) &&
    capacity > 0 &&
    capacity % 64 === 0 &&
    Number.isInteger(maxMessageSize) &&
    maxMessageSize >= 1 &&
    maxMessageSize <= 0xffffffff &&
    2 * recordSize(maxMessageSize) <= capacity
  );
}

// Integer-valued numbers below 2^53 are reduced mod 2^32 with `x >>> 0` / `x | 0` (ToUint32/ToInt32 are exact
// modular reductions) and tested for low bits with `x & m`: both compile to integer instructions, where `%` on a
// number V8 cannot prove int32 calls fmod.

function corrupt(view: RingView, what: string): ShmbusError {
  return new ShmbusError('ERR_SHM_CORRUPT', `topic "${view.name}": ${what}; the segment is damaged, unlink and recreate it`, {
    segment: view.name,
  });
}

/**
 * Reads the cursor consistently without a lock (subscribers): the tail first, then the head (5.5). Tail before
 * head keeps `tailSeq <= writeSeq + 1` true even while writers publish (the head only grows). Validates every
 * field.
 * @throws ERR_SHM_CORRUPT
 */
export function readCursor(view: RingView, out: Cursor = { writeSeq: 0, writePos: 0, tailSeq: 0, tailPos: 0 }): Cursor {
  readTail(view, out);
  readHead(view, out);
  checkCursor(view, out);
  return out;
}

/**
 * The cursor as a writer holding the mutex sees it: plain reads (only mutex holders write these words, and the
 * mutex acquire ordered their writes before ours). Validated like readCursor.
 * @throws ERR_SHM_CORRUPT
 */
function writerCursor(view: RingView, out: Cursor): Cursor {
  const w = view.words;
  const tail = TAIL_SLOT0 + (w[TAIL_VERSION]! & 1) * TAIL_SLOT_WORDS;
  out.tailSeq = readU64(w, tail + T_SEQ);
  out.tailPos = readU64(w, tail + T_POS);
  const c = w[COMMIT_INDEX]! >>> 0;
  const head = HEAD_SLOT0 + (c & 1) * HEAD_SLOT_WORDS;
  out.writeSeq = readU64(w, head + W_SEQ);
  out.writePos = readU64(w, head + W_POS);
  if (out.writeSeq >>> 0 !== c) throw headMismatch(view, out.writeSeq, c);
  checkCursor(view, out);
  return out;
}

function headMismatch(view: RingView, writeSeq: number, commit: number): ShmbusError {
  return corrupt(view, `head slot ${commit & 1} holds writeSeq ${writeSeq}, the commit word ${commit}`);
}

/**
 * Reads the current head into out.writeSeq/writePos: the slot named by the commit word, then the commit word
 * again (a writer only rewrites slot `c & 1` after publishing `c + 1`). @throws ERR_SHM_CORRUPT
 */
function readHead(view: RingView, out: Cursor): void {
  const w = view.words;
  for (let i = 0; i < MAX_CURSOR_RETRIES; i++) {
    // SYNC TOPIC-COMMIT (acquire): the head slot it names is complete; pairs with the release in commitRecord.
    const c = Atomics.load(w, COMMIT_INDEX) >>> 0;
    const base = HEAD_SLOT0 + (c & 1) * HEAD_SLOT_WORDS;
    out.writeSeq = readU64(w, base + W_SEQ);
    out.writePos = readU64(w, base + W_POS);
    acquireFence(); // SYNC TOPIC-COMMIT: the slot's plain loads complete before the re-check below (arm64)
    // SYNC TOPIC-COMMIT (acquire re-check): unchanged means no writer rewrote this slot while we read it.
    if (Atomics.load(w, COMMIT_INDEX) >>> 0 !== c) continue;
    if (out.writeSeq >>> 0 !== c) throw headMismatch(view, out.writeSeq, c);
    return;
  }
  throw corrupt(view, `the commit word changed ${MAX_CURSOR_RETRIES} times in a row`);
}

/** Reads the current tail slot into out.tailSeq/tailPos (consistent, not range-checked). @throws ERR_SHM_CORRUPT */
function readTail(view: RingView, out: Cursor): void {
  const w = view.words;
  for (let i = 0; i < MAX_CURSOR_RETRIES; i++) {
    // SYNC TOPIC-TAIL (acquire): the slot it names is complete; pairs with the release in publishTail.
    const v = Atomics.load(w, TAIL_VERSION);
    const base = TAIL_SLOT0 + (v & 1) * TAIL_SLOT_WORDS;
    out.tailSeq = readU64(w, base + T_SEQ);
    out.tailPos = readU64(w, base + T_POS);
    acquireFence(); // SYNC TOPIC-TAIL: the slot's plain loads complete before the re-check below (arm64)
    // SYNC TOPIC-TAIL (acquire re-check): unchanged means no writer rewrote this slot while we read it.
    if (Atomics.load(w, TAIL_VERSION) === v) return;
  }
  throw corrupt(view, `the tail version changed ${MAX_CURSOR_RETRIES} times in a row`);
}

/**
 * The current tailSeq alone (the reader's per-message validation: 4 loads on the commit word's line).
 * @throws ERR_SHM_CORRUPT (0, or not below 2^53)
 */
function readTailSeq(view: RingView): number {
  const w = view.words;
  for (let i = 0; i < MAX_CURSOR_RETRIES; i++) {
    // SYNC TOPIC-TAIL (acquire): as in readTail.
    const v = Atomics.load(w, TAIL_VERSION);
    const base = TAIL_SLOT0 + (v & 1) * TAIL_SLOT_WORDS + T_SEQ;
    const lo = w[base]! >>> 0;
    const hi = w[base + 1]! >>> 0;
    acquireFence(); // SYNC TOPIC-TAIL: as in readTail
    // SYNC TOPIC-TAIL (acquire re-check): as in readTail.
    if (Atomics.load(w, TAIL_VERSION) !== v) continue;
    const seq = lo + hi * TWO32;
    if (seq < 1 || seq >= MAX_U64) throw corrupt(view, `tailSeq ${seq} out of range`);
    return seq;
  }
  throw corrupt(view, `the tail version changed ${MAX_CURSOR_RETRIES} times in a row`);
}

function checkCursor(view: RingView, c: Cursor): void {
  const cap = view.capacity;
  if (
    c.writeSeq >= MAX_U64 ||
    c.tailSeq > c.writeSeq + 1 ||
    c.tailSeq < 1 ||
    c.writePos >= cap ||
    c.tailPos >= cap ||
    (c.writePos & (TOPIC_RECORD_ALIGN - 1)) !== 0 ||
    (c.tailPos & (TOPIC_RECORD_ALIGN - 1)) !== 0
  ) {
    throw corrupt(
      view,
      `cursor out of range (writeSeq ${c.writeSeq}, writePos ${c.writePos}, tailSeq ${c.tailSeq}, tailPos ${c.tailPos}, capacity ${cap})`,
    );
  }
}

/** Lays out a fresh ring (the creator, before the segment is ready): nothing written, ring empty. */
export function initRing(view: RingView): void {
  // PROTOCOL 5.1 "a fresh topic": tail[0] = { 1, 0 }, tailVersion 0, head[0] = { 0, 0 }, commit 0. Creator only,
  // before the segment is ready: SYNC READY publishes these plain stores.
  const w = view.words;
  writeU64(w, TAIL_SLOT0 + T_SEQ, 1);
  writeU64(w, TAIL_SLOT0 + T_POS, 0);
  writeU64(w, HEAD_SLOT0 + W_SEQ, 0);
  writeU64(w, HEAD_SLOT0 + W_POS, 0);
  w[TAIL_VERSION] = 0;
  w[COMMIT_INDEX] = 0;
}

/**
 * Publishes a whole cursor: the tail, then the head slot `writeSeq & 1` and the commit word. Only for a fresh ring
 * (initRing) and tests; writers publish the tail in reserve and the head in commitRecord.
 */
export function publishCursor(view: RingView, c: Cursor): void {
  publishTail(view, c.tailSeq, c.tailPos);
  const w = view.words;
  const base = HEAD_SLOT0 + (c.writeSeq & 1) * HEAD_SLOT_WORDS;
  writeU64(w, base + W_SEQ, c.writeSeq);
  writeU64(w, base + W_POS, c.writePos);
  // SYNC TOPIC-COMMIT (release): as in commitRecord.
  Atomics.store(w, COMMIT_INDEX, c.writeSeq | 0);
}

/**
 * Writes the tail into the slot the readers are not using, then flips the tail version to it. Writers only,
 * holding the mutex (so the version cannot move under us).
 */
function publishTail(view: RingView, tailSeq: number, tailPos: number): void {
  const w = view.words;
  const v = w[TAIL_VERSION]!; // plain: only mutex holders write it
  const base = TAIL_SLOT0 + ((v + 1) & 1) * TAIL_SLOT_WORDS;
  writeU64(w, base + T_SEQ, tailSeq);
  writeU64(w, base + T_POS, tailPos);
  // SYNC TOPIC-TAIL (release): publishes the slot; pairs with the acquire loads in readTail / readTailSeq.
  Atomics.store(w, TAIL_VERSION, (v + 1) | 0);
}

/** A record header as read from the ring (not yet trusted). */
interface RawHeader {
  size: number;
  flags: number;
  seq: number;
}

/** Applies the wrap rule at a record boundary: the record starts at 0 when fewer than 32 bytes or a pad are left. */
function recordStart(view: RingView, pos: number): number {
  if (view.capacity - pos < HDR) return 0;
  const flags = view.words[(view.dataOffset + pos + TOPIC_RECORD_FLAGS_OFFSET) >> 2]!;
  return flags & TOPIC_FLAG_PAD ? 0 : pos;
}

function readHeader(view: RingView, at: number, out: RawHeader): RawHeader {
  const i = (view.dataOffset + at) >> 2;
  const w = view.words;
  out.size = w[i + TOPIC_RECORD_SIZE_OFFSET / 4]! >>> 0;
  out.flags = w[i + TOPIC_RECORD_FLAGS_OFFSET / 4]! >>> 0;
  out.seq = readU64(w, i + TOPIC_RECORD_SEQ_OFFSET / 4);
  return out;
}

function headerSane(view: RingView, at: number, h: RawHeader, seq: number): boolean {
  return h.flags === 0 && h.seq === seq && h.size <= view.maxMessageSize && at + HDR + h.size <= view.capacity;
}

/** What a writer reserved: where its record goes and the cursor to publish at commit. */
export interface Reservation {
  /** Seq the record gets (writeSeq + 1). */
  seq: number;
  /** Ring offset of its header; the payload starts HDR bytes later. */
  at: number;
  /** Ring offset of the padding record when it wraps, else -1. */
  padAt: number;
  /** Payload bytes reserved. */
  size: number;
  /** The cursor after the reclaim (tail moved past what this record overwrites). */
  cursor: Cursor;
}

const scratch: RawHeader = { size: 0, flags: 0, seq: 0 };

/** Bytes a writer that must reclaim frees beyond its claim: capacity / 16, at most 4096 (multiple of 8). */
export function reclaimAhead(capacity: number): number {
  return capacity >= 65536 ? 4096 : Math.floor(capacity / 128) * 8;
}

/** Sink of the warming loads below (kept, so the compiler cannot drop them). */
let warmed = 0;

/**
 * A performance hint, not part of the protocol: the next batch reclaim reads record headers from the tail on,
 * bytes written one ring ago and gone from this core's nearest caches, one dependent load after another. Each
 * publish that reclaims nothing loads one byte of a few lines of that stretch instead (independent loads,
 * overlapped by the CPU), so the reclaim finds them cached: the whole batch for the header walk, or with reclaim
 * marks only the last `step` bytes before the target, where the walk resumes after its jump (2 loads a publish
 * instead of 4). Plain loads of bytes no writer is changing (we hold the mutex; readers never write the ring).
 */
function warmNextReclaim(view: RingView, c: Cursor, step: number): void {
  const cap = view.capacity;
  const ahead = reclaimAhead(cap);
  const from = step > 0 && step < ahead ? ahead - step : 0;
  const lines = ((ahead - from + 2 * HDR + 63) >> 6) + 1;
  const loads = from > 0 ? 2 : 4;
  // Integer arithmetic only (a % on a double would call fmod): the low 16 bits of writeSeq pick the lines.
  const first = ((c.writeSeq & 0xffff) * loads) % lines;
  const b = view.bytes;
  let sum = 0;
  for (let i = 0; i < loads; i++) {
    const line = first + i;
    let at = c.tailPos + from + (line >= lines ? line - lines : line) * 64;
    if (at >= cap) at -= cap;
    sum += b[view.dataOffset + at]!;
  }
  warmed = sum;
}

/**
 * Reserves room for a record of `size` payload bytes: places it (wrapping with padding when it does not fit before
 * the end), moves the tail past every record the room overlaps and publishes that tail BEFORE any byte of the room
 * is written, so readers learn those records are gone first. Holding the mutex. A broken record chain (header not
 * matching the tail) drops every record: the ring restarts empty at writePos.
 * @throws ERR_SHM_CORRUPT (a cursor out of range)
 */
export function reserve(view: RingView, size: number, out?: Reservation, marks?: ReclaimMarks): Reservation {
  const r = out ?? { seq: 0, at: 0, padAt: -1, size: 0, cursor: { writeSeq: 0, writePos: 0, tailSeq: 0, tailPos: 0 } };
  const c = writerCursor(view, r.cursor);
  const cap = view.capacity;
  const rec = recordSize(size);
  const wraps = cap - c.writePos < rec;
  const claim = wraps ? cap - c.writePos + rec : rec;
  let moved = false;
  // Once the claim overlaps the tail, reclaim reclaimAhead(capacity) bytes more than it needs: the tail (on the
  // line subscribers poll) is then republished once per that many bytes instead of once per record.
  const want = ringDistance(c.writePos, c.tailPos, cap) < claim ? claim + reclaimAhead(cap) : 0;
  // Most of the walk below can be skipped: jump to the last boundary this publisher remembers short of the target
  // (checked against the header there), then walk the few records left. Same tail as the whole walk.
  if (want > 0 && marks !== undefined && marks.jump(view, c, want)) moved = true;
  while (c.tailSeq <= c.writeSeq && ringDistance(c.writePos, c.tailPos, cap) < want) {
    const at = recordStart(view, c.tailPos);
    const h = readHeader(view, at, scratch);
    if (!headerSane(view, at, h, c.tailSeq)) {
      c.tailSeq = c.writeSeq + 1;
      moved = true;
      break;
    }
    c.tailPos = normalizePos(at + recordSize(h.size), cap);
    c.tailSeq += 1;
    moved = true;
  }
  if (c.tailSeq > c.writeSeq) c.tailPos = c.writePos;
  if (want === 0) warmNextReclaim(view, c, marks === undefined ? 0 : marks.step);
  // SYNC TOPIC-RECLAIM: this tail publication (release) precedes every write into the claimed room; a reader
  // that re-checks tailSeq after copying (TOPIC-VALIDATE) sees it if it could have read overwritten bytes.
  if (moved) {
    publishTail(view, c.tailSeq, c.tailPos);
    // SYNC TOPIC-RECLAIM (release fence after the tail's store): no plain store into the claimed room (payload,
    // pad or record header) becomes visible before the tail that says those bytes are no longer valid (arm64;
    // a no-op on x86-64, where stores are not reordered with older stores).
    releaseFence();
  }
  r.seq = c.writeSeq + 1;
  r.at = wraps ? 0 : c.writePos;
  r.padAt = wraps ? c.writePos : -1;
  r.size = size;
  return r;
}

/**
 * Publishes a reserved record with `size` (<= reserved) payload bytes already written at `at + 32`: pad header,
 * record header, cursor, then the commit word. Holding the mutex. `clock` (a PairWords over `view.words`): stamp
 * the record with the wall clock now (`timestampMicros` is then ignored).
 */
export function commitRecord(view: RingView, r: Reservation, size: number, timestampMicros: number, marks?: ReclaimMarks, clock?: PairWords): void {
  const w = view.words;
  const cap = view.capacity;
  if (r.padAt >= 0 && cap - r.padAt >= HDR) {
    const p = (view.dataOffset + r.padAt) >> 2;
    w[p + TOPIC_RECORD_SIZE_OFFSET / 4] = cap - r.padAt - HDR;
    w[p + TOPIC_RECORD_FLAGS_OFFSET / 4] = TOPIC_FLAG_PAD;
    writeU64(w, p + TOPIC_RECORD_SEQ_OFFSET / 4, r.seq);
  }
  const i = (view.dataOffset + r.at) >> 2;
  w[i + TOPIC_RECORD_SIZE_OFFSET / 4] = size;
  w[i + TOPIC_RECORD_FLAGS_OFFSET / 4] = 0;
  writeU64(w, i + TOPIC_RECORD_SEQ_OFFSET / 4, r.seq);
  // With a clock (over view.words) the record gets the wall clock now, stamped natively (no allocation).
  if (clock !== undefined) clock.stampMicros(i + TOPIC_RECORD_TIMESTAMP_OFFSET / 4);
  else writeU64(w, i + TOPIC_RECORD_TIMESTAMP_OFFSET / 4, timestampMicros);
  const c = r.cursor;
  c.writeSeq = r.seq;
  c.writePos = normalizePos(r.at + recordSize(size), cap);
  const head = HEAD_SLOT0 + (r.seq & 1) * HEAD_SLOT_WORDS; // the slot readers are not using (commit is seq - 1)
  writeU64(w, head + W_SEQ, c.writeSeq);
  writeU64(w, head + W_POS, c.writePos);
  // SYNC TOPIC-COMMIT (release): publishes the record and the head slot; pairs with the acquire loads in
  // RingReader#tryNext and readHead.
  Atomics.store(w, COMMIT_INDEX, r.seq | 0);
  marks?.add(r.seq, c.writePos, (r.padAt >= 0 ? cap - r.padAt : 0) + recordSize(size));
}

/**
 * A publisher's private note of where some of its own records end (a performance hint, not protocol state: nothing
 * of it is in shared memory). The batch reclaim (PROTOCOL §5.3 step 4) walked ~40 record headers one after another
 * (each position comes from the previous header), ~1.3-2 µs in Node once per ~4 KiB published: the p99 of a 64 B
 * round trip (one round trip in ~44 paid it twice, once per direction). With a mark every `step` bytes, a reclaim
 * jumps to the last mark short of its target, checks the header there, and walks at most `step` bytes more, so it
 * ends at the same tail as the whole walk. Marks of records already reclaimed (also by other publishers) are
 * dropped; with no usable mark (another publisher wrote those records, or this one just opened), the whole walk runs.
 */
export class ReclaimMarks {
  readonly #seqs: Float64Array;
  readonly #ends: Float64Array;
  readonly #mask: number;
  /** Index of the oldest mark, and how many there are (a FIFO in seq order). */
  #head = 0;
  #count = 0;
  /** Bytes this publisher committed since its last mark. */
  #since = 0;
  /** At most this many ring bytes between two marks (a reclaim walks at most this far after its jump). */
  readonly step: number;

  constructor(capacity: number) {
    // At most one mark per step bytes, so a lap needs at most capacity / step marks: the FIFO holds a lap.
    const slots = 2 ** Math.min(14, Math.max(6, Math.ceil(Math.log2(capacity / 256))));
    this.#seqs = new Float64Array(slots);
    this.#ends = new Float64Array(slots);
    this.#mask = slots - 1;
    this.step = Math.max(256, Math.ceil(capacity / slots / 8) * 8);
  }

  /** Notes that record `seq` (this publisher's, `bytes` ring bytes with padding) ends at ring offset `end`. */
  add(seq: number, end: number, bytes: number): void {
    this.#since += bytes;
    if (this.#since < this.step) return;
    this.#since = 0;
    if (this.#count > this.#mask) {
      this.#head = (this.#head + 1) & this.#mask; // full (cannot happen with one lap per FIFO): drop the oldest
      this.#count--;
    }
    const i = (this.#head + this.#count) & this.#mask;
    this.#seqs[i] = seq;
    this.#ends[i] = end;
    this.#count++;
  }

  /**
   * Moves the cursor's tail to the last marked record boundary at which the free room is still below `want`, if
   * the header there is record tailSeq's successor as the mark says. True when it moved. Holding the mutex.
   */
  jump(view: RingView, c: Cursor, want: number): boolean {
    const cap = view.capacity;
    const seqs = this.#seqs;
    const ends = this.#ends;
    // Marks of records already reclaimed are of no use any more.
    while (this.#count > 0 && seqs[this.#head]! < c.tailSeq) {
      this.#head = (this.#head + 1) & this.#mask;
      this.#count--;
    }
    let best = -1;
    let used = 0;
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#head + k) & this.#mask;
      // The newest record's end is writePos (the ring emptied): the walk's own rule handles that case.
      if (seqs[i]! >= c.writeSeq || ringDistance(c.writePos, ends[i]!, cap) >= want) break;
      best = i;
      used = k + 1;
    }
    if (best < 0) return false;
    const seq = seqs[best]! + 1;
    const pos = ends[best]!;
    const at = recordStart(view, pos);
    if (!headerSane(view, at, readHeader(view, at, scratch), seq)) return false; // not as remembered: walk it all
    c.tailSeq = seq;
    c.tailPos = pos;
    this.#head = (this.#head + used) & this.#mask;
    this.#count -= used;
    return true;
  }
}

/** One record a reader got: where its payload lies in the payload view, and its header fields. */
export interface RecordRef {
  seq: number;
  /** Payload offset (in the segment payload) of the record's payload bytes. */
  offset: number;
  size: number;
  /** µs since the Unix epoch. */
  timestampMicros: number;
}

/** Reads the payload of a record into caller-owned memory before it is validated. */
export type PayloadSink = (view: RingView, offset: number, size: number) => void;

/** A reader's attempts to read one record before it gives up for this call (each is a fresh lap of the writer). */
const MAX_READ_ATTEMPTS = 64;

/**
 * A subscriber's private cursor. Invisible to writers: nothing of it lives in shared memory.
 * `tryNext` returns the next record or null; when writers overwrote records it had not read, it skips to the
 * oldest valid record and adds exactly the number skipped to `lost`.
 */
export class RingReader {
  /** Seq of the next record to read. */
  seq: number;
  /** Ring offset where record `seq` starts (before the wrap rule). */
  pos: number;
  /** Records skipped because writers overwrote them before they were read. */
  lost = 0;
  readonly #view: RingView;
  /** (seq - 1) mod 2^32 as the commit word holds it: equal means nothing new. */
  #idle: number;
  readonly #cursor: Cursor = { writeSeq: 0, writePos: 0, tailSeq: 0, tailPos: 0 };
  readonly #header: RawHeader = { size: 0, flags: 0, seq: 0 };

  constructor(view: RingView, from: 'latest' | 'oldest') {
    this.#view = view;
    const c = readCursor(view, this.#cursor);
    if (from === 'oldest') {
      this.seq = c.tailSeq;
      this.pos = c.tailPos;
    } else {
      this.seq = c.writeSeq + 1;
      this.pos = c.writePos;
    }
    this.#idle = (this.seq - 1) | 0;
  }

  /** The commit word value that means "nothing new for this reader" (what to sleep on). */
  get idleValue(): number {
    return this.#idle;
  }

  /** True when the commit word says there may be a record for this reader (one load, no side effects). */
  hasNew(): boolean {
    // SYNC TOPIC-COMMIT (acquire): pairs with the release store in commitRecord.
    return Atomics.load(this.#view.words, COMMIT_INDEX) !== this.#idle;
  }

  /**
   * The next record, or null when there is none yet. `sink` copies the payload out (or does nothing, for a
   * zero-copy view); the record is returned only if the tail did not pass it after the copy (seqlock style).
   * @throws ERR_SHM_CORRUPT when a record the cursor says is valid has an impossible header
   */
  tryNext(sink: PayloadSink | null, out: RecordRef): RecordRef | null {
    const view = this.#view;
    const w = view.words;
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      // SYNC TOPIC-COMMIT (acquire): a commit word other than seq - 1 means writeSeq >= seq, and record seq with
      // every byte before it is visible. Pairs with the release store in commitRecord.
      if (Atomics.load(w, COMMIT_INDEX) === this.#idle) return null;
      const seq = this.seq;
      const at = recordStart(view, this.pos);
      const h = readHeader(view, at, this.#header);
      const sane = headerSane(view, at, h, seq);
      if (sane && sink !== null) sink(view, view.dataOffset + at + HDR, h.size);
      const ts = readU64(w, ((view.dataOffset + at) >> 2) + TOPIC_RECORD_TIMESTAMP_OFFSET / 4);
      // SYNC TOPIC-VALIDATE (acquire fence): the header and payload loads above complete before the tail loads
      // below (arm64 could satisfy them later, after a writer reclaimed the record; no-op on x86-64).
      acquireFence();
      // SYNC TOPIC-VALIDATE (acquire, after the copy): tailSeq <= seq means the writers had not started to
      // overwrite record seq when we finished reading it. Pairs with the release in reserve (TOPIC-RECLAIM).
      if (readTailSeq(view) <= seq) {
        if (!sane) {
          throw corrupt(view, `record ${seq} at ring offset ${at} has an impossible header (size ${h.size}, flags ${h.flags}, seq ${h.seq})`);
        }
        out.seq = seq;
        out.offset = view.dataOffset + at + HDR;
        out.size = h.size;
        out.timestampMicros = ts;
        this.seq = seq + 1;
        this.pos = normalizePos(at + recordSize(h.size), view.capacity);
        this.#idle = seq | 0;
        return out;
      }
      const c = readCursor(view, this.#cursor); // the whole cursor, checked: a consistent tailSeq/tailPos pair
      // Lapped: record seq (and maybe more) was overwritten. Skip to the oldest valid record.
      this.lost += c.tailSeq - seq;
      this.seq = c.tailSeq;
      this.pos = c.tailPos;
      this.#idle = (c.tailSeq - 1) | 0;
    }
    return null;
  }

  /** True while record `seq` has not been overwritten (for zero-copy messages). */
  stillValid(seq: number): boolean {
    acquireFence(); // SYNC TOPIC-VALIDATE: the caller's loads from the view complete before the tail loads
    return readTailSeq(this.#view) <= seq;
  }
}
