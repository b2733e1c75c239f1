/**
 * Randomized kill -9 of Mailbox writers (1 MiB values, C and Node; 64 KiB, Python) and readers while the test process and a C
 * reader keep reading: no reader ever sees a torn value (crc of every value), versions never go back, and after each
 * kill a write from the test gets the writers' lock within the liveness bound (a writer killed mid-write is taken
 * over; the previous value stays readable). The seed is printed: SHMBUS_SEED replays it.
 */
import { after as afterAll, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { Mailbox } from '../../src/index.js';
import { fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { LIVENESS_BOUND_MS, RUNS, after, kill, report, rng, spawnPy, victimLang, within } from './lib.js';

const { name, cleanup } = trackNames();
afterAll(cleanup);

/** A value as the peers write them: [u32 crc32 of bytes 4..][u32 counter][bytes]. */
function valueOk(d: Uint8Array): boolean {
  if (d.length === 0 || (d.length === 4 && Buffer.from(d).toString() === 'STOP')) return true;
  if (d.length < 8) return false;
  return crc32(d.subarray(4)) === new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
}

describe('Mailbox under randomized kill -9', () => {
  it(`${RUNS} runs: writers and readers killed at random instants, no torn value, writes go on`, async (t) => {
    const r = rng('mailbox');
    const mbName = name('rel-mb');
    const mb = Mailbox.create(mbName, { maxMessageSize: 1 << 20 });
    const violations: string[] = [];
    let reading = true;
    let reads = 0;
    const into = new Uint8Array(1 << 20);
    const survivor = (async () => {
      let last = 0;
      while (reading) {
        const v = mb.read({ into });
        reads++;
        if (v.version < last) violations.push(`version went back: ${v.version} after ${last}`);
        last = v.version;
        if (!valueOk(v.data)) violations.push(`torn value at version ${v.version} (${v.data.length} bytes)`);
        await new Promise((res) => setImmediate(res));
      }
    })();
    // A C reader beside the test's own: it reads until "STOP" (or for at most 60 s), so one runs per batch of runs.
    let cReader = spawnC('mailbox-peer', ['reader', mbName]);
    await cReader.line('ready');
    const stopReader = async (): Promise<void> => {
      mb.write('STOP');
      const done = await cReader.line(/^done/, LIVENESS_BOUND_MS).catch((e: unknown) => String(e));
      if (!done.startsWith('done')) violations.push(`the C reader: ${done}`);
      const code = await cReader.exited;
      if (code !== 0) violations.push(`the C reader exited ${code} (a torn value?): ${cReader.stderr().slice(0, 300)}`);
    };
    const marker = new Uint8Array(64);
    const dv = new DataView(marker.buffer);
    let kills = 0;
    try {
      for (let run = 0; run < RUNS && violations.length === 0; run++) {
        if (run > 0 && run % 25 === 0) {
          await stopReader();
          mb.write(marker); // not "STOP": the next reader would stop at once
          cReader = spawnC('mailbox-peer', ['reader', mbName]);
          await cReader.line('ready');
        }
        const lang = victimLang(r);
        const reader = r.next() < 0.25;
        let v: Peer;
        const before = mb.version;
        if (reader) {
          v = lang === 'node'
            ? spawnPeer(fixture('mailbox-peer'), ['reader', mbName])
            : lang === 'python'
              ? spawnPy('mailbox-reader', [mbName])
              : spawnC('mailbox-peer', ['reader', mbName]);
          await v.line('ready');
        } else {
          v = lang === 'node'
            ? spawnPeer(fixture('mailbox-peer'), ['flood', mbName])
            : lang === 'python'
              ? spawnPy('mailbox-writer', [mbName])
              : spawnC('mailbox-peer', ['writer', mbName, '100000000']);
          // The writer is at work once the version moved (it prints nothing before its first writes).
          const moved = await within(mb.changed({ since: before, timeout: LIVENESS_BOUND_MS }), LIVENESS_BOUND_MS + 1000);
          if (!moved) violations.push(`run ${run}: the victim writer never wrote`);
        }
        await after(r.next() * 20);
        const how = await kill(v);
        kills++;
        if (how !== 'SIGKILL' && how !== 0) violations.push(`run ${run}: a victim crashed (${how}): ${v.stderr().slice(0, 300)}`);
        // The survivors go on: a write gets the lock (taken over from a writer killed inside its write).
        dv.setUint32(4, run, true);
        dv.setUint32(0, crc32(marker.subarray(4)), true);
        try {
          const version = mb.write(marker, { timeout: LIVENESS_BOUND_MS });
          const back = mb.read();
          if (back.version < version || !valueOk(back.data)) violations.push(`run ${run}: read after write gave version ${back.version}`);
        } catch (e) {
          violations.push(`run ${run}: write after the kill: ${String(e)}`);
        }
      }
      await stopReader();
    } finally {
      reading = false;
      await survivor;
      cReader.kill();
      mb.close();
    }
    t.diagnostic(`seed ${r.seed}: ${kills} kills, survivor made ${reads} reads`);
    await report('kill', [{ kind: 'Mailbox', runs: RUNS, kills, recoveries: 'n/a', violations: violations.length,
      note: `writers (1 MiB values: C, Node; 64 KiB: Python) and readers (C, Node, Python) killed; crc of every value read by the test and a C reader, versions monotonic, a write within ${LIVENESS_BOUND_MS / 1000} s after each kill (seed ${r.seed})` }]);
    assert.deepEqual(violations, [], `seed ${r.seed} (replay with SHMBUS_SEED=${r.seed})`);
  });
});
