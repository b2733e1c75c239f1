/**
 * What the cross-language examples' orchestrators (examples/<name>/main.ts) share: where the programs of an
 * example are (the Node one in dist/, the Python one beside its source, the C/C++ one built by `make -C c examples`
 * into c/build/examples/<name>/) and a child process whose stdout lines can be awaited (`await kid.line(/ready/)`),
 * so an orchestrator steps on what its programs report, never on sleeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is compiled to dist/examples/lib/children.js). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The languages a program of an example is written in. */
export type Language = 'node' | 'python' | 'cpp';

/** The command line that runs program `program` of example `example` in `language`. */
export function programCommand(example: string, program: string, language: Language): string[] {
  switch (language) {
    case 'node':
      return [process.execPath, `${repoRoot}dist/examples/${example}/${program}.js`];
    case 'python': {
      // npm test and scripts/example.mjs set SHMBUS_VENV_PYTHON (the venv with shmbus installed).
      const python = process.env['SHMBUS_VENV_PYTHON'] ?? `${repoRoot}.cache/pyvenv/bin/python`;
      if (!existsSync(python)) throw new Error(`no Python with shmbus at ${python}: run \`bash scripts/python-setup.sh\` (npm run example does)`);
      return [python, '-u', `${repoRoot}examples/${example}/${program}.py`];
    }
    case 'cpp': {
      const path = `${repoRoot}c/build/examples/${example}/${program}`;
      if (!existsSync(path)) throw new Error(`${path} is not built: run \`make -C c examples\` (npm run example does)`);
      return [path];
    }
  }
}

/** A running program: its stdout lines, awaitable. */
export class Child {
  readonly process: ChildProcess;
  /** Every stdout line so far, in order. */
  readonly lines: string[] = [];
  /** Resolves with the exit code (or the signal's name) once stdout is closed and the process ended. */
  readonly exited: Promise<number | string>;
  private readonly waiters = new Set<{ re: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private done = false;

  /** Spawns `command`; `onLine` sees each stdout line as it comes (an orchestrator echoes them). */
  constructor(readonly label: string, command: string[], onLine: (line: string) => void = () => {}) {
    const [file, ...args] = command;
    this.process = spawn(file!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    let partial = '';
    this.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        this.lines.push(line);
        onLine(line);
        for (const w of this.waiters) {
          if (w.re.test(line)) {
            this.waiters.delete(w);
            w.resolve(line);
          }
        }
      }
    });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      process.stderr.write(chunk);
    });
    this.process.stdin!.on('error', () => {}); // a program that exits while we write: its exit code tells
    this.exited = new Promise((resolve) => {
      this.process.once('close', (code, signal) => {
        this.done = true;
        live.delete(this);
        for (const w of this.waiters) w.reject(new Error(`${this.label} exited (${code ?? signal}) before printing ${w.re}; stderr: ${this.stderr}`));
        this.waiters.clear();
        resolve(code ?? signal ?? -1);
      });
    });
  }

  /**
   * The first stdout line matching `re` printed after line number `from` (default: any line so far); rejects
   * when the program exits first or after `timeoutMs`.
   */
  line(re: RegExp, { from = 0, timeoutMs = 30_000 }: { from?: number; timeoutMs?: number } = {}): Promise<string> {
    const seen = this.lines.slice(from).find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.done) return Promise.reject(new Error(`${this.label} exited before printing ${re}; stderr: ${this.stderr}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.label} printed no line matching ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        re,
        resolve: (l: string) => (clearTimeout(timer), resolve(l)),
        reject: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      this.waiters.add(waiter);
    });
  }

  /** Resolves once the program has printed `n` lines matching `re` (counting from the start). */
  async count(re: RegExp, n: number, timeoutMs = 30_000): Promise<void> {
    for (;;) {
      const count = this.lines.filter((l) => re.test(l)).length;
      if (count >= n) return;
      // Synchronous from the count to the registration: no line can slip between them.
      await this.line(re, { from: this.lines.length, timeoutMs });
    }
  }

  /** Writes one line to the program's stdin. */
  send(line: string): void {
    this.process.stdin!.write(`${line}\n`);
  }

  /** Closes the program's stdin (the programs here take that as "finish and exit"). */
  endInput(): void {
    this.process.stdin!.end();
  }

  /** Resolves once the program exited with 0; rejects with its stderr otherwise. */
  async success(): Promise<void> {
    const code = await this.exited;
    if (code !== 0) throw new Error(`${this.label} exited with ${code}; stderr: ${this.stderr}`);
  }
}

const live = new Set<Child>();
const cleanups: (() => void)[] = [];

/**
 * Runs `fn` (synchronous: unlinking names) when the orchestrator exits, however it exits: normally, on an error, or
 * on Ctrl-C / SIGTERM. The programs still running are killed first.
 */
export function atExit(fn: () => void): void {
  cleanups.push(fn);
}

process.once('exit', () => {
  for (const c of live) c.process.kill('SIGKILL');
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch (e) {
      console.error(e);
    }
  }
});
// Without these handlers a signal would end the process without 'exit': programs and names left behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
