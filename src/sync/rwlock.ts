/**
 * RwLock: a robust cross-process reader-writer lock with writer preference (PROTOCOL.md §4.2). Writers take an
 * embedded Mutex, raise the `writer` flag (new readers back off) and wait until the reader slots drain. Each read
 * hold occupies one of 32 slots that records its holder, so a dead reader's hold can be released; a dead writer is
 * recovered through the Mutex.
 */
import { ShmbusError } from '../errors.js';
import {
  MUTEX_WORD_OFFSET,
  RWLOCK_MUTEX_OFFSET,
  RWLOCK_OCCUPIED_OFFSET,
  RWLOCK_OCCUPIED_WAITERS_OFFSET,
  RWLOCK_SIZE,
  RWLOCK_SLOT_COUNT,
  RWLOCK_SLOT_NS_OFFSET,
  RWLOCK_SLOT_PID_OFFSET,
  RWLOCK_SLOT_SIZE,
  RWLOCK_SLOT_START_OFFSET,
  RWLOCK_SLOT_THREAD_OFFSET,
  RWLOCK_SLOTS_OFFSET,
  RWLOCK_WRITER_OFFSET,
  RWLOCK_WRITER_WAITERS,
} from '../protocol/layout.js';
import { holderAlive } from '../base/process.js';
import { Segment } from '../segment/segment.js';
import { deadlineAfter, remaining, throwIfAborted, validateTimeout } from '../base/deadline.js';
import { wake } from '../base/futex.js';
import { wakeSleepers } from '../base/park.js';
import { mutexHolderAlive, MutexCore } from './mutex.js';
import { spinFor } from '../base/spin.js';
import {
  CLEAN,
  callOptions,
  contendAsync,
  contendSync,
  identity,
  RECOVERED,
  robustOptions,
  startTime,
  SyncPrimitive,
  type Contender,
  type LockOptions,
  type LockResult,
  type Me,
  type NamedLayout,
  type RobustOptions,
  type SleepOn,
  type SyncCreateOptions,
} from './primitive.js';

export type RwLockOptions = RobustOptions;
const FULL = -1; // all 32 occupancy bits set, as an Int32
/** The hold of a reader that took a dead writer's lock over: exclusive until its read unlock. */
const EXCLUSIVE = -1;

/** The algorithm over one rwlock's words. @internal */
class RwCore {
  readonly words: Int32Array;
  readonly livenessInterval: number;
  readonly spin: number;
  readonly mutex: MutexCore;
  readonly writer: number;
  readonly occupied: number;
  readonly occWaiters: number;
  readonly slots: number;
  readonly me: Me;
  /**
   * This object raised `writer` as a write lock (not a reader's take-over) and has not lowered it since; a hint
   * that {@link writeHeldByMe} confirms through the Mutex.
   */
  writing = false;
  /** Slots this object's read holds occupy (this thread's, any of its async tasks), newest last. */
  readonly held: number[] = [];
  /** Counts this object's write locks: withWrite releases only the hold it took (a token, not "whoever holds"). */
  writeGen = 0;
  readonly #preferred: number;
  /** Per slot: the pid seen claimed-but-unpublished at the last check (judged only when seen twice). */
  readonly #unpublished = new Int32Array(RWLOCK_SLOT_COUNT);

  constructor(words: Int32Array, base: number, options: { livenessInterval: number; spin: number }) {
    this.words = words;
    this.livenessInterval = options.livenessInterval;
    this.spin = options.spin;
    this.mutex = new MutexCore(words, base + RWLOCK_MUTEX_OFFSET / 4, options);
    this.writer = base + RWLOCK_WRITER_OFFSET / 4;
    this.occupied = base + RWLOCK_OCCUPIED_OFFSET / 4;
    this.occWaiters = base + RWLOCK_OCCUPIED_WAITERS_OFFSET / 4;
    this.slots = base + RWLOCK_SLOTS_OFFSET / 4;
    this.me = identity();
    // Spread threads over the slots so that readers rarely race for one.
    this.#preferred = (this.me.pid * 7 + this.me.thread * 13) % RWLOCK_SLOT_COUNT;
  }

  slotWord(slot: number, fieldOffset: number): number {
    return this.slots + (slot * RWLOCK_SLOT_SIZE + fieldOffset) / 4;
  }

