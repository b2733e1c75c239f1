/**
 * examples/image-service end to end with real processes: Node, Python and C++ clients send images + JSON parameters
 * as Parts over Rpc to a Python (numpy) service that is killed (kill -9) midway and replaced by a C++ one; every
 * answer is checked pixel by pixel by the client, every client retries through the outage and reports its totals,
 * and the example leaves nothing in /dev/shm.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { trackNames } from '../helpers/index.js';
import { Rpc } from '../../src/index.js';
import { runExample } from './example-run.js';

const names = trackNames((n) => {
  try {
    Rpc.unlink(n); // the service and dead clients' response queues, when a failed run left them
  } catch {
    // nothing there
  }
});
after(names.cleanup);

describe('examples/image-service', () => {
  it('clients in three languages get checked images from a Python then a C++ service, through a kill -9', async () => {
    const name = names.name('image-service');
    const run = await runExample('image-service', [name], 90_000);
    assert.equal(run.code, 0, run.all);
    const { out: text, lines } = run;

    assert.match(text, /\| service \(python-\d+\): serving "/);
    assert.match(text, /\| service \(cpp-\d+\): serving "/);
    assert.match(text, /\| service \(cpp-\d+\): stopped after \d+ requests/);
    for (const who of ['A (node)', 'B (python)', 'C (cpp)']) {
      assert.ok(lines.some((l) => l.includes(`| ${who}: #`) && l.includes('ERR_NO_SERVER (the service is down), retrying')), `${who} saw no outage`);
      assert.ok(lines.some((l) => l.includes(`| ${who}: #`) && / the service is back \(cpp-\d+\)$/.test(l)), `${who} never got back`);
      const done = lines.find((l) => l.startsWith(`${who}: done: `)) ?? assert.fail(`no totals from ${who}:\n${text}`);
      const m = /: done: (\d+) answered \(cpp-\d+: (\d+), python-\d+: (\d+)\), (\d+) images checked pixel by pixel, (\d+) samples differ, (\d+) refused with status 1, (\d+) retries after ERR_NO_SERVER$/.exec(done);
      assert.ok(m, `unexpected totals: ${done}`);
      const [answered, byCpp, byPython, checked, differ, refused, retries] = m.slice(1).map(Number) as number[];
      assert.equal(byCpp! + byPython!, answered);
      assert.ok(byPython! >= 3 && byCpp! >= 3, `${who}: both services answered (${done})`);
      assert.equal(differ, 0, `${who}: every pixel as computed locally`);
      // Requests cycle gray, resize, resize, unknown op: each 4th is refused with status 1, the rest are checked.
      assert.equal(refused, Math.floor(answered! / 4));
      assert.equal(checked, answered! - refused!);
      assert.ok(retries! >= 1);
    }
    // Every client's per-image lines say the pixels matched; resizes came back at the size asked.
    assert.ok(!lines.some((l) => / samples differ$/.test(l) && !/: done: /.test(l)), 'no image with differing samples');
    const left = readdirSync('/dev/shm').filter((f) => f.startsWith(`shmbus.${name}`));
    assert.deepEqual(left, [], 'the example removes the service and every response queue');
  });
});
