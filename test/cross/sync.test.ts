/**
 * Mutex, RwLock, Semaphore and Event across the C peer (c/tests/peers/sync-peer.c, which speaks the line protocol
 * of test/fixtures/lock-peer.ts) and Node: exact counts with one C and one Node process incrementing a plain
 * counter under each lock, holders killed with -9 in one language and recovered in the other (both ways), and
 * readers, units and events shared across the two.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Event, Mutex, RwLock, Segment, Semaphore } from '../../src/index.js';
import { CHAOS } from '../fixtures/lock-chaos-state.js';
import { expectCleanExit, fixture, spawnPeer, type Peer } from '../helpers/index.js';
import { ask, lockTestScope, until } from '../helpers/locks.js';
import { spawnC } from '../helpers/peers.js';

const { name, peer: nodePeer } = lockTestScope();
const cPeers: Peer[] = [];
after(() => {
  for (const p of cPeers) p.kill();
});

type Kind = 'mutex' | 'rwlock' | 'semaphore' | 'event';

/** A C sync-peer driving `kind` (named form unless args say otherwise); resolves once it printed "ready <pid>". */
async function cPeer(kind: Kind, ...args: string[]): Promise<Peer & { pid: number }> {
  const p = spawnC('sync-peer', [kind, ...args]);
  cPeers.push(p);
  const pid = Number((await p.line(/^ready/)).split(' ')[1]);
  return Object.assign(p, { pid });
}

async function exit(...ps: Peer[]): Promise<void> {
  for (const p of ps) {
    p.send('exit');
    await expectCleanExit(p);
  }
}

describe('C <-> Node: exact counts under one lock', () => {
  for (const kind of ['mutex', 'rwlock', 'semaphore'] as const) {
    it(`${kind}: one C and one Node process x 20 000 plain increments give exactly 40 000, never two inside`, async () => {
      const segName = name(`count-${kind}`);
      const counterAt = 64 + 2048;
      const n = 20_000;
      const seg = Segment.create(segName, {
        size: counterAt + 64,
        init: (s) => (kind === 'semaphore' ? Semaphore.init(s, 64, { initial: 1 }) : undefined),
      });
      try {
        const args = [segName, '64', String(counterAt), String(n)];
        const c = spawnC('sync-peer', ['counter', kind, ...args], { watchdogMs: 120_000 });
        cPeers.push(c);
        const node = spawnPeer(fixture('lock-counter'), [kind, ...args, 'sync'], { watchdogMs: 120_000 });
        await c.line('ready');
        await node.line('ready');
        c.send('go');
        node.send('go');
        assert.equal(await c.line(/^done/, 110_000), 'done overlaps=0');
        assert.equal(await node.line(/^done/, 110_000), 'done overlaps=0');
        await expectCleanExit(c);
        await expectCleanExit(node);
        assert.equal(new DataView(seg.buffer).getUint32(counterAt, true), 2 * n);
        if (kind === 'semaphore') assert.equal(new Semaphore(seg, 64).value, 1, 'the unit is back at the end');
        else assert.equal(Atomics.load(seg.words, 64 / 4), 0, 'the lock is free at the end');
      } finally {
        seg.close();
      }
    });
  }
});

describe('C <-> Node: RwLock readers and writers of both languages', () => {
  it('a Node writer, a C writer and a C reader x 20 000: exact count, no reader ever sees a writer inside', async () => {
    const segName = name('rwmix');
    const counterAt = 64 + 2048;
    const n = 20_000;
    const seg = Segment.create(segName, { size: counterAt + 64 });
    try {
      const args = [segName, '64', String(counterAt), String(n)];
      const cWriter = spawnC('sync-peer', ['counter', 'rwlock', ...args], { watchdogMs: 120_000 });
      const cReader = spawnC('sync-peer', ['counter', 'rwlock-read', ...args], { watchdogMs: 120_000 });
      cPeers.push(cWriter, cReader);
      const node = spawnPeer(fixture('lock-counter'), ['rwlock', ...args, 'sync'], { watchdogMs: 120_000 });
      for (const p of [cWriter, cReader, node]) await p.line('ready');
      for (const p of [cWriter, cReader, node]) p.send('go');
      for (const p of [cWriter, cReader, node]) assert.equal(await p.line(/^done/, 110_000), 'done overlaps=0');
      for (const p of [cWriter, cReader, node]) await expectCleanExit(p);
      assert.equal(new DataView(seg.buffer).getUint32(counterAt, true), 2 * n);
      assert.equal(Atomics.load(seg.words, (64 + 40) / 4), 0, 'no read hold is left');
    } finally {
      seg.close();
    }
  });
});

