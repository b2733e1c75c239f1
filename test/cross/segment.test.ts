/**
 * Segments and the Mutex across the C peer (c/tests/peers/core-peer.c) and Node: each opens what the other made,
 * the header bytes C writes are the bytes Node writes for the same fields, and a C holder killed with -9 is
 * recovered by Node.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Mutex, Segment } from '../../src/index.js';
import { decodeHeader, encodeHeader, HEADER_SIZE } from '../../src/protocol/index.js';
import { processStartTime, selfIdentity } from '../../src/base/process.js';
import { expectCleanExit, fixture, spawnPeer, trackNames } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';

const { name: fresh, cleanup } = trackNames();
after(cleanup);

const vectors = new URL('../../../test/vectors/', import.meta.url);

/** The first 128 bytes of /dev/shm/shmbus.<name>, read by the kernel (no mapping). */
function headerBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`/dev/shm/shmbus.${name}`)).subarray(0, HEADER_SIZE);
}

/** What Node writes for the same fields, with state READY as a published header has it. */
function nodeEncoding(bytes: Uint8Array): Uint8Array {
  const h = decodeHeader(bytes, Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(16, true)), 'x');
  const out = new Uint8Array(HEADER_SIZE);
  const view = new DataView(out.buffer);
  encodeHeader(view, h);
  view.setUint32(8, h.state, true);
  return out;
}

async function cPeer() {
  const peer = spawnC('core-peer');
  const ready = await peer.line(/^ready /);
  return { peer, pid: Number(ready.split(' ')[1]) };
}

