import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import { Segment, isShmbusError } from '../../src/index.js';
import { osName } from '../../src/protocol/names.js';
import { HDR_STATE_OFFSET } from '../../src/protocol/layout.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, wakeUntilWoken } from '../helpers/index.js';

const { name: fresh, cleanup } = trackNames();
after(cleanup);

describe('Segment across processes', () => {
  it('a second process sees the bytes and the Atomics updates of the first', async () => {
    const name = fresh('bytes');
    const seg = Segment.create(name, { size: 4096 });
    seg.bytes[100] = 42;
    Atomics.store(seg.words, 3, 12345);
    const peer = spawnPeer(fixture('segment-peer'));
    await peer.line('ready');
    peer.send(`open ${name}`);
    assert.equal(await peer.line(/^opened/), 'opened 4096 raw');
    peer.send('byte 100');
    assert.equal(await peer.line(/^byte/), 'byte 42');
    peer.send('load 3');
    assert.equal(await peer.line(/^load/), 'load 12345');
    peer.send('setbyte 200 7');
    await peer.line('ok');
    assert.equal(seg.bytes[200], 7);
    peer.send('exit');
    await expectCleanExit(peer);
    seg.close();
  });

  it('wake in one process wakes a sync wait in another', async () => {
    const name = fresh('wake');
    const seg = Segment.create(name, { size: 64 });
    const peer = spawnPeer(fixture('segment-peer'));
    await peer.line('ready');
    peer.send(`open ${name}`);
    await peer.line(/^opened/);
    peer.send('wait 1 0 20000');
    await peer.line('waiting');
    // "waiting" is printed just before the peer parks in the kernel: wake until the kernel counts it.
    assert.equal(await wakeUntilWoken(seg, 1), 1);
    assert.equal(await peer.line(/^wait /), 'wait ok');
    peer.send('exit');
    await expectCleanExit(peer);
    seg.close();
  });

  it('wake in one process resolves a waitAsync in another, and the woken count is reported', async () => {
    const name = fresh('wakeasync');
    const seg = Segment.create(name, { size: 64 });
    const peer = spawnPeer(fixture('segment-peer'));
    await peer.line('ready');
    peer.send(`open ${name}`);
    await peer.line(/^opened/);
    peer.send('waitAsync 2 0 20000');
    await peer.line('waiting');
    // The async wait parks on the peer's native waiter thread shortly after "waiting": wake until it is counted.
    assert.equal(await wakeUntilWoken(seg, 2), 1);
    assert.equal(await peer.line(/^waitAsync /), 'waitAsync ok');
    peer.send('exit');
    await expectCleanExit(peer);
    seg.close();
  });

  // io_uring is the default where the kernel has FUTEX_WAIT in io_uring (Linux >= 6.7, not blocked by seccomp);
  // SHMBUS_WAITER picks the fallbacks. A waiter the kernel cannot provide is skipped (the peer names what it got).
  const waiterEnv = { io_uring: { SHMBUS_WAITER: 'io_uring' }, futex_waitv: { SHMBUS_WAITER: 'waitv' }, 'thread-per-wait': { SHMBUS_WAITER: 'threads' } };
  for (const mode of ['io_uring', 'futex_waitv', 'thread-per-wait'] as const) {
    it(`async waits work with the ${mode} waiter, woken from another process again and again`, async (t) => {
      const name = fresh('waiter');
      const seg = Segment.create(name, { size: 256 });
      const env = { ...process.env, ...waiterEnv[mode] };
      const peer = spawnPeer(fixture('segment-peer'), [], { env });
      await peer.line('ready');
      peer.send('waiterKind');
      const kind = await peer.line(/^waiterKind/);
      if (mode !== 'thread-per-wait' && kind !== `waiterKind ${mode}`) {
        peer.send('exit');
        await expectCleanExit(peer);
        seg.close();
        return t.skip(`no ${mode} waiter here (${kind})`);
      }
      assert.equal(kind, `waiterKind ${mode}`);
      peer.send(`open ${name}`);
      await peer.line(/^opened/);
      for (let i = 0; i < 3; i++) {
        peer.send(`waitAsync ${i} 0 20000`);
        await peer.line('waiting');
        assert.equal(await wakeUntilWoken(seg, i), 1);
        assert.equal(await peer.line(/^waitAsync /), 'waitAsync ok');
      }
      peer.send('exit');
      await expectCleanExit(peer);
      seg.close();
    });
  }

  const externalRun = process.env['SHMBUS_BUFFER'] === 'external' ? 'this whole run uses the fallback' : false;

  it('the external-ArrayBuffer fallback (SHMBUS_BUFFER=external) shares bytes, Atomics and wakes with a normal peer', { skip: externalRun }, async () => {
    const name = fresh('external');
    const seg = Segment.create(name, { size: 256 });
    assert.equal(seg.shared, true);
    seg.bytes[9] = 77;
    const peer = spawnPeer(fixture('segment-peer'), [], { env: { ...process.env, SHMBUS_BUFFER: 'external' } });
    await peer.line('ready');
    peer.send(`open ${name}`);
    await peer.line(/^opened/);
    peer.send('shared');
    assert.equal(await peer.line(/^shared/), 'shared false');
    peer.send('byte 9');
    assert.equal(await peer.line(/^byte/), 'byte 77');
    const p = seg.waitAsync(3, 0, { timeout: 20_000 });
    peer.send('store 3 41');
    assert.equal(await p, 'ok');
    assert.equal(Atomics.load(seg.words, 3), 41);
    peer.send('waitAsync 4 0 20000');
    await peer.line('waiting');
    assert.equal(await wakeUntilWoken(seg, 4), 1);
    assert.equal(await peer.line(/^waitAsync /), 'waitAsync ok');
    peer.send('close');
    await peer.line('closed');
    peer.send('exit');
    await expectCleanExit(peer);
    seg.close();
  });

  it('a waitAsync here is woken by a store + wake in another process', async () => {
    const name = fresh('wakehere');
    const seg = Segment.create(name, { size: 64 });
    const peer = spawnPeer(fixture('segment-peer'));
    await peer.line('ready');
    peer.send(`open ${name}`);
    await peer.line(/^opened/);
    const p = seg.waitAsync(0, 0, { timeout: 20_000 });
    peer.send('store 0 5');
    assert.equal(await p, 'ok');
    assert.equal(Atomics.load(seg.words, 0), 5);
    peer.send('exit');
    await expectCleanExit(peer);
    seg.close();
  });

  it('two processes racing to create one name: exactly one wins, the others get ERR_SHM_EXISTS', async () => {
    const name = fresh('race');
    const peers = Array.from({ length: 4 }, () => spawnPeer(fixture('segment-peer')));
    await Promise.all(peers.map((p) => p.line('ready')));
    for (const p of peers) p.send(`create ${name} 65536`);
    const answers = await Promise.all(peers.map((p) => p.line(/^(created|error)/)));
    assert.equal(answers.filter((a) => a === 'created').length, 1, answers.join(','));
    assert.equal(answers.filter((a) => a === 'error ERR_SHM_EXISTS').length, 3, answers.join(','));
    for (const p of peers) p.send('exit');
    await Promise.all(peers.map(expectCleanExit));
  });

  it('an open during initialisation waits for ready and sees what init laid out', async () => {
    const name = fresh('init');
    const creator = spawnPeer(fixture('slow-creator'), [name]);
    await creator.line('initialising');
    // The creator is now blocked inside init (waiting for our "go"); an opener must wait for ready.
    const early = spawnPeer(fixture('segment-peer'));
    await early.line('ready');
    early.send(`open ${name} 100`);
    assert.equal(await early.line(/^(opened|error)/), 'error ERR_TIMEOUT', 'a bounded open gives up');
    const opener = spawnPeer(fixture('segment-peer'));
    await opener.line('ready');
    opener.send(`open ${name} 30000`);
    creator.send('go');
    await creator.line('created');
    assert.equal(await opener.line(/^opened/), 'opened 4096 raw');
    opener.send('byte 4095');
    assert.equal(await opener.line(/^byte/), 'byte 99', 'init wrote the last byte before ready');
    for (const p of [creator, opener, early]) p.send('exit');
    await Promise.all([creator, opener, early].map(expectCleanExit));
  });

  it('a process that exits without close leaves only the name, and list() marks it stale', async () => {
    const name = fresh('stale');
    const peer = spawnPeer(fixture('segment-peer'));
    await peer.line('ready');
    peer.send(`create ${name} 4096`);
    await peer.line('created');
    const alive = Segment.list().find((s) => s.name === name);
    assert.ok(alive, 'listed');
    assert.equal(alive.stale, false);
    assert.equal(alive.attached, true);
    assert.equal(alive.creatorPid, peer.child.pid);
    assert.equal(alive.kind, 'raw');
    assert.equal(alive.size, 4096);
    peer.send('exit');
    await expectCleanExit(peer);
    const dead = Segment.list().find((s) => s.name === name);
    assert.ok(dead, 'the name outlives its creator');
    assert.equal(dead.attached, false);
    assert.equal(dead.stale, true);
    // Still openable: nothing is removed behind anyone's back.
    const seg = Segment.open(name);
    assert.equal(Segment.list().find((s) => s.name === name)?.stale, false, 'mapped again: not stale');
    seg.close();
    Segment.unlink(name);
    assert.equal(Segment.list().find((s) => s.name === name), undefined);
  });

  it('list(): an object still being created is stale only once its creator is dead or (naming none yet) it is old', () => {
    // A creator between shm_open and ftruncate: an empty object nobody maps yet (the last server of an rpc service
    // used to unlink a client's response queue in this state, and the client's request then hung).
    const empty = fresh('creating-empty');
    const path = `/dev/shm${osName(empty)}`;
    writeFileSync(path, '');
    assert.equal(Segment.list().find((s) => s.name === empty)?.stale, false, 'young, no creator named yet: in creation');
    const old = new Date(Date.now() - 120_000);
    utimesSync(path, old, old);
    assert.equal(Segment.list().find((s) => s.name === empty)?.stale, true, 'old and unmapped: its creator died creating it');
    Segment.unlink(empty);
    // A creator that wrote its header (naming itself) but not READY yet, and whose mapping the scan did not see.
    const init = fresh('creating-init');
    const seg = Segment.create(init, { size: 64 });
    seg.close();
    const raw = Segment.openRaw(osName(init));
    Atomics.store(raw.words, HDR_STATE_OFFSET / 4, 0); // back to INIT, as while its creator initialises it
    raw.close();
    const info = Segment.list().find((s) => s.name === init);
    assert.equal(info?.attached, false);
    assert.equal(info?.stale, false, 'its creator (this process) lives: not stale');
    Segment.unlink(init);
  });

  it('SharedArrayBuffer of a segment is shared with worker_threads', { skip: externalRun && 'a non-shared ArrayBuffer is copied, not shared, by postMessage' }, async () => {
    const { Worker } = await import('node:worker_threads');
    const name = fresh('worker');
    const seg = Segment.create(name, { size: 64 });
    const w = new Worker('const { workerData, parentPort } = require("node:worker_threads"); Atomics.add(new Int32Array(workerData), 0, 7); parentPort.postMessage("done");', { eval: true, workerData: seg.buffer });
    await new Promise((r) => w.once('message', r));
    await w.terminate();
    assert.equal(Atomics.load(seg.words, 0), 7);
    seg.close();
  });

  it('errors are typed: create of an invalid name, open of a missing segment, unlink twice', () => {
    for (const bad of ['', '/', '..', 'x'.repeat(201), 'a\0b', 'a/b']) {
      assert.throws(() => Segment.create(bad, { size: 1 }), (e: unknown) => isShmbusError(e, 'ERR_INVALID_NAME'));
      assert.throws(() => Segment.open(bad), (e: unknown) => isShmbusError(e, 'ERR_INVALID_NAME'));
    }
    assert.throws(() => Segment.open(fresh('missing')), (e: unknown) => isShmbusError(e, 'ERR_SHM_NOT_FOUND'));
    const name = fresh('twice');
    Segment.create(name, { size: 8 }).close();
    Segment.unlink(name);
    assert.throws(() => Segment.unlink(name), (e: unknown) => isShmbusError(e, 'ERR_SHM_NOT_FOUND'));
    for (const size of [-1, 1.5, Number.NaN, 2 ** 60]) {
      assert.throws(() => Segment.create(fresh('size'), { size }), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
    }
    assert.throws(() => Segment.create(fresh('mode'), { size: 8, mode: 0o1777 }), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
  });
});