describe('C <-> Node: Mutex recovery', () => {
  it('a C holder killed with -9: the Node waiter takes the mutex over with recovered: true', async () => {
    const n = name('mc2n');
    const m = Mutex.create(n, { livenessInterval: 20 });
    try {
      const c = await cPeer('mutex', 'named', n);
      assert.equal(await ask(c, 'lock', /^locked|^error/), 'locked recovered=false');
      assert.equal(m.tryLock(), null);
      const pending = m.lock({ timeout: 20_000 });
      c.kill('SIGKILL');
      await c.exited;
      assert.deepEqual(await pending, { recovered: true });
      m.unlock();
      assert.deepEqual(m.lockSync({ timeout: 1000 }), { recovered: false });
      m.unlock();
    } finally {
      m.close();
    }
  });

  it('a Node holder killed with -9: the C waiter takes the mutex over with recovered=true', async () => {
    const n = name('mn2c');
    const m = Mutex.create(n);
    try {
      const node = await nodePeer('mutex', 'named', n);
      const c = await cPeer('mutex', 'named', n, '0', '20');
      assert.equal(await ask(node, 'lock', /^locked/), 'locked recovered=false');
      assert.equal(await ask(c, 'trylock', /^busy|^locked|^error/), 'busy');
      c.send('lock');
      node.kill('SIGKILL');
      await node.exited;
      assert.equal(await c.line(/^locked|^error/), 'locked recovered=true');
      assert.equal(await ask(c, 'unlock', /^unlocked|^error/), 'unlocked');
      assert.equal(await ask(c, 'lock', /^locked|^error/), 'locked recovered=false');
      assert.equal(await ask(c, 'held', /^held/), 'held true');
      assert.equal(await ask(c, 'unlock', /^unlocked|^error/), 'unlocked');
      await exit(c);
    } finally {
      m.close();
    }
  });
});

describe('C <-> Node: RwLock', () => {
  it('readers of both languages overlap; a writer of either waits for both', async () => {
    const n = name('rwshare');
    const rw = RwLock.create(n, { livenessInterval: 20 });
    try {
      const c = await cPeer('rwlock', 'named', n, '0', '20');
      assert.equal(await ask(c, 'read', /^read|^error/), 'read recovered=false');
      assert.deepEqual(rw.tryReadLock(), { recovered: false });
      assert.equal(rw.tryWriteLock(), null);
      assert.equal(await ask(c, 'trywrite', /^busy|^write|^error/), 'busy');
      const writing = rw.writeLock({ timeout: 20_000 }); // drains: waits for the C reader to leave
      rw.readUnlock();
      assert.equal(await ask(c, 'read-unlock', /^unlocked|^error/), 'unlocked');
      assert.deepEqual(await writing, { recovered: false });
      assert.equal(await ask(c, 'tryread', /^busy|^read|^error/), 'busy');
      c.send('write');
      rw.writeUnlock();
      assert.equal(await c.line(/^write|^error/), 'write recovered=false');
      assert.equal(rw.tryReadLock(), null);
      assert.equal(await ask(c, 'write-unlock', /^unlocked|^error/), 'unlocked');
      await exit(c);
    } finally {
      rw.close();
    }
  });

  it('a C writer killed with -9: a waiting Node reader takes it over (exclusive, recovered: true)', async () => {
    const n = name('rwc2n');
    const rw = RwLock.create(n, { livenessInterval: 20 });
    try {
      const c = await cPeer('rwlock', 'named', n);
      assert.equal(await ask(c, 'write', /^write|^error/), 'write recovered=false');
      const reading = rw.readLock({ timeout: 20_000 });
      c.kill('SIGKILL');
      await c.exited;
      assert.deepEqual(await reading, { recovered: true });
      rw.readUnlock();
      assert.deepEqual(rw.writeLockSync({ timeout: 1000 }), { recovered: false });
      rw.writeUnlock();
    } finally {
      rw.close();
    }
  });

  it('a Node writer killed with -9: the C writer takes it over (recovered=true), and a dead C reader is released', async () => {
    const n = name('rwn2c');
    const rw = RwLock.create(n, { livenessInterval: 20 });
    try {
      const node = await nodePeer('rwlock', 'named', n, '0', '20');
      const c = await cPeer('rwlock', 'named', n, '0', '20');
      assert.equal(await ask(node, 'write', /^write/), 'write recovered=false');
      c.send('write');
      node.kill('SIGKILL');
      await node.exited;
      assert.equal(await c.line(/^write|^error/), 'write recovered=true');
      assert.equal(await ask(c, 'write-unlock', /^unlocked|^error/), 'unlocked');
      // A C reader dies holding its read lock: the Node writer releases its hold (nothing to repair).
      assert.equal(await ask(c, 'read', /^read|^error/), 'read recovered=false');
      c.kill('SIGKILL');
      await c.exited;
      assert.deepEqual(await rw.writeLock({ timeout: 20_000 }), { recovered: false });
      rw.writeUnlock();
    } finally {
      rw.close();
    }
  });

  it('a Node writer killed with -9: a waiting C reader takes it over and holds it alone until its read unlock', async () => {
    const n = name('rwn2cr');
    const rw = RwLock.create(n, { livenessInterval: 20 });
    try {
      const node = await nodePeer('rwlock', 'named', n, '0', '20');
      const c = await cPeer('rwlock', 'named', n, '0', '20');
      assert.equal(await ask(node, 'write', /^write/), 'write recovered=false');
      c.send('read');
      node.kill('SIGKILL');
      await node.exited;
      assert.equal(await c.line(/^read|^error/), 'read recovered=true');
      assert.equal(rw.tryReadLock(), null, 'the recovering reader holds the lock alone');
      assert.equal(await ask(c, 'read-unlock', /^unlocked|^error/), 'unlocked');
      assert.deepEqual(rw.tryReadLock(), { recovered: false });
      rw.readUnlock();
      await exit(c);
    } finally {
      rw.close();
    }
  });
});

