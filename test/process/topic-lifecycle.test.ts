/**
 * Topic lifecycles across processes (issue 11, PROTOCOL 5.8): a subscriber's stream ends once no publisher is left
 * (closed, or killed with SIGKILL and found dead), a subscriber that never saw a publisher keeps waiting, and a
 * publisher can wait for subscribers and count them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Topic } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, uniqueName, unlinkQuietly } from '../helpers/index.js';

describe('Topic lifecycle', () => {
  it('the publisher closes: a subscriber process reads what is left, then its for-await loop ends', async () => {
    const name = uniqueName('topicend');
    const pub = Topic.create(name, { capacity: 1 << 16 });
    try {
      const sub = spawnPeer(fixture('topic-until-end'), [name]);
      await sub.line('subscribed');
      assert.equal(await pub.waitForSubscribers(1, { timeout: 30_000 }), 1);
      pub.publish('a');
      pub.publish('b');
      pub.close();
      assert.equal(await sub.line(/^end /), 'end read=2 closed=true');
      await expectCleanExit(sub);
    } finally {
      pub.close();
      unlinkQuietly(name);
    }
  });

  it('the publisher is killed with SIGKILL: the subscriber finds it dead within its liveness interval and ends', async () => {
    const name = uniqueName('topicendk');
    Topic.create(name, { capacity: 1 << 16 }).close(); // the topic exists, nobody publishes yet
    try {
      const sub = spawnPeer(fixture('topic-until-end'), [name, '100']);
      await sub.line('subscribed');
      const pub = spawnPeer(fixture('topic-loan-holder'), [name, 'publisher']);
      await pub.line('published');
      assert.equal(await sub.line('got two'), 'got two');
      pub.kill('SIGKILL');
      assert.equal(await pub.exited, 'SIGKILL');
      assert.equal(await sub.line(/^end /), 'end read=2 closed=true');
      await expectCleanExit(sub);
    } finally {
      unlinkQuietly(name);
    }
  });

  it('a subscriber that never saw a publisher keeps waiting (read times out instead of ending)', async () => {
    const name = uniqueName('topicnopub');
    Topic.create(name, { capacity: 4096 }).close();
    const sub = Topic.subscribe(name, { livenessInterval: 10 });
    try {
      await assert.rejects(sub.read({ timeout: 50 }), (e: unknown) => (e as { code?: string }).code === 'ERR_TIMEOUT');
    } finally {
      sub.close();
      unlinkQuietly(name);
    }
  });

  it('waitForSubscribers resolves when a subscriber process attaches; subscribers counts it until it is killed', async () => {
    const name = uniqueName('topicjoin');
    const pub = Topic.create(name, { capacity: 1 << 16 });
    try {
      assert.equal(pub.subscribers, 0);
      const waiting = pub.waitForSubscribers(1, { timeout: 30_000 });
      const sub = spawnPeer(fixture('topic-until-end'), [name]);
      assert.equal(await waiting, 1);
      assert.equal(pub.subscribers, 1);
      assert.equal(pub.stats().publishers, 1);
      pub.publish('hello');
      await sub.line('got hello');
      assert.deepEqual(
        pub.stats().subscribers.map((s) => [s.pid, s.lag, s.lost]),
        [[sub.child.pid, 0, 0]],
      );
      sub.kill('SIGKILL');
      await sub.exited;
      assert.equal(pub.subscribers, 0, 'the dead subscriber is swept');
      await assert.rejects(pub.waitForSubscribers(1, { timeout: 20 }), (e: unknown) => (e as { code?: string }).code === 'ERR_TIMEOUT');
    } finally {
      pub.close();
      unlinkQuietly(name);
    }
  });
});

describe('Subscriber unref()', () => {
  it('an unref()ed subscriber parked in read() lets its process exit; a ref()ed one keeps it until a message arrives', async () => {
    const name = uniqueName('topicunref');
    const pub = Topic.create(name, { capacity: 4096 });
    try {
      const idle = spawnPeer(fixture('topic-unref'), [name, 'unref']);
      await idle.line('waiting');
      assert.equal(await idle.exited, 0);
      assert.doesNotMatch(idle.stderr(), /\S/);
      const busy = spawnPeer(fixture('topic-unref'), [name, 'ref']);
      await busy.line('waiting');
      await pub.waitForSubscribers(1, { timeout: 30_000 });
      pub.publish('still here');
      assert.equal(await busy.line(/^got /), 'got still here');
      assert.equal(await busy.exited, 0);
    } finally {
      pub.close();
      unlinkQuietly(name);
    }
  });

  it('an unref()ed subscriber waiting for its topic to appear lets its process exit', async () => {
    const child = spawnPeer(fixture('topic-unref'), [uniqueName('topicnever'), 'unref-wait']);
    await child.line('waiting');
    assert.equal(await child.exited, 0);
  });
});
