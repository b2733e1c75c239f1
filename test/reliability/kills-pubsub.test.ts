/**
 * Randomized kill -9 of Topic publishers and subscribers (C, Node and Python processes) while the test process keeps
 * subscribing and publishing. After each kill the test publishes a marker that must go through (the writers' lock of
 * a publisher killed inside publish/loan is taken over) and reach the surviving subscriber within the liveness bound;
 * every message the survivor reads must be whole (crc) and in order. The seed is printed: SHMBUS_SEED replays it.
 */
import { after as afterAll, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { randomFillSync } from 'node:crypto';
import { Topic, isShmbusError } from '../../src/index.js';
import { fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { LIVENESS_BOUND_MS, RUNS, after, kill, report, rng, spawnPy, victimLang, within } from './lib.js';

const { name, cleanup } = trackNames();
afterAll(cleanup);

function fill(msg: Uint8Array, pub: number, index: number): Uint8Array {
  randomFillSync(msg, 12);
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  dv.setUint32(0, pub, true);
  dv.setUint32(4, index, true);
  dv.setUint32(8, crc32(msg.subarray(12)), true);
  return msg;
}

describe('Topic under randomized kill -9', () => {
  it(`${RUNS} runs: publishers and subscribers killed at random instants, the survivors go on`, async (t) => {
    const r = rng('topic');
    const topicName = name('rel-topic');
    const topic = Topic.create(topicName, { capacity: 64 * 1024, maxMessageSize: 4096 });
    const sub = Topic.subscribe(topicName, { from: 'latest', livenessInterval: 50 });
    const violations: string[] = [];
    let lastMarker = -1;
    let read = 0;
    let reading = true;
    const markerWake: { fn: (() => void) | null } = { fn: null };
    // The surviving subscriber: checks every message it reads while the victims come and go.
    const survivor = (async () => {
      const next = new Map<number, number>();
      let lastSeq = 0;
      while (reading) {
        const m = await sub.read({ timeout: 200 }).catch((e: unknown) => {
          if (!isShmbusError(e, 'ERR_TIMEOUT')) violations.push(`survivor read threw ${String(e)}`);
          return null;
        });
        if (m === null) continue;
        read++;
        if (m.seq <= lastSeq) violations.push(`seq went backwards: ${m.seq} after ${lastSeq}`);
        lastSeq = m.seq;
        const d = m.data;
        if (d.length < 12) {
          violations.push(`short message of ${d.length} bytes at seq ${m.seq}`);
          continue;
        }
        const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
        const pub = dv.getUint32(0, true);
        const index = dv.getUint32(4, true);
        if (crc32(d.subarray(12)) !== dv.getUint32(8, true)) violations.push(`torn message: pub ${pub} index ${index} seq ${m.seq}`);
        if (pub === 0) {
          // A marker: every victim before it is dead, their ids may be reused from here on.
          next.clear();
          lastMarker = index;
          markerWake.fn?.();
          continue;
        }
        if (index < (next.get(pub) ?? 0)) violations.push(`pub ${pub}: index ${index} after ${next.get(pub)! - 1}`);
        next.set(pub, index + 1);
      }
    })();
    const marker = new Uint8Array(64);
    let kills = 0;
    let nodeVictims = 0;
    let pyVictims = 0;
    try {
      for (let run = 0; run < RUNS; run++) {
        const pubId = 1 + (run % 63);
        const victims: Peer[] = [];
        const lang = victimLang(r);
        if (lang === 'node') nodeVictims++;
        if (lang === 'python') pyVictims++;
        const mode = r.next() < 0.5 ? 'publish' : 'loan';
        const maxSize = r.pick([64, 600, 4000]);
        victims.push(
          lang === 'node'
            ? spawnPeer(fixture('topic-publisher'), [JSON.stringify({ topic: topicName, pub: pubId, count: 1_000_000, minSize: 12, maxSize, mode })])
            : lang === 'python'
              ? spawnPy('topic-pub', [topicName, String(pubId), '12', String(maxSize), String(r.int(1e9)), mode])
              : spawnC('topic-peer', ['pub', topicName, String(pubId), '100000000', '12', String(maxSize), String(r.int(1e9)), mode]),
        );
        if (r.next() < 0.4) {
          // A subscriber victim beside it (killed too, at its own random instant).
          const subLang = victimLang(r);
          const subMode = r.next() < 0.5 ? 'copy' : 'zc';
          victims.push(
            subLang === 'node'
              ? spawnPeer(fixture('topic-subscriber'), [JSON.stringify({ topic: topicName, sub: run, pubs: 64 })])
              : subLang === 'python'
                ? spawnPy('topic-sub', [topicName, '64', subMode])
                : spawnC('topic-peer', ['sub', topicName, '64', '0', '0', 'latest', subMode, 'go']),
          );
        }
        await Promise.all(victims.map((v) => v.line('ready')));
        await Promise.all(
          victims.map(async (v) => {
            await after(r.next() * 30);
            const how = await kill(v);
            kills++;
            if (how !== 'SIGKILL' && how !== 0) violations.push(`run ${run}: a victim crashed (${how}): ${v.stderr().slice(0, 300)}`);
          }),
        );
        // The survivors go on: a publish must get the writers' lock (taken over from a dead holder) and arrive.
        try {
          topic.publish(fill(marker, 0, run), { timeout: LIVENESS_BOUND_MS });
        } catch (e) {
          violations.push(`run ${run}: publish after the kill failed: ${String(e)}`);
          break;
        }
        if (lastMarker < run) {
          const arrived = await within(new Promise<void>((res) => (markerWake.fn = res)), LIVENESS_BOUND_MS);
          markerWake.fn = null;
          if (!arrived && lastMarker < run) violations.push(`run ${run}: the survivor did not read the marker within ${LIVENESS_BOUND_MS} ms`);
        }
        if (violations.length > 0) break;
      }
    } finally {
      reading = false;
      await survivor;
      sub.close();
      topic.close();
    }
    t.diagnostic(`seed ${r.seed}: ${kills} kills (${nodeVictims} runs with a Node publisher, ${pyVictims} with a Python one), survivor read ${read} messages, lost ${sub.lost}`);
    await report('kill', [{ kind: 'Topic', runs: RUNS, kills, recoveries: 'n/a', violations: violations.length,
      note: `publishers (C and Python publish/loan, Node) and subscribers (C and Python copy/zero-copy, Node) killed; marker published and read after each kill; crc + order of every message read (seed ${r.seed})` }]);
    assert.deepEqual(violations, [], `seed ${r.seed} (replay with SHMBUS_SEED=${r.seed})`);
  });
});
