/** The Mailbox torn-read soak, shared by mailbox.test.ts (short) and mailbox.slow.test.ts (60 s). */
import assert from 'node:assert/strict';
import { Mailbox } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, uniqueName, unlinkQuietly, type Peer } from '../helpers/index.js';

/** 1 writer rewriting a 1 MiB value as fast as it can for `ms`, 4 readers checking a crc on every read. */
export async function tornReadSoak(ms: number): Promise<void> {
  const name = uniqueName('mbsoak');
  const mb = Mailbox.create(name, { maxMessageSize: 1 << 20 });
  const peers: Peer[] = [];
  const watchdogMs = ms + 60_000;
  try {
    const readers = Array.from({ length: 4 }, () => spawnPeer(fixture('mailbox-peer'), ['reader', name], { watchdogMs }));
    peers.push(...readers);
    for (const r of readers) await r.line('ready');
    const writer = spawnPeer(fixture('mailbox-peer'), ['writer', name, String(ms)], { watchdogMs });
    peers.push(writer);
    const w = /done writes=(\d+)/.exec(await writer.line(/^done/, watchdogMs))!;
    assert.ok(Number(w[1]) > 0);
    for (const r of readers) {
      const m = /done reads=(\d+) versions=(\d+)/.exec(await r.line(/^done/, watchdogMs))!;
      assert.ok(Number(m[2]) >= 2, 'saw the empty value and STOP at least');
      await expectCleanExit(r);
    }
    await expectCleanExit(writer);
  } finally {
    for (const p of peers) p.kill();
    mb.close();
    unlinkQuietly(name);
  }
}
