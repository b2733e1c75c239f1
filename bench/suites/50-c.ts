/**
 * C peer benchmark (issue 13), beside the baselines measured in the same run:
 *  1. Topic 64 B round trip, busy-poll and parked (no spinning: every message wakes a sleeping process), between
 *     C and C, C and Node (both ways: a C or a Node side measuring) and Node and Node; beside the C spin and futex
 *     ping-pong (bench/c/pingpong.c, no channel at all: the floor).
 *  2. Frame publish (1280x720x3) GB/s of a C publisher, with a C and with a Node subscriber, beside memcpy.
 * The C side is bench/c/topic-rtt.c built with the library (c/shmbus.c); the Node side bench/children/topic-peer.ts
 * and this process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Topic } from '../../src/index.js';
import { awaitView, createTopic, pollView } from '../api.js';
import { cMemcpy, cPingPong, parseNsSamples, PeerSet, placementCpus, runProgram, SIZES, withPinnedSelf } from '../baselines.js';
import { benchName, ringWarmup, ROOT, spawnLines, sampleArray, stats, WARM_MS, warmThenMeasure, type BenchContext, type LineChild, type Row, type Stats, type Table } from '../lib.js';

const NODE_PEER = join(ROOT, 'dist', 'bench', 'children', 'topic-peer.js');
const SUITE_TIMEOUT_MS = 10 * 60_000;
const STEP_TIMEOUT_MS = 120_000;
const peers = new PeerSet(NODE_PEER, STEP_TIMEOUT_MS);
const running = new Set<LineChild>();

type Side = 'C' | 'Node';
type Mode = 'poll' | 'park';

/** Builds bench/c/<name>.c with the C library (c/shmbus.c) into .cache/bench, when any source is newer. */
export function buildWithShmbus(name: string): string {
  const src = join(ROOT, 'bench', 'c', `${name}.c`);
  const lib = join(ROOT, 'c');
  const inputs = [src, join(lib, 'shmbus.c'), join(lib, 'shmbus.h'), ...readdirSync(join(lib, 'src')).map((f) => join(lib, 'src', f))];
  const outDir = join(ROOT, '.cache', 'bench');
  mkdirSync(outDir, { recursive: true });
  const bin = join(outDir, name);
  const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  if (!existsSync(bin) || statSync(bin).mtimeMs < newest) {
    const r = spawnSync('cc', ['-O2', '-std=c11', '-D_GNU_SOURCE', `-I${lib}`, '-o', bin, src, join(lib, 'shmbus.c'), '-pthread'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cc ${src} failed:\n${r.stderr}`);
  }
  return bin;
}

function cChild(bin: string, args: string[]): LineChild {
  const c = spawnLines(bin, args);
  running.add(c);
  void c.done.then(() => running.delete(c));
  return c;
}

async function cLine(child: LineChild, re: RegExp, what: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      child.next(re),
      child.done.then((code) => Promise.reject(new Error(`${what}: exited with ${code}`))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.child.kill('SIGKILL');
          reject(new Error(`${what}: no ${String(re)} within ${STEP_TIMEOUT_MS} ms`));
        }, STEP_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Round trips of 64 B: the measuring side publishes on topic A and waits for the echo on topic B. C measuring:
 * topic-rtt ping; Node measuring: this process (tryRead loop or read() with spin 0). Samples in µs.
 */
async function roundTrip(bin: string, measure: Side, echo: Side, mode: Mode, iterations: number): Promise<Stats> {
  const cpus = placementCpus('cores');
  const a = benchName('cping');
  const b = benchName('cpong');
  const layout = { capacity: 1 << 20, maxMessageSize: 4096 };
  createTopic(a, layout).close();
  createTopic(b, layout).close();
  try {
    const echoChild =
      echo === 'C'
        ? cChild(bin, ['echo', a, b, mode, String(cpus?.[1] ?? -1)])
        : peers.spawn(['echo', a, b, mode, 'copy'], cpus?.[1]);
    await cLine(echoChild, /^ready$/, `${echo} echo`);
    const warmup = ringWarmup(layout.capacity, SIZES.small, iterations);
    if (measure === 'C') {
      // A fresh Node echo tiers up during its first ~100 ms of traffic (see WARM_MS): C warms up by count, so give
      // it about WARM_MS of round trips (~3 µs polled, ~50 µs parked).
      const cWarmup = echo === 'Node' ? Math.max(warmup, Math.ceil((WARM_MS * 1000) / (mode === 'poll' ? 3 : 50))) : warmup;
      const out = await runProgram(bin, ['ping', a, b, mode, String(SIZES.small), String(iterations), String(cWarmup), String(cpus?.[0] ?? -1)], STEP_TIMEOUT_MS);
      await echoChild.done;
      return stats(parseNsSamples(out, iterations, `topic-rtt ping ${mode}`));
    }
    const pub = Topic.open(a);
    const sub = Topic.subscribe(b, { spin: mode === 'park' ? 0 : 50 });
    try {
      const buf = new Uint8Array(SIZES.small);
      const dv = new DataView(buf.buffer);
      const samples = sampleArray(iterations);
      const pass = async (from: number, to: number): Promise<void> => {
        for (let i = from; i < to; i++) {
          const t0 = process.hrtime.bigint();
          dv.setFloat64(0, Number(t0), true);
          pub.publish(buf);
          if (mode === 'poll') while (pollView(sub) === null);
          else await awaitView(sub, 10_000);
          samples[Math.max(i, 0)] = Number(process.hrtime.bigint() - t0) / 1000; // warm-up: overwritten (no branch)
        }
      };
      await withPinnedSelf(cpus?.[0], () => warmThenMeasure(warmup, iterations, pass));
      pub.publish(new Uint8Array(1));
      await echoChild.done;
      return stats(samples);
    } finally {
      sub.close();
      pub.close();
    }
  } finally {
    Topic.unlink(a);
    Topic.unlink(b);
  }
}

interface FrameRun {
  pubSeconds: number;
  read: number;
  lost: number;
}

/** A C publisher sends `count` frames into a 64 MiB ring; one subscriber (C or Node, zero-copy) reads them. */
async function frameRun(bin: string, reader: Side, count: number): Promise<FrameRun> {
  const name = benchName('cframe');
  const capacity = 64 << 20;
  const size = SIZES.frame;
  createTopic(name, { capacity, maxMessageSize: size }).close();
  try {
    const warm = Math.ceil(capacity / size) + 1;
    const pub = cChild(bin, ['frames', name, String(size), String(count), String(warm), '-1']);
    await cLine(pub, /^ready$/, 'C frames publisher');
    const last = warm + count;
    const sub = reader === 'C' ? cChild(bin, ['sub', name, String(last), '-1']) : peers.spawn(['sub', name, String(last), '0', 'await']);
    await cLine(sub, /^ready$/, `${reader} frame reader`);
    pub.send('go');
    const p = (await cLine(pub, /^pub /, 'C frames publisher')).split(' ');
    const d = (await cLine(sub, /^done /, `${reader} frame reader`)).split(' ');
    await Promise.all([pub.done, sub.done]);
    return { pubSeconds: Number(p[1]), read: Number(d[1]), lost: Number(d[2]) };
  } finally {
    Topic.unlink(name);
  }
}

const COLUMNS = ['path', 'mode', 'p50', 'p99', 'p99.9', 'p99 / p50', 'p50 vs C spin', 'p50 vs C futex'];

export default async function cSuite(ctx: BenchContext): Promise<Table[]> {
  const watchdog = setTimeout(() => {
    peers.killAll();
    for (const c of running) c.child.kill('SIGKILL');
  }, SUITE_TIMEOUT_MS);
  try {
    const k = ctx.quick ? 10 : 1;
    const bin = buildWithShmbus('topic-rtt');
    ctx.log('C baselines: spin and futex ping-pong (64 B, two cores)');
    const n = 20_000 / k;
    const cSpin = await cPingPong({ mode: 'spin', size: SIZES.small, iterations: n, placement: 'cores' });
    const cFutex = await cPingPong({ mode: 'futex', size: SIZES.small, iterations: 5_000 / k, placement: 'cores' });
    const row = (path: string, mode: string, s: Stats): Row => ({
      path,
      mode,
      p50: s.p50,
      p99: s.p99,
      'p99.9': s.p999,
      'p99 / p50': `${(s.p99 / s.p50).toFixed(1)}x`,
      'p50 vs C spin': `${(s.p50 / cSpin.p50).toFixed(1)}x`,
      'p50 vs C futex': `${(s.p50 / cFutex.p50).toFixed(2)}x`,
    });
    const rows: Row[] = [];
    const pairs: [Side, Side][] = [
      ['C', 'C'],
      ['C', 'Node'],
      ['Node', 'C'],
      ['Node', 'Node'],
    ];
    for (const mode of ['poll', 'park'] as const) {
      for (const [measure, echo] of pairs) {
        ctx.log(`Topic 64 B round trip, ${mode}: ${measure} measures, ${echo} echoes`);
        const s = await roundTrip(bin, measure, echo, mode, mode === 'poll' ? n : 5_000 / k);
        rows.push(row(`Topic ${measure} <-> ${echo} (${measure} measures)`, mode === 'poll' ? 'busy-poll' : 'parked (no spin)', s));
      }
    }
    rows.push(row('C spin ping-pong (pure pause loop, no channel)', 'busy-poll', cSpin));
    rows.push(row('C futex ping-pong (no channel)', 'parked', cFutex));

    ctx.log('frames: C publisher, C and Node readers; memcpy');
    const [mem] = await cMemcpy([SIZES.frame]);
    const frames = Math.max(20, Math.round(400 / k));
    const frameRows: Row[] = [];
    for (const reader of ['C', 'Node'] as const) {
      const r = await frameRun(bin, reader, frames);
      const gbps = (frames * SIZES.frame) / r.pubSeconds / 1e9;
      frameRows.push({
        path: `C publish -> ${reader} reader (zero-copy)`,
        'publish GB/s': gbps,
        'vs memcpy (hot)': `${((100 * gbps) / mem!.hot).toFixed(0)}%`,
        'frames read': r.read,
        lost: r.lost,
      });
    }
    frameRows.push({ path: 'C memcpy, hot (best of 5 batches)', 'publish GB/s': mem!.hot, 'vs memcpy (hot)': '100%', 'frames read': '', lost: '' });
    frameRows.push({ path: 'C memcpy, DRAM-sized buffers', 'publish GB/s': mem!.dram, 'vs memcpy (hot)': `${((100 * mem!.dram) / mem!.hot).toFixed(0)}%`, 'frames read': '', lost: '' });
    return [
      {
        title: 'C peer: Topic round trip, 64 B (µs)',
        note:
          'The measuring side (C: bench/c/topic-rtt.c ping; Node: this process) publishes 64 B on topic A and waits for the echo on topic B ' +
          '(C echo: topic-rtt echo; Node echo: bench/children/topic-peer.ts), one process per core (cpu 0 and 1). busy-poll: try_read / tryRead loops; ' +
          'parked: blocking reads with no spinning (C spin_us < 0, Node spin 0), so every message wakes a sleeping process. ' +
          'Issue 13 targets: C <-> C busy-poll p50 at most 3x the C spin ping-pong with p99 at most 2x its p50; parked at most 1.2x the C futex ping-pong. ' +
          'Baselines (bench/c/pingpong.c, no channel, 64 B copied each way) from this run.',
        columns: COLUMNS,
        rows,
      },
      {
        title: 'C peer: frame publish, 1280x720x3 (2.7 MB)',
        note:
          'A C publisher (topic-rtt frames) publishes frames as fast as it can into a 64 MiB ring (after one untimed lap): each publish copies the frame in. ' +
          'One subscriber (C topic-rtt sub, or Node topic-peer.ts sub with copy: false) reads zero-copy, touches the first and last byte and checks valid(). ' +
          'Issue 13 target: publish at least 80% of memcpy. memcpy from bench/c/memcpy.c in this run.',
        columns: ['path', 'publish GB/s', 'vs memcpy (hot)', 'frames read', 'lost'],
        rows: frameRows,
      },
    ];
  } finally {
    clearTimeout(watchdog);
    peers.killAll();
    for (const c of running) c.child.kill('SIGKILL');
  }
}
