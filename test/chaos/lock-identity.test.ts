/**
 * Process identity across pid namespaces and unreadable /proc entries (PROTOCOL.md §4.0): a holder whose liveness
 * cannot be established is never judged dead. Holders run under `unshare --pid --fork --mount-proc` (another pid
 * namespace sharing /dev/shm: inside it the holder is pid 1, a pid that exists here too with another start time)
 * or are judged by a checker that runs as another user behind a /proc mounted hidepid=invisible.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Mutex, RwLock, Semaphore, type LockResult } from '../../src/index.js';
import { ask, exitPeers, lockTestScope } from '../helpers/locks.js';
import { fixture, spawnPeer, type Peer } from '../helpers/index.js';

const INTERVAL = 10;
const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc'];
const canUnshare = spawnSync(UNSHARE[0]!, [...UNSHARE.slice(1), 'true']).status === 0;
// A private /proc with hidepid for a checker running as nobody (65534): /proc/<pid> of root's processes vanish
// for it and kill(pid, 0) fails with EPERM.
const HIDDEN = [
  'unshare', '--mount', '--propagation', 'private', 'sh', '-c',
  'mount -t proc -o hidepid=invisible proc /proc && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$0" "$@"',
];
const canHide = spawnSync(HIDDEN[0]!, [...HIDDEN.slice(1), 'true']).status === 0;

const { name } = lockTestScope();
const peers: Peer[] = [];

async function nsPeer(kind: 'mutex' | 'rwlock' | 'semaphore', n: string): Promise<Peer> {
  const p = spawnPeer(fixture('lock-peer'), [kind, 'named', n, '0', String(INTERVAL)], { wrap: UNSHARE });
  peers.push(p);
  assert.equal(await p.line(/^ready/), 'ready 1', 'the holder is pid 1 of its own namespace');
  return p;
}

/**
 * While `pending` (a wait of this process, liveness checks every INTERVAL ms) is unresolved and the holder keeps
 * confirming over its pipe that it holds, `probe()` (a try-lock) must fail: for at least 8 liveness intervals,
 * driven by the holder's replies (no sleeps).
 */
async function neverStolen(holder: Peer, confirm: [string, string], pending: Promise<LockResult>, probe: () => LockResult | null): Promise<void> {
  let settled = false;
  void pending.then(() => (settled = true), () => (settled = true));
  const start = performance.now();
  let rounds = 0;
  while (performance.now() - start < 8 * INTERVAL || rounds < 20) {
    assert.equal(await ask(holder, confirm[0], confirm[1]), confirm[1]);
    assert.equal(probe(), null, 'a live holder in another pid namespace was judged dead');
    assert.equal(settled, false, 'the waiter took the lock from a live holder');
    rounds++;
  }
}

describe('holders in another pid namespace (unshare --pid) are never judged dead', { skip: !canUnshare && 'unshare --pid is not permitted here' }, () => {
  it('Mutex: a waiter here never steals it; it gets it clean when the holder unlocks', async () => {
    const n = name('nsmutex');
    const m = Mutex.create(n, { livenessInterval: INTERVAL });
    try {
      const holder = await nsPeer('mutex', n);
      assert.equal(await ask(holder, 'lock', /^locked/), 'locked recovered=false');
      const pending = m.lock({ timeout: 60_000 });
      const probe = Mutex.open(n, { livenessInterval: INTERVAL });
      await neverStolen(holder, ['held', 'held true'], pending, () => probe.tryLock());
      probe.close();
      assert.equal(await ask(holder, 'unlock', 'unlocked'), 'unlocked');
      assert.deepEqual(await pending, { recovered: false });
      m.unlock();
      await exitPeers(holder);
    } finally {
      m.close();
    }
  });

  it('RwLock: neither a read hold nor a write hold there is taken over by waiters here', async () => {
    const n = name('nsrw');
    const rw = RwLock.create(n, { livenessInterval: INTERVAL });
    try {
      const holder = await nsPeer('rwlock', n);
      // A read hold: a writer here waits for it (its drain checks readers' liveness) and never cleans it.
      assert.equal(await ask(holder, 'read', /^read/), 'read recovered=false');
      const writer = rw.writeLock({ timeout: 60_000 });
      const probe = RwLock.open(n, { livenessInterval: INTERVAL });
      await neverStolen(holder, ['ping', 'pong'], writer, () => probe.tryWriteLock());
      assert.equal(await ask(holder, 'read-unlock', 'unlocked'), 'unlocked');
      assert.deepEqual(await writer, { recovered: false });
      rw.writeUnlock();
      // A write hold: a reader here waits (and checks the writer's liveness) and never takes it over.
      assert.equal(await ask(holder, 'write', /^write/), 'write recovered=false');
      const reader = rw.readLock({ timeout: 60_000 });
      await neverStolen(holder, ['ping', 'pong'], reader, () => probe.tryReadLock());
      assert.equal(await ask(holder, 'write-unlock', 'unlocked'), 'unlocked');
      assert.deepEqual(await reader, { recovered: false });
      rw.readUnlock();
      probe.close();
      await exitPeers(holder);
    } finally {
      rw.close();
    }
  });

  it('Semaphore: a unit held there is not returned by sweeps here; it comes back when released', async () => {
    const n = name('nssem');
    const s = Semaphore.create(n, { initial: 1, livenessInterval: INTERVAL });
    try {
      const holder = await nsPeer('semaphore', n);
      assert.equal(await ask(holder, 'acquire', /^acquired/), 'acquired recovered=false');
      const pending = s.acquire({ timeout: 60_000 });
      const probe = Semaphore.open(n, { livenessInterval: INTERVAL });
      await neverStolen(holder, ['value', 'value 0'], pending, () => probe.tryAcquire());
      probe.close();
      assert.equal(await ask(holder, 'release', 'released'), 'released');
      assert.deepEqual(await pending, { recovered: false });
      s.release();
      assert.equal(s.value, 1);
      await exitPeers(holder);
    } finally {
      s.close();
    }
  });
});

describe('a holder whose /proc entry the checker cannot read is not judged dead', { skip: !canHide && 'cannot mount a private /proc with hidepid here' }, () => {
  it('a checker running as another user behind hidepid=invisible never takes over a live holder\'s Mutex', async () => {
    const n = name('hidden');
    const m = Mutex.create(n, { mode: 0o666 });
    try {
      assert.deepEqual(m.lockSync(), { recovered: false });
      const checker = spawnPeer(fixture('lock-peer'), ['mutex', 'named', n, '0', String(INTERVAL)], { wrap: HIDDEN });
      peers.push(checker);
      await checker.line(/^ready/);
      // tryLock checks the holder's liveness once it saw the same holder for a whole interval: many intervals.
      const start = performance.now();
      for (let rounds = 0; performance.now() - start < 8 * INTERVAL || rounds < 20; rounds++) {
        assert.equal(await ask(checker, 'trylock', /^locked|busy|error/), 'busy', 'a live holder was judged dead');
      }
      m.unlock();
      assert.equal(await ask(checker, 'trylock', /^locked|busy|error/), 'locked recovered=false');
      assert.equal(await ask(checker, 'unlock', 'unlocked'), 'unlocked');
      await exitPeers(checker);
    } finally {
      for (const p of peers) p.kill();
      m.close();
    }
  });
});
