/**
 * Queue and Rpc benchmark (issue 7), with the transports a Node user would otherwise pick, in one run:
 *  1. Queue throughput, 64 B messages: 1 producer : 1 consumer and 4 : 4 (child processes).
 *  2. Round trip, 64 B: Queue (there and back through two queues), Rpc request, beside child_process IPC, a Unix
 *     domain socket and HTTP over loopback.
 *  3. Round trip, one 2.7 MB image (1280x720x3): Rpc request beside the same baselines.
 *  4. The same image round trip zero-copy (issue 20): Rpc with a loaned request, the handler reading it in place and
 *     answering into a loaned response, the response read as a view; beside the copying Rpc and the Topic
 *     zero-copy frame round trip (loan + copy: false), all measured in the same run.
 */
import { join } from 'node:path';
import { Queue, Rpc, Topic } from '../../src/index.js';
import { awaitView, createTopic, pollView } from '../api.js';
import {
  childProcessIpcSamples,
  cPingPongSamples,
  httpLoopbackSamples,
  interleave,
  PeerSet,
  placementCpus,
  SIZES,
  timeRoundTripSamples,
  unixSocketSamples,
  withPinnedSelf,
} from '../baselines.js';
import { benchName, figureStats, ringWarmup, ROOT, sampleArray, warmThenMeasure, type BenchContext, type LineChild, type Row, type Stats, type Table } from '../lib.js';

const PEER = join(ROOT, 'dist', 'bench', 'children', 'queue-peer.js');
const TOPIC_PEER = join(ROOT, 'dist', 'bench', 'children', 'topic-peer.js');
/** The whole suite's watchdog: children still running then are killed and the suite fails. */
const SUITE_TIMEOUT_MS = 10 * 60_000;

const peers = new PeerSet(PEER);
const topicPeers = new PeerSet(TOPIC_PEER);
const peer = (args: string[], cpu?: number): LineChild => peers.spawn(args, cpu);
const line = (child: LineChild, re: RegExp): Promise<string> => peers.line(child, re);

/** `producers` x `consumers` processes move `total` 64 B messages through one queue; messages per second. */
async function throughput(producers: number, consumers: number, total: number): Promise<Row> {
  const name = benchName('qtp');
  const q = Queue.create(name, { slots: 1024, maxMessageSize: 64 });
  try {
    const cons = Array.from({ length: consumers }, () => peer(['consume', name]));
    const prods = Array.from({ length: producers }, () => peer(['produce', name, String(total / producers), '64']));
    await Promise.all([...cons, ...prods].map((c) => line(c, /^ready$/)));
    const t0 = process.hrtime.bigint();
    for (const p of prods) p.send('go');
    await Promise.all(prods.map((p) => line(p, /^sent$/)));
    q.end();
    const counts = await Promise.all(cons.map(async (c) => Number((await line(c, /^done /)).split(' ')[1])));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const got = counts.reduce((x, y) => x + y, 0);
    if (got !== total) throw new Error(`queue throughput: ${got} of ${total} messages arrived`);
    await Promise.all([...cons, ...prods].map((c) => c.done));
    return {
      path: `Queue ${producers} producer${producers > 1 ? 's' : ''} : ${consumers} consumer${consumers > 1 ? 's' : ''}`,
      messages: total,
      'msg/s': total / s,
      'MB/s': (total * 64) / s / 1e6,
      'ns/msg': (s * 1e9) / total,
    };
  } finally {
    q.close();
    Queue.unlink(name);
  }
}

