/**
 * A client holding a request loan while its server dies: the loan's slot must go back to the ring (abort or
 * commit) in the shared mapping, so that a new server is not wedged behind a slot left WRITING under the client's
 * live pid. Regression test: the client used to close the dead service's mapping (reconnecting) before aborting
 * the loan, so the abort missed the shared slot and every later request timed out.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rpc, isShmbusError } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';

const { name, cleanup } = trackNames((n) => Rpc.unlink(n));
after(cleanup);

async function serve(n: string): Promise<Peer> {
  const srv = spawnPeer(fixture('rpc-zc'), ['serve', n, '4096']);
  await srv.line('serving');
  return srv;
}

describe('Rpc request loans across a server restart', () => {
  it('a loan open while its server is killed fails with ERR_NO_SERVER; a new server then answers the same client', async () => {
    const n = name('rpc-loan-restart');
    const first = await serve(n);
    const client = Rpc.connect(n);
    try {
      const ok = await client.request(new Uint8Array([1, 2, 3]), { timeout: 10_000 });
      assert.deepEqual([...ok.data], [254, 253, 252]);
      const loan = await client.loan(4, { timeout: 10_000 });
      loan.bytes.set([9, 9, 9, 9]);
      first.kill('SIGKILL');
      await first.exited;
      // A copying request reconnects (and finds no server) while the loan is still open.
      await assert.rejects(client.request(new Uint8Array([5]), { timeout: 10_000 }), (e: unknown) => isShmbusError(e, 'ERR_NO_SERVER'));
      await assert.rejects(loan.commit(), (e: unknown) => isShmbusError(e, 'ERR_NO_SERVER'));
      const second = await serve(n);
      try {
        const again = await client.request(new Uint8Array([7, 8]), { timeout: 10_000 });
        assert.deepEqual([...again.data], [248, 247]);
        const loan2 = await client.loan(2, { timeout: 10_000 });
        loan2.bytes.set([0, 1]);
        const viaLoan = await loan2.commit(2, { timeout: 10_000 });
        assert.deepEqual([...viaLoan.data], [255, 254]);
      } finally {
        second.send('stop');
        await expectCleanExit(second);
      }
    } finally {
      client.close();
    }
  });
});
