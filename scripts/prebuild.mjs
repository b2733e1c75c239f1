#!/usr/bin/env node
// Builds the prebuilt addons that the npm tarball carries (run by `npm pack` / `npm publish` through prepack):
//   prebuilds/linux-x64/shmbus.abi115.node  Node 20 (its SharedArrayBuffer seam uses V8's C++ API: one ABI only)
//   prebuilds/linux-x64/shmbus.napi.node    Node-API only, against Node 22's headers: Node 22+, Bun, Deno
// Node 20 and 22 come with their headers from the npm registry (scripts/node-matrix.mjs). A build is reused while
// it is newer than every native source. src/native/locate.ts is the loader's side of these names.
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon, installNodes } from './node-matrix.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (m) => process.stderr.write(`prebuild: ${m}\n`);
if (process.platform !== 'linux' || process.arch !== 'x64') {
  log(`no prebuilds for ${process.platform}-${process.arch} (only linux-x64 is built here); the tarball will compile`);
  process.exit(0);
}
const outDir = join(root, 'prebuilds', 'linux-x64');
mkdirSync(outDir, { recursive: true });

const sources = [join(root, 'binding.gyp'), ...readdirSync(join(root, 'src', 'native')).map((f) => join(root, 'src', 'native', f))];
const newestSource = Math.max(...sources.map((f) => statSync(f).mtimeMs));
// Node 20's ABI (115) and Node 22's headers for the Node-API build.
const builds = [
  { major: 20, file: 'shmbus.abi115.node' },
  { major: 22, file: 'shmbus.napi.node' },
];
const nodes = installNodes(root, builds.map((b) => b.major), log);
let failed = false;
for (const b of builds) {
  const out = join(outDir, b.file);
  if (existsSync(out) && statSync(out).mtimeMs > newestSource) {
    log(`${b.file} is up to date`);
    continue;
  }
  const n = nodes[b.major];
  if (n.error) {
    log(`Node ${b.major}: ${n.error}`);
    failed = true;
    continue;
  }
  log(`building ${b.file} with Node ${b.major}'s headers`);
  const r = buildAddon(root, { node: n.node, nodedir: n.home, buildRoot: join(root, '.cache', `prebuild-${b.major}`) });
  if (r.error) {
    log(r.error);
    failed = true;
    continue;
  }
  copyFileSync(r.addon, out);
}
process.exit(failed ? 1 : 0);
