import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Segment, isShmbusError } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames } from '../helpers/index.js';
import { otherUser } from '../reliability/other-user.js';

const { name: fresh, cleanup } = trackNames();
after(cleanup);

const isRoot = process.getuid?.() === 0;

// Another user runs the fixture from a copy it can read (test/reliability/other-user.ts), so these tests also run
// where the checkout is private (CI's /root).
const users = otherUser();
after(() => users.cleanup());

function canMountPrivateTmpfs(): string | true {
  if (!isRoot) return 'needs root for a private mount namespace';
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /dev/shm']);
  return r.status === 0 ? true : `cannot mount a private tmpfs (${r.stderr.toString().trim()})`;
}

describe('the OS boundary: permissions, space, file windows', () => {
  const nobody = users.skip ?? true;
  const tmpfs = canMountPrivateTmpfs();

  it('segments are created 0600 by default: another user gets ERR_SHM_PERMISSION', { skip: nobody === true ? false : nobody }, async () => {
    const name = fresh('perm');
    const seg = Segment.create(name, { size: 64 });
    const peer = users.spawn(fixture('segment-peer'));
    await peer.line('ready');
    peer.send(`open ${name}`);
    assert.equal(await peer.line(/^(opened|error)/), 'error ERR_SHM_PERMISSION');
    peer.send('exit');
    await expectCleanExit(peer);
    seg.close();
  });

  it('an explicit mode 0666 lets another user in', { skip: nobody === true ? false : nobody }, async () => {
    const name = fresh('perm666');
    const seg = Segment.create(name, { size: 64, mode: 0o666 });
    seg.bytes[0] = 9;
    const peer = users.spawn(fixture('segment-peer'));
    await peer.line('ready');
    peer.send(`open ${name}`);
    assert.equal(await peer.line(/^(opened|error)/), 'opened 64 raw');
    peer.send('byte 0');
    assert.equal(await peer.line(/^byte/), 'byte 9');
    peer.send('exit');
    await expectCleanExit(peer);
    seg.close();
  });

  it('a segment larger than /dev/shm can hold fails at create with ERR_SHM_NO_SPACE, never SIGBUS later', { skip: tmpfs === true ? false : tmpfs }, async () => {
    // A private 8 MiB /dev/shm, as in a container with a small --shm-size; it vanishes with the namespace.
    const peer = spawnPeer(fixture('segment-peer'), [], {
      wrap: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=8m tmpfs /dev/shm && exec "$0" "$@"'],
    });
    await peer.line('ready');
    peer.send('create big 67108864');
    assert.equal(await peer.line(/^(created|error)/), 'error ERR_SHM_NO_SPACE');
    peer.send('create small 1048576');
    assert.equal(await peer.line(/^(created|error)/), 'created');
    peer.send('create second 7340032');
    assert.equal(await peer.line(/^(created|error)/), 'error ERR_SHM_NO_SPACE', 'the space already reserved counts');
    peer.send('setbyte 1048575 1');
    await peer.line('ok');
    peer.send('exit');
    await expectCleanExit(peer);
  });

  describe('mapFile', () => {
    let dir = '';
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'shmbus-test-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('maps a window of a 1 GiB sparse file past 512 MiB, writes through it and reads it back', () => {
      const path = join(dir, 'big.bin');
      closeSync(openSync(path, 'w'));
      truncateSync(path, 1 << 30);
      const offset = 600 * 1024 * 1024 + 123; // not page aligned on purpose
      const win = Segment.mapFile(path, { offset, length: 1 << 20, writable: true });
      assert.equal(win.size, 1 << 20);
      assert.equal(win.kind, 'file');
      win.bytes.set(Buffer.from('shmbus was here'), 0);
      win.bytes[(1 << 20) - 1] = 0x5a;
      win.flush();
      const fd = openSync(path, 'r');
      const back = Buffer.alloc(15);
      readSync(fd, back, 0, 15, offset);
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, offset + (1 << 20) - 1);
      closeSync(fd);
      assert.equal(back.toString(), 'shmbus was here');
      assert.equal(last[0], 0x5a);
      // A read-only window sees the data; its writes stay private (copy-on-write) and never crash.
      const ro = Segment.mapFile(path, { offset, length: 15 });
      assert.equal(Buffer.from(ro.bytes).toString(), 'shmbus was here');
      ro.bytes[0] = 0x53;
      assert.equal(win.bytes[0], 0x73);
      ro.close();
      win.close();
    });

    it('refuses windows past the end, missing files and bad arguments with typed errors', () => {
      const path = join(dir, 'small.bin');
      const fd = openSync(path, 'w');
      writeSync(fd, Buffer.alloc(4096, 1));
      closeSync(fd);
      assert.throws(() => Segment.mapFile(path, { offset: 4000, length: 200 }), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
      assert.throws(() => Segment.mapFile(path, { offset: 8192 }), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
      assert.throws(() => Segment.mapFile(path, { length: 0 }), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
      assert.throws(() => Segment.mapFile(join(dir, 'missing.bin')), (e: unknown) => isShmbusError(e, 'ERR_SHM_NOT_FOUND'));
      assert.throws(() => Segment.mapFile(dir), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
      const whole = Segment.mapFile(path);
      assert.equal(whole.size, 4096);
      assert.equal(whole.bytes[4095], 1);
      whole.close();
    });
  });
});
