/**
 * Queue: a lossless bounded MPMC queue of messages between processes (PROTOCOL.md §6). A ring of fixed-size slots,
 * each with a state word that carries its ticket, in the style of Vyukov's bounded MPMC queue: producers claim a
 * slot with a 64-bit CAS that also records their pid, consumers take it the same way. A process that dies holding a
 * slot is found by pid + start time and its slot is recovered, so the queue never wedges.
 */
import { ShmbusError } from '../errors.js';
import {
  QUEUE_ABANDONED_OFFSET,
  QUEUE_CLOSED_OFFSET,
  QUEUE_COMMITS_OFFSET,
  QUEUE_CONSUMER_WAITERS_OFFSET,
  QUEUE_FLAG_TEXT,
  QUEUE_HEAD_OFFSET,
  QUEUE_LOST_OFFSET,
  QUEUE_MAX_SLOTS,
  QUEUE_MAX_SLOT_SIZE,
  QUEUE_PARAM_SLOTS,
  QUEUE_PARAM_SLOT_SIZE,
  QUEUE_PRODUCER_WAITERS_OFFSET,
  QUEUE_RELEASES_OFFSET,
  QUEUE_SLOT_FLAGS_OFFSET,
  QUEUE_SLOT_HEADER_SIZE,
  QUEUE_SLOT_LENGTH_OFFSET,
  QUEUE_SLOT_OWNER_SEQ_OFFSET,
  QUEUE_SLOT_PID_OFFSET,
  QUEUE_SLOT_SEQ_OFFSET,
  QUEUE_SLOT_START_OFFSET,
  QUEUE_SLOTS_OFFSET,
  QUEUE_STATE_COMMITTED,
  QUEUE_STATE_TAKEN,
  QUEUE_STATE_WRITING,
  QUEUE_TAIL_OFFSET,
  queueRingSize,
  queueSlotStride,
} from '../protocol/layout.js';
import { isProcessAlive, selfIdentity } from '../base/process.js';
import { Segment } from '../segment/segment.js';
import { copyBytes } from '../base/copy.js';
import { deadlineAfter, remaining, throwIfAborted, timeoutError, type WaitOptions } from '../base/deadline.js';
import { waitAsync, wake } from '../base/futex.js';
import { validateSpin } from '../base/spin.js';

/**
 * A message taken from a {@link Queue} (or an Rpc response): a private copy of the bytes (or a view of the
 * `into` buffer you passed).
 * @example
 * ```ts
 * const m = await q.receive();
 * if (m !== null) console.log(m.isText ? m.text() : m.data.length);
 * ```
 */
export class QueueMessage {
  /** The message bytes (a private copy; safe to keep). */
  readonly data: Uint8Array;
  /** True when the sender sent a string. */
  readonly isText: boolean;

  constructor(data: Uint8Array, isText: boolean) {
    this.data = data;
    this.isText = isText;
  }

  /** The bytes decoded as UTF-8. */
  text(): string {
    return DECODER.decode(this.data);
  }
}

export interface QueueCreateOptions {
  /** Number of slots (a power of two, 1..2^24). Default 1024, fewer for big slots (the ring stays within 32 MiB). */
  slots?: number;
  /** Largest message in bytes (1..2^30). Default 4096. Larger messages are refused with ERR_MESSAGE_TOO_LARGE. */
  slotSize?: number;
  /** Permission bits of the segment; default 0o600. */
  mode?: number;
  /** Microseconds to spin re-checking before a waiting call sleeps (default 50; 0 sleeps at once). */
  spin?: number;
}

export interface QueueOpenOptions {
  /** Milliseconds to wait for a queue its creator is still initialising (default 1000). */
  timeout?: number;
  /** Microseconds to spin re-checking before a waiting call sleeps (default 50; 0 sleeps at once). */
  spin?: number;
}

/** Options of {@link Queue.receive}. */
export interface QueueReceiveOptions extends WaitOptions {
  /**
   * Copy the message into this buffer when it fits (then `m.data` is a view of it, valid until you reuse the
   * buffer): saves allocating a fresh array per message, which for megabyte messages costs more than the copy.
   */
  into?: Uint8Array;
}

/** Counters of a queue (approximate while others work on it). */
export interface QueueStats {
  /** Messages in the ring (committed or being written), 0..slots. */
  length: number;
  /** Slots skipped because their producer died while writing them. */
  abandoned: number;
  /** Messages taken by a consumer that died before it finished copying them (at-most-once for those). */
  lost: number;
}

const DECODER = new TextDecoder();
const ENCODER = new TextEncoder();
const DEFAULT_SLOTS = 1024;
/** Default slot counts shrink so that a ring of big slots stays within this many bytes (at least 2 slots). */
const DEFAULT_RING_BUDGET = 32 << 20;

/**
 * The default number of slots for `slotSize`-byte slots: `max`, or fewer (a power of two, at least 2) so the ring
 * stays within 32 MiB. @internal
 */
export function defaultSlots(slotSize: unknown, max: number): number {
  if (typeof slotSize !== 'number' || !(slotSize > 0)) return max;
  let n = max;
  while (n > 2 && n * slotSize > DEFAULT_RING_BUDGET) n >>= 1;
  return n;
}
const DEFAULT_SLOT_SIZE = 4096;
const DEFAULT_SPIN_US = 50;
/** While a slot is held by another process, sleep at most this long before checking that process is alive. */
export const LIVENESS_INTERVAL_MS = 50;
/** Consecutive failed CAS/help steps in one call before the ring is declared corrupt (never reached when sane). */
const RETRY_LIMIT = 1 << 22;
const FULL = -1;
const CLOSED = -2;
/** tryTake results besides a message. @internal */
export const EMPTY: unique symbol = Symbol('empty');
export const END: unique symbol = Symbol('end of stream');

