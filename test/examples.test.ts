/**
 * Every examples/<scenario>/ with an expected.txt runs (`node dist/examples/<scenario>/main.js`) and must print
 * lines matching expected.txt's regular expressions, in order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expectCleanExit, spawnPeer } from './helpers/index.js';

const srcRoot = fileURLToPath(new URL('../../examples/', import.meta.url));
const distRoot = fileURLToPath(new URL('../examples/', import.meta.url));

describe('examples', () => {
  for (const scenario of existsSync(srcRoot) ? readdirSync(srcRoot).sort() : []) {
    const expected = `${srcRoot}${scenario}/expected.txt`;
    if (!existsSync(expected)) continue;
    it(`examples/${scenario} prints what its expected.txt says`, async () => {
      const patterns = readFileSync(expected, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => new RegExp(l));
      const peer = spawnPeer(`${distRoot}${scenario}/main.js`, [], { watchdogMs: 120_000 });
      for (const re of patterns) assert.match(await peer.line(re, 60_000), re);
      await expectCleanExit(peer);
    });
  }
});
