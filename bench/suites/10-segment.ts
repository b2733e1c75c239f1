/**
 * Foundation benchmark (issue 4): the cost of the Segment layer against the C floor, in one run.
 *  1. Cross-process wake round trip: two Node processes hand a counter back and forth through a segment, parking
 *     with `seg.wait` or `await seg.waitAsync`, beside C spin and C futex ping-pongs with the same placement.
 *  2. Bulk copy bandwidth: C memcpy vs `native.copy` and `Uint8Array.set` into and out of a segment.
 *  3. Segment lifecycle: create + open + close + unlink.
 */
import { join } from 'node:path';
import { Segment } from '../../src/index.js';
import { native } from '../../src/native/binding.js';
import {
  childProcessIpcSamples,
  cMemcpy,
  cPingPongSamples,
  httpLoopbackSamples,
  interleave,
  nodeCommand,
  placementCpus,
  SIZES,
  unixSocketSamples,
  type Placement,
  fromChild,
} from '../baselines.js';
import { benchName, ROOT, spawnLines, stats, type BenchContext, type LineChild, type Row, type Stats, type Table } from '../lib.js';

const WAKE_PEER = join(ROOT, 'dist', 'bench', 'children', 'wake-peer.js');
const PEER_TIMEOUT_MS = 60_000;

type WakeMode = 'sync' | 'async' | 'spin';

/** Round trips between two Node processes (bench/children/wake-peer.ts) through a fresh segment: samples in µs. */
async function nodeWake(mode: WakeMode, placement: Placement, iterations: number): Promise<number[]> {
  const name = benchName('wake');
  const seg = Segment.create(name, { size: 4096 });
  const cpus = placementCpus(placement);
  const warmup = Math.max(100, Math.floor(iterations / 10));
  const args = (role: string): string[] => [role, mode, name, String(iterations), String(warmup)];
  const children: LineChild[] = [];
  try {
    const pong = spawnLines(...nodeCommand(WAKE_PEER, args('pong'), cpus?.[1]));
    children.push(pong);
    await fromChild(pong, pong.next(/^ready$/), `wake-peer pong (${mode})`, PEER_TIMEOUT_MS);
    const ping = spawnLines(...nodeCommand(WAKE_PEER, args('ping'), cpus?.[0]));
    children.push(ping);
    const line = await fromChild(ping, ping.next(/^samples /), `wake-peer ping (${mode})`, PEER_TIMEOUT_MS);
    await Promise.all(children.map((c) => fromChild(c, c.done.then(() => undefined), 'wake-peer exit', PEER_TIMEOUT_MS)));
    const samples = line.slice('samples '.length).split(',').map(Number);
    if (samples.length !== iterations || samples.some((v) => !Number.isFinite(v))) {
      throw new Error(`wake-peer ping: expected ${iterations} samples, got ${samples.length}`);
    }
    return samples;
  } finally {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    seg.close();
    Segment.unlink(name);
  }
}

function latencyRow(path: string, s: Stats, futexP50: number): Row {
  return { path, p50: s.p50, p99: s.p99, 'p99.9': s.p999, 'p50 / C futex p50': `${(s.p50 / futexP50).toFixed(2)}x`, n: s.n };
}

/** Turns per table: every row is measured in this many interleaved pieces (see interleave in baselines.ts). */
const ROUNDS = 5;

