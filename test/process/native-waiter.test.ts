/**
 * The native async waiter's lifecycle: worker_threads terminated at every stage of it, processes that end with
 * waits pending. Each case runs in a child process (a use-after-free of a dead environment's thread-safe
 * function aborts the process: that must not take the test runner with it), in every waiter mode.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, spawnPeer } from '../helpers/index.js';

const MODES: [string, NodeJS.ProcessEnv][] = [
  ['io_uring (the default; futex_waitv where the kernel lacks it)', { SHMBUS_WAITER: 'io_uring' }],
  ['futex_waitv', { SHMBUS_WAITER: 'waitv' }],
  ['thread-per-wait', { SHMBUS_WAITER: 'threads' }],
];

for (const [mode, env] of MODES) {
  describe(`native waiter lifecycle (${mode})`, () => {
    it('workers terminated at every stage, then their words woken: the process lives and its own waits work', async () => {
      const peer = spawnPeer(fixture('native-waiter-host'), [], { env: { ...process.env, ...env }, watchdogMs: 120_000 });
      await peer.line('all ok', 110_000);
      assert.equal(await peer.exited, 0, peer.stderr());
      assert.equal(peer.child.signalCode, null);
    });

    for (const how of ['exit', 'natural']) {
      it(`a process that ends (${how === 'exit' ? 'process.exit' : 'natural end'}) with waits pending and wakes in flight exits 0`, async () => {
        // Several runs: the race between the end of the process and completions in flight differs each time.
        for (let i = 0; i < 4; i++) {
          const peer = spawnPeer(fixture('native-exit'), [how], { env: { ...process.env, ...env } });
          const code = await peer.exited;
          assert.equal(peer.child.signalCode, null, `run ${i}: killed by ${peer.child.signalCode}; stderr:\n${peer.stderr()}`);
          assert.equal(code, 0, `run ${i}: stderr:\n${peer.stderr()}`);
        }
      });
    }
  });
}
