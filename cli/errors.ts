/** How the CLI reports a failure: "shmbus: CODE: message" on stderr. */
import { isShmbusError } from '../src/index.js';

export function describe(e: unknown): string {
  if (isShmbusError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

export function fail(e: unknown): void {
  process.stderr.write(`shmbus: ${describe(e)}\n`);
}
