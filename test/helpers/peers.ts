/**
 * The C peer programs (c/tests/peers/*.c, built by `make -C c` into c/build/bin/) for the cross-language tests.
 * `cProgram('topic-peer')` is the path of c/build/bin/topic-peer; `spawnC('topic-peer')` runs it as a Peer (the
 * line protocol of c/tests/peers/peer.h: "ready <pid>" first, then one answer line per command line).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SpawnOptions } from 'node:child_process';
import { spawnProcess, type Peer } from './index.js';

/** Absolute path of a built C peer program; throws (naming the fix) when it was not built. */
export function cProgram(name: string): string {
  // dist/test/helpers/peers.js -> <repo>/c/build/bin/<name>
  const path = fileURLToPath(new URL(`../../../c/build/bin/${name}`, import.meta.url));
  if (!existsSync(path)) {
    throw new Error(`C peer program ${path} does not exist: build it with \`make -C c\` (npm test does)`);
  }
  return path;
}

/** Spawns a C peer program with a watchdog (see spawnPeer) and waits for nothing: `await peer.line('ready')`. */
export function spawnC(name: string, args: string[] = [], options: SpawnOptions & { watchdogMs?: number } = {}): Peer {
  return spawnProcess(cProgram(name), args, options);
}

/**
 * The Python that has the shmbus package installed (.cache/pyvenv, set up by scripts/python-setup.sh, which
 * `npm test` runs before the Node suites and exports as SHMBUS_VENV_PYTHON); throws naming the fix when unset.
 */
export function venvPython(): string {
  const fromEnv = process.env['SHMBUS_VENV_PYTHON'];
  const path = fromEnv ?? fileURLToPath(new URL('../../../.cache/pyvenv/bin/python', import.meta.url));
  if (!existsSync(path)) {
    throw new Error(`no Python with shmbus installed at ${path}: run \`bash scripts/python-setup.sh\` (npm test does)`);
  }
  return path;
}

/** Spawns a Python program (`python <file> ...args`) with the venv's Python as a Peer (see spawnProcess). */
export function spawnPython(file: string, args: string[] = [], options: SpawnOptions & { watchdogMs?: number } = {}): Peer {
  return spawnProcess(venvPython(), ['-u', file, ...args], options);
}
