/**
 * Regression (found by kills-request-reply.test.ts): when every worker entry of a service is taken, a joining server
 * reclaims a dead worker's entry. It used to take the first dead one even while it was BUSY, erasing the only sign
 * that a client's request died with that worker: the client then waited for its timeout (forever by default)
 * instead of getting ERR_NO_SERVER. Joins now take dead idle entries before dead busy ones.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rpc, isShmbusError } from '../../src/index.js';
import { trackNames } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { unlinkAny } from './lib.js';

const { name, cleanup } = trackNames(unlinkAny);
after(cleanup);

describe('Rpc: a dead busy worker entry is reclaimed last', () => {
  it('the request a killed worker held fails with ERR_NO_SERVER even when a new server joins at once', async () => {
    const svc = name('reclaim');
    // A (entry 0) takes the request and never answers; then 62 live workers and B (idle) fill the table.
    const a = spawnC('rpc-peer', ['serve', svc, '1']);
    await a.line('serving');
    const client = Rpc.connect(svc, { livenessInterval: 2000 });
    const pending = client.request('hang', { timeout: 12_000 }).then(
      () => 'answered',
      (e: unknown) => (isShmbusError(e) ? e.code : String(e)),
    );
    await a.line(/^handling/);
    const survivor = Rpc.serve(svc, () => 'ok', { workers: 62 });
    const b = spawnC('rpc-peer', ['serve', svc, '1']);
    await b.line('serving');
    try {
      a.kill('SIGKILL');
      b.kill('SIGKILL');
      await a.exited;
      await b.exited;
      // The table is full (62 live, 2 dead): this join must take B's idle entry, not A's busy one, before the
      // client's next liveness check (2 s) looks at A's entry.
      const joiner = Rpc.serve(svc, () => 'ok', { workers: 1 });
      assert.equal(await pending, 'ERR_NO_SERVER');
      await joiner.close();
    } finally {
      a.kill();
      b.kill();
      client.close();
      await survivor.close();
    }
  });
});
