/**
 * Topic benchmark (issue 6), beside the baselines a user would compare it with, all measured in this run:
 *  1. 64 B round trip between two processes (busy-poll, default await = spin then park, parked with spin 0), on
 *     two cores and on one core, plus one-way latency; C spin/futex ping-pong, iceoryx (when installed),
 *     child_process IPC, Unix socket. The two-core busy rows and their floors are measured in 3 interleaved turns.
 *  2. 64 B throughput: 1 publisher, 1/2/4 subscriber processes.
 *  3. 1280x720x3 (2.7 MB) and 6 MiB frames to 1 and 3 subscribers, with publish (one copy in) and loan (none),
 *     readers zero-copy (copy: false) or copying; C memcpy and child_process IPC for the same sizes.
 *  4. Mailbox: write and read latency (64 B, 1 MiB values) beside C memcpy, and the cross-process changed() wake
 *     round trip beside the C futex ping-pong.
 */
import { join } from 'node:path';
import { Mailbox, Topic } from '../../src/index.js';
import { awaitRead, createMailbox, createTopic, HAS_SINGLE_PUBLISHER, pollView } from '../api.js';
import { iceoryx, type Iceoryx } from '../iceoryx.js';
import {
  childProcessIpc,
  cMemcpy,
  cPingPong,
  cPingPongSamples,
  interleave,
  PeerSet,
  placementCpus,
  SIZES,
  unixSocket,
  withPinnedSelf,
  type Placement,
} from '../baselines.js';
import { benchName, figureStats, median, ringWarmup, ROOT, sampleArray, stats, warmThenMeasure, type BenchContext, type LineChild, type Row, type Stats, type Table } from '../lib.js';

const PEER = join(ROOT, 'dist', 'bench', 'children', 'topic-peer.js');
const SUITE_TIMEOUT_MS = 10 * 60_000;
const peers = new PeerSet(PEER);
const peer = (args: string[], cpu?: number): LineChild => peers.spawn(args, cpu);
const line = (child: LineChild, re: RegExp): Promise<string> => peers.line(child, re);

type EchoMode = 'poll' | 'await' | 'park';

interface PingPong {
  /** Round-trip samples (µs), in measurement order. */
  samples: Float64Array;
  /** The child's one-way p50 (µs). */
  oneway: number;
}

/**
 * Round trips through two topics and an echoing child; one-way latency measured by the child (hrtime stamps).
 * `singlePublisher`: both topics in single-publisher mode (see bench/api.ts).
 */
async function pingPong(mode: EchoMode, placement: Placement, iterations: number, frame = 0, singlePublisher = false): Promise<PingPong> {
  const cpus = placementCpus(placement);
  const there = benchName('ping');
  const back = benchName('pong');
  const size = frame || SIZES.small;
  const layout = { capacity: Math.max(1 << 20, 4 * (size + 64)), maxMessageSize: Math.max(4096, size) };
  const ping = createTopic(there, layout, singlePublisher);
  // The echo child publishes on `back`: this process only creates it (a single-publisher topic has one publisher).
  createTopic(back, layout, singlePublisher).close();
  const sub = Topic.subscribe(back, { spin: mode === 'park' ? 0 : 50 });
  try {
    const echo = peer(['echo', there, back, mode, frame ? 'zc' : 'copy'], cpus?.[1]);
    await line(echo, /^ready$/);
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    const warmup = ringWarmup(layout.capacity, size, iterations);
    const samples = sampleArray(iterations);
    const pass = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const t0 = process.hrtime.bigint();
        dv.setFloat64(0, Number(t0), true);
        if (frame) {
          // Zero-copy frame: loan it, write only the stamp (a producer would render in place), commit.
          const loan = ping.loan(size);
          loan.bytes.set(buf.subarray(0, 8));
          loan.commit();
        } else {
          ping.publish(buf);
        }
        if (pollView(sub) === null) {
          if (mode === 'poll') while (pollView(sub) === null);
          else if ((await awaitRead(sub)) === null) throw new Error('the echo topic ended');
        }
        samples[Math.max(i, 0)] = Number(process.hrtime.bigint() - t0) / 1000; // warm-up: overwritten (no branch)
      }
    };
    await withPinnedSelf(cpus?.[0], () => warmThenMeasure(warmup, iterations, pass));
    ping.publish(new Uint8Array(1));
    const ow = (await line(echo, /^oneway /)).split(' ').map(Number);
    await echo.done;
    return { samples, oneway: ow[1]! };
  } finally {
    sub.close();
    ping.close();
    Topic.unlink(there);
    Topic.unlink(back);
  }
}

