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
  /** @internal (stripped from the published types together with Segment's, which implements it) */
  readonly pendingWaits: Set<(err: ShmbusError) => void>;
  /** @internal False while the owner is unref'd: its pending waits do not keep the event loop alive. */
  readonly refed?: boolean;
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
interface Entry {
  resolve: Pending;
  // The waited-on view: while a native thread sleeps on that address, the memory must not be garbage-collected
  // (and unmapped) under it.
  words: Int32Array;
  owner: WaitOwner | undefined;
  refed: boolean;
  timer: LongTimer | undefined;
}
const pending = new Map<number, Entry>();
/** Pending waits that keep the process alive (their owner is not unref'd). */
let refedPending = 0;
let nextId = 1;
let initialised = false;

function onDone(id: number, result: number): void {
  pending.get(id)?.resolve(result);
}

function countRef(delta: number): void {
  const before = refedPending;
  refedPending += delta;
  // Keep the process alive while a ref'd wait is pending, as a socket read would.
  if ((before === 0) !== (refedPending === 0)) native.waiterRef(refedPending > 0);
}

function track(id: number, entry: Entry): void {
  if (!initialised) {
    native.waiterInit(onDone);
    initialised = true;
  }
  pending.set(id, entry);
  if (entry.refed) countRef(1);
}

function untrack(id: number): void {
  const e = pending.get(id);
  if (e === undefined) return;
  pending.delete(id);
  if (e.refed) countRef(-1);
}

/** Re-applies `owner.refed` to its pending waits (call after the owner's ref()/unref()). */
export function ownerRefChanged(owner: WaitOwner): void {
  const refed = owner.refed !== false;
  for (const e of pending.values()) {
    if (e.owner !== owner || e.refed === refed) continue;
    e.refed = refed;
    if (refed) e.timer?.ref();
    else e.timer?.unref();
    countRef(refed ? 1 : -1);
  }
}

/**
 * Waits without blocking the event loop. The wait is an io_uring futex wait completed on the loop itself, or parks
 * on a native waiter thread (futex_waitv) where io_uring cannot wait on a futex; never on libuv's thread pool, so
 * 1000 pending waits leave fs and dns alone. With `ref` false the pending wait (and its
 * timer) does not keep the process alive (an unref'ed reader, like `net.Socket#unref`).
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
    const entry: Entry = {
      resolve: (result) => {
        finish();
        resolve(RESULTS[result]!);
      },
      words,
      owner,
      refed: owner?.refed !== false,
      timer: undefined,
    };
    track(id, entry);
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
      if (!entry.refed) timer.unref();
      entry.timer = timer;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    owner?.pendingWaits.add(cancelByOwner);
  });
}

/**
 * Which native strategy parks async waits: 'io_uring' (Linux >= 6.7: an io_uring FUTEX_WAIT submitted by the
 * event-loop thread, completed through an eventfd the loop polls: no thread hop), else 'futex_waitv' (Linux >= 5.16:
 * a waiter thread per 127 waits, completions posted to the loop), else 'thread-per-wait'. SHMBUS_WAITER=waitv or
 * =threads picks the fallbacks.
 */
export function asyncWaiterKind(): 'io_uring' | 'futex_waitv' | 'thread-per-wait' {
  if (!initialised) {
    native.waiterInit(onDone);
    initialised = true;
  }
  return native.waiterKind();
}
