/**
 * Cross-process wait/wake on a 32-bit word of shared memory. Atomics.wait/notify only see waiters of their own
 * process, so these go through the addon's futex. Results mirror Atomics.wait: 'ok' | 'not-equal' | 'timed-out'.
 * A wait may end 'ok' spuriously or when the word changed without a wake: callers re-check their condition.
 */
import { native } from '../native/binding.js';
import { abortedError, throwIfAborted, validateTimeout, type WaitOptions } from './deadline.js';
import type { ShmbusError } from '../errors.js';

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';
const RESULTS: readonly WaitResult[] = ['ok', 'not-equal', 'timed-out'];

/** Something that can cancel its pending async waits at once (a Segment on close). */
export interface WaitOwner {
  readonly pendingWaits: Set<(err: ShmbusError) => void>;
}

/** Blocks this thread until `words[index]` is woken or no longer `expected`. */
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
const pending = new Map<number, { resolve: Pending; words: Int32Array; ref: boolean }>();
let nextId = 1;
let initialised = false;
/** Pending waits that keep the process alive (the others were started with ref = false: an unref'ed reader). */
let refs = 0;

function onDone(id: number, result: number): void {
  pending.get(id)?.resolve(result);
}

function track(id: number, words: Int32Array, resolve: Pending, ref: boolean): void {
  if (!initialised) {
    native.waiterInit(onDone);
    initialised = true;
  }
  pending.set(id, { resolve, words, ref });
  // Keep the process alive while a (ref'ed) wait is pending, as a socket read would.
  if (ref && ++refs === 1) native.waiterRef(true);
}

function untrack(id: number): void {
  const p = pending.get(id);
  if (p === undefined) return;
  pending.delete(id);
  if (p.ref && --refs === 0) native.waiterRef(false);
}

/**
 * Waits without blocking the event loop. The wait parks on a native waiter thread (futex_waitv), never on
 * libuv's thread pool, so 1000 pending waits leave fs and dns alone. With `ref` false the pending wait (and its
 * timer) does not keep the process alive (an unref'ed reader, like `net.Socket#unref`).
 */
export function waitAsync(
  words: Int32Array,
  index: number,
  expected: number,
  options: WaitOptions = {},
  owner?: WaitOwner,
  ref = true,
): Promise<WaitResult> {
  let timeout: number;
  try {
    timeout = validateTimeout(options.timeout);
    throwIfAborted(options.signal, 'wait');
  } catch (e) {
    return Promise.reject(e);
  }
  const { signal } = options;
  // Acquire: the caller reads shared state after a 'not-equal' (pairs with the writer's store before its wake).
  if (Atomics.load(words, index) !== (expected | 0)) return Promise.resolve('not-equal');
  if (timeout === 0) return Promise.resolve('timed-out');
  return new Promise<WaitResult>((resolve, reject) => {
    const id = nextId++;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      untrack(id);
      if (timer !== undefined) clearTimeout(timer);
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
    track(
      id,
      words,
      (result) => {
        finish();
        resolve(RESULTS[result]!);
      },
      ref,
    );
    if (timeout !== Infinity) {
      timer = setTimeout(() => {
        cancel();
        resolve('timed-out');
      }, timeout);
      if (!ref) timer.unref();
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    owner?.pendingWaits.add(cancelByOwner);
    native.waitAsyncStart(words, index, expected, id);
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
