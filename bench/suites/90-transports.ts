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
import { forkPeer, KIND, openParent, startTransport, type ParentSide, type Started, type TransportName } from '../transports.js';
import { placementCpus, withPinnedSelf } from '../baselines.js';
import { cdfPoints, lineChart, type Series } from '../plot.js';
import { benchName, fmt, onPath, stats, type BenchContext, type Row, type Table } from '../lib.js';

const TRANSPORTS: { name: TransportName; label: string }[] = [
  { name: 'shmbus-topic', label: 'shmbus Topic' },
  { name: 'shmbus-queue', label: 'shmbus Queue' },
  { name: 'worker', label: 'worker_threads postMessage (same process)' },
  { name: 'ipc', label: 'child_process IPC' },
  { name: 'unix-socket', label: 'Unix socket' },
  { name: 'zeromq', label: 'ZeroMQ ipc://' },
  { name: 'redis', label: 'Redis pub/sub (Unix socket)' },
  { name: 'nats', label: 'NATS core pub/sub' },
];
/** Transports that keep what is sent before the peer listens (one probe is enough: a Queue, a MessagePort). */
const LOSSLESS = new Set<TransportName>(['shmbus-queue', 'worker']);
const SIZES = [64, 4096, 65536, 1 << 20, 1280 * 720 * 3, 8 << 20];
const FANOUT = [1, 2, 4, 8];
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
async function roundTrips(r: Rig, iterations: number): Promise<{ samples: Float64Array; cpuPer: number }> {
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
 * is a delivered rate. Returns messages per second (per peer) and CPU µs per message (all processes).
 */
async function stream(r: Rig, size: number, count: number): Promise<{ perSecond: number; cpuPer: number }> {
  const window = Math.max(1, Math.min(64, Math.floor((1 << 20) / size)));
  const n = Math.ceil(count / window) * window;
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

export default async function transports(ctx: BenchContext): Promise<Table[]> {
  const q = ctx.quick ? 10 : 1;
  const rttRows: Row[] = [];
  const tputRows: Row[] = [];
  const fanRows: Row[] = [];
  const cdf: Series[] = [];
  const tput: Series[] = [];
  const fanCpu: Series[] = [];
  const fanRate: Series[] = [];
  let topicP50 = NaN;
  const cpus = placementCpus('cores');
  for (const { name, label } of TRANSPORTS) {
    const why = unavailable(name);
    if (why !== null) {
      rttRows.push({ transport: label, p50: why });
      continue;
    }
    // Round trip and throughput: this process on one core, the peer on the other.
    await withPinnedSelf(cpus?.[0], async () => {
      let r: Rig | undefined;
      try {
        r = await rig(name, 1, true);
        ctx.log(`${label}: 64 B round trips`);
        const rt = await within(BENCH_TIMEOUT_MS, `${label} round trips`, roundTrips(r, Math.floor(20_000 / q)));
        const s = stats(rt.samples);
        if (name === 'shmbus-topic') topicP50 = s.p50;
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
        for (const size of SIZES) {
          ctx.log(`${label}: stream of ${size} B messages`);
          const count = Math.max(32, Math.min(50_000, Math.floor((256 << 20) / size))) / q;
          const st = await within(BENCH_TIMEOUT_MS, `${label} ${size} B stream`, stream(r, size, Math.max(8, Math.floor(count))));
          const mbps = (st.perSecond * size) / 1e6;
          points.push([size, mbps]);
          row[sizeLabel(size)] = `${fmt(mbps)} MB/s, ${fmt(st.cpuPer)} µs CPU`;
        }
        tputRows.push(row);
        tput.push({ name: label, points });
      } catch (e) {
        rttRows.push({ transport: label, p50: `failed: ${(e as Error).message.split('\n')[0]}` });
      } finally {
        await r?.close().catch(() => undefined);
      }
    });
    // Fan-out: no pinning (8 subscribers on 2 cores: the scheduler decides, for every transport alike).
    const rate: [number, number][] = [];
    const cost: [number, number][] = [];
    const row: Row = { transport: label };
    for (const k of FANOUT) {
      let r: Rig | undefined;
      try {
        r = await rig(name, k, false);
        ctx.log(`${label}: 64 B to ${k} subscriber(s)`);
        const st = await within(BENCH_TIMEOUT_MS, `${label} fan-out ${k}`, stream(r, 64, Math.floor(20_000 / q)));
        rate.push([k, st.perSecond]);
        cost.push([k, st.cpuPer]);
        row[`${k} sub`] = `${fmt(st.perSecond / 1000)}k msg/s, ${fmt(st.cpuPer)} µs CPU`;
      } catch (e) {
        row[`${k} sub`] = `failed: ${(e as Error).message.split('\n')[0]}`;
      } finally {
        await r?.close().catch(() => undefined);
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
      columns: ['transport', ...FANOUT.map((k) => `${k} sub`)],
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
