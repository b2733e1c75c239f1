/**
 * Where the addon may be, in the order it is tried. One rule, used by the loader (binding.ts) and by the install
 * script (scripts/install.mjs, which only asks whether a prebuild fits before it decides to compile).
 *
 * Builds that exist (docs/install.md):
 * - build/Release/shmbus.node: compiled on this machine (npm install in a checkout, npm rebuild shmbus);
 * - prebuilds/<platform>-<arch>/shmbus.abi<N>.node: for one Node ABI (Node 20, whose SharedArrayBuffer seam is V8's
 *   own C++ API, so its build fits only that ABI);
 * - prebuilds/<platform>-<arch>/shmbus.napi.node: Node-API only, compiled against Node 22's headers; serves Node 22
 *   and later, and Bun and Deno (which lack the external-SharedArrayBuffer call: there segments are external
 *   ArrayBuffers, see Segment.shared).
 */
import { fileURLToPath } from 'node:url';

/** The JavaScript runtime we run on, as far as the addon cares. */
export type Runtime = 'node' | 'bun' | 'deno';

export function runtime(): Runtime {
  const v = process.versions as NodeJS.ProcessVersions & { bun?: string; deno?: string };
  return v.bun !== undefined ? 'bun' : v.deno !== undefined ? 'deno' : 'node';
}

/** The package root (this file is dist/src/native/locate.js). */
export const packageRoot: string = fileURLToPath(new URL('../../../', import.meta.url));

/** The prebuilt addons that fit this process, best first. */
export function prebuildCandidates(root: string = packageRoot): string[] {
  const dir = `${root}prebuilds/${process.platform}-${process.arch}/`;
  // Bun and Deno can load only the Node-API build: the per-ABI ones call V8's C++ API, and a missing symbol there
  // kills the process at the first call rather than failing the load.
  return runtime() === 'node' ? [`${dir}shmbus.abi${process.versions.modules}.node`, `${dir}shmbus.napi.node`] : [`${dir}shmbus.napi.node`];
}

/** Every place the addon may be, in the order the loader tries them; $SHMBUS_ADDON, when set, is the only one. */
export function addonCandidates(root: string = packageRoot): string[] {
  const override = process.env['SHMBUS_ADDON'];
  if (override !== undefined && override !== '') return [override];
  // A local build wins on Node (it was made for exactly this Node); on Bun and Deno it is a V8-API build that would
  // kill the process, so only the Node-API prebuild is tried there.
  const local = runtime() === 'node' ? [`${root}build/Release/shmbus.node`, `${root}build/Debug/shmbus.node`] : [];
  return [...local, ...prebuildCandidates(root)];
}