  /** Claims a free slot for this thread and writes its identity (not yet published): its index, or -1. */
  claim(): number {
    const w = this.words;
    const me = this.me;
    for (let k = 0; k < RWLOCK_SLOT_COUNT; k++) {
      const slot = (this.#preferred + k) % RWLOCK_SLOT_COUNT;
      const pid = this.slotWord(slot, RWLOCK_SLOT_PID_OFFSET);
      // Plain read of pid: only a hint that skips a CAS bound to fail (the CAS decides).
      // SYNC RW-SLOT-CLAIM (CAS pid 0 -> me): exclusive claim; pairs with the pid store 0 in release().
      if (w[pid] !== 0 || Atomics.compareExchange(w, pid, 0, me.pid) !== 0) continue;
      const t = this.slotWord(slot, RWLOCK_SLOT_THREAD_OFFSET);
      const lo = this.slotWord(slot, RWLOCK_SLOT_START_OFFSET);
      const ns = this.slotWord(slot, RWLOCK_SLOT_NS_OFFSET);
      // Identity stores (seq-cst), published by RW-READ-ENTER; skipped when the slot already holds them. Plain
      // reads: only the slot's claimant writes its identity, and the claim CAS ordered the previous claimant's
      // writes (before its pid store 0) before us, so these reads race with no write.
      if (w[t] !== me.thread) Atomics.store(w, t, me.thread);
      if (w[lo] !== me.startLo) Atomics.store(w, lo, me.startLo);
      if (w[lo + 1] !== me.startHi) Atomics.store(w, lo + 1, me.startHi);
      if (w[ns] !== me.ns) Atomics.store(w, ns, me.ns);
      return slot;
    }
    return -1;
  }

  /** Ends a read hold: clears the occupancy bit, then frees the slot, then wakes a draining writer. */
  release(slot: number): void {
    const w = this.words;
    // SYNC RW-READ-EXIT (seq-cst RMW, clear bit): the reads are done; pairs with the writer's load of `occupied`.
    Atomics.and(w, this.occupied, ~(1 << slot));
    // SYNC RW-SLOT-CLAIM (store pid 0): frees the slot after its bit is clear; pairs with the claim CAS.
    Atomics.store(w, this.slotWord(slot, RWLOCK_SLOT_PID_OFFSET), 0);
    // After RW-READ-EXIT (seq-cst), the sleepers word of `occupied` (§3): Dekker with the park's announce.
    wakeSleepers(w, this.occWaiters, this.occupied);
  }

  /** Is the reader in (published) slot `slot` alive? */
  readerAlive(slot: number): boolean {
    const w = this.words;
    // Acquire loads: the identity was written before the occupancy bit (RW-READ-ENTER) we saw set.
    const pid = Atomics.load(w, this.slotWord(slot, RWLOCK_SLOT_PID_OFFSET));
    if (pid === 0) return false;
    const lo = this.slotWord(slot, RWLOCK_SLOT_START_OFFSET);
    const ns = Atomics.load(w, this.slotWord(slot, RWLOCK_SLOT_NS_OFFSET)) >>> 0;
    return holderAlive(pid, startTime(Atomics.load(w, lo), Atomics.load(w, lo + 1)), ns);
  }

  /**
   * Releases the holds of dead readers. Only the Mutex holder may do this (two cleaners could clear a bit that a
   * new reader just set). Returns true when some hold was released.
   */
  cleanDeadReaders(): boolean {
    const w = this.words;
    // Acquire: the occupancy bits and the identities behind them (RW-READ-ENTER).
    const occ = Atomics.load(w, this.occupied);
    let cleaned = false;
    for (let slot = 0; slot < RWLOCK_SLOT_COUNT; slot++) {
      if ((occ & (1 << slot)) === 0) continue;
      // Judge a hold only on two identical sightings of (bit, pid, start, ns) with the bit set and pid != 0: between
      // one look and the next the reader may have left and a live one claimed the slot (pid 0, or its pid beside
      // the old start time), and clearing its bit would let a writer in beside it.
      const seen = this.#sighting(slot);
      if (seen === undefined || this.#sighting(slot) !== seen || this.readerAlive(slot)) continue;
      const pidWord = this.slotWord(slot, RWLOCK_SLOT_PID_OFFSET);
      // Relaxed: the pid of a dead reader cannot change under us (only we, the Mutex holder, clean).
      const pid = Atomics.load(w, pidWord);
      // RW-READ-EXIT on behalf of the dead reader, then RW-SLOT-CLAIM release (CAS so a reclaimer may race).
      Atomics.and(w, this.occupied, ~(1 << slot));
      Atomics.compareExchange(w, pidWord, pid, 0);
      cleaned = true;
    }
    return cleaned;
  }

  /** One look at a held slot: its identity as a string, or undefined if the bit is clear or the pid is 0. */
  #sighting(slot: number): string | undefined {
    const w = this.words;
    // Acquire loads, the bit first: an identity read after a set bit is at least as new as that bit's reader's.
    if ((Atomics.load(w, this.occupied) & (1 << slot)) === 0) return undefined;
    const pid = Atomics.load(w, this.slotWord(slot, RWLOCK_SLOT_PID_OFFSET));
    if (pid === 0) return undefined;
    const lo = this.slotWord(slot, RWLOCK_SLOT_START_OFFSET);
    const ns = Atomics.load(w, this.slotWord(slot, RWLOCK_SLOT_NS_OFFSET));
    return `${pid}:${Atomics.load(w, lo)}:${Atomics.load(w, lo + 1)}:${ns}`;
  }

  /** Frees slots claimed but never published by processes that died in between (safe for anyone: a CAS). */
  reclaimUnpublished(): void {
    const w = this.words;
    // Acquire: see RW-READ-ENTER.
    const occ = Atomics.load(w, this.occupied);
    for (let slot = 0; slot < RWLOCK_SLOT_COUNT; slot++) {
      const seen = this.#unpublished[slot]!;
      this.#unpublished[slot] = 0;
      if ((occ & (1 << slot)) !== 0) continue;
      const pidWord = this.slotWord(slot, RWLOCK_SLOT_PID_OFFSET);
      // Acquire: the claimant's pid (RW-SLOT-CLAIM), then its namespace (may still be the previous claimant's).
      const pid = Atomics.load(w, pidWord);
      if (pid === 0 || pid === this.me.pid) continue;
      const ns = Atomics.load(w, this.slotWord(slot, RWLOCK_SLOT_NS_OFFSET)) >>> 0;
      if (holderAlive(pid, 0, ns)) continue;
      // A live claimant publishes within instructions of its claim, and its pid may mean nothing here (another
      // pid namespace whose ns we may not have seen yet): free the slot only if it was unpublished last time too.
      if (seen !== pid) {
        this.#unpublished[slot] = pid;
        continue;
      }
      // RW-SLOT-CLAIM (CAS pid -> 0): only frees exactly the dead claimant's slot.
      Atomics.compareExchange(w, pidWord, pid, 0);
    }
  }

  /**
   * With the writer flag seen raised: if the writer is dead, take its Mutex over and become the writer (the flag
   * stays raised): the caller then drains the readers and holds the lock exclusively, so that it may repair what
   * the dead writer left half-written. null while a live writer holds it; 'gone' when the writer had finished.
   */
  takeOverWriter(): 'upgraded' | 'gone' | null {
    const w = this.words;
    const mw = this.mutex.base + MUTEX_WORD_OFFSET / 4;
    // Acquire probe of the writers' Mutex word (pairs with MUTEX-ACQUIRE/RELEASE).
    const m = Atomics.load(w, mw);
    if (m !== 0 && mutexHolderAlive(w, this.mutex.base, m)) return null;
    if (this.mutex.attempt(true) === null) return null;
    // Acquire: holding the Mutex, the flag is ours to judge. Lowered = the writer unlocked normally meanwhile.
    if (Atomics.load(w, this.writer) === 0) {
      this.mutex.release();
      return 'gone';
    }
    return 'upgraded';
  }

  /** Ends one hold of this object: a read slot, or an exclusive hold taken over from a dead writer. */
  releaseHold(slot: number): void {
    if (slot === EXCLUSIVE) this.endWrite();
    else this.release(slot);
  }

  /** Lowers the flag, wakes waiting readers, releases the Mutex (the writer's unlock and its undo). */
  endWrite(): void {
    const w = this.words;
    this.writing = false;
    this.writeGen++;
    // SYNC RW-WRITER (release exchange -> 0): publishes the writer's changes; pairs with the readers' loads of
    // `writer`. The old value tells whether a reader announced itself (its CAS in ReadSide.sleepOn) and may sleep.
    const old = Atomics.exchange(w, this.writer, 0);
    if ((old & RWLOCK_WRITER_WAITERS) !== 0) wake(w, this.writer);
    this.mutex.release();
  }

  writeHeldByMe(): boolean {
    // This object raised the flag and still holds the Mutex: the flag is still raised (only the Mutex holder
    // lowers it, and a live holder is never taken over), no need to load it.
    if (this.writing && this.mutex.heldByMe()) return true;
    // Acquire: our own flag store is visible to us.
    return this.mutex.heldByMe() && Atomics.load(this.words, this.writer) !== 0;
  }
}

/** The read side's contended path. */
class ReadSide implements Contender<LockResult> {
  readonly words: Int32Array;
  readonly livenessInterval: number;
  readonly #core: RwCore;
  /**
   * A synchronous read lock: it may pass a waiting writer while this thread already reads (blocking the thread
   * would deadlock it: the writer waits for this thread's hold). An async read never passes a waiting writer:
   * the thread's other tasks keep running and release their holds.
   */
  readonly #sync: boolean;
  #target: 'writer' | 'occupied' = 'writer';
  /** Set when this reader took a dead writer's lock over: it holds the Mutex and the raised flag. */
  upgraded = false;
  /** The slot the last successful attempt took. */
  slot = -1;

