/**
 * A forged or stopped holder of an internal lock (one that is held "for a few instructions": the Semaphore's
 * ledger, the Rpc service lock): a peer writes the pid of a live process that will never release it (here the test
 * runner's parent, or a SIGSTOPped child). Calls that take no timeout must still end, with ERR_TIMEOUT after a
 * bounded wait (100 liveness intervals), instead of hanging forever (found by test/fuzz/channels.test.ts: a
 * corrupted ledger word made Semaphore#tryAcquire spin forever on a live kernel thread's pid).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rpc, Segment, Semaphore, isShmbusError } from '../../src/index.js';
import { RPC_LOCK_OFFSET } from '../../src/protocol/index.js';
import { expectCleanExit, trackNames } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { unlinkAny } from './lib.js';

const { name, cleanup } = trackNames(unlinkAny);
after(cleanup);

const timedOut = (e: unknown): boolean => isShmbusError(e, 'ERR_TIMEOUT');

describe('a forged holder of an internal lock', () => {
  it('Semaphore: tryAcquire, release and acquireSync end with ERR_TIMEOUT instead of hanging', () => {
    const n = name('forged-sem');
    const s = Semaphore.create(n, { initial: 1, livenessInterval: 10 });
    const raw = Segment.open(n);
    // The ledger Mutex word (payload offset 0) now names a live process that is not a shmbus holder at all.
    Atomics.store(raw.words, 0, process.ppid);
    try {
      assert.throws(() => s.tryAcquire(), timedOut);
      assert.throws(() => s.release(), timedOut);
      assert.throws(() => s.acquireSync({ timeout: 50 }), timedOut);
      // Once the forgery is gone, everything works again.
      Atomics.store(raw.words, 0, 0);
      assert.ok(s.tryAcquire());
      s.release();
      assert.equal(s.value, 1);
    } finally {
      Atomics.store(raw.words, 0, 0);
      raw.close();
      s.close();
    }
  });

  it('Semaphore in C: release ends with ERR_TIMEOUT instead of hanging', async () => {
    const n = name('forged-sem-c');
    const s = Semaphore.create(n, { initial: 1 });
    const raw = Segment.open(n);
    const peer = spawnC('sync-peer', ['semaphore', 'named', n, '0', '10']);
    try {
      await peer.line(/^ready/);
      Atomics.store(raw.words, 0, process.ppid);
      peer.send('release');
      assert.equal(await peer.line(/^(released|error)/, 20_000), 'error ERR_TIMEOUT');
      Atomics.store(raw.words, 0, 0);
      peer.send('release');
      assert.equal(await peer.line(/^(released|error)/), 'released');
      peer.send('exit');
      await expectCleanExit(peer);
    } finally {
      peer.kill();
      Atomics.store(raw.words, 0, 0);
      raw.close();
      s.close();
    }
  });

  it('Rpc: serving a service whose lock is forged ends with ERR_TIMEOUT instead of hanging', async () => {
    const n = name('forged-rpc');
    const server = Rpc.serve(n, (r) => r.data, { livenessInterval: 10, maxMessageSize: 64, slots: 2 });
    const raw = Segment.open(n);
    Atomics.store(raw.words, RPC_LOCK_OFFSET / 4, process.ppid); // the service lock
    try {
      assert.throws(() => Rpc.serve(n, (r) => r.data, { livenessInterval: 10, maxMessageSize: 64, slots: 2 }), timedOut);
    } finally {
      Atomics.store(raw.words, RPC_LOCK_OFFSET / 4, 0);
      raw.close();
      await server.close();
    }
  });
});
