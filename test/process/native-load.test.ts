/**
 * Importing the package when its addon was never built (npm install --ignore-scripts) fails with an error that
 * tells the consumer what to run: a copy of the compiled package without build/, imported by a real process.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../../src', import.meta.url)); // dist/src
const tmp = mkdtempSync(join(tmpdir(), 'shmbus-unbuilt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function importIn(root: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string } {
  const entry = join(root, 'dist/src/index.js');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(entry)})`], {
    env: { ...process.env, SHMBUS_ADDON: '', ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr };
}

describe('loading the addon', () => {
  it('a package installed without its build (no build/) says to run npm rebuild shmbus', () => {
    cpSync(dist, join(tmp, 'dist/src'), { recursive: true });
    writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: 'shmbus', type: 'module' }));
    const r = importIn(tmp);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ERR_OS/);
    assert.match(r.stderr, /npm rebuild shmbus/);
    assert.match(r.stderr, /--ignore-scripts/);
  });

  it('SHMBUS_ADDON pointing at a missing file is the same error (no silent fallback)', () => {
    const r = importIn(fileURLToPath(new URL('../../..', import.meta.url)), { SHMBUS_ADDON: join(tmp, 'missing.node') });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /npm rebuild shmbus/);
    assert.match(r.stderr, /missing\.node/);
  });
});
