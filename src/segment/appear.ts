/**
 * Waiting for a named segment to appear (a consumer started before its producer). Shared-memory names have no
 * portable notification, so both waits poll with a bounded backoff; the async one is also woken early by an
 * inotify watch of /dev/shm for the name when the platform has one. One implementation for Queue.open,
 * Queue.openAsync and Topic.subscribe({ timeout }).
 */
import { watch, type FSWatcher } from 'node:fs';
import { abortedError, remaining, sleepSync } from '../base/deadline.js';
import { OS_NAME_PREFIX } from '../protocol/layout.js';

/**
 * One look for the segment: its handle, or undefined when it does not exist yet. `last` is true for the look at
 * the deadline, which must throw the caller's "not found" error instead of returning undefined.
 */
export type Attempt<T> = (last: boolean) => T | undefined;

/** Longest pause between two looks (ms). */
const MAX_PAUSE_MS = 20;

/** Looks for the segment until `attempt` returns it, blocking this thread between looks. */
export function appearSync<T>(attempt: Attempt<T>, deadline: number, signal: AbortSignal | undefined, what: string): T {
  for (let pause = 1; ; pause = Math.min(2 * pause, MAX_PAUSE_MS)) {
    if (signal?.aborted) throw abortedError(signal, what);
    const left = remaining(deadline);
    const found = attempt(left === 0);
    if (found !== undefined) return found;
    sleepSync(Math.min(pause, left));
  }
}

/** A pending {@link appearAsync}: cancel it (rejects with `err`), or let it stop keeping the process alive. */
export interface AppearWait<T> {
  readonly promise: Promise<T>;
  cancel(err: unknown): void;
  unref(): void;
}

/**
 * Looks for the segment until `attempt` returns it, without blocking the event loop: at once, then after each
 * backoff pause or as soon as /dev/shm reports the name. `refed: false` starts it unref'd.
 */
export function appearAsync<T>(
  name: string,
  attempt: Attempt<T>,
  deadline: number,
  signal: AbortSignal | undefined,
  what: string,
  refed = true,
): AppearWait<T> {
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let keepAlive = refed;
  let settled = false;
  let settle: (err: unknown, value?: T) => void = () => undefined;
  const promise = new Promise<T>((resolve, reject) => {
    settle = (err, value) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      watcher?.close();
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(value as T);
      else reject(err);
    };
  });
  const onAbort = (): void => settle(abortedError(signal!, what));
  const arm = (ms: number): void => {
    timer = setTimeout(look, ms);
    if (!keepAlive) timer.unref();
  };
  let pause = 1;
  function look(): void {
    timer = undefined;
    if (settled) return;
    try {
      const left = remaining(deadline);
      const found = attempt(left === 0);
      if (found !== undefined) return settle(undefined, found);
      pause = Math.min(2 * pause, MAX_PAUSE_MS);
      arm(Math.min(pause, left));
    } catch (e) {
      settle(e);
    }
  }
  if (signal?.aborted) {
    settle(abortedError(signal, what));
    return { promise, cancel: () => undefined, unref: () => undefined };
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    watcher = watch('/dev/shm', (_event, file) => {
      if (file !== `${OS_NAME_PREFIX}${name}` || timer === undefined) return;
      clearTimeout(timer);
      arm(0);
    });
    watcher.on('error', () => watcher?.close());
    if (!keepAlive) watcher.unref();
  } catch {
    // No inotify (or no /dev/shm): the backoff alone.
  }
  look();
  return {
    promise,
    cancel: (err) => settle(err),
    unref: () => {
      keepAlive = false;
      timer?.unref();
      watcher?.unref();
    },
  };
}