  constructor(core: RwCore, sync: boolean) {
    this.#core = core;
    this.#sync = sync;
    this.words = core.words;
    this.livenessInterval = core.livenessInterval;
  }

  attempt(checkLiveness: boolean): LockResult | null {
    const c = this.#core;
    const w = c.words;
    const nested = this.#sync && c.held.length > 0;
    // Acquire: RW-WRITER; a lowered flag makes the last writer's changes visible.
    if (!nested && Atomics.load(w, c.writer) !== 0) {
      this.#target = 'writer';
      if (!checkLiveness) return null;
      const t = c.takeOverWriter();
      if (t === null) return null;
      if (t === 'upgraded') {
        this.upgraded = true;
        return RECOVERED;
      }
    }
    const slot = c.claim();
    if (slot < 0) {
      if (checkLiveness) {
        c.reclaimUnpublished();
        if (c.mutex.tryAcquire()) {
          c.cleanDeadReaders();
          c.mutex.release();
        }
      }
      this.#target = 'occupied';
      return null;
    }
    // SYNC RW-READ-ENTER (seq-cst RMW, set bit): publishes this hold and its slot identity; pairs with the
    // writer's load of `occupied` after raising `writer` (Dekker: one of the two sees the other).
    Atomics.or(w, c.occupied, 1 << slot);
    // RW-WRITER (seq-cst load) after RW-READ-ENTER: a writer that raised the flag meanwhile wins; back off.
    if (!nested && Atomics.load(w, c.writer) !== 0) {
      c.release(slot);
      this.#target = 'writer';
      return null;
    }
    c.held.push(slot);
    this.slot = slot;
    return CLEAN;
  }

