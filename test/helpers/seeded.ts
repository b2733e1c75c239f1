/** A deterministic pseudo-random source for mutation loops: the same seed gives the same run (replayable failures). */
export function seededRandom(seed: number): (n: number) => number {
  let s = seed >>> 0;
  // A 32-bit LCG (glibc's constants); the low bits are weak, so the high 24 are used.
  return (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}
