/**
 * Semaphore: a robust counting semaphore shared by processes (PROTOCOL.md §4.3). A Mutex guards a small ledger:
 * the free units and, per holding process, the units it holds. A waiter that finds a holder dead returns that
 * holder's units. The ledger Mutex is held for a few instructions only and keeps its holder's identity across
 * unlocks (ledger mode), so taking a unit without contention is a CAS and an exchange on the ledger word, and
 * returning one adds a store of `value` and a probe of `waiters`: no system call.
 */
import { ShmbusError } from '../errors.js';
import {
  SEM_FLAG_UNTRACKED,
  SEM_FLAGS_OFFSET,
  SEM_MUTEX_OFFSET,
  SEM_SLOT_COUNT,
  SEM_SLOT_HELD_OFFSET,
  SEM_SLOT_NS_OFFSET,
  SEM_SLOT_PID_OFFSET,
  SEM_SLOT_SIZE,
  SEM_SLOT_START_OFFSET,
  SEM_SLOTS_OFFSET,
  SEM_TOTAL_OFFSET,
  SEM_UNTRACKED_OFFSET,
  SEM_VALUE_MAX,
  SEM_VALUE_OFFSET,
  SEM_WAITERS_OFFSET,
  SEMAPHORE_SIZE,
} from '../protocol/layout.js';
import { holderAlive } from '../base/process.js';
import { Segment } from '../segment/segment.js';
import { throwIfAborted, validateTimeout } from '../base/deadline.js';
import { wakeSleepers } from '../base/park.js';
import { boolOption, intOption, invalidArg, optionsObject } from '../base/options.js';
import { MutexCore } from './mutex.js';
import {
  CLEAN,
  callOptions,
  contendAsync,
  contendSync,
  embedded,
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

/** How a semaphore starts (written once, by its creator). */
export interface SemaphoreInit {
  /** Free units at the start (default 0), 0..2^31-1. */
  initial?: number;
  /**
   * Record which process holds which units, so that a dead holder's units are returned (default true). Turn it off
   * for pure signalling, where units are taken by one process and released by another: there a dead taker's
   * units must not come back.
   */
  trackHolders?: boolean;
}

export type SemaphoreOptions = RobustOptions;
export type SemaphoreCreateOptions = SyncCreateOptions & SemaphoreInit;

/** How many liveness intervals a call waits for a live holder of the ledger (5 s at the default 50 ms). */
const LEDGER_WAIT_INTERVALS = 100;

/** The algorithm over one semaphore's words. @internal */
class SemCore {
  readonly words: Int32Array;
  readonly livenessInterval: number;
  readonly mutex: MutexCore;
  readonly value: number;
  readonly waiters: number;
  readonly total: number;
  readonly flags: number;
  readonly untracked: number;
  readonly slots: number;
  readonly me: Me;
  readonly what: string;
  #hint = 0;
  #lastSweep = 0;
  /** Units returned from dead holders beyond the one this caller takes: other sleepers to wake. */
  #surplus = 0;

  constructor(words: Int32Array, base: number, options: { livenessInterval: number; spin: number }, what: string) {
    this.words = words;
    this.livenessInterval = options.livenessInterval;
    // Ledger mode: the identity stays in place across unlocks (PROTOCOL.md §4.3).
    this.mutex = new MutexCore(words, base + SEM_MUTEX_OFFSET / 4, options, true);
    this.value = base + SEM_VALUE_OFFSET / 4;
    this.waiters = base + SEM_WAITERS_OFFSET / 4;
    this.total = base + SEM_TOTAL_OFFSET / 4;
    this.flags = base + SEM_FLAGS_OFFSET / 4;
    this.untracked = base + SEM_UNTRACKED_OFFSET / 4;
    this.slots = base + SEM_SLOTS_OFFSET / 4;
    this.me = identity();
    this.what = what;
  }

  // ---- operations (callers hold nothing) ------------------------------------------------------------------

  /** tryAcquire: never sleeps; the ledger Mutex is only ever held for a few instructions, so it waits for it. */
  tryAcquire(): LockResult | null {
    const entered = this.#enterSync();
    // Sweep for dead holders at most once per interval from tryAcquire, and only when it would help.
    let sweep = false;
    // Plain read under the ledger Mutex (SEM-VALUE is written only under it).
    if (this.words[this.value] === 0) {
      const now = performance.now();
      sweep = now - this.#lastSweep >= this.livenessInterval;
      if (sweep) this.#lastSweep = now;
    }
    const got = this.acquireLocked(entered.recovered, sweep);
    this.leave();
    return got;
  }

  release(n: number): void {
    if (this.#enterSync().recovered) this.#repair();
    try {
      this.#releaseLocked(n);
    } finally {
      this.leave();
    }
    // SEM-VALUE: after the seq-cst store of `value` in #releaseLocked, wake every announced sleeper (§3).
    wakeSleepers(this.words, this.waiters, this.value);
  }

  /**
   * Locks the ledger, blocking briefly: it is held for a few instructions, or its holder is dead (taken over). A
   * holder still alive after LEDGER_WAIT_INTERVALS liveness intervals is stopped or forged (any process that can
   * write the segment can name a live pid there): ERR_TIMEOUT then, rather than hanging a call that has no timeout.
   */
  #enterSync(): LockResult {
    if (this.mutex.tryAcquire()) return CLEAN;
    return this.mutex.lockSync(this.livenessInterval * LEDGER_WAIT_INTERVALS, `the ledger of ${this.what}`);
  }

  leave(): void {
    this.mutex.release();
    const surplus = this.#surplus;
    this.#surplus = 0;
    // Units came back from the dead beyond the one taken: wake the sleepers (§3) to take them.
    if (surplus > 0) wakeSleepers(this.words, this.waiters, this.value);
  }

  // ---- the ledger (caller holds the ledger Mutex) ---------------------------------------------------------

  /** Takes one unit if there is one, after repairs; recovered = units came back from the dead in this call. */
  acquireLocked(repair: boolean, sweep: boolean): LockResult | null {
    const w = this.words;
    let recovered = false;
    if (repair) {
      this.#repair();
      recovered = true;
    }
    if (sweep && this.#sweep() > 0) recovered = true;
    // The ledger is read and written with plain accesses under its Mutex (MUTEX-ACQUIRE/RELEASE order them);
    // only the stores of `value`, which sleepers probe without the Mutex, go through Atomics. Reading `value`
    // needs no Atomics: it is written only under the Mutex.
    const v = w[this.value]!;
    if (v === 0) return null;
    const slot = this.#mySlot(true);
    // Record the holding before taking the unit: a death in between is repaired by recounting (see #repair).
    if (slot >= 0) w[this.slotWord(slot, SEM_SLOT_HELD_OFFSET)]! += 1;
    else w[this.untracked]! += 1;
    // SEM-VALUE, one unit fewer: a plain store under the ledger Mutex (whose release orders it for the next
    // holder). Lock-free readers only wait for `value` to rise, so a decrement needs no fence; the futex compares
    // the word itself, and an aligned Int32 store is never torn.
    w[this.value] = v - 1;
    if (recovered && v - 1 > 0) this.#surplus = v - 1;
    return recovered ? RECOVERED : CLEAN;
  }

  #releaseLocked(n: number): void {
    const w = this.words;
    // SEM-VALUE (plain read under the ledger Mutex, which orders every write of it).
    const v = w[this.value]!;
    if (v + n > SEM_VALUE_MAX) {
      throw new ShmbusError('ERR_INVALID_ARG', `releasing ${n} would take ${this.what} past ${SEM_VALUE_MAX} units`);
    }
    let rest = n;
    const slot = this.#mySlot(false);
    if (slot >= 0) {
      const heldWord = this.slotWord(slot, SEM_SLOT_HELD_OFFSET);
      const held = w[heldWord]!;
      const k = Math.min(rest, held);
      w[heldWord] = held - k;
      rest -= k;
    }
    if (rest > 0) {
      const untracked = w[this.untracked]!;
      const anon = Math.min(rest, untracked);
      if (anon > 0) w[this.untracked] = untracked - anon;
      rest -= anon;
    }
    // Units nobody held (signalling): they add to the total.
    if (rest > 0) w[this.total]! += rest;
    // SYNC SEM-VALUE (store under the ledger Mutex, then wake): pairs with the sleepers' load in sleepOn.
    Atomics.store(w, this.value, v + n);
  }

  /** This process's slot: found, or claimed if `claim`; -1 when untracked or every slot is taken. */
  #mySlot(claim: boolean): number {
    const w = this.words;
    // Flags are written once by the creator before publishing (SYNC READY).
    if ((w[this.flags]! & SEM_FLAG_UNTRACKED) !== 0) return -1;
    const me = this.me;
    if (this.#isMine(this.#hint)) return this.#hint;
    let free = -1;
    for (let slot = 0; slot < SEM_SLOT_COUNT; slot++) {
      if (this.#isMine(slot)) return (this.#hint = slot);
      // A slot holding nothing may be reused by anyone: its process claims another when it next acquires.
      if (free < 0 && w[this.slotWord(slot, SEM_SLOT_HELD_OFFSET)]! === 0) free = slot;
    }
    if (!claim || free < 0) return -1;
    const lo = this.slotWord(free, SEM_SLOT_START_OFFSET);
    w[lo] = me.startLo;
    w[lo + 1] = me.startHi;
    w[this.slotWord(free, SEM_SLOT_NS_OFFSET)] = me.ns;
    w[this.slotWord(free, SEM_SLOT_HELD_OFFSET)] = 0;
    w[this.slotWord(free, SEM_SLOT_PID_OFFSET)] = me.pid;
    return (this.#hint = free);
  }

  #isMine(slot: number): boolean {
    const w = this.words;
    if (w[this.slotWord(slot, SEM_SLOT_PID_OFFSET)]! !== this.me.pid) return false;
    const lo = this.slotWord(slot, SEM_SLOT_START_OFFSET);
    return (
      w[lo]! === this.me.startLo &&
      w[lo + 1]! === this.me.startHi &&
      w[this.slotWord(slot, SEM_SLOT_NS_OFFSET)]! === this.me.ns
    );
  }

  /** Returns the units of dead holders to `value`; how many came back. */
  #sweep(): number {
    const w = this.words;
    let returned = 0;
    for (let slot = 0; slot < SEM_SLOT_COUNT; slot++) {
      const pidWord = this.slotWord(slot, SEM_SLOT_PID_OFFSET);
      const pid = w[pidWord]!;
      const heldWord = this.slotWord(slot, SEM_SLOT_HELD_OFFSET);
      if (pid === 0 || w[heldWord]! === 0 || this.#isMine(slot)) continue;
      const lo = this.slotWord(slot, SEM_SLOT_START_OFFSET);
      if (holderAlive(pid, startTime(w[lo]!, w[lo + 1]!), w[this.slotWord(slot, SEM_SLOT_NS_OFFSET)]! >>> 0)) continue;
      returned += w[heldWord]! >>> 0;
      w[heldWord] = 0;
      w[pidWord] = 0;
    }
    // SEM-VALUE (load and store under the ledger Mutex): the returned units become free.
    if (returned > 0) Atomics.store(w, this.value, Math.min(SEM_VALUE_MAX, Atomics.load(w, this.value) + returned));
    return returned;
  }

  /** After taking the ledger over from a dead process: return dead holders' units, then recount `value`. */
  #repair(): void {
    const w = this.words;
    this.#sweep();
    let held = w[this.untracked]! >>> 0;
    for (let slot = 0; slot < SEM_SLOT_COUNT; slot++) {
      if (w[this.slotWord(slot, SEM_SLOT_PID_OFFSET)]! !== 0) {
        held += w[this.slotWord(slot, SEM_SLOT_HELD_OFFSET)]! >>> 0;
      }
    }
    const total = w[this.total]! >>> 0;
    if (held > total) w[this.total] = held;
    // SEM-VALUE (store under the ledger Mutex): the recount.
    Atomics.store(w, this.value, Math.min(SEM_VALUE_MAX, Math.max(0, total - held)));
  }

  slotWord(slot: number, fieldOffset: number): number {
    return this.slots + ((slot * SEM_SLOT_SIZE + fieldOffset) >> 2);
  }
}

/** One contended acquire: waits for the ledger Mutex, or sleeps on `value` (announced in its sleepers word). */
class Acquire implements Contender<LockResult> {
  readonly words: Int32Array;
  readonly livenessInterval: number;
  readonly #core: SemCore;
  #target: 'mutex' | 'value' = 'value';

  constructor(core: SemCore) {
    this.#core = core;
    this.words = core.words;
    this.livenessInterval = core.livenessInterval;
  }

  attempt(checkLiveness: boolean): LockResult | null {
    const c = this.#core;
    const entered = c.mutex.tryAcquire() ? CLEAN : c.mutex.attempt(checkLiveness);
    if (entered === null) {
      this.#target = 'mutex';
      return null;
    }
    const got = c.acquireLocked(entered.recovered, checkLiveness);
    c.leave();
    this.#target = 'value';
    return got;
  }

  sleepOn(): SleepOn | null {
    const c = this.#core;
    if (this.#target === 'mutex') return c.mutex.sleepOn();
    // Sleep while no unit is free; the park (§3) announces in `waiters` and re-checks `value` (seq-cst), the
    // Dekker partner of release's seq-cst store of `value` then load of `waiters` (SEM-VALUE).
    return { index: c.value, value: 0, sleepers: c.waiters };
  }

  giveUp(): void {
    // Releases wake every sleeper on `value` (§3): no wake to pass on there; the ledger Mutex may need one.
    this.#core.mutex.giveUp();
  }
}

/**
 * A robust counting semaphore shared by processes. `acquire` takes one unit (waiting while there is none),
 * `release(n)` returns units. If a process dies holding units, they are returned (the acquirer that finds them
 * gets `recovered: true`). Named or embedded ({@link SEMAPHORE_SIZE} bytes at an 8-aligned offset, laid out
 * once with {@link Semaphore.init}).
 *
 * @example
 * ```ts
 * const slots = Semaphore.create('slots', { initial: 4 });
 * await slots.acquire({ timeout: 1000 });
 * try { await work(); } finally { slots.release(); }
 * slots.close(); Semaphore.unlink('slots');
 * ```
 */
export class Semaphore extends SyncPrimitive {
  /** What Semaphore.create / Semaphore.open make: kind 'semaphore', laid out from `initial`, `trackHolders`. */
  static readonly layout: NamedLayout<SemaphoreCreateOptions> = {
    kind: 'semaphore',
    size: SEMAPHORE_SIZE,
    init: (segment, options) => Semaphore.init(segment, 0, options),
  };
  readonly #core: SemCore;

  /**
   * Uses the {@link SEMAPHORE_SIZE} bytes at `byteOffset` (a multiple of 8) of `segment` as a semaphore. Zero
   * bytes are a semaphore with no units whose holders are tracked; {@link Semaphore.init} sets other starts.
   * @throws ERR_INVALID_ARG (not a Segment, misaligned, out of range, bad options), ERR_CLOSED
   */
  constructor(segment: Segment, byteOffset: number, options: SemaphoreOptions = {}) {
    super('semaphore', segment, byteOffset, SEMAPHORE_SIZE);
    this.#core = new SemCore(segment.words, this.placement.base, robustOptions(options), this.placement.what);
  }

  /**
   * Lays out a semaphore at `byteOffset` of a segment nobody uses yet (call it from `Segment.create`'s `init`).
   * @throws ERR_INVALID_ARG
   * @example
   * ```ts
   * const seg = Segment.create('pool', { size: 4096, init: (s) => Semaphore.init(s, 0, { initial: 8 }) });
   * ```
   */
  static init(segment: Segment, byteOffset: number, init: SemaphoreInit = {}): void {
    const opts = optionsObject(init, 'Semaphore.init');
    const initial = intOption('initial', opts.initial, 0, SEM_VALUE_MAX, 0);
    const track = boolOption('trackHolders', opts.trackHolders, true);
    const b = embedded('semaphore', segment, byteOffset, SEMAPHORE_SIZE).base;
    const w = segment.words;
    // Plain initialisation before the segment is published (SYNC READY orders it).
    Atomics.store(w, b + SEM_TOTAL_OFFSET / 4, initial);
    Atomics.store(w, b + SEM_FLAGS_OFFSET / 4, track ? 0 : SEM_FLAG_UNTRACKED);
    Atomics.store(w, b + SEM_VALUE_OFFSET / 4, initial);
  }

  /**
   * Takes one unit, waiting without blocking the event loop while there is none.
   * @returns `{ recovered }`: true when this call returned units of a dead holder.
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * await slots.acquire({ timeout: 500 });
   * ```
   */
  async acquire(options: LockOptions = {}): Promise<LockResult> {
    this.assertOpen();
    options = callOptions(options, 'Semaphore.acquire');
    validateTimeout(options.timeout);
    throwIfAborted(options.signal, `acquiring ${this.placement.what}`);
    return this.#core.tryAcquire() ?? contendAsync(new Acquire(this.#core), options, `acquiring ${this.placement.what}`, this.waits, () => this.isClosed());
  }

  /** Takes one unit, blocking this thread while there is none. @throws ERR_TIMEOUT, ERR_CLOSED, ERR_INVALID_ARG */
  acquireSync(options: { timeout?: number } = {}): LockResult {
    this.assertOpen();
    const timeout = validateTimeout(callOptions(options, 'Semaphore.acquireSync').timeout);
    return this.#core.tryAcquire() ?? contendSync(new Acquire(this.#core), timeout, `acquiring ${this.placement.what}`);
  }

  /** Takes one unit if one is free. @returns `{ recovered }`, or null when none is free. @throws ERR_CLOSED */
  tryAcquire(): LockResult | null {
    this.assertOpen();
    return this.#core.tryAcquire();
  }

  /**
   * Returns `n` units (default 1) and wakes the waiters (a system call only when some waiter sleeps). Units this process holds are returned first;
   * beyond them the units are new (signalling).
   * @throws ERR_INVALID_ARG (n not a positive integer, or the value would pass 2^31-1), ERR_CLOSED
   */
  release(n = 1): void {
    this.assertOpen();
    if (!Number.isInteger(n) || n < 1 || n > SEM_VALUE_MAX) throw invalidArg('release(n): n', `an integer 1..${SEM_VALUE_MAX}`, n);
    this.#core.release(n);
  }

  /** Free units right now (a snapshot). @throws ERR_CLOSED */
  get value(): number {
    this.assertOpen();
    // Acquire load: a snapshot of SEM-VALUE.
    return Atomics.load(this.#core.words, this.#core.value);
  }
}
