/**
 * Baselines every shmbus benchmark is compared against, measured in the calling run (never read from a file):
 * C ping-pong over shared memory (spin and futex), single-thread C memcpy, and the transports a Node user would
 * pick instead of shmbus (child_process IPC, a Unix domain socket, HTTP over loopback).
 *
 * Every function is bounded: each child gets a watchdog (default 60 s) and exits when the parent goes away, so a
 * broken run fails instead of hanging. Latencies are round-trip times in microseconds (µs).
 *
 * @example
 * ```ts
 * import { cPingPong, childProcessIpc, SIZES } from '../baselines.js';
 * const spin = await cPingPong({ mode: 'spin', size: SIZES.small, iterations: 20_000, placement: 'cores' });
 * const ipc = await childProcessIpc({ serialization: 'advanced', size: SIZES.small, iterations: 2_000 });
 * console.log(spin.p50, ipc.p50); // µs
 * ```
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { request, Agent } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildC, ROOT, spawnLines, sampleArray, stats, TRACE_TURNS, WARM_MS, warmThenMeasure, type LineChild, type Stats } from './lib.js';
import { readFrames } from './framing.js';

/** Payload sizes shared by every suite: a small message, one 1280x720 RGB frame, and 6 MiB. */
export const SIZES = { small: 64, frame: 1280 * 720 * 3, large: 6 * 1024 * 1024 } as const;

/**
 * Where the two processes of a round trip run. 'cores': one per core (cpu 0 and cpu 1); 'same-core': both on
 * cpu 0 (every hand-over is a context switch); 'any': no pinning, the scheduler decides.
 */
export type Placement = 'cores' | 'same-core' | 'any';

/** Default watchdog of one baseline measurement (ms): the run fails rather than hangs. */
export const BASELINE_TIMEOUT_MS = 60_000;

const CHILDREN = join(ROOT, 'dist', 'bench', 'children');

/**
 * The two CPUs a placement puts the measuring side (`[0]`) and the echoing side (`[1]`) on, or `undefined` for
 * 'any' (or when the machine has a single CPU, where 'cores' degrades to no pinning).
 * @example
 * ```ts
 * const cpus = placementCpus('cores'); // [0, 1] on a 2-core machine
 * ```
 */
export function placementCpus(placement: Placement): [number, number] | undefined {
  if (placement === 'any') return undefined;
  if (placement === 'same-core') return [0, 0];
  return CPUS_AT_START >= 2 ? [0, 1] : undefined;
}

// Read once at load: availableParallelism() follows this process's affinity, so asked from inside withPinnedSelf it
// says 1, and a suite that placed its peer from there left it on the measuring core (both sides on one CPU).
const CPUS_AT_START = availableParallelism();

/**
 * `[command, args]` that run `node <script> ...args` pinned to `cpu` (all its threads, through taskset), or
 * unpinned when `cpu` is undefined. Suites use it to start their own Node children with a placement.
 * @example
 * ```ts
 * const [cmd, args] = nodeCommand(join(ROOT, 'dist/bench/children/wake-peer.js'), ['pong', name], 1);
 * spawnLines(cmd, args);
 * ```
 */
export function nodeCommand(script: string, args: string[], cpu?: number): [string, string[]] {
  const node = [...process.execArgv, script, ...args];
  return cpu === undefined ? [process.execPath, node] : ['taskset', ['-c', String(cpu), process.execPath, ...node]];
}

/**
 * Resolves with `p`, or rejects when `child` exits first or `ms` pass (the child is then killed), so a broken
 * child fails the suite instead of hanging it.
 */
export async function fromChild<T>(child: LineChild, p: Promise<T>, what: string, ms = Infinity): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      child.done.then((code) => Promise.reject(new Error(`${what}: exited with ${code} before answering`))),
      ...(ms === Infinity
        ? []
        : [
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => {
                child.child.kill('SIGKILL');
                reject(new Error(`${what}: no answer within ${ms} ms`));
              }, ms);
            }),
          ]),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The children one suite runs from one script: spawned (pinned or not), read line by line, killed together. */
