/**
 * What every sync primitive shares: living either in its own named segment (payload offset 0) or embedded at an
 * aligned offset of a caller's segment; the liveness-check options; close() cancelling pending async waits.
 */
import { threadId } from 'node:worker_threads';
import { ShmbusError } from '../errors.js';
import { SYNC_ALIGN, type SegmentKind } from '../protocol/layout.js';
import { selfIdentity } from '../base/process.js';
import { Segment } from '../segment/segment.js';
import { deadlineAfter, remaining, timeoutError, validateTimeout, type WaitOptions } from '../base/deadline.js';
import { waitAsync, waitSync, type WaitOwner } from '../base/futex.js';
import { parkAsync, parkSync } from '../base/park.js';
import { validateSpin } from '../base/spin.js';
import { invalidArg, livenessOption, optionsObject } from '../base/options.js';

/** Outcome of taking a lock (Mutex, RwLock) or a unit (Semaphore). */
export interface LockResult {
  /**
   * The previous holder died holding the lock, and this caller took it over: the state it guards may be half
   * updated. Check or repair it before relying on it.
   */
  readonly recovered: boolean;
}

/** Options of every lock call that can wait. */
export type LockOptions = WaitOptions;

/** The two results every primitive hands out (frozen: callers may compare them by identity). */
export const CLEAN: LockResult = Object.freeze({ recovered: false });
export const RECOVERED: LockResult = Object.freeze({ recovered: true });

/** How a waiter watches the holder of a robust primitive. */
export interface RobustOptions {
  /**
   * Milliseconds between two liveness checks of the holder while waiting (default 50): a holder that died is
   * noticed at most this long after the wait began, and its lock is taken over at once.
   */
  livenessInterval?: number;
  /** Microseconds to re-read the primitive before sleeping on it (default 10; 0 sleeps at once). */
  spin?: number;
}

/** Options of `X.create(name, ...)` for every primitive. */
export interface SyncCreateOptions extends RobustOptions {
  /** Permission bits of the segment, within 0o666 (default 0o600, owner only). */
  mode?: number;
}

/** Options of `X.open(name, ...)` for every primitive. */
export interface SyncOpenOptions extends RobustOptions {
  /** Milliseconds to wait for a segment its creator is still initialising (default 1000). */
  timeout?: number;
}

export const DEFAULT_LIVENESS_INTERVAL = 50;
/** Default spin of the locks, in microseconds: long enough for a hand-over between running processes. */
export const DEFAULT_SPIN_US = 10;

/** This thread's identity as the protocol stores it (§4.0): pid, start time in u32 halves, pid namespace, thread. */
export interface Me {
  pid: number;
  startLo: number;
  startHi: number;
  ns: number;
  thread: number;
}

let me: Me | undefined;

export function identity(): Me {
  if (me === undefined) {
    const { pid, startTime, ns } = selfIdentity();
    // threadId is 0 on the main thread and unique per worker within the process.
    me = {
      pid,
      startLo: startTime % 2 ** 32 | 0,
      startHi: Math.floor(startTime / 2 ** 32) | 0,
      ns: ns | 0,
      thread: threadId | 0,
    };
  }
  return me;
}

/** A start time stored as two u32 halves (low first), as a number. */
export function startTime(lo: number, hi: number): number {
  return (hi >>> 0) * 2 ** 32 + (lo >>> 0);
}

/** The memory a primitive lives in, resolved and validated. */
export interface Placement {
  segment: Segment;
  /** Word index of the primitive's first byte in `segment.words`. */
  base: number;
  /** The segment belongs to the primitive (named form): close() closes it. */
  owned: boolean;
  /** For messages: `mutex "jobs.lock"` or `mutex at byte 64 of segment "topic.x"`. */
  what: string;
}

