/**
 * Event: a cross-process event, manual-reset or auto-reset (PROTOCOL.md §4.4). One futex word holds the set bit
 * and a count of set() calls: a manual-reset set() releases every process waiting at that moment even if reset()
 * follows at once; an auto-reset set() releases exactly one waiter (or the next one to come).
 */
import {
  EVENT_FLAG_MANUAL_RESET,
  EVENT_FLAGS_OFFSET,
  EVENT_SIZE,
  EVENT_WAITERS_OFFSET,
  EVENT_WORD_OFFSET,
} from '../protocol/layout.js';
import { Segment } from '../segment/segment.js';
import { throwIfAborted, validateTimeout, type WaitOptions } from '../base/deadline.js';
import { wakeSleepers } from '../base/park.js';
import { spinFor } from '../base/spin.js';
import { boolOption, optionsObject } from '../base/options.js';
import {
  callOptions,
  contendAsync,
  contendSync,
  embedded,
  robustOptions,
  SyncPrimitive,
  type Contender,
  type NamedLayout,
  type RobustOptions,
  type SleepOn,
  type SyncCreateOptions,
} from './primitive.js';

/** How an event starts (written once, by its creator). */
export interface EventInit {
  /** true: set() releases every waiter and the event stays set until reset(). false (default): auto-reset. */
  manualReset?: boolean;
  /** Start in the set state (default false). */
  set?: boolean;
}

/**
 * Options of an Event object: `spin` (µs, default 10) re-reads the word before a wait sleeps; `livenessInterval`
 * bounds each sleep (an Event has no holder to check, so it only caps how long a sleep lasts).
 */
export type EventOptions = RobustOptions;
export type EventCreateOptions = SyncCreateOptions & EventInit;

const SET = 1;

/** The word after one more set(): the count goes up (wrapping in 31 bits) and the set bit is on. */
function afterSet(v: number): number {
  return ((((v >>> 1) + 1) & 0x7fffffff) * 2 + SET) | 0;
}

/** One wait (its own object: the word seen at its start decides whether a manual set() happened since). */
class Waiter implements Contender<true> {
  readonly words: Int32Array;
  readonly livenessInterval: number;
  readonly #word: number;
  readonly #waiters: number;
  readonly #manual: boolean;
  readonly #start: number;

  constructor(words: Int32Array, base: number, manual: boolean, livenessInterval: number) {
    this.words = words;
    this.livenessInterval = livenessInterval;
    this.#word = base + EVENT_WORD_OFFSET / 4;
    this.#waiters = base + EVENT_WAITERS_OFFSET / 4;
    this.#manual = manual;
    // SYNC EVENT-SET (acquire load): the state this wait starts from.
    this.#start = Atomics.load(words, this.#word);
  }

