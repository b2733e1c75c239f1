/**
 * Queue across languages: C peers (c/tests/peers/queue-peer.c) and Node fixtures (queue-stream, queue-producer,
 * queue-consumer, queue-stuck) on one queue, both directions: a lossless 100 000-message stream with end of stream,
 * C and Node producers and consumers mixed (every message exactly once, proven by a shared tally), and a producer
 * killed -9 in the middle of writing a slot, recovered by a consumer of the other language.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';

const names = trackNames();
after(names.cleanup);

const STREAM = 100_000;

describe('Queue across C and Node', () => {
  for (const producer of ['C', 'Node'] as const) {
    it(`lossless ${STREAM}-record stream with end of stream, ${producer} producer -> ${producer === 'C' ? 'Node' : 'C'} consumer`, async () => {
      const name = names.name('xq-stream');
      // The consumer starts first (both sides openOrCreate, as the fixture does).
      const client = producer === 'C' ? spawnPeer(fixture('queue-stream'), ['client', name, String(STREAM)]) : spawnC('queue-peer', ['stream', 'client', name, String(STREAM)]);
      let server: Peer | undefined;
      try {
        await client.line('ready');
        server = producer === 'C' ? spawnC('queue-peer', ['stream', 'server', name, String(STREAM)]) : spawnPeer(fixture('queue-stream'), ['server', name, String(STREAM)]);
        assert.equal(await client.line(/^got/, 90_000), `got ${STREAM} end`);
        assert.equal(await server.line(/^sent/, 90_000), `sent ${STREAM}`);
        await expectCleanExit(client);
        await expectCleanExit(server);
      } finally {
        client.kill();
        server?.kill();
      }
    });
  }

  it('2 C + 2 Node producers and 2 C + 2 Node consumers on one queue: every one of 100 000 messages exactly once, in order per producer', async () => {
    const name = names.name('xq-mpmc');
    const tallyName = names.name('xq-tally');
    const per = 25_000;
    const q = Queue.create(name, { slots: 64, maxMessageSize: 64 });
    const tally = Segment.create(tallyName, { size: 4 * per });
    const peers: Peer[] = [];
    try {
      const consumers = [
        spawnC('queue-peer', ['consume', name, tallyName, String(per)]),
        spawnC('queue-peer', ['consume', name, tallyName, String(per)]),
        spawnPeer(fixture('queue-consumer'), [name, tallyName, String(per)]),
        spawnPeer(fixture('queue-consumer'), [name, tallyName, String(per)]),
      ];
      peers.push(...consumers);
      await Promise.all(consumers.map((c) => c.line('ready')));
      const producers = [
        spawnC('queue-peer', ['produce', name, '0', String(per), '64']),
        spawnPeer(fixture('queue-producer'), [name, '1', String(per), '64']),
        spawnC('queue-peer', ['produce', name, '2', String(per), '48']),
        spawnPeer(fixture('queue-producer'), [name, '3', String(per), '40']),
      ];
      peers.push(...producers);
      const done = await Promise.all(producers.map((p) => p.line(/^done/, 120_000)));
      assert.deepEqual(done.sort(), [0, 1, 2, 3].map((i) => `done ${i} ${per}`));
      q.end();
      const consumed = await Promise.all(consumers.map((c) => c.line(/^consumed/, 120_000)));
      assert.equal(consumed.reduce((sum, l) => sum + Number(l.split(' ')[1]), 0), 4 * per);
      for (const p of peers) await expectCleanExit(p);
      const marks = tally.bytes;
      let wrong = 0;
      for (let i = 0; i < 4 * per; i++) if (marks[i] !== 1) wrong++;
      assert.equal(wrong, 0, 'every (producer, seq) received exactly once');
      assert.equal(q.tryReceive(), null);
    } finally {
      for (const p of peers) p.kill();
      tally.close();
      q.close();
    }
  });

  it('a C producer killed -9 in the middle of writing a slot: a waiting Node consumer recovers it, nothing committed is lost', async () => {
    const name = names.name('xq-kill-c');
    const q = Queue.create(name, { slots: 8, maxMessageSize: 64 });
    const stuck = spawnC('queue-peer', ['stuck', name]);
    try {
      await stuck.line('stuck');
      // Committed after the stuck slot: delivered once the stuck slot is recovered.
      assert.equal(q.trySend('after-1'), true);
      assert.equal(q.trySend('after-2'), true);
      assert.equal((await q.receive({ timeout: 5000 }))?.text(), 'before');
      const waiting = q.receive({ timeout: 20_000 });
      stuck.kill('SIGKILL');
      assert.equal((await waiting)?.text(), 'after-1');
      assert.equal((await q.receive({ timeout: 5000 }))?.text(), 'after-2');
      assert.equal(q.tryReceive(), null);
      assert.deepEqual([q.stats().abandoned, q.stats().lost], [1, 0]);
      await stuck.exited;
    } finally {
      stuck.kill();
      q.close();
    }
  });

  it('a Node producer killed -9 in the middle of writing a slot: a waiting C consumer recovers it, nothing committed is lost', async () => {
    const name = names.name('xq-kill-n');
    const q = Queue.create(name, { slots: 8, maxMessageSize: 64 });
    const stuck = spawnPeer(fixture('queue-stuck'), ['write', name]);
    let consumer: Peer | undefined;
    try {
      await stuck.line('stuck');
      assert.equal(q.trySend('after-1'), true);
      assert.equal(q.trySend('after-2'), true);
      consumer = spawnC('queue-peer', ['recv', name, '3']);
      assert.equal(await consumer.line(/^got/), 'got before');
      stuck.kill('SIGKILL');
      assert.equal(await consumer.line(/^got/, 20_000), 'got after-1');
      assert.equal(await consumer.line(/^got/), 'got after-2');
      assert.equal(await consumer.line(/^stats/), 'stats abandoned=1 lost=0');
      await expectCleanExit(consumer);
      assert.equal(q.tryReceive(), null);
      await stuck.exited;
    } finally {
      stuck.kill();
      consumer?.kill();
      q.close();
    }
  });

  it('a Node consumer killed -9 holding a taken slot: a C producer that needs the slot recovers it (lost 1), the queue goes on', async () => {
    const name = names.name('xq-kill-t');
    const q = Queue.create(name, { slots: 4, maxMessageSize: 64 });
    await q.send('taken-by-the-dead', { timeout: 5000 });
    const taker = spawnPeer(fixture('queue-stuck'), ['take', name]);
    let producer: Peer | undefined;
    try {
      await taker.line('taken');
      taker.kill('SIGKILL');
      await taker.exited;
      // Four messages into a 4-slot ring: the fourth needs the dead consumer's slot.
      producer = spawnC('queue-peer', ['produce', name, '5', '4', '16']);
      assert.equal(await producer.line(/^done/, 20_000), 'done 5 4');
      await expectCleanExit(producer);
      assert.deepEqual([q.stats().lost, q.stats().abandoned], [1, 0]);
      const seqs: number[] = [];
      for (let m = q.tryReceive(); m !== null; m = q.tryReceive()) seqs.push(new DataView(m.data.buffer, m.data.byteOffset).getUint32(4, true));
      assert.deepEqual(seqs, [0, 1, 2, 3]);
    } finally {
      taker.kill();
      producer?.kill();
      q.close();
    }
  });
});
