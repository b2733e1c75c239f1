import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Segment } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, wakeUntilWoken } from '../helpers/index.js';

const { name: fresh, cleanup } = trackNames();
after(cleanup);

describe('Segment.unref: pending waits and the event loop', () => {
  it('a process whose only pending work is a wait on an unref’d segment exits by itself', async () => {
    const seg = Segment.create(fresh('unref'), { size: 64 });
    const peer = spawnPeer(fixture('unref-waiter'), [seg.name, 'unref']);
    await peer.line('waiting');
    await expectCleanExit(peer); // the 60 s wait did not hold it (the watchdog would fail the test)
    seg.close();
  });

  it('ref() after unref() keeps the process waiting until the word is woken', async () => {
    const seg = Segment.create(fresh('reref'), { size: 64 });
    const peer = spawnPeer(fixture('unref-waiter'), [seg.name, 'reref']);
    await peer.line('waiting');
    Atomics.store(seg.words, 0, 1);
    assert.ok((await wakeUntilWoken(seg, 0)) >= 1);
    assert.equal(await peer.line(/^woken/), 'woken ok');
    await expectCleanExit(peer);
    seg.close();
  });
});
