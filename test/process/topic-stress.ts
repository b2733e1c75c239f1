/**
 * The 3 publishers x 3 subscribers scenario, shared by topic.test.ts (scaled down) and topic.slow.test.ts (full
 * size). Not a test file itself.
 */
import assert from 'node:assert/strict';
import { Segment, Topic } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, uniqueName, unlinkQuietly, type Peer } from '../helpers/index.js';

function parseDone(line: string): { read: number; lost: number; first: number; last: number; gaps: number } {
  const m = /done read=(\d+) lost=(\d+) first=(-?\d+) last=(\d+) gaps=(\d+)/.exec(line);
  assert.ok(m, `unexpected line ${line}`);
  return { read: Number(m[1]), lost: Number(m[2]), first: Number(m[3]), last: Number(m[4]), gaps: Number(m[5]) };
}

/**
 * 3 publisher processes (two with publish, one with loan/commit) x 3 subscriber processes checking every message,
 * plus a 4th subscriber killed with SIGKILL part-way: every surviving subscriber gets all `total` messages, in each
 * publisher's order, with intact checksums, and lost stays 0.
 */
export async function threeByThree(total: number, watchdogMs: number): Promise<void> {
  const name = uniqueName('topic3x3');
  const progressName = uniqueName('progress');
  const pubs = 3;
  const subs = 3;
  const perPub = Math.ceil(total / pubs);
  const capacity = 16 << 20;
  const topic = Topic.create(name, { capacity, maxMessageSize: 64 << 10 });
  const progress = Segment.create(progressName, { size: 4096 });
  const peers: Peer[] = [];
  try {
    const subscribers = Array.from({ length: subs }, (_, s) =>
      spawnPeer(
        fixture('topic-subscriber'),
        [JSON.stringify({ topic: name, sub: s, pubs, perPub, progress: progressName })],
        { watchdogMs },
      ),
    );
    const victim = spawnPeer(fixture('topic-subscriber'), [JSON.stringify({ topic: name, sub: 99, pubs })], { watchdogMs });
    peers.push(...subscribers, victim);
    for (const p of [...subscribers, victim]) await p.line('ready');
    const publishers = Array.from({ length: pubs }, (_, p) =>
      spawnPeer(
        fixture('topic-publisher'),
        [
          JSON.stringify({
            topic: name,
            pub: p,
            count: perPub,
            minSize: 16,
            maxSize: 64 << 10,
            progress: progressName,
            subs,
            pubs,
            window: capacity / 4,
            mode: p === 2 ? 'loan' : 'publish',
          }),
        ],
        { watchdogMs },
      ),
    );
    peers.push(...publishers);
    await victim.line('count 100', watchdogMs);
    victim.kill('SIGKILL');
    assert.equal(await victim.exited, 'SIGKILL');
    for (const p of publishers) await p.line(/^done \d+$/, watchdogMs);
    for (const s of subscribers) {
      const done = parseDone(await s.line(/^done /, watchdogMs));
      assert.equal(done.read, perPub * pubs);
      assert.equal(done.lost, 0);
      assert.equal(done.gaps, 0);
    }
    for (const p of [...publishers, ...subscribers]) await expectCleanExit(p);
  } finally {
    for (const p of peers) p.kill();
    topic.close();
    progress.close();
    unlinkQuietly(name, progressName);
  }
}

export { parseDone };