async function wakeTable(ctx: BenchContext, placement: Placement): Promise<Table> {
  const rounds = ctx.quick ? 2 : ROUNDS;
  // Per turn: spin rows are cheap (µs), blocking rows take ~50 µs a round trip across cores.
  const spinN = (ctx.quick ? 4_000 : 20_000) / rounds;
  const waitN = (ctx.quick ? 1_000 : 5_000) / rounds;
  const where = placement === 'cores' ? 'one process per core (cpu 0 and cpu 1)' : 'both processes on cpu 0';
  const logged = <T>(what: string, fn: () => Promise<T>) => (round: number): Promise<T> => {
    ctx.log(`wake round trip, ${where}, turn ${round + 1}/${rounds}: ${what}`);
    return fn();
  };
  type Path = 'cSpin' | 'cFutex' | 'nodeSpin' | 'nodeSync' | 'nodeAsync';
  const measurers: Partial<Record<Path, (round: number) => Promise<ArrayLike<number>>>> = {
    // Two cores: a pure spin (the floor); one core: the yielding spin, the only one that hands over there.
    cSpin: logged('C spin', () =>
      cPingPongSamples({ mode: placement === 'cores' ? 'spin' : 'spin-yield', size: 0, iterations: spinN, placement }),
    ),
    cFutex: logged('C futex', () => cPingPongSamples({ mode: 'futex', size: 0, iterations: waitN, placement })),
  };
  // A pure Atomics.load spin on one core only advances when the scheduler preempts the spinner: cores only.
  if (placement === 'cores') measurers.nodeSpin = logged('Node Atomics.load spin', () => nodeWake('spin', placement, spinN));
  measurers.nodeSync = logged('Node seg.wait', () => nodeWake('sync', placement, waitN));
  measurers.nodeAsync = logged('Node await seg.waitAsync', () => nodeWake('async', placement, waitN));
  const r: Partial<Record<Path, Stats>> = await interleave(
    rounds,
    measurers as Record<Path, (round: number) => Promise<ArrayLike<number>>>,
  );
  const futex = r.cFutex!.p50;
  const rows: Row[] = [
    latencyRow(placement === 'cores' ? 'C spin (pure pause loop)' : 'C spin (pause, sched_yield every 64)', r.cSpin!, futex),
    latencyRow('C futex (FUTEX_WAIT / FUTEX_WAKE)', r.cFutex!, futex),
  ];
  if (r.nodeSpin) rows.push(latencyRow('Node Atomics.load spin (reference, no wait)', r.nodeSpin, futex));
  rows.push(latencyRow('Node seg.wait (sync)', r.nodeSync!, futex));
  rows.push(latencyRow('Node await seg.waitAsync', r.nodeAsync!, futex));
  return {
    title: `Wake round trip between two processes, ${placement === 'cores' ? 'on different cores' : 'on the same core'} (µs)`,
    note:
      `${where}. One round trip = store + wake in one process, the other sees it and answers the same way. ` +
      'C rows: bench/c/pingpong.c (fork, one MAP_SHARED mapping, size 0: only the counter word moves, as in the Node rows). Node rows: two Node processes ' +
      '(bench/children/wake-peer.ts) over a shmbus segment; both sides check the word, park with seg.wait / ' +
      'seg.waitAsync (10 s timeout) when it has not changed, and seg.wake(index, 1) after every store. ' +
      `Rows measured in ${rounds} interleaved turns (fresh processes each turn), samples merged. ` +
      'The ratio column compares p50s with the C futex row of this table.',
    columns: ['path', 'p50', 'p99', 'p99.9', 'p50 / C futex p50', 'n'],
    rows,
  };
}

/** GB/s of `copy` (which moves `size` bytes): best of 5 batches each lasting about `batchMs`, as in bench/c/memcpy.c. */
function copyGBps(size: number, batchMs: number, copy: () => void): number {
  const run = (count: number): number => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) copy();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  let count = 1;
  for (;;) {
    const t = run(count);
    if (t > batchMs / 4000) {
      count = Math.max(1, Math.round((count * batchMs) / 1000 / t));
      break;
    }
    count *= 4;
  }
  const rates = Array.from({ length: 5 }, () => (size * count) / run(count) / 1e9).sort((a, b) => a - b);
  return rates[4]!;
}

const SIZE_LABELS: [number, string][] = [
  [SIZES.small, '64 B'],
  [SIZES.frame, '2.7 MB (1280x720x3)'],
  [SIZES.large, '6 MiB'],
];

/** Turns of the copy table: C and Node copies alternate, and each cell keeps its best turn. */
const COPY_ROUNDS = 3;

