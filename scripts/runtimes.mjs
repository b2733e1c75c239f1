// Bun and Deno from the npm registry (packages bun and deno ship their binaries as optional dependencies) into
// .cache/runtimes, for the packaging tests (test/packaging). Returns { bun, deno }: a binary path or { error }.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const RUNTIMES = { bun: 'bun@1', deno: 'deno@2' };

export function installRuntimes(root, log = () => {}) {
  const prefix = join(root, '.cache', 'runtimes');
  const bin = (name) => join(prefix, 'node_modules', '.bin', name);
  const missing = Object.keys(RUNTIMES).filter((n) => !existsSync(bin(n)));
  if (missing.length > 0) {
    mkdirSync(prefix, { recursive: true });
    log(`installing ${missing.join(' and ')} from the npm registry into .cache/runtimes (once)`);
    const r = spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--prefix', prefix, ...Object.values(RUNTIMES)], {
      cwd: prefix,
      encoding: 'utf8',
    });
    if (r.status !== 0) log(`${r.stdout}${r.stderr}`);
  }
  const out = {};
  for (const n of Object.keys(RUNTIMES)) {
    const ok = existsSync(bin(n)) && spawnSync(bin(n), ['--version'], { encoding: 'utf8' }).status === 0;
    out[n] = ok ? bin(n) : { error: `${n} could not be installed from the npm registry (or does not run here)` };
  }
  return out;
}
