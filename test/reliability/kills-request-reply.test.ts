/**
 * Randomized kill -9 of Rpc server processes (one or several workers each, C, Node and Python) and clients while the test
 * process keeps serving and calling. Every request of the surviving client ends within the liveness bound with the
 * right answer, or with ERR_NO_SERVER when the server process that had taken it was killed (never a wrong answer,
 * another error or a hang); after each kill the survivor client completes new requests. The seed is printed:
 * SHMBUS_SEED replays it.
 */
import { after as afterAll, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Rpc, isShmbusError } from '../../src/index.js';
import { fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { LIVENESS_BOUND_MS, RUNS, after, kill, report, rng, spawnPy, unlinkAny, victimLang, within } from './lib.js';

const { name, cleanup } = trackNames(unlinkAny);
afterAll(cleanup);

describe('Rpc under randomized kill -9', () => {
  it(`${RUNS} runs: servers, workers and clients killed at random instants, every request ends`, async (t) => {
    const r = rng('rpc');
    const svc = name('rel-rpc');
    const violations: string[] = [];
    const server = Rpc.serve(svc, (req) => `ok:${req.text()}`, { workers: 2 });
    const client = Rpc.connect(svc);
    let running = true;
    let ok = 0;
    let noServer = 0;
    const lost: string[] = [];
    let next = 0;
    let progress: (() => void) | null = null;
    const lane = async (): Promise<void> => {
      while (running) {
        const text = `s:${next++}`;
        try {
          const res = await client.request(text, { timeout: LIVENESS_BOUND_MS });
          if (res.text() !== `ok:${text}`) violations.push(`request ${text} got ${res.text()}`);
          ok++;
          progress?.();
        } catch (e) {
          if (isShmbusError(e, 'ERR_NO_SERVER')) noServer++;
          // A request that waits for its timeout was lost silently: since the worker's intent (PROTOCOL §8) there
          // is no window left for that (test/reliability/rpc-take-window.test.ts forces the old one).
          else if (isShmbusError(e, 'ERR_TIMEOUT')) lost.push(text);
          else violations.push(`request ${text}: ${String(e)}`);
        }
      }
    };
    const lanes = Array.from({ length: 4 }, lane);
    let kills = 0;
    try {
      for (let run = 0; run < RUNS && violations.length === 0; run++) {
        const lang = victimLang(r);
        const isClient = r.next() < 0.3;
        let v: Peer;
        if (isClient) {
          v = lang === 'node'
            ? spawnPeer(fixture('rpc-client'), [svc, `v${run}`, '1000000', '4'])
            : lang === 'python'
              ? spawnPy('rpc-client', [svc, `v${run}`, '100000000'])
              : spawnC('rpc-peer', ['client', svc, `v${run}`, '100000000', String(1 + r.int(4))]);
          await v.line('ready');
        } else {
          const workers = String(1 + r.int(3));
          v = lang === 'node'
            ? spawnPeer(fixture('rpc-server'), [svc, workers])
            : lang === 'python'
              ? spawnPy('rpc-serve', [svc, workers, r.next() < 0.5 ? 'copy' : 'zc'])
              : spawnC('rpc-peer', ['serve', svc, workers]);
          await v.line('serving');
        }
        await after(r.next() * 30);
        const how = await kill(v);
        kills++;
        if (how !== 'SIGKILL' && how !== 0) violations.push(`run ${run}: a victim crashed (${how}): ${v.stderr().slice(0, 300)}`);
        // The survivors go on: a request completes after the kill.
        const before = ok;
        const moved = await within(new Promise<void>((res) => (progress = () => ok > before && res())), LIVENESS_BOUND_MS);
        progress = null;
        if (!moved && ok === before) violations.push(`run ${run}: no request completed within ${LIVENESS_BOUND_MS} ms after the kill`);
      }
    } finally {
      running = false;
      if (!(await within(Promise.all(lanes), LIVENESS_BOUND_MS + 1000))) violations.push('the survivor client did not finish its requests');
      client.close();
      await server.close({ timeout: 5000 });
      // A client killed between creating its response queue and writing its header leaves an object that no tool
      // may call stale for 60 s (PROTOCOL §2.3: its creator is unknown): every victim is dead now, so remove them.
      for (const entry of readdirSync('/dev/shm')) {
        if (entry.startsWith(`shmbus.${svc}.r`)) unlinkAny(entry.slice('shmbus.'.length));
      }
    }
    t.diagnostic(`seed ${r.seed}: ${kills} kills, ${ok} requests answered, ${noServer} failed with ERR_NO_SERVER (their server was killed), ${lost.length} lost silently`);
    if (lost.length > 0) violations.push(`${lost.length} requests lost silently (waited for their timeout): ${lost.slice(0, 5).join(', ')}`);
    await report('kill', [{ kind: 'Rpc', runs: RUNS, kills, recoveries: noServer, violations: violations.length,
      note: `server processes of 1-3 workers (C, Node, Python) and clients (C, Node, Python) killed; every request of the surviving client answered right or ERR_NO_SERVER, within ${LIVENESS_BOUND_MS / 1000} s; recoveries = requests failed over to ERR_NO_SERVER; a request lost silently (waiting for its timeout) counts as a violation (seed ${r.seed})` }]);
    assert.deepEqual(violations, [], `seed ${r.seed} (replay with SHMBUS_SEED=${r.seed})`);
  });
});
