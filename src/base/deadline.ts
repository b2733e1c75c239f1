/**
 * Timeouts and cancellation shared by every call that can wait: one implementation of "what `{ timeout, signal }`
 * means" (validation, deadlines, timers longer than setTimeout allows, abort reasons).
 */
import { ShmbusError } from '../errors.js';
import { invalidArg, optionsObject } from './options.js';

/** Options of every call that can wait. */
export interface WaitOptions {
  /**
   * Milliseconds to wait at most; `undefined` or `Infinity` waits forever, 0 only tries. Any finite value means
   * that long, including values above setTimeout's 2^31-1 ms; from 1e15 ms (~31 700 years) on it is forever.
   */
  timeout?: number;
  /**
   * Aborting rejects the wait with `ERR_ABORTED` (its `cause` is `signal.reason`), or with `ERR_TIMEOUT` when the
   * reason is a `TimeoutError` (`AbortSignal.timeout()`).
   */
  signal?: AbortSignal;
}

/** An absolute point on the monotonic clock (`performance.now()` ms); Infinity = never. */
export type Deadline = number;

/** Timeouts from here on are "forever" (the addon uses the same bound: no double -> time_t overflow). */
export const FOREVER_MS = 1e15;

/** setTimeout's largest delay (a larger one fires after 1 ms): longer timers are re-armed in chunks of it. */
const MAX_TIMER_MS = 0x7fffffff;

/** A validated timeout in ms: Infinity for undefined, Infinity, or anything from {@link FOREVER_MS} on. */
export function validateTimeout(timeout: unknown, what = 'timeout'): number {
  if (timeout === undefined) return Infinity;
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
    throw invalidArg(what, 'a number of milliseconds >= 0 (or Infinity)', timeout);
  }
  return timeout >= FOREVER_MS ? Infinity : timeout;
}

/** A validated `signal` option: undefined or an AbortSignal. */
export function validateSignal(signal: unknown, what = 'signal'): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw invalidArg(what, 'an AbortSignal', signal);
}

/** `{ timeout, signal }` of one call that waits, validated, with its deadline. */
export interface CheckedWait {
  timeout: number;
  signal: AbortSignal | undefined;
  deadline: Deadline;
}

/**
 * The one entry of every wait path: validates the options object, `timeout` and `signal` (ERR_INVALID_ARG naming
 * them), throws at once if the signal is already aborted, and computes the deadline. Call it before arming any
 * timer or listener, so that a bad option leaves nothing behind.
 */
export function checkWait(options: WaitOptions | undefined, what: string): CheckedWait {
  const o = optionsObject(options, what);
  const timeout = validateTimeout(o.timeout);
  const signal = validateSignal(o.signal);
  if (signal?.aborted) throw abortedError(signal, what);
  return { timeout, signal, deadline: timeout === Infinity ? Infinity : performance.now() + timeout };
}

export function deadlineAfter(timeout: number | undefined): Deadline {
  const t = validateTimeout(timeout);
  return t === Infinity ? Infinity : performance.now() + t;
}

/** Milliseconds left until `deadline` (0 once passed, Infinity for no deadline). */
export function remaining(deadline: Deadline): number {
  return deadline === Infinity ? Infinity : Math.max(0, deadline - performance.now());
}

/** The error for an aborted wait: ERR_TIMEOUT for a TimeoutError reason (AbortSignal.timeout()), else ERR_ABORTED. */
export function abortedError(signal: AbortSignal, what: string): ShmbusError {
  const reason: unknown = signal.reason;
  if (reason instanceof DOMException && reason.name === 'TimeoutError') {
    return new ShmbusError('ERR_TIMEOUT', `${what} timed out (its signal's timeout fired)`, { cause: reason });
  }
  return new ShmbusError('ERR_ABORTED', `${what} was aborted`, { cause: reason });
}

/** Validates `signal` (ERR_INVALID_ARG unless undefined or an AbortSignal) and throws if it is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (validateSignal(signal)?.aborted) throw abortedError(signal!, what);
}

export function timeoutError(what: string, timeout: number, segment?: string): ShmbusError {
  return new ShmbusError('ERR_TIMEOUT', `${what} timed out after ${timeout} ms`, segment === undefined ? {} : { segment });
}

/** A timer armed by {@link setLongTimeout}. */
export interface LongTimer {
  /** Disarms it (idempotent). */
  clear(): void;
  /** Whether the timer keeps the process alive (as `Timeout#ref`/`unref`; kept across re-arms). */
  ref(): void;
  unref(): void;
}

/**
 * setTimeout for any delay: above 2^31-1 ms it re-arms in chunks (setTimeout alone would fire after 1 ms), and an
 * infinite delay arms nothing. Measured on the monotonic clock, like deadlines.
 */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  if (ms === Infinity) return { clear() {}, ref() {}, unref() {} };
  const end = performance.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  let refed = true;
  const arm = (left: number): void => {
    timer = setTimeout(() => {
      const now = remaining(end);
      if (now > 0 && left > MAX_TIMER_MS - 1) arm(now);
      else fn();
    }, Math.min(left, MAX_TIMER_MS));
    if (!refed) timer.unref();
  };
  arm(ms);
  return {
    clear() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
    ref() {
      refed = true;
      timer?.ref();
    },
    unref() {
      refed = false;
      timer?.unref();
    },
  };
}

/** Blocks the calling thread for `ms` (sync paths only: polling while another process initialises). */
export function sleepSync(ms: number): void {
  Atomics.wait(SLEEPER, 0, 0, ms);
}
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
