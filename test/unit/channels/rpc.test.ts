import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rpc, RpcResponse, Segment, isShmbusError, type RpcRequest } from '../../../src/index.js';
import { trackNames } from '../../helpers/index.js';

const { name, cleanup } = trackNames((n) => Rpc.unlink(n));
after(cleanup);

const code = (c: string) => (e: unknown) => isShmbusError(e) && e.code === c;

describe('Rpc in one process', () => {
  it('answers bytes and strings, keeping the kind of payload', async () => {
    const n = name('rpc-basic');
    const server = Rpc.serve(n, (req) => (req.isText ? req.text().toUpperCase() : req.data.reverse()), { workers: 2 });
    const client = Rpc.connect(n);
    const s = await client.request('hello');
    assert.equal(s.text(), 'HELLO');
    assert.equal(s.isText, true);
    const b = await client.request(new Uint8Array([1, 2, 3]));
    assert.deepEqual([...b.data], [3, 2, 1]);
    assert.equal(b.isText, false);
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => client.request(`r${i}`, { timeout: 5000 })));
    assert.deepEqual(many.map((m) => m.text()), Array.from({ length: 200 }, (_, i) => `R${i}`));
    assert.equal(client.stats().inFlight, 0);
    client.close();
    await server.close();
    assert.deepEqual(server.stats(), { served: 202, failed: 0, inFlight: 0 });
    // The last server out removed the service: its name is gone and a new request finds no server.
    assert.throws(() => Segment.open(n), code('ERR_SHM_NOT_FOUND'));
    const late = Rpc.connect(n);
    await assert.rejects(late.request('x'), code('ERR_NO_SERVER'));
    late.close();
  });

  it('request({ into }) puts the response into a caller buffer; req.data is reused between requests', async () => {
    const n = name('rpc-into');
    const seen: Uint8Array[] = [];
    const server = Rpc.serve(n, (req) => {
      seen.push(req.data);
      return req.data;
    });
    const client = Rpc.connect(n);
    const into = new Uint8Array(10_000);
    const a = await client.request(new Uint8Array(6000).fill(1), { into });
    assert.ok(a.data.buffer === into.buffer, 'the response went into the caller buffer');
    assert.equal(a.data.length, 6000);
    const b = await client.request(new Uint8Array(5000).fill(2), { into });
    assert.equal(b.data.length, 5000);
    assert.equal(into[4999], 2);
    assert.equal(into[5999], 1);
    const c = await client.request(new Uint8Array(20_000).fill(3), { into });
    assert.ok(c.data.buffer !== into.buffer, 'a response too large for `into` gets a fresh array');
    assert.equal(c.data[19_999], 3);
    // The worker reused its request buffer (documented: req.data is valid only during the handler).
    assert.ok(seen[0]!.buffer === seen[1]!.buffer, 'the worker reused its request buffer');
    client.close();
    await server.close();
  });

  it('times out with ERR_TIMEOUT, aborts with ERR_ABORTED, and close() fails what is pending with ERR_CLOSED', async () => {
    const n = name('rpc-wait');
    const server = Rpc.serve(n, (req) => (req.text() === 'slow' ? new Promise<string>(() => {}) : 'fast'));
    const client = Rpc.connect(n);
    await assert.rejects(client.request('slow', { timeout: 30 }), code('ERR_TIMEOUT'));
    const ac = new AbortController();
    const p = client.request('slow', { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, code('ERR_ABORTED'));
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(client.request('fast', { signal: aborted.signal }), code('ERR_ABORTED'));
    const pending = client.request('slow');
    client.close();
    await assert.rejects(pending, code('ERR_CLOSED'));
    await assert.rejects(client.request('fast'), code('ERR_CLOSED'));
    // A handler that never settles would hold close() forever: the timeout bounds it.
    await server.close({ timeout: 50 });
  });

  it('a handler returning something other than bytes or a string is ERR_REMOTE on the caller', async () => {
    const n = name('rpc-ret');
    const server = Rpc.serve(n, () => 42 as unknown as string);
    const client = Rpc.connect(n);
    await assert.rejects(client.request('x', { timeout: 5000 }), code('ERR_REMOTE'));
    client.close();
    await server.close();
  });

  it('a response larger than the client accepts is ERR_MESSAGE_TOO_LARGE, and the next request works', async () => {
    const n = name('rpc-big');
    const server = Rpc.serve(n, (req) => (req.text() === 'big' ? new Uint8Array(1000) : 'small'));
    const client = Rpc.connect(n, { maxMessageSize: 100 });
    await assert.rejects(client.request('big', { timeout: 5000 }), code('ERR_MESSAGE_TOO_LARGE'));
    assert.equal((await client.request('x', { timeout: 5000 })).text(), 'small');
    await assert.rejects(client.request('y'.repeat(70_000)), code('ERR_MESSAGE_TOO_LARGE'));
    client.close();
    await server.close();
  });

  it('bad options are ERR_INVALID_ARG, bad names ERR_INVALID_NAME, a corrupt service ERR_SHM_CORRUPT', async () => {
    const n = name('rpc-bad');
    assert.throws(() => Rpc.serve(n, 'x' as unknown as () => string), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.serve(n, () => '', { workers: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.serve(n, () => '', { workers: 65 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.serve(n, () => '', { slots: 6 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.serve(n, () => '', { maxMessageSize: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.serve(n, () => '', { maxMessageSize: '4096' as unknown as number }), /maxMessageSize must be .*got string "4096"/);
    assert.throws(() => Rpc.serve(n, () => '', { livenessInterval: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.serve(n, () => '', { onError: 'log' as unknown as () => void }), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.serve(n, () => '', null as unknown as {}), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.connect(n, { livenessInterval: -1 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.connect(n, { codec: 'yaml' as unknown as 'json' }), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.connect(n, { slots: 3 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Rpc.connect('no/slash'), code('ERR_INVALID_NAME'));
    // The response queues "<name>.r<clientId>" must fit 200 characters: service names stop at 188, and say so.
    assert.throws(() => Rpc.connect('x'.repeat(189)), /at most 188/);
    assert.throws(() => Rpc.serve('x'.repeat(189), () => ''), code('ERR_INVALID_NAME'));
    for (const params of [[64, 100, 3], [3, 100, 64], [64, 1 << 30, 64], [64, 8, 64]]) {
      const c = name('rpc-corrupt');
      Segment.create(c, { size: 8192, kind: 'rpc', params }).close();
      const client = Rpc.connect(c);
      await assert.rejects(client.request('x'), code('ERR_SHM_CORRUPT'), `params ${params.join(',')}`);
      assert.throws(() => Rpc.serve(c, () => ''), code('ERR_SHM_CORRUPT'));
      client.close();
    }
  });

  it('codecs: serve<Req, Res> and connect<Req, Res> with json give typed values; responses have text(), json(), value', async () => {
    const n = name('rpc-codec');
    const server = Rpc.serve<{ a: number; b: number }, { sum: number }>(n, (req) => ({ sum: req.value.a + req.value.b }), {
      codec: 'json',
    });
    const client = Rpc.connect<{ a: number; b: number }, { sum: number }>(n, { codec: 'json' });
    const res = await client.request({ a: 2, b: 3 }, { timeout: 5000 });
    assert.ok(res instanceof RpcResponse);
    assert.deepEqual(res.value, { sum: 5 });
    assert.deepEqual(res.json(), { sum: 5 });
    assert.equal(res.text(), '{"sum":5}');
    // Without a codec, value is the bytes.
    const raw = Rpc.connect(n);
    const r2 = await raw.request('{"a":1,"b":1}', { timeout: 5000 });
    assert.ok(r2.value instanceof Uint8Array);
    assert.deepEqual(r2.json(), { sum: 2 });
    raw.close();
    client.close();
    await server.close();
  });

  it('a failing handler is reported to onError with its request, counted in stats(), and answered with ERR_REMOTE', async () => {
    const n = name('rpc-onerror');
    const seen: [string, string][] = [];
    const server = Rpc.serve(
      n,
      (req) => {
        if (req.text() === 'bad') throw new Error('no good');
        return req.text() === 'async-bad' ? Promise.reject(new TypeError('later')) : 'fine';
      },
      { onError: (err, req: RpcRequest) => seen.push([(err as Error).message, req.text()]) },
    );
    const client = Rpc.connect(n);
    await assert.rejects(client.request('bad', { timeout: 5000 }), code('ERR_REMOTE'));
    await assert.rejects(client.request('async-bad', { timeout: 5000 }), code('ERR_REMOTE'));
    assert.equal((await client.request('ok', { timeout: 5000 })).text(), 'fine');
    assert.deepEqual(seen, [['no good', 'bad'], ['later', 'async-bad']]);
    assert.deepEqual(server.stats(), { served: 3, failed: 2, inFlight: 0 });
    assert.deepEqual(client.stats(), { sent: 3, received: 3, failed: 2, inFlight: 0 });
    client.close();
    await server.close();
  });

  it('a full worker table is ERR_TOO_MANY_WORKERS and leaves the service usable; await using closes the server', async () => {
    const n = name('rpc-full');
    {
      await using server = Rpc.serve(n, () => 'x', { workers: 60 });
      assert.throws(() => Rpc.serve(n, () => 'y', { workers: 5 }), (e: unknown) => isShmbusError(e, 'ERR_TOO_MANY_WORKERS') && /room for 4 more/.test(e.message));
      const four = Rpc.serve(n, () => 'z', { workers: 4 });
      const client = Rpc.connect(n);
      assert.ok(['x', 'z'].includes((await client.request('q', { timeout: 5000 })).text()));
      client.close();
      await four.close();
      assert.equal(server.name, n);
    }
    // The last server out (disposed above) retired the service.
    const late = Rpc.connect(n);
    await assert.rejects(late.request('x'), code('ERR_NO_SERVER'));
    late.close();
  });

  it('close() is idempotent and returns the same promise', async () => {
    const n = name('rpc-close');
    const server = Rpc.serve(n, () => 'x');
    const a = server.close();
    assert.equal(server.close(), a);
    await a;
    const again = Rpc.serve(n, () => 'x');
    await assert.rejects(again.close({ timeout: -1 }), code('ERR_INVALID_ARG'));
    await again.close();
  });

  it('a client whose service was retired by its last server reaches the next server of the same name', async () => {
    const n = name('rpc-retired');
    const client = Rpc.connect(n);
    const first = Rpc.serve(n, () => 'first');
    assert.equal((await client.request('x', { timeout: 5000 })).text(), 'first');
    await first.close(); // retires the segment the client still has mapped
    await assert.rejects(client.request('x', { timeout: 5000 }), code('ERR_NO_SERVER'));
    const second = Rpc.serve(n, () => 'second', { maxMessageSize: 1024 }); // a fresh segment, other sizes
    assert.equal((await client.request('y', { timeout: 5000 })).text(), 'second');
    client.close();
    await second.close();
    assert.throws(() => Segment.open(n), code('ERR_SHM_NOT_FOUND'));
  });

  it('request options: a signal that is not an AbortSignal is ERR_INVALID_ARG; AbortSignal.timeout firing is ERR_TIMEOUT', async () => {
    const n = name('rpc-signal');
    const server = Rpc.serve(n, (req) => (req.text() === 'slow' ? new Promise<string>(() => {}) : 'fast'));
    const client = Rpc.connect(n);
    await assert.rejects(client.request('fast', { signal: 'yes' as unknown as AbortSignal }), /signal must be an AbortSignal \(got string "yes"\)/);
    await assert.rejects(client.request('fast', { into: [] as unknown as Uint8Array }), code('ERR_INVALID_ARG'));
    await assert.rejects(client.request('slow', { signal: AbortSignal.timeout(20) }), (e: unknown) => {
      assert.ok(isShmbusError(e, 'ERR_TIMEOUT'), String(e));
      assert.equal((e.cause as DOMException).name, 'TimeoutError');
      return true;
    });
    assert.equal(client.stats().inFlight, 0);
    client.close();
    await server.close({ timeout: 50 });
  });
  it('a client whose response queue is removed under it fails its pending request with ERR_NO_SERVER, not at its timeout', async () => {
    // The worker finds no queue to answer into and drops the response; the client must learn it by itself.
    const n = name('rpc-lost-queue');
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const server = Rpc.serve(n, async () => {
      started();
      await gate;
      return 'late';
    });
    const client = Rpc.connect(n);
    const pending = client.request('x', { timeout: 20_000 });
    await running;
    Segment.unlink(`${n}.r1`); // the first client of a fresh service has id 1
    release();
    await assert.rejects(pending, code('ERR_NO_SERVER'));
    // The next request makes a new response queue and is answered.
    assert.equal((await client.request('y', { timeout: 5000 })).text(), 'late');
    client.close();
    await server.close();
  });
});
