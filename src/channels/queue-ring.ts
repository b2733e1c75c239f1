/**
 * The Queue ring algorithm (PROTOCOL.md §6): a ring of fixed-size slots, each with a state word that carries its
 * ticket, in the style of Vyukov's bounded MPMC queue. Producers claim a slot with a 64-bit CAS that also records
 * their pid, commit with a CAS; consumers take and free the same way. Every hand-over is a CAS on the (seq, pid)
 * pair, so a slot recovered from a holder wrongly judged dead is noticed by that holder instead of corrupting the
 * ring. Over any segment at any 64-byte aligned base (a queue segment at 0; an rpc segment embeds one).
 */
import { ShmbusError } from '../errors.js';
import {
  QUEUE_ABANDONED_OFFSET,
  QUEUE_CLOSED_OFFSET,
  QUEUE_COMMITS_OFFSET,
  QUEUE_CONSUMER_WAITERS_OFFSET,
  QUEUE_HEAD_OFFSET,
  QUEUE_LOST_OFFSET,
  QUEUE_MAX_SLOTS,
  QUEUE_MAX_SLOT_SIZE,
  QUEUE_PRODUCER_WAITERS_OFFSET,
  QUEUE_RELEASES_OFFSET,
  QUEUE_SLOT_FLAGS_OFFSET,
  QUEUE_SLOT_HEADER_SIZE,
  QUEUE_SLOT_LENGTH_OFFSET,
  QUEUE_SLOT_SEQ_OFFSET,
  QUEUE_SLOTS_OFFSET,
  QUEUE_STATE_COMMITTED,
  QUEUE_STATE_TAKEN,
  QUEUE_STATE_WRITING,
  QUEUE_TAIL_OFFSET,
  queueRingSize,
  queueSlotStride,
} from '../protocol/layout.js';
import { Segment } from '../segment/segment.js';
import { deadlineAfter, remaining, throwIfAborted, timeoutError, type WaitOptions } from '../base/deadline.js';
import { wakeCounter } from '../base/park.js';
import { PairWords } from '../base/pair.js';
import { SPIN_CLOCK_MASK, spinClock, validateSpin } from '../base/spin.js';
import type { BodyReader, BodyWriter } from './queue-body.js';
import { HeldSlot } from './queue-loan.js';
import { readOwner, selfStamp, slotHolderAlive, stampOwner, type Stamp } from './queue-recovery.js';
import { parkRing, type ParkableRing } from './queue-park.js';

export const DEFAULT_SPIN_US = 50;
/** Default `livenessInterval`: while a slot is held by another process, sleep at most this long between checks. */
export const LIVENESS_INTERVAL_MS = 50;
/** Consecutive failed CAS/help steps in one call before the ring is declared corrupt (never reached when sane). */
const RETRY_LIMIT = 1 << 22;
const FULL = -1;
const CLOSED = -2;
/** tryTake results besides a message. @internal */
export const EMPTY: unique symbol = Symbol('empty');
export const END: unique symbol = Symbol('end of stream');
/** Returned by QueueRing#read when its deadline passed. @internal */
export const TIMED_OUT: unique symbol = Symbol('timed-out');


/**
 * Told by a consumer's TAKE of the committed message it is about to take, before the TAKE CAS, and told to withdraw
 * that if it lost the race or gave the slot back (the Rpc worker publishes the request it takes: PROTOCOL §8
 * "Worker"). @internal
 */
export interface TakeIntent {
  /**
   * About to take the committed message whose body starts at segment byte `offset`, `length` bytes by its header
   * (a corrupt ring may claim more than slotSize: only the body's first 32 bytes are always inside the slot).
   */
  before(offset: number, length: number): void;
  /** The take was lost to another consumer, or the taken slot was given back. */
  withdraw(): void;
}

/** Counters of one ring handle (this process's sends and receives through it). */
export interface RingCounters {
  sent: number;
  received: number;
  /** Sends retried with a new ticket because their slot was recovered while they wrote it. */
  resent: number;
}

/**
 * The ring machinery. @internal
 */
