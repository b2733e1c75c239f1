/** Helpers of the sync-primitive tests. */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { Segment, Semaphore } from '../../src/index.js';
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
