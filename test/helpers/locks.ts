/** Helpers of the sync-primitive tests. */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { Mutex, Segment, Semaphore } from '../../src/index.js';
import { CHAOS, repairChaos } from '../fixtures/lock-chaos-state.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, type Peer } from './index.js';

/**
 * Runs one lock-counter child per entry of `modes` (sync or async locking), each doing `n` plain increments of
 * one counter under the `kind` lock embedded at byte 64 of segment `segName`, and checks the total and that no
 * two were ever inside together.
 */
export async function counterRun(
  segName: string,
  kind: 'mutex' | 'rwlock' | 'semaphore',
  n: number,
  modes: ('sync' | 'async')[],
): Promise<void> {
  const counterAt = 64 + 2048;
  const seg = Segment.create(segName, {
    size: counterAt + 64,
    init: (s) => (kind === 'semaphore' ? Semaphore.init(s, 64, { initial: 1 }) : undefined),
  });
  try {
    const kids = modes.map((mode) =>
      spawnPeer(fixture('lock-counter'), [kind, segName, '64', String(counterAt), String(n), mode], { watchdogMs: 120_000 }),
    );
    for (const k of kids) await k.line('ready');
    for (const k of kids) k.send('go');
    for (const k of kids) assert.equal(await k.line(/^done/, 110_000), 'done overlaps=0');
    for (const k of kids) await expectCleanExit(k);
    assert.equal(new DataView(seg.buffer).getUint32(counterAt, true), n * modes.length);
    if (kind === 'semaphore') assert.equal(new Semaphore(seg, 64).value, 1, 'the unit is back at the end');
    else assert.equal(Atomics.load(seg.words, 64 / 4), 0, 'the lock is free at the end');
  } finally {
    seg.close();
  }
}

/**
 * Per-file bookkeeping of the sync tests: unique names unlinked after the file, lock-peer children killed
 * after it. `peer(kind, ...args)` resolves once the child printed "ready <pid>".
 */
export function lockTestScope(): {
  name(prefix: string): string;
  peer(kind: 'mutex' | 'rwlock' | 'semaphore' | 'event', ...args: string[]): Promise<Peer & { pid: number }>;
} {
  const names = trackNames();
  const peers: Peer[] = [];
  after(() => {
    for (const p of peers) p.kill();
    names.cleanup();
  });
  return {
    name: names.name,
    async peer(kind, ...args) {
      const p = spawnPeer(fixture('lock-peer'), [kind, ...args]);
      peers.push(p);
      const pid = Number((await p.line(/^ready/)).split(' ')[1]);
      return Object.assign(p, { pid });
    },
  };
}

/** Sends one command to a lock-peer and returns its first reply matching `reply`. */
export async function ask(p: Peer, command: string, reply: RegExp | string): Promise<string> {
  p.send(command);
  return p.line(reply);
}

/** Tells lock-peers to exit and checks that they exit cleanly. */
export async function exitPeers(...ps: Peer[]): Promise<void> {
  for (const p of ps) {
    p.send('exit');
    await expectCleanExit(p);
  }
}

/**
 * The chaos run: `writers` (and, for an rwlock, `readers`) lock-chaos children update journaled state under the
 * `kind` lock; `kills` times a child is killed with SIGKILL and replaced: right after it reported progress (the
 * kill lands anywhere), or, every `holdEvery`-th kill, a writer stopped inside its update with the lock held. Then the stop word is set and the state is checked: no two writers were ever inside together, no
 * reader saw a half-done update, and counter == sum of the per-child counts (after a final repair if the last
 * holder died). Returns how many recoveries the children performed and how many kills hit a holder for sure.
 */
export async function chaosRun(
  segName: string,
  kind: 'mutex' | 'rwlock' | 'semaphore',
  kills: number,
  holdEvery = 3,
): Promise<{ recoveries: number; heldKills: number }> {
  const seg = Segment.create(segName, {
    size: CHAOS.segmentSize,
    init: (s) => (kind === 'semaphore' ? Semaphore.init(s, 0, { initial: 1 }) : undefined),
  });
  const w = seg.words;
  const roles: ('writer' | 'reader')[] = kind === 'rwlock' ? ['writer', 'writer', 'reader', 'reader'] : ['writer', 'writer', 'writer'];
  const live: (Peer | undefined)[] = [];
  const start = async (i: number): Promise<void> => {
    const p = spawnPeer(fixture('lock-chaos'), [kind, roles[i]!, segName, String(i)], { watchdogMs: 600_000 });
    live[i] = p;
    await p.line('ready');
  };
  try {
    for (let i = 0; i < roles.length; i++) await start(i);
    let heldKills = 0;
    for (let k = 0; k < kills; k++) {
      // Deterministic spread over the children; the kill lands wherever that child happens to be, except every
      // holdEvery-th kill, which takes a writer stopped inside an update (so recovery certainly has to happen).
      const held = k % holdEvery === 0;
      let i = (k * 7 + 3) % roles.length;
      if (held && roles[i] !== 'writer') i = roles.indexOf('writer');
      const victim = live[i]!;
      if (held) {
        Atomics.store(w, CHAOS.hold, i + 1);
        await victim.line('holding', 60_000);
        Atomics.store(w, CHAOS.hold, 0); // before its replacement starts
        heldKills++;
      } else {
        await victim.line('progress', 60_000);
      }
      victim.kill('SIGKILL');
      await victim.exited;
      await start(i);
    }
    // Every child still makes progress after the last kill.
    for (const p of live) await p!.line('progress', 60_000);
    Atomics.store(w, CHAOS.stop, 1);
    for (const p of live) {
      await p!.line('done', 60_000);
      await expectCleanExit(p!);
    }
    const guard = kind === 'mutex' ? new Mutex(seg, 0, { livenessInterval: 10 }) : undefined;
    if (guard?.lockSync({ timeout: 5000 }).recovered) repairChaos(w);
    assert.equal(Atomics.load(w, CHAOS.overlaps), 0, 'two writers were inside at once');
    assert.equal(Atomics.load(w, CHAOS.inconsistent), 0, 'a reader saw a half-done update');
    let sum = 0;
    for (let i = 0; i < CHAOS.maxChildren; i++) sum += Atomics.load(w, CHAOS.counts + i);
    assert.equal(Atomics.load(w, CHAOS.pendIndex), 0);
    assert.equal(Atomics.load(w, CHAOS.counter), sum, 'counter == sum of the per-child counts');
    assert.ok(sum > 0);
    guard?.unlock();
    guard?.close();
    return { recoveries: Atomics.load(w, CHAOS.recoveries), heldKills };
  } finally {
    for (const p of live) p?.kill();
    seg.close();
  }
}

/**
 * Resolves once `condition()` holds (state observed in shared memory, e.g. a sleepers word a peer announced in);
 * rejects after `withinMs` (default 20 s) with `what`. Polls on the event loop, 1 ms apart after a quick start.
 */
export async function until(condition: () => boolean, what: string, withinMs = 20_000): Promise<void> {
  const deadline = performance.now() + withinMs;
  for (let turn = 0; !condition(); turn++) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => (turn < 200 ? setImmediate(r) : setTimeout(r, 1)));
  }
}
