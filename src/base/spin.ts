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
 * Gives the CPU to a runnable process on this core, if any. Every spin loop calls it where it reads its clock: a
 * spin that never yields keeps the process it waits for (runnable on the same core on a loaded machine, or when both
 * are unpinned on one CPU) off the CPU until its budget ends, which made round trips bimodal (~2 x the spin). A
 * thread pinned to one CPU does not yield (its peer was placed elsewhere; a yield would hand the core to V8's helper
 * threads and lengthen the tail): see the addon's JsYieldCpu.
 */
export const yieldCpu: () => void = native.yieldCpu;

/**
 * Calls `attempt` until it returns a value other than null, for at most `micros` µs; returns that value, or null
 * when the budget ran out. The clock is read (and the CPU offered, {@link yieldCpu}) once every 32 attempts, so a
 * cheap attempt stays cheap.
 */
export function spinFor<T>(micros: number, attempt: () => T | null): T | null {
  if (micros <= 0) return null;
  const until = performance.now() + micros / 1000;
  for (let n = 1; ; n++) {
    const r = attempt();
    if (r !== null) return r;
    if ((n & 31) === 0) {
      if (performance.now() >= until) return null;
      yieldCpu();
    }
  }
}
