import { describe, it } from 'node:test';
import { runRpcLoad } from './rpc-load.js';

describe('Rpc across processes (full size)', () => {
  it('8 clients x 10 000 requests against 2 workers: every response reaches the client that asked, matched by id', async (t) => {
    const ms = await runRpcLoad(8, 10_000, 1, 2, 600_000);
    t.diagnostic(`80 000 requests in ${ms.toFixed(0)} ms (${((80_000 / ms) * 1000).toFixed(0)} req/s)`);
  });
});