/** {@link pingPong} as Stats, with its one-way p50. */
async function pingPongStats(mode: EchoMode, placement: Placement, iterations: number, frame = 0): Promise<{ rtt: Stats; oneway: number }> {
  const r = await pingPong(mode, placement, iterations, frame);
  return { rtt: stats(r.samples), oneway: r.oneway };
}

interface Delivery {
  /** Publisher: seconds to publish everything. */
  pubSeconds: number;
  /** From the first publish to the last subscriber done. */
  allSeconds: number;
  read: number[];
  lost: number[];
}

/** One publisher (this process) sends `count` messages of `size` bytes as fast as it can to `subs` child subscribers. */
async function deliver(
  size: number,
  count: number,
  subs: number,
  opts: { loan: boolean; copy: boolean; capacity: number; poll?: boolean },
): Promise<Delivery> {
  const name = benchName('tp');
  const topic = createTopic(name, { capacity: opts.capacity, maxMessageSize: Math.max(size, 64) });
  try {
    // One lap first, so the publisher's page faults on fresh shared memory are not timed (steady state).
    const warm = Math.ceil(opts.capacity / Math.max(size, 4096)) + 1;
    const src0 = new Uint8Array(size);
    for (let i = 0; i < warm; i++) topic.publish(src0);
    const children = Array.from({ length: subs }, () =>
      peer(['sub', name, String(warm + count), opts.copy ? '1' : '0', opts.poll ? 'poll' : 'await']),
    );
    await Promise.all(children.map((c) => line(c, /^ready$/)));
    const src = new Uint8Array(size).fill(0x5a);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      if (opts.loan) {
        const l = topic.loan(size);
        l.bytes[0] = i & 0xff; // a producer renders into the ring itself; the channel copies nothing
        l.commit();
      } else {
        topic.publish(src);
      }
    }
    const t1 = process.hrtime.bigint();
    const done = await Promise.all(children.map((c) => line(c, /^done /)));
    const t2 = process.hrtime.bigint();
    await Promise.all(children.map((c) => c.done));
    return {
      pubSeconds: Number(t1 - t0) / 1e9,
      allSeconds: Number(t2 - t0) / 1e9,
      read: done.map((l) => Number(l.split(' ')[1])),
      lost: done.map((l) => Number(l.split(' ')[2])),
    };
  } finally {
    topic.close();
    Topic.unlink(name);
  }
}

const sum = (xs: number[]): number => xs.reduce((x, y) => x + y, 0);

/**
 * Mailbox write or read latency in µs: `batches` timed batches of `perBatch` operations each (per-operation time
 * = batch time / perBatch, so a 64 B operation is not dwarfed by the clock read), as Stats over the batches.
 */
function mailboxLatency(size: number, op: 'write' | 'read', batches: number, perBatch: number): Stats {
  const name = benchName('mb');
  const mb = createMailbox(name, size);
  try {
    const value = new Uint8Array(size).fill(0x5a);
    const into = new Uint8Array(size); // a reader of big values reuses one buffer (read({ into }))
    mb.write(value);
    const samples = new Float64Array(batches);
    for (let b = -Math.max(3, batches / 10); b < batches; b++) {
      const t0 = process.hrtime.bigint();
      if (op === 'write') for (let i = 0; i < perBatch; i++) mb.write(value);
      else for (let i = 0; i < perBatch; i++) mb.read({ into });
      if (b >= 0) samples[b] = Number(process.hrtime.bigint() - t0) / 1000 / perBatch;
    }
    return stats(samples);
  } finally {
    mb.close();
    Mailbox.unlink(name);
  }
}