export class QueueRing implements ParkableRing {
  readonly slots: number;
  readonly slotSize: number;
  readonly segment: Segment;
  /** A DataView over the whole segment payload, for writers of structured bodies. */
  readonly view: DataView;
  /** This handle's counters. */
  readonly counters: RingCounters = { sent: 0, received: 0, resent: 0 };
  readonly #words: Int32Array;
  readonly #words64: BigInt64Array;
  /** The 64-bit (SEQ, PID) CAS without BigInts (src/base/pair.ts): no garbage per message. */
  readonly #pairs: PairWords;
  readonly #bytes: Uint8Array;
  readonly #mask: number;
  readonly #first: number; // byte offset of slot 0
  readonly #stride: number;
  readonly #tail: number; // word indices
  readonly #head: number;
  readonly #commits: number;
  readonly #consumerSleepers: number;
  readonly #releases: number;
  readonly #producerSleepers: number;
  readonly #closed: number;
  readonly #abandoned: number;
  readonly #lost: number;
  readonly #me: Stamp;
  /** Our pid as the high half of a (SEQ, PID) pair (an int32 bit pattern). */
  readonly #pid: number;
  readonly #spinMs: number;
  readonly #livenessMs: number;
  // A slot seen held by another process on the previous failed try: seeing it again triggers a liveness check.
  #stuckIndex = -1;
  #stuckSeq = 0;
  /** Waiters of this process asleep on this ring: [consumers, producers] (only the first one spins). */
  readonly localSleepers = [0, 0];
  /** Result of the last successful #claim: word index of the slot's SEQ and the claimed SEQ (4*ticket + 1). */
  #claimedSi = 0;
  #claimedSeq = 0;

