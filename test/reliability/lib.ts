/**
 * Shared bits of the reliability suites (test/reliability): a seeded RNG whose seed is printed so a failing run can
 * be replayed (SHMBUS_SEED=<seed>), the run counts (SHMBUS_SLOW=1: the long forms), kill helpers, and the figures
 * written to docs/reliability.md when SHMBUS_RELIABILITY_REPORT=1 (never during a plain npm test, which must not
 * touch the tree).
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Rpc, Segment } from '../../src/index.js';
import type { Peer } from '../helpers/index.js';
import { spawnPython } from '../helpers/peers.js';

export const SLOW = process.env['SHMBUS_SLOW'] === '1';
/** Kills (runs) per channel kind: 50 in npm test, 1000 in the slow suite (SHMBUS_KILL_RUNS overrides). */
export const RUNS = Number(process.env['SHMBUS_KILL_RUNS'] ?? (SLOW ? 1000 : 50));
/** The share of victims that are Node processes (the rest are C peers, much cheaper to start: ~5 ms vs ~250 ms). */
export const NODE_SHARE = Number(process.env['SHMBUS_KILL_NODE_SHARE'] ?? 0.12);
/** The share of victims that are Python processes (test/reliability/py-victim.py; ~0.3 s to start). */
export const PY_SHARE = Number(process.env['SHMBUS_KILL_PY_SHARE'] ?? 0.1);

export type Lang = 'node' | 'python' | 'c';
/** Draws the language of the next victim: Node with NODE_SHARE, Python with PY_SHARE, else C. */
export function victimLang(r: Rng): Lang {
  const x = r.next();
  return x < NODE_SHARE ? 'node' : x < NODE_SHARE + PY_SHARE ? 'python' : 'c';
}

const PY_VICTIM = fileURLToPath(new URL('../../../test/reliability/py-victim.py', import.meta.url));
/** Spawns the Python victim in `role` (see py-victim.py). */
export function spawnPy(role: string, args: string[], options: { watchdogMs?: number; env?: NodeJS.ProcessEnv } = {}): Peer {
  return spawnPython(PY_VICTIM, [role, ...args], options);
}

/** Nobody may wait longer than this for anything after a kill (liveness intervals are 10-500 ms; CI is slow). */
export const LIVENESS_BOUND_MS = 15_000;

/**
 * Removes a name whatever it holds (for trackNames): an Rpc service's name and its dead clients' response queues
 * (Rpc.unlink), or any other segment.
 */
export function unlinkAny(n: string): void {
  for (const unlink of [() => Rpc.unlink(n), () => Segment.unlink(n)]) {
    try {
      unlink();
    } catch {
      // gone, or not of that kind
    }
  }
}

/** A small seeded PRNG (mulberry32): the same seed gives the same kill schedule. */
export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
}

export function rng(label: string): Rng {
  const fromEnv = process.env['SHMBUS_SEED'];
  const seed = (fromEnv !== undefined ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 32)) >>> 0;
  // Printed first, so that even a run that hangs until the watchdog says how to replay it.
  process.stdout.write(`# reliability ${label}: seed ${seed} (replay: SHMBUS_SEED=${seed})\n`);
  let s = seed;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return {
    seed,
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
  };
}

/** Resolves after `ms` (the random instant of a kill: randomness, not synchronisation). */
export function after(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves true when `p` settles within `ms`, false otherwise (the timer does not keep the process alive). */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Kills `p` with SIGKILL and returns how it ended: 'SIGKILL', or its exit code if it had already ended by itself
 * (a victim that finished its work first). Anything else than SIGKILL or 0 is a crash the caller reports.
 */
export async function kill(p: Peer): Promise<number | string> {
  p.kill('SIGKILL');
  return p.exited;
}

/** Figures of one suite, for docs/reliability.md. */
export interface Figures {
  kind: string;
  runs: number;
  kills: number;
  recoveries: number | string;
  violations: number;
  note: string;
}

const doc = fileURLToPath(new URL('../../../docs/reliability.md', import.meta.url));

/**
 * Writes (replaces) the row of `f.kind` in the table between `<!-- kill-table -->` markers of docs/reliability.md,
 * only with SHMBUS_RELIABILITY_REPORT=1. Test files run in parallel: a directory lock serialises the edits.
 */
export async function report(section: string, rows: Figures[]): Promise<void> {
  if (process.env['SHMBUS_RELIABILITY_REPORT'] !== '1') return;
  const lock = `${doc}.lock`;
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (i > 2000) throw new Error(`${lock} held for 20 s`);
      await after(10);
    }
  }
  try {
    let text = readFileSync(doc, 'utf8');
    const begin = `<!-- ${section}:begin -->`;
    const end = `<!-- ${section}:end -->`;
    const a = text.indexOf(begin);
    const b = text.indexOf(end);
    if (a < 0 || b < a) throw new Error(`docs/reliability.md has no ${begin} ... ${end} block`);
    const existing = text.slice(a + begin.length, b).split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| kind') && !l.startsWith('|---'));
    const byKind = new Map(existing.map((l) => [l.split('|')[1]!.trim(), l]));
    for (const r of rows) {
      byKind.set(r.kind, `| ${r.kind} | ${r.runs} | ${r.kills} | ${r.recoveries} | ${r.violations} | ${r.note} |`);
    }
    const table = ['| kind | runs | kills | recoveries | violations | what was killed, what was checked |', '|---|---:|---:|---:|---:|---|',
      ...[...byKind.keys()].sort().map((k) => byKind.get(k)!)];
    const size = process.env['SHMBUS_KILL_RUNS'] ? `SHMBUS_KILL_RUNS=${process.env['SHMBUS_KILL_RUNS']}` : SLOW ? 'slow suite, SHMBUS_SLOW=1' : 'npm test size';
    const stamp = `Last written: ${new Date().toISOString().slice(0, 16)}Z (${size}).`;
    text = `${text.slice(0, a + begin.length)}\n${stamp}\n\n${table.join('\n')}\n${text.slice(b)}`;
    writeFileSync(doc, text);
  } finally {
    rmdirSync(lock);
  }
}
