/**
 * What the scenario tests share: run an example's orchestrator (dist/examples/<name>/main.js) or any command to its
 * end with a watchdog, and get its output as text and lines (plus `all`, both streams, for assertion messages).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { venvPython } from '../helpers/peers.js';

/** The repository root (this file is compiled to dist/test/scenarios/example-run.js). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface Run {
  /** Exit code, or the signal's name. */
  code: number | string;
  out: string;
  err: string;
  lines: string[];
  /** stdout and stderr, labelled: for assertion messages. */
  all: string;
}

/** Runs `cmd args` to its end (killed after `timeoutMs`) with stdin closed. */
export function runCommand(cmd: string, args: string[], { timeoutMs = 60_000, env = process.env } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const watchdog = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code: code ?? signal ?? -1, out, err, lines: out.split('\n'), all: `stdout:\n${out}\nstderr:\n${err}` });
    });
  });
}

/** Runs examples/<name> (its compiled main.js) with the venv's Python for the programs it spawns. */
export function runExample(name: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  const env = { ...process.env, SHMBUS_VENV_PYTHON: venvPython() };
  return runCommand(process.execPath, [`${repoRoot}dist/examples/${name}/main.js`, ...args], { timeoutMs, env });
}
