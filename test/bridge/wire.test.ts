/**
 * The bridge's pure parts, without a server: channel specs and naming, option checks (refused before anything is
 * connected or created), the queue record packs and chunking (bytes from the network are checked, never trusted),
 * and the status value `shmbus ls` recognises.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Segment, isShmbusError } from '../../src/index.js';
import { Bridge, bridgeSummary, parseBridgeStatus } from '../../src/bridge/index.js';
import { natsIdent, resolveChannel, streamOf } from '../../src/bridge/spec.js';
import { packRecords, Reassembly, split, unpackRecords } from '../../src/bridge/wire.js';

const CLI = fileURLToPath(new URL('../../cli/shmbus.js', import.meta.url));

describe('bridge channel specs', () => {
  it('parses LOCAL[=REMOTE][:in|:out]', () => {
    assert.deepEqual(resolveChannel('topic', 'video'), { kind: 'topic', local: 'video', remote: 'video', direction: 'both' });
    assert.deepEqual(resolveChannel('queue', 'b.jobs=jobs:in'), { kind: 'queue', local: 'b.jobs', remote: 'jobs', direction: 'in' });
    assert.deepEqual(resolveChannel('rpc', { local: 'gray', direction: 'out' }), { kind: 'rpc', local: 'gray', remote: 'gray', direction: 'out' });
  });
  it('refuses a queue or rpc without a direction, and malformed specs, with ERR_INVALID_ARG / ERR_INVALID_NAME', () => {
    assert.throws(() => resolveChannel('queue', 'jobs'), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG') && /jobs:out/.test((e as Error).message));
    assert.throws(() => resolveChannel('rpc', 'gray:both'), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
    assert.throws(() => resolveChannel('topic', 'a b'), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
    assert.throws(() => resolveChannel('topic', 'x:sideways'), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
    assert.throws(() => resolveChannel('topic', { local: '..' }), (e: unknown) => isShmbusError(e, 'ERR_INVALID_NAME'));
    assert.throws(() => resolveChannel('topic', 42 as never), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
  });
  it('names streams so that different names never meet', () => {
    const c = (remote: string) => ({ kind: 'queue' as const, local: remote, remote, direction: 'out' as const });
    assert.notEqual(streamOf('shmbus', c('a.b')), streamOf('shmbus', c('a_b')));
    assert.match(natsIdent('cam.0/x'), /^cam_0_x_[0-9a-f]{8}$/);
  });
  it('Bridge.start refuses bad options before connecting or creating anything', async () => {
    const bad: unknown[] = [
      null,
      { nats: '' },
      { nats: 'nats://127.0.0.1:1', queues: ['jobs'] },
      { nats: 'nats://127.0.0.1:1', topics: ['v', 'v'] },
      { nats: 'nats://127.0.0.1:1', topics: 'v' },
      { nats: 'nats://127.0.0.1:1', prefix: 'a..b', topics: ['v'] },
      { nats: 'nats://127.0.0.1:1', kvBucket: 'a.b', topics: ['v'] },
      { nats: 'nats://127.0.0.1:1', statusInterval: 0, topics: ['v'] },
    ];
    for (const o of bad) await assert.rejects(Bridge.start(o as never), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'), JSON.stringify(o));
    // Nothing created: the status mailbox (named after the host) is made only after the options are checked.
    const status = `shmbus-bridge.${hostname().replace(/[^A-Za-z0-9_-]/g, '_')}`;
    assert.equal(Segment.list().some((s) => s.name === status), false);
  });
  it('shmbus bridge without channels, or with a bad spec, is a usage error (exit 2)', () => {
    assert.equal(spawnSync(process.execPath, [CLI, 'bridge'], { encoding: 'utf8' }).status, 2);
    const r = spawnSync(process.execPath, [CLI, 'bridge', '--queue'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(spawnSync(process.execPath, [CLI, 'help'], { encoding: 'utf8' }).stdout, /bridge\s+relay channels/);
  });
});

describe('bridge wire format', () => {
  it('packs queue records and unpacks them as views', () => {
    const recs = [
      { data: new TextEncoder().encode('one'), text: true },
      { data: new Uint8Array(0), text: false },
      { data: new Uint8Array([1, 2, 3, 4]), text: false },
    ];
    const packed = packRecords(recs);
    const back = unpackRecords(packed, 3)!;
    assert.deepEqual(back.map((r) => [[...r.data], r.text]), recs.map((r) => [[...r.data], r.text]));
    assert.equal(back[2]!.data.buffer, packed.buffer);
  });
  it('refuses a pack that does not hold exactly its records (truncated, lying lengths, trailing bytes)', () => {
    const packed = packRecords([{ data: new Uint8Array(10), text: false }]);
    assert.equal(unpackRecords(packed, 2), null);
    assert.equal(unpackRecords(packed.subarray(0, 12), 1), null);
    assert.equal(unpackRecords(new Uint8Array([...packed, 0]), 1), null);
    const lying = packed.slice();
    new DataView(lying.buffer).setUint32(4, 0xffffffff, true);
    assert.equal(unpackRecords(lying, 1), null);
    assert.equal(unpackRecords(new Uint8Array(3), 1), null);
  });
  it('chunks and reassembles; a chunk out of turn abandons the message', () => {
    const data = new Uint8Array(10_000).map((_, i) => i & 255);
    const parts = split(data, 4096);
    assert.deepEqual(parts.map((p) => p.length), [4096, 4096, 1808]);
    const r = new Reassembly();
    assert.equal(r.add('m1', 0, 3, parts[0]!), null);
    assert.equal(r.add('m1', 1, 3, parts[1]!), null);
    assert.deepEqual(r.add('m1', 2, 3, parts[2]!), data);
    assert.equal(r.add('m2', 0, 3, parts[0]!), null);
    assert.equal(r.add('m2', 2, 3, parts[2]!), null); // chunk 1 lost
    assert.equal(r.partial, false);
    // Chunks that split() would not make (a middle one shorter or longer than the first, a last one longer) and a
    // count that claims far more than arrives (allocated: the first allocation at most, 8 MiB, not 4 GiB) are refused.
    assert.equal(r.add('m3', 0, 3, parts[0]!), null);
    assert.equal(r.add('m3', 1, 3, parts[2]!), null);
    assert.equal(r.partial, false);
    assert.equal(r.add('m4', 0, 2, parts[2]!), null);
    assert.equal(r.add('m4', 1, 2, parts[0]!), null);
    assert.equal(r.add('m5', 0, 65536, new Uint8Array(64 << 10)), null);
    assert.equal(r.partial, true);
    assert.deepEqual(r.add('m6', 0, 1, data), data); // one chunk: the message itself
    // A message larger than the first allocation grows: 24 MiB in 2 MiB chunks.
    const big = new Uint8Array(24 << 20).map((_, i) => (i * 7) & 255);
    const bigParts = split(big, 2 << 20);
    let whole: Uint8Array | null = null;
    for (let k = 0; k < bigParts.length; k++) whole = r.add('m7', k, bigParts.length, bigParts[k]!);
    assert.ok(whole !== null && Buffer.from(whole).equals(big));
    // With a spare, the next message takes the previous one's buffer (no allocation per message) and is intact.
    const spare = { buf: null };
    const s = new Reassembly(spare);
    const first = parts.map((p, k) => s.add('s1', k, parts.length, p)).at(-1)!;
    assert.deepEqual(first, data);
    const other = data.map((x) => x ^ 0xff);
    const second = split(other, 4096).map((p, k) => s.add('s2', k, 3, p)).at(-1)!;
    assert.equal(second.buffer, first.buffer);
    assert.deepEqual(second, other);
  });
});

describe('bridge status value', () => {
  it('is recognised only when it is one, and summed up in one line', () => {
    const s = {
      kind: 'shmbus-bridge',
      host: 'h1',
      pid: 1,
      server: '127.0.0.1:4222',
      connected: false,
      started: '',
      updated: '',
      reconnects: 2,
      disconnectedMs: 5,
      maxPayload: 1 << 20,
      channels: [
        { kind: 'topic', local: 't', remote: 't', direction: 'both', subject: 's', state: 'running', out: { messages: 1, bytes: 1, rate: 1500, lost: 3 }, in: { messages: 0, bytes: 0, rate: 0, lost: 4 }, lag: 9 },
      ],
    };
    const parsed = parseBridgeStatus(new TextEncoder().encode(JSON.stringify(s)))!;
    assert.equal(bridgeSummary(parsed), 'bridge h1 DISCONNECTED (127.0.0.1:4222), 1 channels, out 1.5k/s, in 0/s, lost 7, lag 9, 2 reconnects');
    for (const bad of ['', '{"kind":"other","host":"x","channels":[]}', '{not json at all......', '[1,2,3,4,5,6,7,8,9,10,11]']) {
      assert.equal(parseBridgeStatus(new TextEncoder().encode(bad)), null, bad);
    }
  });
});
