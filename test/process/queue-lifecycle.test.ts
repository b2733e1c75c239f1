import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames } from '../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

describe('Queue lifecycles across processes', () => {
  it('a consumer that cleans up with close() does not end its producer\'s stream', async () => {
    const n = name('q-life-close');
    const q = Queue.create(n, { slots: 8, maxMessageSize: 16 });
    const consumer = spawnPeer(fixture('queue-lifecycle'), ['consume-close', n]);
    for (const m of ['a', 'b', 'c']) await q.send(m, { timeout: 30_000 });
    assert.equal(await consumer.line(/^closed/), 'closed');
    await expectCleanExit(consumer);
    assert.equal(q.ended, false);
    await q.send('still going', { timeout: 1000 });
    assert.equal(q.tryReceive()?.text(), 'still going');
    q.close();
  });

  for (const mode of ['open-async', 'open-sync'] as const) {
    it(`a consumer started before the queue exists waits for it to appear (${mode === 'open-async' ? 'Queue.openAsync' : 'Queue.open'} with timeout)`, async () => {
      const n = name('q-life-first');
      const consumer = spawnPeer(fixture('queue-lifecycle'), [mode, n]);
      await consumer.line('opening');
      const q = Queue.create(n, { slots: 2, maxMessageSize: 16 });
      await q.send('hello', { timeout: 30_000 });
      assert.equal(await consumer.line(/^got/), 'got hello');
      await expectCleanExit(consumer);
      q.close();
    });
  }

  it('after unref() a pending receive does not keep the process alive: the child exits by itself', async () => {
    const n = name('q-life-unref');
    const q = Queue.create(n, { slots: 2, maxMessageSize: 16 });
    const child = spawnPeer(fixture('queue-lifecycle'), ['unref', n], { watchdogMs: 20_000 });
    await child.line('pending');
    assert.equal(await child.line('exiting'), 'exiting');
    assert.equal(await child.exited, 0);
    q.close();
  });
});