export class PeerSet {
  readonly #script: string;
  readonly #label: string;
  readonly #timeoutMs: number;
  readonly #running = new Set<LineChild>();

  /** `timeoutMs`: how long {@link line} waits for one line before it kills the child and fails (default: no bound). */
  constructor(script: string, timeoutMs = Infinity) {
    this.#script = script;
    this.#label = basename(script, '.js');
    this.#timeoutMs = timeoutMs;
  }

  /** Starts `node <script> ...args`, pinned to `cpu` when given. */
  spawn(args: string[], cpu?: number): LineChild {
    const child = spawnLines(...nodeCommand(this.#script, args, cpu));
    this.#running.add(child);
    void child.done.then(() => this.#running.delete(child));
    return child;
  }

  /** The next line of `child` matching `re`; rejects if the child exits first (or stays silent too long). */
  line(child: LineChild, re: RegExp): Promise<string> {
    return fromChild(child, child.next(re), `${this.#label} (waiting for ${String(re)})`, this.#timeoutMs);
  }

  /** Kills every child still running (a suite's finally or watchdog). */
  killAll(): void {
    for (const c of this.#running) c.child.kill('SIGKILL');
  }
}

/**
 * Runs `fn` with this process (every thread) pinned to `cpu`, restoring its previous affinity afterwards.
 * A no-op pin when `cpu` is undefined or taskset is missing.
 */
export async function withPinnedSelf<T>(cpu: number | undefined, fn: () => Promise<T>): Promise<T> {
  if (cpu === undefined) return fn();
  const before = spawnSync('taskset', ['-p', '-c', String(process.pid)], { encoding: 'utf8' });
  const list = /:\s*(\S+)\s*$/.exec(before.stdout ?? '')?.[1];
  if (before.status !== 0 || list === undefined) return fn();
  spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
  try {
    return await fn();
  } finally {
    spawnSync('taskset', ['-a', '-p', '-c', list, String(process.pid)], { stdio: 'ignore' });
  }
}

/**
 * Throughput of a round trip that carries `size` bytes each way, at its p50: GB/s (1e9 bytes/s) counting both
 * directions, i.e. `2 * size / p50`. Turns a transport's round-trip {@link Stats} into a bandwidth to set beside
 * {@link cMemcpy}.
 * @example
 * ```ts
 * const ipc = await childProcessIpc({ serialization: 'advanced', size: SIZES.large, iterations: 50 });
 * roundTripGBps(SIZES.large, ipc); // e.g. 1.7
 * ```
 */
export function roundTripGBps(size: number, s: Stats): number {
  return (2 * size) / (s.p50 * 1e3);
}

/** Kills `child` and rejects if `work` has not settled within `ms`, or if the child exits first. */
async function bounded<T>(what: string, child: ChildProcess, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what}: no result within ${ms} ms (child killed)`));
    }, ms);
    onExit = (code, signal) => reject(new Error(`${what}: child exited early (${code ?? signal})`));
    child.once('exit', onExit);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
    if (onExit) child.off('exit', onExit);
  }
}

/** Runs a program to completion with a watchdog; returns its stdout (throws with its stderr on failure). */
export async function runProgram(bin: string, args: string[], timeout: number): Promise<string> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  let timer: NodeJS.Timeout | undefined;
  const code = await new Promise<number | 'timeout'>((resolve) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('timeout');
    }, timeout);
    child.on('close', (c, signal) => resolve(c ?? (signal === null ? -1 : -2)));
    child.on('error', () => resolve(-1));
  });
  clearTimeout(timer);
  if (code !== 0) {
    const why = code === 'timeout' ? `no result within ${timeout} ms` : `exit ${code}`;
    throw new Error(`${bin} ${args.join(' ')} failed (${why}): ${Buffer.concat(err).toString('utf8')}`);
  }
  return Buffer.concat(out).toString('utf8');
}

// ---------------------------------------------------------------------------------------------------------------
// C baselines

/** Options of {@link cPingPong}. */
export interface CPingPongOptions {
  /**
   * 'spin': pure busy-wait (a `pause` loop that never gives its core away): the floor of a two-core round trip.
   * 'spin-yield': the same plus `sched_yield()` every 64 pauses, the only spin that hands over on one core (and
   * the only one allowed with placement 'same-core'); under load it gives its core away, so it is no floor for
   * two cores. 'futex': FUTEX_WAIT/FUTEX_WAKE, no spinning.
   */
  mode: 'spin' | 'spin-yield' | 'futex';
  /**
   * Payload bytes copied each way (into shared memory by the sender, out of it by the receiver). 0 = only the
   * 32-bit counter word moves (pure hand-over latency; a payload adds cache-line transfers and copies).
   */
  size: number;
  /** Measured round trips (a warm-up of 10%, at least 100, comes first). */
  iterations: number;
  placement: Placement;
  /** Watchdog in ms (default {@link BASELINE_TIMEOUT_MS}). */
  timeout?: number;
}

/**
 * Round trip between two C processes (fork) over one MAP_SHARED|MAP_ANONYMOUS mapping: the floor any
 * shared-memory channel can reach. Each round trip copies `size` bytes in and out on both sides (4 copies),
 * as a channel that copies does. Source: bench/c/pingpong.c.
 * @returns round-trip time in µs (p50/p99/p99.9 over `iterations`)
 * @throws Error when the C compiler fails, the child dies, or the watchdog fires
 * @example
 * ```ts
 * const futex = await cPingPong({ mode: 'futex', size: 64, iterations: 5_000, placement: 'cores' });
 * ```
 */
export async function cPingPong(options: CPingPongOptions): Promise<Stats> {
  return stats(await cPingPongSamples(options));
}

/**
 * The raw round-trip times (µs) behind {@link cPingPong}, in measurement order: for merging runs with
 * {@link interleave}.
 * @throws Error when the C compiler fails, the child dies, or the watchdog fires
 */
export async function cPingPongSamples(options: CPingPongOptions): Promise<Float64Array> {
  const { mode, size, iterations, placement } = options;
  // Two pure spinners on one core only hand over at the scheduler tick: that row would measure the tick.
  if (mode === 'spin' && placement === 'same-core') throw new Error("cPingPong: mode 'spin' on one core; use 'spin-yield'");
  const bin = buildC('pingpong');
  const cpus = placementCpus(placement);
  const warmup = Math.max(100, Math.floor(iterations / 10));
  const args = [mode, String(size), String(iterations), String(warmup), String(cpus?.[0] ?? -1), String(cpus?.[1] ?? -1)];
  return parseNsSamples(await runProgram(bin, args, options.timeout ?? BASELINE_TIMEOUT_MS), iterations, `pingpong ${args.join(' ')}`);
}

/** Parses the output of a ping-pong program (one ns sample per line, then "done") into µs. */
export function parseNsSamples(text: string, iterations: number, what: string): Float64Array {
  if (!text.endsWith('done\n')) throw new Error(`${what}: truncated output`);
  const lines = text.split('\n');
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) samples[i] = Number(lines[i]) / 1000;
  return samples;
}

/**
 * Measures several paths in turns: round 1 runs every measurer once (in the order given), round 2 again, and
 * so on; each path's samples from all rounds are merged into one {@link Stats}. On a shared machine the load
 * drifts over seconds: interleaving spreads that drift evenly over the rows of a table, where running each
 * path to completion in turn would hand it to whichever row ran during the busy spell.
 * @param rounds how many turns (each measurer should then take `iterations / rounds` samples per call)
 * @param measurers name -> function returning the samples (µs) of one turn
 * @returns name -> Stats over all turns
 * @example
 * ```ts
 * const r = await interleave(5, {
 *   spin: () => cPingPongSamples({ mode: 'spin', size: 0, iterations: 4_000, placement: 'cores' }),
 *   futex: () => cPingPongSamples({ mode: 'futex', size: 0, iterations: 1_000, placement: 'cores' }),
 * });
 * r.futex.p50;
 * ```
 */
export async function interleave<K extends string>(
  rounds: number,
  measurers: Record<K, (round: number) => Promise<ArrayLike<number>>>,
): Promise<Record<K, Stats>> {
  const names = Object.keys(measurers) as K[];
  const collected = new Map<K, number[]>(names.map((n) => [n, []]));
  const turns = new Map<K, Stats[]>(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    for (const name of names) {
      const got = await measurers[name](round);
      const s = stats(got);
      turns.get(name)!.push(s);
      if (TRACE_TURNS) {
        process.stderr.write(`[turn] ${name} round ${round}: p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} (${(s.p99 / s.p50).toFixed(2)}x) p99.9 ${s.p999.toFixed(1)} n ${s.n}\n`);
      }
      const into = collected.get(name)!;
      for (let i = 0; i < got.length; i++) into.push(got[i]!);
    }
  }
  return Object.fromEntries(names.map((n) => [n, { ...stats(collected.get(n)!), turns: turns.get(n)! }])) as Record<K, Stats>;
}

/** One row of {@link cMemcpy}: bandwidth in GB/s (1e9 bytes/s, bytes counted once per copy). */
export interface MemcpyResult {
  size: number;
  /** Same source and destination every time: cache-resident when 2 x size fits the caches. */
  hot: number;
  /** Source and destination walk through regions far larger than the last-level cache. */
  dram: number;
}

/** Options of {@link cMemcpy}. */
export interface MemcpyOptions {
  /** MiB of each DRAM region (default 256; the two regions together should exceed the last-level cache). */
  dramMiB?: number;
  /** Total measuring time in ms across all sizes (default 1500). */
  budgetMs?: number;
  timeout?: number;
}

/**
 * Single-thread memcpy bandwidth (glibc memcpy, C, -O2) for each size, hot and from DRAM: the ceiling for any
 * bulk copy into or out of shared memory. Each figure is the best of 5 timed batches
 * (a ceiling; robust to a batch slowed by other work). Source: bench/c/memcpy.c.
 * @param sizes bytes per copy (default: 64 B, one 1280x720x3 frame, 6 MiB)
 * @returns one {@link MemcpyResult} per size, in the order given
 * @throws Error when the C compiler fails or the program does
 * @example
 * ```ts
 * const [small, frame] = await cMemcpy([64, SIZES.frame]);
 * console.log(frame.hot, frame.dram); // GB/s
 * ```
 */
export async function cMemcpy(sizes: readonly number[] = Object.values(SIZES), options: MemcpyOptions = {}): Promise<MemcpyResult[]> {
  const bin = buildC('memcpy');
  const args = [String(options.dramMiB ?? 256), String(options.budgetMs ?? 1500), ...sizes.map(String)];
  const text = await runProgram(bin, args, options.timeout ?? BASELINE_TIMEOUT_MS);
  const rows = text.trim().split('\n');
  return rows.map((l) => {
    const [size, hot, dram] = l.split(' ').map(Number);
    return { size: size!, hot: hot!, dram: dram! };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Node transports: the parent (this process) measures, a forked Node child echoes.

/** Options shared by the Node transport baselines. */
export interface TransportOptions {
  /** Payload bytes per message (the echo carries the same bytes back). */
  size: number;
  /** Measured round trips (a warm-up of 10%, at least 50 unless that takes over 500 ms, comes first). */
  iterations: number;
  /** Default 'any'. 'cores'/'same-core' pin this process (cpu 0, for the measurement) and the child (taskset). */
  placement?: Placement;
  /** Watchdog in ms (default {@link BASELINE_TIMEOUT_MS}). */
  timeout?: number;
}

/** Options of {@link childProcessIpc}. */
export interface IpcOptions extends TransportOptions {
  /** child_process serialization. 'json' sends a string of `size` characters; 'advanced' sends a Uint8Array. */
  serialization: 'json' | 'advanced';
}

/** Forks a child program from bench/children, pinned per placement, and waits for its first IPC message. */
async function startChild(
  file: string,
  args: string[],
  serialization: 'json' | 'advanced',
  cpu: number | undefined,
  timeout: number,
): Promise<{ child: ChildProcess; hello: unknown }> {
  const script = join(CHILDREN, file);
  const child =
    cpu === undefined
      ? fork(script, args, { serialization, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
      : spawn('taskset', ['-c', String(cpu), process.execPath, script, ...args], {
          serialization,
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        });
  const hello = await bounded(
    file,
    child,
    timeout,
    new Promise<unknown>((resolve) => child.once('message', resolve)),
  );
  return { child, hello };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.disconnect?.();
  const t = setTimeout(() => child.kill('SIGKILL'), 2000);
  await gone;
  clearTimeout(t);
}

/**
 * Runs `once()` for a warm-up (10% of `iterations`, at least 50, but at least 3 and at most 500 ms when the
 * transport is slow, e.g. MBs over JSON), then `iterations` times, timing each; returns µs. Suites time their
 * own round trips with it.
 * @example
 * ```ts
 * const s = await timeRoundTrips(1_000, async () => { await rpc.call(request); });
 * ```
 */
export async function timeRoundTrips(iterations: number, once: () => Promise<void>): Promise<Stats> {
  return stats(await timeRoundTripSamples(iterations, once));
}

/** The raw round-trip times (µs) behind {@link timeRoundTrips}, in measurement order (for {@link interleave}). */
export async function timeRoundTripSamples(iterations: number, once: () => Promise<void>): Promise<Float64Array> {
  const samples = sampleArray(iterations);
  // One loop for warm-up and measurement (see warmThenMeasure); a slow transport (ms per round trip) stops warming
  // after ~WARM_MS even if it has not made `warmup` round trips, as it did after 500 ms before.
  const warmup = Math.max(50, Math.floor(iterations / 10));
  const warmEnd = performance.now() + Math.max(500, WARM_MS);
  const pass = async (from: number, to: number): Promise<void> => {
    for (let i = from; i < to; i++) {
      const t0 = process.hrtime.bigint();
      await once();
      samples[Math.max(i, 0)] = Number(process.hrtime.bigint() - t0) / 1000;
      if (i < -3 && performance.now() > warmEnd) return;
    }
  };
  await warmThenMeasure(warmup, iterations, pass);
  return samples;
}

/**
 * Round trip of one message between this process and a forked Node child that echoes it back over the
 * child_process IPC channel (`process.send`). Child: bench/children/ipc-echo.ts.
 * @returns round-trip time in µs
 * @throws Error when the child dies or the watchdog fires
 * @example
 * ```ts
 * const json = await childProcessIpc({ serialization: 'json', size: 64, iterations: 2_000 });
 * ```
 */
export async function childProcessIpc(options: IpcOptions): Promise<Stats> {
  return stats(await childProcessIpcSamples(options));
}

/** The raw round-trip times (µs) behind {@link childProcessIpc}, in measurement order (for {@link interleave}). */
export async function childProcessIpcSamples(options: IpcOptions): Promise<Float64Array> {
  const { serialization, size, iterations } = options;
  const timeout = options.timeout ?? BASELINE_TIMEOUT_MS;
  const cpus = placementCpus(options.placement ?? 'any');
  const { child } = await startChild('ipc-echo.js', [], serialization, cpus?.[1], timeout);
  const payload: unknown = serialization === 'json' ? 'x'.repeat(size) : new Uint8Array(size).fill(0x5a);
  try {
    return await withPinnedSelf(cpus?.[0], () =>
      bounded(
        `child_process IPC (${serialization})`,
        child,
        timeout,
        timeRoundTripSamples(
          iterations,
          () =>
            new Promise<void>((resolve) => {
              child.once('message', () => resolve());
              child.send(payload as object);
            }),
        ),
      ),
    );
  } finally {
    await stop(child);
  }
}

/** Waits for length-prefixed frames (bench/framing.ts) from a socket; one pending reader at a time. */
class FrameReader {
  #arrived = 0;
  #resolve: (() => void) | undefined;
  constructor(socket: Socket) {
    readFrames(socket, () => {
      const resolve = this.#resolve;
      this.#resolve = undefined;
      if (resolve) resolve();
      else this.#arrived++;
    });
  }
  /** Resolves when the next whole frame has arrived (its bytes are consumed). */
  next(): Promise<void> {
    if (this.#arrived > 0) {
      this.#arrived--;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.#resolve = resolve));
  }
}

/**
 * Round trip of one length-prefixed message (u32 LE length + payload) over a Unix domain socket to a forked
 * Node echo server (net module). Child: bench/children/socket-echo.ts.
 * @returns round-trip time in µs
 * @throws Error when the child dies or the watchdog fires
 * @example
 * ```ts
 * const uds = await unixSocket({ size: 64, iterations: 2_000 });
 * ```
 */
export async function unixSocket(options: TransportOptions): Promise<Stats> {
  return stats(await unixSocketSamples(options));
}

/** The raw round-trip times (µs) behind {@link unixSocket}, in measurement order (for {@link interleave}). */
export async function unixSocketSamples(options: TransportOptions): Promise<Float64Array> {
  const { size, iterations } = options;
  const timeout = options.timeout ?? BASELINE_TIMEOUT_MS;
  const cpus = placementCpus(options.placement ?? 'any');
  const path = join(tmpdir(), `shmbus-bench-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);
  const { child } = await startChild('socket-echo.js', [path], 'json', cpus?.[1], timeout);
  let socket: Socket | undefined;
  try {
    const s = connect(path);
    socket = s;
    s.setNoDelay(true);
    await bounded('unix socket connect', child, timeout, new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    }));
    const frame = Buffer.alloc(4 + size, 0x5a);
    frame.writeUInt32LE(size, 0);
    const reader = new FrameReader(s);
    return await withPinnedSelf(cpus?.[0], () =>
      bounded(
        'unix socket',
        child,
        timeout,
        timeRoundTripSamples(iterations, () => {
          const got = reader.next();
          s.write(frame);
          return got;
        }),
      ),
    );
  } finally {
    socket?.destroy();
    await stop(child);
  }
}

