/** Shared bits of the fast-check suites (test/fuzz): run counts and the "only ShmbusError" check. */
import { ShmbusError } from '../../src/index.js';

/** Cases per property: a few hundred in npm test, many more with SHMBUS_SLOW=1 (SHMBUS_FUZZ_RUNS overrides). */
export const RUNS = Number(process.env['SHMBUS_FUZZ_RUNS'] ?? (process.env['SHMBUS_SLOW'] === '1' ? 20_000 : 300));

/** fast-check parameters: the seed is printed by fast-check on failure (`seed`, `path`) for replay. */
export const params = (numRuns = RUNS): { numRuns: number; seed?: number } => {
  const seed = process.env['SHMBUS_SEED'];
  return seed !== undefined ? { numRuns, seed: Number(seed) } : { numRuns };
};

/** Runs `fn`; a throw that is not a ShmbusError (a RangeError from an out-of-range view, a TypeError...) fails. */
export function onlyShmbusErrors<T>(what: string, fn: () => T): T | ShmbusError {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ShmbusError) return e;
    throw new Error(`${what} threw a non-ShmbusError: ${String((e as Error)?.stack ?? e)}`);
  }
}

/** As onlyShmbusErrors for async calls. */
export async function onlyShmbusErrorsAsync<T>(what: string, fn: () => Promise<T>): Promise<T | ShmbusError> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ShmbusError) return e;
    throw new Error(`${what} threw a non-ShmbusError: ${String((e as Error)?.stack ?? e)}`);
  }
}