/**
 * Round trips of cross-process changed() wakes: this process writes mailbox A, the child (parked in
 * `await A.changed()`) wakes and writes B, this process (parked in `await B.changed()`) wakes. Two parked wakes
 * per round trip, as in the C futex ping-pong.
 */
async function mailboxWake(placement: Placement, iterations: number): Promise<Stats> {
  const cpus = placementCpus(placement);
  const there = benchName('mba');
  const back = benchName('mbb');
  const a = createMailbox(there, 64);
  const b = createMailbox(back, 64);
  try {
    const echo = peer(['mbecho', there, back], cpus?.[1]);
    await line(echo, /^ready$/);
    const value = new Uint8Array(64);
    const samples = sampleArray(iterations);
    const rtt = await withPinnedSelf(cpus?.[0], async () => {
      let seen = b.version;
      for (let i = -Math.max(100, iterations / 10); i < iterations; i++) {
        const t0 = process.hrtime.bigint();
        a.write(value);
        seen = await b.changed({ since: seen, timeout: 60_000 });
        if (i >= 0) samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
      }
      return stats(samples);
    });
    a.write(new Uint8Array(1));
    await echo.done;
    return rtt;
  } finally {
    a.close();
    b.close();
    Mailbox.unlink(there);
    Mailbox.unlink(back);
  }
}

/** Columns of every latency row: its percentiles, the tail as multiples of its own p50, then the baselines. */
const RTT_COLUMNS = ['path', 'cores', 'p50', 'p99', 'p99.9', 'p99 / p50', 'p99.9 / p50', 'one-way p50', 'p50 vs C spin', 'IPC p50 / p50'];

function rttRow(path: string, placement: string, s: Stats, ipcP50: number, cSpinP50: number, oneway?: number): Row {
  return {
    path,
    cores: placement,
    p50: s.p50,
    p99: s.p99,
    'p99.9': s.p999,
    'p99 / p50': `${(s.p99 / s.p50).toFixed(1)}x`,
    'p99.9 / p50': `${(s.p999 / s.p50).toFixed(1)}x`,
    'one-way p50': oneway ?? '',
    'p50 vs C spin': `${(s.p50 / cSpinP50).toFixed(1)}x`,
    'IPC p50 / p50': `${(ipcP50 / s.p50).toFixed(0)}x`,
  };
}

/** Turns of the interleaved two-core round-trip rows (issue 12 compares in 3 alternating turns). */
const ROUNDS = 3;

