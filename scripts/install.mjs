#!/usr/bin/env node
// `npm install` of shmbus: use a prebuilt addon when one fits this Node and loads; otherwise compile with node-gyp.
// In a checkout (no dist/ yet, no prebuilds/) this always compiles. npm >= 11 runs a dependency's install script
// only once the user approves it; the loader (src/native/locate.ts) finds the prebuilds without this script, so it
// matters only where no prebuild fits. SHMBUS_BUILD_FROM_SOURCE=1 skips the prebuilds.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const say = (m) => process.stderr.write(`shmbus: ${m}\n`);

async function fittingPrebuild() {
  const locate = join(root, 'dist', 'src', 'native', 'locate.js');
  if (process.env.SHMBUS_BUILD_FROM_SOURCE === '1' || !existsSync(locate)) return null;
  const { prebuildCandidates } = await import(pathToFileURL(locate).href);
  for (const path of prebuildCandidates(root)) {
    if (!existsSync(path)) continue;
    // Loaded in a child: a build that does not fit this Node must fail there, not here.
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path)})`], { encoding: 'utf8' });
    if (r.status === 0) return path;
    say(`the prebuilt ${path} does not load here: ${(r.stderr || '').trim().split('\n')[0]}`);
  }
  return null;
}

function which(cmd) {
  return spawnSync('/bin/sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

const prebuild = await fittingPrebuild();
if (prebuild !== null) {
  say(`using the prebuilt addon ${prebuild.slice(root.length)} (Node ${process.version}, ${process.platform}-${process.arch})`);
  process.exit(0);
}
const missing = [
  ['python3', 'python3'],
  ['make', 'make'],
  ['a C++ compiler (c++ or g++)', null],
].filter(([, cmd]) => (cmd === null ? !which('c++') && !which('g++') : !which(cmd))).map(([what]) => what);
if (missing.length > 0) {
  const why =
    process.env.SHMBUS_BUILD_FROM_SOURCE === '1'
      ? 'SHMBUS_BUILD_FROM_SOURCE=1 asks to compile the addon'
      : `no prebuilt addon fits Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}`;
  say(
    `${why}, and compiling one needs ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not on PATH. ` +
      'Install them (Debian/Ubuntu: apt-get install python3 make g++) and run "npm rebuild shmbus", ' +
      'or use a Node version with a prebuild (20, 22 or later on linux-x64).',
  );
  process.exit(1);
}
// npm puts the path of its own node-gyp in npm_config_node_gyp; a checkout has node-gyp as a devDependency.
let gyp = process.env.npm_config_node_gyp;
if (!gyp || !existsSync(gyp)) {
  try {
    gyp = createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    gyp = null;
  }
}
say(`compiling the addon for Node ${process.version} (node-gyp rebuild)`);
const r = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit', shell: false });
if (r.status !== 0) say('the addon did not compile: node-gyp\'s output is above');
process.exit(r.status ?? 1);
