/**
 * consumer (Node): one of the video-ring viewers (seed 002), the Node twin of consumer.cpp. Fast (no delay): reads
 * in place (`copy: false`), checks the frame (pattern.ts), then `m.valid()` (lapped while checked: counted as
 * "overwritten", verdict dropped). Slow (delay-ms > 0): copies each frame out into one reused buffer (`into`:
 * never torn), then analyses it: at least delay-ms, and never done before the producers are more than a ring
 * (ring-frames) ahead, so it loses frames on any machine however loaded; `sub.lost` counts exactly what it missed.
 * Prints "ready" once subscribed and "result {json}" last.
 *   node dist/examples/video-ring/consumer.js <topic> [delay-ms ring-frames]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Frame, Topic } from '../../src/index.js';
import { HEIGHT, verify, WIDTH } from './pattern.js';

const [name, delayArg, ringArg] = process.argv.slice(2);
const delay = Number(delayArg ?? 0);
const ringFrames = Number(ringArg ?? 16);
const copy = delay > 0;
const sub = Topic.subscribe(name!, { from: 'oldest' });
console.log('ready');
const into = copy ? new Uint8Array(Frame.byteLength({ width: WIDTH, height: HEIGHT, format: 'BGR' })) : undefined;
const options = copy ? { into, timeout: 60_000 } : { copy: false, timeout: 60_000 };
let read = 0;
let overwritten = 0;
let bad = 0;
let first = 0;
let last = 0;
const per = [0, 0];
const next = [0, 0]; // the next frame number each producer may send (they only go up)
let t0 = 0;
let t1 = 0;
for (;;) {
  const m = await sub.read(options);
  if (m === null) break; // no producer left and nothing unread
  let v = { ok: false, producer: 0, frame: 0 };
  try {
    const f = Frame.decode(m.data); // checks the Frame header against the message
    if (f.width === WIDTH && f.height === HEIGHT && f.format === 'BGR' && f.dtype === 'uint8') v = verify(f.data as Uint8Array, f.stride);
  } catch {
    // a corrupt frame: counted as bad below
  }
  if (!m.valid()) {
    overwritten++; // lapped while we looked: whatever we concluded is not about this frame
    continue;
  }
  const now = performance.now();
  if (read === 0) {
    t0 = now;
    first = m.seq;
  }
  t1 = now;
  last = m.seq;
  read++;
  if (v.ok && v.frame >= next[v.producer]!) {
    per[v.producer]!++;
    next[v.producer] = v.frame + 1;
  } else {
    bad++;
  }
  if (copy) {
    // The slow analysis: delay ms, then on until the producers are more than a ring ahead (or gone).
    await sleep(delay);
    while (sub.stats().lag <= ringFrames && sub.publishers > 0) await sleep(10);
  }
}
const result = { consumer: 'node', read, overwritten, bad, lost: sub.lost, first, last, perProducer: per, seconds: (t1 - t0) / 1000 };
sub.close();
console.log(`result ${JSON.stringify(result)}`);
