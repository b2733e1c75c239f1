/**
 * The seed-002 scenario: a video ring shared by several producers and several consumers. Two camera processes
 * publish 1280x720 RGB frames into one Topic (zero-copy: each frame is rendered straight into the ring with
 * `loan`/`commit`); two viewer processes read them, each with its own cursor. The ring holds about 20 frames and
 * overwrites the oldest: the fast viewer reads frames in place (`copy: false`) and keeps up, the slow one copies
 * and analyses every frame, falls behind, skips to the oldest frame still in the ring and is told how many it lost.
 * The main process waits for both viewers to subscribe (`waitForSubscribers`), and the viewers' reads end by
 * themselves once no publisher is left (`read()` resolves null).
 * Run: node dist/examples/video-ring/main.js
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Topic } from '../../src/index.js';

const WIDTH = 1280;
const HEIGHT = 720;
const FRAME = WIDTH * HEIGHT * 3;
/** Each message: [camera u32][frame number u32][width u32][height u32] then the RGB pixels. */
const HEADER = 16;
const FRAMES_PER_CAMERA = 60;

function run(role: string, ...args: string[]): { exited: Promise<number | null> } {
  const child = fork(fileURLToPath(import.meta.url), [role, ...args]);
  return { exited: new Promise((resolve) => child.once('exit', resolve)) };
}

/** A camera: renders frames into the ring in place and publishes them. */
function camera(name: string, cam: number): void {
  const pub = Topic.open(name); // a second publisher on the same ring: publishers take turns through its lock
  for (let n = 0; n < FRAMES_PER_CAMERA; n++) {
    const loan = pub.loan(HEADER + FRAME);
    const head = new DataView(loan.bytes.buffer, loan.bytes.byteOffset, HEADER);
    head.setUint32(0, cam, true);
    head.setUint32(4, n, true);
    head.setUint32(8, WIDTH, true);
    head.setUint32(12, HEIGHT, true);
    loan.bytes.fill((cam * 100 + n) & 0xff, HEADER); // "render" a flat gray frame
    loan.commit();
  }
  console.log(`camera ${cam}: published ${FRAMES_PER_CAMERA} frames`);
  pub.close();
}

/** A viewer: reads every frame it can until no publisher is left, checks order per camera. */
async function viewer(name: string, kind: 'fast' | 'slow'): Promise<void> {
  const sub = Topic.subscribe(name, { from: 'oldest' });
  const next = [0, 0];
  let frames = 0;
  let brightness = 0;
  for (;;) {
    const m = await sub.read({ copy: kind === 'slow', timeout: 30_000 });
    if (m === null) break; // end of stream: every publisher closed and nothing is left unread
    const head = new DataView(m.data.buffer, m.data.byteOffset, HEADER);
    const cam = head.getUint32(0, true);
    const n = head.getUint32(4, true);
    const pixel = m.data[HEADER]!;
    // In place (copy: false), what was just read counts only if the frame was not overwritten meanwhile.
    if (kind === 'fast' && !m.valid()) continue;
    if (n < next[cam]!) throw new Error(`camera ${cam}: frame ${n} after ${next[cam]! - 1}`);
    next[cam] = n + 1;
    if (kind === 'slow') {
      let sum = 0; // a slow analysis of the whole frame
      for (let i = HEADER; i < m.data.length; i += 3) sum += m.data[i]!;
      brightness = sum / (FRAME / 3);
    } else {
      brightness = pixel; // one pixel read in place, before the valid() check above
    }
    frames++;
  }
  const last = `last brightness ${brightness.toFixed(0)}`;
  console.log(`viewer ${kind}: read ${frames} frames, lost ${sub.lost}, in order per camera; ${last}`);
  sub.close();
}

async function main(): Promise<void> {
  const name = `video-${process.pid}`;
  const ring = Topic.create(name, { capacity: 20 * (HEADER + FRAME + 64), maxMessageSize: HEADER + FRAME });
  console.log(`ring "${name}": ${(ring.capacity / 2 ** 20).toFixed(0)} MiB, about 20 frames of ${WIDTH}x${HEIGHT} RGB`);
  const viewers = [run('viewer', name, 'fast'), run('viewer', name, 'slow')];
  await ring.waitForSubscribers(2, { timeout: 30_000 }); // no frame is published before both viewers listen
  const cameras = [run('camera', name, '0'), run('camera', name, '1')];
  await Promise.all(cameras.map((c) => c.exited));
  ring.close(); // the last publisher leaves: the viewers' reads end once they have read what is left
  await Promise.all(viewers.map((v) => v.exited));
  console.log(`${2 * FRAMES_PER_CAMERA} frames went through; every viewer read each camera's frames in order`);
  Topic.unlink(name);
}

const [role, name, arg] = process.argv.slice(2);
if (role === 'camera') camera(name!, Number(arg));
else if (role === 'viewer') await viewer(name!, arg as 'fast' | 'slow');
else await main();