export default async function topicSuite(ctx: BenchContext): Promise<Table[]> {
  const watchdog = setTimeout(() => {
    peers.killAll();
  }, SUITE_TIMEOUT_MS);
  let iox: Iceoryx | string | undefined;
  try {
    const k = ctx.quick ? 10 : 1;
    const small = SIZES.small;
    // ---- 64 B round trips
    iox = await iceoryx(ctx.log);
    if (typeof iox === 'string') ctx.log(iox);
    const ioxRt = typeof iox === 'string' ? undefined : iox;
    const oneways: Record<string, number[]> = { poll: [], await: [], single: [] };
    const turn = (what: string, fn: () => Promise<ArrayLike<number>>) => (round: number): Promise<ArrayLike<number>> => {
      ctx.log(`64 B round trip, two cores, turn ${round + 1}/${ROUNDS}: ${what}`);
      return fn();
    };
    const topicTurn = (key: string, mode: EchoMode, n: number, frame = 0, single = false) => async (): Promise<Float64Array> => {
      const r = await pingPong(mode, 'cores', n, frame, single);
      oneways[key] = [...(oneways[key] ?? []), r.oneway];
      return r.samples;
    };
    const n2 = 50_000 / k / ROUNDS;
    const measurers: Record<string, (round: number) => Promise<ArrayLike<number>>> = {
      cSpin: turn('C spin (pure)', () => cPingPongSamples({ mode: 'spin', size: small, iterations: n2, placement: 'cores' })),
      poll: turn('Topic busy-poll', topicTurn('poll', 'poll', n2)),
      await: turn('Topic await read()', topicTurn('await', 'await', n2)),
    };
    if (HAS_SINGLE_PUBLISHER) measurers['single'] = turn('Topic busy-poll, single publisher', topicTurn('single', 'poll', n2, 0, true));
    if (ioxRt) {
      measurers['iox'] = turn(`${ioxRt.version} busy-poll`, () => ioxRt.pingPongSamples({ mode: 'copy', size: small, iterations: n2, placement: 'cores' }));
      measurers['ioxZc'] = turn(`${ioxRt.version} zero-copy 2.7 MB`, () =>
        ioxRt.pingPongSamples({ mode: 'zc', size: SIZES.frame, iterations: 20_000 / k / ROUNDS, placement: 'cores' }),
      );
      measurers['zcFrame'] = turn('Topic zero-copy 2.7 MB', topicTurn('zcFrame', 'poll', 20_000 / k / ROUNDS, SIZES.frame));
    }
    const r2 = await interleave(ROUNDS, measurers);
    const cSpin = r2['cSpin']!;
    figureStats('cspin', cSpin);
    figureStats('topic.poll', r2['poll']!);
    figureStats('topic.await', r2['await']!);
    if (r2['iox']) figureStats('iox', r2['iox']);
    ctx.log('baselines: C spin (one core), C futex, child_process IPC, unix socket (64 B)');
    const cSpin1 = await cPingPong({ mode: 'spin-yield', size: small, iterations: 5_000 / k, placement: 'same-core' });
    const cFutex = await cPingPong({ mode: 'futex', size: small, iterations: 5_000 / k, placement: 'cores' });
    const cFutex1 = await cPingPong({ mode: 'futex', size: small, iterations: 5_000 / k, placement: 'same-core' });
    const ipcAdv = await childProcessIpc({ serialization: 'advanced', size: small, iterations: 5_000 / k, placement: 'cores' });
    const ipcJson = await childProcessIpc({ serialization: 'json', size: small, iterations: 5_000 / k, placement: 'cores' });
    const sock = await unixSocket({ size: small, iterations: 5_000 / k, placement: 'cores' });
    ctx.log('Topic 64 B round trips: parked, one core');
    const park = await pingPongStats('park', 'cores', 5_000 / k);
    const await1 = await pingPongStats('await', 'same-core', 2_000 / k);
    const park1 = await pingPongStats('park', 'same-core', 5_000 / k);
    ctx.log('Topic zero-copy frame round trips (loan + copy: false)');
    const zcFrame = r2['zcFrame'] ? { rtt: r2['zcFrame'], oneway: median(oneways['zcFrame']!) } : await pingPongStats('poll', 'cores', 20_000 / k, SIZES.frame);
    const zcLarge = await pingPongStats('poll', 'cores', 20_000 / k, SIZES.large);
    const zcFrameAwait = await pingPongStats('await', 'cores', 20_000 / k, SIZES.frame);

    // ---- 64 B throughput
    ctx.log('Topic 64 B throughput, 1/2/4 subscribers');
    const tpCount = 500_000 / k;
    const tpRows: Row[] = [];
    for (const subs of [1, 2, 4]) {
      const d = await deliver(small, tpCount, subs, { loan: false, copy: true, capacity: 16 << 20 });
      tpRows.push({
        subscribers: subs,
        messages: tpCount,
        'publish msg/s': tpCount / d.pubSeconds,
        'ns/publish': (d.pubSeconds * 1e9) / tpCount,
        'delivered msg/s per subscriber': sum(d.read) / subs / d.allSeconds,
        'lost %': `${((100 * sum(d.lost)) / (tpCount * subs)).toFixed(1)}`,
      });
    }

    // ---- frames
    ctx.log('baselines: C memcpy, child_process IPC (2.7 MB, 6 MiB)');
    const [memFrame, memLarge] = await cMemcpy([SIZES.frame, SIZES.large]);
    const ipcFrame = await childProcessIpc({ serialization: 'advanced', size: SIZES.frame, iterations: 60 / (ctx.quick ? 3 : 1), placement: 'cores' });
    const ipcLarge = await childProcessIpc({ serialization: 'advanced', size: SIZES.large, iterations: 40 / (ctx.quick ? 2 : 1), placement: 'cores' });
    const frameRows: Row[] = [];
    for (const [label, size, ipc, mem] of [
      ['2.7 MB', SIZES.frame, ipcFrame, memFrame!],
      ['6 MiB', SIZES.large, ipcLarge, memLarge!],
    ] as const) {
      // One IPC pair moves one frame each way per round trip: frames/s of one receiver = 2 / RTT.
      const ipcFps = 2e6 / ipc.p50;
      const frames = Math.max(20, Math.round((size === SIZES.frame ? 400 : 200) / k));
      const capacity = 64 << 20;
      ctx.log(`Topic ${label} frames`);
      for (const [how, subs, copy] of [
        ['publish', 1, false],
        ['publish', 3, false],
        ['loan', 1, false],
        ['loan', 3, false],
        ['publish', 1, true],
      ] as const) {
        const d = await deliver(size, frames, subs, { loan: how === 'loan', copy, capacity });
        const perSub = sum(d.read) / subs / d.allSeconds;
        frameRows.push({
          frame: label,
          publisher: how,
          subscribers: subs,
          readers: copy ? 'copy' : 'copy: false',
          'publisher frames/s': frames / d.pubSeconds,
          'µs/frame (publisher)': (d.pubSeconds * 1e6) / frames,
          'frames/s per subscriber': perSub,
          lost: sum(d.lost),
          'per subscriber vs IPC': `${(perSub / ipcFps).toFixed(1)}x`,
        });
      }
      frameRows.push({
        frame: label,
        publisher: `C memcpy, hot (${mem.hot.toFixed(1)} GB/s; DRAM ${mem.dram.toFixed(1)} GB/s)`,
        subscribers: '',
        readers: '',
        'publisher frames/s': (mem.hot * 1e9) / size,
        'µs/frame (publisher)': (size / (mem.hot * 1e9)) * 1e6,
        'frames/s per subscriber': '',
        lost: '',
        'per subscriber vs IPC': '',
      });
      frameRows.push({
        frame: label,
        publisher: "child_process IPC 'advanced' (one pair, RTT / 2 per frame)",
        subscribers: 1,
        readers: '',
        'publisher frames/s': ipcFps,
        'µs/frame (publisher)': ipc.p50 / 2,
        'frames/s per subscriber': ipcFps,
        lost: '',
        'per subscriber vs IPC': '1x',
      });
    }

    // ---- Mailbox
    ctx.log('Mailbox: write/read latency (64 B, 1 MiB), changed() wake round trip');
    const MiB = 1 << 20;
    const [memMiB] = await cMemcpy([MiB]);
    const mbRows: Row[] = [];
    for (const [label, size, batches, perBatch] of [
      ['64 B', small, 200 / k, 1000],
      ['1 MiB', MiB, 300 / k, 1],
    ] as const) {
      for (const op of ['write', 'read'] as const) {
        const s = mailboxLatency(size, op, Math.max(20, Math.round(batches)), perBatch);
        mbRows.push({ path: `Mailbox ${op}()`, value: label, cores: '1', p50: s.p50, p99: s.p99, 'p99.9': s.p999, 'GB/s at p50': size / (s.p50 * 1e3), 'vs C futex p50': '' });
      }
    }
    mbRows.push({ path: 'C memcpy (hot, best of 5 batches)', value: '1 MiB', cores: '1', p50: MiB / (memMiB!.hot * 1e3), p99: '', 'p99.9': '', 'GB/s at p50': memMiB!.hot, 'vs C futex p50': '' });
    const mbWake = await mailboxWake('cores', 3_000 / k);
    const mbWake1 = await mailboxWake('same-core', 3_000 / k);
    const wakeRow = (path: string, cores: '1' | '2', s: Stats): Row => ({
      path,
      value: '64 B',
      cores,
      p50: s.p50,
      p99: s.p99,
      'p99.9': s.p999,
      'GB/s at p50': '',
      'vs C futex p50': `${(s.p50 / (cores === '2' ? cFutex.p50 : cFutex1.p50)).toFixed(2)}x`,
    });

    const ipc = ipcAdv.p50;
    const c = cSpin.p50;
    const rttRows: Row[] = [
      rttRow('Topic busy-poll', '2', r2['poll']!, ipc, c, median(oneways['poll']!)),
      ...(r2['single'] ? [rttRow('Topic busy-poll, single publisher', '2', r2['single'], ipc, c, median(oneways['single']!))] : []),
      rttRow('Topic await read() (default)', '2', r2['await']!, ipc, c, median(oneways['await']!)),
      rttRow('Topic parked (spin 0)', '2', park.rtt, ipc, c, park.oneway),
      rttRow('Topic await read() (default)', '1', await1.rtt, ipc, c, await1.oneway),
      rttRow('Topic parked (spin 0)', '1', park1.rtt, ipc, c, park1.oneway),
      rttRow('Topic zero-copy 2.7 MB frame, busy-poll', '2', zcFrame.rtt, ipc, c, zcFrame.oneway),
      rttRow('Topic zero-copy 6 MiB frame, busy-poll', '2', zcLarge.rtt, ipc, c, zcLarge.oneway),
      rttRow('Topic zero-copy 2.7 MB frame, await read()', '2', zcFrameAwait.rtt, ipc, c, zcFrameAwait.oneway),
      ...(ioxRt
        ? [
            rttRow(`${ioxRt.version} (C++) busy-poll, 64 B copied`, '2', r2['iox']!, ipc, c),
            rttRow(`${ioxRt.version} (C++) zero-copy 2.7 MB frame, busy-poll`, '2', r2['ioxZc']!, ipc, c),
          ]
        : []),
      rttRow('C spin ping-pong (pure pause loop)', '2', cSpin, ipc, c),
      rttRow('C spin ping-pong (sched_yield every 64 pauses)', '1', cSpin1, ipc, c),
      rttRow('C futex ping-pong', '2', cFutex, ipc, c),
      rttRow('C futex ping-pong', '1', cFutex1, ipc, c),
      rttRow("child_process IPC ('advanced')", '2', ipcAdv, ipc, c),
      rttRow("child_process IPC ('json')", '2', ipcJson, ipc, c),
      rttRow('Unix domain socket', '2', sock, ipc, c),
    ];
    const ioxNote = ioxRt
      ? `${ioxRt.version} rows: bench/c/iox-pingpong.cpp (C++, untyped publisher/subscriber, both sides busy-poll take(); 64 B: loan, copy 64 B in, publish / take, read in place, release, i.e. 2 copies a round trip like the Topic 64 B rows; frame: loan, write the 8-byte stamp, publish / take, read the stamp, release), RouDi started and stopped by the bench. `
      : `${iox} `;
    return [
      {
        title: 'Topic round trip, 64 B (µs)',
        note:
          'This process publishes on topic A and waits for the echo on topic B from a child (bench/children/topic-peer.ts). ' +
          '"2" = this process on cpu 0, the child on cpu 1; "1" = both on cpu 0. busy-poll: tryRead loops; await: read() ' +
          '(re-reads the commit word for 50 µs, the default, then parks on the futex); parked: read() with spin 0, so every message ' +
          "wakes a sleeping process. one-way: the child's receive time minus the hrtime stamp in the message (median of the turns' p50s for interleaved rows). " +
          `The two-core busy-poll and await rows and their C spin floor${ioxRt ? ', the iceoryx rows and the Topic 2.7 MB busy-poll row (their zero-copy counterpart)' : ''} are measured in ${ROUNDS} interleaved turns (fresh processes each turn, samples merged); the others once, in the same run. ` +
          'C spin on two cores is a pure pause loop (never yields: the floor); on one core it yields every 64 pauses (the only way to hand over there). ' +
          'Busy-poll on one core is not measured: two spinning Node processes on one core hand over only at the scheduler tick ' +
          '(Node cannot sched_yield). Zero-copy frame rows: both sides loan the frame, write only an 8-byte stamp and commit; ' +
          'readers use copy: false (cost independent of size: compare with the 64 B rows). IPC p50 / p50 compares with 64 B IPC. ' +
          ioxNote +
          'p99 / p50 and p99.9 / p50: the tail as a multiple of the row\'s own median (issue 12 targets: at most 2x and 15x). Baselines from bench/baselines.ts in the same run.',
        columns: RTT_COLUMNS,
        rows: rttRows,
      },
      {
        title: 'Topic throughput, 64 B, 1 publisher',
        note:
          'This process publishes as fast as it can (16 MiB ring); subscriber children read with await read() and copy each ' +
          'message. Unpinned: with 4 subscribers, 5 processes share the 2 cores. Subscribers slower than the publisher are ' +
          'lapped (the ring overwrites; they skip ahead): "lost %" is what they missed. Delivered: messages one subscriber got (average of the subscribers) per second.',
        columns: ['subscribers', 'messages', 'publish msg/s', 'ns/publish', 'delivered msg/s per subscriber', 'lost %'],
        rows: tpRows,
      },
      {
        title: 'Topic frames: 1280x720x3 (2.7 MB) and 6 MiB',
        note:
          'This process publishes frames as fast as it can into a 64 MiB ring (after one untimed lap, so first-touch page faults are not counted): "publish" copies a private frame in (native ' +
          'memcpy); "loan" writes one byte into the loaned space and commits (a producer that renders in place, so no GB/s figure: nothing is copied). Subscriber ' +
          'children read with await read(); "copy: false" readers touch the first and last byte and check valid(), "copy" ' +
          'readers copy the frame out into one reused buffer (read({ into })). frames/s per subscriber = frames one subscriber got intact (average over the subscribers) / time until the last one finished. ' +
          'per subscriber vs IPC: that rate over the frames/s one child_process IPC receiver gets (one pair, 2 / RTT for the same size), i.e. one subscriber against one IPC pair.',
        columns: [
          'frame',
          'publisher',
          'subscribers',
          'readers',
          'publisher frames/s',
          'µs/frame (publisher)',
          'frames/s per subscriber',
          'lost',
          'per subscriber vs IPC',
        ],
        rows: frameRows,
      },
      {
        title: 'Mailbox: write and read latency, changed() wake (µs)',
        note:
          'write/read: one process, the time of one operation (64 B: batches of 1000 operations, per-operation time of each batch; ' +
          'reads copy into one reused buffer, read({ into }); ' +
          '1 MiB: each operation timed). A read returns a private copy of the value (seqlock, no lock). ' +
          'changed() wake round trip: this process writes mailbox A and parks in await B.changed(); a child parked in ' +
          'await A.changed() wakes and writes B (64 B values): two cross-process futex wakes per round trip, as in the C futex ' +
          'ping-pong ("2" = one process per core, "1" = both on cpu 0). Baselines (C memcpy, C futex) from this run.',
        columns: ['path', 'value', 'cores', 'p50', 'p99', 'p99.9', 'GB/s at p50', 'vs C futex p50'],
        rows: [
          ...mbRows,
          wakeRow('Mailbox changed() wake round trip', '2', mbWake),
          wakeRow('Mailbox changed() wake round trip', '1', mbWake1),
          wakeRow('C futex ping-pong', '2', cFutex),
          wakeRow('C futex ping-pong', '1', cFutex1),
        ],
      },
    ];
  } finally {
    clearTimeout(watchdog);
    peers.killAll();
    if (iox !== undefined && typeof iox !== 'string') await iox.stop();
  }
}
