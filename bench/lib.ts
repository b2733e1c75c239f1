/** Benchmark plumbing shared by every suite: statistics, tables, child processes, C baselines. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One row of a results table: a label plus named figures (numbers are formatted, strings kept). */
export interface Row {
  [column: string]: string | number;
}

export interface Table {
  title: string;
  /** One sentence: what was measured and how. */
  note?: string;
  columns: string[];
  rows: Row[];
}

export interface BenchContext {
  /** Progress for the human watching (stderr). */
  log(message: string): void;
  /** SHMBUS_BENCH_QUICK=1: fewer iterations, for a smoke run. */
  quick: boolean;
  /** Where suites write their plots (SVG): docs/bench for a full run, bench/results/plots otherwise. */
  plotsDir?: string;
}

export type Suite = (ctx: BenchContext) => Promise<Table[]>;

export interface Stats {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  min: number;
  max: number;
  /** Rows measured in interleaved turns (`interleave()`): each turn's own stats; the fields above pool them all. */
  turns?: Stats[];
}

/** The middle value of a few figures (the upper of the two middle ones for an even count; NaN for none). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
}

/** Percentiles of a sample (sorted copy; nearest-rank). */
export function stats(samples: ArrayLike<number>): Stats {
  const s = Float64Array.from(samples).sort();
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  let sum = 0;
  for (const v of s) sum += v;
  return { n: s.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), mean: sum / s.length, min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

/** Formats a number for a table: 3 significant digits, thousands kept whole. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

export function renderTable(t: Table): string {
  const head = `| ${t.columns.join(' | ')} |`;
  const sep = `|${t.columns.map(() => '---').join('|')}|`;
  const body = t.rows.map((r) => `| ${t.columns.map((c) => (typeof r[c] === 'number' ? fmt(r[c] as number) : String(r[c] ?? ''))).join(' | ')} |`);
  return [`### ${t.title}`, '', ...(t.note ? [t.note, ''] : []), head, sep, ...body, ''].join('\n');
}

/**
 * Figures that suites hand to the report's target table (issue 12), keyed "<row>.<stat>", e.g. "topic.poll.p50".
 * A suite records what it measured with {@link figure}; {@link targetsTable} compares what is there.
 */
const figures = new Map<string, number>();

/** Records one figure of this run for {@link targetsTable}. */
export function figure(key: string, value: number): void {
  figures.set(key, value);
}

/**
 * Records p50, p99 and p99.9 of a row under `key`; for a row of interleaved turns also the median over its turns of
 * each turn's own p99 / p50 and p99.9 / p50 (`<key>.turns.p99`, `<key>.turns.p999`), shown beside the pooled ratio.
 */
export function figureStats(key: string, s: Stats): void {
  figure(`${key}.p50`, s.p50);
  figure(`${key}.p99`, s.p99);
  figure(`${key}.p999`, s.p999);
  if (s.turns !== undefined && s.turns.length > 0) {
    figure(`${key}.turns.p99`, median(s.turns.map((t) => t.p99 / t.p50)));
    figure(`${key}.turns.p999`, median(s.turns.map((t) => t.p999 / t.p50)));
    figure(`${key}.turns.n`, s.turns.length);
  }
}

/**
 * Issue 12's targets against this run's figures (ratios of figures measured in the same run), or undefined when
 * the suites that measure them did not run. A target whose figures are missing is left out.
 */
export function targetsTable(): Table | undefined {
  const f = (k: string): number | undefined => figures.get(k);
  const rows: Row[] = [];
  const ratioOf = (num: string, den: string): number | undefined => {
    const a = f(num);
    const b = f(den);
    return a === undefined || b === undefined ? undefined : a / b;
  };
  /**
   * `floor`: the key of the C pure spin ping-pong measured in the same interleaved turns, for a tail target: its own
   * ratio (p99 or p99.9 over its p50) is what the machine allows in this run. A target the C spin misses too is the
   * machine's limit in this run, and the verdict says so.
   */
  const add = (target: string, num: string, den: string, limit: number, floor?: string): void => {
    const ratio = ratioOf(num, den);
    if (ratio === undefined) return;
    const tail = num.slice(num.lastIndexOf('.'));
    const c = floor === undefined ? undefined : ratioOf(`${floor}${tail}`, `${floor}.p50`);
    const met = ratio <= limit ? 'yes' : c !== undefined && c > limit ? 'NO (C spin too: the machine)' : 'NO';
    // A tail ratio of a row measured in turns: the median of the turns' own ratios (information; the verdict is the
    // pooled ratio's). Turns whose medians differ (the machine drifting between them) make the pooled ratio larger.
    const key = num.slice(0, num.lastIndexOf('.'));
    const perTurn = floor === undefined ? undefined : f(`${key}.turns${tail}`);
    const turns = f(`${key}.turns.n`);
    rows.push({
      target,
      measured: `${ratio.toFixed(2)}x`,
      limit: `${limit}x`,
      'each turn alone (median)': perTurn === undefined ? '' : `${perTurn.toFixed(2)}x of ${turns}`,
      'C spin, same turns': c === undefined ? '' : `${c.toFixed(2)}x`,
      met,
    });
  };
  add('Topic busy-poll p50 / C pure spin p50 (64 B, 2 cores)', 'topic.poll.p50', 'cspin.p50', 6);
  add('Topic busy-poll p99 / its p50', 'topic.poll.p99', 'topic.poll.p50', 2, 'cspin');
  add('Topic busy-poll p99.9 / its p50', 'topic.poll.p999', 'topic.poll.p50', 15, 'cspin');
  add('Topic await read() p50 / Topic busy-poll p50', 'topic.await.p50', 'topic.poll.p50', 1.2);
  add('Topic busy-poll p50 / iceoryx busy-poll p50 (below 1 = faster)', 'topic.poll.p50', 'iox.p50', 1);
  add('Queue round trip p50 / Topic busy-poll p50', 'queue.p50', 'topic.poll.p50', 2);
  add('Queue p99 / its p50', 'queue.p99', 'queue.p50', 2, 'cspin.queue');
  add('Queue p99.9 / its p50', 'queue.p999', 'queue.p50', 15, 'cspin.queue');
  add('Rpc round trip p50 / Topic busy-poll p50', 'rpc.p50', 'topic.poll.p50', 2);
  add('Rpc p99 / its p50', 'rpc.p99', 'rpc.p50', 2, 'cspin.queue');
  add('Rpc p99.9 / its p50', 'rpc.p999', 'rpc.p50', 15, 'cspin.queue');
  if (rows.length === 0) return undefined;
  return {
    title: 'Issue 12 targets in this run',
    note:
      'Ratios of figures measured in this run (64 B round trips, two cores, busy-poll or the default spin): Topic rows from 30-topic, Queue and Rpc (spin 50 µs) from 40-queue. ' +
      'Only meaningful on a quiet machine (see the header). "C spin, same turns": the same ratio of the pure C spin ping-pong measured ' +
      'in the same interleaved turns (30-topic for Topic, 40-queue for Queue and Rpc), i.e. what this machine allowed meanwhile; a C spin ' +
      'round trip is ~5x shorter, so it meets fewer preemptions per round trip: this floor understates what the machine does to a longer one. ' +
      '"measured" pools the samples of every turn (the verdict is on it); "each turn alone" is the median over the turns of each turn\'s own ratio: ' +
      'when it is well below "measured", the turns\' medians differed (fresh processes, the machine drifting between turns) rather than each ' +
      'round trip having a long tail.',
    columns: ['target', 'measured', 'limit', 'each turn alone (median)', 'C spin, same turns', 'met'],
    rows,
  };
}

/**
 * A run that starts with a 1-minute load average above this many per core is flagged "BUSY MACHINE" in the
 * report: other work then moves the medians of cross-core rows and dominates the tails.
 */
export const BUSY_LOAD_PER_CORE = 0.5;

/** One suite's tables with the 1-minute load average just before and just after it ran. */
export interface SuiteResult {
  suite: string;
  loadBefore: number;
  loadAfter: number;
  tables: Table[];
}

/** Everything the report header states about a run. */
export interface RunInfo {
  when: string;
  machine: string;
  cores: number;
  quick: boolean;
  loadBefore: number;
  loadAfter: number;
  busy: boolean;
  results: SuiteResult[];
  /** {@link targetsTable} of the run, shown first. */
  targets?: Table | undefined;
}

/** BENCHMARKS.md: a header (machine, load per suite, busy flag, method) and every suite's tables. */
export function renderReport(r: RunInfo): string {
  const loads = r.results.map((s) => `${s.suite} ${s.loadBefore.toFixed(2)} -> ${s.loadAfter.toFixed(2)}`).join('; ');
  return [
    '# shmbus benchmarks',
    '',
    ...(r.busy
      ? [
          `> **BUSY MACHINE: numbers not comparable.** The 1-minute load average was ${r.loadBefore.toFixed(2)} at the start, above ${BUSY_LOAD_PER_CORE} per core (${r.cores} cores): other work moved these figures. Rerun on a quiet machine.`,
          '',
        ]
      : []),
    ...(r.quick ? ['> **QUICK RUN** (about 10x fewer iterations): a smoke test, not a measurement.', ''] : []),
    `Generated by \`npm run bench\` on ${r.when} (${r.machine}).`,
    `1-minute load average: ${r.loadBefore.toFixed(2)} at the start, ${r.loadAfter.toFixed(2)} at the end; per suite (before -> after): ${loads}.`,
    '',
    'Method (docs/performance.md): every figure comes from one run with its baselines measured in the same run. ' +
      'Latencies are in microseconds (µs) unless a column says otherwise; p50/p99/p99.9 are nearest-rank percentiles over all samples of a row (after a warm-up; Topic round trips warm up for at least one lap of the ring, so first-touch page faults of fresh shared memory are excluded), ' +
      'never a mean. Rows that compete for the same minutes are measured in interleaved turns (fresh processes each turn, samples merged). ' +
      'Throughput figures ("ns / pair", GB/s) are the best of 5 timed batches for C and Node alike. Two-core rows pin one process per core (taskset / sched_setaffinity); ' +
      'their C spin floor is a pure pause loop, and the yielding C spin appears only in one-core rows.',
    'Compare rows within a table, not across machines or runs.',
    '',
    ...(r.targets ? ['## Targets', '', renderTable(r.targets)] : []),
    ...r.results.flatMap((s) => [`## ${s.suite}`, '', `Load average ${s.loadBefore.toFixed(2)} before, ${s.loadAfter.toFixed(2)} after this suite.`, '', ...s.tables.map(renderTable)]),
  ].join('\n');
}

/**
 * A Float64Array for `n` samples whose pages are written before the measurement: a fresh typed array is mapped
 * lazily, so its first write to each 4 KiB page takes a page fault (~1-3 µs in the measured round trip), i.e. one
 * round trip in 512 per array paid one (bench/tail.ts topic-poll: the slow round trips clustered at index 254 mod
 * 256, the start and duration arrays half a page apart).
 */
export function sampleArray(n: number): Float64Array {
  const a = new Float64Array(n).fill(-1);
  sampleArrays.push(new WeakRef(a));
  return a;
}

/** The arrays {@link sampleArray} made that are still alive (touched again before each measured loop). */
let sampleArrays: WeakRef<Float64Array>[] = [];

/**
 * Writes one element of every page of the live sample arrays, right before a measured loop. Pre-faulting at
 * creation was not enough: after the warm-up, the first write to each page still stalled ~2-5 µs in about a third
 * of the pages (bench/tail.ts topic-poll --dump: slow round trips at index 510 mod 512, the page boundary of an
 * array with a 16-byte malloc header, moved by 64 when the array started 64 elements later; gone after a touch
 * just before the loop). Likely the VM's second-level TLB walk or write tracking of pages not written recently.
 */
export function touchSampleArrays(): void {
  sampleArrays = sampleArrays.filter((r) => {
    const a = r.deref();
    if (a === undefined) return false;
    for (let k = 0; k < a.length; k += 512) a[k] = a[k]!;
    return true;
  });
}

/**
 * Least warm-up of every latency loop, in ms of round trips (issue 12). A fresh process tiers its hot functions up
 * (Sparkplug, then TurboFan) during its first ~100 ms of traffic, and TurboFan compiles on a V8 helper thread: pinned
 * to the measuring core with the main thread (taskset pins every thread), it preempts the main thread for 3-12 ms
 * (CFS sleeper credit), the peer's spin runs out meanwhile, and a few such hits owned the p99.9 of rows that
 * measured 4000 round trips after a 400-round-trip warm-up (bench/tail.ts queue, load 0.5: p99.9 52-240x p50 with
 * no warm-up, 5-15x with 100-1000 ms). The rows measure the steady state; docs/performance.md says how a user
 * gets there.
 */
export const WARM_MS = 200;

/**
 * Runs a latency loop `pass(from, to)` over indices from..to-1 (negative = warm-up): `warmup` round trips, then more
 * warm-up passes until {@link WARM_MS} have passed, then the measured 0..iterations-1. The same function runs warm-up
 * and measurement, and a pass must record index i at `Math.max(i, 0)` (no branch on i): code that first takes a
 * branch at the first measured round trip deoptimizes there and is recompiled in the measured window.
 */
export async function warmThenMeasure(warmup: number, iterations: number, pass: (from: number, to: number) => Promise<void>): Promise<void> {
  await pass(-warmup, 0);
  const chunk = -Math.max(50, Math.min(warmup, 2000));
  let until = performance.now() + WARM_MS;
  while (performance.now() < until) await pass(chunk, 0);
  // Empty the young generation, so no scavenge of what the warm-up allocated lands in the measured window (two
  // 64 B turns had one, 0.4 and 2.6 ms, without it). A minor GC only: a full one here (this was gc() until
  // 2026-12-01, against the long-lived parent's Mark-Compacts of the earlier async-callback loops, which the
  // written-out loops no longer provoke) left V8's helper threads busy on our pinned core for 0.3-1 s after it, and
  // every parked wake then waited for them: tail.ts rpc --spin 0, gc() and 50 ms of warm-up before measuring:
  // p99 41 -> 197 us, p99.9 232 -> 3622 us; 40-queue's Rpc spin 0 row p99 422-1931 -> 32-129 us without it.
  collectYoungGarbage();
  until = performance.now() + WARM_MS / 4;
  while (performance.now() < until) await pass(chunk, 0);
  touchSampleArrays();
  if (TRACE_TURNS) process.stderr.write(`[measure] start ${performance.now().toFixed(0)} ms\n`);
  await pass(0, iterations);
  if (TRACE_TURNS) process.stderr.write(`[measure] end ${performance.now().toFixed(0)} ms\n`);
}

/** SHMBUS_BENCH_TRACE_TURNS=1: warmThenMeasure prints when each measured loop starts and ends (beside --trace-gc). */
export const TRACE_TURNS = process.env['SHMBUS_BENCH_TRACE_TURNS'] === '1';

let gcFn: ((options: { type: 'minor' }) => void) | undefined;
/** A young-generation garbage collection (a scavenge) of this process: V8's gc(), exposed without --expose-gc. */
function collectYoungGarbage(): void {
  if (gcFn === undefined) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as (options: { type: 'minor' }) => void;
  }
  gcFn({ type: 'minor' });
}

