/**
 * Topic across languages: C peers (c/tests/peers/topic-peer.c) and Node fixtures (topic-publisher/-subscriber,
 * topic-loan-holder) on one topic, both directions. Messages carry [publisher][index][crc32 of the rest], so every
 * reader checks order and integrity byte for byte.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { Topic, isShmbusError } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';

const names = trackNames();
after(names.cleanup);

/** A "done read=.. lost=.. first=.. last=.. gaps=.." line as numbers. */
function done(line: string): Record<string, number> {
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

const nodeSub = (args: Record<string, unknown>): Peer => spawnPeer(fixture('topic-subscriber'), [JSON.stringify(args)]);
const nodePub = (args: Record<string, unknown>): Peer => spawnPeer(fixture('topic-publisher'), [JSON.stringify(args)]);
/** topic-peer sub <topic> <pubs> <perPub> <untilSeq> <latest|oldest> <copy|zc> <go|hold> */
const cSub = (topic: string, pubs: number, perPub: number, untilSeq: number, how: 'copy' | 'zc' = 'copy', hold = false): Peer =>
  spawnC('topic-peer', ['sub', topic, String(pubs), String(perPub), String(untilSeq), 'latest', how, hold ? 'hold' : 'go']);
/** topic-peer pub <topic> <pubId> <count> <minSize> <maxSize> <seed> <publish|loan> */
const cPub = (topic: string, pub: number, count: number, minSize: number, maxSize: number, mode: 'publish' | 'loan' = 'publish'): Peer =>
  spawnC('topic-peer', ['pub', topic, String(pub), String(count), String(minSize), String(maxSize), String(pub + 7), mode]);

async function finish(peers: Peer[]): Promise<void> {
  await Promise.all(peers.map((p) => expectCleanExit(p)));
}

describe('Topic across C and Node', () => {
  for (const direction of ['C -> Node and C', 'Node -> Node and C'] as const) {
    it(`10 000 messages of random sizes with checksums, ${direction}, zero-copy and copying readers`, async () => {
      const name = names.name('xtopic');
      // 32 MiB holds all 10 000 records (at most 2 KiB each): nothing may be lost, whatever the scheduling.
      const topic = Topic.create(name, { capacity: 32 << 20, maxMessageSize: 4096 });
      const subs = [nodeSub({ topic: name, sub: 0, pubs: 1, perPub: 10_000 }), cSub(name, 1, 10_000, 0, 'copy'), cSub(name, 1, 10_000, 0, 'zc')];
      try {
        await Promise.all(subs.map((s) => s.line('ready')));
        const pub = direction.startsWith('C')
          ? cPub(name, 0, 10_000, 12, 2000)
          : nodePub({ topic: name, pub: 0, count: 10_000, minSize: 12, maxSize: 2000 });
        assert.equal(await pub.line(/^done /, 60_000), 'done 10000');
        for (const s of subs) {
          const d = done(await s.line(/^done /, 60_000));
          assert.deepEqual([d['read'], d['lost'], d['gaps'], d['first'], d['last']], [10_000, 0, 0, 1, 10_000]);
        }
        await finish([pub, ...subs]);
      } finally {
        for (const s of subs) s.kill();
        topic.close();
      }
    });
  }

  it('C and Node publishers into one topic at once: the writers lock works across languages', async () => {
    const name = names.name('xtopic2');
    const topic = Topic.create(name, { capacity: 32 << 20, maxMessageSize: 4096 });
    const subs = [nodeSub({ topic: name, sub: 0, pubs: 2, perPub: 5000 }), cSub(name, 2, 5000, 0)];
    try {
      await Promise.all(subs.map((s) => s.line('ready')));
      // Publisher 0 in C (loaning: its lock is held across the fill), publisher 1 in Node (publish), at once.
      const pubs = [cPub(name, 0, 5000, 12, 3000, 'loan'), nodePub({ topic: name, pub: 1, count: 5000, minSize: 12, maxSize: 3000 })];
      const lasts = await Promise.all(pubs.map((p) => p.line(/^done /, 60_000)));
      assert.equal(Math.max(...lasts.map((l) => Number(l.split(' ')[1]))), 10_000);
      for (const s of subs) {
        const d = done(await s.line(/^done /, 60_000));
        assert.deepEqual([d['read'], d['lost'], d['gaps']], [10_000, 0, 0]);
      }
      assert.equal(topic.stats().published, 10_000);
      await finish([...pubs, ...subs]);
    } finally {
      for (const s of subs) s.kill();
      topic.close();
    }
  });

  for (const direction of ['C publisher, Node subscriber', 'Node publisher, C subscriber'] as const) {
    it(`lapping is counted exactly (received + lost = published), ${direction}`, async () => {
      const name = names.name('xlap');
      const count = 20_000;
      const topic = Topic.create(name, { capacity: 64 << 10, maxMessageSize: 1024 });
      const sub = direction.startsWith('C')
        ? nodeSub({ topic: name, sub: 0, pubs: 1, untilSeq: count, hold: true })
        : cSub(name, 1, 0, count, 'copy', true);
      try {
        await sub.line('ready');
        const pub = direction.startsWith('C') ? cPub(name, 0, count, 12, 1000) : nodePub({ topic: name, pub: 0, count, minSize: 12, maxSize: 1000 });
        await pub.line('ready');
        sub.send('go'); // the subscriber starts reading while the publisher laps it
        assert.equal(await pub.line(/^done /, 60_000), `done ${count}`);
        const d = done(await sub.line(/^done /, 60_000));
        assert.equal(d['last'], count);
        assert.ok(d['lost']! > 0, 'a 64 KiB ring holding ~120 records must lap a reader that starts late');
        assert.equal(d['read']! + d['lost']!, count);
        await finish([pub, sub]);
      } finally {
        sub.kill();
        topic.close();
      }
    });
  }

  it('a C publisher killed -9 while holding the writers lock (mid-loan): Node publishes next, with its seq', async () => {
    const name = names.name('xkill');
    const topic = Topic.create(name, { capacity: 1 << 16, maxMessageSize: 8192 });
    const sub = Topic.subscribe(name);
    try {
      const holder = spawnC('topic-peer', ['loan', name]);
      const seq = Number((await holder.line(/^loaned /)).split(' ')[1]);
      holder.kill('SIGKILL');
      assert.equal(await holder.exited, 'SIGKILL');
      assert.equal(topic.publish('after', { timeout: 20_000 }), seq);
      const m = await sub.read({ timeout: 5000 });
      assert.equal(m?.seq, seq);
      assert.equal(m?.text(), 'after');
    } finally {
      sub.close();
      topic.close();
    }
  });

  it('a Node publisher killed -9 while holding the writers lock (mid-loan): C publishes next, with its seq', async () => {
    const name = names.name('xkill2');
    const topic = Topic.create(name, { capacity: 1 << 16, maxMessageSize: 8192 });
    const csub = cSub(name, 1, 1, 0);
    try {
      await csub.line('ready');
      const holder = spawnPeer(fixture('topic-loan-holder'), [name, 'loan']);
      const seq = Number((await holder.line(/^loaned /)).split(' ')[1]);
      holder.kill('SIGKILL');
      assert.equal(await holder.exited, 'SIGKILL');
      const pub = cPub(name, 0, 1, 12, 100);
      assert.equal(await pub.line(/^done /, 30_000), `done ${seq}`);
      const d = done(await csub.line(/^done /));
      assert.deepEqual([d['read'], d['first'], d['lost']], [1, seq, 0]);
      await finish([pub, csub]);
    } finally {
      csub.kill();
      topic.close();
    }
  });

  it('a C publisher killed -9 mid-copy of a 1 MiB frame: readers see only whole messages, and Node publishes on', async () => {
    const name = names.name('xflood');
    const topic = Topic.create(name, { capacity: 8 << 20, maxMessageSize: 1 << 20 });
    try {
      const flood = spawnC('topic-peer', ['flood', name]);
      await flood.line('flooding');
      flood.kill('SIGKILL');
      assert.equal(await flood.exited, 'SIGKILL');
      // Everything the ring still holds is a whole, committed frame (crc checked); the killed one never shows.
      const sub = Topic.subscribe(name, { from: 'oldest' });
      let frames = 0;
      for (let m = sub.tryRead(); m !== null; m = sub.tryRead()) {
        const dv = new DataView(m.data.buffer, m.data.byteOffset, 12);
        assert.equal(m.data.length, 1 << 20);
        assert.equal(crc32(m.data.subarray(12)), dv.getUint32(8, true), `frame ${m.seq} is torn`);
        frames++;
      }
      assert.ok(frames >= 3);
      // The next publisher recovers the writers' lock the dead one held (or not) and goes on.
      const seq = topic.publish('after', { timeout: 20_000 });
      const m = sub.tryRead();
      assert.equal(m?.seq, seq);
      assert.equal(m?.text(), 'after');
      sub.close();
    } finally {
      topic.close();
    }
  });
  it('single-publisher topic across languages: a live C publisher excludes Node and the reverse; killed -9, its place is taken over', async () => {
    const name = names.name('xsingle');
    Topic.create(name, { capacity: 64 << 10, maxMessageSize: 1024, singlePublisher: true }).close(); // creator steps aside
    const reader = Topic.subscribe(name);
    try {
      const c = spawnC('topic-peer', ['single', name]);
      await c.line('publishing');
      assert.equal((await reader.read({ timeout: 10_000 }))?.text(), 'alive');
      assert.throws(() => Topic.open(name), (e: unknown) => isShmbusError(e, 'ERR_PUBLISHER_EXISTS'));
      c.kill('SIGKILL');
      assert.equal(await c.exited, 'SIGKILL');
      const node = spawnPeer(fixture('topic-loan-holder'), [name, 'single']); // takes the dead C publisher's place
      await node.line('publishing');
      assert.equal((await reader.read({ timeout: 10_000 }))?.seq, 2);
      const refused = cPub(name, 0, 1, 12, 100);
      assert.equal(await refused.exited, 1);
      assert.match(refused.stderr(), /ERR_PUBLISHER_EXISTS/);
      node.kill('SIGKILL');
      assert.equal(await node.exited, 'SIGKILL');
      const next = cPub(name, 0, 1, 12, 100);
      assert.equal(await next.line(/^done /, 30_000), 'done 3');
      await expectCleanExit(next);
    } finally {
      reader.close();
    }
  });
  it('end of stream across languages: C publishers leaving (closed, or killed -9) end a Node for-await; a Node one leaving ends a C read', async () => {
    const name = names.name('xend');
    Topic.create(name, { capacity: 64 << 10, maxMessageSize: 1024 }).close(); // no publisher left: nothing ended yet
    const nsub = spawnPeer(fixture('topic-until-end'), [name, '100']);
    await nsub.line('subscribed');
    const pub = cPub(name, 0, 3, 12, 100); // registers, publishes 3, closes
    await expectCleanExit(pub);
    assert.equal(await nsub.line(/^end /), 'end read=3 closed=true');
    await expectCleanExit(nsub);

    const nsub2 = spawnPeer(fixture('topic-until-end'), [name, '100']);
    await nsub2.line('subscribed');
    const killed = spawnC('topic-peer', ['single', name]); // a plain topic: opens, publishes "alive", stays
    await killed.line('publishing');
    await nsub2.line('got alive');
    killed.kill('SIGKILL');
    assert.equal(await nsub2.line(/^end /), 'end read=1 closed=true'); // noticed within livenessInterval (100 ms)
    await expectCleanExit(nsub2);

    const csub = cSub(name, 1, 0, 0);
    await csub.line('ready');
    const npub = nodePub({ topic: name, pub: 0, count: 5, minSize: 12, maxSize: 100 });
    await expectCleanExit(npub);
    assert.match(await csub.line(/^done /), /^done read=5 lost=0 /);
    await expectCleanExit(csub);
  });
});
