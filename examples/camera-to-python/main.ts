/**
 * Seed 000 on shmbus: camera frames from a C++ process to Python (numpy) and Node, with no copy on either side,
 * and the same image read from a legacy writer that knows nothing of shmbus.
 *
 *   npm run example -- camera-to-python [--frames 60] [--fps 30] [--name camera-<pid>]
 *
 * 1. writer.cpp publishes 1280x720 BGR frames (Frame codec, rendered straight into a Topic's ring); reader.py
 *    gets each one as a numpy array over the ring (and uses cv2 when installed), node-reader.ts as a Uint8Array
 *    over the ring. Every reader checks every pixel against what the writer draws, sums them, and reports the
 *    frames it read, lost (lapped) and overwritten (lapped while reading in place); this orchestrator compares
 *    each reader's sum with the writer's sums of the same frames and checks that read + lost + overwritten is
 *    what was published.
 * 2. legacy-writer.c writes seed 000's layout (three int32 width, height, channels, then the pixels) into a plain
 *    POSIX shm object; legacy-reader.py and legacy-reader.ts attach with open_raw/openRaw and read it with every
 *    size checked; then the same with a writer whose header lies about the size: both readers refuse it.
 * Exits 1 (after printing what failed) if any check fails.
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Topic } from '../../src/index.js';
import { Child, programCommand } from '../lib/children.js';

const EXAMPLE = 'camera-to-python';
const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '60' },
    fps: { type: 'string', default: '30' }, // 0: as fast as the writer can
    name: { type: 'string', default: `camera-${process.pid}` }, // the topic; the legacy objects are /<name>-legacy...
  },
});
const FRAMES = Number(values.frames);
// The programs remove what they create; if one is killed (a failure here kills them all), nothing may linger in
// /dev/shm: the topic's name and the legacy writers' plain objects go when this process exits.
process.once('exit', () => {
  try {
    Topic.unlink(values.name);
  } catch {
    // already removed by the writer: the normal case
  }
  for (const suffix of ['', '-lie']) rmSync(`/dev/shm/${values.name}-legacy${suffix}`, { force: true });
});
const FPS = Number(values.fps);
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
};

interface FrameResult {
  reader: string;
  frames: number[];
  lost: number;
  overwritten: number;
  bad: number;
  checksum: number;
  center: number[] | null;
  cv2?: string | null;
  resizedMean?: number[] | null;
}

/** Rejects as soon as one of `children` fails (exits with an error): race it with a wait on another program. */
const anyFails = (children: Child[]) => Promise.race(children.map((c) => c.success().then(() => new Promise<never>(() => {}))));

/** The JSON a program printed as its "<word> {json}" line. */
async function report<T>(child: Child, word: RegExp): Promise<{ word: string; value: T }> {
  const line = await child.line(new RegExp(`^(${word.source}) `), { timeoutMs: 60_000 });
  const at = line.indexOf(' ');
  return { word: line.slice(0, at), value: JSON.parse(line.slice(at + 1)) as T };
}