async function copyTable(ctx: BenchContext): Promise<Table> {
  const rounds = ctx.quick ? 1 : COPY_ROUNDS;
  const dramMiB = ctx.quick ? 128 : 256;
  const batchMs = ctx.quick ? 20 : 40;
  const sizes = SIZE_LABELS.map(([s]) => s);
  const name = benchName('copy');
  const seg = Segment.create(name, { size: SIZES.large });
  // best[row][size index], GB/s
  const best: number[][] = Array.from({ length: 7 }, () => sizes.map(() => 0));
  try {
    for (let round = 0; round < rounds; round++) {
      ctx.log(`copy bandwidth, turn ${round + 1}/${rounds}: C memcpy`);
      const c = await cMemcpy(sizes, { dramMiB, budgetMs: ctx.quick ? 600 : 1000 });
      ctx.log(`copy bandwidth, turn ${round + 1}/${rounds}: Node`);
      sizes.forEach((size, i) => {
        const priv = new Uint8Array(size).fill(0x5a);
        const priv2 = new Uint8Array(size);
        const shm = seg.bytes.subarray(0, size);
        const figures = [
          c[i]!.hot,
          c[i]!.dram,
          copyGBps(size, batchMs, () => native.copy(shm, 0, priv, 0, size)),
          copyGBps(size, batchMs, () => native.copy(priv2, 0, shm, 0, size)),
          copyGBps(size, batchMs, () => shm.set(priv)),
          copyGBps(size, batchMs, () => priv2.set(shm)),
          copyGBps(size, batchMs, () => priv2.set(priv)),
        ];
        figures.forEach((v, r) => (best[r]![i] = Math.max(best[r]![i]!, v)));
      });
    }
  } finally {
    seg.close();
    Segment.unlink(name);
  }
  const paths = [
    'C memcpy, hot (same buffers each copy)',
    `C memcpy, from DRAM (2 x ${dramMiB} MiB regions walked)`,
    'native.copy private -> segment',
    'native.copy segment -> private',
    'Uint8Array.set private -> segment (SharedArrayBuffer)',
    'Uint8Array.set segment -> private',
    'Uint8Array.set private -> private (reference)',
  ];
  const frameIndex = sizes.indexOf(SIZES.frame);
  const rows: Row[] = paths.map((path, r) => {
    const row: Row = { path };
    SIZE_LABELS.forEach(([, label], i) => (row[label] = best[r]![i]!));
    // At 64 B the call dominates: ns per copy reads better than GB/s.
    row['64 B: ns per copy'] = SIZES.small / best[r]![0]!;
    row['2.7 MB vs C hot'] = `${Math.round((100 * best[r]![frameIndex]!) / best[0]![frameIndex]!)}%`;
    return row;
  });
  return {
    title: 'Single-thread copy bandwidth (GB/s = 1e9 bytes/s)',
    note:
      'Hot copies reuse the same source and destination (cache-resident once 2 x size fits the caches); the DRAM ' +
      'row walks regions larger than the last-level cache (at 64 B it is mostly the latency of fetching cold ' +
      'lines). Node rows copy between a private Uint8Array and the payload of a shmbus segment. Each figure is ' +
      `the best of 5 batches in each of ${rounds} alternating C/Node turns: a ceiling, robust to other work on the ` +
      'machine. native.copy is the addon memcpy (src/native/binding.ts); Uint8Array.set on a SharedArrayBuffer is ' +
      'what V8 does for plain JS copies.',
    columns: ['path', ...SIZE_LABELS.map(([, l]) => l), '64 B: ns per copy', '2.7 MB vs C hot'],
    rows,
  };
}

