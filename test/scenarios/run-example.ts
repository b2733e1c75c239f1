/**
 * Runs an example's orchestrator (dist/examples/<name>/main.js) as a real process, with the venv's Python for its
 * Python programs, and returns its whole stdout once it exited 0 (a failure: its exit code, stderr and stdout).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnPeer } from '../helpers/index.js';
import { venvPython } from '../helpers/peers.js';

export async function runExample(example: string, args: string[], watchdogMs = 60_000): Promise<{ text: string; lines: string[] }> {
  const main = fileURLToPath(new URL(`../../examples/${example}/main.js`, import.meta.url));
  const peer = spawnPeer(main, args, { env: { ...process.env, SHMBUS_VENV_PYTHON: venvPython() }, watchdogMs });
  const out: string[] = [];
  peer.child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  const code = await peer.exited;
  const text = out.join('');
  assert.equal(code, 0, `examples/${example} exited with ${code}; stderr:\n${peer.stderr()}\nstdout:\n${text}`);
  return { text, lines: text.split('\n') };
}