  sleepOn(): SleepOn | null {
    const c = this.#core;
    const w = c.words;
    if (this.#target === 'writer') {
      // Announce in the flag word itself: RW-WRITER-WAITERS (seq-cst CAS v -> v|WAITERS) on the value seen; the
      // exchange in endWrite returns the bit, and FUTEX_WAIT re-checks the word, so no wake is lost.
      const v = Atomics.load(w, c.writer);
      if (v === 0) return null;
      const announced = v | RWLOCK_WRITER_WAITERS;
      if (v !== announced && Atomics.compareExchange(w, c.writer, v, announced) !== v) return null;
      return { index: c.writer, value: announced };
    }
    // Every slot taken: sleep while `occupied` is full, announced in its sleepers word (§3).
    return Atomics.load(w, c.occupied) !== FULL ? null : { index: c.occupied, value: FULL, sleepers: c.occWaiters };
  }

  giveUp(): void {}
}

/** The writer's wait for the readers to drain (it holds the Mutex and has raised the flag). */
class Drain implements Contender<true> {
  readonly words: Int32Array;
  readonly livenessInterval: number;
  readonly #core: RwCore;

  constructor(core: RwCore) {
    this.#core = core;
    this.words = core.words;
    this.livenessInterval = core.livenessInterval;
  }

