/**
 * Every ```js block of README.md runs as written (as an ES module inside this package, so `import ... from
 * 'shmbus'` resolves to this checkout) and exits cleanly: the README's examples work when pasted.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expectCleanExit, spawnPeer } from './helpers/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = fileURLToPath(new URL(`../readme-snippets-${process.pid}/`, import.meta.url));
mkdirSync(dir, { recursive: true });
after(() => rmSync(dir, { recursive: true, force: true }));

describe('README examples', () => {
  it('has examples to run', () => assert.ok(blocks.length >= 5));
  blocks.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.includes('.create(') || l.includes('.serve(')) ?? code.split('\n')[0]!;
    it(`snippet ${i + 1} runs when pasted: ${title.trim().slice(0, 60)}`, async () => {
      const file = `${dir}snippet-${i + 1}.mjs`;
      writeFileSync(file, code);
      const peer = spawnPeer(file);
      await expectCleanExit(peer);
    });
  });
});
