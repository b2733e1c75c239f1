/**
 * Seed 002 on shmbus: a video ring shared by 2 producers (one C++, one Node) and 3 consumers (Node, Python, C++)
 * of 1280x720 BGR frames in one Topic.
 *
 *   npm run example -- video-ring [--frames 90] [--fps 30] [--slow python] [--delay 100] [--name video-<pid>]
 *
 * This orchestrator creates the topic (a ring of 16 frames), starts the consumers and waits until all three
 * subscribed (no frame is published before everyone listens), starts the producers (producer.cpp and producer.ts:
 * --frames frames each at --fps, rendered straight into the ring with a loan), removes the name and leaves once
 * both producers are in. The consumers' streams end by themselves when the last producer closes. Every frame
 * carries a stamp (producer, frame number, checksum) and a pattern (pattern.hpp): each consumer checks both, that
 * each producer's frame numbers go up, and measures its frame rate. One consumer (--slow) is deliberately slow:
 * it copies each frame out and spends at least --delay ms on it, and never finishes a frame before the producers
 * are more than a ring ahead (so it loses frames on any machine, however loaded); it is told exactly how many
 * frames the ring overwrote before it could read them (lost). For every consumer, read + lost + overwritten-while-read must be the
 * number of frames published. Exits 1 naming what failed.
 */
import { parseArgs } from 'node:util';
import { Frame, Topic } from '../../src/index.js';
import { Child, programCommand, type Language } from '../lib/children.js';
import { HEIGHT, WIDTH } from './pattern.js';

const EXAMPLE = 'video-ring';
const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '90' }, // per producer
    fps: { type: 'string', default: '30' }, // per producer; 0 = as fast as it can
    slow: { type: 'string', default: 'python' }, // the deliberately slow consumer: node, python or cpp
    delay: { type: 'string', default: '100' }, // ms the slow consumer spends on each frame
    name: { type: 'string', default: `video-${process.pid}` },
  },
});
const FRAMES = Number(values.frames);
const TOTAL = 2 * FRAMES;
const name = values.name;
const consumers: Language[] = ['node', 'python', 'cpp'];
if (!consumers.includes(values.slow as Language)) throw new Error(`--slow must be one of ${consumers.join(', ')}`);
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
};

interface ConsumerResult {
  consumer: string;
  read: number;
  overwritten: number;
  bad: number;
  lost: number;
  first: number;
  last: number;
  perProducer: [number, number];
  seconds: number;
}

const RING_FRAMES = 16;
/** Rejects as soon as one of `children` fails (exits with an error): race it with a wait on another program. */
const anyFails = (children: Child[]) => Promise.race(children.map((c) => c.success().then(() => new Promise<never>(() => {}))));

const frameSize = Frame.byteLength({ width: WIDTH, height: HEIGHT, format: 'BGR' });
const ring = Topic.create(name, { capacity: RING_FRAMES * (frameSize + 64), maxMessageSize: frameSize });
console.log(
  `video-ring: 2 producers (C++, Node) x 3 consumers (Node, Python, C++) of ${WIDTH}x${HEIGHT} BGR frames in topic ` +
    `"${name}", a ring of ${RING_FRAMES} frames (${(ring.capacity / 2 ** 20).toFixed(0)} MiB)`,
);
let producers: Child[] = [];
let readers: Child[] = [];
try {
  readers = consumers.map(
    (lang) => new Child(`consumer ${lang}`, [...programCommand(EXAMPLE, 'consumer', lang), name, ...(lang === values.slow ? [values.delay, String(RING_FRAMES)] : [])]),
  );
  // A consumer that fails to start fails the run at once, not at the end of a 30 s wait for it.
  await Promise.race([Promise.all(readers.map((c) => c.line(/^ready$/))), anyFails(readers)]);
  await ring.waitForSubscribers(3, { timeout: 30_000 }); // registered: nothing is published before all listen
  producers = [
    new Child('producer C++ (0)', [...programCommand(EXAMPLE, 'producer', 'cpp'), name, '0', values.frames, values.fps]),
    new Child('producer Node (1)', [...programCommand(EXAMPLE, 'producer', 'node'), name, '1', values.frames, values.fps]),
  ];
  await Promise.race([Promise.all(producers.map((p) => p.line(/^open$/))), anyFails(producers)]);
} finally {
  Topic.unlink(name); // everyone is in (or something failed): the name can go, nothing lingers in /dev/shm
  ring.close(); // the producers publish from here; the streams end when the last of them closes
}

for (const p of producers) {
  const line = await p.line(/^published /, { timeoutMs: 120_000 });
  await p.success();
  console.log(`${p.label}: ${line}, each rendered straight into the ring (a loan: no copy)`);
}
for (const c of readers) {
  const line = await c.line(/^result /, { timeoutMs: 120_000 });
  await c.success();
  const r = JSON.parse(line.slice('result '.length)) as ConsumerResult;
  const slow = r.consumer === values.slow;
  const fps = r.read > 1 && r.seconds > 0 ? ((r.read - 1) / r.seconds).toFixed(1) : '-';
  const accounted = r.read + r.lost + r.overwritten;
  console.log(
    `consumer ${r.consumer}${slow ? ` (slow: copies each frame out, then ${values.delay} ms or more on it)` : ' (reads in place)'}: ` +
      `${r.read} frames at ${fps} fps (C++ ${r.perProducer[0]}, Node ${r.perProducer[1]}); lost ${r.lost}, ` +
      `overwritten while read ${r.overwritten}: ${r.read} + ${r.lost} + ${r.overwritten} = ${accounted} of ${TOTAL} published; ` +
      (r.bad === 0 ? 'every frame\'s pattern and checksum verified' : `${r.bad} frames FAILED the check`),
  );
  check(r.read > 0, `consumer ${r.consumer} read no frame`);
  check(r.bad === 0, `consumer ${r.consumer}: ${r.bad} frames failed the pattern/checksum/order check`);
  check(r.perProducer[0] + r.perProducer[1] === r.read, `consumer ${r.consumer}: per-producer counts do not add up to ${r.read}`);
  check(accounted === TOTAL, `consumer ${r.consumer}: read + lost + overwritten = ${accounted}, ${TOTAL} were published`);
  check(r.last >= r.first && r.last <= TOTAL, `consumer ${r.consumer}: seqs ${r.first}..${r.last} outside 1..${TOTAL}`);
  check(!slow || r.lost > 0 || TOTAL <= RING_FRAMES + 1, `the slow consumer ${r.consumer} lost nothing`);
}
if (failures.length > 0) {
  for (const f of failures) console.log(`FAILED: ${f}`);
  process.exit(1);
}
console.log('video-ring: every check passed');
