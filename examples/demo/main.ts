/**
 * `npm run demo`: what shmbus is for, in a few seconds. Video frames (320x240 RGB, 225 KiB each) flow from
 * publisher processes to subscriber processes through one Topic, beside the same frames sent through Node's
 * child_process IPC, in the same run; then 2 publishers feed 3 subscribers, one deliberately slow (it is lapped
 * and counts what it lost; the others do not notice). The viewer runs meanwhile: open the printed URL to watch.
 *   npm run demo                  ends by itself (about 10 s)
 *   npm run demo -- --watch       then keeps a 30 fps video running until Ctrl-C
 * /dev/shm is left clean either way (also on Ctrl-C).
 */
import { fork, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Frame, Topic, type FrameLoan } from '../../src/index.js';
import { startViewer } from '../../cli/view/server.js';

const W = 320;
const H = 240;
const FRAME = { width: W, height: H, format: 'RGB' as const, dtype: 'uint8' as const };
const SECONDS = 2;
const self = fileURLToPath(import.meta.url);
/** Wall-clock ms with µs resolution (Date.now() has whole ms only), comparable across processes. */
const now = (): number => performance.timeOrigin + performance.now();

/** Frame k of a moving gradient (so the viewer shows motion); 8 precomputed, copied like a camera would. */
function makeFrames(): Uint8Array[] {
  return Array.from({ length: 8 }, (_, k) => {
    const px = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const o = (y * W + x) * 3;
        px[o] = (x + k * 16) & 255;
        px[o + 1] = (y + k * 8) & 255;
        px[o + 2] = ((x ^ y) + k * 32) & 255;
      }
    }
    return px;
  });
}

/** Child: publish frames for `ms` (or until stdin closes with ms = 0), `fps` 0 = as fast as possible. */
async function publisher(name: string, id: number, subs: number, ms: number, fps: number): Promise<void> {
  const frames = makeFrames();
  const topic = Topic.open(name);
  console.log('open');
  await topic.waitForSubscribers(subs, { timeout: 10_000 });
  const end = performance.now() + ms;
  let n = 0;
  let stop = false;
  process.stdin.on('end', () => (stop = true)).resume();
  while (!stop && (ms === 0 || performance.now() < end)) {
    const loan: FrameLoan = Frame.loan(topic, { ...FRAME, timestamp: now() });
    loan.bytes.set(frames[n % 8]!);
    loan.bytes[0] = id; // which publisher: the first byte of pixel 0
    loan.commit();
    n++;
    if (fps > 0) await new Promise((r) => setTimeout(r, 1000 / fps));
    else if (n % 64 === 0) await new Promise((r) => setImmediate(r)); // let stdin's end through
  }
  topic.close();
  process.stdin.destroy(); // reading it (for the end) would keep this process alive
  console.log(JSON.stringify({ published: n }));
}

/** Child: read frames in place (copy: false) until the stream ends; `slowMs` per frame for the slow one. */
async function subscriber(name: string, slowMs: number): Promise<void> {
  const sub = Topic.subscribe(name);
  await sub.ready;
  console.log('ready');
  let frames = 0;
  let bad = 0;
  let bytes = 0;
  const latencies: number[] = [];
  for (;;) {
    const m = await sub.read({ copy: false });
    if (m === null) break;
    // copy: false reads the ring in place, where a publisher may overwrite the frame while we look at it: use
    // it, then ask m.valid(); a frame overwritten mid-read (even mid-decode) is one we were lapped on.
    let f: ReturnType<typeof Frame.decode> | null = null;
    try {
      f = Frame.decode(m.data);
    } catch (e) {
      if (m.valid()) throw e; // a real bad frame
    }
    // Spot-check the pixels: pixel 1 of frame k is (1 + 16k, 8k, 1 + 32k) mod 256.
    const ok = f !== null && f.width === W && f.height === H && f.bytes[3] === ((1 + (f.bytes[4]! / 8) * 16) & 255);
    const latency = f ? now() - f.timestamp : 0;
    if (f !== null && m.valid()) {
      frames++;
      bytes += m.size;
      if (!ok) bad++;
      latencies.push(latency);
    }
    if (slowMs > 0) await new Promise((r) => setTimeout(r, slowMs));
  }
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({ frames, bad, bytes, lost: sub.lost, p50: latencies[latencies.length >> 1] ?? 0 }));
  sub.close();
}

