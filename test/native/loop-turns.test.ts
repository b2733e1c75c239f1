/**
 * The async waiters leave the event loop its turns while waits of this process are woken by this process, and
 * settle every wait exactly once when completions pile up and cancels race them (regression of the io_uring hang:
 * its reap looped until the completion queue was empty, and an in-process ping-pong refilled it forever, so timers,
 * child stdout and SIGCHLD starved; test/reliability/kills-request-reply.test.ts, seed 3401647885). Each case runs
 * in a child process (test/native/loop-turns.ts) under a watchdog, in every waiter mode this kernel has.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnPeer, trackNames } from '../helpers/index.js';

const { name, cleanup } = trackNames();
after(cleanup);

const peerFile = fileURLToPath(new URL('./loop-turns.js', import.meta.url));
const MODES = [
  ['io_uring', 'io_uring'],
  ['waitv', 'futex_waitv'],
  ['threads', 'thread-per-wait'],
] as const;

for (const [env, kind] of MODES) {
  describe(`event loop turns with async waits (SHMBUS_WAITER=${env})`, () => {
    const run = async (scenario: string, t: { skip(m: string): void }): Promise<void> => {
      const peer = spawnPeer(peerFile, [name('loop-turns'), scenario], {
        env: { ...process.env, SHMBUS_WAITER: env },
        watchdogMs: 40_000,
      });
      try {
        const got = (await peer.line(/^kind /, 20_000)).slice(5);
        if (got !== kind) {
          // io_uring needs Linux >= 6.7 and io_uring allowed (seccomp, io_uring_disabled); the waiter fell back.
          t.skip(`this kernel gives ${got} for SHMBUS_WAITER=${env}`);
          return;
        }
        await peer.line(scenario === 'starve' ? /^turned \d+$/ : 'flood ok', 30_000);
        assert.equal(await peer.exited, 0, peer.stderr());
      } finally {
        peer.kill('SIGKILL'); // a no-op once it exited; a hung peer must not outlive the test
        await peer.exited;
      }
    };

    it('an in-process ping-pong of async waits: a timer, a child line and its exit are still handled', (t) => run('starve', t));
    if (env !== 'threads') {
      // thread-per-wait allows 2048 pending waits (one thread each): the flood is for the two queue-based waiters.
      it('6000 waits woken at once, every other aborted in the same step: each settles once, right', (t) => run('flood', t));
    }
  });
}
