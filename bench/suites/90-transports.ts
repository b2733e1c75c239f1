/**
 * shmbus beside every transport a user would consider (bench/transports.ts), all measured in this run with the
 * same workloads: the 64 B round trip (p50/p99/p99.9, CPU per round trip), one-way throughput from 64 B to 8 MiB
 * (a 1280x720x3 frame among the sizes; CPU per message), and one publisher to 1..8 subscribers. Servers (Redis,
 * NATS) are started here and stopped by pid; a transport that cannot run here (not installed, no package) is a
 * row that says why. Plots (SVG) go to ctx.plotsDir: latency CDFs, throughput against size, cost against
 * subscribers. docs/performance.md explains how to read them.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  forkPeer,
  KIND,
  openParent,
  runProgramTransport,
  startTransport,
  windowFor,
  type ParentSide,
  type ProgramOp,
  type ProgramTransport,
  type RoundTripResult,
  type Started,
  type StreamResult,
  type TransportName,
} from '../transports.js';
import { placementCpus, withPinnedSelf } from '../baselines.js';
import { cdfPoints, lineChart, type Series } from '../plot.js';
import { benchName, fmt, onPath, ROOT, stats, type BenchContext, type Row, type Table } from '../lib.js';
import { buildWithShmbus } from './50-c.js';
import { venvPython } from './60-python.js';

type Entry = { label: string } & ({ name: TransportName } | { program: ProgramTransport });

/** Node rows (bench/transports.ts), then the C and Python ones (both sides in that language, same protocol). */
const TRANSPORTS: Entry[] = [
  { name: 'shmbus-topic', label: 'shmbus Topic' },
  { name: 'shmbus-queue', label: 'shmbus Queue' },
  { program: 'c-topic', label: 'C shmbus Topic (C <-> C)' },
  { program: 'c-queue', label: 'C shmbus Queue (C <-> C)' },
  { program: 'py-topic', label: 'Python shmbus Topic' },
  { name: 'worker', label: 'worker_threads postMessage (same process)' },
  { name: 'ipc', label: 'child_process IPC' },
  { name: 'unix-socket', label: 'Unix socket' },
  { program: 'py-pipe', label: 'Python multiprocessing.Pipe' },
  { program: 'py-queue', label: 'Python multiprocessing.Queue' },
  { name: 'zeromq', label: 'ZeroMQ ipc://' },
  { name: 'redis', label: 'Redis pub/sub (Unix socket)' },
  { name: 'nats', label: 'NATS core pub/sub' },
];
const PY_DRIVER = join(ROOT, 'bench', 'children', 'transport-driver.py');
/** Transports that keep what is sent before the peer listens (one probe is enough: a Queue, a MessagePort). */
const LOSSLESS = new Set<TransportName>(['shmbus-queue', 'worker']);
const SIZES = [64, 4096, 65536, 1 << 20, 1280 * 720 * 3, 8 << 20];
const FANOUT = [1, 2, 4, 8];
/** A quick run's subscriber counts: every fan-out rig starts k fresh peer processes, the bulk of a quick run. */
const QUICK_FANOUT = [1, 8];
const MAX_SIZE = 8 << 20;
const BENCH_TIMEOUT_MS = 120_000;

/** A message of `size` bytes: byte 0 its kind, byte 1 the stream window (0: echo it). */
function message(size: number, kind: number, window: number): Uint8Array {
  const m = new Uint8Array(Math.max(2, size));
  m[0] = kind;
  m[1] = window;
  return m;
}

