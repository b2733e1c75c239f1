/**
 * Tail attribution (issue 12): runs one 64 B round-trip path the way the bench does (this process on cpu 0, the
 * echoing child on cpu 1), records every round trip's start and length on CLOCK_MONOTONIC, and says for each slow
 * one what happened meanwhile, from a system-wide `perf record -k mono` of scheduler switches, local timer
 * interrupts and futex system calls (root or perf_event_paranoid <= 0 needed; without it, GCs only) and from the GC
 * logs of both processes (bench/gclog.ts).
 *
 * usage: node --import ./dist/bench/gclog.js dist/bench/tail.js <path> [round trips=30000] [--no-perf] [--spin µs] [--warm-ms ms] [--dump file]
 *   path: topic-poll | topic-await | queue | rpc
 * prints: percentiles of all round trips and of the "undisturbed" ones (no other task on either core, no GC, no
 * timer interrupt during the round trip), then the causes of the round trips slower than 2x and 15x the p50.
 * A diagnostic, not a suite: its figures are not in BENCHMARKS.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Rpc, Topic } from '../src/index.js';
import { awaitRead, createTopic, pollView } from './api.js';
import { PeerSet, placementCpus, withPinnedSelf } from './baselines.js';
import { flushGcLog } from './gclog.js';
import { benchName, ringWarmup, ROOT, sampleArray, stats, touchSampleArrays, type Stats } from './lib.js';

const path = process.argv[2] ?? 'topic-poll';
const iterations = Number(process.argv.find((a, i) => i > 2 && /^\d+$/.test(a)) ?? 30_000);
const usePerf = !process.argv.includes('--no-perf');
const marks = process.argv.includes('--marks');
/** --spin N: the spin budget (µs) of both sides (default 50, the bench rows'); 0 parks every message. */
const SPIN = process.argv.includes('--spin') ? Number(process.argv[process.argv.indexOf('--spin') + 1]) : 50;
const warmMs = process.argv.includes('--warm-ms') ? Number(process.argv[process.argv.indexOf('--warm-ms') + 1]) : 0;
const gcDir = process.env['SHMBUS_GC_LOG'];
const cpus = placementCpus('cores');

/** Round trip i started at start[i] ns (CLOCK_MONOTONIC) and took dur[i] ns. */
interface Samples {
  start: Float64Array;
  dur: Float64Array;
  /** Main-thread tids (= pids) of this process and the echo child. */
  pids: number[];
}

const now = (): number => Number(process.hrtime.bigint());

/** Round trip i: start (ns, CLOCK_MONOTONIC) and length (ns). Warm-up round trips have negative i and are not kept. */
const start = sampleArray(iterations);
const dur = sampleArray(iterations);
function record(i: number, t0: number): void {
  // No branch on i: a branch first taken by the first measured round trip deoptimized the loop there, and its
  // re-optimization (TurboFan on a helper thread, pinned to our core) preempted the main thread for ~3.5 ms.
  const k = Math.max(i, 0);
  start[k] = t0;
  dur[k] = now() - t0;
}

/** Pinned to cpu 0: the warm-up round trips, then perf starts, then the measured ones; notes both processes' threads. */
async function measure(peer: number, warmup: number, loop: (from: number, to: number) => Promise<void>): Promise<Samples> {
  await withPinnedSelf(cpus?.[0], async () => {
    await loop(-warmup, 0);
    // --warm-ms X: keep warming up (the same loop, unrecorded) until X ms have passed (JIT tier-up of both sides).
    const warmUntil = performance.now() + warmMs;
    while (performance.now() < warmUntil) await loop(-warmup, 0);
    await startPerf();
    // Markers for V8 traces (--trace-opt, --trace-deopt) given to this process: what happened in the measured loop.
    if (marks) console.log('tail: measuring');
    touchSampleArrays();
    await loop(0, iterations);
    if (marks) console.log('tail: measured');
    noteThreads([process.pid, peer]);
  });
  return { start, dur, pids: [process.pid, peer] };
}
/** Thread id -> "parent"/"child" for every thread of the two processes (read right after the measured loop). */
const threadOf = new Map<number, string>();
/** Thread id -> its name (comm), for --timeline. */
const commOf = new Map<number, string>();
function noteThreads(pids: number[]): void {
  pids.forEach((pid, k) => {
    try {
      for (const t of readdirSync(`/proc/${pid}/task`)) {
        threadOf.set(Number(t), k === 0 ? 'parent' : 'child');
        try {
          commOf.set(Number(t), readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim());
        } catch {
          // gone
        }
      }
    } catch {
      // gone
    }
  });
}

