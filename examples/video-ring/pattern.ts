/**
 * What every producer of the video-ring example draws and every consumer checks: the Node side of pattern.hpp
 * (and of consumer.py's checks), the same rules. A frame is a 1280x720 BGR Frame (PROTOCOL §9). The first 6
 * pixels of row 0 (18 bytes) are a stamp: u32 magic "VRNG", u32 producer, u32 frame number, u32 checksum, 2 zero
 * bytes (little-endian). Every other pixel (x, y) of frame n of producer p is
 *   B = x + 3n + 50p,  G = y + n + 100p,  R = x + y + 7n + 150p   (mod 256)
 * and the checksum is the sum of the pixel bytes after the stamp, mod 2^32.
 */
export const WIDTH = 1280;
export const HEIGHT = 720;
export const MAGIC = 0x474e5256; // "VRNG"
export const STAMP_BYTES = 18;

/** Draws frame n of producer p into packed rows; returns the checksum it stamped. */
export function draw(px: Uint8Array, p: number, n: number): number {
  const kb = 3 * n + 50 * p;
  const kg = n + 100 * p;
  const kr = 7 * n + 150 * p;
  let sum = 0;
  for (let y = 0, i = 0; y < HEIGHT; y++) {
    const g = (y + kg) & 255;
    for (let x = 0; x < WIDTH; x++, i += 3) {
      const b = (x + kb) & 255;
      const r = (x + y + kr) & 255;
      px[i] = b;
      px[i + 1] = g;
      px[i + 2] = r;
      sum += b + g + r;
    }
  }
  for (let i = 0; i < STAMP_BYTES; i++) sum -= px[i]!; // the stamp's bytes are not summed
  px.fill(0, 0, STAMP_BYTES);
  const stamp = new DataView(px.buffer, px.byteOffset, 16);
  stamp.setUint32(0, MAGIC, true);
  stamp.setUint32(4, p, true);
  stamp.setUint32(8, n, true);
  stamp.setUint32(12, sum >>> 0, true);
  return sum >>> 0;
}

export interface Verdict {
  /** Stamp, every pixel and the checksum as the producer drew them. */
  ok: boolean;
  producer: number;
  frame: number;
}

/** Checks a frame's pixels (rows `stride` bytes apart) against the stamp it carries. */
export function verify(px: Uint8Array, stride: number): Verdict {
  const stamp = new DataView(px.buffer, px.byteOffset, 16);
  const p = stamp.getUint32(4, true);
  const n = stamp.getUint32(8, true);
  if (stamp.getUint32(0, true) !== MAGIC || p > 1) return { ok: false, producer: p, frame: n };
  let same = true;
  let sum = 0;
  for (let y = 0; y < HEIGHT; y++) {
    const row = y * stride;
    for (let x = y === 0 ? STAMP_BYTES / 3 : 0; x < WIDTH; x++) {
      const i = row + 3 * x;
      const b = px[i]!;
      const g = px[i + 1]!;
      const r = px[i + 2]!;
      if (b !== ((x + 3 * n + 50 * p) & 255) || g !== ((y + n + 100 * p) & 255) || r !== ((x + y + 7 * n + 150 * p) & 255)) same = false;
      sum += b + g + r;
    }
  }
  return { ok: same && sum >>> 0 === stamp.getUint32(12, true), producer: p, frame: n };
}
