/**
 * iceoryx side by side (issue 12): a round trip between two C++ processes over Eclipse iceoryx 2.x, busy-polling,
 * measured in the same run as the shmbus rows so that the comparison stays reproducible.
 *
 * Needs the Debian packages `iceoryx` (RouDi), `libiceoryx-posh-dev`, `libiceoryx-hoofs-dev` and g++. When they
 * are missing, {@link iceoryx} runs bench/install-iceoryx.sh (root + apt-get only; set SHMBUS_BENCH_NO_INSTALL=1
 * to forbid it), and when that is impossible it returns a note and the suite prints the note instead of rows.
 * RouDi (`iox-roudi`) is started by the bench and stopped by its pid (SIGTERM, then SIGKILL after 5 s).
 * Source of the ping-pong: bench/c/iox-pingpong.cpp (built with g++ -O2 into .cache/bench/).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BASELINE_TIMEOUT_MS, parseNsSamples, placementCpus, runProgram, type Placement } from './baselines.js';
import { onPath, ROOT } from './lib.js';

/** Options of {@link Iceoryx.pingPongSamples}. */
export interface IoxPingPongOptions {
  /** 'copy': copy `size` bytes into the loan, read the sample in place (2 copies a round trip, as the Topic rows); 'zc': write and read only an 8-byte stamp. */
  mode: 'copy' | 'zc';
  size: number;
  iterations: number;
  placement: Placement;
  timeout?: number;
}

/** A running RouDi and the built ping-pong: measure, then {@link Iceoryx.stop}. */
export interface Iceoryx {
  /** e.g. "iceoryx 2.0.3". */
  version: string;
  /** Raw round-trip times (µs), as {@link cPingPongSamples}. */
  pingPongSamples(options: IoxPingPongOptions): Promise<Float64Array>;
  /** Stops RouDi (by its pid). */
  stop(): Promise<void>;
}

const INCLUDE = '/usr/include/iceoryx';

/** The newest installed header directory (/usr/include/iceoryx/v2.0.3), or undefined. */
function includeDir(): string | undefined {
  if (!existsSync(INCLUDE)) return undefined;
  const v = readdirSync(INCLUDE).filter((d) => /^v\d/.test(d)).sort().pop();
  return v === undefined ? undefined : join(INCLUDE, v);
}

function installed(): boolean {
  return onPath('iox-roudi') && onPath('g++') && includeDir() !== undefined;
}

/** g++ builds bench/c/iox-pingpong.cpp (once per source change). */
function build(inc: string): string {
  const src = join(ROOT, 'bench', 'c', 'iox-pingpong.cpp');
  const outDir = join(ROOT, '.cache', 'bench');
  mkdirSync(outDir, { recursive: true });
  const bin = join(outDir, 'iox-pingpong');
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    const r = spawnSync(
      'g++',
      ['-O2', '-std=c++17', `-I${inc}`, '-o', bin, src, '-liceoryx_posh', '-liceoryx_hoofs', '-liceoryx_platform', '-lpthread', '-lrt'],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`g++ ${src} failed:\n${r.stderr}`);
  }
  return bin;
}

/** Starts iox-roudi and resolves once it says it is ready (or rejects with its output). */
function startRoudi(timeoutMs: number): Promise<ChildProcess> {
  // setpriv --pdeathsig: RouDi goes (and removes its shared memory) when the bench dies; it execs, so the pid is RouDi's.
  const [cmd, args] = onPath('setpriv') ? ['setpriv', ['--pdeathsig', 'TERM', 'iox-roudi']] : ['iox-roudi', []];
  const roudi = spawn(cmd, args as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      roudi.kill('SIGKILL');
      reject(new Error(`iox-roudi not ready within ${timeoutMs} ms: ${out.slice(-500)}`));
    }, timeoutMs);
    const onData = (b: Buffer): void => {
      out += b.toString('utf8');
      if (out.includes('RouDi is ready for clients')) {
        clearTimeout(timer);
        roudi.stdout!.off('data', onData);
        roudi.stderr!.off('data', onData);
        // Keep draining its output (a full pipe would block RouDi).
        roudi.stdout!.resume();
        roudi.stderr!.resume();
        resolve(roudi);
      }
    };
    roudi.stdout!.on('data', onData);
    roudi.stderr!.on('data', onData);
    roudi.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`iox-roudi exited (${code}) before it was ready (another RouDi running?): ${out.slice(-500)}`));
    });
    roudi.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Stops `child` by its pid: SIGTERM (RouDi then removes its shared memory), SIGKILL after `ms`. */
async function stopByPid(child: ChildProcess, ms = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const t = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  }, ms);
  await gone;
  clearTimeout(t);
}

/**
 * Makes iceoryx ready (installing it when allowed), builds the ping-pong and starts RouDi.
 * @returns the handle, or a one-sentence note saying why the iceoryx rows are skipped
 */
export async function iceoryx(log: (m: string) => void): Promise<Iceoryx | string> {
  if (!installed()) {
    const script = join(ROOT, 'bench', 'install-iceoryx.sh');
    if (process.env['SHMBUS_BENCH_NO_INSTALL'] === '1') return 'iceoryx rows skipped: iceoryx is not installed (SHMBUS_BENCH_NO_INSTALL=1; run bench/install-iceoryx.sh).';
    log('iceoryx not installed: running bench/install-iceoryx.sh');
    const r = spawnSync('bash', [script], { encoding: 'utf8' });
    if (r.status !== 0 || !installed()) {
      const why = r.error?.message ?? ((r.stderr || '').trim().split('\n').pop() || `exit ${r.status}`);
      return `iceoryx rows skipped: iceoryx is not installed and bench/install-iceoryx.sh could not install it (${why}).`;
    }
  }
  const inc = includeDir()!;
  let bin: string;
  try {
    bin = build(inc);
  } catch (e) {
    return `iceoryx rows skipped: ${(e as Error).message.split('\n')[0]}`;
  }
  let roudi: ChildProcess;
  try {
    roudi = await startRoudi(15_000);
  } catch (e) {
    return `iceoryx rows skipped: ${(e as Error).message.split('\n')[0]}`;
  }
  const version = `iceoryx ${inc.split('/').pop()!.replace(/^v/, '')}`;
  return {
    version,
    async pingPongSamples(o: IoxPingPongOptions): Promise<Float64Array> {
      const cpus = placementCpus(o.placement);
      const warmup = Math.max(100, Math.floor(o.iterations / 10));
      const args = [o.mode, String(o.size), String(o.iterations), String(warmup), String(cpus?.[0] ?? -1), String(cpus?.[1] ?? -1)];
      const text = await runProgram(bin, args, o.timeout ?? BASELINE_TIMEOUT_MS);
      return parseNsSamples(text, o.iterations, `iox-pingpong ${args.join(' ')}`);
    },
    stop: () => stopByPid(roudi),
  };
}