/** Round trip through two queues and an echoing child, µs; both sides spin `spin` µs before sleeping. */
async function queueRoundTrip(iterations: number, spin = 50): Promise<Float64Array> {
  const cpus = placementCpus('cores');
  const there = benchName('qthere');
  const back = benchName('qback');
  const qa = Queue.create(there, { slots: 64, maxMessageSize: 64, spin });
  const qb = Queue.create(back, { slots: 64, maxMessageSize: 64, spin });
  try {
    const echo = peer(['echo', there, back, String(spin)], cpus?.[1]);
    await line(echo, /^ready$/);
    const buf = new Uint8Array(64).fill(0x5a);
    // Received into one reused buffer, options made once (issue 12: the allocation-free receive, as the Topic rows
    // read in place); the echo child does the same.
    const got = { into: new Uint8Array(64) };
    // The loop is written out, as the Topic rows' (30-topic pingPong): a per-round-trip async callback (the
    // generic timeRoundTripSamples) adds a promise, an await and its allocation to every round trip, which is the
    // harness's cost, not the Queue's.
    const samples = sampleArray(iterations);
    const pass = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const t0 = process.hrtime.bigint();
        if (!qa.trySend(buf)) await qa.send(buf);
        if (qb.tryReceive(got) === null) await qb.receive(got);
        samples[Math.max(i, 0)] = Number(process.hrtime.bigint() - t0) / 1000; // warm-up: overwritten (no branch)
      }
    };
    await withPinnedSelf(cpus?.[0], () => warmThenMeasure(Math.max(1000, iterations / 10), iterations, pass));
    qa.end();
    await echo.done;
    return samples;
  } finally {
    qa.close();
    qb.close();
    Queue.unlink(there);
    Queue.unlink(back);
  }
}

/** Rpc request round trip to an echo server in a child process, µs; both sides spin `spin` µs before sleeping. */
async function rpcRoundTrip(size: number, iterations: number, reuse = false, spin = 50): Promise<Float64Array> {
  const cpus = placementCpus('cores');
  const name = benchName('rpc');
  const server = peer(['serve', name, String(Math.max(4096, size)), String(spin)], cpus?.[1]);
  try {
    await line(server, /^serving$/);
    const client = Rpc.connect(name, { slots: 2, spin });
    const payload = new Uint8Array(size).fill(0x5a);
    const options = reuse ? { into: new Uint8Array(size) } : {};
    // Written out as the Queue loop above (no per-round-trip async callback of the harness).
    const samples = sampleArray(iterations);
    const pass = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const t0 = process.hrtime.bigint();
        const res = await client.request(payload, options);
        if (res.data.length !== size) throw new Error(`rpc echo returned ${res.data.length} bytes`);
        samples[Math.max(i, 0)] = Number(process.hrtime.bigint() - t0) / 1000;
      }
    };
    await withPinnedSelf(cpus?.[0], () => warmThenMeasure(Math.max(50, Math.min(1000, iterations / 10)), iterations, pass));
    client.close();
    server.send('stop');
    await server.done;
    return samples;
  } finally {
    Rpc.unlink(name);
  }
}

/**
 * Zero-copy Rpc round trip of a `size`-byte image, µs: the request is loaned and only its 8-byte stamp written (a
 * producer would render the image in place), the server reads it in its slot and answers into a loaned response
 * of the same size (stamp only), the client reads the response as a view and releases it.
 */
async function rpcZeroCopyRoundTrip(size: number, iterations: number, spin = 50): Promise<Float64Array> {
  const cpus = placementCpus('cores');
  const name = benchName('rpczc');
  const server = peer(['serve-zc', name, String(Math.max(4096, size)), String(spin)], cpus?.[1]);
  try {
    await line(server, /^serving$/);
    const client = Rpc.connect(name, { slots: 2, spin });
    const stamp = new Uint8Array(8).fill(0x5a);
    const stats = await withPinnedSelf(cpus?.[0], () =>
      timeRoundTripSamples(iterations, async () => {
        const loan = client.tryLoan(size) ?? (await client.loan(size));
        loan.bytes.set(stamp);
        const res = await loan.commit(size, { copy: false });
        if (res.data.length !== size || res.data[7] !== 0x5a) throw new Error(`rpc zero-copy echo returned ${res.data.length} bytes`);
        res.release();
      }),
    );
    client.close();
    server.send('stop');
    await server.done;
    return stats;
  } finally {
    Rpc.unlink(name);
  }
}

/**
 * Topic zero-copy frame round trip, µs (as bench/suites/30-topic.ts measures it): loan a frame on one topic, write
 * its 8-byte stamp, commit; the child (bench/children/topic-peer.js echo, zero-copy) reads it as a view and loans
 * the same size on the other topic; this process reads that as a view. `mode` 'await' spins 50 µs then parks
 * (as Rpc waits); 'poll' never sleeps.
 */
