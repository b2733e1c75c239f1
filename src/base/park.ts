/**
 * The parker: how every shmbus wait sleeps on a futex word and how every waker decides whether to make the wake
 * system call (PROTOCOL.md §3). Each futex word that processes sleep on has a companion **sleepers** word:
 *
 * - a sleeper *announces* itself (seq_cst add 1 to `sleepers`), re-checks its condition, then sleeps on the word;
 *   it never withdraws, so there is nothing to undo when its process dies or its segment is closed mid-wait;
 * - a waker changes the word (seq_cst), then loads `sleepers`; if it is non-zero it clears the announcements it
 *   saw (CAS v -> 0: one made meanwhile makes the CAS fail and survives) and wakes every sleeper on the word.
 *
 * The add-then-load of the sleeper and the store-then-load of the waker form a Dekker pair (all seq_cst): at least
 * one sees the other, so a sleeper is either woken or sees the change before it sleeps. A stale announcement (a
 * sleeper that died, or left at its timeout) costs the next waker one needless wake call and is then gone: "no
 * wake system call when nobody sleeps" heals by itself.
 */
import { type WaitOptions } from './deadline.js';
import { waitAsync, waitSync, wake, type WaitOwner, type WaitResult } from './futex.js';

/** Announces a sleeper on `sleepersIndex`. SYNC PARK (seq_cst RMW; pairs with the waker's load in wakeSleepers). */
export function announce(words: Int32Array, sleepersIndex: number): void {
  // A wrap to exactly 0 would hide this sleeper from wakers: step over it.
  if (Atomics.add(words, sleepersIndex, 1) === -1) Atomics.add(words, sleepersIndex, 1);
}

/**
 * After changing `words[wordIndex]` (seq_cst), wakes all its sleepers if any announced. Returns true when it made
 * the wake system call.
 */
export function wakeSleepers(words: Int32Array, sleepersIndex: number, wordIndex: number): boolean {
  const v = Atomics.load(words, sleepersIndex); // SYNC PARK: seq_cst load after the seq_cst change of the word
  if (v === 0) return false;
  // Clear only what was seen: an announcement made since makes the CAS fail and stays for the next waker.
  Atomics.compareExchange(words, sleepersIndex, v, 0);
  wake(words, wordIndex);
  return true;
}

/**
 * One async park: announce, re-check with `ready()` (true = the condition holds, do not sleep), then sleep on
 * `wordIndex` while it still holds `expected`, for at most `options.timeout` ms. The caller loops and re-checks:
 * the result may be a spurious 'ok'. Rejects with ERR_ABORTED / ERR_CLOSED (the owner closed) like waitAsync.
 */
export function parkAsync(
  words: Int32Array,
  sleepersIndex: number,
  wordIndex: number,
  expected: number,
  ready: () => boolean,
  options: WaitOptions,
  owner?: WaitOwner,
): Promise<WaitResult> {
  announce(words, sleepersIndex);
  if (ready()) return Promise.resolve('not-equal');
  return waitAsync(words, wordIndex, expected, options, owner);
}

/** {@link parkAsync} blocking the calling thread. */
export function parkSync(
  words: Int32Array,
  sleepersIndex: number,
  wordIndex: number,
  expected: number,
  ready: () => boolean,
  timeout: number,
): WaitResult {
  announce(words, sleepersIndex);
  if (ready()) return 'not-equal';
  return waitSync(words, wordIndex, expected, timeout);
}
