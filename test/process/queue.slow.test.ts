import { describe, it } from 'node:test';
import { runMpmc } from './queue-mpmc.js';

describe('Queue across processes (full size)', () => {
  it('4 producers x 4 consumers: 1 000 000 messages, every one delivered exactly once, in order per producer, uncorrupted', async (t) => {
    const r = await runMpmc(4, 4, 250_000, 600_000);
    t.diagnostic(`${r.delivered} messages in ${r.ms.toFixed(0)} ms (${((r.delivered / r.ms) * 1000).toFixed(0)} msg/s)`);
  });
});