async function topicZeroCopyRoundTrip(size: number, iterations: number, mode: 'await' | 'poll'): Promise<Float64Array> {
  const cpus = placementCpus('cores');
  const there = benchName('zping');
  const back = benchName('zpong');
  const layout = { capacity: Math.max(1 << 20, 4 * (size + 64)), maxMessageSize: Math.max(4096, size) };
  const ping = createTopic(there, layout);
  createTopic(back, layout).close();
  const sub = Topic.subscribe(back, { spin: 50 });
  try {
    const echo = topicPeers.spawn(['echo', there, back, mode, 'zc'], cpus?.[1]);
    await topicPeers.line(echo, /^ready$/);
    const stamp = new Uint8Array(8).fill(0x5a);
    const warmup = Math.min(ringWarmup(layout.capacity, size, iterations), 200);
    const samples = sampleArray(iterations);
    const pass = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const t0 = process.hrtime.bigint();
        const loan = ping.loan(size);
        loan.bytes.set(stamp);
        loan.commit();
        if (pollView(sub) === null) {
          if (mode === 'poll') while (pollView(sub) === null);
          else await awaitView(sub, 60_000);
        }
        samples[Math.max(i, 0)] = Number(process.hrtime.bigint() - t0) / 1000; // warm-up: overwritten (no branch)
      }
    };
    await withPinnedSelf(cpus?.[0], () => warmThenMeasure(warmup, iterations, pass));
    ping.publish(new Uint8Array(1));
    await topicPeers.line(echo, /^oneway /);
    await echo.done;
    return samples;
  } finally {
    sub.close();
    ping.close();
    Topic.unlink(there);
    Topic.unlink(back);
  }
}

function latencyRow(path: string, s: Stats, ipcP50: number, cSpinP50?: number): Row {
  return {
    path,
    p50: s.p50,
    p99: s.p99,
    'p99.9': s.p999,
    'p99 / p50': `${(s.p99 / s.p50).toFixed(1)}x`,
    'p99.9 / p50': `${(s.p999 / s.p50).toFixed(1)}x`,
    ...(cSpinP50 === undefined ? {} : { 'p50 vs C spin': `${(s.p50 / cSpinP50).toFixed(1)}x` }),
    'child_process IPC p50 / p50': `${(ipcP50 / s.p50).toFixed(1)}x`,
    n: s.n,
  };
}

