/**
 * producer (Node): one of the video-ring cameras (seed 002), the Node twin of producer.cpp. Opens the topic,
 * prints "open", publishes <frames> frames at <fps> (0 = as fast as it can), each rendered straight into the
 * ring with `Frame.loan` (header written at loan time; pixels and stamp by pattern.ts), then closes.
 *   node dist/examples/video-ring/producer.js <topic> <producer-id> <frames> <fps>
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Frame, Topic } from '../../src/index.js';
import { draw, HEIGHT, WIDTH } from './pattern.js';

const [name, idArg, framesArg, fpsArg] = process.argv.slice(2);
const id = Number(idArg);
const frames = Number(framesArg);
const fps = Number(fpsArg);
const topic = Topic.open(name!);
console.log('open');
const start = performance.now();
for (let n = 0; n < frames; n++) {
  if (fps > 0) {
    const due = start + (n * 1000) / fps;
    if (due > performance.now()) await sleep(due - performance.now()); // the camera's frame clock
  }
  const loan = Frame.loan(topic, { width: WIDTH, height: HEIGHT, format: 'BGR', timestamp: Date.now() });
  draw(loan.data as Uint8Array, id, n);
  loan.commit();
}
const secs = (performance.now() - start) / 1000;
topic.close();
console.log(`published ${frames} frames in ${secs.toFixed(2)} s`);
