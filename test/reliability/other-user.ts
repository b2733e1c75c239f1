/**
 * Runs Node programs of this package as another user wherever npm test runs: a checkout under a private home
 * directory (CI's /root) is not readable by that user, so the compiled package (dist/src), the program and the
 * native addon are copied into a temporary directory the other user can read, and node runs from there.
 */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { spawnPeer, type Peer } from '../helpers/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function openUp(path: string): void {
  chmodSync(path, statSync(path).isDirectory() ? 0o755 : 0o644);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) openUp(join(path, e));
}

export interface OtherUser {
  /** Why the tests cannot run here (not root, no setpriv), or null. */
  readonly skip: string | null;
  /** Spawns `program` (a compiled file under dist/) as user `uid` (default nobody, 65534). */
  spawn(program: string, args?: string[], uid?: number): Peer;
  cleanup(): void;
}

export function otherUser(): OtherUser {
  if (process.getuid?.() !== 0) return { skip: 'needs root to switch users', spawn: () => { throw new Error('skipped'); }, cleanup: () => {} };
  if (spawnSync('setpriv', ['--version']).status !== 0) return { skip: 'setpriv is missing (util-linux)', spawn: () => { throw new Error('skipped'); }, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'shmbus-otheruser-'));
  cpSync(join(root, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
  cpSync(join(root, 'dist', 'test', 'fixtures', 'lib.js'), join(dir, 'dist', 'test', 'fixtures', 'lib.js'));
  const addon = process.env['SHMBUS_ADDON'] ?? join(root, 'build', 'Release', 'shmbus.node');
  cpSync(addon, join(dir, 'build', 'Release', 'shmbus.node'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  openUp(dir);
  return {
    skip: null,
    spawn(program, args = [], uid = 65534) {
      const rel = relative(root, program);
      const copy = join(dir, rel);
      mkdirSync(dirname(copy), { recursive: true, mode: 0o755 });
      cpSync(program, copy);
      openUp(dirname(copy));
      openUp(copy);
      const env = { ...process.env, SHMBUS_ADDON: join(dir, 'build', 'Release', 'shmbus.node') };
      return spawnPeer(copy, args, { env, cwd: dir, wrap: ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'] });
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
