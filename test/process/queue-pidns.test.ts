/**
 * Defect 5 (issue 10): a slot holder in another pid namespace (containers sharing /dev/shm but not pids) is never
 * judged dead: its pid means nothing here. `unshare --user --map-root-user --pid --fork` gives the child its own
 * pid namespace (it is pid 1 or 2 there, a kernel thread's pid here).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Queue, isShmbusError } from '../../src/index.js';
import { fixture, spawnPeer, trackNames } from '../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

// --mount-proc: the child sees its own namespace's /proc (so it records its real start time there).
// --kill-child: killing unshare (the peer's process) kills the child in the namespace too.
const UNSHARE = ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL'];
const canUnshare = spawnSync(UNSHARE[0]!, [...UNSHARE.slice(1), 'true']).status === 0;

describe('Queue across pid namespaces', { skip: canUnshare ? false : 'unshare --user --pid is not available here' }, () => {
  it('a sender in another pid namespace holding a slot is never recovered (its pid is meaningless here)', async () => {
    const n = name('q-pidns');
    const q = Queue.create(n, { slots: 4, maxMessageSize: 16, livenessInterval: 10 });
    const stuck = spawnPeer(fixture('queue-stuck'), ['write', n], { wrap: UNSHARE });
    try {
      await stuck.line('stuck');
      assert.equal(q.trySend('after'), true);
      assert.equal((await q.receive({ timeout: 5000 }))?.text(), 'before');
      // Many liveness checks of the stuck slot (every 10 ms): none may take it.
      await assert.rejects(q.receive({ timeout: 300 }), (e) => isShmbusError(e, 'ERR_TIMEOUT'));
      assert.equal(q.tryReceive(), null);
      assert.equal(q.tryReceive(), null);
      assert.equal(q.stats().abandoned, 0);
    } finally {
      stuck.kill('SIGKILL');
      await stuck.exited;
      q.close();
    }
  });
});
