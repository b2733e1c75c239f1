/**
 * Timeouts above setTimeout's 2^31-1 ms mean "that long" (defect 3): a wait with such a timeout is still pending
 * after a round trip to another process (far more than the 1 ms a clamped timer would give), then completes when
 * that process wakes it. The same for a sync wait, where the addon turns the timeout into a deadline.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Segment } from '../../src/index.js';
import { waitAsync, waitSync } from '../../src/base/futex.js';
import { fixture, spawnPeer, trackNames, expectCleanExit } from '../helpers/index.js';

const { name: fresh, cleanup } = trackNames();
after(cleanup);

const HUGE = [2 ** 31, 2 ** 31 + 1, 2 ** 40, Number.MAX_SAFE_INTEGER, 1e300, Infinity];

describe('timeouts above 2^31-1 ms', () => {
  it('waitAsync with a huge timeout is still pending after a round trip, then completes when woken', async () => {
    const name = fresh('huge');
    const seg = Segment.create(name, { size: 64 });
    const peer = spawnPeer(fixture('native-waker'), [name]);
    try {
      await peer.line('ready');
      for (const timeout of HUGE) {
        let settled: string | undefined;
        const p = waitAsync(seg.words, 0, 0, { timeout }).then((r) => (settled = r));
        // Two round trips to another process: many ms, while a clamped timer fires after 1 ms.
        for (let i = 0; i < 2; i++) {
          peer.send('ping');
          await peer.line('pong');
        }
        await new Promise((r) => setImmediate(r));
        assert.equal(settled, undefined, `timeout ${timeout}: the wait ended early`);
        peer.send('wake 0');
        await peer.line(/^woke /);
        assert.equal(await p, 'ok', `timeout ${timeout}`);
      }
      peer.send('exit');
      await expectCleanExit(peer);
    } finally {
      peer.kill();
      seg.close();
    }
  });

  it('a sync wait with a huge timeout blocks until another process wakes it', async () => {
    const name = fresh('hugesync');
    const seg = Segment.create(name, { size: 64 });
    const peer = spawnPeer(fixture('native-waker'), [name]);
    try {
      await peer.line('ready');
      for (const timeout of HUGE) {
        // The peer wakes word 1 until the kernel reports a sleeper: it returns only once we are parked.
        peer.send('wake 1');
        assert.equal(waitSync(seg.words, 1, 0, timeout), 'ok', `timeout ${timeout}`);
        await peer.line(/^woke /);
      }
      peer.send('exit');
      await expectCleanExit(peer);
    } finally {
      peer.kill();
      seg.close();
    }
  });
});