/**
 * Warm-up round trips for a Topic ping-pong: a tenth of the run, and at least one full lap of the ring and 1000
 * more. The first lap writes pages no process has touched yet (a minor page fault per 4 KiB in each process: one
 * message in ~40 for 64 B records, enough to own the p99); steady state starts after it. A user who wants the first
 * lap fast too can write the ring once at start-up.
 */
export function ringWarmup(capacity: number, size: number, iterations: number): number {
  const record = (32 + size + 7) & ~7; // PROTOCOL §5.2: 32-byte header, payload rounded up to 8
  return Math.max(100, Math.floor(iterations / 10), Math.ceil(capacity / record) + 1000);
}

/** High-resolution now in nanoseconds as a number. */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/**
 * Compiles bench/c/<name>.c (once per source change) into .cache/bench/<name> and returns the binary's path.
 */
export function buildC(name: string): string {
  const src = join(ROOT, 'bench', 'c', `${name}.c`);
  const outDir = join(ROOT, '.cache', 'bench');
  mkdirSync(outDir, { recursive: true });
  const bin = join(outDir, name);
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    const r = spawnSync('cc', ['-O2', '-o', bin, src, '-lpthread', '-lrt'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cc ${src} failed:\n${r.stderr}`);
  }
  return bin;
}

/** Runs a command to completion and returns its stdout (throws with stderr on failure). */
export function runCapture(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/** A child process that speaks lines; `next(re)` resolves with the next matching stdout line. */
export interface LineChild {
  child: ChildProcess;
  next(pattern?: RegExp): Promise<string>;
  send(line: string): void;
  done: Promise<number>;
}

export function spawnLines(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): LineChild {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env });
  const queue: string[] = [];
  const waiting: { re: RegExp; resolve: (l: string) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const i = waiting.findIndex((w) => w.re.test(l));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(l);
    else queue.push(l);
  });
  // 'close', not 'exit': 'exit' can come before the child's last stdout lines are read, and a caller racing
  // next() against done would then see "exited before answering" although the answer was sent.
  const done = new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  return {
    child,
    done,
    send: (l) => child.stdin!.write(`${l}\n`),
    next(re = /.*/) {
      const i = queue.findIndex((l) => re.test(l));
      if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]!);
      return new Promise((resolve) => waiting.push({ re, resolve }));
    },
  };
}

/** True when `cmd` is a command on PATH (a server or compiler a suite needs). */
export function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** True when `taskset` exists, so suites can pin processes to cores. */
export function canPin(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

/** A segment name for one benchmark run: the bench- prefix keeps it apart from test names (and the leak check). */
export function benchName(what: string): string {
  return `bench-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;
}