  /** Manual: set now, or set() was called since the wait began. Auto: consume the set bit. */
  attempt(): true | null {
    const w = this.words;
    // SYNC EVENT-SET (acquire load): pairs with set()'s CAS; what the setter wrote before is visible after it.
    const v = Atomics.load(w, this.#word);
    if (this.#manual) return (v & SET) !== 0 || v >>> 1 !== this.#start >>> 1 ? true : null;
    if ((v & SET) === 0) return null;
    // SYNC EVENT-CONSUME (acq-rel CAS set -> clear): exactly one waiter takes an auto-reset set().
    return Atomics.compareExchange(w, this.#word, v, v & ~SET) === v ? true : null;
  }

  sleepOn(): SleepOn | null {
    // Seq-cst load: the value the futex compares before sleeping (each set() changes the count bits, so the word
    // never comes back to a value a sleeper saw before a set, short of 2^31 sets).
    const v = Atomics.load(this.words, this.#word);
    const ready = this.#manual ? (v & SET) !== 0 || v >>> 1 !== this.#start >>> 1 : (v & SET) !== 0;
    // The park (§3) announces in `waiters`, then re-checks the word: Dekker with set()'s CAS then sleepers load.
    return ready ? null : { index: this.#word, value: v, sleepers: this.#waiters };
  }

  giveUp(): void {
    // set() wakes every sleeper (§3), so a waiter that leaves consumed no one else's wake.
  }
}

/**
 * An event shared by processes. Manual-reset: `set()` releases every waiter and the event stays set until
 * `reset()`. Auto-reset (default): `set()` releases exactly one waiter; with nobody waiting it stays set until one
 * comes; setting a set event does nothing. Nothing is held, so there is nothing to recover.
 *
 * @example
 * ```ts
 * const ready = Event.create('ready', { manualReset: true });
 * // in other processes: await Event.open('ready').wait({ timeout: 5000 });
 * ready.set();
 * ready.close(); Event.unlink('ready');
 * ```
 */
export class Event extends SyncPrimitive {
  /** What Event.create / Event.open make: kind 'event', laid out from `manualReset`, `set`. */
  static readonly layout: NamedLayout<EventCreateOptions> = {
    kind: 'event',
    size: EVENT_SIZE,
    init: (segment, options) => Event.init(segment, 0, options),
  };
  readonly #words: Int32Array;
  readonly #base: number;
  readonly #livenessInterval: number;
  readonly #spin: number;

  /**
   * Uses the {@link EVENT_SIZE} bytes at `byteOffset` (a multiple of 8) of `segment` as an event. Zero bytes are
   * an unset auto-reset event; {@link Event.init} sets other starts.
   * @throws ERR_INVALID_ARG (not a Segment, misaligned, out of range, bad options), ERR_CLOSED
   */
  constructor(segment: Segment, byteOffset: number, options: EventOptions = {}) {
    super('event', segment, byteOffset, EVENT_SIZE);
    this.#words = segment.words;
    this.#base = this.placement.base;
    const { livenessInterval, spin } = robustOptions(options, 'Event');
    this.#livenessInterval = livenessInterval;
    this.#spin = spin;
  }

  /**
   * Lays out an event at `byteOffset` of a segment nobody uses yet (call it from `Segment.create`'s `init`).
   * @throws ERR_INVALID_ARG
   * @example
   * ```ts
   * Segment.create('chan', { size: 4096, init: (s) => Event.init(s, 64, { manualReset: true }) });
   * ```
   */
  static init(segment: Segment, byteOffset: number, init: EventInit = {}): void {
    const opts = optionsObject(init, 'Event.init');
    const manualReset = boolOption('manualReset', opts.manualReset, false);
    const set = boolOption('set', opts.set, false);
    const b = embedded('event', segment, byteOffset, EVENT_SIZE).base;
    const w = segment.words;
    // Plain initialisation before the segment is published (SYNC READY orders it).
    Atomics.store(w, b + EVENT_FLAGS_OFFSET / 4, manualReset ? EVENT_FLAG_MANUAL_RESET : 0);
    Atomics.store(w, b + EVENT_WORD_OFFSET / 4, set ? SET : 0);
  }

  /** true for a manual-reset event (fixed by its creator). @throws ERR_CLOSED */
  get manualReset(): boolean {
    this.assertOpen();
    return this.#manual();
  }

  /** Whether the event is set right now (a snapshot). @throws ERR_CLOSED */
  get isSet(): boolean {
    this.assertOpen();
    // Acquire load: a snapshot of EVENT-SET.
    return (Atomics.load(this.#words, this.#base + EVENT_WORD_OFFSET / 4) & SET) !== 0;
  }

  /**
   * Sets the event. Manual-reset: releases every waiter (in every process). Auto-reset: releases one waiter, or
   * stays set for the next one; a no-op when already set. No system call when nobody sleeps on it.
   * @throws ERR_CLOSED
   */
  set(): void {
    this.assertOpen();
    const w = this.#words;
    const i = this.#base + EVENT_WORD_OFFSET / 4;
    const manual = this.#manual();
    for (;;) {
      // Seq-cst load of the word for the CAS below.
      const v = Atomics.load(w, i);
      if (!manual && (v & SET) !== 0) return;
      // SYNC EVENT-SET (seq-cst CAS): publishes what the setter wrote before; pairs with the waiters' loads.
      if (Atomics.compareExchange(w, i, v, afterSet(v)) === v) break;
    }
    // EVENT-SET then the sleepers word (§3): wakes every announced sleeper (auto-reset too: the one that wins
    // EVENT-CONSUME proceeds, the others find the bit clear and sleep again).
    wakeSleepers(w, this.#base + EVENT_WAITERS_OFFSET / 4, i);
  }

  /** Clears the set bit (waiters released by an earlier manual set() stay released). @throws ERR_CLOSED */
  reset(): void {
    this.assertOpen();
    const w = this.#words;
    const i = this.#base + EVENT_WORD_OFFSET / 4;
    for (;;) {
      // Seq-cst load of the word for the CAS below.
      const v = Atomics.load(w, i);
      // EVENT-CONSUME-like CAS: clears the bit without losing a concurrent set()'s count.
      if ((v & SET) === 0 || Atomics.compareExchange(w, i, v, v & ~SET) === v) return;
    }
  }

  /**
   * Waits until the event is set (manual-reset: or set() was called since this wait began; auto-reset: consumes
   * the set), without blocking the event loop.
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * await ready.wait({ timeout: 5000 });
   * ```
   */
  async wait(options: WaitOptions = {}): Promise<void> {
    this.assertOpen();
    options = callOptions(options, 'Event.wait');
    validateTimeout(options.timeout);
    throwIfAborted(options.signal, `waiting for ${this.placement.what}`);
    const waiter = this.#waiter();
    if (waiter.attempt() !== null || this.#spinOn(waiter)) return;
    await contendAsync(waiter, options, `waiting for ${this.placement.what}`, this.waits, () => this.isClosed());
  }

  /** Like {@link wait}, blocking this thread. @throws ERR_TIMEOUT, ERR_CLOSED, ERR_INVALID_ARG */
  waitSync(options: { timeout?: number } = {}): void {
    this.assertOpen();
    const timeout = validateTimeout(callOptions(options, 'Event.waitSync').timeout);
    const waiter = this.#waiter();
    if (waiter.attempt() !== null || this.#spinOn(waiter)) return;
    contendSync(waiter, timeout, `waiting for ${this.placement.what}`);
  }

  /** Re-reads the word for up to `spin` µs before a wait sleeps: true when the wait ended meanwhile. */
  #spinOn(waiter: Waiter): boolean {
    return spinFor(this.#spin, () => waiter.attempt()) !== null;
  }

  #waiter(): Waiter {
    return new Waiter(this.#words, this.#base, this.#manual(), this.#livenessInterval);
  }

  #manual(): boolean {
    // Written once by the creator before the segment was published (SYNC READY).
    return (Atomics.load(this.#words, this.#base + EVENT_FLAGS_OFFSET / 4) & EVENT_FLAG_MANUAL_RESET) !== 0;
  }
}
