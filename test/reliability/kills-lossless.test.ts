/**
 * Randomized kill -9 of Queue producers and consumers (C, Node and Python processes) while the test process keeps sending
 * and receiving. Runs are batched: a queue lives through BATCH kills, then its stream is ended and the tally checked:
 * every message whose send returned (the test's own sends) arrives exactly once; no message arrives twice; a
 * victim producer's messages arrive as a prefix (its last send may be abandoned), with at most one hole per killed
 * consumer (at-most-once for the message a consumer held when it died, counted in stats().lost); nobody waits past
 * the liveness bound. The seed is printed: SHMBUS_SEED replays it.
 */
import { after as afterAll, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment } from '../../src/index.js';
import { checkMessage, fillMessage } from '../fixtures/queue-msg.js';
import { fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { LIVENESS_BOUND_MS, RUNS, after, kill, report, rng, spawnPy, victimLang, within } from './lib.js';

const { name, cleanup } = trackNames();
afterAll(cleanup);

const BATCH = 10; // kills per queue lifetime
const PER = 1 << 15; // tally entries per producer id
const SURVIVOR = BATCH; // the test's own producer id

describe('Queue under randomized kill -9', () => {
  it(`${RUNS} runs: producers and consumers killed at random instants, nothing committed is lost`, async (t) => {
    const r = rng('queue');
    const violations: string[] = [];
    let kills = 0;
    let recoveries = 0;
    let delivered = 0;
    for (let batch = 0; batch * BATCH < RUNS && violations.length === 0; batch++) {
      const runs = Math.min(BATCH, RUNS - batch * BATCH);
      const qName = name('rel-q');
      const tallyName = name('rel-q-tally');
      const size = r.pick([16, 64, 200]);
      const q = Queue.create(qName, { slots: r.pick([2, 4, 16]), maxMessageSize: 256 });
      const tally = Segment.create(tallyName, { size: (BATCH + 1) * PER });
      const marks = tally.bytes;
      let consumerKills = 0;
      // The surviving consumer, in this process.
      const survivor = (async () => {
        for (;;) {
          let m;
          try {
            m = q.tryReceive() ?? (await q.receive({ timeout: LIVENESS_BOUND_MS }));
          } catch (e) {
            violations.push(`survivor receive: ${String(e)}`);
            return;
          }
          if (m === null) return; // the stream ended
          try {
            const [id, seq] = checkMessage(m.data);
            if (id > SURVIVOR || seq >= PER) throw new Error(`message ${id}/${seq} out of range`);
            Atomics.add(marks, id * PER + seq, 1);
          } catch (e) {
            violations.push(`survivor got a bad message: ${String(e)}`);
          }
        }
      })();
      const buf = new Uint8Array(size);
      let sent = 0;
      try {
        for (let run = 0; run < runs; run++) {
          const lang = victimLang(r);
          const consumer = r.next() < 0.3;
          let v: Peer;
          if (consumer) {
            v = lang === 'node'
              ? spawnPeer(fixture('queue-consumer'), [qName, tallyName, String(PER)])
              : lang === 'python'
                ? spawnPy('queue-consume', [qName, tallyName, String(PER)])
                : spawnC('queue-peer', ['consume', qName, tallyName, String(PER)]);
            consumerKills++;
          } else {
            v = lang === 'node'
              ? spawnPeer(fixture('queue-producer'), [qName, String(run), String(PER), String(size)])
              : lang === 'python'
                ? spawnPy('queue-produce', [qName, String(run), String(PER), String(size)])
                : spawnC('queue-peer', ['produce', qName, String(run), String(PER), String(size)]);
          }
          await v.line('ready');
          await after(r.next() * 30);
          const how = await kill(v);
          kills++;
          if (how !== 'SIGKILL' && how !== 0) violations.push(`batch ${batch} run ${run}: a victim crashed (${how}): ${v.stderr().slice(0, 300)}`);
          // The survivors go on: a send returns within the bound (a slot held by a dead peer is recovered).
          try {
            for (let i = 0; i < 3; i++) {
              await q.send(fillMessage(buf, SURVIVOR, sent), { timeout: LIVENESS_BOUND_MS });
              sent++;
            }
          } catch (e) {
            violations.push(`batch ${batch} run ${run}: send after the kill: ${String(e)}`);
            break;
          }
        }
        q.end();
        if (!(await within(survivor, LIVENESS_BOUND_MS))) violations.push(`batch ${batch}: the survivor did not see the end of the stream`);
        const st = q.stats();
        recoveries += st.abandoned + st.lost;
        if (st.lost > consumerKills) violations.push(`batch ${batch}: ${st.lost} messages lost for ${consumerKills} consumer kills`);
        // The tally: no duplicates anywhere, prefixes per producer, holes only for killed consumers.
        let holes = 0;
        for (let id = 0; id <= SURVIVOR; id++) {
          let top = -1;
          for (let seq = 0; seq < PER; seq++) {
            const n = marks[id * PER + seq]!;
            if (n > 1) violations.push(`batch ${batch}: message ${id}/${seq} delivered ${n} times`);
            if (n > 0) top = seq;
            delivered += n;
          }
          if (id === SURVIVOR) top = Math.max(top, sent - 1); // every acknowledged send counts
          for (let seq = 0; seq < top; seq++) if (marks[id * PER + seq] === 0) holes++;
        }
        if (holes > consumerKills) violations.push(`batch ${batch}: ${holes} committed messages missing for ${consumerKills} consumer kills`);
      } finally {
        q.close();
        tally.close();
      }
    }
    t.diagnostic(`seed ${r.seed}: ${kills} kills, ${recoveries} recoveries (abandoned + lost slots), ${delivered} messages delivered`);
    await report('kill', [{ kind: 'Queue', runs: RUNS, kills, recoveries, violations: violations.length,
      note: `producers and consumers (C, Node, Python) killed, ${BATCH} kills per queue; exactly-once of every acknowledged send, no duplicate, prefix per producer, holes <= consumer kills, sends and the end of stream within ${LIVENESS_BOUND_MS / 1000} s (seed ${r.seed})` }]);
    assert.deepEqual(violations, [], `seed ${r.seed} (replay with SHMBUS_SEED=${r.seed})`);
  });
});
