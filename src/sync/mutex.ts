/**
 * Mutex: a robust cross-process lock over 32 bytes of shared memory (PROTOCOL.md §4.1). The lock word holds the
 * owner's pid, so taking a free lock is one compare-and-swap and releasing an uncontended one is one exchange: no
 * system call. A waiter sleeps on the futex in slices of `livenessInterval` ms and checks the owner between them
 * (pid + process start time); if the owner died holding the lock, the waiter takes it over and is told
 * `recovered: true`.
 */
import { ShmbusError } from '../errors.js';
import {
  MUTEX_OWNER_NS_OFFSET,
  MUTEX_OWNER_PID_OFFSET,
  MUTEX_OWNER_START_OFFSET,
  MUTEX_OWNER_THREAD_OFFSET,
  MUTEX_PID_MASK,
  MUTEX_RECOVERIES_OFFSET,
  MUTEX_SIZE,
  MUTEX_WAITERS,
  MUTEX_WORD_OFFSET,
} from '../protocol/layout.js';
import { holderAlive } from '../base/process.js';
import { Segment } from '../segment/segment.js';
import { throwIfAborted, validateTimeout } from '../base/deadline.js';
import { wake } from '../base/futex.js';
import { spinFor } from '../base/spin.js';
import {
  CLEAN,
  identity,
  RECOVERED,
  robustOptions,
  startTime,
  SyncPrimitive,
  WaitSet,
  callOptions,
  contendAsync,
  contendSync,
  type Contender,
  type LockOptions,
  type LockResult,
  type Me,
  type NamedLayout,
  type RobustOptions,
  type SleepOn,
  type SyncCreateOptions,
} from './primitive.js';

export type { LockOptions, LockResult } from './primitive.js';

export type MutexOptions = RobustOptions;

const W = MUTEX_WORD_OFFSET / 4;
const OWNER_PID = MUTEX_OWNER_PID_OFFSET / 4;
const START_LO = MUTEX_OWNER_START_OFFSET / 4;
const START_HI = START_LO + 1;
const THREAD = MUTEX_OWNER_THREAD_OFFSET / 4;
const RECOVERIES = MUTEX_RECOVERIES_OFFSET / 4;
const NS = MUTEX_OWNER_NS_OFFSET / 4;

/**
 * The lock algorithm over one mutex's words, shared by {@link Mutex} and the other primitives that embed a mutex.
 * No validation here: callers hand in checked placements.
 * @internal
 */
export class MutexCore implements Contender<LockResult> {
  readonly words: Int32Array;
  readonly base: number;
  readonly livenessInterval: number;
  readonly spin: number;
  readonly #me: Me;
  /**
   * This object took the lock and has not released it since (a hint: another object over the same memory in this
   * thread may have released it meanwhile, so {@link heldByMe} still confirms it against shared memory).
   */
  #holding = false;
  /** tryLock's memory of a busy word: the value and when it was first seen, so it can check liveness sometimes. */
  #seenValue = 0;
  #seenSince = 0;
  /**
   * A word value whose holder's identity was incomplete (ownerPid not yet its pid) at the last liveness check.
   * Such a holder is judged only when the same value is still incomplete at the next check: a live holder
   * finishes its identity stores within instructions, and its pid may mean nothing in this pid namespace.
   */
  #incomplete = 0;

  /**
   * Ledger mode (PROTOCOL.md §4.3, the Semaphore's internal mutex): unlock leaves the identity in place and a
   * locker rewrites only what differs, so re-locking by the same process stores nothing but the word. Nobody may
   * ask such a mutex who holds it (it is never held across calls): {@link heldByMe} is not used with it.
   */
  readonly #keepIdentity: boolean;

  constructor(
    words: Int32Array,
    base: number,
    options: { livenessInterval: number; spin: number },
    keepIdentity = false,
  ) {
    this.words = words;
    this.base = base;
    this.livenessInterval = options.livenessInterval;
    this.spin = options.spin;
    this.#me = identity();
    this.#keepIdentity = keepIdentity;
    if (this.#me.pid > MUTEX_PID_MASK) {
      throw new ShmbusError('ERR_OS', `pid ${this.#me.pid} does not fit the mutex word (${MUTEX_PID_MASK} max)`);
    }
    if (keepIdentity) this.#clearForeignRecordOfMyPid();
  }