export function embedded(kind: SegmentKind, segment: unknown, byteOffset: unknown, size: number): Placement {
  if (!(segment instanceof Segment)) throw invalidArg(`new ${title(kind)}(segment, byteOffset): segment`, 'a Segment', segment);
  if (
    typeof byteOffset !== 'number' ||
    !Number.isInteger(byteOffset) ||
    byteOffset < 0 ||
    byteOffset % SYNC_ALIGN !== 0 ||
    byteOffset + size > segment.size
  ) {
    throw new ShmbusError(
      'ERR_INVALID_ARG',
      `a ${kind} needs ${size} bytes at a multiple of ${SYNC_ALIGN} inside the payload ` +
        `(segment "${segment.name}" has ${segment.size} bytes; got byteOffset ${String(byteOffset)})`,
      { segment: segment.name },
    );
  }
  segment.words; // throws ERR_CLOSED now rather than at first use
  return { segment, base: byteOffset / 4, owned: false, what: `${kind} at byte ${byteOffset} of segment "${segment.name}"` };
}

/** Creates the named segment of a primitive (its own kind, the primitive at payload offset 0). */
function createNamed<O>(layout: NamedLayout<O>, name: string, options: O & SyncCreateOptions): Placement {
  const segment = Segment.create(name, {
    size: layout.size,
    kind: layout.kind,
    ...(options.mode === undefined ? {} : { mode: options.mode }),
    ...(layout.init === undefined ? {} : { init: (seg: Segment) => layout.init!(seg, options) }),
  });
  return { segment, base: 0, owned: true, what: `${layout.kind} "${name}"` };
}

function openNamed(layout: NamedLayout<unknown>, name: string, options: SyncOpenOptions): Placement {
  const { kind, size } = layout;
  const segment = Segment.open(name, { kind, ...(options.timeout === undefined ? {} : { timeout: options.timeout }) });
  if (segment.size < size) {
    segment.close();
    throw new ShmbusError('ERR_SHM_CORRUPT', `${kind} "${name}" has ${segment.size} payload bytes, needs ${size}`, {
      segment: name,
    });
  }
  return { segment, base: 0, owned: true, what: `${kind} "${name}"` };
}

/** Checks the options every primitive takes: livenessInterval (whole ms) and spin (µs). */
export function robustOptions(options: RobustOptions | undefined, where = 'lock'): { livenessInterval: number; spin: number } {
  const o = optionsObject(options, where);
  const livenessInterval = livenessOption(o.livenessInterval, DEFAULT_LIVENESS_INTERVAL);
  if (o.spin !== undefined && (typeof o.spin !== 'number' || !Number.isFinite(o.spin) || o.spin < 0)) {
    throw invalidArg('spin', 'a finite number of microseconds >= 0', o.spin);
  }
  return { livenessInterval, spin: validateSpin(o.spin, DEFAULT_SPIN_US) };
}

/**
 * The options argument of a call that can wait: an object (undefined = {}), whose `signal` is an AbortSignal.
 * A number here (a positional timeout, as in older APIs) is refused rather than read as "no timeout".
 */
export function callOptions<T extends { timeout?: number; signal?: AbortSignal }>(options: T | undefined, where: string): T {
  const o = optionsObject(options, where) as T & { signal?: unknown };
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidArg('signal', 'an AbortSignal', o.signal);
  return o;
}

/** Async waits of one primitive object, rejected with ERR_CLOSED by its close(). */
export class WaitSet implements WaitOwner {
  readonly pendingWaits = new Set<(err: ShmbusError) => void>();

  cancelAll(err: ShmbusError): void {
    for (const cancel of [...this.pendingWaits]) cancel(err);
  }
}

function title(kind: SegmentKind): string {
  return kind === 'rwlock' ? 'RwLock' : kind.charAt(0).toUpperCase() + kind.slice(1);
}

/** Where a contended call sleeps: futex word `index` while it holds `value`. */
export interface SleepOn {
  index: number;
  value: number;
  /**
   * Index of the word's sleepers word (PROTOCOL.md §3): the sleep is announced there (base/park.ts) and never
   * withdrawn. Undefined when the word carries its own waiters bit (Mutex word, RwLock `writer`).
   */
  sleepers?: number;
}

/**
 * The contended path of every blocking primitive, as rounds: try; if a liveness check is due, let the attempt look
 * at the holders; then sleep on a futex word for at most one liveness interval and try again.
 */
