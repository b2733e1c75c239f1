/** The kind of a named segment, for commands that behave per kind. */
import { Segment } from '../src/index.js';

/** Opens the segment just long enough to read its kind. @throws ERR_SHM_NOT_FOUND and other open errors */
export function kindOf(name: string): string {
  const seg = Segment.open(name, { timeout: 1000 });
  try {
    return seg.kind;
  } finally {
    seg.close();
  }
}

/** Resolves on the first SIGINT or SIGTERM (and keeps the default handler from killing the process). */
export function interrupted(): { promise: Promise<void>; signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  const on = (): void => {
    ac.abort();
    resolve();
  };
  process.once('SIGINT', on);
  process.once('SIGTERM', on);
  return {
    promise,
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}
