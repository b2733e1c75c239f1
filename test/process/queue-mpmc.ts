/** The N producers x M consumers run shared by the default and the slow queue tests. */
import assert from 'node:assert/strict';
import { Queue, Segment } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, uniqueName, unlinkQuietly } from '../helpers/index.js';

export interface MpmcResult {
  delivered: number;
  ms: number;
}

/**
 * Runs `producers` child processes sending `perProducer` checksummed messages each into one queue, and `consumers`
 * child processes receiving them; then proves every message arrived exactly once, uncorrupted, in order per producer
 * (each consumer checks order and checksums; a shared tally counts every (producer, seq)).
 */
export async function runMpmc(producers: number, consumers: number, perProducer: number, watchdogMs: number): Promise<MpmcResult> {
  const name = uniqueName('q-mpmc');
  const tallyName = uniqueName('q-tally');
  const q = Queue.create(name, { slots: 256, maxMessageSize: 64 });
  const tally = Segment.create(tallyName, { size: producers * perProducer });
  try {
    const start = performance.now();
    const cons = Array.from({ length: consumers }, () =>
      spawnPeer(fixture('queue-consumer'), [name, tallyName, String(perProducer)], { watchdogMs }),
    );
    await Promise.all(cons.map((c) => c.line('ready')));
    const prods = Array.from({ length: producers }, (_, id) =>
      spawnPeer(fixture('queue-producer'), [name, String(id), String(perProducer), '64'], { watchdogMs }),
    );
    await Promise.all(prods.map((p) => p.line(/^done/, watchdogMs)));
    await Promise.all(prods.map(expectCleanExit));
    q.end();
    const counts = await Promise.all(cons.map(async (c) => Number((await c.line(/^consumed/, watchdogMs)).split(' ')[1])));
    await Promise.all(cons.map(expectCleanExit));
    const ms = performance.now() - start;
    const delivered = counts.reduce((a, b) => a + b, 0);
    assert.equal(delivered, producers * perProducer, `delivered ${delivered} of ${producers * perProducer}`);
    const marks = tally.bytes;
    for (let i = 0; i < producers * perProducer; i++) {
      if (marks[i] !== 1) assert.fail(`producer ${Math.floor(i / perProducer)} seq ${i % perProducer} delivered ${marks[i]} times`);
    }
    assert.equal(q.length, 0);
    const s = q.stats();
    assert.deepEqual([s.length, s.abandoned, s.lost], [0, 0, 0]);
    return { delivered, ms };
  } finally {
    q.close();
    tally.close();
    unlinkQuietly(name, tallyName);
  }
}
