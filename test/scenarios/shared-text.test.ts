/**
 * examples/shared-text end to end with real processes: Node, Python and C++ instances share one text in a Mailbox;
 * every edit reaches the other instances (each says what it sees), a late instance starts at the current text,
 * the same text prints the same in the three languages, a simultaneous burst converges, and the name is removed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { trackNames } from '../helpers/index.js';
import { runExample } from './example-run.js';

const names = trackNames();
after(names.cleanup);

describe('examples/shared-text', () => {
  it('Node, Python and C++ instances each see every edit made by the others, a late one the current text', async () => {
    const name = names.name('shared-text');
    const run = await runExample('shared-text', [name]);
    assert.equal(run.code, 0, run.all);
    const { lines } = run;
    const has = (line: string): void => assert.ok(lines.includes(line), `missing line ${JSON.stringify(line)} in:\n${lines.join('\n')}`);

    has(`  | A (node) created "${name}": version 0: ""`);
    has(`  | B (python) opened "${name}": version 0: ""`);
    has('  | B (python) sees version 1: "Hello from Node"');
    has('  | A (node) sees version 2: "Grüße aus Python 🐍"'); // UTF-8 from Python, as Node reads it
    has(`  | C (cpp) opened "${name}": version 2: "Grüße aus Python 🐍"`); // started later: the current text
    const quoted = JSON.stringify('C++ was here: "quotes" \\ and tabs\tok'); // the same escapes in all three
    has(`  | A (node) sees version 3: ${quoted}`);
    has(`  | B (python) sees version 3: ${quoted}`);
    has('  | B (python) sees version 4: "Node again, after C++"');
    has('  | C (cpp) sees version 4: "Node again, after C++"');
    for (const id of ['A (node)', 'B (python)', 'C (cpp)']) has(`  | ${id}: bye`);

    // The burst: three writes, versions 5..7 in some order, and every instance's last word is version 7.
    const final = lines.find((l) => l.startsWith('final: '));
    assert.match(final ?? '', /^final: version 7: "[ABC] wins\?"$/);
    const finalText = final!.slice('final: version 7: '.length);
    for (const id of ['A (node)', 'B (python)', 'C (cpp)']) {
      const own = lines.filter((l) => l.startsWith(`  | ${id} `) && / (wrote|sees) version \d+: /.test(l));
      assert.match(own.at(-1)!, new RegExp(`version 7: ${finalText.replace(/[?"]/g, '\\$&')}$`), `${id} did not end on version 7`);
    }
    assert.deepEqual(
      lines.filter((l) => /^[ABC]: started/.test(l)).map((l) => l.replace(/, saw .*/, '')),
      ['A: started at version 0', 'B: started at version 0', 'C: started at version 2'],
    );
    assert.equal(existsSync(`/dev/shm/shmbus.${name}`), false, 'the example removes its mailbox');
  });
});