describe('C <-> Node: segments', () => {
  it('Node opens a segment C created: size, kind, params and bytes; writes go both ways', async () => {
    const name = fresh('c2n');
    const { peer } = await cPeer();
    peer.send(`create ${name} 4096 0 7,8,9`);
    assert.equal(await peer.line(/^created|^error/), 'created');
    peer.send('setbyte 100 42');
    await peer.line('ok');
    const seg = Segment.open(name);
    assert.equal(seg.size, 4096);
    assert.equal(seg.kind, 'raw');
    assert.deepEqual(seg.params, [7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(seg.bytes[100], 42);
    seg.bytes[200] = 7;
    peer.send('byte 200');
    assert.equal(await peer.line(/^byte/), 'byte 7');
    seg.close();
    peer.send('exit');
    await expectCleanExit(peer);
  });

  it('C opens a segment Node created, and refuses it as another kind', async () => {
    const name = fresh('n2c');
    const seg = Segment.create(name, { size: 1000, kind: 'event', params: [5, 6] });
    seg.bytes[999] = 9;
    const { peer } = await cPeer();
    peer.send(`open ${name}`);
    assert.equal(await peer.line(/^opened|^error/), 'opened 1000 8 5,6,0,0,0,0,0,0,0,0,0,0,0,0,0,0');
    peer.send('byte 999');
    assert.equal(await peer.line(/^byte/), 'byte 9');
    peer.send('close');
    await peer.line('closed');
    peer.send(`open ${name} 5 0`);
    assert.match(await peer.line(/^opened|^error/), /^error ERR_SHM_KIND /);
    peer.send('exit');
    await expectCleanExit(peer);
    seg.close();
  });

  it('the header C writes is, byte for byte, the header Node writes for the same fields', async () => {
    const name = fresh('hdr');
    const before = Date.now();
    const { peer, pid } = await cPeer();
    peer.send(`create ${name} 5376 1 1024,0,200,4352`);
    assert.equal(await peer.line(/^created|^error/), 'created');
    const after = Date.now();
    const bytes = headerBytes(name);
    assert.deepEqual(nodeEncoding(bytes), bytes);
    const h = decodeHeader(bytes, HEADER_SIZE + 5376, name);
    assert.equal(h.state, 1);
    assert.equal(h.kind, 'topic');
    assert.equal(h.creatorPid, pid);
    assert.equal(h.creatorStartTime, processStartTime(pid));
    assert.equal(h.creatorNs, selfIdentity().ns);
    assert.ok(h.createdAt >= before - 1000 && h.createdAt <= after + 1000, `createdAt ${h.createdAt}`);
    peer.send('exit');
    await expectCleanExit(peer);
  });

  it('C encodes the segment-header vector byte for byte, and Node decodes what C encoded', async () => {
    const expected = new Uint8Array(readFileSync(new URL('segment-header.bin', vectors)));
    const spec = JSON.parse(readFileSync(new URL('segment-header.json', vectors), 'utf8'));
    const want = spec.expect.find((e: { op: string }) => e.op === 'decodeHeader').result;
    const { peer } = await cPeer();
    peer.send(
      `encode-header 1 ${want.payloadSize} ${want.creatorPid} ${want.creatorStartTime} ${want.createdAt} ` +
        `${want.creatorNs} ${want.state} ${want.params.join(',')}`,
    );
    const hex = (await peer.line(/^header /)).split(' ')[1]!;
    const fromC = Uint8Array.from(Buffer.from(hex, 'hex'));
    assert.deepEqual(fromC, expected);
    const decoded = decodeHeader(fromC, want.totalSize, 'vector');
    for (const [key, value] of Object.entries(want)) assert.deepEqual(decoded[key as keyof typeof decoded], value, key);
    peer.send('exit');
    await expectCleanExit(peer);
  });

  it('a C creator still initialising: Node gets ERR_TIMEOUT while it lives, ERR_SHM_CORRUPT once it is killed', async () => {
    const name = fresh('cslow');
    const { peer } = await cPeer();
    peer.send(`create-stalled ${name} 64`);
    await peer.line('initialising');
    assert.throws(() => Segment.open(name, { timeout: 30 }), (e: Error & { code?: string }) => e.code === 'ERR_TIMEOUT');
    peer.kill('SIGKILL');
    await peer.exited;
    // Dead creator: refused at once, not after the long timeout.
    assert.throws(() => Segment.open(name, { timeout: 60_000 }), (e: Error & { code?: string }) => e.code === 'ERR_SHM_CORRUPT');
  });

  it('a Node creator still initialising: C gets ERR_TIMEOUT while it lives, opens it once ready', async () => {
    const name = fresh('nslow');
    const creator = spawnPeer(fixture('slow-creator'), [name]);
    await creator.line('initialising');
    const { peer } = await cPeer();
    peer.send(`open ${name} -1 30`);
    assert.match(await peer.line(/^opened|^error/), /^error ERR_TIMEOUT /);
    peer.send(`open ${name} -1 60000`);
    creator.send('go');
    assert.equal(await peer.line(/^opened|^error/), 'opened 4096 0 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0');
    peer.send('byte 4095');
    assert.equal(await peer.line(/^byte/), 'byte 99');
    peer.send('exit');
    await expectCleanExit(peer);
    creator.send('exit');
    await expectCleanExit(creator);
  });

  it('a Node creator killed while initialising: C refuses with ERR_SHM_CORRUPT at once', async () => {
    const name = fresh('nkill');
    const creator = spawnPeer(fixture('slow-creator'), [name]);
    await creator.line('initialising');
    creator.kill('SIGKILL');
    await creator.exited;
    const { peer } = await cPeer();
    peer.send(`open ${name} -1 60000`);
    assert.match(await peer.line(/^opened|^error/), /^error ERR_SHM_CORRUPT /);
    peer.send('exit');
    await expectCleanExit(peer);
  });

  it('C lists segments as Node does: size, kind, creator, createdAt, attached and stale', async () => {
    const live = fresh('lslive');
    const orphan = fresh('lsorphan');
    const seg = Segment.create(live, { size: 300, kind: 'mailbox' });
    const maker = spawnC('core-peer');
    await maker.line(/^ready /);
    maker.send(`create ${orphan} 50 0`);
    assert.equal(await maker.line(/^created|^error/), 'created');
    maker.kill('SIGKILL'); // its creator dies and nobody maps it: stale
    await maker.exited;
    const { peer } = await cPeer();
    const nodeList = Segment.list();
    for (const name of [live, orphan]) {
      const n = nodeList.find((i) => i.name === name)!;
      peer.send(`list ${name}`);
      const kinds = ['raw', 'topic', 'queue', 'mailbox', 'rpc', 'mutex', 'rwlock', 'semaphore', 'event'];
      const c = (await peer.line(/^info/)).split(' ');
      const fromC = { size: Number(c[1]), kind: kinds[Number(c[2])], creatorPid: Number(c[3]), createdAt: Number(c[4]) };
      assert.deepEqual(fromC, { size: n.size, kind: n.kind, creatorPid: n.creatorPid, createdAt: n.createdAt!.getTime() });
      assert.equal(c[5] === '1', n.attached, `${name} attached`);
      assert.equal(c[6] === '1', n.stale, `${name} stale`);
    }
    assert.equal(nodeList.find((i) => i.name === orphan)!.stale, true);
    assert.equal(nodeList.find((i) => i.name === live)!.stale, false);
    peer.send('exit');
    await expectCleanExit(peer);
    seg.close();
  });
});

describe('C <-> Node: Mutex', () => {
  it('a C holder killed with -9 is recovered by Node (recovered = true)', async () => {
    const name = fresh('mx');
    const m = Mutex.create(name, { livenessInterval: 20 });
    const { peer } = await cPeer();
    peer.send(`mutex-open ${name}`);
    await peer.line('mutex');
    peer.send('lock 10000');
    assert.equal(await peer.line(/^locked|^error/), 'locked 0');
    assert.equal(m.tryLock(), null);
    peer.kill('SIGKILL');
    await peer.exited;
    const r = m.lockSync({ timeout: 20_000 });
    assert.equal(r.recovered, true);
    m.unlock();
    assert.equal(m.lockSync({ timeout: 0 }).recovered, false);
    m.unlock();
    m.close();
  });

  it('Node and C take turns: C waits while Node holds, and gets it on unlock', async () => {
    const name = fresh('mxturn');
    const m = Mutex.create(name);
    m.lockSync();
    const { peer } = await cPeer();
    peer.send(`mutex-open ${name}`);
    await peer.line('mutex');
    peer.send('lock 50');
    assert.match(await peer.line(/^locked|^error/), /^error ERR_TIMEOUT /);
    peer.send('lock 20000');
    m.unlock();
    assert.equal(await peer.line(/^locked|^error/), 'locked 0');
    assert.equal(m.tryLock(), null);
    peer.send('unlock');
    await peer.line('unlocked');
    assert.equal(m.lockSync({ timeout: 20_000 }).recovered, false);
    m.unlock();
    peer.send('exit');
    await expectCleanExit(peer);
    m.close();
  });
});
