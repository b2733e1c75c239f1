/**
 * How a Queue waiter sleeps (PROTOCOL.md §6 Waiting, §3): spin on the futex word for a bounded time, then announce
 * on the side's sleepers word and park on the futex (never withdrawing: a waiter whose handle closes or whose
 * process dies leaves a stale announcement that the next waker clears). While a slot held by another process
 * blocks the waiter, it sleeps at most the liveness interval and checks that holder first.
 */
import { remaining } from '../base/deadline.js';
import { parkCounterAsync } from '../base/park.js';
import type { WaitOwner } from '../base/futex.js';

/** What a park uses of its ring (QueueRing has it; named here so this module needs nothing of the ring's). @internal */
export interface ParkableRing {
  /** Waiters of this process per side (consumers 0, producers 1): only the first one spins. */
  readonly localSleepers: number[];
  /** The slot whose holder blocks this side, if another process holds it. */
  blocker(consumer: boolean): { si: number; seq: number } | undefined;
  /** Recovers slot `si` (ticket `seq`) if its holder is dead; true when it did. */
  recoverIfDead(si: number, seq: number): boolean;
  /** Whose close() rejects the park. */
  readonly segment: WaitOwner;
}

/** What one park needs to know (the ring's word indices and this wait's state). @internal */
export interface ParkRequest {
  words: Int32Array;
  /** The futex word (commits for consumers, releases for producers) and its sleepers word. */
  word: number;
  sleepers: number;
  consumer: boolean;
  /** The futex word's value before the failed attempt. */
  seen: number;
  deadline: number;
  signal: AbortSignal | undefined;
  spinMs: number;
  livenessMs: number;
}

/** One sleep of a ring waiter; the caller loops and re-tries. @internal */
export async function parkRing(ring: ParkableRing, p: ParkRequest): Promise<void> {
  const { words: w, word, seen } = p;
  const role = p.consumer ? 0 : 1;
  // Only the first waiter of this process spins: the others would watch the same word and block the event loop.
  if (p.spinMs > 0 && ring.localSleepers[role] === 0) {
    const until = performance.now() + p.spinMs;
    for (;;) {
      // SYNC QUEUE-COMMITS / QUEUE-RELEASES (seq_cst load): spin until the futex word moves.
      for (let i = 0; i < 64; i++) if (Atomics.load(w, word) !== seen) return;
      if (performance.now() >= until) break;
    }
  }
  const blocker = ring.blocker(p.consumer);
  if (blocker !== undefined && ring.recoverIfDead(blocker.si, blocker.seq)) return;
  let timeout = remaining(p.deadline);
  if (blocker !== undefined) timeout = Math.min(timeout, p.livenessMs);
  if (timeout === 0) return;
  ring.localSleepers[role]++;
  try {
    // SYNC PARK (§3 counter rule): announce our tag (seq_cst CAS), re-check the futex word, sleep; no withdraw.
    await parkCounterAsync(w, p.sleepers, word, seen, () => Atomics.load(w, word) !== seen, { timeout, signal: p.signal }, ring.segment);
  } finally {
    // Process-local bookkeeping only: shared memory is never touched after the wait (it may be unmapped).
    ring.localSleepers[role]--;
  }
}