/** Writes a message body into the ring at `offset` (at most `capacity` bytes) and returns its length. */
type BodyWriter = (bytes: Uint8Array, offset: number, capacity: number) => number;
/**
 * Copies what it needs of a taken message (`length` bytes at `offset`) out of the ring; the slot is freed when it
 * returns (or throws). @internal
 */
export type BodyReader<T> = (bytes: Uint8Array, offset: number, length: number, flags: number) => T;

/** Copies `length` bytes at `offset` of `bytes` into `into` when it is large enough, else into a new array. @internal */
export function copyBody(bytes: Uint8Array, offset: number, length: number, into?: Uint8Array): Uint8Array {
  if (into !== undefined && into.length >= length) {
    copyBytes(into, 0, bytes, offset, length);
    return into.subarray(0, length);
  }
  const data = new Uint8Array(length);
  copyBytes(data, 0, bytes, offset, length);
  return data;
}

function readerInto(into: Uint8Array | undefined): BodyReader<QueueMessage> {
  if (into === undefined) return readMessage;
  if (!(into instanceof Uint8Array)) throw new ShmbusError('ERR_INVALID_ARG', 'into must be a Uint8Array');
  return (bytes, offset, length, flags) => new QueueMessage(copyBody(bytes, offset, length, into), (flags & QUEUE_FLAG_TEXT) !== 0);
}

/** The default reader: a private copy of the message. */
const readMessage: BodyReader<QueueMessage> = (bytes, offset, length, flags) =>
  new QueueMessage(copyBody(bytes, offset, length), (flags & QUEUE_FLAG_TEXT) !== 0);

/**
 * The ring machinery, over any segment at any 64-byte aligned base (a queue segment at 0; an rpc segment embeds
 * one). @internal
 */
export class QueueRing {
  readonly slots: number;
  readonly slotSize: number;
  readonly segment: Segment;
  /** A DataView over the whole segment payload, for writers of structured bodies. */
  readonly view: DataView;
  readonly #words: Int32Array;
  readonly #words64: BigInt64Array;
  readonly #bytes: Uint8Array;
  readonly #mask: number;
  readonly #first: number; // byte offset of slot 0
  readonly #stride: number;
  readonly #tail: number; // word indices
  readonly #head: number;
  readonly #commits: number;
  readonly #consumerWaiters: number;
  readonly #releases: number;
  readonly #producerWaiters: number;
  readonly #closed: number;
  readonly #abandoned: number;
  readonly #lost: number;
  readonly #pid: number;
  readonly #pidHigh: bigint;
  readonly #startLo: number;
  readonly #startHi: number;
  readonly #spinMs: number;
  // A slot seen held by another process on the previous failed try: seeing it again triggers a liveness check.
  #stuckIndex = -1;
  #stuckSeq = 0;
  /** Waiters of this process asleep on this ring: [consumers, producers]. */
  readonly #localSleepers = [0, 0];

  constructor(segment: Segment, base: number, slots: number, slotSize: number, spinUs = DEFAULT_SPIN_US) {
    this.segment = segment;
    this.slots = slots;
    this.slotSize = slotSize;
    this.#words = segment.words;
    this.#words64 = new BigInt64Array(segment.buffer, 0, Math.floor(segment.size / 8));
    this.#bytes = segment.bytes;
    this.view = new DataView(segment.buffer);
    this.#mask = slots - 1;
    this.#first = base + QUEUE_SLOTS_OFFSET;
    this.#stride = queueSlotStride(slotSize);
    this.#tail = (base + QUEUE_TAIL_OFFSET) >> 2;
    this.#head = (base + QUEUE_HEAD_OFFSET) >> 2;
    this.#commits = (base + QUEUE_COMMITS_OFFSET) >> 2;
    this.#consumerWaiters = (base + QUEUE_CONSUMER_WAITERS_OFFSET) >> 2;
    this.#releases = (base + QUEUE_RELEASES_OFFSET) >> 2;
    this.#producerWaiters = (base + QUEUE_PRODUCER_WAITERS_OFFSET) >> 2;
    this.#closed = (base + QUEUE_CLOSED_OFFSET) >> 2;
    this.#abandoned = (base + QUEUE_ABANDONED_OFFSET) >> 2;
    this.#lost = (base + QUEUE_LOST_OFFSET) >> 2;
    const me = selfIdentity();
    this.#pid = me.pid;
    this.#pidHigh = BigInt(me.pid) << 32n;
    this.#startLo = me.startTime % 2 ** 32 | 0;
    this.#startHi = Math.floor(me.startTime / 2 ** 32) | 0;
    this.#spinMs = validateSpin(spinUs, DEFAULT_SPIN_US) / 1000;
  }