  /**
   * @param spinUs microseconds a waiter re-checks before it sleeps
   * @param livenessMs (optional, default 50) while a slot another process holds blocks a waiter, it sleeps at
   *   most this long between liveness checks of that holder
   */
  constructor(segment: Segment, base: number, slots: number, slotSize: number, spinUs = DEFAULT_SPIN_US, livenessMs = LIVENESS_INTERVAL_MS) {
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
    this.#consumerSleepers = (base + QUEUE_CONSUMER_WAITERS_OFFSET) >> 2;
    this.#releases = (base + QUEUE_RELEASES_OFFSET) >> 2;
    this.#producerSleepers = (base + QUEUE_PRODUCER_WAITERS_OFFSET) >> 2;
    this.#closed = (base + QUEUE_CLOSED_OFFSET) >> 2;
    this.#abandoned = (base + QUEUE_ABANDONED_OFFSET) >> 2;
    this.#lost = (base + QUEUE_LOST_OFFSET) >> 2;
    this.#me = selfStamp();
    this.#pid = this.#me.pid | 0;
    this.#pairs = new PairWords(this.#words);
    this.#spinMs = validateSpin(spinUs, DEFAULT_SPIN_US) / 1000;
    this.#livenessMs = livenessMs;
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
   * If the slot was recovered while we wrote it (we were judged dead), the message was never visible: it is
   * written again under a new ticket (or false if the ring is full by then).
   * @throws ERR_CLOSED after end(), ERR_MESSAGE_TOO_LARGE (from the writer)
   */
  tryWrite(writer: BodyWriter, flags: number): boolean {
    for (;;) {
      const slot = this.#claim();
      if (slot === FULL) return false;
      if (slot === CLOSED) throw this.#closedError();
      const si = this.#claimedSi;
      const seq = this.#claimedSeq;
      const slotOffset = this.#first + slot * this.#stride;
      let length: number;
      try {
        length = writer(this.#bytes, slotOffset + QUEUE_SLOT_HEADER_SIZE, this.slotSize);
      } catch (e) {
        this.#giveBack(si, seq);
        throw e;
      }
      if (this.#commit(si, seq, slotOffset, length, flags)) return true;
      this.counters.resent++;
    }
  }

  /**
   * Claims a slot for a zero-copy send (a loan): fills {@link held} (the slot, its body offset, the pair we hold)
   * and returns true, or false when the ring is full. The slot stays WRITING (our pid) until
   * {@link commitHeld} or {@link abortHeld}; if this process dies first, RECOVER frees it (counted abandoned).
   * @throws ERR_CLOSED after end()
   */
  tryClaim(): boolean {
    const slot = this.#claim();
    if (slot === FULL) return false;
    if (slot === CLOSED) throw this.#closedError();
    this.#hold(slot, this.#claimedSi, this.#claimedSeq, 0, 0);
    return true;
  }

  /**
   * Commits a slot claimed by {@link tryClaim} with `length` body bytes. True when sent; false when the slot was
   * recovered under us (a wrong verdict of death: the loan's bytes may belong to the next owner now, nothing was
   * sent). @throws ERR_CLOSED when the stream ended meanwhile (the slot is given back)
   */
  commitHeld(si: number, seq: number, length: number, flags: number): boolean {
    const slotOffset = ((si << 2) - QUEUE_SLOT_SEQ_OFFSET) | 0;
    return this.#commit(si, seq, slotOffset, length, flags);
  }

  /** Gives back a slot held by a loan (WRITING) or a view (TAKEN) without sending or consuming it. */
  abortHeld(si: number, seq: number): void {
    this.#giveBack(si, seq);
  }

  /**
   * Frees a slot taken by {@link tryTakeSlot} (the view is done). True when freed; false when it had been recovered
   * under us (its recoverer counted it lost; the bytes read through the view may have been overwritten).
   */
  freeHeld(si: number, seq: number): boolean {
    return this.#free(si, seq);
  }

  /** The slot last claimed by tryClaim or taken by tryTakeSlot (reused: copy what you keep). */
  readonly held = { slot: 0, si: 0, seq: 0, offset: 0, length: 0, flags: 0 };

  #hold(slot: number, si: number, seq: number, length: number, flags: number): void {
    const h = this.held;
    h.slot = slot;
    h.si = si;
    h.seq = seq;
    h.offset = this.#first + slot * this.#stride + QUEUE_SLOT_HEADER_SIZE;
    h.length = length;
    h.flags = flags;
  }

  /** Steps 6-9 of Send for a slot we hold WRITING: close check, held check, length/flags, COMMIT, wake. */
  #commit(si: number, seq: number, slotOffset: number, length: number, flags: number): boolean {
    const w = this.#words;
    // SYNC QUEUE-CLOSE-CHECK (seq_cst load after the claim CAS): an end() ordered before our claim makes us give
    // the slot back, so no message is committed after a receiver has already seen the end of the stream.
    if (Atomics.load(w, this.#closed) !== 0) {
      this.#giveBack(si, seq);
      throw this.#closedError();
    }
    // SYNC QUEUE-HELD-CHECK (seq_cst load of the low half; no BigInt): still ours? If a peer recovered the slot while
    // we wrote (a wrong verdict), its next owner's length and flags must not be overwritten: leave it alone.
    if (Atomics.load(w, si) !== seq) return false;
    w[(slotOffset + QUEUE_SLOT_LENGTH_OFFSET) >> 2] = length;
    w[(slotOffset + QUEUE_SLOT_FLAGS_OFFSET) >> 2] = flags;
    // SYNC QUEUE-COMMIT (seq_cst 64-bit CAS, release part): publishes length, flags and body; (WRITING, us) ->
    // (COMMITTED, 0); pairs with the take CAS. Fails only if our slot was recovered (we were judged dead).
    if (!this.#pairs.cas(si, seq, this.#pid, (seq + 1) | 0, 0)) return false;
    this.counters.sent++;
    // SYNC QUEUE-COMMITS (seq_cst RMW): bumps the consumers' futex word; pairs with the load before a sleep.
    const old = Atomics.add(w, this.#commits, 1);
    // SYNC PARK (seq_cst load of the sleepers word, §3 counter rule): wake consumers only if one announced.
    wakeCounter(w, this.#consumerSleepers, this.#commits, old);
    return true;
  }

  /** Returns the slot index claimed (see #claimedSi/#claimedSeq), FULL or CLOSED. */
  #claim(): number {
    const w = this.#words;
    // SYNC QUEUE-CLOSED (seq_cst load): refuse new claims once the stream has ended.
    if (Atomics.load(w, this.#closed) !== 0) return CLOSED;
    // SYNC QUEUE-TAIL (seq_cst load): a ticket hint; the slot's SEQ decides.
    let pos = Atomics.load(w, this.#tail);
    for (let i = 0; i < RETRY_LIMIT; i++) {
      const slot = pos & this.#mask;
      const si = (this.#first + slot * this.#stride) >> 2;
      // SYNC QUEUE-SLOT-LOAD (seq_cst load of the low half: a hint that the CAS below validates as a pair).
      const seq = Atomics.load(w, si);
      const expected = Math.imul(pos, 4);
      const dif = (seq - expected) | 0;
      if (dif === 0) {
        const want = (expected + QUEUE_STATE_WRITING) | 0;
        // SYNC QUEUE-CLAIM (seq_cst 64-bit CAS): (FREE, 0) -> (WRITING, our pid) in one step, so the slot is never
        // held by an unknown process; acquire part pairs with the FREE / RECOVER CAS that freed it for this lap.
        if (this.#pairs.cas(si, seq, 0, want, this.#pid)) {
          // SYNC QUEUE-TAIL (seq_cst CAS): move the hint on; failure means another process helped already.
          Atomics.compareExchange(w, this.#tail, pos, (pos + 1) | 0);
          stampOwner(w, si, want, this.#me);
          this.#claimedSi = si;
          this.#claimedSeq = want;
          return slot;
        }
        // SYNC QUEUE-TAIL (seq_cst load): reload the hint after a lost race.
        pos = Atomics.load(w, this.#tail);
      } else if (dif < 0) {
        // The slot still holds the previous lap's message: full, unless that lap's consumer died holding it.
        if (this.#maybeRecover(si, seq, (Math.imul(pos - this.slots, 4) + QUEUE_STATE_TAKEN) | 0)) continue;
        return FULL;
      } else {
        // Another producer claimed this ticket: help the hint along and try the next one.
        // SYNC QUEUE-TAIL (seq_cst CAS, failure is fine), then reload.
        Atomics.compareExchange(w, this.#tail, pos, (pos + 1) | 0);
        pos = Atomics.load(w, this.#tail);
      }
    }
    throw this.#corrupt('the producer ticket never settles');
  }

  /**
   * Gives back a slot we hold (SEQ = `seq`, WRITING or TAKEN) as FREE for the next lap and wakes both sides. If it
   * was recovered meanwhile there is nothing to give back.
   */
  #giveBack(si: number, seq: number): void {
    // SYNC QUEUE-FREE (seq_cst 64-bit CAS): (our state, us) -> (next lap's FREE, 0).
    if (this.#pairs.cas(si, seq, this.#pid, this.#nextLap(seq), 0)) this.#bump();
  }

  /** FREE of the next lap for a slot whose state word is `seq`. */
  #nextLap(seq: number): number {
    return (Math.imul(this.slots, 4) + (seq & ~3)) | 0;
  }

  /** Wakes both sides after a slot changed hands outside the normal commit/free path. */
  #bump(): void {
    const w = this.#words;
    // SYNC QUEUE-COMMITS (seq_cst RMW), as after a commit; pairs with the load before a consumer sleeps.
    const commits = Atomics.add(w, this.#commits, 1);
    // SYNC QUEUE-RELEASES (seq_cst RMW), as after a free; pairs with the load before a producer sleeps.
    const releases = Atomics.add(w, this.#releases, 1);
    // SYNC PARK (seq_cst loads of both sleepers words, §3 counter rule).
    wakeCounter(w, this.#consumerSleepers, this.#commits, commits);
    wakeCounter(w, this.#producerSleepers, this.#releases, releases);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Consumer side

  /** Takes the next message through `reader`: its result, EMPTY, or END (ended and drained). @throws ERR_SHM_CORRUPT */
  tryTake<T>(reader: BodyReader<T>, intent?: TakeIntent): T | typeof EMPTY | typeof END {
    for (let i = 0; i < RETRY_LIMIT; i++) {
      const slot = this.#take(intent);
      if (slot === EMPTY || slot === END) return slot;
      const h = this.held;
      let out: T;
      try {
        out = reader(this.#bytes, h.offset, h.length, h.flags);
      } catch (e) {
        this.#giveBack(h.si, h.seq);
        intent?.withdraw();
        throw e;
      }
      // A failed FREE means the slot was recovered under us: the copy is void, take the next ticket.
      if (this.#free(h.si, h.seq)) return out;
    }
    throw this.#corrupt('the consumer ticket never settles');
  }

  /**
   * Takes the next message for a zero-copy read (a view): fills {@link held} (slot, body offset, length, flags,
   * the pair we hold) and returns true, or EMPTY / END. The slot stays TAKEN (our pid) until {@link freeHeld} (or
   * {@link abortHeld}); if this process dies first, RECOVER frees it (counted lost). @throws ERR_SHM_CORRUPT
   */
  tryTakeSlot(intent?: TakeIntent): true | typeof EMPTY | typeof END {
    const slot = this.#take(intent);
    return slot === EMPTY || slot === END ? slot : true;
  }

  /** TAKE of the next committed ticket: the slot index ({@link held} filled), EMPTY or END. */
  #take(intent: TakeIntent | undefined): number | typeof EMPTY | typeof END {
    const w = this.#words;
    // SYNC QUEUE-CLOSED (seq_cst load) before looking at the slot: pairs with QUEUE-CLOSE-CHECK in #commit.
    const closed = Atomics.load(w, this.#closed) !== 0;
    // SYNC QUEUE-HEAD (seq_cst load): a ticket hint; the slot's SEQ decides.
    let pos = Atomics.load(w, this.#head);
    for (let i = 0; i < RETRY_LIMIT; i++) {
      const slot = pos & this.#mask;
      const si = (this.#first + slot * this.#stride) >> 2;
      // SYNC QUEUE-SLOT-LOAD (seq_cst load of the low half: a hint that the take CAS validates as a pair).
      const seq = Atomics.load(w, si);
      const committed = (Math.imul(pos, 4) + QUEUE_STATE_COMMITTED) | 0;
      const dif = (seq - committed) | 0;
      if (dif === 0) {
        const taken = (committed + 1) | 0;
        // The body is the committed one while the pair stays (COMMITTED, 0), which the CAS checks; the seq_cst load
        // of SEQ above acquired the producer's COMMIT.
        if (intent !== undefined) {
          const off = this.#first + slot * this.#stride;
          intent.before(off + QUEUE_SLOT_HEADER_SIZE, w[(off + QUEUE_SLOT_LENGTH_OFFSET) >> 2]! >>> 0);
        }
        // SYNC QUEUE-TAKE (seq_cst 64-bit CAS): (COMMITTED, 0) -> (TAKEN, our pid); exactly one consumer wins; the
        // acquire part pairs with the release part of the producer's COMMIT CAS (the body is visible).
        if (this.#pairs.cas(si, committed, 0, taken, this.#pid)) {
          // SYNC QUEUE-HEAD (seq_cst CAS): move the hint on; failure means another consumer helped already.
          Atomics.compareExchange(w, this.#head, pos, (pos + 1) | 0);
          stampOwner(w, si, taken, this.#me);
          const off = this.#first + slot * this.#stride;
          const length = w[(off + QUEUE_SLOT_LENGTH_OFFSET) >> 2]! >>> 0;
          if (length > this.slotSize) {
            this.#giveBack(si, taken);
            intent?.withdraw();
            throw this.#corrupt(`a slot claims ${length} bytes, more than slotSize ${this.slotSize}`);
          }
          this.#hold(slot, si, taken, length, w[(off + QUEUE_SLOT_FLAGS_OFFSET) >> 2]!);
          return slot;
        }
        intent?.withdraw(); // another consumer took it
        // SYNC QUEUE-HEAD (seq_cst load): reload the hint after a lost race.
        pos = Atomics.load(w, this.#head);
      } else if (dif < 0) {
        // Ticket `pos` is not committed yet: empty, unless its producer died while writing it.
        if (this.#maybeRecover(si, seq, (committed - 1) | 0)) continue;
        return closed && seq !== ((committed - 1) | 0) ? END : EMPTY;
      } else {
        // Taken by another consumer (or already freed): help the hint along, then reload (SYNC QUEUE-HEAD).
        Atomics.compareExchange(w, this.#head, pos, (pos + 1) | 0);
        pos = Atomics.load(w, this.#head);
      }
    }
    throw this.#corrupt('the consumer ticket never settles');
  }

  /** QUEUE-FREE of a slot we took: true when freed (and producers woken), false when it was recovered under us. */
  #free(si: number, taken: number): boolean {
    // SYNC QUEUE-FREE (seq_cst 64-bit CAS, release part): the copy is done; (TAKEN, us) -> (next lap's FREE, 0);
    // pairs with the next claim. Fails only if the slot was recovered (we were judged dead): the recoverer counted
    // the message lost and a producer may be overwriting it.
    if (!this.#pairs.cas(si, taken, this.#pid, this.#nextLap(taken), 0)) return false;
    this.counters.received++;
    // SYNC QUEUE-RELEASES (seq_cst RMW): bumps the producers' futex word.
    const old = Atomics.add(this.#words, this.#releases, 1);
    // SYNC PARK (seq_cst load of the producers' sleepers word, §3 counter rule).
    wakeCounter(this.#words, this.#producerSleepers, this.#releases, old);
    return true;
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

  /**
   * Checks the holder of slot word `si` (in state `seq`) and frees the slot if the holder is dead. True when the
   * slot changed (recovered, or moved on meanwhile): the caller looks again.
   */
  recoverIfDead(si: number, seq: number): boolean {
    // SYNC QUEUE-RECOVER-LOAD (seq_cst 64-bit load): the pair we judge, read as one (the pid belongs to this seq).
    const cur = Atomics.load(this.#words64, si >> 1);
    if (Number(BigInt.asUintN(32, cur)) !== seq >>> 0) return true;
    const pid = Number(cur >> 32n);
    const owner = readOwner(this.#words, si, seq);
    if (owner === undefined) return true;
    if (slotHolderAlive(pid, owner.start, owner.ns)) return false;
    // SYNC QUEUE-RECOVER (seq_cst 64-bit CAS): only if the dead holder still holds it; frees it for the next lap.
    if (!this.#pairs.cas(si, seq, pid | 0, this.#nextLap(seq), 0)) return true;
    // Statistics counter (seq_cst RMW, after the CAS: counted once, by the winner): abandoned or lost.
    Atomics.add(this.#words, (seq & 3) === QUEUE_STATE_WRITING ? this.#abandoned : this.#lost, 1);
    this.#stuckIndex = -1;
    this.#bump();
    return true;
  }

  /** The slot that blocks a waiting consumer (head, WRITING) or producer (tail, previous lap TAKEN), if any. */
  blocker(consumer: boolean): { si: number; seq: number } | undefined {
    const w = this.#words;
    // SYNC QUEUE-HEAD / QUEUE-TAIL (seq_cst load): which slot a waiter waits on.
    const pos = Atomics.load(w, consumer ? this.#head : this.#tail);
    const si = (this.#first + (pos & this.#mask) * this.#stride) >> 2;
    // SYNC QUEUE-SLOT-LOAD (seq_cst load of the low half): the state of the slot a waiter waits on (a hint).
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
   * another process holds the blocking slot) the liveness interval elapses. Spins first, unless `spin` is false
   * (the caller spun already).
   */
  park(consumer: boolean, seen: number, deadline: number, signal: AbortSignal | undefined, spin = true): Promise<void> {
    return parkRing(this, {
      words: this.#words,
      word: consumer ? this.#commits : this.#releases,
      sleepers: consumer ? this.#consumerSleepers : this.#producerSleepers,
      consumer,
      seen,
      deadline,
      signal,
      spinMs: spin ? this.#spinMs : 0,
      livenessMs: this.#livenessMs,
    });
  }

  /**
   * The spin of a waiter, synchronously: re-reads the side's futex word (commits for consumers, releases for
   * producers) for up to the spin time; true when it moved from `seen`. Only the first waiter of this process
   * spins (as in parkRing). The clock is first read after 128 loads: a message that follows closely costs no clock
   * read (performance.now() allocates on Node 20).
   */
  #spinFor(consumer: boolean, seen: number): boolean {
    if (this.#spinMs <= 0 || this.localSleepers[consumer ? 0 : 1] !== 0) return false;
    const w = this.#words;
    const word = consumer ? this.#commits : this.#releases;
    let until = 0;
    for (let i = 1; ; i++) {
      // SYNC QUEUE-COMMITS / QUEUE-RELEASES (seq_cst load): spin until the futex word moves.
      if (Atomics.load(w, word) !== seen) return true;
      if ((i & SPIN_CLOCK_MASK) === 0 && (until = spinClock(until, this.#spinMs)) < 0) return false;
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

  /** Ends the stream for everyone: no new claims; receivers drain and then see the end. Idempotent. */
  end(): void {
    // SYNC QUEUE-END (seq_cst RMW): pairs with QUEUE-CLOSED in #claim and tryTake, QUEUE-CLOSE-CHECK in tryWrite.
    if (Atomics.exchange(this.#words, this.#closed, 1) === 0) this.#bump();
  }

  /** The old name of {@link end} (Rpc uses it). */
  close(): void {
    this.end();
  }

  get closed(): boolean {
    // SYNC QUEUE-CLOSED (seq_cst load)
    return Atomics.load(this.#words, this.#closed) !== 0;
  }

  /** Shared-memory statistics: depth (0..slots), abandoned, lost. */
  shared(): { length: number; abandoned: number; lost: number } {
    const w = this.#words;
    // Statistics (seq_cst loads of the two hints and the counters, reporting only).
    const length = (Atomics.load(w, this.#tail) - Atomics.load(w, this.#head)) | 0;
    return {
      length: Math.max(0, Math.min(this.slots, length)),
      abandoned: Atomics.load(w, this.#abandoned) >>> 0,
      lost: Atomics.load(w, this.#lost) >>> 0,
    };
  }

  /** @deprecated name kept for Rpc: {@link shared}. */
  stats(): { length: number; abandoned: number; lost: number } {
    return this.shared();
  }

  #closedError(): ShmbusError {
    return new ShmbusError('ERR_CLOSED', `queue "${this.segment.name}" has ended (end of stream)`, {
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
    await this.#producerWait(() => this.tryWrite(writer, flags), options, what);
  }

  /**
   * {@link tryClaim} with backpressure: resolves with the claimed slot. A snapshot taken in the same synchronous
   * step as the claim: {@link held} may name another caller's slot by the time an await resumes.
   */
  async claim(options: WaitOptions, what: string): Promise<HeldSlot> {
    const deadline = deadlineAfter(options.timeout);
    const r = await this.#wait(false, () => (this.tryClaim() ? new HeldSlot(this) : EMPTY), deadline, options.signal, what);
    if (r === TIMED_OUT) throw timeoutError(what, options.timeout ?? 0, this.segment.name);
    return r as HeldSlot;
  }

  async #producerWait(attempt: () => boolean, options: WaitOptions, what: string): Promise<void> {
    const deadline = deadlineAfter(options.timeout);
    const r = await this.#wait(false, () => (attempt() ? true : EMPTY), deadline, options.signal, what);
    if (r === TIMED_OUT) throw timeoutError(what, options.timeout ?? 0, this.segment.name);
  }

  /**
   * Receives through `reader`: its result, null at the end of the stream, or TIMED_OUT when `deadline` passes.
   * `spun`: the caller tried and spun already ({@link takeOrSpin}), so the first sleep comes without a spin.
   */
  read<T>(
    reader: BodyReader<T>,
    deadline: number,
    signal: AbortSignal | undefined,
    what: string,
    spun = false,
    intent?: TakeIntent,
  ): Promise<T | null | typeof TIMED_OUT> {
    return this.#wait(true, () => this.tryTake(reader, intent), deadline, signal, what, spun);
  }

  /**
   * {@link tryTakeSlot} that waits: the taken slot (a snapshot made with the take, as in {@link claim}), null at
   * the end, or TIMED_OUT. `spun`: as in read.
   */
  takeSlot(
    deadline: number,
    signal: AbortSignal | undefined,
    what: string,
    spun = false,
    intent?: TakeIntent,
  ): Promise<HeldSlot | null | typeof TIMED_OUT> {
    return this.#wait(
      true,
      () => {
        const r = this.tryTakeSlot(intent);
        return r === true ? new HeldSlot(this) : r;
      },
      deadline,
      signal,
      what,
      spun,
    );
  }

  /**
   * {@link tryTake}, and when the queue is empty a waiting consumer's spin and one more try, all synchronous: what
   * a receive does before it needs any async machinery (then it calls {@link read} with `spun`). `spin` false:
   * only the try (a receive with timeout 0).
   */
  takeOrSpin<T>(reader: BodyReader<T>, spin: boolean): T | typeof EMPTY | typeof END {
    const seen = this.commitsSeen();
    const r = this.tryTake(reader);
    return r === EMPTY && spin && this.#spinFor(true, seen) ? this.tryTake(reader) : r;
  }

  /** {@link tryTakeSlot} with the spin of {@link takeOrSpin}. */
  takeSlotOrSpin(spin: boolean): true | typeof EMPTY | typeof END {
    const seen = this.commitsSeen();
    const r = this.tryTakeSlot();
    return r === EMPTY && spin && this.#spinFor(true, seen) ? this.tryTakeSlot() : r;
  }

  /**
   * Tries, then parks on the side's futex word until the try succeeds, the stream ends or `deadline` passes. The
   * first try and the spin run synchronously, before any async machinery: a message (or a free slot) that comes
   * within the spin is returned through one resolved promise, with no async frame, park request or park promise
   * (each an allocation and a microtask hop per message: the garbage of a Queue or Rpc round trip drove its
   * scavenges, and a scavenge on one side runs the other side's spin out into a futex sleep).
   */
  #wait<T>(
    consumer: boolean,
    attempt: () => T | typeof EMPTY | typeof END,
    deadline: number,
    signal: AbortSignal | undefined,
    what: string,
    spun = false,
  ): Promise<T | null | typeof TIMED_OUT> {
    try {
      throwIfAborted(signal, what);
      const seen = consumer ? this.commitsSeen() : this.releasesSeen();
      let r = attempt();
      if (r === EMPTY && !spun && remaining(deadline) !== 0 && this.#spinMs > 0) {
        if (this.#spinFor(consumer, seen)) r = attempt();
        else spun = true; // ran out (or another waiter of ours spins): the first park sleeps at once
      }
      if (r === END) return Promise.resolve(null);
      if (r !== EMPTY) return Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#waitSlow(consumer, attempt, deadline, signal, what, spun);
  }

  /** The loop of {@link #wait} once the fast path found nothing; the first park skips its spin if we spun. */
  async #waitSlow<T>(
    consumer: boolean,
    attempt: () => T | typeof EMPTY | typeof END,
    deadline: number,
    signal: AbortSignal | undefined,
    what: string,
    spun: boolean,
  ): Promise<T | null | typeof TIMED_OUT> {
    for (;;) {
      throwIfAborted(signal, what);
      const seen = consumer ? this.commitsSeen() : this.releasesSeen();
      const r = attempt();
      if (r === END) return null;
      if (r !== EMPTY) return r;
      if (remaining(deadline) === 0) return TIMED_OUT;
      await this.park(consumer, seen, deadline, signal, !spun);
      spun = false;
    }
  }
}