  /**
   * Ledger mode, before this object's first lock: a record with our pid but another start time is a dead
   * process's whose pid we now have (only a process with our pid writes our pid, and while we live that is us).
   * Left in place it would vouch for us while we are between our CAS and our identity stores, and a checker
   * would take the mutex from us; nothing can write such a record again, so clearing it once is enough.
   */
  #clearForeignRecordOfMyPid(): void {
    const w = this.words;
    const b = this.base;
    const me = this.#me;
    // MUTEX-IDENTITY (acquire load of ownerPid, then the start halves).
    if (Atomics.load(w, b + OWNER_PID) !== me.pid) return;
    if (Atomics.load(w, b + START_LO) === me.startLo && Atomics.load(w, b + START_HI) === me.startHi) return;
    // Our pid number in another pid namespace is another (maybe live) process, not a dead namesake of ours.
    const ns = Atomics.load(w, b + NS);
    if (ns !== 0 && me.ns !== 0 && ns !== me.ns) return;
    // MUTEX-IDENTITY (CAS ownerPid me -> 0): clears only that record; a holder's newer record (not our pid) stays.
    Atomics.compareExchange(w, b + OWNER_PID, me.pid, 0);
  }

  /** One attempt, no waiting and no liveness check: the fast path. */
  tryAcquire(): boolean {
    // SYNC MUTEX-ACQUIRE (acquire, CAS 0 -> pid): pairs with MUTEX-RELEASE; the guarded data is visible after it.
    if (Atomics.compareExchange(this.words, this.base + W, 0, this.#me.pid) !== 0) return false;
    this.#publishOwner();
    return true;
  }

  /** True when this thread holds the lock (pid, complete identity, start time and thread all match). */
  heldByMe(): boolean {
    const w = this.words;
    const b = this.base;
    const me = this.#me;
    // Fast path: this object took the lock, so the record was ours; if `ownerPid` is still our pid (cleared before
    // every release, and no live holder is taken over) and `ownerThread` still our thread, we hold it. A stale
    // hint fails one of the two and falls through to the full check.
    // MUTEX-IDENTITY (acquire load of ownerPid, then ownerThread): a thread of ours that published after our
    // release wrote ownerThread before ownerPid, so seeing its ownerPid means seeing its thread.
    if (this.#holding && Atomics.load(w, b + OWNER_PID) === me.pid && Atomics.load(w, b + THREAD) === me.thread) {
      return true;
    }
    // Relaxed reads suffice: only this thread could have written a matching identity.
    return (
      ((Atomics.load(w, b + W) & MUTEX_PID_MASK) === me.pid) &&
      Atomics.load(w, b + OWNER_PID) === me.pid &&
      Atomics.load(w, b + THREAD) === me.thread &&
      Atomics.load(w, b + START_LO) === me.startLo &&
      Atomics.load(w, b + START_HI) === me.startHi &&
      Atomics.load(w, b + NS) === me.ns
    );
  }

  /** tryLock: the CAS, then a liveness check if the same holder was seen busy for a whole interval. */
  tryLock(): LockResult | null {
    if (this.tryAcquire()) return CLEAN;
    // Acquire probe of the word (pairs with MUTEX-RELEASE); the CAS in tryAcquire synchronises.
    const v = Atomics.load(this.words, this.base + W);
    if (v === 0) return this.tryAcquire() ? CLEAN : null;
    const now = performance.now();
    if (v !== this.#seenValue) {
      this.#seenValue = v;
      this.#seenSince = now;
      return null;
    }
    if (now - this.#seenSince < this.livenessInterval) return null;
    this.#seenSince = now;
    return this.#takeOverIfDead(v) ? RECOVERED : null;
  }

  lockSync(timeout: number, what: string): LockResult {
    if (this.tryAcquire()) return CLEAN;
    if (!this.#keepIdentity && this.heldByMe()) throw this.#selfDeadlock(what, 'lockSync');
    if (this.#spinAcquire()) return CLEAN;
    return contendSync(this, timeout, `locking ${what}`);
  }

  async lock(options: LockOptions, what: string, owner: WaitSet, isClosed: () => boolean): Promise<LockResult> {
    validateTimeout(options.timeout);
    throwIfAborted(options.signal, `locking ${what}`);
    if (this.tryAcquire()) return CLEAN;
    // This very object holds it: waiting would never end. Another object of this thread may hold it (two Topic
    // handles, say): an async wait can outlast that hold, so only the object's own re-lock is refused here.
    if (!this.#keepIdentity && this.#holding && this.heldByMe()) throw this.#selfDeadlock(what, 'lock');
    if (this.#spinAcquire()) return CLEAN;
    return contendAsync(this, options, `locking ${what}`, owner, isClosed);
  }

  #selfDeadlock(what: string, call: string): ShmbusError {
    return new ShmbusError('ERR_INVALID_ARG', `this thread already holds ${what}: ${call} would deadlock`);
  }

  /** Releases; throws ERR_NOT_OWNER unless this thread holds the lock. */
  unlock(what: string): void {
    if (!this.heldByMe()) {
      throw new ShmbusError('ERR_NOT_OWNER', `this thread does not hold ${what}; only its owner may unlock it`);
    }
    this.release();
  }

  /** Releases without the ownership check (callers have checked). */
  release(): void {
    const w = this.words;
    const b = this.base;
    this.#holding = false;
    // Clear the identity first, so a later holder with the same pid number is never judged by this one's record
    // (ledger mode keeps it: see #clearForeignRecordOfMyPid and PROTOCOL.md §4.3).
    // MUTEX-IDENTITY (store 0, before MUTEX-RELEASE): pairs with the acquire load in mutexHolderAlive.
    if (!this.#keepIdentity) Atomics.store(w, b + OWNER_PID, 0);
    // SYNC MUTEX-RELEASE (release, exchange -> 0): publishes the guarded writes; pairs with MUTEX-ACQUIRE.
    const old = Atomics.exchange(w, b + W, 0);
    // Only a set waiters bit costs a system call; the uncontended path has none.
    if ((old & MUTEX_WAITERS) !== 0) wake(w, b + W, 1);
  }

  /**
   * One round of the contended path: take a free word (keeping the waiters bit, since others may sleep), set the
   * waiters bit on a held one, take over a dead holder's when a liveness check is due. null = still held.
   */
  attempt(checkLiveness: boolean): LockResult | null {
    const w = this.words;
    const b = this.base;
    // Acquire probe of the word; the CAS below is the synchronising step (MUTEX-ACQUIRE).
    const v = Atomics.load(w, b + W);
    if (v === 0) {
      // SYNC MUTEX-ACQUIRE (acquire, CAS 0 -> pid|WAITERS): as in tryAcquire; we may not be the last sleeper.
      if (Atomics.compareExchange(w, b + W, 0, this.#me.pid | MUTEX_WAITERS) === 0) {
        this.#publishOwner();
        return CLEAN;
      }
      return null;
    }
    if ((v & MUTEX_WAITERS) === 0) {
      // SYNC MUTEX-WAITERS (seq-cst CAS v -> v|WAITERS): pairs with the exchange in MUTEX-RELEASE, which sees it.
      Atomics.compareExchange(w, b + W, v, v | MUTEX_WAITERS);
      return null;
    }
    if (checkLiveness && this.#takeOverIfDead(v)) return RECOVERED;
    return null;
  }

  #spinAcquire(): boolean {
    const w = this.words;
    const i = this.base + W;
    // Polling read of the word: the CAS in tryAcquire is the synchronising step.
    return spinFor(this.spin, () => (Atomics.load(w, i) === 0 && this.tryAcquire() ? true : null)) === true;
  }

  /** If word value `v`'s holder is dead, takes the lock over (CAS on exactly `v`): true when this caller got it. */
  #takeOverIfDead(v: number): boolean {
    const w = this.words;
    const b = this.base;
    // SYNC MUTEX-IDENTITY (acquire load of ownerPid): the record the verdict below is about.
    const recorded = Atomics.load(w, b + OWNER_PID);
    if (mutexHolderAlive(w, b, v, recorded)) return false;
    if (recorded !== (v & MUTEX_PID_MASK) && this.#incomplete !== v) {
      // Incomplete identity: judged only if it is still incomplete at the next check (see #incomplete).
      this.#incomplete = v;
      return false;
    }
    this.#incomplete = 0;
    // The dead holder's own record must not vouch for whoever comes next (see PROTOCOL.md §4.1 "identity
    // window"). Only that record is cleared, by CAS from exactly the judged value: `v` may be stale, and a record
    // that is not v's holder's belongs to a newer, live holder (or to nobody), which must never be erased, or that
    // holder could no longer unlock.
    // MUTEX-IDENTITY (CAS recorded -> 0, before MUTEX-RECOVER): pairs with the acquire load in mutexHolderAlive.
    if (recorded === (v & MUTEX_PID_MASK) && Atomics.compareExchange(w, b + OWNER_PID, recorded, 0) !== recorded) {
      return false;
    }
    // SYNC MUTEX-RECOVER (acquire, CAS deadValue -> pid|WAITERS): only one recoverer wins; others may sleep too.
    if (Atomics.compareExchange(w, b + W, v, this.#me.pid | MUTEX_WAITERS) !== v) return false;
    this.#publishOwner();
    // Statistics only (seq-cst RMW, no ordering needed: nothing is read from it; it is under the mutex anyway).
    Atomics.add(w, b + RECOVERIES, 1);
    return true;
  }

  /** Writes the owner identity after a successful CAS; the pid last, so a matching pid vouches for the rest. */
  #publishOwner(): void {
    const w = this.words;
    const b = this.base;
    const me = this.#me;
    // Reads first: rewriting an unchanged companion would cost a fenced store on the uncontended path. Plain
    // reads: only a holder writes the companions, and we hold the lock (MUTEX-ACQUIRE ordered the previous
    // holder's writes before us; a dead holder's writes are complete), so these reads race with no write.
    // Companion stores (seq-cst): made visible by the MUTEX-IDENTITY release store below.
    if (w[b + THREAD] !== me.thread) Atomics.store(w, b + THREAD, me.thread);
    if (w[b + START_LO] !== me.startLo) Atomics.store(w, b + START_LO, me.startLo);
    if (w[b + START_HI] !== me.startHi) Atomics.store(w, b + START_HI, me.startHi);
    if (w[b + NS] !== me.ns) Atomics.store(w, b + NS, me.ns);
    // SYNC MUTEX-IDENTITY (release store of ownerPid): pairs with the acquire load in mutexHolderAlive. Ledger
    // mode skips it when ownerPid is already ours (plain read: a racing recoverer's clear would only leave the
    // identity incomplete, judged by the pid alone); the companions are then ours too, since anyone who rewrites
    // them rewrites ownerPid, or dies holding the mutex and its recoverer clears ownerPid.
    if (!this.#keepIdentity || w[b + OWNER_PID] !== me.pid) Atomics.store(w, b + OWNER_PID, me.pid);
    this.#holding = true;
  }

  /** Contender: sleep on the word while it is held with the waiters bit set. */
  sleepOn(): SleepOn | null {
    // Acquire probe of the word for FUTEX_WAIT's expected value; pairs with MUTEX-RELEASE / MUTEX-WAITERS.
    const v = Atomics.load(this.words, this.base + W);
    return (v & MUTEX_WAITERS) === 0 ? null : { index: this.base + W, value: v };
  }

  /**
   * A waiter that gives up (timeout, abort, close) may have consumed the one wake an unlock sent; pass it on so
   * the other sleepers do not wait out their liveness interval.
   */
  giveUp(): void {
    // Probe (load, no partner needed): only decides whether to pass a wake on.
    const v = Atomics.load(this.words, this.base + W);
    if (v === 0 || (v & MUTEX_WAITERS) !== 0) wake(this.words, this.base + W, 1);
  }
}

/**
 * True while the holder recorded in mutex word value `v` is alive. A complete identity (ownerPid == the word's
 * pid) is checked by pid + start time, so pid reuse cannot fool it; an incomplete one (the holder is between its
 * CAS and its identity stores, or died there) by the pid alone.
 * @internal
 */
export function mutexHolderAlive(
  words: Int32Array,
  base: number,
  v: number,
  // SYNC MUTEX-IDENTITY (acquire load of ownerPid): a matching pid makes the start time below the holder's own.
  recorded: number = Atomics.load(words, base + OWNER_PID),
): boolean {
  const pid = v & MUTEX_PID_MASK;
  if (pid === 0) return false; // a waiters bit without an owner: corrupt, treat as free to take over
  // Incomplete identity: the pid alone decides (our own pid: another thread of ours, between its CAS and stores).
  if (recorded !== pid) return pid === identity().pid || holderAlive(pid, 0, 0);
  // Start halves and ns: ordered after the acquire load of ownerPid above (MUTEX-IDENTITY).
  const hi = Atomics.load(words, base + START_HI);
  const lo = Atomics.load(words, base + START_LO);
  return holderAlive(pid, startTime(lo, hi), Atomics.load(words, base + NS) >>> 0);
}

/**
 * A robust mutual-exclusion lock shared by processes. Named (its own segment) or embedded at an 8-aligned offset
 * of a segment ({@link MUTEX_SIZE} bytes, all-zero = unlocked). Ownership is per thread: only the thread that
 * locked it may unlock it; a second lock from the holding thread (sync or async) is refused with ERR_INVALID_ARG
 * (it would deadlock). If the holding process dies, the next waiter takes the lock over and gets
 * `{ recovered: true }`. A holder in another pid namespace is never judged dead (PROTOCOL.md §4.0).
 *
 * @example
 * ```ts
 * const m = Mutex.create('jobs.lock');
 * const { recovered } = await m.lock({ timeout: 1000 });
 * try { if (recovered) repairJobs(); doWork(); } finally { m.unlock(); }
 * await m.withLock(async () => doWork());
 * m.close(); Mutex.unlink('jobs.lock');
 * ```
 */
export class Mutex extends SyncPrimitive {
  /** What Mutex.create / Mutex.open make (kind 'mutex', MUTEX_SIZE bytes, zero = unlocked). */
  static readonly layout: NamedLayout<SyncCreateOptions> = { kind: 'mutex', size: MUTEX_SIZE };
  readonly #core: MutexCore;

  /**
   * Uses the {@link MUTEX_SIZE} bytes at `byteOffset` (a multiple of {@link MUTEX_ALIGN}) of `segment` as a
   * mutex. Zero bytes are an unlocked mutex, so a fresh segment needs no initialisation.
   * @throws ERR_INVALID_ARG (not a Segment, misaligned, out of range, bad options), ERR_CLOSED
   * @example
   * ```ts
   * const seg = Segment.create('chan', { size: 4096 });
   * const writers = new Mutex(seg, 64);
   * ```
   */
  constructor(segment: Segment, byteOffset: number, options: MutexOptions = {}) {
    super('mutex', segment, byteOffset, MUTEX_SIZE);
    this.#core = new MutexCore(segment.words, this.placement.base, robustOptions(options));
  }

  /**
   * Takes the lock, waiting (without blocking the event loop) while another thread or process holds it.
   * Ownership is per thread: while this thread (any of its async tasks) holds it, lock() refuses at once.
   * @returns `{ recovered }`: true when the previous holder died holding it.
   * @throws ERR_TIMEOUT after `timeout` ms, ERR_ABORTED when `signal` aborts, ERR_CLOSED, ERR_INVALID_ARG (bad
   * options, or this thread already holds it)
   * @example
   * ```ts
   * const { recovered } = await m.lock({ timeout: 500 });
   * ```
   */
  lock(options: LockOptions = {}): Promise<LockResult> {
    try {
      this.assertOpen();
      options = callOptions(options, 'Mutex.lock');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#core.lock(options, this.placement.what, this.waits, () => this.isClosed());
  }

  /**
   * Takes the lock, blocking this thread while another holds it.
   * @throws ERR_TIMEOUT, ERR_CLOSED, ERR_INVALID_ARG (bad timeout, or this thread already holds it: a deadlock)
   * @example
   * ```ts
   * m.lockSync({ timeout: 100 }); try { work(); } finally { m.unlock(); }
   * ```
   */
  lockSync(options: { timeout?: number } = {}): LockResult {
    this.assertOpen();
    return this.#core.lockSync(validateTimeout(callOptions(options, 'Mutex.lockSync').timeout), this.placement.what);
  }

  /**
   * Takes the lock if it is free. Never sleeps. A holder seen busy for a whole `livenessInterval` by this object is
   * checked for liveness (and taken over if dead).
   * @returns `{ recovered }` when taken, `null` when another holds it.
   * @throws ERR_CLOSED
   */
  tryLock(): LockResult | null {
    this.assertOpen();
    return this.#core.tryLock();
  }

  /**
   * Releases the lock and wakes one waiter (a system call only when some waiter sleeps).
   * @throws ERR_NOT_OWNER when this thread does not hold it, ERR_CLOSED
   */
  unlock(): void {
    this.assertOpen();
    this.#core.unlock(this.placement.what);
  }

  /** True when this thread holds the lock. @throws ERR_CLOSED */
  get isLockedByMe(): boolean {
    this.assertOpen();
    return this.#core.heldByMe();
  }

  /**
   * Runs `fn` holding the lock and releases it afterwards, also when `fn` throws.
   * @throws whatever `fn` throws; ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED from locking
   * @example
   * ```ts
   * const n = await m.withLock(async ({ recovered }) => (recovered ? repair() : next()));
   * ```
   */
  async withLock<T>(fn: (result: LockResult) => T | Promise<T>, options: LockOptions = {}): Promise<T> {
    const result = await this.lock(options);
    try {
      return await fn(result);
    } finally {
      if (!this.isClosed() && this.#core.heldByMe()) this.#core.release();
    }
  }
}
