/**
 * Topic across real processes: many publishers and subscribers with checksums, lapping with exact loss counts,
 * publishers and subscribers killed with SIGKILL at the awkward moments, where a subscription starts, and
 * subscribing before the topic exists.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { Topic, isShmbusError } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, uniqueName, unlinkQuietly } from '../helpers/index.js';
import { parseDone, threeByThree } from './topic-stress.js';

function publisher(topic: string, count: number, extra: Record<string, unknown> = {}): ReturnType<typeof spawnPeer> {
  return spawnPeer(fixture('topic-publisher'), [JSON.stringify({ topic, pub: 0, count, minSize: 16, maxSize: 2048, ...extra })]);
}

function subscriber(topic: string, extra: Record<string, unknown>): ReturnType<typeof spawnPeer> {
  return spawnPeer(fixture('topic-subscriber'), [JSON.stringify({ topic, sub: 0, pubs: 1, ...extra })]);
}

describe('Topic across processes', () => {
  it('3 publishers x 3 subscribers: every subscriber gets every message of each publisher, in order, uncorrupted; a subscriber killed part-way disturbs nobody', async () => {
    await threeByThree(20_000, 60_000);
  });

  it('a subscriber that fell behind skips to the oldest valid message and counts exactly what it lost', async () => {
    const name = uniqueName('topiclap');
    const topic = Topic.create(name, { capacity: 64 << 10, maxMessageSize: 2048 });
    try {
      const sub = subscriber(name, { untilSeq: 3000, hold: true });
      await sub.line('ready');
      const pub = publisher(name, 3000);
      await pub.line('done 3000');
      await expectCleanExit(pub);
      sub.send('go');
      const done = parseDone(await sub.line(/^done /));
      await expectCleanExit(sub);
      assert.ok(done.lost > 0);
      assert.equal(done.read + done.lost, 3000);
      assert.equal(done.first, done.lost + 1);
      assert.equal(done.last, 3000);
    } finally {
      topic.close();
      unlinkQuietly(name);
    }
  });

  it('a slow subscriber never blocks the publisher and never reads a torn message; read + lost = published', async () => {
    const name = uniqueName('topicslow');
    const topic = Topic.create(name, { capacity: 64 << 10, maxMessageSize: 2048 });
    try {
      const slow = subscriber(name, { untilSeq: 20_000, slow: 20 });
      const view = subscriber(name, { untilSeq: 20_000, copy: false });
      await slow.line('ready');
      await view.line('ready');
      const pub = publisher(name, 20_000);
      await pub.line('done 20000');
      await expectCleanExit(pub);
      for (const s of [slow, view]) {
        const done = parseDone(await s.line(/^done /));
        await expectCleanExit(s);
        assert.equal(done.last, 20_000);
        assert.ok(done.read + done.lost <= 20_000);
        if (s === slow) assert.equal(done.read + done.lost, 20_000);
      }
    } finally {
      topic.close();
      unlinkQuietly(name);
    }
  });

  it('a publisher killed between loan and commit: nobody sees its message, the next publisher takes over and reuses the space', async () => {
    const name = uniqueName('topicloan');
    const topic = Topic.create(name, { capacity: 64 << 10, maxMessageSize: 8192 });
    const sub = Topic.subscribe(name);
    try {
      assert.equal(topic.publish('before'), 1);
      const holder = spawnPeer(fixture('topic-loan-holder'), [name, 'loan']);
      assert.equal(await holder.line(/^loaned/), 'loaned 2');
      holder.kill('SIGKILL');
      assert.equal(await holder.exited, 'SIGKILL');
      assert.equal(topic.publish('after', { timeout: 10_000 }), 2);
      assert.equal(sub.tryRead()!.text(), 'before');
      const m = sub.tryRead()!;
      assert.equal(m.text(), 'after');
      assert.equal(m.seq, 2);
      assert.equal(sub.tryRead(), null);
      // Go around the ring many times: the dead loan's space is reused like any other.
      for (let i = 0; i < 500; i++) {
        const payload = new Uint8Array(100 + ((i * 37) % 7000)).fill(i & 0xff);
        topic.publish(payload);
        const r = sub.tryRead()!;
        assert.equal(r.seq, i + 3);
        assert.deepEqual(r.data, payload);
      }
      assert.equal(sub.lost, 0);
    } finally {
      sub.close();
      topic.close();
      unlinkQuietly(name);
    }
  });

  it('single-publisher topic: a live publisher process excludes others; killed with SIGKILL, its place is taken over', async () => {
    const name = uniqueName('topicsingle');
    const creator = Topic.create(name, { capacity: 64 << 10, maxMessageSize: 1024, singlePublisher: true });
    creator.close(); // the creator steps aside: the child becomes the one publisher
    const reader = Topic.subscribe(name);
    try {
      const child = spawnPeer(fixture('topic-loan-holder'), [name, 'single']);
      await child.line('publishing');
      assert.equal((await reader.read({ timeout: 10_000 }))!.text(), 'alive');
      assert.throws(() => Topic.open(name), (e: unknown) => isShmbusError(e, 'ERR_PUBLISHER_EXISTS'));
      child.kill('SIGKILL');
      assert.equal(await child.exited, 'SIGKILL');
      const next = Topic.open(name);
      assert.equal(next.publish('taken over'), 2);
      assert.equal(reader.tryRead()!.text(), 'taken over');
      next.close();
    } finally {
      reader.close();
      unlinkQuietly(name);
    }
  });

  it('a publisher killed at an arbitrary point (mostly mid-copy) leaves only complete messages; others go on', async () => {
    const name = uniqueName('topicflood');
    const topic = Topic.create(name, { capacity: 8 << 20, maxMessageSize: 1 << 20 });
    const sub = Topic.subscribe(name);
    try {
      const flood = spawnPeer(fixture('topic-loan-holder'), [name, 'flood']);
      await flood.line('flooding');
      let checked = 0;
      const verify = (data: Uint8Array): void => {
        const dv = new DataView(data.buffer, data.byteOffset, 12);
        assert.equal(crc32(data.subarray(12)), dv.getUint32(8, true), 'torn message');
        checked++;
      };
      for (let i = 0; i < 5; i++) verify((await sub.read({ timeout: 10_000 }))!.data);
      flood.kill('SIGKILL');
      assert.equal(await flood.exited, 'SIGKILL');
      const seq = topic.publish('final', { timeout: 10_000 });
      for (;;) {
        const m = (await sub.read({ timeout: 10_000 }))!;
        if (m.data.length === 5) {
          assert.equal(m.text(), 'final');
          assert.equal(m.seq, seq);
          break;
        }
        verify(m.data);
      }
      assert.ok(checked >= 5);
      assert.equal(sub.tryRead(), null);
    } finally {
      sub.close();
      topic.close();
      unlinkQuietly(name);
    }
  });

  it("from 'oldest' replays what the ring holds; from 'latest' starts at the next message", async () => {
    const name = uniqueName('topicfrom');
    const topic = Topic.create(name, { capacity: 1 << 20, maxMessageSize: 4096 });
    try {
      const first = publisher(name, 5);
      await first.line('done 5');
      await expectCleanExit(first);
      const oldest = subscriber(name, { from: 'oldest', untilSeq: 5 });
      const latest = subscriber(name, { from: 'latest', untilSeq: 8 });
      await latest.line('ready');
      const o = parseDone(await oldest.line(/^done /));
      assert.deepEqual([o.read, o.first, o.last], [5, 1, 5]);
      const second = publisher(name, 3, { pub: 0, seed: 99 });
      await second.line('done 8');
      await expectCleanExit(second);
      const l = parseDone(await latest.line(/^done /));
      assert.deepEqual([l.read, l.first, l.last, l.lost], [3, 6, 8, 0]);
      await expectCleanExit(oldest);
      await expectCleanExit(latest);
    } finally {
      topic.close();
      unlinkQuietly(name);
    }
  });

  it('a subscriber started before the topic exists attaches when it appears and gets its first message', async () => {
    const name = uniqueName('topiclate');
    const sub = subscriber(name, { wait: 30_000, untilSeq: 10 });
    let topic: Topic | undefined;
    try {
      await sub.line('subscribed');
      topic = Topic.create(name, { capacity: 1 << 20, maxMessageSize: 4096 });
      const pub = publisher(name, 10);
      await pub.line('done 10');
      const done = parseDone(await sub.line(/^done /));
      assert.deepEqual([done.read, done.first, done.last, done.lost], [10, 1, 10, 0]);
      await expectCleanExit(pub);
      await expectCleanExit(sub);
    } finally {
      sub.kill();
      topic?.close();
      unlinkQuietly(name);
    }
  });
});
