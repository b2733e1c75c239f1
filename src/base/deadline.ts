/** Timeouts and cancellation shared by every call that can wait. */
import { ShmbusError } from '../errors.js';

/** Options of every call that can wait. */
export interface WaitOptions {
  /** Milliseconds to wait at most; `undefined` or `Infinity` waits forever, 0 only tries. */
  timeout?: number;
  /** Aborting rejects the wait with `ERR_ABORTED` (its `cause` is `signal.reason`). */
  signal?: AbortSignal;
}

/** An absolute point on the monotonic clock (`performance.now()` ms); Infinity = never. */
export type Deadline = number;

export function validateTimeout(timeout: number | undefined, what = 'timeout'): number {
  if (timeout === undefined) return Infinity;
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
    throw new ShmbusError('ERR_INVALID_ARG', `${what} must be a number of milliseconds >= 0 (got ${String(timeout)})`);
  }
  return timeout;
}

export function deadlineAfter(timeout: number | undefined): Deadline {
  const t = validateTimeout(timeout);
  return t === Infinity ? Infinity : performance.now() + t;
}

/** Milliseconds left until `deadline` (0 once passed, Infinity for no deadline). */
export function remaining(deadline: Deadline): number {
  return deadline === Infinity ? Infinity : Math.max(0, deadline - performance.now());
}

export function abortedError(signal: AbortSignal, what: string): ShmbusError {
  return new ShmbusError('ERR_ABORTED', `${what} was aborted`, { cause: signal.reason });
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortedError(signal, what);
}

export function timeoutError(what: string, timeout: number, segment?: string): ShmbusError {
  return new ShmbusError('ERR_TIMEOUT', `${what} timed out after ${timeout} ms`, segment === undefined ? {} : { segment });
}

/** Blocks the calling thread for `ms` (sync paths only: polling while another process initialises). */
export function sleepSync(ms: number): void {
  Atomics.wait(SLEEPER, 0, 0, ms);
}
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
