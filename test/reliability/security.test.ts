/**
 * The threat model of docs/security.md, one test per threat, run as other users (setpriv) from a copy of the
 * package they can read (test/reliability/other-user.ts), so they run wherever npm test runs as root:
 * reading/writing another user's segment, squatting a name, symlinks in /dev/shm, read-only opening. (Forging a
 * lock holder: test/reliability/forged-holder.test.ts and hostile.test.ts.)
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Segment, isShmbusError } from '../../src/index.js';
import { expectCleanExit, trackNames } from '../helpers/index.js';
import { otherUser } from './other-user.js';

const { name, cleanup } = trackNames();
const users = otherUser();
after(() => {
  cleanup();
  users.cleanup();
});
const peerProgram = fileURLToPath(new URL('./user-peer.js', import.meta.url));
const skip = users.skip ?? false;
const NOBODY = 65534;
const OTHER = 65533; // a second unprivileged user (no passwd entry needed)

async function ask(p: ReturnType<typeof users.spawn>, line: string): Promise<string> {
  p.send(line);
  return p.line(/^(created|opened|byte|ro|squatted|error|threw|unknown)/);
}

describe('security: the threat model of docs/security.md', () => {
  it('read/write: another user cannot open a segment created with the default mode 0600', { skip }, async () => {
    const n = name('sec-0600');
    const seg = Segment.create(n, { size: 64 });
    const p = users.spawn(peerProgram);
    try {
      await p.line('ready');
      assert.equal(await ask(p, `open ${n}`), 'error ERR_SHM_PERMISSION');
      assert.equal(await ask(p, `openro /shmbus.${n}`), 'error ERR_SHM_PERMISSION');
      p.send('exit');
      await expectCleanExit(p);
    } finally {
      p.kill();
      seg.close();
    }
  });

  it('read-only: a 0644 segment can be mapped read-only by another user (its writes stay private), not read-write', { skip }, async () => {
    const n = name('sec-0644');
    const seg = Segment.create(n, { size: 64, mode: 0o644 });
    const raw = Segment.openRaw(`/shmbus.${n}`);
    const first = raw.bytes[0]!; // the header's magic, first byte
    const p = users.spawn(peerProgram);
    try {
      await p.line('ready');
      assert.equal(await ask(p, `open ${n}`), 'error ERR_SHM_PERMISSION', 'read-write opening is refused');
      assert.equal(await ask(p, `openro /shmbus.${n}`), `ro ${first} 238`);
      assert.equal(raw.bytes[0], first, 'the write of the read-only mapping stayed private');
      p.send('exit');
      await expectCleanExit(p);
    } finally {
      p.kill();
      raw.close();
      seg.close();
    }
  });

  it('squatting: a name pre-created by another user is refused, never written into or trusted', { skip }, async () => {
    const n = name('sec-squat');
    const squatter = users.spawn(peerProgram, [], NOBODY);
    const victim = users.spawn(peerProgram, [], OTHER);
    try {
      await squatter.line('ready');
      await victim.line('ready');
      // A squatter with a private (0600) shmbus segment: the victim can neither create nor open the name.
      assert.equal(await ask(squatter, `create ${n} 64 600`), 'created');
      assert.equal(await ask(victim, `create ${n} 64 600`), 'error ERR_SHM_EXISTS');
      assert.equal(await ask(victim, `open ${n}`), 'error ERR_SHM_PERMISSION');
      // A squatter leaving a world-writable non-shmbus object: refused as corrupt, not trusted.
      const n2 = name('sec-squat2');
      assert.equal(await ask(squatter, `squat /shmbus.${n2} 666`), 'squatted');
      assert.equal(await ask(victim, `create ${n2} 64 600`), 'error ERR_SHM_EXISTS');
      assert.equal(await ask(victim, `open ${n2}`), 'error ERR_SHM_CORRUPT');
      // root (this process) too: a Queue.openOrCreate over the squatted garbage refuses it instead of using it.
      assert.throws(() => Queue.openOrCreate(n2, { slots: 4, maxMessageSize: 64 }), (e: unknown) => isShmbusError(e, 'ERR_SHM_CORRUPT'));
      squatter.send('exit');
      victim.send('exit');
      await expectCleanExit(squatter);
      await expectCleanExit(victim);
    } finally {
      squatter.kill();
      victim.kill();
    }
  });

  it('symlinks in /dev/shm are not followed: open refuses, create does not write through them', () => {
    const n = name('sec-link');
    const dir = mkdtempSync(join(tmpdir(), 'shmbus-sec-'));
    const target = join(dir, 'victim-file');
    writeFileSync(target, 'precious');
    symlinkSync(target, `/dev/shm/shmbus.${n}`);
    try {
      assert.throws(() => Segment.open(n), (e: unknown) => isShmbusError(e) && e.code !== 'ERR_SHM_NOT_FOUND');
      assert.throws(() => Segment.create(n, { size: 4096 }), (e: unknown) => isShmbusError(e, 'ERR_SHM_EXISTS'));
      assert.throws(() => Segment.openRaw(`/shmbus.${n}`), (e: unknown) => isShmbusError(e));
      assert.equal(readFileSync(target, 'utf8'), 'precious', 'nothing was written through the link');
      assert.ok(lstatSync(`/dev/shm/shmbus.${n}`).isSymbolicLink());
    } finally {
      if (existsSync(`/dev/shm/shmbus.${n}`) || lstatSync(`/dev/shm/shmbus.${n}`, { throwIfNoEntry: false })) unlinkSync(`/dev/shm/shmbus.${n}`);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
