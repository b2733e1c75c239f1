/**
 * Defect 1 of issue 10: the Topic's sleepers word (PROTOCOL §5.6, §3) heals after a subscriber that was parked
 * is closed, or killed with SIGKILL: the next publish clears the announcement (one wake call) and later publishes
 * see 0 (no wake call). The word is read from shared memory through a second mapping.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Segment, Topic, isShmbusError } from '../../src/index.js';
import { TOPIC_SLEEPERS_OFFSET } from '../../src/protocol/layout.js';
import { fixture, spawnPeer, uniqueName, unlinkQuietly } from '../helpers/index.js';

const SLEEPERS = TOPIC_SLEEPERS_OFFSET / 4;

/** Polls shared memory (not a sleep as synchronisation: it waits for a condition, bounded) until pred holds. */
async function until(pred: () => boolean, what: string, withinMs = 20_000): Promise<void> {
  const end = performance.now() + withinMs;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

describe('Topic sleepers word', () => {
  it('a subscriber closed while parked in read(): the next publish clears the word, later publishes find 0', async () => {
    const name = uniqueName('topicsleep');
    const pub = Topic.create(name, { capacity: 4096, maxMessageSize: 64 });
    const probe = Segment.open(name, { kind: 'topic' });
    try {
      const sub = Topic.subscribe(name, { spin: 0 });
      const pending = sub.read().then(
        () => 'read',
        (e: unknown) => (isShmbusError(e, 'ERR_CLOSED') ? 'closed' : e),
      );
      await until(() => Atomics.load(probe.words, SLEEPERS) !== 0, 'the subscriber to announce itself');
      sub.close();
      assert.equal(await pending, 'closed');
      pub.publish('one');
      assert.equal(Atomics.load(probe.words, SLEEPERS), 0, 'the publish after the close clears the announcement');
      pub.publish('two');
      pub.publish('three');
      assert.equal(Atomics.load(probe.words, SLEEPERS), 0);
    } finally {
      probe.close();
      pub.close();
      unlinkQuietly(name);
    }
  });

  it('a subscriber killed with SIGKILL while parked: the next publish clears the word, later publishes find 0', async () => {
    const name = uniqueName('topicsleepk');
    const pub = Topic.create(name, { capacity: 4096, maxMessageSize: 64 });
    const probe = Segment.open(name, { kind: 'topic' });
    try {
      const child = spawnPeer(fixture('topic-parked'), [name]);
      await child.line('parking');
      await until(() => Atomics.load(probe.words, SLEEPERS) !== 0, 'the child to park');
      child.kill('SIGKILL');
      assert.equal(await child.exited, 'SIGKILL');
      assert.notEqual(Atomics.load(probe.words, SLEEPERS), 0, 'the dead sleeper left its announcement');
      pub.publish('one');
      assert.equal(Atomics.load(probe.words, SLEEPERS), 0);
      pub.publish('two');
      assert.equal(Atomics.load(probe.words, SLEEPERS), 0);
    } finally {
      probe.close();
      pub.close();
      unlinkQuietly(name);
    }
  });
});
