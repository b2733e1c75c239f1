/** The clients x requests run shared by the default and the slow rpc tests. */
import assert from 'node:assert/strict';
import { Rpc } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, uniqueName } from '../helpers/index.js';

/** `clients` processes send `perClient` requests each to `servers` server processes of `workers` workers each. */
export async function runRpcLoad(clients: number, perClient: number, servers: number, workers: number, watchdogMs: number): Promise<number> {
  const name = uniqueName('rpc-load');
  try {
    const srv = Array.from({ length: servers }, () => spawnPeer(fixture('rpc-server'), [name, String(workers)], { watchdogMs }));
    await Promise.all(srv.map((s) => s.line('serving')));
    const start = performance.now();
    const cl = Array.from({ length: clients }, (_, i) =>
      spawnPeer(fixture('rpc-client'), [name, `c${i}`, String(perClient), '4'], { watchdogMs }),
    );
    const done = await Promise.all(cl.map((c) => c.line(/^done/, watchdogMs)));
    const ms = performance.now() - start;
    for (const d of done) assert.equal(d, `done ${perClient}`);
    await Promise.all(cl.map(expectCleanExit));
    for (const s of srv) s.send('stop');
    const served = await Promise.all(srv.map(async (s) => Number((await s.line(/^stopped/)).split(' ')[1])));
    await Promise.all(srv.map(expectCleanExit));
    assert.equal(served.reduce((a, b) => a + b, 0), clients * perClient);
    return ms;
  } finally {
    Rpc.unlink(name);
  }
}
