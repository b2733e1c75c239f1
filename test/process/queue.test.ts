import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames } from '../helpers/index.js';
import { runMpmc } from './queue-mpmc.js';

const { name, cleanup } = trackNames();
after(cleanup);

describe('Queue across processes', () => {
  it('4 producers x 4 consumers: every message delivered exactly once, in order per producer, uncorrupted (100 000 messages)', async (t) => {
    const r = await runMpmc(4, 4, 25_000, 60_000);
    t.diagnostic(`${r.delivered} messages in ${r.ms.toFixed(0)} ms`);
  });

  it('backpressure: a producer faster than its consumer finds the queue full, waits, and nothing is dropped', async () => {
    const n = name('q-bp');
    const q = Queue.create(n, { slots: 16, maxMessageSize: 64 });
    const tallyFree = 2000;
    // The producer starts with nobody receiving: it must fill exactly 16 slots and then wait.
    const p = spawnPeer(fixture('queue-producer'), [n, '0', String(tallyFree), '64']);
    await p.line('ready');
    const waitFull = async (): Promise<void> => {
      for (;;) {
        if (q.length === q.slots) return;
        await new Promise((r) => setImmediate(r));
      }
    };
    await waitFull();
    assert.equal(q.length, 16);
    let next = 0;
    let maxLength = 0;
    while (next < tallyFree) {
      maxLength = Math.max(maxLength, q.length);
      const m = await q.receive({ timeout: 30_000 });
      const seq = new DataView(m!.data.buffer).getUint32(4, true);
      assert.equal(seq, next++);
    }
    assert.ok(maxLength <= 16);
    await p.line(/^done/);
    await expectCleanExit(p);
    assert.equal(q.tryReceive(), null);
    q.close();
  });

  for (const first of ['client', 'server'] as const) {
    it(`seed-004 file-list stream: 100 000 records then end of stream, ${first} started first`, async () => {
      const n = name('q-files');
      const a = spawnPeer(fixture('queue-stream'), [first, n, '100000']);
      await a.line('ready');
      const b = spawnPeer(fixture('queue-stream'), [first === 'client' ? 'server' : 'client', n, '100000']);
      const client = first === 'client' ? a : b;
      const server = first === 'client' ? b : a;
      assert.equal(await client.line(/^got/, 60_000), 'got 100000 end');
      assert.equal(await server.line(/^sent/), 'sent 100000');
      await expectCleanExit(a);
      await expectCleanExit(b);
    });
  }

  it('kill -9 of a producer in the middle of writing a slot: a waiting consumer recovers (bounded) and no committed message is lost', async (t) => {
    const n = name('q-kill-p');
    const q = Queue.create(n, { slots: 8, maxMessageSize: 64 });
    const stuck = spawnPeer(fixture('queue-stuck'), ['write', n]);
    await stuck.line('stuck');
    // Committed after the stuck slot: must be delivered once the stuck slot is recovered.
    assert.equal(q.trySend('after-1'), true);
    assert.equal(q.trySend('after-2'), true);
    assert.equal((await q.receive({ timeout: 5000 }))?.text(), 'before');
    const waiting = q.receive({ timeout: 10_000 });
    const killedAt = performance.now();
    stuck.kill('SIGKILL');
    assert.equal((await waiting)?.text(), 'after-1');
    const recoveryMs = performance.now() - killedAt;
    assert.equal((await q.receive({ timeout: 5000 }))?.text(), 'after-2');
    assert.equal(q.tryReceive(), null);
    assert.equal(q.stats().abandoned, 1);
    t.diagnostic(`recovered ${recoveryMs.toFixed(1)} ms after kill -9 (liveness check every 50 ms while parked)`);
    await stuck.exited;
    // The ring keeps working across the recovered slot, lap after lap.
    for (let i = 0; i < 40; i++) {
      assert.equal(q.trySend(`x${i}`), true);
      assert.equal(q.tryReceive()?.text(), `x${i}`);
    }
    q.close();
  });

  it('kill -9 of a consumer while it waits: the other consumers go on and get every message', async () => {
    const n = name('q-kill-c');
    const q = Queue.create(n, { slots: 8, maxMessageSize: 64 });
    const waiter = spawnPeer(fixture('queue-stuck'), ['wait', n]);
    await waiter.line('waiting');
    waiter.kill('SIGKILL');
    await waiter.exited;
    const got: string[] = [];
    for (let i = 0; i < 100; i++) {
      await q.send(`m${i}`, { timeout: 5000 });
      got.push((await q.receive({ timeout: 5000 }))!.text());
    }
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `m${i}`));
    q.close();
  });

  it('kill -9 of a consumer that took a message: that message is lost (counted), the slot is recovered, the queue goes on', async () => {
    const n = name('q-kill-t');
    const q = Queue.create(n, { slots: 4, maxMessageSize: 64 });
    await q.send('taken-by-the-dead');
    const taker = spawnPeer(fixture('queue-stuck'), ['take', n]);
    await taker.line('taken');
    taker.kill('SIGKILL');
    await taker.exited;
    // Fill the ring: the producer reaches the dead consumer's slot, finds its holder dead, and reclaims it.
    for (let i = 0; i < 4; i++) await q.send(`m${i}`, { timeout: 5000 });
    assert.equal(q.stats().lost, 1);
    const got: string[] = [];
    for (let m = q.tryReceive(); m !== null; m = q.tryReceive()) got.push(m.text());
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3']);
    q.close();
  });
});