async function topicPath(mode: 'poll' | 'await'): Promise<Samples> {
  const peers = new PeerSet(join(ROOT, 'dist', 'bench', 'children', 'topic-peer.js'));
  const there = benchName('tail-ping');
  const back = benchName('tail-pong');
  const layout = { capacity: 1 << 20, maxMessageSize: 4096 };
  const ping = createTopic(there, layout);
  createTopic(back, layout).close();
  const sub = Topic.subscribe(back, { spin: SPIN });
  try {
    const echo = peers.spawn(['echo', there, back, mode, 'copy'], cpus?.[1]);
    await peers.line(echo, /^ready$/);
    const buf = new Uint8Array(64);
    const dv = new DataView(buf.buffer);
    const warmup = ringWarmup(layout.capacity, 64, iterations);
    const loop = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const t0 = now();
        dv.setFloat64(0, t0, true);
        ping.publish(buf);
        if (pollView(sub) === null) {
          if (mode === 'poll') while (pollView(sub) === null);
          else if ((await awaitRead(sub)) === null) throw new Error('the echo topic ended');
        }
        record(i, t0);
      }
    };
    const samples = await measure(echo.child.pid!, warmup, loop);
    ping.publish(new Uint8Array(1));
    await peers.line(echo, /^oneway /);
    await echo.done;
    return samples;
  } finally {
    peers.killAll();
    sub.close();
    ping.close();
    Topic.unlink(there);
    Topic.unlink(back);
  }
}

async function queuePath(): Promise<Samples> {
  const peers = new PeerSet(join(ROOT, 'dist', 'bench', 'children', 'queue-peer.js'));
  const there = benchName('tail-qa');
  const back = benchName('tail-qb');
  const qa = Queue.create(there, { slots: 64, maxMessageSize: 64, spin: SPIN });
  const qb = Queue.create(back, { slots: 64, maxMessageSize: 64, spin: SPIN });
  try {
    const echo = peers.spawn(['echo', there, back, String(SPIN)], cpus?.[1]);
    await peers.line(echo, /^ready$/);
    const buf = new Uint8Array(64).fill(0x5a);
    const got = { into: new Uint8Array(64) }; // as bench/suites/40-queue.ts
    const loop = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const t0 = now();
        if (!qa.trySend(buf)) await qa.send(buf);
        if (qb.tryReceive(got) === null) await qb.receive(got);
        record(i, t0);
      }
    };
    const samples = await measure(echo.child.pid!, Math.max(1000, iterations / 10), loop);
    qa.end();
    await echo.done;
    return samples;
  } finally {
    peers.killAll();
    qa.close();
    qb.close();
    Queue.unlink(there);
    Queue.unlink(back);
  }
}

async function rpcPath(): Promise<Samples> {
  const peers = new PeerSet(join(ROOT, 'dist', 'bench', 'children', 'queue-peer.js'));
  const name = benchName('tail-rpc');
  const server = peers.spawn(['serve', name, '4096', String(SPIN)], cpus?.[1]);
  try {
    await peers.line(server, /^serving$/);
    const client = Rpc.connect(name, { slots: 2, spin: SPIN });
    const payload = new Uint8Array(64).fill(0x5a);
    const loop = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const t0 = now();
        await client.request(payload);
        record(i, t0);
      }
    };
    const samples = await measure(server.child.pid!, Math.max(1000, iterations / 10), loop);
    client.close();
    server.send('stop');
    await server.done;
    return samples;
  } finally {
    peers.killAll();
    Rpc.unlink(name);
  }
}

// ---- perf

interface Event {
  t: number;
  cpu: number;
  tid: number;
  pid: number;
  kind: 'switch' | 'tick' | 'futex';
  /** switch: the task switched in (tid), its comm, and the state the previous one left in (R = preempted). */
  next: number;
  nextComm: string;
  prevState: string;
  /** futex: the op (low 7 bits: 0 wait, 1 wake, 9 wait_bitset...). */
  op: number;
}

