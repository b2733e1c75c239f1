/**
 * Randomized kill -9 of Mutex, RwLock and Semaphore holders and waiters (C, Node and Python processes) that update journaled
 * state under the lock (test/fixtures/lock-chaos.ts and its C twin `sync-peer chaos`). A random child is killed at a
 * random instant, or (one kill in three) stopped inside its update with the lock held, and replaced. After the runs:
 * no two writers were ever inside together, no reader saw a half-done update, the counter equals the sum of the
 * per-child counts, every holder killed with the lock was followed by a recovered acquisition, and every child made
 * progress after the last kill (nobody waits past the liveness bound). The seed is printed: SHMBUS_SEED replays it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mutex, Segment, Semaphore } from '../../src/index.js';
import { CHAOS, repairChaos } from '../fixtures/lock-chaos-state.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { LIVENESS_BOUND_MS, RUNS, after, kill, report, rng, spawnPy, victimLang, type Figures } from './lib.js';

const { name, cleanup } = trackNames();
const figures: Figures[] = [];

describe('locks under randomized kill -9', { concurrency: false }, () => {
  for (const kind of ['mutex', 'rwlock', 'semaphore'] as const) {
    it(`${kind}: ${RUNS} holders and waiters killed at random instants, state consistent, nobody wedged`, async (t) => {
      const r = rng(kind);
      const segName = name(`rel-${kind}`);
      const seg = Segment.create(segName, {
        size: CHAOS.segmentSize,
        init: (s) => (kind === 'semaphore' ? Semaphore.init(s, 0, { initial: 1 }) : undefined),
      });
      const w = seg.words;
      const roles: ('writer' | 'reader')[] = kind === 'rwlock' ? ['writer', 'writer', 'reader', 'reader'] : ['writer', 'writer', 'writer'];
      const live: (Peer | undefined)[] = [];
      const violations: string[] = [];
      const start = async (i: number): Promise<void> => {
        const args = [kind, roles[i]!, segName, String(i)];
        const lang = victimLang(r);
        const p = lang === 'node'
          ? spawnPeer(fixture('lock-chaos'), args, { watchdogMs: 600_000 })
          : lang === 'python'
            ? spawnPy('lock-chaos', args, { watchdogMs: 600_000 })
            : spawnC('sync-peer', ['chaos', ...args], { watchdogMs: 600_000 });
        live[i] = p;
        await p.line('ready');
      };
      let heldKills = 0;
      try {
        for (let i = 0; i < roles.length; i++) await start(i);
        for (let k = 0; k < RUNS && violations.length === 0; k++) {
          const held = r.next() < 1 / 3;
          let i = r.int(roles.length);
          if (held && roles[i] !== 'writer') i = roles.indexOf('writer');
          const victim = live[i]!;
          try {
            if (held) {
              Atomics.store(w, CHAOS.hold, i + 1);
              await victim.line('holding', LIVENESS_BOUND_MS);
              Atomics.store(w, CHAOS.hold, 0); // before its replacement starts
              heldKills++;
            } else {
              await victim.line('progress', LIVENESS_BOUND_MS);
              await after(r.next() * 5);
            }
          } catch (e) {
            violations.push(`kill ${k}: child ${i} made no progress: ${String(e).slice(0, 300)}`);
            break;
          }
          const how = await kill(victim);
          if (how !== 'SIGKILL') violations.push(`kill ${k}: child ${i} ended by itself (${how}): ${victim.stderr().slice(0, 300)}`);
          await start(i);
        }
        // Every child still makes progress after the last kill, then stops.
        for (const p of live) await p!.line('progress', LIVENESS_BOUND_MS);
        Atomics.store(w, CHAOS.stop, 1);
        for (const p of live) {
          await p!.line('done', LIVENESS_BOUND_MS);
          await expectCleanExit(p!);
        }
        const guard = kind === 'mutex' ? new Mutex(seg, 0, { livenessInterval: 10 }) : undefined;
        if (guard?.lockSync({ timeout: LIVENESS_BOUND_MS }).recovered) repairChaos(w);
        if (Atomics.load(w, CHAOS.overlaps) !== 0) violations.push('two writers were inside at once');
        if (Atomics.load(w, CHAOS.inconsistent) !== 0) violations.push('a reader saw a half-done update');
        let sum = 0;
        for (let i = 0; i < CHAOS.maxChildren; i++) sum += Atomics.load(w, CHAOS.counts + i);
        if (Atomics.load(w, CHAOS.pendIndex) !== 0) violations.push('a journal was left pending');
        if (Atomics.load(w, CHAOS.counter) !== sum) violations.push(`counter ${Atomics.load(w, CHAOS.counter)} != sum of counts ${sum}`);
        const recoveries = Atomics.load(w, CHAOS.recoveries);
        if (recoveries < heldKills) violations.push(`${recoveries} recoveries for ${heldKills} kills of a holder`);
        guard?.unlock();
        guard?.close();
        t.diagnostic(`seed ${r.seed}: ${RUNS} kills (${heldKills} inside an update with the lock held), ${recoveries} recoveries, counter ${sum}`);
        figures.push({ kind: kind[0]!.toUpperCase() + kind.slice(1), runs: RUNS, kills: RUNS, recoveries, violations: violations.length,
          note: `${roles.length} children (C, Node, Python), a third of the kills inside a journaled update with the lock held; no overlap, no half-done update seen, counter = sum of counts, progress of all after the last kill (seed ${r.seed})` });
      } finally {
        for (const p of live) p?.kill();
        seg.close();
        cleanup();
      }
      assert.deepEqual(violations, [], `seed ${r.seed} (replay with SHMBUS_SEED=${r.seed})`);
    });
  }
  it('figures', async () => {
    await report('kill', figures);
  });
});