/** Child: the same frames through child_process IPC (structured clone of a Buffer), paced by the send callback. */
async function ipcSender(ms: number): Promise<void> {
  const frames = makeFrames();
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) {
    await new Promise<void>((resolve) => process.send!({ t: now(), data: Buffer.from(frames[n % 8]!) }, undefined, {}, () => resolve()));
    n++;
  }
  process.send!({ done: n });
}

// ---- parent ------------------------------------------------------------------------------------------------

interface Child {
  lines: AsyncIterableIterator<string>;
  exited: Promise<number | null>;
  kill(): void;
  end(): void;
}

/** Every child still running, so Ctrl-C can stop them all. */
const running = new Set<{ kill(): void }>();
let interrupted = false;

function child(args: string[]): Child {
  const c = spawn(process.execPath, [self, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  running.add(c);
  c.on('exit', () => running.delete(c));
  return {
    lines: createInterface({ input: c.stdout })[Symbol.asyncIterator](),
    exited: new Promise((r) => c.on('exit', (code) => r(code))),
    kill: () => c.kill(),
    end: () => c.stdin.end(),
  };
}

async function next(c: Child): Promise<string> {
  const r = await c.lines.next();
  if (r.done) throw new Error('a demo process ended early');
  return r.value;
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** Runs `pubs` publishers and one subscriber per entry of `slow` (its ms per frame) for `ms`; returns their reports. */
async function topicRun(name: string, pubs: number, slow: number[], ms: number, fps = 0) {
  const topic = Topic.create(name, { capacity: 8 * Frame.byteLength(FRAME) + 4096 });
  const all: Child[] = [];
  try {
    const subs = slow.map((s) => child(['subscriber', name, String(s)]));
    all.push(...subs);
    for (const s of subs) await next(s); // "ready"
    const publishers = Array.from({ length: pubs }, (_, i) => child(['publisher', name, String(i + 1), String(slow.length), String(ms), String(fps)]));
    all.push(...publishers);
    for (const p of publishers) await next(p); // "open": registered, so the subscribers' streams end with theirs
    topic.close(); // the creator publishes nothing: its registration must not keep the stream open
    const start = performance.now();
    const pubReports = await Promise.all(publishers.map(async (p) => JSON.parse(await next(p)) as { published: number }));
    const subReports = await Promise.all(subs.map(async (s) => JSON.parse(await next(s)) as { frames: number; bad: number; bytes: number; lost: number; p50: number }));
    const seconds = (performance.now() - start) / 1000;
    await Promise.all(all.map((c) => c.exited));
    return { pubReports, subReports, seconds, topic, all };
  } finally {
    topic.close();
    Topic.unlink(name);
    for (const c of all) c.kill();
  }
}

async function ipcRun(ms: number) {
  const c = fork(self, ['ipc-sender', String(ms)], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  running.add(c);
  const exited = new Promise((r) => c.on('exit', r));
  exited.then(() => running.delete(c));
  let frames = 0;
  let bytes = 0;
  const lat: number[] = [];
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    void exited.then(() => reject(new Error('interrupted')));
    c.on('message', (m: { t?: number; data?: Uint8Array; done?: number }) => {
      if (m.done !== undefined) return resolve();
      frames++;
      bytes += m.data!.length;
      lat.push(now() - m.t!);
    });
  });
  const seconds = (performance.now() - start) / 1000;
  await exited;
  lat.sort((a, b) => a - b);
  return { frames, bytes, seconds, p50: lat[lat.length >> 1] ?? 0 };
}

async function main(): Promise<void> {
  const watch = process.argv.includes('--watch');
  const base = `demo-${process.pid}`;
  console.log(`shmbus demo: ${W}x${H} RGB video frames (${fmt(Frame.byteLength(FRAME) / 1024)} KiB each) between processes`);
  const viewer = await startViewer({ port: 0, interval: 500 });
  console.log(`watch live: ${viewer.url}`);
  process.once('SIGINT', () => {
    interrupted = true;
    for (const c of running) c.kill();
  });
  try {
    // 1. Same frames, same size, one sender and one receiver: shmbus Topic vs child_process IPC.
    const a = await topicRun(`${base}-1to1`, 1, [0], SECONDS * 1000);
    const s = a.subReports[0]!;
    const ipc = await ipcRun(SECONDS * 1000);
    console.log('');
    console.log('one publisher -> one subscriber, frames received:');
    console.log(`  shmbus Topic       ${fmt(s.frames / a.seconds).padStart(8)} frames/s  ${fmt(s.bytes / a.seconds / 1e9, 2)} GB/s  latency p50 ${fmt(s.p50 * 1000)} µs  (zero-copy read, ${s.lost} lapped)`);
    console.log(`  child_process IPC  ${fmt(ipc.frames / ipc.seconds).padStart(8)} frames/s  ${fmt(ipc.bytes / ipc.seconds / 1e9, 2)} GB/s  latency p50 ${fmt(ipc.p50 * 1000)} µs  (serialized, piped, copied)`);
    console.log(`  shmbus delivered ${fmt(s.frames / a.seconds / Math.max(1e-9, ipc.frames / ipc.seconds), 1)}x the frames of child_process IPC`);

    // 2. Many to many: 2 publishers, 3 subscribers; the third is slow (20 ms per frame) and is simply lapped.
    const b = await topicRun(`${base}-2to3`, 2, [0, 0, 20], SECONDS * 1000);
    console.log('');
    console.log(`2 publishers -> 3 subscribers (${b.pubReports.map((p) => fmt(p.published)).join(' + ')} frames published):`);
    b.subReports.forEach((r, i) => {
      console.log(`  subscriber ${i + 1}${i === 2 ? ' (slow: 20 ms per frame)' : ''}: ${fmt(r.frames)} frames, ${r.lost} lost, ${r.bad} bad pixels`);
    });
    console.log('  the slow subscriber loses frames; publishers and the other subscribers never wait for it');

    if (watch && !interrupted) {
      console.log('');
      console.log(`--watch: a 30 fps video runs on "${base}-video"; open ${viewer.url} (Ctrl-C to stop)`);
      const name = `${base}-video`;
      const topic = Topic.create(name, { capacity: 8 * Frame.byteLength(FRAME) + 4096 });
      const p = child(['publisher', name, '1', '0', '0', '30']);
      await next(p); // "open"
      topic.close();
      await p.exited;
      Topic.unlink(name);
    }
  } catch (e) {
    if (!interrupted) throw e;
    console.log('\ninterrupted: stopping');
  } finally {
    await viewer.close();
  }
  const left = (await import('node:fs')).readdirSync('/dev/shm').filter((n) => n.startsWith(`shmbus.${base}`));
  console.log('');
  console.log(left.length === 0 ? '/dev/shm clean: every demo segment removed' : `left in /dev/shm: ${left.join(', ')}`);
}

const [role, ...args] = process.argv.slice(2);
if (role === 'publisher') await publisher(args[0]!, Number(args[1]), Number(args[2]), Number(args[3]), Number(args[4]));
else if (role === 'subscriber') await subscriber(args[0]!, Number(args[1]));
else if (role === 'ipc-sender') await ipcSender(Number(args[0]));
else await main();