export default async function queueSuite(ctx: BenchContext): Promise<Table[]> {
  const watchdog = setTimeout(() => {
    peers.killAll();
  }, SUITE_TIMEOUT_MS);
  try {
    const k = ctx.quick ? 10 : 1;
    ctx.log('queue throughput 1:1');
    const tp1 = await throughput(1, 1, 1_000_000 / k);
    ctx.log('queue throughput 4:4');
    const tp4 = await throughput(4, 4, 1_000_000 / k);

    // Latency rows are measured in ROUNDS turns (interleaved), so load drifting over the run hits every row alike.
    const ROUNDS = 5;
    const small = SIZES.small;
    const place = { placement: 'cores' as const };
    ctx.log('64 B round trips: C spin/futex, Queue and Rpc (spin 50 µs and 0), child_process IPC, unix socket, HTTP (interleaved)');
    const r64 = await interleave(ROUNDS, {
      cSpin: () => cPingPongSamples({ mode: 'spin', size: small, iterations: 20_000 / k / ROUNDS, ...place }),
      cFutex: () => cPingPongSamples({ mode: 'futex', size: small, iterations: 5_000 / k / ROUNDS, ...place }),
      queue: () => queueRoundTrip(20_000 / k / ROUNDS),
      queue0: () => queueRoundTrip(5_000 / k / ROUNDS, 0),
      // Rpc reads its response into a reused buffer ({ into }), as the Queue rows do: the allocation-free path.
      rpc: () => rpcRoundTrip(small, 20_000 / k / ROUNDS, true),
      rpc0: () => rpcRoundTrip(small, 5_000 / k / ROUNDS, true, 0),
      ipcAdv: () => childProcessIpcSamples({ serialization: 'advanced', size: small, iterations: 5_000 / k / ROUNDS, ...place }),
      ipcJson: () => childProcessIpcSamples({ serialization: 'json', size: small, iterations: 5_000 / k / ROUNDS, ...place }),
      sock: () => unixSocketSamples({ size: small, iterations: 5_000 / k / ROUNDS, ...place }),
      http: () => httpLoopbackSamples({ size: small, iterations: 2_000 / k / ROUNDS, ...place }),
    });
    figureStats('cspin.queue', r64.cSpin); // the machine's tail in these turns (targets table)
    figureStats('queue', r64.queue);
    figureStats('rpc', r64.rpc);
    const frame = SIZES.frame;
    const n = (ctx.quick ? 30 : 200) / ROUNDS;
    ctx.log('2.7 MB round trips: Rpc, child_process IPC, unix socket, HTTP (interleaved)');
    const rBig = await interleave(ROUNDS, {
      rpc: () => rpcRoundTrip(frame, n),
      rpcInto: () => rpcRoundTrip(frame, n, true),
      ipc: () => childProcessIpcSamples({ serialization: 'advanced', size: frame, iterations: n, ...place }),
      sock: () => unixSocketSamples({ size: frame, iterations: n, ...place }),
      http: () => httpLoopbackSamples({ size: frame, iterations: n, ...place }),
    });
    const nz = (ctx.quick ? 200 : 2000) / ROUNDS;
    ctx.log('2.7 MB zero-copy round trips: Rpc loans and views, copying Rpc, Topic loan + copy: false (interleaved)');
    const rZc = await interleave(ROUNDS, {
      rpcZc: () => rpcZeroCopyRoundTrip(frame, nz),
      rpc: () => rpcRoundTrip(frame, n, true),
      topicAwait: () => topicZeroCopyRoundTrip(frame, nz, 'await'),
      topicPoll: () => topicZeroCopyRoundTrip(frame, nz, 'poll'),
    });
    figureStats('rpc-zero-copy', rZc.rpcZc);
    const zcRow = (path: string, s: Stats): Row => ({
      path,
      p50: s.p50,
      p99: s.p99,
      'p99.9': s.p999,
      'p50 / Topic zero-copy p50 (spin, park)': `${(s.p50 / rZc.topicAwait.p50).toFixed(1)}x`,
      n: s.n,
    });

    return [
      {
        title: 'Queue throughput, 64 B messages',
        note:
          'Child processes (bench/children/queue-peer.ts) move the messages through one Queue (1024 slots x 64 B); ' +
          'timed from "go" to the last consumer seeing the end of stream. Unpinned: 4:4 is 8 processes on the 2 cores.',
        columns: ['path', 'messages', 'msg/s', 'MB/s', 'ns/msg'],
        rows: [tp1, tp4],
      },
      {
        title: 'Round trip, 64 B (µs)',
        note:
          'This process on cpu 0, the echoing child on cpu 1. Queue: send on one queue, the child echoes on another (both receive into a reused buffer, { into }). ' +
          'Rpc: client.request(payload, { into }) (the response read into a reused buffer) to an Rpc.serve echo handler. "spin 50 µs" rows: both sides re-check shared memory for 50 µs before sleeping (the default), ' +
          'so back-to-back round trips never sleep; "spin 0" rows: both sides sleep at once, so every message wakes a sleeping process, as the ' +
          'transports below do (compare these with IPC, sockets and the C futex row; the spinning rows with the C spin row). ' +
          'C spin: pure pause loop (two cores); C futex: FUTEX_WAIT/FUTEX_WAKE, no spin (bench/c/pingpong.c, 64 B copied each way). ' +
          'Baselines from bench/baselines.ts in the same run; all rows measured in 5 interleaved turns. Last columns: p50 over the C spin p50, and how many times faster than child_process IPC (advanced).',
        columns: ['path', 'p50', 'p99', 'p99.9', 'p99 / p50', 'p99.9 / p50', 'p50 vs C spin', 'child_process IPC p50 / p50', 'n'],
        rows: [
          latencyRow('Queue (there and back, two queues), spin 50 µs', r64.queue, r64.ipcAdv.p50, r64.cSpin.p50),
          latencyRow('Queue (there and back, two queues), spin 0', r64.queue0, r64.ipcAdv.p50, r64.cSpin.p50),
          latencyRow('Rpc request, spin 50 µs', r64.rpc, r64.ipcAdv.p50, r64.cSpin.p50),
          latencyRow('Rpc request, spin 0', r64.rpc0, r64.ipcAdv.p50, r64.cSpin.p50),
          latencyRow('C spin ping-pong (pure pause loop)', r64.cSpin, r64.ipcAdv.p50, r64.cSpin.p50),
          latencyRow('C futex ping-pong', r64.cFutex, r64.ipcAdv.p50, r64.cSpin.p50),
          latencyRow("child_process IPC ('advanced')", r64.ipcAdv, r64.ipcAdv.p50, r64.cSpin.p50),
          latencyRow("child_process IPC ('json')", r64.ipcJson, r64.ipcAdv.p50, r64.cSpin.p50),
          latencyRow('Unix domain socket', r64.sock, r64.ipcAdv.p50, r64.cSpin.p50),
          latencyRow('HTTP over loopback', r64.http, r64.ipcAdv.p50, r64.cSpin.p50),
        ],
      },
      {
        title: 'Round trip, one 2.7 MB image (1280x720x3) (µs)',
        note:
          'Same placement. Rpc copies the image into the request slot, out of it (into the worker\'s reused request ' +
          'buffer), into the response slot and out again: 4 copies. The client gets the response in a fresh array ' +
          '(page faults on first touch cost more than the copy) or, with { into }, in a buffer it reuses.',
        columns: ['path', 'p50', 'p99', 'p99.9', 'p99 / p50', 'p99.9 / p50', 'child_process IPC p50 / p50', 'n'],
        rows: [
          latencyRow('Rpc request (response in a fresh array)', rBig.rpc, rBig.ipc.p50),
          latencyRow('Rpc request, { into } a reused buffer', rBig.rpcInto, rBig.ipc.p50),
          latencyRow("child_process IPC ('advanced')", rBig.ipc, rBig.ipc.p50),
          latencyRow('Unix domain socket', rBig.sock, rBig.ipc.p50),
          latencyRow('HTTP over loopback', rBig.http, rBig.ipc.p50),
        ],
      },
      {
        title: 'Round trip, one 2.7 MB image, zero-copy (µs)',
        note:
          'Same placement; the rows measured in 5 interleaved turns of one run. Rpc zero-copy: client.loan + ' +
          'loan.commit(n, { copy: false }), the server (Rpc.serve copy: false) reads the request in its slot and answers ' +
          'with req.loan of the same size; only an 8-byte stamp is written each way (a producer renders in place), so no ' +
          'image byte is copied. Rpc copying: client.request with { into }, an echo handler (4 copies). Topic zero-copy: ' +
          'Topic loan + read({ copy: false }) both ways through an echoing child, the way bench/suites/30-topic.ts ' +
          'measures it ("spin, park" waits as Rpc does: spin 50 µs, then sleep; "poll" never sleeps). Target (issue 20): ' +
          'Rpc zero-copy <= 3x the Topic zero-copy frame round trip.',
        columns: ['path', 'p50', 'p99', 'p99.9', 'p50 / Topic zero-copy p50 (spin, park)', 'n'],
        rows: [
          zcRow('Rpc zero-copy (request loan, request view, response loan, response view)', rZc.rpcZc),
          zcRow('Rpc copying, { into } a reused buffer (4 copies)', rZc.rpc),
          zcRow('Topic zero-copy frame, spin then park', rZc.topicAwait),
          zcRow('Topic zero-copy frame, poll', rZc.topicPoll),
        ],
      },
    ];
  } finally {
    clearTimeout(watchdog);
    peers.killAll();
    topicPeers.killAll();
  }
}