/** Rejects after `ms` (the bench then records the row as failed instead of hanging the run). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

interface Rig {
  side: ParentSide;
  children: ChildProcess[];
  started: Started;
  peers: number;
  close(): Promise<void>;
}

/** A parent with `peers` peers of `t`, every subscription live (probed until each peer has answered). */
async function rig(t: TransportName, peers: number, pinned: boolean): Promise<Rig> {
  const started = await startTransport(t, benchName(`tr-${t}`));
  const cpus = pinned ? placementCpus('cores') : undefined;
  const { side, children } = await openParent(t, started.address, peers, MAX_SIZE, (c) => forkPeer(c, cpus?.[1]));
  const closeAll = async (): Promise<void> => {
    // Any other kind makes the peers leave; one that does not within 5 s (blocked on a full channel) is killed.
    await within(5000, 'goodbye', Promise.resolve(side.send(message(2, 255, 0)))).catch(() => undefined);
    const exited = Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await within(5000, 'peers leaving', exited).catch(() => children.forEach((c) => c.kill('SIGKILL')));
    await side.close();
    await started.stop();
  };
  try {
    const probe = message(2, KIND.probe, 0);
    const seen = new Set<number>();
    // Pub/sub transports drop what is published before a subscription reaches the publisher: probe until all
    // answer. Lossless ones get one probe: repeating it there would pile up answers that can fill the way back.
    const timer = LOSSLESS.has(t) ? undefined : setInterval(() => void side.send(probe), 20);
    try {
      await within(30_000, `${t}: peers answering probes`, (async () => {
        await side.send(probe);
        while (seen.size < peers) {
          const m = await side.receive();
          if (m[0] === KIND.hello) seen.add(m[1]!);
        }
      })());
    } finally {
      clearInterval(timer);
    }
    // Late hellos from the last probes still in flight: let them arrive and drop them before measuring.
    await drainHellos(side);
  } catch (e) {
    for (const c of children) c.kill('SIGKILL');
    await side.close().catch(() => undefined);
    await started.stop();
    throw e;
  }
  return { side, children, started, peers, close: closeAll };
}

/** Sends one echo round trip and swallows any hello still queued ahead of it. */
async function drainHellos(side: ParentSide): Promise<void> {
  const m = message(64, KIND.data, 0);
  m[2] = 0xee;
  await side.send(m);
  for (;;) {
    const r = await side.receive();
    if (r[0] === KIND.data && r[2] === 0xee) return;
  }
}

const cpuNow = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** 64 B round trips: samples (µs) and CPU µs per round trip (both sides and any server). */
async function roundTrips(r: Rig, iterations: number): Promise<RoundTripResult> {
  const m = message(64, KIND.data, 0);
  const warm = Math.min(2000, iterations);
  for (let i = 0; i < warm; i++) {
    await r.side.send(m);
    await r.side.receive();
  }
  await streamEnd(r); // restarts the peers' CPU clocks: the warm-up is not counted
  const samples = new Float64Array(iterations);
  const c0 = cpuNow();
  const s0 = r.started.serverCpuUs();
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await r.side.send(m);
    await r.side.receive();
    samples[i] = (performance.now() - t0) * 1000;
  }
  const mine = cpuNow() - c0;
  const peer = await streamEnd(r);
  return { samples, cpuPer: (mine + peer + (r.started.serverCpuUs() - s0)) / iterations };
}

/** Sends the end-of-stream message and sums the CPU the peers report for the stream (0 for threads: ours). */
async function streamEnd(r: Rig): Promise<number> {
  await r.side.send(message(2, KIND.last, 0));
  let cpu = 0;
  for (let got = 0; got < r.peers; ) {
    const m = await r.side.receive();
    if (m[0] !== KIND.ack || m.length <= 2) continue; // a late window ack
    got++;
    cpu += (JSON.parse(new TextDecoder().decode(m.subarray(1))) as { cpuUs: number }).cpuUs;
  }
  return r.side.peersAreThreads ? 0 : cpu;
}

/**
 * One-way stream of `count` messages of `size` bytes to every peer, flow-controlled by windows: every peer acks
 * each `window`-th message and at most two windows are in flight, so lossy transports lose nothing and the figure
 * is a delivered rate. Returns messages per second (per peer) and CPU µs per message (all processes). With
 * `capMs` (the untimed warm-up) it stops at the first window boundary after that many ms.
 */