/**
 * Round trip of one HTTP/1.1 POST of `size` bytes to a forked Node `http` server on 127.0.0.1 that answers with
 * the same bytes (keep-alive agent, one socket). Child: bench/children/http-echo.ts.
 * @returns round-trip time in µs
 * @throws Error when the child dies or the watchdog fires
 * @example
 * ```ts
 * const http = await httpLoopback({ size: 64, iterations: 1_000 });
 * ```
 */
export async function httpLoopback(options: TransportOptions): Promise<Stats> {
  return stats(await httpLoopbackSamples(options));
}

/** The raw round-trip times (µs) behind {@link httpLoopback}, in measurement order (for {@link interleave}). */
export async function httpLoopbackSamples(options: TransportOptions): Promise<Float64Array> {
  const { size, iterations } = options;
  const timeout = options.timeout ?? BASELINE_TIMEOUT_MS;
  const cpus = placementCpus(options.placement ?? 'any');
  const { child, hello } = await startChild('http-echo.js', [], 'json', cpus?.[1], timeout);
  const port = (hello as { port: number }).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = Buffer.alloc(size, 0x5a);
  const once = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/echo',
          agent,
          headers: { 'content-type': 'application/octet-stream', 'content-length': size },
        },
        (res) => {
          let got = 0;
          res.on('data', (b: Buffer) => (got += b.length));
          res.on('end', () => (got === size ? resolve() : reject(new Error(`http echo returned ${got} of ${size} bytes`))));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    return await withPinnedSelf(cpus?.[0], () => bounded('http loopback', child, timeout, timeRoundTripSamples(iterations, once)));
  } finally {
    agent.destroy();
    await stop(child);
  }
}
