/**
 * kill -9 of producers at arbitrary points of a busy stream (a 4-slot queue, so sends often wait or sit in the
 * middle of a slot): the consumers never hang, every message whose send returned is delivered exactly once, the
 * one send in flight at the kill is delivered at most once, and nothing else appears.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames } from '../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

const PRODUCERS = 6;
const PER = 200_000; // more than any producer gets to send before it is killed

describe('Queue under kill -9', () => {
  it('producers killed at arbitrary points: consumers go on, every acknowledged message arrives exactly once', async (t) => {
    const qName = name('q-chaos');
    const tallyName = name('q-chaos-tally');
    const acksName = name('q-chaos-acks');
    const q = Queue.create(qName, { slots: 4, maxMessageSize: 64 });
    const tally = Segment.create(tallyName, { size: PRODUCERS * PER });
    const acks = Segment.create(acksName, { size: 64 });
    const consumers = [0, 1].map(() => spawnPeer(fixture('queue-consumer'), [qName, tallyName, String(PER)]));
    await Promise.all(consumers.map((c) => c.line('ready')));
    for (let id = 0; id < PRODUCERS; id++) {
      if (id === PRODUCERS >> 1) {
        // One kill at the marked point inside a write, so that the run certainly exercises a recovery.
        const stuck = spawnPeer(fixture('queue-stuck'), ['write-only', qName]);
        await stuck.line('stuck');
        stuck.kill('SIGKILL');
        await stuck.exited;
      }
      const p = spawnPeer(fixture('queue-producer'), [qName, String(id), String(PER), '64', acksName]);
      await p.line('ready');
      // Kill it once it has sent a few hundred to a few thousand messages (a different point each time).
      const killAfter = 300 + ((id * 7919) % 3000);
      // SYNC TEST-ACK (acquire): the producer's count of returned sends.
      while (Atomics.load(acks.words, id) < killAfter) await new Promise((r) => setImmediate(r));
      p.kill('SIGKILL');
      assert.equal(await p.exited, 'SIGKILL');
    }
    q.end();
    const counts = await Promise.all(consumers.map(async (c) => Number((await c.line(/^consumed/)).split(' ')[1])));
    await Promise.all(consumers.map(expectCleanExit));
    let delivered = 0;
    let inFlightDelivered = 0;
    for (let id = 0; id < PRODUCERS; id++) {
      const acked = Atomics.load(acks.words, id);
      for (let seq = 0; seq < PER; seq++) {
        const n = tally.bytes[id * PER + seq]!;
        if (seq < acked && n !== 1) assert.fail(`producer ${id}: acknowledged message ${seq} delivered ${n} times`);
        if (seq === acked && n > 1) assert.fail(`producer ${id}: in-flight message ${seq} delivered ${n} times`);
        if (seq > acked && n !== 0) assert.fail(`producer ${id}: message ${seq} was never sent but delivered`);
        delivered += n;
        if (seq === acked) inFlightDelivered += n;
      }
    }
    assert.equal(delivered, counts[0]! + counts[1]!);
    const stats = q.stats();
    assert.ok(stats.abandoned >= 1, 'the writer killed inside its write was recovered');
    assert.equal(stats.lost, 0);
    t.diagnostic(`${delivered} messages delivered; in-flight sends at the kills: ${inFlightDelivered} of ${PRODUCERS} delivered, ${stats.abandoned} slots abandoned and recovered`);
    q.close();
    tally.close();
    acks.close();
  });
});