async function cameraFrames(): Promise<void> {
  const topic = values.name;
  console.log(`camera: a C++ writer, a Python reader and a Node reader of ${FRAMES} 1280x720 BGR frames in topic "${topic}"`);
  const writer = new Child('writer (C++)', [...programCommand(EXAMPLE, 'writer', 'cpp'), topic, String(FRAMES), String(FPS), '2']);
  await writer.line(/^waiting for 2 readers$/);
  const readers = [
    new Child('python reader', [...programCommand(EXAMPLE, 'reader', 'python'), topic]),
    new Child('node reader', [...programCommand(EXAMPLE, 'node-reader', 'node'), topic]),
  ];
  // A reader that fails (no numpy, say) fails the run at once, not when the writer gives up waiting for it.
  const published = await Promise.race([writer.line(/^published \d+ frames/, { timeoutMs: 120_000 }), anyFails(readers)]);
  const sums = (await writer.line(/^sums /)).split(' ').slice(1).map(Number);
  await writer.success();
  console.log(`writer (C++): ${published}, each rendered straight into the ring (a loan: no copy)`);
  check(sums.length === FRAMES, `the writer reported ${sums.length} sums for ${FRAMES} frames`);

  for (const child of readers) {
    const { value: r } = await report<FrameResult>(child, /result/);
    await child.success();
    const views = r.reader === 'python' ? 'numpy (720, 1280, 3) uint8 arrays' : 'Uint8Array views';
    const expected = r.frames.reduce((s, n) => s + (sums[n] ?? NaN), 0);
    const inOrder = r.frames.every((n, i) => i === 0 || n > r.frames[i - 1]!);
    const accounted = r.frames.length + r.lost + r.overwritten;
    console.log(
      `${child.label}: ${r.frames.length} frames as ${views} over the ring (no copy); lost ${r.lost}, ` +
        `overwritten while read ${r.overwritten}; read + lost + overwritten = ${accounted} of ${FRAMES} published; ` +
        `${r.bad === 0 ? 'every pixel as drawn' : `${r.bad} frames with wrong pixels`}; ` +
        `checksum ${r.checksum} ${r.checksum === expected ? '=' : '!='} the writer's ${expected}`,
    );
    if (r.reader === 'python') {
      const [b, g, red] = (r.resizedMean ?? []).map((v) => v.toFixed(2));
      console.log(
        r.cv2
          ? `${child.label}: cv2 ${r.cv2} resized the last frame to 640x360 (no copy in): mean B ${b} G ${g} R ${red}`
          : `${child.label}: cv2 is not installed (pip install opencv-python-headless): the resize step was skipped`,
      );
    }
    const last = r.frames.at(-1);
    if (last !== undefined) {
      const drawn = [(640 + 4 * last) & 255, (360 + 2 * last) & 255, (1000 + last) & 255];
      check(JSON.stringify(r.center) === JSON.stringify(drawn), `${child.label}: center pixel ${JSON.stringify(r.center)} of frame ${last}, drawn ${JSON.stringify(drawn)}`);
    }
    check(r.frames.length > 0, `${child.label} read no frame`);
    check(r.bad === 0, `${child.label}: ${r.bad} frames with wrong pixels`);
    check(r.checksum === expected, `${child.label}: checksum ${r.checksum}, the writer's ${expected}`);
    check(inOrder, `${child.label}: frames out of order`);
    check(accounted === FRAMES, `${child.label}: read + lost + overwritten = ${accounted}, ${FRAMES} were published`);
  }
}

interface LegacyResult {
  reader: string;
  width: number;
  height: number;
  channels: number;
  ok: boolean;
  checksum: number;
  center: number[];
  why?: string;
}

async function legacyImage(lie: boolean): Promise<void> {
  const name = `/${values.name}-legacy${lie ? '-lie' : ''}`;
  const writer = new Child('legacy writer (C)', [...programCommand(EXAMPLE, 'legacy-writer', 'cpp'), name, '1280', '720', ...(lie ? ['--lie'] : [])]);
  const ready = await writer.line(/^ready /);
  const bytes = Number(ready.split(' ')[2]);
  console.log(
    lie
      ? `legacy writer (C, no shmbus) with a lying header: claims 4000x3000x3 in ${name}, which holds ${bytes} bytes`
      : `legacy writer (C, no shmbus): 1280x720x3 image in plain shm object ${name} (${bytes} bytes: 3 int32 + pixels)`,
  );
  try {
    let drawn = 0; // what the picture sums to: B x, G y, R x + y (each & 255)
    for (let y = 0; y < 720; y++) for (let x = 0; x < 1280; x++) drawn += (x & 255) + (y & 255) + ((x + y) & 255);
    for (const [label, language, program] of [
      ['python legacy reader', 'python', 'legacy-reader'],
      ['node legacy reader', 'node', 'legacy-reader'],
    ] as const) {
      const child = new Child(label, [...programCommand(EXAMPLE, program, language), name]);
      const { word, value: r } = await report<LegacyResult>(child, /result|refused/);
      await child.success();
      const how = language === 'python' ? 'Segment.open_raw' : 'Segment.openRaw';
      if (word === 'refused') {
        console.log(`${label}: refused through ${how}: ${r.why}`);
        check(lie, `${label} refused a valid image: ${r.why}`);
      } else {
        console.log(
          `${label}: ${r.width}x${r.height}x${r.channels} through ${how}, read in place; ` +
            `${r.ok ? 'every pixel as drawn' : 'WRONG pixels'}; checksum ${r.checksum}; center ${JSON.stringify(r.center)}`,
        );
        check(!lie, `${label} read an image whose header claims more than the object holds`);
        check(r.ok && r.checksum === drawn, `${label}: pixels ok ${r.ok}, checksum ${r.checksum}, drawn ${drawn}`);
        check(JSON.stringify(r.center) === JSON.stringify([640 & 255, 360 & 255, 1000 & 255]), `${label}: center ${JSON.stringify(r.center)}`);
      }
    }
  } finally {
    writer.endInput(); // the legacy writer removes its object and exits
    await writer.success();
  }
}

await cameraFrames();
await legacyImage(false);
await legacyImage(true);
if (failures.length > 0) {
  for (const f of failures) console.log(`FAILED: ${f}`);
  process.exit(1);
}
console.log('camera-to-python: every check passed');
