/**
 * Cross-process wait/wake on a 32-bit word of shared memory. Atomics.wait/notify only see waiters of their own
 * process, so these go through the addon's futex. Results mirror Atomics.wait: 'ok' | 'not-equal' | 'timed-out'.
 * A wait may end 'ok' spuriously or when the word changed without a wake: callers re-check their condition.
 */
import { native } from '../native/binding.js';
import { abortedError, checkWait, setLongTimeout, validateTimeout, type LongTimer, type WaitOptions } from './deadline.js';
import { ShmbusError } from '../errors.js';

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';
const RESULTS: readonly WaitResult[] = ['ok', 'not-equal', 'timed-out'];

/** Something that can cancel its pending async waits at once (a Segment on close). */
export interface WaitOwner {
  readonly pendingWaits: Set<(err: ShmbusError) => void>;
}

/**
 * Blocks this thread until `words[index]` is woken or no longer `expected`. Any timeout means that long (the addon
 * turns it into a CLOCK_MONOTONIC deadline; Infinity and >= 1e15 ms are forever).
 */
export function waitSync(words: Int32Array, index: number, expected: number, timeout?: number): WaitResult {
  const t = validateTimeout(timeout);
  return RESULTS[native.wait(words, index, expected, t === Infinity ? -1 : t)]!;
}

/** Wakes up to `count` waiters (all by default) in every process; returns how many were woken. */
export function wake(words: Int32Array, index: number, count = Infinity): number {
  return native.wake(words, index, count >= 0x7fffffff ? 0x7fffffff : Math.max(0, Math.floor(count)));
}

type Pending = (result: number) => void;
// Each entry also holds the waited-on view: while a native thread sleeps on that address, the memory must not be
// garbage-collected (and unmapped) under it.
const pending = new Map<number, { resolve: Pending; words: Int32Array }>();
let nextId = 1;
let initialised = false;

function onDone(id: number, result: number): void {
  pending.get(id)?.resolve(result);
}

function track(id: number, words: Int32Array, resolve: Pending): void {
  if (!initialised) {
    native.waiterInit(onDone);
    initialised = true;
  }
  pending.set(id, { resolve, words });
  // Keep the process alive while a wait is pending, as a socket read would.
  if (pending.size === 1) native.waiterRef(true);
}

function untrack(id: number): void {
  if (pending.delete(id) && pending.size === 0) native.waiterRef(false);
}

/**
 * Waits without blocking the event loop. The wait parks on a native waiter thread (futex_waitv), never on
 * libuv's thread pool, so 1000 pending waits leave fs and dns alone.
 */
export function waitAsync(
  words: Int32Array,
  index: number,
  expected: number,
  options: WaitOptions = {},
  owner?: WaitOwner,
): Promise<WaitResult> {
  let timeout: number;
  let signal: AbortSignal | undefined;
  try {
    ({ timeout, signal } = checkWait(options, 'wait'));
  } catch (e) {
    return Promise.reject(e);
  }
  // Acquire: the caller reads shared state after a 'not-equal' (pairs with the writer's store before its wake).
  if (Atomics.load(words, index) !== (expected | 0)) return Promise.resolve('not-equal');
  if (timeout === 0) return Promise.resolve('timed-out');
  return new Promise<WaitResult>((resolve, reject) => {
    const id = nextId++;
    let timer: LongTimer | undefined;
    const finish = (): void => {
      untrack(id);
      timer?.clear();
      signal?.removeEventListener('abort', onAbort);
      owner?.pendingWaits.delete(cancelByOwner);
    };
    const cancel = (): void => {
      native.waitAsyncCancel(id);
      finish();
    };
    const onAbort = (): void => {
      cancel();
      reject(abortedError(signal!, 'wait'));
    };
    const cancelByOwner = (err: ShmbusError): void => {
      cancel();
      reject(err);
    };
    track(id, words, (result) => {
      finish();
      resolve(RESULTS[result]!);
    });
    try {
      native.waitAsyncStart(words, index, expected, id);
    } catch (e) {
      untrack(id);
      // EAGAIN: the waiter's thread limit (thread-per-wait mode) or no thread could be started.
      const full = (e as { code?: unknown }).code === 'EAGAIN';
      reject(full ? new ShmbusError('ERR_OS', `could not start an async wait: ${(e as Error).message}`, { cause: e }) : e);
      return;
    }
    // Timers above 2^31-1 ms are re-armed in chunks (a bare setTimeout would fire after 1 ms).
    if (timeout !== Infinity) {
      timer = setLongTimeout(() => {
        cancel();
        resolve('timed-out');
      }, timeout);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    owner?.pendingWaits.add(cancelByOwner);
  });
}

/** Which native strategy parks async waits ('futex_waitv' on Linux >= 5.16). */
export function asyncWaiterKind(): 'futex_waitv' | 'thread-per-wait' {
  if (!initialised) {
    native.waiterInit(onDone);
    initialised = true;
  }
  return native.waiterKind();
}
