/** Benchmark plumbing shared by every suite: statistics, tables, child processes, C baselines. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

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
  const done = new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
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

/** True when `taskset` exists, so suites can pin processes to cores. */
export function canPin(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

/** A segment name for one benchmark run: the bench- prefix keeps it apart from test names (and the leak check). */
export function benchName(what: string): string {
  return `bench-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;
}
