#!/usr/bin/env node
// `npm run example -- <name> [args...]`: runs examples/<name> as a user would, in one command. `npm run example`
// compiles the TypeScript first (npm run build); this script then builds the C/C++ programs of the examples
// (make -C c examples -> c/build/examples/<name>/), installs the Python peer (scripts/python-setup.sh, a no-op
// when up to date) and runs dist/examples/<name>/main.js with SHMBUS_VENV_PYTHON set to the venv's python, so the
// orchestrator can spawn the Python programs. Without a name it lists the examples.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [name, ...args] = process.argv.slice(2);
const names = readdirSync(join(root, 'examples'), { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(root, 'examples', e.name, 'main.ts')))
  .map((e) => e.name)
  .sort();

if (name === undefined || !names.includes(name)) {
  if (name !== undefined) console.error(`example: no example named "${name}"`);
  console.error(`usage: npm run example -- <name> [args...]\nexamples: ${names.join(', ')}`);
  process.exit(name === undefined ? 0 : 2);
}

const main = join(root, 'dist', 'examples', name, 'main.js');
if (!existsSync(main)) {
  console.error(`example: ${main} does not exist: compile the TypeScript first (npm run build; npm run example does)`);
  process.exit(1);
}

// Build output goes to stderr so that the example's stdout is only its own.
const make = spawnSync('make', ['-C', join(root, 'c'), '-j2', '--no-print-directory', 'examples'], {
  stdio: ['ignore', 2, 'inherit'],
});
if (make.status !== 0) {
  console.error(`example: make -C c examples failed (exit ${make.status ?? make.signal})`);
  process.exit(1);
}

const env = { ...process.env };
if (existsSync(join(root, 'python', 'pyproject.toml'))) {
  const setup = spawnSync('bash', [join(root, 'scripts', 'python-setup.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (setup.status !== 0) {
    // Examples without Python programs still run; the others fail naming the missing Python.
    console.error(`example: scripts/python-setup.sh failed (exit ${setup.status ?? setup.signal}): the Python programs cannot run`);
  } else {
    const lines = setup.stdout.trim().split('\n');
    process.stderr.write(lines.slice(0, -1).map((l) => `${l}\n`).join(''));
    env.SHMBUS_VENV_PYTHON = lines.at(-1);
  }
}

const child = spawn(process.execPath, [main, ...args], { stdio: 'inherit', env });
// ^C reaches the whole foreground process group: the example cleans up and exits, and we exit after it (so the
// handler only keeps us alive). A SIGTERM sent to us alone is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal === 'SIGINT' ? 130 : 1);
});
