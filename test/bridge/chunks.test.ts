/**
 * Messages larger than the server's max_payload, through the library API (Bridge.start in this process): a
 * nats-server with the default-like max_payload of 1 MB, 2.7 MB frames on a Topic and 2.7 MB records on a Queue,
 * chunked by the sending bridge and put back together by the receiving one; 2.7 MB Rpc requests and responses
 * (chunked per call) and Mailbox values (parts, then a manifest) too. Both "hosts" share this /dev/shm and use
 * different local names for the same remote channels.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Mailbox, Queue, Rpc, Topic, isShmbusError } from '../../src/index.js';
import { Bridge, type BridgeEvent } from '../../src/bridge/index.js';
import { RawOut } from '../../src/bridge/raw-out.js';
import { spawnProcess, trackNames, unlinkQuietly } from '../helpers/index.js';
import { haveNatsServer, startNatsServer, type NatsServer } from './hosts.js';

const skip = haveNatsServer() ? false : 'nats-server is not installed (scripts/ci-deps.sh installs it as root)';
const FRAME = 1280 * 720 * 3;
const CLI = fileURLToPath(new URL('../../cli/shmbus.js', import.meta.url));

describe('bridge: messages larger than max_payload are chunked', { skip, timeout: 60_000 }, () => {
  const names = trackNames();
  const topicA = names.name('ct-a');
  const topicB = names.name('ct-b');
  const queueA = names.name('cq-a');
  const queueB = names.name('cq-b');
  const rpcA = names.name('cr-a');
  const rpcB = names.name('cr-b');
  const mbA = names.name('cm-a');
  const mbB = names.name('cm-b');
  const id = randomBytes(3).toString('hex');
  let server: NatsServer;
  let a: Bridge;
  let b: Bridge;
  const events: BridgeEvent[] = [];
  const waiting: { match: (e: BridgeEvent) => boolean; resolve: (e: BridgeEvent) => void }[] = [];
  const onEvent = (e: BridgeEvent): void => {
    events.push(e);
    for (const w of waiting.splice(0)) if (w.match(e)) w.resolve(e);
    else waiting.push(w);
  };
  /** The first event (already seen or to come) that matches. */
  const event = (match: (e: BridgeEvent) => boolean): Promise<BridgeEvent> => {
    const seen = events.find(match);
    return seen ? Promise.resolve(seen) : new Promise((resolve) => waiting.push({ match, resolve }));
  };

  before(async () => {
    server = await startNatsServer(1 << 20);
    const common = { nats: server.url, prefix: `chunks${id}`, kvBucket: `chunks${id}`, statusInterval: 100, onEvent };
    a = await Bridge.start({
      ...common,
      host: `ca-${id}`,
      topics: [`${topicA}=frames:out`],
      queues: [`${queueA}=big:out`],
      rpcs: [`${rpcA}=big:out`],
      mailboxes: [`${mbA}=big:out`],
    });
    b = await Bridge.start({
      ...common,
      host: `cb-${id}`,
      topics: [`${topicB}=frames:in`],
      queues: [`${queueB}=big:in`],
      rpcs: [`${rpcB}=big:in`],
      mailboxes: [`${mbB}=big:in`],
    });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await server?.dispose();
    names.cleanup();
  });

  test('the server says max_payload 1 MB and the bridges know it', () => {
    assert.equal(a.status().maxPayload, 1 << 20);
  });

  test('2.7 MB frames cross in chunks, intact', async () => {
    const pub = Topic.create(topicA, { capacity: 16 << 20, maxMessageSize: FRAME });
    try {
      const frame = (i: number): Uint8Array => new Uint8Array(FRAME).map((_, k) => (k * 13 + i) & 255);
      pub.publish(frame(0));
      const sub = Topic.subscribe(topicB, { from: 'oldest', timeout: 20_000 });
      try {
        for (let i = 0; i < 4; i++) {
          if (i > 0) pub.publish(frame(i));
          const m = await sub.read({ timeout: 20_000 });
          assert.ok(m);
          assert.equal(m.data.length, FRAME);
          assert.equal(crc32(m.data), crc32(frame(i)), `frame ${i}`);
        }
      } finally {
        sub.close();
      }
      assert.equal(b.status().channels[0]!.in.lost, 0);
    } finally {
      pub.close();
    }
  });

  test('frames published back to back cross intact: the relay reuses a read buffer only once the socket took it', async () => {
    // The :out relay writes large messages from the buffer it read them into; the next reads go into another one
    // while the socket still holds the first. A buffer reused too early would put a later frame's bytes on the wire.
    const frame = (i: number): Uint8Array => new Uint8Array(FRAME).map((_, k) => (k * 7 + i * 31) & 255);
    const frames = [10, 11, 12, 13, 14].map(frame); // 13.5 MB: the 16 MB ring holds them all
    const pub = Topic.open(topicA);
    const sub = Topic.subscribe(topicB, { from: 'latest', timeout: 20_000 });
    const lostBefore = b.status().channels[0]!.in.lost;
    try {
      for (const f of frames) pub.publish(f);
      for (let i = 0; i < frames.length; i++) {
        const m = await sub.read({ timeout: 20_000 });
        assert.ok(m);
        assert.equal(crc32(m.data), crc32(frames[i]!), `frame ${i}`);
      }
      assert.equal(b.status().channels[0]!.in.lost, lostBefore);
    } finally {
      sub.close();
      pub.close();
    }
  });

  test('the relay writes to the socket itself with this nats client (else it falls back to publish)', async () => {
    const { connect } = await import('nats');
    const nc = await connect({ servers: server.url });
    try {
      // A `nats` upgrade that changes the internals RawOut uses makes this fail: the bridge still works through the
      // client's publish, slower (docs/bridge.md, Tests and numbers).
      assert.ok(RawOut.of(nc));
      assert.equal(RawOut.of({} as never), null);
    } finally {
      await nc.close();
    }
  });

  test('the fallback path (the client publishes; SHMBUS_BRIDGE_RAW=0) carries frames back to back intact', async () => {
    const fa = names.name('cf-a');
    const fb = names.name('cf-b');
    const common = { nats: server.url, prefix: `chunks${id}`, kvBucket: `chunks${id}`, statusInterval: 100 };
    const pub = Topic.create(fa, { capacity: 16 << 20, maxMessageSize: FRAME });
    process.env['SHMBUS_BRIDGE_RAW'] = '0';
    let a2: Bridge | undefined;
    let b2: Bridge | undefined;
    try {
      a2 = await Bridge.start({ ...common, host: `cfa-${id}`, topics: [`${fa}=fallback:out`] });
      b2 = await Bridge.start({ ...common, host: `cfb-${id}`, topics: [`${fb}=fallback:in`] });
      delete process.env['SHMBUS_BRIDGE_RAW'];
      const frames = [20, 21, 22].map((i) => new Uint8Array(FRAME).map((_, k) => (k * 5 + i * 17) & 255));
      pub.publish(frames[0]!); // creates the topic on host B
      const sub = Topic.subscribe(fb, { from: 'oldest', timeout: 20_000 });
      try {
        pub.publish(frames[1]!);
        pub.publish(frames[2]!);
        for (let i = 0; i < frames.length; i++) {
          const m = await sub.read({ timeout: 20_000 });
          assert.ok(m);
          assert.equal(crc32(m.data), crc32(frames[i]!), `frame ${i}`);
        }
        assert.equal(b2.status().channels[0]!.in.lost, 0);
      } finally {
        sub.close();
      }
    } finally {
      delete process.env['SHMBUS_BRIDGE_RAW'];
      pub.close();
      await a2?.close();
      await b2?.close();
    }
  });

  test('2.7 MB queue records cross in chunks, in order, then the end of the stream', async () => {
    const q = Queue.create(queueA, { slots: 4, maxMessageSize: FRAME });
    try {
      const record = (i: number): Uint8Array => new Uint8Array(FRAME).fill(i + 1);
      for (let i = 0; i < 5; i++) await q.send(record(i), { timeout: 20_000 });
      q.end();
      const r = await Queue.openAsync(queueB, { timeout: 20_000 });
      try {
        let n = 0;
        for (;;) {
          const m = await r.receive({ timeout: 20_000 });
          if (m === null) break;
          assert.equal(m.data.length, FRAME);
          assert.ok(m.data.every((x) => x === n + 1), `record ${n}`);
          n++;
        }
        assert.equal(n, 5);
        assert.equal(r.ended, true);
      } finally {
        r.close();
      }
    } finally {
      q.close();
    }
  });

  test('a 2.7 MB Rpc request and a 2.7 MB response cross in chunks, intact; beyond rpcMaxMessageSize: ERR_MESSAGE_TOO_LARGE', async () => {
    // The service on host B answers a request with its SHA-256 and a 2.7 MB response derived from it ("small": 3 bytes).
    const response = (req: Uint8Array): Uint8Array => new Uint8Array(FRAME).map((_, k) => (k * 11 + req[k % req.length]!) & 255);
    const service = Rpc.serve(
      rpcB,
      (req) => (req.data.length === 3 ? req.data.slice().reverse() : req.text() === 'huge' ? new Uint8Array(5 << 20) : response(req.data)),
      { maxMessageSize: 8 << 20 },
    );
    const client = Rpc.connect(rpcA, { maxMessageSize: 8 << 20 });
    try {
      assert.deepEqual([...(await client.request(new Uint8Array([1, 2, 3]), { timeout: 20_000 })).data], [3, 2, 1]);
      for (const i of [1, 2]) {
        const req = new Uint8Array(FRAME).map((_, k) => (k * 3 + i * 101) & 255);
        const res = await client.request(req, { timeout: 20_000 });
        assert.equal(res.data.length, FRAME);
        assert.equal(crc32(res.data), crc32(response(req)), `call ${i}`);
      }
      // Concurrent large calls: each transfer is put together on its own.
      const reqs = [3, 4, 5, 6].map((i) => new Uint8Array(FRAME).map((_, k) => (k * 5 + i * 37) & 255));
      const results = await Promise.all(reqs.map((r) => client.request(r, { timeout: 20_000 })));
      results.forEach((res, i) => assert.equal(crc32(res.data), crc32(response(reqs[i]!)), `concurrent call ${i}`));
      // Beyond the bridge's rpcMaxMessageSize (4 MiB by default) a request is refused at once by its local service...
      await assert.rejects(client.request(new Uint8Array(5 << 20), { timeout: 20_000 }), (e: unknown) => isShmbusError(e, 'ERR_MESSAGE_TOO_LARGE'));
      // ...and a response by the far bridge's local client: the caller gets it as any failed handler's error.
      await assert.rejects(client.request('huge', { timeout: 20_000 }), (e: unknown) => isShmbusError(e, 'ERR_REMOTE'));
      assert.deepEqual([...(await client.request(new Uint8Array([4, 5, 6]), { timeout: 20_000 })).data], [6, 5, 4]);
    } finally {
      client.close();
      await service.close();
    }
  });

  test('an Rpc call whose far bridge is killed (SIGKILL) while its response crosses fails with a typed error; the next call at once', async (t) => {
    // Bridge B here is a `shmbus bridge` process of its own; the service answers a 24 MiB response (25 chunks, pulled
    // one by one by bridge A). A NATS subscriber of this test sees the reply chunks go by and kills bridge B at
    // the first one after chunk 0: the rest of the response never comes.
    const rpcKA = names.name('ck-a');
    const rpcKB = names.name('ck-b');
    const hostK = `ck-${id}`;
    const size = 24 << 20;
    const common = { nats: server.url, prefix: `chunks${id}`, kvBucket: `chunks${id}`, statusInterval: 100, rpcTimeout: 5000, rpcMaxMessageSize: 32 << 20 };
    const a2 = await Bridge.start({ ...common, host: `cka-${id}`, rpcs: [`${rpcKA}=kill:out`] });
    const bridgeB = spawnProcess(
      process.execPath,
      [CLI, 'bridge', '--nats', server.url, '--host', hostK, '--json', '--prefix', `chunks${id}`, '--rpc-max-message-size', String(32 << 20), '--rpc', `${rpcKB}=kill:in`],
      { watchdogMs: 60_000 },
    );
    const service = Rpc.serve(rpcKB, (req) => new Uint8Array(size).fill(req.data[0]!), { maxMessageSize: 32 << 20 });
    const client = Rpc.connect(rpcKA, { maxMessageSize: 32 << 20 });
    const { connect } = await import('nats');
    const watcher = await connect({ servers: server.url });
    let armed = false;
    let killedAt = '';
    watcher.subscribe('_INBOX.>', {
      callback: (_err, msg) => {
        const c = msg.headers?.get('Shmbus-Chunk') ?? '';
        // A pulled response chunk (k >= 1, not empty: the pulls themselves are empty).
        if (armed && killedAt === '' && msg.data.length > 0 && /^[1-9]\d*\/25$/.test(c)) {
          bridgeB.kill('SIGKILL');
          killedAt = c;
        }
      },
    });
    try {
      await bridgeB.line('"event":"ready"', 30_000);
      await watcher.flush();
      // One whole call first (the far bridge works), then the one it dies in.
      const ok = await client.request(new Uint8Array(FRAME).fill(7), { timeout: 20_000 });
      assert.equal(ok.data.length, size);
      assert.ok(ok.data.every((x) => x === 7));
      armed = true;
      const err = await client.request(new Uint8Array(FRAME).fill(9), { timeout: 20_000 }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.notEqual(killedAt, '', 'bridge B was killed while its response crossed');
      // The handler's error, as any: ERR_REMOTE whose cause is the bridge's typed error.
      assert.ok(isShmbusError(err, 'ERR_REMOTE'), `typed error, got ${String(err)}`);
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      assert.ok(cause === 'ERR_REMOTE' || cause === 'ERR_TIMEOUT', `cause ${cause}`);
      t.diagnostic(`killed at response chunk ${killedAt}: ${(err as Error).message}`);
      await bridgeB.exited;
      // No host serves the name any more: the next call says so at once (NATS "no responders").
      await assert.rejects(client.request(new Uint8Array(FRAME), { timeout: 20_000 }), (e: unknown) => isShmbusError(e, 'ERR_REMOTE') && (e.cause as { code?: string }).code === 'ERR_NO_SERVER');
    } finally {
      await watcher.close();
      client.close();
      await service.close();
      bridgeB.kill('SIGKILL');
      await bridgeB.exited;
      await a2.close();
      unlinkQuietly(`shmbus-bridge.${hostK}`);
      try {
        Rpc.unlink(rpcKB); // and the response queues of the killed bridge's client
      } catch {
        // not there
      }
    }
  });

  test('the :in bridge refuses chunks that do not continue a transfer, caps transfers in hand, and drops stale ones', async () => {
    // A NATS client speaking the chunk protocol badly (as a buggy or hostile peer could) to a real :in bridge.
    const rpcX = names.name('cx-b');
    const service = Rpc.serve(rpcX, (req) => req.data.slice(0, 4), { maxMessageSize: 4 << 20 });
    const ex = await Bridge.start({ nats: server.url, prefix: `chunks${id}`, host: `cx-${id}`, statusInterval: 100, rpcTimeout: 300, rpcs: [`${rpcX}=odd:in`], onEvent });
    const { connect, headers } = await import('nats');
    const nc = await connect({ servers: server.url });
    const subject = `chunks${id}.rpc.odd`;
    const hdrs = (f: Record<string, string>): ReturnType<typeof headers> => {
      const h = headers();
      for (const [k, v] of Object.entries(f)) h.set(k, v);
      return h;
    };
    const error = (m: { headers?: { get(k: string): string } }): string => m.headers?.get('Shmbus-Error') ?? '';
    const chunk = new Uint8Array(1000).fill(5);
    const tid = (i: number): string => `${'0'.repeat(12)}${(0x1000 + i).toString(16)}`;
    try {
      // A whole transfer of 3 chunks is served.
      let r = await nc.request(subject, chunk, { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '0/3', 'Shmbus-Transfer': tid(0) }) });
      const direct = r.headers!.get('Shmbus-Direct');
      assert.match(direct, /^_INBOX\./);
      await nc.request(direct, chunk, { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '1/3', 'Shmbus-Transfer': tid(0) }) });
      r = await nc.request(direct, new Uint8Array([1, 2, 3, 4, 5]), { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '2/3', 'Shmbus-Transfer': tid(0) }) });
      assert.equal(error(r), '');
      assert.deepEqual([...r.data], [5, 5, 5, 5]);
      // A chunk skipped: the transfer is abandoned with ERR_REMOTE; its next chunk finds nothing.
      await nc.request(subject, chunk, { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '0/3', 'Shmbus-Transfer': tid(1) }) });
      r = await nc.request(direct, chunk, { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '2/3', 'Shmbus-Transfer': tid(1) }) });
      assert.equal(error(r), 'ERR_REMOTE');
      r = await nc.request(direct, chunk, { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '1/3', 'Shmbus-Transfer': tid(1) }) });
      assert.equal(error(r), 'ERR_REMOTE');
      assert.match(r.headers!.get('Shmbus-Message'), /unknown or expired/);
      // More than rpcMaxMessageSize announced: refused on chunk 0, nothing allocated.
      r = await nc.request(subject, chunk, { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '0/65536', 'Shmbus-Transfer': tid(2) }) });
      assert.equal(error(r), 'ERR_MESSAGE_TOO_LARGE');
      // At most 16 transfers in hand; each is dropped rpcTimeout (300 ms here) after its last chunk.
      for (let i = 0; i < 16; i++) {
        r = await nc.request(subject, chunk, { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '0/2', 'Shmbus-Transfer': tid(10 + i) }) });
        assert.equal(error(r), '', `transfer ${i}`);
      }
      r = await nc.request(subject, chunk, { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '0/2', 'Shmbus-Transfer': tid(30) }) });
      assert.equal(error(r), 'ERR_REMOTE');
      assert.match(r.headers!.get('Shmbus-Message'), /16 chunked transfers/);
      await event((e) => e.event === 'error' && String(e['error']).includes(`transfer ${tid(25)} dropped`));
      r = await nc.request(direct, chunk, { timeout: 5000, headers: hdrs({ 'Shmbus-Chunk': '1/2', 'Shmbus-Transfer': tid(25) }) });
      assert.equal(error(r), 'ERR_REMOTE');
    } finally {
      await nc.close();
      await ex.close();
      await service.close();
    }
  });

  test('a 2.7 MB Mailbox value crosses in parts and the other host sees it whole; parts keys stay bounded', async () => {
    const mb = Mailbox.create(mbA, { maxMessageSize: 4 << 20 });
    const there = Mailbox.create(mbB, { maxMessageSize: 4 << 20 });
    try {
      let since = 0;
      const value = (i: number): Uint8Array => new Uint8Array(FRAME - i).map((_, k) => (k * 17 + i) & 255);
      // Four large values (the writer alternates between two part slots), then a small one that looks like a
      // manifest (sent as one: MAGIC is never taken from a plain value), then a plain small one.
      const magic = new TextEncoder().encode('\0shmbus-parts/1 not a manifest');
      const values = [value(0), value(1), value(2), value(3), magic, new TextEncoder().encode('small')];
      for (const v of values) {
        mb.write(v);
        // Host B's changed() wakes only for whole values: every one seen is one of those written, intact.
        for (;;) {
          since = await there.changed({ since, timeout: 20_000 });
          const got = there.read().data;
          const at = values.findIndex((w) => w.length === got.length && crc32(w) === crc32(got));
          assert.ok(at >= 0, `a ${got.length}-byte value that was never written`);
          if (at === values.indexOf(v)) break;
        }
      }
      // A burst: values written faster than they cross (the bridge relays the latest; parts slots get reused while
      // host B fetches). Host B sees whole values only, and the last one in the end.
      const burst = [10, 11, 12, 13, 14, 15].map(value);
      for (const v of burst) mb.write(v);
      const last = crc32(burst[burst.length - 1]!);
      for (;;) {
        since = await there.changed({ since, timeout: 20_000 });
        const got = crc32(there.read().data);
        assert.ok(burst.some((w) => crc32(w) === got), 'a value that was never written');
        if (got === last) break;
      }
      const status = a.status().channels.find((c) => c.kind === 'mailbox')!;
      assert.equal(status.out.lost, 0);
      assert.equal(b.status().channels.find((c) => c.kind === 'mailbox')!.in.lost, 0);
      // Parts live under two slots per writing host: 3 chunks each at most.
      const { connect } = await import('nats');
      const nc = await connect({ servers: server.url });
      try {
        const kv = await nc.jetstream().views.kv(`chunks${id}`);
        const keys: string[] = [];
        for await (const k of await kv.keys()) if (k.startsWith('_shmbus_parts.')) keys.push(k);
        assert.ok(keys.length > 0 && keys.length <= 6, keys.join(' '));
      } finally {
        await nc.close();
      }
    } finally {
      there.close();
      mb.close();
    }
  });

  test('a bridge started later gets a large value from the bucket whole; a manifest whose parts do not match is never written', async () => {
    const mbC = names.name('cm-c');
    const mb = Mailbox.open(mbA);
    const there = Mailbox.open(mbB);
    let c: Bridge | undefined;
    try {
      const big = new Uint8Array(FRAME + 5).map((_, k) => (k * 29) & 255);
      mb.write(big);
      let since = there.version;
      for (;;) {
        since = await there.changed({ since, timeout: 20_000 });
        if (crc32(there.read().data) === crc32(big)) break;
      }
      // Start reads the bucket's value (a manifest) and puts it together before it resolves.
      c = await Bridge.start({ nats: server.url, prefix: `chunks${id}`, kvBucket: `chunks${id}`, host: `cc-${id}`, statusInterval: 100, mailboxes: [`${mbC}=big:in`] });
      const onC = Mailbox.open(mbC);
      try {
        assert.equal(crc32(onC.read().data), crc32(big));
      } finally {
        onC.close();
      }
      // A manifest naming a part at a revision it does not have (overwritten since; here another NATS client wrote
      // both): counted lost on host B, never written.
      const lostBefore = b.status().channels.find((x) => x.kind === 'mailbox')!.in.lost;
      const { connect } = await import('nats');
      const nc = await connect({ servers: server.url });
      try {
        const kv = await nc.jetstream().views.kv(`chunks${id}`);
        const rev = await kv.put('_shmbus_parts.big.odd.0.0', new TextEncoder().encode('hello'));
        await kv.put('big', new TextEncoder().encode(`\0shmbus-parts/1 _shmbus_parts.big.odd.0 5 ${rev + 1}`));
        await event((e) => e.event === 'error' && String(e['channel']).includes(mbB) && /do not match its manifest/.test(String(e['error'])));
        await kv.delete('_shmbus_parts.big.odd.0.0');
      } finally {
        await nc.close();
      }
      assert.equal(b.status().channels.find((x) => x.kind === 'mailbox')!.in.lost, lostBefore + 1);
      assert.equal(crc32(there.read().data), crc32(big)); // the last whole value stays
    } finally {
      await c?.close();
      there.close();
      mb.close();
    }
  });
});