async function stream(r: Rig, { size, count, window, capMs }: StreamOp): Promise<StreamResult> {
  let n = Math.ceil(count / window) * window;
  const m = message(size, KIND.data, window);
  let inFlight = 0;
  const acks = async (): Promise<void> => {
    for (let got = 0; got < r.peers; ) if ((await r.side.receive())[0] === KIND.ack) got++;
    inFlight--;
  };
  const c0 = cpuNow();
  const s0 = r.started.serverCpuUs();
  const t0 = performance.now();
  for (let i = 1; i <= n; i++) {
    await r.side.send(m);
    if (i % window === 0) {
      inFlight++;
      while (inFlight > 2) await acks();
      if (capMs !== undefined && performance.now() - t0 > capMs) n = i;
    }
  }
  while (inFlight > 0) await acks();
  const seconds = (performance.now() - t0) / 1000;
  const mine = cpuNow() - c0;
  const peers = await streamEnd(r);
  return { perSecond: n / seconds, cpuPer: (mine + peers + (r.started.serverCpuUs() - s0)) / n };
}

/** The runtime a transport needs (server binary, npm package), or why it cannot run here. */
function unavailable(t: TransportName): string | null {
  const install = (pkg: string): void => {
    if (process.getuid?.() !== 0) return;
    spawnSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkg}`], {
      stdio: 'ignore',
    });
  };
  if (t === 'redis' && !onPath('redis-server')) install('redis-server');
  if (t === 'nats' && !onPath('nats-server')) install('nats-server');
  if (t === 'redis' && !onPath('redis-server')) return 'redis-server is not installed (apt-get install redis-server)';
  if (t === 'nats' && !onPath('nats-server')) return 'nats-server is not installed (apt-get install nats-server)';
  return null;
}

/** How one transport runs the workloads: the Node harness above, or a program doing both sides (C, Python). */
interface Runner {
  /** Round trips, then a stream of every size: parent on one core, one peer on the other. */
  pinned(iterations: number, streams: StreamOp[], log: (m: string) => void): Promise<{ rtt: RoundTripResult; streams: StreamResult[] }>;
  /** A 64 B stream to `k` peers, unpinned, after the untimed warm-up stream. */
  fanout(k: number, op: StreamOp): Promise<StreamResult>;
}

/** A stream op (see {@link stream}); the C and Python programs take the same fields. */
type StreamOp = Extract<ProgramOp, { size: number }>;

/**
 * The untimed warm-up stream before the first timed stream of every rig (pinned and fan-out alike): 6000 64 B
 * messages, or fewer if they take more than 1 s (the same in a quick run: shorter, it measured cold peers
 * again). A fresh Node peer runs its loop in V8's interpreter for its first
 * few thousand messages (a quick run's 2000-message fan-out stream measured mostly that: Topic to 1 subscriber
 * went from 18k msg/s in the first 2000-message stream of a rig to 173-274k in its third to fifth).
 */
const WARM_UP: StreamOp = { size: 64, count: 6000, window: windowFor(64), capMs: 1000 };

function nodeRunner(name: TransportName, label: string): Runner {
  return {
    pinned: (iterations, streams, log) =>
      withPinnedSelf(placementCpus('cores')?.[0], async () => {
        const r = await rig(name, 1, true);
        try {
          log(`${label}: 64 B round trips`);
          const rtt = await within(BENCH_TIMEOUT_MS, `${label} round trips`, roundTrips(r, iterations));
          const out: StreamResult[] = [];
          await within(BENCH_TIMEOUT_MS, `${label} warm-up stream`, stream(r, WARM_UP));
          for (const op of streams) {
            log(`${label}: stream of ${op.size} B messages`);
            out.push(await within(BENCH_TIMEOUT_MS, `${label} ${op.size} B stream`, stream(r, op)));
          }
          return { rtt, streams: out };
        } finally {
          await r.close().catch(() => undefined);
        }
      }),
    async fanout(k, op) {
      const r = await rig(name, k, false);
      try {
        await within(BENCH_TIMEOUT_MS, `${label} fan-out ${k} warm-up`, stream(r, WARM_UP));
        return await within(BENCH_TIMEOUT_MS, `${label} fan-out ${k}`, stream(r, op));
      } finally {
        await r.close().catch(() => undefined);
      }
    },
  };
}

function programRunner(t: ProgramTransport, label: string, command: [string, ...string[]]): Runner {
  const kind = t.replace(/^(c|py)-/, '');
  const run = (peers: number, cpus: [number, number] | undefined, ops: ProgramOp[]) =>
    runProgramTransport({ command, kind, name: benchName(`tr-${t}`), peers, cpus, maxSize: MAX_SIZE, ops, timeoutMs: BENCH_TIMEOUT_MS * ops.length });
  return {
    async pinned(iterations, streams, log) {
      log(`${label}: 64 B round trips and streams of ${streams.map((s) => sizeLabel(s.size)).join(', ')} (one program run)`);
      const [rtt, , ...out] = await run(1, placementCpus('cores'), [{ rtt: iterations, warm: Math.min(2000, iterations) }, WARM_UP, ...streams]);
      return { rtt: rtt as RoundTripResult, streams: out as StreamResult[] };
    },
    async fanout(k, op) {
      const [, timed] = await run(k, undefined, [WARM_UP, op]);
      return timed as StreamResult;
    },
  };
}

let python: string | undefined;

/** The runner of a transport, or why it cannot run here. */
function runnerFor(e: Entry): Runner | string {
  try {
    if ('name' in e) return unavailable(e.name) ?? nodeRunner(e.name, e.label);
    if (e.program.startsWith('c-')) return programRunner(e.program, e.label, [buildWithShmbus('transport-driver')]);
    return programRunner(e.program, e.label, [(python ??= venvPython()), PY_DRIVER]);
  } catch (err) {
    return `cannot run here: ${(err as Error).message.split('\n')[0]}`;
  }
}

export default async function transports(ctx: BenchContext): Promise<Table[]> {
  const q = ctx.quick ? 10 : 1;
  const fanout = ctx.quick ? QUICK_FANOUT : FANOUT;
  const rttRows: Row[] = [];
  const tputRows: Row[] = [];
  const fanRows: Row[] = [];
  const cdf: Series[] = [];
  const tput: Series[] = [];
  const fanCpu: Series[] = [];
  const fanRate: Series[] = [];
  let topicP50 = NaN;
  const streams: StreamOp[] = SIZES.map((size) => ({
    size,
    count: Math.max(8, Math.floor(Math.max(32, Math.min(50_000, Math.floor((256 << 20) / size))) / q)),
    window: windowFor(size),
  }));
  const fanOp: StreamOp = { size: 64, count: Math.floor(20_000 / q), window: windowFor(64) };
  for (const e of TRANSPORTS) {
    const { label } = e;
    const runner = runnerFor(e);
    if (typeof runner === 'string') {
      rttRows.push({ transport: label, p50: runner });
      continue;
    }
    // Round trip and throughput: the parent on one core, the peer on the other.
    try {
      const { rtt: rt, streams: st } = await runner.pinned(Math.floor(20_000 / q), streams, ctx.log);
      const s = stats(rt.samples);
      if ('name' in e && e.name === 'shmbus-topic') topicP50 = s.p50;
      rttRows.push({
        transport: label,
        p50: s.p50,
        p99: s.p99,
        'p99.9': s.p999,
        'x shmbus Topic p50': s.p50 / topicP50,
        'CPU µs per round trip': rt.cpuPer,
      });
      cdf.push({ name: label, points: cdfPoints(rt.samples) });
      const points: [number, number][] = [];
      const row: Row = { transport: label };
      st.forEach((r, i) => {
        const size = streams[i]!.size;
        const mbps = (r.perSecond * size) / 1e6;
        points.push([size, mbps]);
        row[sizeLabel(size)] = `${fmt(mbps)} MB/s, ${fmt(r.cpuPer)} µs CPU`;
      });
      tputRows.push(row);
      tput.push({ name: label, points });
    } catch (err) {
      rttRows.push({ transport: label, p50: `failed: ${(err as Error).message.split('\n')[0]}` });
    }
    // Fan-out: no pinning (8 subscribers on 2 cores: the scheduler decides, for every transport alike).
    const rate: [number, number][] = [];
    const cost: [number, number][] = [];
    const row: Row = { transport: label };
    for (const k of fanout) {
      ctx.log(`${label}: 64 B to ${k} subscriber(s)`);
      try {
        const st = await runner.fanout(k, fanOp);
        rate.push([k, st.perSecond]);
        cost.push([k, st.cpuPer]);
        row[`${k} sub`] = `${fmt(st.perSecond / 1000)}k msg/s, ${fmt(st.cpuPer)} µs CPU`;
      } catch (err) {
        row[`${k} sub`] = `failed: ${(err as Error).message.split('\n')[0]}`;
      }
    }
    fanRows.push(row);
    fanRate.push({ name: label, points: rate });
    fanCpu.push({ name: label, points: cost });
  }
  if (ctx.plotsDir !== undefined) {
    mkdirSync(ctx.plotsDir, { recursive: true });
    const write = (file: string, svg: string): void => writeFileSync(join(ctx.plotsDir!, file), svg);
    write('latency-cdf.svg', lineChart({ title: '64 B round trip: latency CDF (two processes, two cores)', xLabel: 'round trip (µs, log)', yLabel: 'fraction of round trips', xLog: true, yRange: [0, 1], series: cdf }));
    write('throughput-by-size.svg', lineChart({ title: 'One-way throughput against message size (flow-controlled, delivered)', xLabel: 'message size (bytes, log)', yLabel: 'MB/s (log)', xLog: true, yLog: true, series: tput }));
    write('fanout-rate.svg', lineChart({ title: '64 B messages delivered per subscriber, 1 to 8 subscribers', xLabel: 'subscribers', yLabel: 'messages/s per subscriber (log)', yLog: true, series: fanRate }));
    write('fanout-cpu.svg', lineChart({ title: 'CPU per 64 B message published, all processes, 1 to 8 subscribers', xLabel: 'subscribers', yLabel: 'CPU µs per message (log)', yLog: true, series: fanCpu }));
    ctx.log(`plots written to ${ctx.plotsDir}`);
  }
  const plotNote = 'Plots: docs/bench/latency-cdf.svg, throughput-by-size.svg, fanout-rate.svg, fanout-cpu.svg.';
  return [
    {
      title: 'Transports: 64 B round trip between two processes (µs; two cores, each side pinned)',
      note: `Every transport with the same harness (bench/transports.ts): the parent sends, one peer answers; CPU is user+system time of both processes and of the server (Redis, NATS) per round trip. worker_threads is one process (a thread). ${plotNote}`,
      columns: ['transport', 'p50', 'p99', 'p99.9', 'x shmbus Topic p50', 'CPU µs per round trip'],
      rows: rttRows,
    },
    {
      title: 'Transports: one-way throughput by message size (MB/s delivered, CPU µs per message, all processes)',
      note: 'Flow-controlled: the peer acks every window (1 MiB or 64 messages) and at most two windows are in flight, so lossy transports lose nothing and every figure is a delivered rate. 2.7 MB = one 1280x720x3 frame.',
      columns: ['transport', ...SIZES.map(sizeLabel)],
      rows: tputRows,
    },
    {
      title: 'Transports: one publisher, 1 to 8 subscriber processes (64 B messages; rate per subscriber, CPU per message published)',
      note: 'Unpinned (8 subscribers share 2 cores). Point-to-point transports (Queue, IPC, sockets, worker_threads) send one copy per subscriber; Topic, ZeroMQ PUB/SUB, Redis and NATS publish once.',
      columns: ['transport', ...fanout.map((k) => `${k} sub`)],
      rows: fanRows,
    },
  ];
}

function sizeLabel(size: number): string {
  if (size === 1280 * 720 * 3) return '2.7 MB frame';
  if (size >= 1 << 20) return `${size >> 20} MiB`;
  if (size >= 1024) return `${size >> 10} KiB`;
  return `${size} B`;
}
