/**
 * Bounded spinning before a wait parks on the futex. Every `spin` option of shmbus (locks, Topic, Queue, Rpc) is
 * a budget in microseconds: waking a parked process costs ~20-50 µs, a re-read of shared memory a few ns.
 */
import { ShmbusError } from '../errors.js';
import { native } from '../native/binding.js';

/** Checks a `spin` option: a finite number of microseconds >= 0 (0 parks at once). */
export function validateSpin(spin: unknown, fallback: number): number {
  if (spin === undefined) return fallback;
  if (typeof spin !== 'number' || !Number.isFinite(spin) || spin < 0) {
    throw new ShmbusError('ERR_INVALID_ARG', `spin must be a number of microseconds >= 0 (got ${String(spin)})`);
  }
  return spin;
}

/**
 * Milliseconds a spin runs before a thread pinned to one CPU starts to yield too. Unpinned threads yield from the
 * start of a spin. A pinned thread's peer is usually on another core, where a yield only hands the core to V8's
 * helper threads and lengthens the tail, so it spins undisturbed for this long (a round trip on two cores takes a
 * few µs); after it, its peer may be sharing its one CPU (both pinned there, or a container limited to one CPU), and
 * only a yield lets that peer answer (without it, Topic await read() on one core took 130 µs per round trip: both
 * sides burned their whole 50 µs budget).
 */
export const SPIN_PINNED_YIELD_AFTER = 0.01;

/**
 * Gives the CPU to a runnable process on this core, if any. Every spin loop calls it where it reads its clock, with
 * `late` = the spin has run {@link SPIN_PINNED_YIELD_AFTER}: a spin that never yields keeps the process it waits
 * for (runnable on the same core on a loaded machine, or when both are on one CPU) off the CPU until its budget
 * ends, which made round trips bimodal (~2 x the spin). A thread pinned to one CPU yields only when `late`: see the
 * addon's JsYieldCpu.
 */
export const yieldCpu: (late: boolean) => void = native.yieldCpu;

/** A spin loop reads its clock (and offers the CPU) when `(i & SPIN_CLOCK_MASK) === 0`: every 128 polls. */
export const SPIN_CLOCK_MASK = 127;

/**
 * The clock step of a spin loop that polls a word, called every SPIN_CLOCK_MASK + 1 polls with the deadline the
 * previous call returned (0 at first): the first call starts a budget of `budgetMs` (the clock is not read before
 * it: performance.now() allocates on Node 20, and a message that follows closely should cost no clock read and no
 * garbage); every call offers the CPU ({@link yieldCpu}, `late` from the time spun).
 * @returns the deadline to pass next time, or -1 once it has passed (the spin ran out)
 */
export function spinClock(until: number, budgetMs: number): number {
  const now = performance.now();
  if (until === 0) until = now + budgetMs;
  else if (now >= until) return -1;
  yieldCpu(now - (until - budgetMs) >= SPIN_PINNED_YIELD_AFTER);
  return until;
}

/**
 * Calls `attempt` until it returns a value other than null, for at most `micros` µs; returns that value, or null
 * when the budget ran out. The clock is read (and the CPU offered, {@link yieldCpu}) once every 32 attempts, so a
 * cheap attempt stays cheap.
 */
export function spinFor<T>(micros: number, attempt: () => T | null): T | null {
  if (micros <= 0) return null;
  const start = performance.now();
  const until = start + micros / 1000;
  for (let n = 1; ; n++) {
    const r = attempt();
    if (r !== null) return r;
    if ((n & 31) === 0) {
      const now = performance.now();
      if (now >= until) return null;
      yieldCpu(now - start >= SPIN_PINNED_YIELD_AFTER);
    }
  }
}