describe('C <-> Node: Semaphore', () => {
  it('units taken in one language are seen and returned in the other; a dead holder unit comes back both ways', async () => {
    const n = name('sem');
    const s = Semaphore.create(n, { initial: 1, livenessInterval: 20 });
    try {
      const c = await cPeer('semaphore', 'named', n, '0', '20');
      assert.equal(await ask(c, 'acquire', /^acquired|^error/), 'acquired recovered=false');
      assert.equal(s.value, 0);
      assert.equal(s.tryAcquire(), null);
      // C holder killed: the Node waiter returns its unit.
      const pending = s.acquire({ timeout: 20_000 });
      c.kill('SIGKILL');
      await c.exited;
      assert.deepEqual(await pending, { recovered: true });
      // Node holder (a lock-peer) killed: the C waiter returns its unit.
      s.release();
      const node = await nodePeer('semaphore', 'named', n, '0', '20');
      const c2 = await cPeer('semaphore', 'named', n, '0', '20');
      assert.equal(await ask(node, 'acquire', /^acquired/), 'acquired recovered=false');
      assert.equal(await ask(c2, 'value', /^value/), 'value 0');
      c2.send('acquire');
      node.kill('SIGKILL');
      await node.exited;
      assert.equal(await c2.line(/^acquired|^error/), 'acquired recovered=true');
      assert.equal(await ask(c2, 'release', /^released|^error/), 'released');
      assert.equal(s.value, 1);
      await exit(c2);
    } finally {
      s.close();
    }
  });
});

describe('C <-> Node: Event', () => {
  it('manual reset: one Node set releases three C waiters even with a reset right after it', async () => {
    const n = name('evm');
    const e = Event.create(n, { manualReset: true });
    try {
      // A liveness interval of 60 s: each waiter parks once (no re-park every 50 ms), so the sleepers word (§3)
      // counts exactly the waiters that read the word before the set.
      const c = await cPeer('event', 'named', n, '0', '60000');
      for (let i = 0; i < 3; i++) assert.equal(await ask(c, 'wait-async', 'waiting'), 'waiting');
      await until(() => Atomics.load(e.segment.words, 1) >= 3, 'three C waiters parked');
      e.set();
      e.reset();
      for (let i = 0; i < 3; i++) await c.line('woke');
      assert.equal(await ask(c, 'status', /^pending/), 'pending 0');
      await exit(c);
    } finally {
      e.close();
    }
  });

  it('auto reset: each C set releases exactly one Node waiter; a Node set releases a blocked C waiter', async () => {
    const n = name('eva');
    const e = Event.create(n);
    try {
      const c = await cPeer('event', 'named', n);
      const first = e.wait({ timeout: 20_000 });
      assert.equal(await ask(c, 'set', /^done|^error/), 'done');
      await first;
      assert.equal(e.isSet, false, 'the waiter consumed the set');
      assert.equal(await ask(c, 'set', /^done|^error/), 'done');
      assert.equal(e.isSet, true, 'with nobody waiting the set stays for the next one');
      await e.wait({ timeout: 0 });
      c.send('wait');
      await until(() => Atomics.load(e.segment.words, 1) !== 0, 'the C waiter parked');
      e.set();
      assert.equal(await c.line(/^woke|^error/), 'woke');
      assert.equal(e.isSet, false);
      await exit(c);
    } finally {
      e.close();
    }
  });
});