function lifecycleTable(ctx: BenchContext): Table {
  const rows: Row[] = [];
  for (const [size, label] of [
    [4096, '4 KiB'],
    [SIZES.large, '6 MiB'],
  ] as const) {
    const n = (size === 4096 ? 1000 : 200) / (ctx.quick ? 5 : 1);
    ctx.log(`segment lifecycle, ${label}`);
    const create = new Float64Array(n);
    const open = new Float64Array(n);
    const close = new Float64Array(n);
    const unlink = new Float64Array(n);
    const total = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const name = benchName('life');
      const t0 = process.hrtime.bigint();
      const a = Segment.create(name, { size });
      const t1 = process.hrtime.bigint();
      const b = Segment.open(name);
      const t2 = process.hrtime.bigint();
      b.close();
      a.close();
      const t3 = process.hrtime.bigint();
      Segment.unlink(name);
      const t4 = process.hrtime.bigint();
      create[i] = Number(t1 - t0) / 1000;
      open[i] = Number(t2 - t1) / 1000;
      close[i] = Number(t3 - t2) / 1000;
      unlink[i] = Number(t4 - t3) / 1000;
      total[i] = Number(t4 - t0) / 1000;
    }
    for (const [step, samples] of [
      ['Segment.create', create],
      ['Segment.open', open],
      ['close() x 2 (opener and creator)', close],
      ['Segment.unlink', unlink],
      ['create + open + close x 2 + unlink', total],
    ] as const) {
      const s = stats(samples);
      rows.push({ size: label, step, p50: s.p50, p99: s.p99, 'p99.9': s.p999, n: s.n });
    }
  }
  return {
    title: 'Segment lifecycle in one process (µs)',
    note:
      'Each iteration: create a segment (shm_open + ftruncate + posix_fallocate + mmap + header), open it again ' +
      '(validates the header), close both (remaps the range private; the mapping itself goes at GC), unlink the name.',
    columns: ['size', 'step', 'p50', 'p99', 'p99.9', 'n'],
    rows,
  };
}

/** The transports a user would pick instead, 64 B, unpinned: context for the wake table. */
async function transportTable(ctx: BenchContext): Promise<Table> {
  const rounds = ctx.quick ? 2 : ROUNDS;
  const iterations = (ctx.quick ? 400 : 2_000) / rounds;
  const size = SIZES.small;
  const logged = (what: string, fn: () => Promise<Float64Array>) => (round: number): Promise<Float64Array> => {
    ctx.log(`transports, turn ${round + 1}/${rounds}: ${what}`);
    return fn();
  };
  const r = await interleave(rounds, {
    json: logged('child_process IPC json', () => childProcessIpcSamples({ serialization: 'json', size, iterations })),
    advanced: logged('child_process IPC advanced', () =>
      childProcessIpcSamples({ serialization: 'advanced', size, iterations }),
    ),
    unix: logged('Unix domain socket', () => unixSocketSamples({ size, iterations })),
    http: logged('HTTP loopback', () => httpLoopbackSamples({ size, iterations: iterations / 2 })),
  });
  const row = (path: string, s: Stats): Row => ({ path, p50: s.p50, p99: s.p99, 'p99.9': s.p999, n: s.n });
  return {
    title: 'Transports a Node user would pick instead: 64 B round trip, unpinned (µs)',
    note:
      'This process sends 64 bytes and awaits the echo from a forked Node child (bench/children/*-echo.ts): the ' +
      'same wake-a-sleeping-process cost as the futex rows above, plus the event loop, syscalls and serialization. ' +
      `Unpinned: the scheduler may put both on one core (cheap wake) or not, so p50 varies between runs. ${rounds} interleaved turns. ` +
      'Functions in bench/baselines.ts; the channel suites put the same baselines beside their own figures.',
    columns: ['path', 'p50', 'p99', 'p99.9', 'n'],
    rows: [
      row("child_process IPC, serialization 'json'", r.json),
      row("child_process IPC, serialization 'advanced'", r.advanced),
      row('Unix domain socket (length-prefixed)', r.unix),
      row('HTTP POST over 127.0.0.1 (keep-alive)', r.http),
    ],
  };
}

export default async function segmentSuite(ctx: BenchContext): Promise<Table[]> {
  const tables: Table[] = [];
  tables.push(await wakeTable(ctx, 'cores'));
  tables.push(await wakeTable(ctx, 'same-core'));
  tables.push(await transportTable(ctx));
  tables.push(await copyTable(ctx));
  tables.push(lifecycleTable(ctx));
  return tables;
}