let perfChild: ReturnType<typeof spawn> | undefined;
const perfData = join(mkdtempSync(join(tmpdir(), 'shmbus-tail-')), 'perf.data');

async function startPerf(): Promise<void> {
  if (!usePerf) return;
  const probe = spawnSync('perf', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    process.stderr.write('tail: no perf; GC attribution only\n');
    return;
  }
  perfChild = spawn(
    'perf',
    ['record', '-q', '-k', 'mono', '-a', '-e', 'sched:sched_switch', '-e', 'irq_vectors:local_timer_entry', '-e', 'syscalls:sys_enter_futex', '-o', perfData],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  // perf prints nothing when its buffers are armed; give it a moment (a diagnostic, not a test).
  await new Promise((r) => setTimeout(r, 700));
}

async function stopPerf(): Promise<Event[]> {
  if (perfChild === undefined) return [];
  const done = new Promise((r) => perfChild!.on('exit', r));
  perfChild.kill('SIGINT');
  await done;
  const out = spawnSync('perf', ['script', '-i', perfData, '--ns', '-F', 'cpu,tid,pid,time,event,trace'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const events: Event[] = [];
  const re = /^\s*(\d+)\/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$/;
  for (const l of out.stdout.split('\n')) {
    const m = re.exec(l);
    if (!m) continue;
    const [, pid, tid, cpu, time, ev, rest] = m;
    const [s, ns] = time!.split('.');
    const e: Event = { t: Number(s) * 1e9 + Number(ns!.padEnd(9, '0')), cpu: Number(cpu), tid: Number(tid), pid: Number(pid), kind: 'tick', next: 0, nextComm: '', prevState: '', op: 0 };
    if (ev === 'sched:sched_switch') {
      e.kind = 'switch';
      e.next = Number(/next_pid=(\d+)/.exec(rest!)?.[1]);
      e.nextComm = /next_comm=(.*?) next_pid/.exec(rest!)?.[1] ?? '?';
      e.prevState = /prev_state=(\S+)/.exec(rest!)?.[1] ?? '?';
    } else if (ev === 'syscalls:sys_enter_futex') {
      e.kind = 'futex';
      e.op = Number.parseInt(/op: (0x[0-9a-f]+)/.exec(rest!)?.[1] ?? '0', 16) & 0x7f;
    }
    events.push(e);
  }
  rmSync(join(perfData, '..'), { recursive: true, force: true });
  return events.sort((a, b) => a.t - b.t);
}

// ---- attribution

interface Gc {
  t: number;
  dur: number;
  pid: number;
  kind: string;
}

function readGcs(): Gc[] {
  if (!gcDir) return [];
  const out: Gc[] = [];
  for (const f of readdirSync(gcDir)) {
    if (!f.endsWith('.gc')) continue;
    const pid = Number(f.split('.')[0]);
    for (const l of readFileSync(join(gcDir, f), 'utf8').split('\n')) {
      const [t, d, k] = l.split(' ');
      if (t) out.push({ t: Number(t), dur: Number(d), pid, kind: k ?? '?' });
    }
  }
  return out;
}

/** First index of a sorted-by-t array with t >= x. */
function lowerBound<T extends { t: number }>(xs: T[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]!.t < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function causes(t0: number, t1: number, pids: number[], events: Event[], gcs: Gc[]): string[] {
  const out = new Set<string>();
  const who = (pid: number): string => (pid === pids[0] ? 'parent' : 'child');
  for (const g of gcs) if (g.t < t1 && g.t + g.dur > t0 && pids.includes(g.pid)) out.add(`gc ${g.kind} in ${who(g.pid)}`);
  // Also the switch that was in effect when the round trip started (a task already running on our core).
  for (let i = Math.max(0, lowerBound(events, t0) - 1); i < events.length && events[i]!.t < t1; i++) {
    const e = events[i]!;
    const ours = e.cpu === (cpus?.[0] ?? 0) || e.cpu === (cpus?.[1] ?? 1);
    if (!ours) continue;
    if (e.kind === 'tick' && e.t >= t0) out.add(`timer interrupt on cpu ${e.cpu}`);
    if (e.kind === 'futex' && e.t >= t0 && pids.includes(e.pid)) out.add(`futex ${e.op === 1 || e.op === 10 ? 'wake' : e.op === 0 || e.op === 9 ? 'wait' : `op ${e.op}`} by ${who(e.pid)}${e.tid === e.pid ? '' : ' (thread)'}`);
    if (e.kind === 'switch' && e.next !== 0 && !pids.includes(e.next)) {
      const own = threadOf.get(e.next);
      out.add(own !== undefined ? `cpu ${e.cpu}: a helper thread of the ${own} ran` : `cpu ${e.cpu}: another process (${e.nextComm.replace(/[/:].*/, '')}) ran`);
    }
    if (e.kind === 'switch' && pids.includes(e.tid) && e.t >= t0) out.add(`${who(e.tid)} switched out (${e.prevState})`);
  }
  return [...out];
}

function pct(s: Stats): string {
  return `p50 ${(s.p50 / 1000).toFixed(2)} µs, p99 ${(s.p99 / 1000).toFixed(2)} (${(s.p99 / s.p50).toFixed(1)}x), p99.9 ${(s.p999 / 1000).toFixed(1)} (${(s.p999 / s.p50).toFixed(1)}x), n ${s.n}`;
}

const samples =
  path === 'topic-poll' ? await topicPath('poll') : path === 'topic-await' ? await topicPath('await') : path === 'queue' ? await queuePath() : path === 'rpc' ? await rpcPath() : undefined;
if (samples === undefined) throw new Error(`unknown path ${path}`);
const events = await stopPerf();
// Children wrote their GC logs at exit; ours is written at our exit, so take our own entries now.
flushGcLog();
const gcs = readGcs();
const all = stats(samples.dur);
const undisturbed: number[] = [];
const dumpAt = process.argv.indexOf('--dump');
const dump: string[] = [];
const slow = new Map<string, number>();
const verySlow = new Map<string, number>();
const ownSlow = new Map<string, number>();
let nSlow = 0;
let nVery = 0;
let nOwn = 0;
for (let i = 0; i < samples.dur.length; i++) {
  const t0 = samples.start[i]!;
  const d = samples.dur[i]!;
  const c = events.length || gcs.length ? causes(t0, t0 + d, samples.pids, events, gcs) : [];
  const foreign = c.filter((x) => !x.startsWith('futex'));
  if (foreign.length === 0) undisturbed.push(d);
  if (dumpAt > 0) dump.push(`${i} ${d} ${foreign.length === 0 ? 0 : 1} ${t0}`);
  const tally = (m: Map<string, number>): void => {
    if (c.length === 0) m.set('(nothing recorded)', (m.get('(nothing recorded)') ?? 0) + 1);
    for (const x of c) m.set(x, (m.get(x) ?? 0) + 1);
  };
  if (d > 2 * all.p50) {
    nSlow++;
    tally(slow);
  }
  if (d > 15 * all.p50) {
    nVery++;
    tally(verySlow);
    // The slow round trips no other process can explain: shmbus's own (GC, its threads, park and wake).
    if (!c.some((x) => x.includes('another process'))) {
      nOwn++;
      tally(ownSlow);
    }
  }
}
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const gcIn = (pid: number): string => {
  const run = gcs.filter((g) => g.pid === pid && g.t >= samples.start[0]! && g.t <= samples.start[samples.start.length - 1]!);
  if (run.length === 0) return '0';
  const mean = run.reduce((x, g) => x + g.dur, 0) / run.length / 1000;
  return `${run.length} (mean pause ${mean.toFixed(0)} µs, max ${(Math.max(...run.map((g) => g.dur)) / 1000).toFixed(0)})`;
};
console.log(`${path}: ${iterations} round trips, load ${load}, perf events ${events.length}, GCs during the run: parent ${gcIn(samples.pids[0]!)}, child ${gcIn(samples.pids[1]!)}`);
const first = samples.start[0]!;
const last = samples.start[samples.start.length - 1]! + samples.dur[samples.dur.length - 1]!;
const futexes = new Map<string, number>();
const switches = new Map<string, number>();
for (const e of events) {
  if (e.t < first || e.t > last || !samples.pids.includes(e.pid)) continue;
  const who = `${e.pid === samples.pids[0] ? 'parent' : 'child'}${e.tid === e.pid ? '' : ' thread'}`;
  if (e.kind === 'futex') {
    const op = e.op === 1 || e.op === 10 ? 'wake' : e.op === 0 || e.op === 9 ? 'wait' : `op ${e.op}`;
    futexes.set(`${op} by ${who}`, (futexes.get(`${op} by ${who}`) ?? 0) + 1);
  } else if (e.kind === 'switch') switches.set(`${who} (${e.prevState})`, (switches.get(`${who} (${e.prevState})`) ?? 0) + 1);
}
const list = (m: Map<string, number>): string => [...m].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
console.log(`  futex calls during the run: ${list(futexes)}`);
console.log(`  switches out during the run: ${list(switches)}`);
console.log(`  all:         ${pct(all)}`);
console.log(`  undisturbed: ${pct(stats(undisturbed))}`);
const show = (title: string, n: number, m: Map<string, number>): void => {
  console.log(`  ${title}: ${n} round trips; what happened during them (a round trip can have several):`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 14)) console.log(`    ${String(v).padStart(6)}  ${k}`);
};
show(`> 2x p50 (${((2 * all.p50) / 1000).toFixed(1)} µs)`, nSlow, slow);
show(`> 15x p50 (${((15 * all.p50) / 1000).toFixed(1)} µs)`, nVery, verySlow);
show(`> 15x p50 with no other process on either core`, nOwn, ownSlow);
if (dumpAt > 0) writeFileSync(process.argv[dumpAt + 1]!, dump.join('\n') + '\n');
// --timeline K: every recorded event on our two cores from 100 µs before to the end of the K slowest round trips.
const timelineAt = process.argv.indexOf('--timeline');
if (timelineAt > 0) {
  const k = Number(process.argv[timelineAt + 1] ?? 3);
  const order = [...samples.dur.keys()].sort((a, b) => samples.dur[b]! - samples.dur[a]!).slice(0, k);
  const name = (tid: number): string => {
    const own = threadOf.get(tid);
    return own === undefined ? `tid ${tid}` : `${own}${samples.pids.includes(tid) ? '' : ` thread ${commOf.get(tid) ?? tid}`}`;
  };
  for (const i of order) {
    const t0 = samples.start[i]!;
    const t1 = t0 + samples.dur[i]!;
    // Who was on each of our cores when the round trip started: the last switch onto it before t0.
    const onCpu = [cpus?.[0] ?? 0, cpus?.[1] ?? 1].map((c) => {
      for (let j = lowerBound(events, t0) - 1; j >= 0; j--) {
        const e = events[j]!;
        if (e.kind === 'switch' && e.cpu === c) return `cpu ${c}: ${e.next === 0 ? 'idle' : threadOf.has(e.next) ? name(e.next) : e.nextComm} since ${((e.t - t0) / 1000).toFixed(1)} µs`;
      }
      return `cpu ${c}: ?`;
    });
    console.log(`  round trip ${i}: ${(samples.dur[i]! / 1000).toFixed(1)} µs (previous ${((samples.dur[i - 1] ?? 0) / 1000).toFixed(1)} µs); at its start ${onCpu.join(', ')}`);
    for (const g of gcs) {
      if (g.t < t1 && g.t + g.dur > t0 - 100_000 && samples.pids.includes(g.pid)) {
        console.log(`    ${((g.t - t0) / 1000).toFixed(1).padStart(8)} µs  gc ${g.kind} in ${g.pid === samples.pids[0] ? 'parent' : 'child'}, ${(g.dur / 1000).toFixed(1)} µs`);
      }
    }
    for (let j = lowerBound(events, t0 - 100_000); j < events.length && events[j]!.t < t1; j++) {
      const e = events[j]!;
      if (e.cpu !== (cpus?.[0] ?? 0) && e.cpu !== (cpus?.[1] ?? 1) && !threadOf.has(e.tid)) continue;
      const what =
        e.kind === 'tick'
          ? 'timer interrupt'
          : e.kind === 'futex'
            ? `futex ${e.op === 1 || e.op === 10 ? 'wake' : e.op === 0 || e.op === 9 ? 'wait' : `op ${e.op}`} by ${name(e.tid)}`
            : `${name(e.tid)} out (${e.prevState}) -> ${e.next === 0 ? 'idle' : threadOf.has(e.next) ? name(e.next) : e.nextComm}`;
      console.log(`    ${((e.t - t0) / 1000).toFixed(1).padStart(8)} µs  cpu ${e.cpu}  ${what}`);
    }
  }
}
process.exit(0);
