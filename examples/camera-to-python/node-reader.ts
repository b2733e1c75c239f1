/**
 * The Node side of seed 000's camera, on shmbus: subscribes to the C++ writer's topic and reads every frame in
 * place (`copy: false`): `Frame.decode(m.data).data` is a Uint8Array over the ring, rows `stride` bytes apart, with
 * width, height and format from the frame's own header. Each frame is checked pixel by pixel against what the
 * writer draws and summed; a frame overwritten while it was read (`m.valid()` false) is counted and dropped.
 * Prints "result {json}" last, for the orchestrator (main.ts).
 *   node dist/examples/camera-to-python/node-reader.js <topic>
 */
import { Frame, Topic } from '../../src/index.js';

const name = process.argv[2]!;
const sub = Topic.subscribe(name, { from: 'oldest', timeout: 10_000 });
const frames: number[] = [];
let overwritten = 0;
let bad = 0;
let checksum = 0; // below 2^53: 2.6e9 per frame at most
let first: number | null = null;
let last: number | null = null;
let center: number[] | null = null;
for (;;) {
  const m = await sub.read({ copy: false, timeout: 30_000 });
  if (m === null) break; // the writer closed the topic and everything is read
  const f = Frame.decode(m.data); // checks the header against the message: never a view out of range
  const px = f.data as Uint8Array; // dtype uint8: a Uint8Array view of the ring
  const n = m.seq - 1; // one writer: its n-th frame has seq n + 1
  let ok = f.width === 1280 && f.height === 720 && f.format === 'BGR' && f.dtype === 'uint8';
  let sum = 0;
  for (let y = 0; ok && y < f.height; y++) {
    let i = y * f.stride;
    for (let x = 0; x < f.width; x++, i += 3) {
      const b = px[i]!;
      const g = px[i + 1]!;
      const r = px[i + 2]!;
      if (b !== ((x + 4 * n) & 255) || g !== ((y + 2 * n) & 255) || r !== ((x + y + n) & 255)) ok = false;
      sum += b + g + r;
    }
  }
  const at = 360 * f.stride + 640 * 3;
  const mid = [px[at]!, px[at + 1]!, px[at + 2]!];
  if (!m.valid()) {
    overwritten++; // lapped by the writer while we read in place: what we computed is not this frame
    continue;
  }
  first ??= m.seq;
  last = m.seq;
  frames.push(n);
  if (!ok) bad++;
  checksum += sum;
  center = mid;
}
const result = { reader: 'node', frames, lost: sub.lost, overwritten, bad, checksum, first, last, center };
sub.close();
console.log(`result ${JSON.stringify(result)}`);
