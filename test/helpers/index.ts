/** Test helpers: unique names, real child processes with a watchdog, line expectations. Import them; no globals. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Segment } from '../../src/index.js';

/** A segment name no other test (or run) uses: prefix + run id + pid + random. */
export function uniqueName(prefix = 't'): string {
  // The run id (set by scripts/test.mjs) lets the leak check tell this run's segments from a concurrent run's.
  const run = process.env['SHMBUS_TEST_RUN'];
  return `test-${prefix}-${run ? `${run}-` : ''}${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Unlinks names if they still exist (for `after` hooks). */
export function unlinkQuietly(...names: string[]): void {
  for (const n of names) {
    try {
      Segment.unlink(n);
    } catch {
      // already gone
    }
  }
}

/** Absolute path of a compiled fixture: fixture('wake-child') -> dist/test/fixtures/wake-child.js */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}.js`, import.meta.url));
}

export interface Peer {
  child: ChildProcess;
  /** Resolves with the first stdout line matching `pattern` (rejects if the child exits first or after `timeoutMs`). */
  line(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Writes one line to the child's stdin. */
  send(line: string): void;
  /** Resolves with the exit code (or signal name) once the child ends. */
  exited: Promise<number | string>;
  /** Everything the child wrote to stderr so far. */
  stderr(): string;
  kill(signal?: NodeJS.Signals): void;
}

const WATCHDOG_MS = 60_000;

/**
 * Spawns `node <fixture> ...args` as a real process. A watchdog kills it after `watchdogMs` (default 60 s), so a
 * deadlock fails the test with the child's stderr instead of hanging the run.
 */
export function spawnPeer(
  file: string,
  args: string[] = [],
  options: SpawnOptions & { watchdogMs?: number; wrap?: string[] } = {},
): Peer {
  if (!existsSync(file)) throw new Error(`fixture ${file} does not exist (did tsc run?)`);
  // wrap: a command line to run node under (setpriv, unshare, taskset ...).
  const [command, ...pre] = [...(options.wrap ?? []), process.execPath];
  return spawnProcess(command!, [...pre, file, ...args], options);
}

/**
 * Spawns any program (a C peer, say: test/helpers/peers.ts) as a {@link Peer} with the same line protocol and
 * watchdog as {@link spawnPeer}.
 */
export function spawnProcess(
  command: string,
  args: string[] = [],
  options: SpawnOptions & { watchdogMs?: number } = {},
): Peer {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp | string; resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  const seen: string[] = [];
  const matches = (l: string, p: RegExp | string): boolean => (typeof p === 'string' ? l.includes(p) : p.test(l));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const l = out.slice(0, nl);
      out = out.slice(nl + 1);
      const i = waiters.findIndex((w) => matches(l, w.pattern));
      if (i >= 0) waiters.splice(i, 1)[0]!.resolve(l);
      else seen.push(l);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const watchdog = setTimeout(() => child.kill('SIGKILL'), options.watchdogMs ?? WATCHDOG_MS);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      for (const w of waiters.splice(0)) {
        w.reject(new Error(`child exited (${code ?? signal}) before printing ${String(w.pattern)}; stderr:\n${err}`));
      }
      resolve(code ?? signal ?? -1);
    });
  });
  return {
    child,
    exited,
    stderr: () => err,
    send: (l) => child.stdin!.write(`${l}\n`),
    kill: (s = 'SIGKILL') => child.kill(s),
    line(pattern, timeoutMs = 30_000) {
      const i = seen.findIndex((l) => matches(l, pattern));
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]!);
      if (child.exitCode !== null || child.signalCode !== null) {
        return Promise.reject(new Error(`child already exited; wanted ${String(pattern)}; stderr:\n${err}`));
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          reject(new Error(`no line matching ${String(pattern)} within ${timeoutMs} ms; other stdout lines: ${JSON.stringify(seen)}; stderr:\n${err}`));
        }, timeoutMs);
        waiters.push({
          pattern,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
          reject: (e) => {
            clearTimeout(t);
            reject(e);
          },
        });
      });
    },
  };
}

/** Waits for a peer to exit and asserts it exited 0 (with its stderr in the failure message). */
export async function expectCleanExit(peer: Peer): Promise<void> {
  const code = await peer.exited;
  if (code !== 0) throw new Error(`child exited with ${code}; stderr:\n${peer.stderr()}`);
}

/**
 * Wakes word `index` until the kernel reports a sleeper (a peer that said "waiting" parks a moment later, or much
 * later on a loaded machine). Bounded by `withinMs` (default 20 s); returns 0 if nobody ever parked.
 */
export async function wakeUntilWoken(seg: Segment, index: number, withinMs = 20_000): Promise<number> {
  const deadline = performance.now() + withinMs;
  for (let turn = 0; performance.now() < deadline; turn++) {
    const woken = seg.wake(index);
    if (woken > 0) return woken;
    // First a few hundred quick turns, then 1 ms apart so a descheduled peer gets the CPU.
    await new Promise((r) => (turn < 500 ? setImmediate(r) : setTimeout(r, 1)));
  }
  return 0;
}

/**
 * uniqueName() for one test file that remembers every name it hands out, so one `after(names.cleanup)` removes them
 * all (with `remove`, default Segment.unlink ignoring missing names).
 */
export function trackNames(remove: (name: string) => void = (n) => unlinkQuietly(n)): {
  name(prefix: string): string;
  cleanup(): void;
} {
  const names: string[] = [];
  return {
    name(prefix) {
      const n = uniqueName(prefix);
      names.push(n);
      return n;
    },
    cleanup() {
      for (const n of names.splice(0)) remove(n);
    },
  };
}