  attempt(checkLiveness: boolean): true | null {
    const c = this.#core;
    // SYNC RW-READ-EXIT (acquire load of `occupied`): zero = every reader is done; pairs with their RMWs.
    if (Atomics.load(c.words, c.occupied) === 0) return true;
    if (checkLiveness && c.cleanDeadReaders() && Atomics.load(c.words, c.occupied) === 0) return true;
    return null;
  }

  sleepOn(): SleepOn | null {
    const c = this.#core;
    // Sleep while readers are inside, announced in the sleepers word of `occupied` (§3); the park re-checks.
    const v = Atomics.load(c.words, c.occupied);
    return v === 0 ? null : { index: c.occupied, value: v, sleepers: c.occWaiters };
  }

  giveUp(): void {}
}

/**
 * A robust reader-writer lock shared by processes. Readers overlap; a writer excludes everyone; a waiting writer
 * stops new readers (writer preference), so a stream of readers cannot starve it; readers never wait for other
 * readers. Up to 32 read holds at once (more wait for a free slot). A dead writer is recovered (the next locker
 * gets `recovered: true`); a dead reader's hold is released. Ownership is per thread.
 *
 * @example
 * ```ts
 * const rw = RwLock.create('frames.rw');
 * await rw.withRead(async () => readFrame());
 * await rw.withWrite(async ({ recovered }) => writeFrame(recovered));
 * rw.close(); RwLock.unlink('frames.rw');
 * ```
 */
export class RwLock extends SyncPrimitive {
  /** What RwLock.create / RwLock.open make (kind 'rwlock', RWLOCK_SIZE bytes, zero = free). */
  static readonly layout: NamedLayout<SyncCreateOptions> = { kind: 'rwlock', size: RWLOCK_SIZE };
  readonly #core: RwCore;
  /** Uncontended attempts of async read locks (never pass a waiting writer). */
  readonly #read: ReadSide;
  /** Uncontended attempts of sync read locks (a nested one passes a waiting writer). */
  readonly #readSync: ReadSide;
  readonly #drain: Drain;

  /**
   * Uses the {@link RWLOCK_SIZE} bytes at `byteOffset` (a multiple of 8) of `segment` as a reader-writer lock.
   * Zero bytes are a free lock.
   * @throws ERR_INVALID_ARG (not a Segment, misaligned, out of range, bad options), ERR_CLOSED
   * @example
   * ```ts
   * const rw = new RwLock(Segment.create('table', { size: 1 << 16 }), 0);
   * ```
   */
  constructor(segment: Segment, byteOffset: number, options: RwLockOptions = {}) {
    super('rwlock', segment, byteOffset, RWLOCK_SIZE);
    this.#core = new RwCore(segment.words, this.placement.base, robustOptions(options));
    this.#read = new ReadSide(this.#core, false);
    this.#readSync = new ReadSide(this.#core, true);
    this.#drain = new Drain(this.#core);
  }

