/**
 * The parker: how every shmbus wait sleeps on a futex word and how every waker decides whether to make the wake
 * system call (PROTOCOL.md §3). Each futex word that processes sleep on has a companion **sleepers** word, and
 * nobody ever withdraws from it, so there is nothing to undo when a sleeper's process dies or its segment is closed.
 * Two rules, by the kind of word:
 *
 * - **Counter words** (only move forward mod 2^32: Queue commits/releases, Topic commit and registry words, the
 *   Mailbox version): the sleepers word holds a *tag*, the newest value any sleeper saw (+1). A waker that moved
 *   the word from `old` clears the tag only when every announcer saw `old` or earlier (they all see its change);
 *   a newer tag belongs to a sleeper that already saw this change and waits for the next one, so it stays.
 * - **State words** (Semaphore value, Event, RwLock occupied: values come back): the sleepers word counts
 *   announcements and a waker clears what it saw. A waker whose change a sleeper had already seen can clear that
 *   sleeper's announcement, which then misses the next wake: every such sleep is bounded by livenessInterval.
 *
 * The sleeper's announce-then-load and the waker's change-then-load form a Dekker pair (all seq_cst): at least one
 * sees the other, so a sleeper is either woken or sees the change before it sleeps. A stale announcement costs the
 * next waker one needless wake call and is then gone.
 */
import { type WaitOptions } from './deadline.js';
import { waitAsync, waitSync, wake, type WaitOwner, type WaitResult } from './futex.js';

/** Announces a sleeper on the state-word sleepers word `sleepersIndex` (counting rule). SYNC PARK (seq_cst RMW; pairs with the waker's load in wakeSleepers). */
export function announce(words: Int32Array, sleepersIndex: number): void {
  // A wrap to exactly 0 would hide this sleeper from wakers: step over it.
  if (Atomics.add(words, sleepersIndex, 1) === -1) Atomics.add(words, sleepersIndex, 1);
}

/**
 * After changing the state word `words[wordIndex]` (seq_cst), wakes all its sleepers if any announced (counting
 * rule). Returns true when it made the wake system call.
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
 * True when a waker already cleared the sleepers word since this sleeper announced: its wake may have gone out
 * before this sleeper sleeps, and on a word that came back to `expected` the sleep would miss it. The caller
 * re-checks instead (a spurious 'not-equal'). SYNC PARK (seq-cst load, after the announce and the re-check).
 */
function cleared(words: Int32Array, sleepersIndex: number): boolean {
  return Atomics.load(words, sleepersIndex) === 0;
}

/**
 * One async park: announce, re-check with `ready()` (true = the condition holds, do not sleep), then sleep on
 * `wordIndex` while it still holds `expected`, for at most `options.timeout` ms. The caller loops and re-checks: the
 * result may be a spurious 'ok'. Rejects with ERR_ABORTED / ERR_CLOSED (the owner closed) like waitAsync.
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
  if (ready() || cleared(words, sleepersIndex)) return Promise.resolve('not-equal');
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
  if (ready() || cleared(words, sleepersIndex)) return 'not-equal';
  return waitSync(words, wordIndex, expected, timeout);
}

// ---------------------------------------------------------------------------------------------------------------
// Counter words (PROTOCOL.md §3, the tag rule)

/** The tag of a sleeper that saw `seen`: seen + 1, never 0 (0 = no tag). Rounding -1 up to 0's tag only delays a clear. */
function tagOf(seen: number): number {
  const t = (seen + 1) | 0;
  return t === 0 ? 1 : t;
}

/**
 * Announces a sleeper that waits for the counter word to leave `seen`: the sleepers word becomes the newer of its
 * tag and ours. SYNC PARK (seq_cst RMW, always made even when the tag stays: the sleeper's half of the Dekker pair).
 */
export function announceSeen(words: Int32Array, sleepersIndex: number, seen: number): void {
  const mine = tagOf(seen);
  for (;;) {
    const s = Atomics.load(words, sleepersIndex); // a hint for the CAS below
    const want = s !== 0 && ((s - mine) | 0) > 0 ? s : mine;
    if (Atomics.compareExchange(words, sleepersIndex, s, want) === s) return;
  }
}

/**
 * After moving the counter word `words[wordIndex]` from `old` (seq_cst RMW or store), wakes its sleepers if any
 * announced. Clears the tag only if every announcer saw `old` or earlier. Returns true when it made the wake call.
 */
export function wakeCounter(words: Int32Array, sleepersIndex: number, wordIndex: number, old: number): boolean {
  const s = Atomics.load(words, sleepersIndex); // SYNC PARK: seq_cst load after the seq_cst change of the word
  if (s === 0) return false;
  // Serial order mod 2^32: tag - 1 is the newest value an announcer saw; at or before `old` = all see this change.
  if (((s - 1 - old) | 0) <= 0) Atomics.compareExchange(words, sleepersIndex, s, 0);
  wake(words, wordIndex);
  return true;
}

/**
 * Wakes the sleepers of a counter word without clearing their tag, for a waker that did not move the word (a
 * Topic publisher leaving: subscribers re-check the registry). Returns true when it made the wake call.
 */
export function wakeCounterKeep(words: Int32Array, sleepersIndex: number, wordIndex: number): boolean {
  if (Atomics.load(words, sleepersIndex) === 0) return false; // SYNC PARK: seq_cst load after the waker's change
  wake(words, wordIndex);
  return true;
}

/**
 * One async park on a counter word: announce the tag, re-check with `ready()` (true = do not sleep), then sleep while
 * the word still holds `seen`, for at most `options.timeout` ms. The caller loops and re-checks: 'ok' may be
 * spurious. Rejects with ERR_ABORTED / ERR_CLOSED (the owner closed) like waitAsync.
 */
export function parkCounterAsync(
  words: Int32Array,
  sleepersIndex: number,
  wordIndex: number,
  seen: number,
  ready: () => boolean,
  options: WaitOptions,
  owner?: WaitOwner,
): Promise<WaitResult> {
  announceSeen(words, sleepersIndex, seen);
  // No "cleared" check: only a waker that moved the word past `seen` clears our tag, and then the word differs.
  if (ready()) return Promise.resolve('not-equal');
  return waitAsync(words, wordIndex, seen, options, owner);
}
