/** Runs the real bin (dist/cli/shmbus.js) as a child process, as a user would. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const bin = fileURLToPath(new URL('../../cli/shmbus.js', import.meta.url));
export const peerFile = fileURLToPath(new URL('./peer.js', import.meta.url));

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function cli(...args: string[]): Run {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The frame pattern peers publish (`frame W H FORMAT SEED`) and tests check pixel by pixel. */
export function pattern(x: number, y: number, c: number, seed: number): number {
  return (x * 7 + y * 13 + c * 50 + seed) & 255;
}
