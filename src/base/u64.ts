/**
 * u64 fields in shared memory are two u32 halves, low first (PROTOCOL.md conventions). In JS they are numbers,
 * exact below 2^53: callers refuse larger values as corrupt rather than round them.
 */

/** 2^32, for splitting and joining the halves with integer arithmetic. */
export const TWO32 = 4294967296;

/** A u64 stored as two u32 halves (low first), as a JS number (exact below 2^53). */
export function readU64(words: Int32Array, index: number): number {
  return (words[index]! >>> 0) + (words[index + 1]! >>> 0) * TWO32;
}

/** Stores a number (< 2^53) as a u64 in two u32 halves, low first. Plain stores: a sync point publishes them. */
export function writeU64(words: Int32Array, index: number, value: number): void {
  if (value < TWO32) {
    words[index] = value | 0;
    words[index + 1] = 0;
    return;
  }
  const hi = Math.floor(value / TWO32);
  words[index] = (value - hi * TWO32) | 0;
  words[index + 1] = hi | 0;
}