export interface Contender<T> {
  readonly words: Int32Array;
  readonly livenessInterval: number;
  /** One try. `checkLiveness` is true at most once per interval: then dead holders may be taken over. */
  attempt(checkLiveness: boolean): T | null;
  /** Where to sleep; null to retry at once (the state just moved). */
  sleepOn(): SleepOn | null;
  /** Called once when the caller gives up (timeout, abort, close): pass on a wake it may have consumed. */
  giveUp(): void;
}

interface Sleep extends SleepOn {
  ms: number;
}

/** The rounds of one contended call: each either ends it (a result, or ERR_TIMEOUT) or says how to sleep. */
class Rounds<T> {
  readonly #c: Contender<T>;
  readonly #timeout: number;
  readonly #deadline: number;
  readonly #what: string;
  #nextCheck: number;

  constructor(c: Contender<T>, timeout: number, what: string) {
    this.#c = c;
    this.#timeout = timeout;
    this.#deadline = deadlineAfter(timeout);
    this.#what = what;
    this.#nextCheck = performance.now() + c.livenessInterval;
  }

  /** A result, a sleep to take before the next round, or null to go again at once. @throws ERR_TIMEOUT */
  next(): { done: T } | Sleep | null {
    const c = this.#c;
    const now = performance.now();
    const due = now >= this.#nextCheck;
    if (due) this.#nextCheck = now + c.livenessInterval;
    const r = c.attempt(due);
    if (r !== null) return { done: r };
    const left = remaining(this.#deadline);
    if (left === 0) {
      c.giveUp();
      throw timeoutError(this.#what, this.#timeout);
    }
    const sleep = c.sleepOn();
    if (sleep === null) return null;
    return { ...sleep, ms: Math.min(left, Math.max(1, this.#nextCheck - performance.now())) };
  }
}

/** Blocks this thread until `c.attempt` succeeds or the timeout passes (ERR_TIMEOUT). */
export function contendSync<T>(c: Contender<T>, timeout: number, what: string): T {
  const rounds = new Rounds(c, timeout, what);
  const w = c.words;
  for (;;) {
    const r = rounds.next();
    if (r === null) continue;
    if ('done' in r) return r.done;
    if (r.sleepers === undefined) waitSync(w, r.index, r.value, r.ms);
    // Re-check after the announcement (seq-cst load; Dekker with the waker's change then sleepers load).
    else parkSync(w, r.sleepers, r.index, r.value, () => Atomics.load(w, r.index) !== r.value, r.ms);
  }
}

/** Like {@link contendSync} without blocking the event loop; also ERR_ABORTED and ERR_CLOSED. */
export async function contendAsync<T>(
  c: Contender<T>,
  options: WaitOptions,
  what: string,
  owner: WaitOwner,
  isClosed: () => boolean,
): Promise<T> {
  const { signal } = options;
  const rounds = new Rounds(c, validateTimeout(options.timeout), what);
  const w = c.words;
  for (;;) {
    // Closed: the memory may already be unmapped (a zero page), so there is nothing to pass on or undo.
    if (isClosed()) throw new ShmbusError('ERR_CLOSED', `${what}: closed while waiting`);
    const r = rounds.next();
    if (r === null) continue;
    if ('done' in r) return r.done;
    const opts = { timeout: r.ms, ...(signal ? { signal } : {}) };
    try {
      if (r.sleepers === undefined) await waitAsync(w, r.index, r.value, opts, owner);
      // Re-check after the announcement (seq-cst load; Dekker with the waker's change then sleepers load).
      else await parkAsync(w, r.sleepers, r.index, r.value, () => Atomics.load(w, r.index) !== r.value, opts, owner);
    } catch (e) {
      // Nothing to withdraw (a sleepers announcement heals by itself); after close() the memory is gone anyway.
      if (!isClosed()) c.giveUp();
      throw e;
    }
  }
}

/**
 * What a named primitive's segment holds (the kind, the primitive's size, how its creator lays it out). Part of the
 * public types because `create`/`open` are typed through it (not stripped as internal).
 */
export interface NamedLayout<O> {
  readonly kind: SegmentKind;
  readonly size: number;
  init?(segment: Segment, options: O): void;
}

/** A primitive class as the shared create/open see it (public for the same reason as {@link NamedLayout}). */
export interface SyncClass<T extends SyncPrimitive, O> {
  new (segment: Segment, byteOffset: number, options?: RobustOptions): T;
  readonly layout: NamedLayout<O>;
}

/** What every sync primitive object shares: where it lives, create/open/unlink, close(), pending async waits. */
export abstract class SyncPrimitive {
  /** The segment holding the primitive (its own for the named form). */
  readonly segment: Segment;
  /** Byte offset of the primitive inside the segment's payload. */
  readonly byteOffset: number;
  /** @internal */
  protected readonly placement: Placement;
  /** @internal */
  protected readonly waits = new WaitSet();
  #closed = false;

  protected constructor(kind: SegmentKind, segment: Segment, byteOffset: number, size: number) {
    this.placement = embedded(kind, segment, byteOffset, size);
    this.segment = segment;
    this.byteOffset = byteOffset;
  }

  /**
   * Creates a named primitive of this class (a segment of its own kind, the primitive at payload offset 0),
   * free / unlocked / laid out from `options` (Semaphore `initial`, `trackHolders`; Event `manualReset`, `set`).
   * @throws ERR_SHM_EXISTS, ERR_INVALID_NAME, ERR_INVALID_ARG (bad options; `mode` outside 0o666),
   * ERR_SHM_NO_SPACE, ERR_SHM_PERMISSION
   * @example
   * ```ts
   * const m = Mutex.create('jobs.lock');
   * const slots = Semaphore.create('slots', { initial: 4, mode: 0o660 });
   * ```
   */
  static create<T extends SyncPrimitive, O extends SyncCreateOptions>(this: SyncClass<T, O>, name: string, options?: O): T {
    const opts = optionsObject(options, `${title(this.layout.kind)}.create`) as O;
    robustOptions(opts, `${title(this.layout.kind)}.create`);
    return adoptNamed(createNamed(this.layout, name, opts), (seg) => new this(seg, 0, opts));
  }

  /**
   * Opens a named primitive of this class that another process created.
   * @throws ERR_SHM_NOT_FOUND, ERR_SHM_KIND, ERR_SHM_CORRUPT, ERR_SHM_VERSION, ERR_SHM_PERMISSION, ERR_INVALID_NAME,
   * ERR_TIMEOUT (its creator is still initialising it), ERR_INVALID_ARG
   * @example
   * ```ts
   * const m = Mutex.open('jobs.lock', { livenessInterval: 20 });
   * ```
   */
  static open<T extends SyncPrimitive>(this: SyncClass<T, never>, name: string, options?: SyncOpenOptions): T {
    const opts = optionsObject(options, `${title(this.layout.kind)}.open`);
    robustOptions(opts, `${title(this.layout.kind)}.open`);
    return adoptNamed(openNamed(this.layout, name, opts), (seg) => new this(seg, 0, opts));
  }

  /**
   * Removes a named primitive's name; processes that have it open keep using it.
   * @throws ERR_SHM_NOT_FOUND, ERR_SHM_PERMISSION, ERR_INVALID_NAME
   */
  static unlink(name: string): void {
    Segment.unlink(name);
  }

  /**
   * Detaches this object (idempotent); closes the named form's segment. Pending async calls reject with
   * ERR_CLOSED. Locks or units held stay held until this process exits.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.waits.cancelAll(new ShmbusError('ERR_CLOSED', `${this.placement.what} was closed`));
    if (this.placement.owned) this.segment.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal marks the segment as this object's own (named form). */
  adopt(what: string): void {
    this.placement.owned = true;
    this.placement.what = what;
  }

  /** @internal */
  protected isClosed(): boolean {
    return this.#closed || this.segment.closed;
  }

  /** @internal */
  protected assertOpen(): void {
    if (this.isClosed()) throw new ShmbusError('ERR_CLOSED', `${this.placement.what} is closed`);
  }
}

/** Wraps a named segment into its primitive object; the segment is closed if that fails. */
function adoptNamed<T extends SyncPrimitive>(placement: Placement, make: (segment: Segment) => T): T {
  let p: T;
  try {
    p = make(placement.segment);
  } catch (e) {
    placement.segment.close();
    throw e;
  }
  p.adopt(placement.what);
  return p;
}
