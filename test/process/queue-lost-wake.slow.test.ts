/**
 * Opt-in (SHMBUS_SLOW=1) soak for the §3 counter-rule lost wake: a producer and a consumer in two processes stream
 * 100 000 records through an 8-slot queue, so both sides park thousands of times, twenty times over (two pairs at
 * once, to load the machine). Before the tag rule about one run in forty stalled for the producer's whole 30 s send
 * timeout (the consumer's `got` line then never came within 60 s); with it none may.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expectCleanExit, fixture, spawnPeer, trackNames } from '../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

async function pair(n: string): Promise<void> {
  const client = spawnPeer(fixture('queue-stream'), ['client', n, '100000', '8']);
  await client.line('ready');
  const server = spawnPeer(fixture('queue-stream'), ['server', n, '100000', '8']);
  assert.equal(await client.line(/^got/, 60_000), 'got 100000 end');
  assert.equal(await server.line(/^sent/), 'sent 100000');
  await expectCleanExit(client);
  await expectCleanExit(server);
}

describe('Queue: no lost wake across 40 parked streams', () => {
  for (let round = 0; round < 20; round++) {
    it(`round ${round}: two 100 000-record streams through 8 slots complete`, async () => {
      await Promise.all([pair(name('q-soak-a')), pair(name('q-soak-b'))]);
    });
  }
});
