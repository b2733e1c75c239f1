/** Moving payload bytes between shared memory and private buffers: one helper for every channel. */
import { native } from '../native/binding.js';

/**
 * From this size on a copy goes through the addon's memcpy: V8 copies into and out of a SharedArrayBuffer with
 * relaxed-atomic byte moves (half of memcpy speed on some machines, see limits.md), while a native call costs
 * ~80 ns, more than `Uint8Array.set` of a small payload.
 */
export const NATIVE_COPY_FROM = 1024;

/** Copies `n` bytes from `src[srcOff..]` to `dst[dstOff..]` with the fastest path for the size. */
export function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  if (n >= NATIVE_COPY_FROM) native.copy(dst, dstOff, src, srcOff, n);
  // A fresh view is cheaper than subarray (no species lookup).
  else dst.set(srcOff === 0 && n === src.length ? src : new Uint8Array(src.buffer, src.byteOffset + srcOff, n), dstOff);
}