/**
 * The chaos run of test/helpers/locks.ts with C and Node children side by side (even indexes C, odd Node): children
 * update journaled state under one lock; `kills` times one is killed with SIGKILL and replaced by a child of the
 * same language, every third time a writer stopped inside its update with the lock held (alternating languages), so
 * a recovery in one language repairs what the other left. Then: no two writers inside together, no reader saw a
 * half-done update, counter == sum of the per-child counts.
 */
async function mixedChaos(kind: 'mutex' | 'rwlock' | 'semaphore', kills: number): Promise<{ recoveries: number }> {
  const segName = name(`chaos-${kind}`);
  const seg = Segment.create(segName, {
    size: CHAOS.segmentSize,
    init: (s) => (kind === 'semaphore' ? Semaphore.init(s, 0, { initial: 1 }) : undefined),
  });
  const w = seg.words;
  const roles: ('writer' | 'reader')[] = kind === 'rwlock' ? ['writer', 'writer', 'reader', 'reader'] : ['writer', 'writer', 'writer'];
  const writers = roles.flatMap((r, i) => (r === 'writer' ? [i] : []));
  const live: (Peer | undefined)[] = [];
  const start = async (i: number): Promise<void> => {
    const args = [kind, roles[i]!, segName, String(i)];
    const p =
      i % 2 === 0
        ? spawnC('sync-peer', ['chaos', ...args], { watchdogMs: 300_000 })
        : spawnPeer(fixture('lock-chaos'), args, { watchdogMs: 300_000 });
    cPeers.push(p);
    live[i] = p;
    await p.line('ready');
  };
  try {
    for (let i = 0; i < roles.length; i++) await start(i);
    for (let k = 0; k < kills; k++) {
      const held = k % 3 === 0;
      const i = held ? writers[(k / 3) % writers.length]! : (k * 7 + 3) % roles.length;
      const victim = live[i]!;
      if (held) {
        Atomics.store(w, CHAOS.hold, i + 1);
        await victim.line('holding', 60_000);
        Atomics.store(w, CHAOS.hold, 0); // before its replacement starts
      } else {
        await victim.line('progress', 60_000);
      }
      victim.kill('SIGKILL');
      await victim.exited;
      await start(i);
    }
    for (const p of live) await p!.line('progress', 60_000);
    Atomics.store(w, CHAOS.stop, 1);
    for (const p of live) {
      await p!.line('done', 60_000);
      await expectCleanExit(p!);
    }
    assert.equal(Atomics.load(w, CHAOS.overlaps), 0, 'two writers were inside at once');
    assert.equal(Atomics.load(w, CHAOS.inconsistent), 0, 'a reader saw a half-done update');
    assert.equal(Atomics.load(w, CHAOS.pendIndex), 0, 'every committed journal was applied');
    let sum = 0;
    for (let i = 0; i < CHAOS.maxChildren; i++) sum += Atomics.load(w, CHAOS.counts + i);
    assert.equal(Atomics.load(w, CHAOS.counter), sum, 'counter == sum of the per-child counts');
    assert.ok(sum > 0);
    return { recoveries: Atomics.load(w, CHAOS.recoveries) };
  } finally {
    for (const p of live) p?.kill();
    seg.close();
  }
}

describe('C <-> Node: chaos (holders of both languages killed with -9, recovered by the other)', () => {
  for (const kind of ['mutex', 'rwlock', 'semaphore'] as const) {
    it(`${kind}: 6 kills, 2 of them inside an update with the lock held; the state stays consistent`, async () => {
      const { recoveries } = await mixedChaos(kind, 6);
      assert.ok(recoveries >= 2, `every kill inside an update is recovered (recoveries ${recoveries})`);
    });
  }
});