  /** Checks a ring's parameters against the segment it lives in. @throws ERR_SHM_CORRUPT */
  static validate(segment: Segment, base: number, slots: number, slotSize: number): void {
    const ok =
      Number.isInteger(slots) &&
      slots >= 1 &&
      slots <= QUEUE_MAX_SLOTS &&
      (slots & (slots - 1)) === 0 &&
      Number.isInteger(slotSize) &&
      slotSize >= 1 &&
      slotSize <= QUEUE_MAX_SLOT_SIZE &&
      base % 64 === 0 &&
      base + queueRingSize(slots, slotSize) <= segment.size;
    if (!ok) {
      throw new ShmbusError(
        'ERR_SHM_CORRUPT',
        `segment "${segment.name}" has an impossible queue layout (slots ${slots}, slotSize ${slotSize}, ` +
          `${segment.size} payload bytes); unlink it and create it again`,
        { segment: segment.name },
      );
    }
  }

  /** Lays out a fresh ring (inside Segment.create's init). `firstTicket` exists to test the 32-bit wrap. */
  static init(segment: Segment, base: number, slots: number, slotSize: number, firstTicket = 0): void {
    const w = segment.words;
    const t = firstTicket | 0;
    w[(base + QUEUE_TAIL_OFFSET) >> 2] = t;
    w[(base + QUEUE_HEAD_OFFSET) >> 2] = t;
    const stride = queueSlotStride(slotSize);
    for (let i = 0; i < slots; i++) {
      // The first ticket >= t that maps to slot i, times 4: FREE for that ticket.
      const ticket = (t + ((i - t) & (slots - 1))) | 0;
      w[(base + QUEUE_SLOTS_OFFSET + i * stride + QUEUE_SLOT_SEQ_OFFSET) >> 2] = Math.imul(ticket, 4);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Producer side

  /**
   * Claims the slot of the next ticket, writes the body, commits it. Returns true, or false when the ring is full.
   * @throws ERR_CLOSED after close(), ERR_MESSAGE_TOO_LARGE (from the writer)
   */
  tryWrite(writer: BodyWriter, flags: number): boolean {
    const r = this.#claim();
    if (r === FULL) return false;
    if (r === CLOSED) throw this.#closedError();
    const { si, seq } = this.#claimed;
    const slotOffset = this.#slotOffset(r);
    let length: number;
    try {
      length = writer(this.#bytes, slotOffset + QUEUE_SLOT_HEADER_SIZE, this.slotSize);
    } catch (e) {
      this.#release(si, seq, 0);
      throw e;
    }
    // SYNC QUEUE-CLOSE-CHECK (seq_cst load after the claim CAS): a close() ordered before our claim makes us give
    // the slot back, so no message is committed after a receiver has already seen the end of the stream.
    if (Atomics.load(this.#words, this.#closed) !== 0) {
      this.#release(si, seq, 0);
      throw this.#closedError();
    }
    const w = this.#words;
    w[(slotOffset + QUEUE_SLOT_LENGTH_OFFSET) >> 2] = length;
    w[(slotOffset + QUEUE_SLOT_FLAGS_OFFSET) >> 2] = flags;
    // SYNC QUEUE-COMMIT (release): publishes length, flags and body; pairs with the acquire load in #take.
    Atomics.store(w, si, (seq + 1) | 0);
    // SYNC QUEUE-COMMITS (seq_cst RMW): bumps the consumers' futex word; pairs with the load before their sleep.
    Atomics.add(w, this.#commits, 1);
    // SYNC QUEUE-WAITERS (seq_cst load): a consumer that counted itself before our add re-checks or is woken.
    if (Atomics.load(w, this.#consumerWaiters) !== 0) wake(w, this.#commits);
    return true;
  }

  /** Result of the last successful #claim: word index of the slot's SEQ and the claimed SEQ (4*ticket + 1). */
  #claimed = { si: 0, seq: 0 };

  #slotOffset(slot: number): number {
    return this.#first + slot * this.#stride;
  }

  /** Returns the slot index claimed (see #claimed), FULL or CLOSED. */
  #claim(): number {
    const w = this.#words;
    // SYNC QUEUE-CLOSED (seq_cst load): refuse new claims once the stream has ended.
    if (Atomics.load(w, this.#closed) !== 0) return CLOSED;
    // SYNC QUEUE-TAIL (acquire): a ticket hint; the slot's SEQ decides.
    let pos = Atomics.load(w, this.#tail);
    for (let i = 0; i < RETRY_LIMIT; i++) {
      const slot = pos & this.#mask;
      const si = (this.#first + slot * this.#stride) >> 2;
      // SYNC QUEUE-FREE (acquire): pairs with the release store that freed the slot for this lap.
      const seq = Atomics.load(w, si);
      const expected = Math.imul(pos, 4);
      const dif = (seq - expected) | 0;
      if (dif === 0) {
        const want = (expected + QUEUE_STATE_WRITING) | 0;
        // SYNC QUEUE-CLAIM (seq_cst 64-bit CAS): SEQ FREE -> WRITING and PID 0 -> ours in one step, so the slot is
        // never held by an unknown process; pairs with the loads in #take and #recover.
        const prev = Atomics.compareExchange(
          this.#words64,
          si >> 1,
          BigInt(seq >>> 0),
          BigInt(want >>> 0) | this.#pidHigh,
        );
        if (prev === BigInt(seq >>> 0)) {
          // SYNC QUEUE-TAIL (CAS): move the hint on; failure means another process helped already.
          Atomics.compareExchange(w, this.#tail, pos, (pos + 1) | 0);
          this.#stampOwner(si, want);
          this.#claimed.si = si;
          this.#claimed.seq = want;
          return slot;
        }
        // SYNC QUEUE-TAIL (acquire): reload the hint after a lost race or a help step.
        pos = Atomics.load(w, this.#tail);
      } else if (dif < 0) {
        // The slot still holds the previous lap's message: full, unless that lap's consumer died holding it.
        if (this.#maybeRecover(si, seq, (Math.imul(pos - this.slots, 4) + QUEUE_STATE_TAKEN) | 0)) continue;
        return FULL;
      } else {
        // Another producer claimed this ticket: help the hint along and try the next one.
        // SYNC QUEUE-TAIL (CAS)
        Atomics.compareExchange(w, this.#tail, pos, (pos + 1) | 0);
        // SYNC QUEUE-TAIL (acquire): reload the hint after a lost race or a help step.
        pos = Atomics.load(w, this.#tail);
      }
    }
    throw this.#corrupt('the producer ticket never settles');
  }

  /** Records our start time for the slot we now hold, then the SEQ it belongs to (readers check SEQ last-first). */
  #stampOwner(si: number, seq: number): void {
    const w = this.#words;
    const base = si - (QUEUE_SLOT_SEQ_OFFSET >> 2);
    w[base + (QUEUE_SLOT_START_OFFSET >> 2)] = this.#startLo;
    w[base + (QUEUE_SLOT_START_OFFSET >> 2) + 1] = this.#startHi;
    // SYNC QUEUE-OWNER (release): START is complete before OWNER_SEQ names it; pairs with the acquire in #holderAlive.
    Atomics.store(w, base + (QUEUE_SLOT_OWNER_SEQ_OFFSET >> 2), seq);
  }

  /**
   * Gives back a slot we hold (SEQ = `seq`, WRITING or TAKEN) as FREE for the next lap, counting it in `counter`
   * (a word index, or 0 for none), and wakes both sides.
   */
  #release(si: number, seq: number, counter: number): void {
    const next = (Math.imul(this.slots, 4) + (seq & ~3)) | 0;
    // SYNC QUEUE-FREE (release, 64-bit): SEQ -> next lap's FREE and PID -> 0; pairs with the acquire in #claim.
    Atomics.store(this.#words64, si >> 1, BigInt(next >>> 0));
    // Statistics counter (seq_cst RMW; nobody synchronises on it).
    if (counter !== 0) Atomics.add(this.#words, counter, 1);
    this.#bump();
  }

  /** Wakes both sides after a slot changed hands outside the normal commit/free path. */
  #bump(): void {
    const w = this.#words;
    // SYNC QUEUE-COMMITS / QUEUE-RELEASES (seq_cst RMW), then QUEUE-WAITERS loads: as in a commit and a free.
    Atomics.add(w, this.#commits, 1);
    // SYNC QUEUE-RELEASES (seq_cst RMW): as after a free; pairs with the load before a producer sleeps.
    Atomics.add(w, this.#releases, 1);
    // SYNC QUEUE-WAITERS (seq_cst load): wake consumers only if one counted itself asleep.
    if (Atomics.load(w, this.#consumerWaiters) !== 0) wake(w, this.#commits);
    // SYNC QUEUE-WAITERS (seq_cst load): wake producers only if one counted itself asleep.
    if (Atomics.load(w, this.#producerWaiters) !== 0) wake(w, this.#releases);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Consumer side

  /** Takes the next message through `reader`: its result, EMPTY, or END (closed and drained). @throws ERR_SHM_CORRUPT */
  tryTake<T>(reader: BodyReader<T>): T | typeof EMPTY | typeof END {
    const w = this.#words;
    // SYNC QUEUE-CLOSED (seq_cst load) before looking at the slot: pairs with QUEUE-CLOSE-CHECK in tryWrite.
    const closed = Atomics.load(w, this.#closed) !== 0;
    // SYNC QUEUE-HEAD (acquire): a ticket hint; the slot's SEQ decides.
    let pos = Atomics.load(w, this.#head);
    for (let i = 0; i < RETRY_LIMIT; i++) {
      const slot = pos & this.#mask;
      const si = (this.#first + slot * this.#stride) >> 2;
      // SYNC QUEUE-COMMIT (acquire): pairs with the producer's release store of COMMITTED.
      const seq = Atomics.load(w, si);
      const committed = (Math.imul(pos, 4) + QUEUE_STATE_COMMITTED) | 0;
      const dif = (seq - committed) | 0;
      if (dif === 0) {
        // SYNC QUEUE-CLAIM / QUEUE-TAKE (seq_cst load): the holder pid, the high half of the CAS word we then use.
        const pid = Atomics.load(w, si + 1);
        const taken = (committed + 1) | 0;
        const expected = BigInt(seq >>> 0) | (BigInt(pid >>> 0) << 32n);
        // SYNC QUEUE-TAKE (seq_cst 64-bit CAS): COMMITTED -> TAKEN with our pid; exactly one consumer wins.
        const prev = Atomics.compareExchange(this.#words64, si >> 1, expected, BigInt(taken >>> 0) | this.#pidHigh);
        if (prev === expected) {
          // SYNC QUEUE-HEAD (CAS): move the hint on; failure means another consumer helped already.
          Atomics.compareExchange(w, this.#head, pos, (pos + 1) | 0);
          this.#stampOwner(si, taken);
          return this.#copyOut(slot, si, taken, reader);
        }
        // SYNC QUEUE-HEAD (acquire): reload the hint after a lost race or a help step.
        pos = Atomics.load(w, this.#head);
      } else if (dif < 0) {
        // Ticket `pos` is not committed yet: empty, unless its producer died while writing it.
        if (this.#maybeRecover(si, seq, (committed - 1) | 0)) continue;
        return closed && seq !== ((committed - 1) | 0) ? END : EMPTY;
      } else {
        // Taken by another consumer (or already freed): help the hint along.
        // SYNC QUEUE-HEAD (CAS)
        Atomics.compareExchange(w, this.#head, pos, (pos + 1) | 0);
        // SYNC QUEUE-HEAD (acquire): reload the hint after a lost race or a help step.
        pos = Atomics.load(w, this.#head);
      }
    }
    throw this.#corrupt('the consumer ticket never settles');
  }

  #copyOut<T>(slot: number, si: number, taken: number, reader: BodyReader<T>): T {
    const w = this.#words;
    const off = this.#slotOffset(slot);
    const length = w[(off + QUEUE_SLOT_LENGTH_OFFSET) >> 2]! >>> 0;
    const flags = w[(off + QUEUE_SLOT_FLAGS_OFFSET) >> 2]!;
    if (length > this.slotSize) {
      this.#release(si, taken, 0);
      throw this.#corrupt(`a slot claims ${length} bytes, more than slotSize ${this.slotSize}`);
    }
    let out: T;
    try {
      out = reader(this.#bytes, off + QUEUE_SLOT_HEADER_SIZE, length, flags);
    } catch (e) {
      this.#release(si, taken, 0);
      throw e;
    }
    const next = (Math.imul(this.slots, 4) + (taken & ~3)) | 0;
    // SYNC QUEUE-FREE (release, 64-bit): the copy is done; SEQ -> next lap's FREE, PID -> 0; pairs with #claim.
    Atomics.store(this.#words64, si >> 1, BigInt(next >>> 0));
    // SYNC QUEUE-RELEASES (seq_cst RMW): bumps the producers' futex word.
    Atomics.add(w, this.#releases, 1);
    // SYNC QUEUE-WAITERS (seq_cst load)
    if (Atomics.load(w, this.#producerWaiters) !== 0) wake(w, this.#releases);
    return out;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Recovery from dead processes

  /**
   * `seq` was read from the slot at `si`, which blocks us; `heldSeq` is the state in which a (possibly dead)
   * process holds it. The second time in a row we find the same slot held, check that its holder lives; if it is
   * dead, free the slot and return true (the caller retries).
   */
  #maybeRecover(si: number, seq: number, heldSeq: number): boolean {
    if (seq !== heldSeq) return false;
    if (this.#stuckIndex !== si || this.#stuckSeq !== seq) {
      this.#stuckIndex = si;
      this.#stuckSeq = seq;
      return false;
    }
    return this.recoverIfDead(si, seq);
  }

  /** Checks the holder of slot word `si` (in state `seq`) and frees the slot if the holder is dead. */
  recoverIfDead(si: number, seq: number): boolean {
    const w = this.#words;
    // SYNC QUEUE-CLAIM / QUEUE-TAKE (seq_cst load): the holder pid, the high half of the CAS word we then use.
    const pid = Atomics.load(w, si + 1);
    const base = si - (QUEUE_SLOT_SEQ_OFFSET >> 2);
    // SYNC QUEUE-OWNER (acquire): START is valid only when OWNER_SEQ names the state we saw.
    const ownerSeq = Atomics.load(w, base + (QUEUE_SLOT_OWNER_SEQ_OFFSET >> 2));
    let start = 0;
    if (ownerSeq === seq) {
      start = (w[base + (QUEUE_SLOT_START_OFFSET >> 2)]! >>> 0) + (w[base + (QUEUE_SLOT_START_OFFSET >> 2) + 1]! >>> 0) * 2 ** 32;
    }
    if (pid === this.#pid || isProcessAlive(pid, start)) return false;
    const expected = BigInt(seq >>> 0) | (BigInt(pid >>> 0) << 32n);
    const next = (Math.imul(this.slots, 4) + (seq & ~3)) | 0;
    // SYNC QUEUE-RECOVER (seq_cst 64-bit CAS): only if the dead holder still holds it; frees it for the next lap.
    if (Atomics.compareExchange(this.#words64, si >> 1, expected, BigInt(next >>> 0)) !== expected) return true;
    const state = seq & 3;
    // Statistics counter (seq_cst RMW): abandoned (dead producer) or lost (dead consumer).
    Atomics.add(w, state === QUEUE_STATE_WRITING ? this.#abandoned : this.#lost, 1);
    this.#stuckIndex = -1;
    this.#bump();
    return true;
  }

  /** The slot that blocks a waiting consumer (head, WRITING) or producer (tail, previous lap TAKEN), if any. */
  #blocker(consumer: boolean): { si: number; seq: number } | undefined {
    const w = this.#words;
    // SYNC QUEUE-HEAD / QUEUE-TAIL (acquire): which slot a waiter waits on.
    const pos = Atomics.load(w, consumer ? this.#head : this.#tail);
    const si = (this.#first + (pos & this.#mask) * this.#stride) >> 2;
    // SYNC QUEUE-COMMIT / QUEUE-FREE (acquire): the state of the slot a waiter waits on.
    const seq = Atomics.load(w, si);
    const held = consumer
      ? (Math.imul(pos, 4) + QUEUE_STATE_WRITING) | 0
      : (Math.imul(pos - this.slots, 4) + QUEUE_STATE_TAKEN) | 0;
    return seq === held ? { si, seq } : undefined;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Waiting

  /**
   * Sleeps until the consumers' (or producers') futex word moves past `seen`, the deadline passes, or (while
   * another process holds the blocking slot) LIVENESS_INTERVAL_MS elapses. Spins first.
   */
  async park(consumer: boolean, seen: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const w = this.#words;
    const word = consumer ? this.#commits : this.#releases;
    const role = consumer ? 0 : 1;
    // Only the first waiter of this process spins: the others would watch the same word and block the event loop.
    if (this.#spinMs > 0 && this.#localSleepers[role] === 0) {
      const until = performance.now() + this.#spinMs;
      for (;;) {
        // SYNC QUEUE-COMMITS / QUEUE-RELEASES (seq_cst load): spin until the futex word moves.
        for (let i = 0; i < 64; i++) if (Atomics.load(w, word) !== seen) return;
        if (performance.now() >= until) break;
      }
    }
    const blocker = this.#blocker(consumer);
    if (blocker !== undefined && this.recoverIfDead(blocker.si, blocker.seq)) return;
    let timeout = remaining(deadline);
    if (blocker !== undefined) timeout = Math.min(timeout, LIVENESS_INTERVAL_MS);
    if (timeout === 0) return;
    const waiters = consumer ? this.#consumerWaiters : this.#producerWaiters;
    // SYNC QUEUE-WAITERS (seq_cst RMW): count ourselves before the final re-check, so a waker cannot miss us.
    Atomics.add(w, waiters, 1);
    this.#localSleepers[role]++;
    try {
      await waitAsync(w, word, seen, { timeout, signal }, this.segment);
    } finally {
      this.#localSleepers[role]--;
      // SYNC QUEUE-WAITERS (seq_cst RMW)
      Atomics.sub(w, waiters, 1);
    }
  }

  /** Word values used by waiters. */
  commitsSeen(): number {
    // SYNC QUEUE-COMMITS (seq_cst load): read before the try, so a commit in between ends the sleep.
    return Atomics.load(this.#words, this.#commits);
  }

  releasesSeen(): number {
    // SYNC QUEUE-RELEASES (seq_cst load): read before the try, so a free in between ends the sleep.
    return Atomics.load(this.#words, this.#releases);
  }

  /** Ends the stream: no new claims; receivers drain and then see the end. Idempotent. */
  close(): void {
    // SYNC QUEUE-CLOSED (seq_cst RMW): pairs with the loads in #claim, tryWrite and tryTake.
    if (Atomics.exchange(this.#words, this.#closed, 1) === 0) this.#bump();
  }

  get closed(): boolean {
    // SYNC QUEUE-CLOSED (seq_cst load)
    return Atomics.load(this.#words, this.#closed) !== 0;
  }

  stats(): QueueStats {
    const w = this.#words;
    // Relaxed reads of counters for reporting only.
    const length = (Atomics.load(w, this.#tail) - Atomics.load(w, this.#head)) | 0;
    return {
      length: Math.max(0, Math.min(this.slots, length)),
      // Statistics (seq_cst loads, reporting only).
      abandoned: Atomics.load(w, this.#abandoned) >>> 0,
      lost: Atomics.load(w, this.#lost) >>> 0,
    };
  }

  #closedError(): ShmbusError {
    return new ShmbusError('ERR_CLOSED', `queue "${this.segment.name}" was closed (end of stream)`, {
      segment: this.segment.name,
    });
  }

  #corrupt(what: string): ShmbusError {
    return new ShmbusError('ERR_SHM_CORRUPT', `queue "${this.segment.name}" is corrupt: ${what}; unlink it`, {
      segment: this.segment.name,
    });
  }

  /** Sends with backpressure: tries, then spins and sleeps until a slot frees up. */
  async write(writer: BodyWriter, flags: number, options: WaitOptions, what: string): Promise<void> {
    const deadline = deadlineAfter(options.timeout);
    for (;;) {
      throwIfAborted(options.signal, what);
      const seen = this.releasesSeen();
      if (this.tryWrite(writer, flags)) return;
      if (remaining(deadline) === 0) throw timeoutError(what, options.timeout ?? 0, this.segment.name);
      await this.park(false, seen, deadline, options.signal);
    }
  }

  /** Receives through `reader`: its result, null at the end of the stream, or TIMED_OUT when `deadline` passes. */
  async read<T>(reader: BodyReader<T>, deadline: number, signal: AbortSignal | undefined, what: string): Promise<T | null | typeof TIMED_OUT> {
    for (;;) {
      throwIfAborted(signal, what);
      const seen = this.commitsSeen();
      const r = this.tryTake(reader);
      if (r === END) return null;
      if (r !== EMPTY) return r;
      if (remaining(deadline) === 0) return TIMED_OUT;
      await this.park(true, seen, deadline, signal);
    }
  }
}

/** Returned by QueueRing#read when its deadline passed. @internal */
export const TIMED_OUT: unique symbol = Symbol('timed-out');

/** Checks that `data` is a message: bytes or a string. @internal */
export function validateBody(data: unknown, where: string): asserts data is Uint8Array | string {
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new ShmbusError('ERR_INVALID_ARG', `${where}: a message is a Uint8Array (or Buffer) or a string`);
  }
}

/** Flags of a message body (QUEUE_FLAG_TEXT for a string). @internal */
export function bodyFlags(data: Uint8Array | string): number {
  return typeof data === 'string' ? QUEUE_FLAG_TEXT : 0;
}

/**
 * Copies a message body (bytes, or a string as UTF-8) into `bytes` at `offset`; returns its length.
 * @throws ERR_MESSAGE_TOO_LARGE when it needs more than `capacity` bytes @internal
 */
export function writeBody(data: Uint8Array | string, bytes: Uint8Array, offset: number, capacity: number, where: string): number {
  if (typeof data === 'string') {
    // Fast refusal first; encodeInto stops short when the UTF-8 form does not fit.
    if (data.length > capacity) throw tooLarge(where, data.length, capacity);
    const r = ENCODER.encodeInto(data, bytes.subarray(offset, offset + capacity));
    if (r.read < data.length) throw tooLarge(where, Buffer.byteLength(data), capacity);
    return r.written;
  }
  const n = data.byteLength;
  if (n > capacity) throw tooLarge(where, n, capacity);
  copyBytes(bytes, offset, data, 0, n);
  return n;
}

function tooLarge(where: string, size: number, capacity: number): ShmbusError {
  return new ShmbusError(
    'ERR_MESSAGE_TOO_LARGE',
    `${where}: a ${size}-byte message does not fit a ${capacity}-byte slot; create the queue with a larger slotSize`,
  );
}

/** @internal validates slots/slotSize options. */
export function validateRingOptions(slots: unknown, slotSize: unknown): { slots: number; slotSize: number } {
  if (typeof slots !== 'number' || !Number.isInteger(slots) || slots < 1 || slots > QUEUE_MAX_SLOTS || (slots & (slots - 1)) !== 0) {
    throw new ShmbusError('ERR_INVALID_ARG', `slots must be a power of two from 1 to 2^24 (got ${String(slots)})`);
  }
  if (typeof slotSize !== 'number' || !Number.isInteger(slotSize) || slotSize < 1 || slotSize > QUEUE_MAX_SLOT_SIZE) {
    throw new ShmbusError('ERR_INVALID_ARG', `slotSize must be an integer from 1 to 2^30 bytes (got ${String(slotSize)})`);
  }
  return { slots, slotSize };
}

/** Creates a queue segment holding one ring. @internal */
export function createQueueRing(
  name: string,
  slots: number,
  slotSize: number,
  mode: number | undefined,
  spin: number | undefined,
  firstTicket = 0,
): QueueRing {
  const spinUs = validateSpin(spin, DEFAULT_SPIN_US);
  const seg = Segment.create(name, {
    size: queueRingSize(slots, slotSize),
    kind: 'queue',
    ...(mode === undefined ? {} : { mode }),
    params: [slots, slotSize],
    init: (s) => QueueRing.init(s, 0, slots, slotSize, firstTicket),
  });
  return new QueueRing(seg, 0, slots, slotSize, spinUs);
}

/** Opens a queue segment and validates its ring. @internal */
export function openQueueRing(name: string, timeout: number | undefined, spin: number | undefined): QueueRing {
  const spinUs = validateSpin(spin, DEFAULT_SPIN_US);
  const seg = Segment.open(name, { kind: 'queue', ...(timeout === undefined ? {} : { timeout }) });
  try {
    const slots = seg.params[QUEUE_PARAM_SLOTS]!;
    const slotSize = seg.params[QUEUE_PARAM_SLOT_SIZE]!;
    QueueRing.validate(seg, 0, slots, slotSize);
    return new QueueRing(seg, 0, slots, slotSize, spinUs);
  } catch (e) {
    seg.close();
    throw e;
  }
}

/**
 * A lossless bounded queue between processes: every message sent is received exactly once (by one of any number
 * of receivers), in order per sender. A full queue makes `send` wait (backpressure); `close()` ends the stream:
 * receivers drain what is left, then `receive()` gives `null` and `for await` ends. A sender killed while writing
 * a slot never blocks the queue: receivers skip that slot once they see the sender is dead.
 *
 * @example
 * ```ts
 * const q = Queue.create('files', { slots: 1024, slotSize: 4096 });
 * await q.send('hello');
 * q.close();
 * for await (const m of Queue.open('files')) console.log(m.text());
 * ```
 */
export class Queue implements AsyncIterable<QueueMessage> {
  /** The queue's name. */
  readonly name: string;
  /** Number of slots. */
  readonly slots: number;
  /** Largest message in bytes. */
  readonly slotSize: number;
  readonly #ring: QueueRing;
  #detached = false;

  private constructor(name: string, ring: QueueRing) {
    this.name = name;
    this.#ring = ring;
    this.slots = ring.slots;
    this.slotSize = ring.slotSize;
  }

  /**
   * Creates a queue of `slots` slots of `slotSize` bytes each.
   * @throws ERR_SHM_EXISTS, ERR_INVALID_NAME, ERR_INVALID_ARG, ERR_SHM_NO_SPACE, ERR_OS
   * @example
   * ```ts
   * const q = Queue.create('jobs', { slots: 256, slotSize: 1024 });
   * ```
   */
  static create(name: string, options: QueueCreateOptions = {}): Queue {
    return Queue.#create(name, options, 0);
  }

  /** @internal creates a queue whose tickets start at `firstTicket` (tests of the 32-bit wrap). */
  static createAtTicket(name: string, options: QueueCreateOptions, firstTicket: number): Queue {
    return Queue.#create(name, options, firstTicket);
  }

  static #create(name: string, options: QueueCreateOptions, firstTicket: number): Queue {
    if (options === null || typeof options !== 'object') throw new ShmbusError('ERR_INVALID_ARG', 'options must be an object');
    const size = options.slotSize ?? DEFAULT_SLOT_SIZE;
    const { slots, slotSize } = validateRingOptions(options.slots ?? defaultSlots(size, DEFAULT_SLOTS), size);
    return new Queue(name, createQueueRing(name, slots, slotSize, options.mode, options.spin, firstTicket));
  }

  /**
   * Opens a queue another process created.
   * @throws ERR_SHM_NOT_FOUND, ERR_SHM_KIND, ERR_SHM_CORRUPT, ERR_SHM_VERSION, ERR_SHM_PERMISSION, ERR_INVALID_NAME
   * @example
   * ```ts
   * const q = Queue.open('jobs');
   * ```
   */
  static open(name: string, options: QueueOpenOptions = {}): Queue {
    return new Queue(name, openQueueRing(name, options.timeout, options.spin));
  }

  /**
   * Opens the queue, or creates it with `options` if it does not exist yet (whichever side starts first).
   * @throws as {@link Queue.create} and {@link Queue.open}
   * @example
   * ```ts
   * const q = Queue.openOrCreate('files', { slots: 64, slotSize: 512 });
   * ```
   */
  static openOrCreate(name: string, options: QueueCreateOptions = {}): Queue {
    for (;;) {
      try {
        return Queue.open(name, options.spin === undefined ? {} : { spin: options.spin });
      } catch (e) {
        if (!(e instanceof ShmbusError) || e.code !== 'ERR_SHM_NOT_FOUND') throw e;
      }
      try {
        return Queue.create(name, options);
      } catch (e) {
        if (!(e instanceof ShmbusError) || e.code !== 'ERR_SHM_EXISTS') throw e;
      }
    }
  }

  /** Removes the name (processes that have the queue open keep using it). @throws ERR_SHM_NOT_FOUND, ERR_INVALID_NAME */
  static unlink(name: string): void {
    Segment.unlink(name);
  }

  /**
   * Sends a message, waiting while the queue is full.
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_CLOSED (end of stream, or detached), ERR_TIMEOUT, ERR_ABORTED, ERR_INVALID_ARG
   * @example
   * ```ts
   * await q.send(new Uint8Array([1, 2, 3]), { timeout: 1000 });
   * ```
   */
  async send(data: Uint8Array | string, options: WaitOptions = {}): Promise<void> {
    this.#assertAttached();
    const where = `queue "${this.name}"`;
    validateBody(data, where);
    await this.#ring.write((b, o, c) => writeBody(data, b, o, c, where), bodyFlags(data), options, `send on ${where}`);
  }

  /**
   * Sends a message if there is a free slot.
   * @returns false when the queue is full
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * if (!q.trySend('job 1')) console.log('full: try later');
   * ```
   */
  trySend(data: Uint8Array | string): boolean {
    this.#assertAttached();
    validateBody(data, `queue "${this.name}"`);
    return this.#ring.tryWrite((b, o, c) => writeBody(data, b, o, c, `queue "${this.name}"`), bodyFlags(data));
  }

  /**
   * Receives the next message, waiting while the queue is empty. Resolves `null` once the queue is closed and
   * drained.
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED (detached), ERR_SHM_CORRUPT
   * @example
   * ```ts
   * const m = await q.receive({ timeout: 5000 });
   * if (m === null) console.log('end of stream'); else console.log(m.text());
   * ```
   */
  async receive(options: QueueReceiveOptions = {}): Promise<QueueMessage | null> {
    this.#assertAttached();
    const what = `receive on queue "${this.name}"`;
    const r = await this.#ring.read(readerInto(options.into), deadlineAfter(options.timeout), options.signal, what);
    if (r === TIMED_OUT) throw timeoutError(what, options.timeout ?? 0, this.name);
    return r;
  }

  /**
   * Takes the next message if there is one (`into`: as in {@link receive}).
   * @returns null when empty (or closed and drained: see {@link closed})
   * @throws ERR_CLOSED (detached), ERR_SHM_CORRUPT, ERR_INVALID_ARG
   */
  tryReceive(options: { into?: Uint8Array } = {}): QueueMessage | null {
    this.#assertAttached();
    const r = this.#ring.tryTake(readerInto(options.into));
    return r === EMPTY || r === END ? null : r;
  }

  /**
   * Ends the stream for everyone: later sends throw ERR_CLOSED; receivers get what is left, then `null`.
   * Idempotent. The handle stays attached (call {@link detach} to unmap).
   */
  close(): void {
    this.#assertAttached();
    this.#ring.close();
  }

  /** True once the stream was closed (by any process). */
  get closed(): boolean {
    this.#assertAttached();
    return this.#ring.closed;
  }

  /** Messages in the queue right now (approximate while others work on it). */
  get length(): number {
    this.#assertAttached();
    return this.#ring.stats().length;
  }

  /** Length plus recovery counters (see {@link QueueStats}). */
  stats(): QueueStats {
    this.#assertAttached();
    return this.#ring.stats();
  }

  /**
   * Unmaps this process's view without ending the stream (idempotent). Pending receives reject with ERR_CLOSED.
   */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#ring.segment.close();
  }

  [Symbol.dispose](): void {
    this.detach();
  }

  /** Iterates messages until the end of the stream. */
  async *[Symbol.asyncIterator](): AsyncIterator<QueueMessage> {
    for (;;) {
      const m = await this.receive();
      if (m === null) return;
      yield m;
    }
  }

  #assertAttached(): void {
    if (this.#detached) {
      throw new ShmbusError('ERR_CLOSED', `queue "${this.name}" was detached in this process`, { segment: this.name });
    }
  }
}