  /**
   * Takes a read hold, waiting without blocking the event loop while a writer holds or waits for the lock.
   * @returns `{ recovered }`: true when the writer died holding the lock; this caller then took it over and holds
   * it exclusively (as a writer would) until its readUnlock, so it may repair what the writer left half-done.
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * await rw.readLock({ timeout: 100 }); try { read(); } finally { rw.readUnlock(); }
   * ```
   */
  async readLock(options: LockOptions = {}): Promise<LockResult> {
    return (await this.#readLock(options)).result;
  }

  /** readLock, telling which hold it took (a slot, or EXCLUSIVE): withRead releases exactly that one. */
  async #readLock(options: LockOptions): Promise<{ result: LockResult; slot: number }> {
    this.assertOpen();
    options = callOptions(options, 'RwLock.readLock');
    validateTimeout(options.timeout);
    throwIfAborted(options.signal, `read-locking ${this.placement.what}`);
    const r = this.#read.attempt(false) ?? this.#spinRead(this.#read);
    if (r !== null) return { result: r, slot: this.#read.slot };
    const deadline = deadlineAfter(options.timeout);
    const what = `read-locking ${this.placement.what}`;
    const side = new ReadSide(this.#core, false);
    const got = await contendAsync(side, options, what, this.waits, () => this.isClosed());
    if (!side.upgraded) return { result: got, slot: side.slot };
    try {
      await contendAsync(this.#drain, { ...options, timeout: remaining(deadline) }, what, this.waits, () => this.isClosed());
    } catch (e) {
      if (!this.isClosed()) this.#core.endWrite();
      throw e;
    }
    this.#core.held.push(EXCLUSIVE);
    return { result: got, slot: EXCLUSIVE };
  }

  /**
   * Takes a read hold, blocking this thread while a writer holds or waits for the lock. While this thread already
   * holds a read lock of this object, a nested one passes a waiting writer (blocking would deadlock the thread).
   * @throws ERR_TIMEOUT, ERR_CLOSED, ERR_INVALID_ARG (bad timeout; this thread holds the write lock: a deadlock)
   */
  readLockSync(options: { timeout?: number } = {}): LockResult {
    this.assertOpen();
    const timeout = validateTimeout(callOptions(options, 'RwLock.readLockSync').timeout);
    const r = this.#readSync.attempt(false);
    if (r !== null) return r;
    if (this.#core.writeHeldByMe()) {
      throw new ShmbusError('ERR_INVALID_ARG', `this thread holds the write lock of ${this.placement.what}: readLockSync would deadlock`);
    }
    const spun = this.#spinRead(this.#readSync);
    if (spun !== null) return spun;
    const deadline = deadlineAfter(timeout);
    const what = `read-locking ${this.placement.what}`;
    const side = new ReadSide(this.#core, true);
    const got = contendSync(side, timeout, what);
    if (side.upgraded) {
      try {
        contendSync(this.#drain, remaining(deadline), what);
      } catch (e) {
        this.#core.endWrite();
        throw e;
      }
      this.#core.held.push(EXCLUSIVE);
    }
    return got;
  }

  /**
   * Takes a read hold if no writer holds or waits for the lock (a waiting writer is respected, also when this
   * thread already reads). @returns `{ recovered }` or null. @throws ERR_CLOSED
   */
  tryReadLock(): LockResult | null {
    this.assertOpen();
    return this.#read.attempt(false);
  }

  /** Ends one read hold of this thread. @throws ERR_NOT_OWNER (this thread holds no read lock), ERR_CLOSED */
  readUnlock(): void {
    this.assertOpen();
    const c = this.#core;
    let slot = c.held.pop();
    if (slot === undefined) slot = this.#findMySlot();
    c.releaseHold(slot);
  }

  /**
   * Takes the write lock: waits for other writers, stops new readers, waits for the readers inside to leave.
   * @returns `{ recovered }`: true when the previous writer died holding it.
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * const { recovered } = await rw.writeLock({ timeout: 1000 }); try { write(); } finally { rw.writeUnlock(); }
   * ```
   */
  async writeLock(options: LockOptions = {}): Promise<LockResult> {
    this.assertOpen();
    options = callOptions(options, 'RwLock.writeLock');
    const timeout = validateTimeout(options.timeout);
    const what = `write-locking ${this.placement.what}`;
    throwIfAborted(options.signal, what);
    // The clock is read only when a wait begins (the uncontended path never reads it).
    const m = this.#core.mutex;
    let deadline: number | undefined;
    let r: LockResult;
    if (m.tryAcquire()) r = CLEAN;
    else {
      deadline = deadlineAfter(timeout);
      r = await m.lock(options, this.placement.what, this.waits, () => this.isClosed());
    }
    this.#raise();
    if (this.#drain.attempt(false) !== null) return r;
    try {
      const left = remaining(deadline ?? deadlineAfter(timeout));
      await contendAsync(this.#drain, { ...options, timeout: left }, what, this.waits, () => this.isClosed());
    } catch (e) {
      if (!this.isClosed()) this.#core.endWrite();
      throw e;
    }
    return r;
  }

  /**
   * Takes the write lock, blocking this thread.
   * @throws ERR_TIMEOUT, ERR_CLOSED, ERR_INVALID_ARG (bad timeout; this thread already holds a read or the write lock)
   */
  writeLockSync(options: { timeout?: number } = {}): LockResult {
    this.assertOpen();
    const timeout = validateTimeout(callOptions(options, 'RwLock.writeLockSync').timeout);
    if (this.#core.held.length > 0) {
      throw new ShmbusError('ERR_INVALID_ARG', `this thread holds a read lock of ${this.placement.what}: writeLockSync would deadlock`);
    }
    // The clock is read only when a wait begins (the uncontended path never reads it).
    const m = this.#core.mutex;
    let deadline: number | undefined;
    let r: LockResult;
    if (m.tryAcquire()) r = CLEAN;
    else {
      deadline = deadlineAfter(timeout);
      r = m.lockSync(timeout, this.placement.what);
    }
    this.#raise();
    if (this.#drain.attempt(false) !== null) return r;
    try {
      contendSync(this.#drain, remaining(deadline ?? deadlineAfter(timeout)), `write-locking ${this.placement.what}`);
    } catch (e) {
      this.#core.endWrite();
      throw e;
    }
    return r;
  }

  /** Takes the write lock if nobody holds the lock at all. @returns `{ recovered }` or null. @throws ERR_CLOSED */
  tryWriteLock(): LockResult | null {
    this.assertOpen();
    const r = this.#core.mutex.tryLock();
    if (r === null) return null;
    this.#raise();
    if (this.#drain.attempt(false) !== null) return r;
    this.#core.endWrite();
    return null;
  }

  /** Releases the write lock. @throws ERR_NOT_OWNER (this thread does not hold it), ERR_CLOSED */
  writeUnlock(): void {
    this.assertOpen();
    if (!this.#core.writeHeldByMe()) {
      throw new ShmbusError('ERR_NOT_OWNER', `this thread does not hold the write lock of ${this.placement.what}`);
    }
    this.#core.endWrite();
  }

  /**
   * Runs `fn` under a read hold and releases it afterwards, also when `fn` throws.
   * @throws whatever `fn` throws; ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED from locking
   */
  async withRead<T>(fn: (result: LockResult) => T | Promise<T>, options: LockOptions = {}): Promise<T> {
    const { result, slot } = await this.#readLock(options);
    try {
      return await fn(result);
    } finally {
      // Exactly the hold taken above (another task of this thread may hold others): unless fn released it.
      const held = this.#core.held;
      const i = held.lastIndexOf(slot);
      if (i >= 0 && !this.isClosed()) {
        held.splice(i, 1);
        this.#core.releaseHold(slot);
      }
    }
  }

  /**
   * Runs `fn` under the write lock and releases it afterwards, also when `fn` throws.
   * @throws whatever `fn` throws; ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED from locking
   */
  async withWrite<T>(fn: (result: LockResult) => T | Promise<T>, options: LockOptions = {}): Promise<T> {
    const r = await this.writeLock(options);
    const gen = this.#core.writeGen;
    try {
      return await fn(r);
    } finally {
      // Only the write lock taken above: if fn unlocked it and it was taken again since, that is another's.
      if (!this.isClosed() && gen === this.#core.writeGen && this.#core.writeHeldByMe()) this.#core.endWrite();
    }
  }

  #raise(): void {
    // SYNC RW-WRITER (seq-cst RMW, set bit 0; keeps a WAITERS bit left by readers of a dead writer): stops new
    // readers; pairs with their load after RW-READ-ENTER (Dekker).
    Atomics.or(this.#core.words, this.#core.writer, 1);
    this.#core.writing = true;
  }

  #spinRead(side: ReadSide): LockResult | null {
    const c = this.#core;
    // Polling read of the flag; attempt() re-checks with the synchronising loads.
    return spinFor(c.spin, () => (Atomics.load(c.words, c.writer) === 0 ? side.attempt(false) : null));
  }

  #findMySlot(): number {
    const c = this.#core;
    // Acquire: our own bits and identities.
    const occ = Atomics.load(c.words, c.occupied);
    for (let slot = 0; slot < RWLOCK_SLOT_COUNT; slot++) {
      if (
        (occ & (1 << slot)) !== 0 &&
        Atomics.load(c.words, c.slotWord(slot, RWLOCK_SLOT_PID_OFFSET)) === c.me.pid &&
        Atomics.load(c.words, c.slotWord(slot, RWLOCK_SLOT_THREAD_OFFSET)) === c.me.thread &&
        c.readerAlive(slot)
      ) {
        return slot;
      }
    }
    throw new ShmbusError('ERR_NOT_OWNER', `this thread holds no read lock of ${this.placement.what}`);
  }
}
