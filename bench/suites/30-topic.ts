/**
 * Topic benchmark (issue 6), beside the baselines a user would compare it with, all measured in this run:
 *  1. 64 B round trip between two processes (busy-poll, default await = spin then park, parked with spin 0), on
 *     two cores and on one core, plus one-way latency; C spin/futex ping-pong, child_process IPC, Unix socket.
 *  2. 64 B throughput: 1 publisher, 1/2/4 subscriber processes.
 *  3. 1280x720x3 (2.7 MB) and 6 MiB frames to 1 and 3 subscribers, with publish (one copy in) and loan (none),
 *     readers zero-copy (copy: false) or copying; C memcpy and child_process IPC for the same sizes.
 *  4. Mailbox: write and read latency (64 B, 1 MiB values) beside C memcpy, and the cross-process changed() wake
 *     round trip beside the C futex ping-pong.
 */
import { join } from 'node:path';
import { Mailbox, Topic } from '../../src/index.js';
import {
  childProcessIpc,
  cMemcpy,
  cPingPong,
  PeerSet,
  placementCpus,
  SIZES,
  unixSocket,
  withPinnedSelf,
  type Placement,
} from '../baselines.js';
import { benchName, ROOT, stats, type BenchContext, type LineChild, type Row, type Stats, type Table } from '../lib.js';

const PEER = join(ROOT, 'dist', 'bench', 'children', 'topic-peer.js');
const SUITE_TIMEOUT_MS = 10 * 60_000;
const peers = new PeerSet(PEER);
const peer = (args: string[], cpu?: number): LineChild => peers.spawn(args, cpu);
const line = (child: LineChild, re: RegExp): Promise<string> => peers.line(child, re);

type EchoMode = 'poll' | 'await' | 'park';

interface PingPong {
  rtt: Stats;
  oneway: number;
}

/** Round trips through two topics and an echoing child; one-way latency measured by the child (hrtime stamps). */
async function pingPong(mode: EchoMode, placement: Placement, iterations: number, frame = 0): Promise<PingPong> {
  const cpus = placementCpus(placement);
  const there = benchName('ping');
  const back = benchName('pong');
  const size = frame || SIZES.small;
  const layout = { capacity: Math.max(1 << 20, 4 * (size + 64)), maxMessageSize: Math.max(4096, size) };
  const ping = Topic.create(there, layout);
  const pong = Topic.create(back, layout);
  const sub = Topic.subscribe(back, { spin: mode === 'park' ? 0 : 50 });
  try {
    const echo = peer(['echo', there, back, mode, frame ? 'zc' : 'copy'], cpus?.[1]);
    await line(echo, /^ready$/);
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    const warmup = Math.max(100, Math.floor(iterations / 10));
    const samples = new Float64Array(iterations);
    const rtt = await withPinnedSelf(cpus?.[0], async () => {
      for (let i = -warmup; i < iterations; i++) {
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
        let m = sub.tryRead({ copy: false });
        if (m === null) {
          if (mode === 'poll') while ((m = sub.tryRead({ copy: false })) === null);
          else m = await sub.read({ timeout: 60_000, copy: false });
        }
        if (i >= 0) samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
      }
      return stats(samples);
    });
    ping.publish(new Uint8Array(1));
    const ow = (await line(echo, /^oneway /)).split(' ').map(Number);
    await echo.done;
    return { rtt, oneway: ow[1]! };
  } finally {
    sub.close();
    ping.close();
    pong.close();
    Topic.unlink(there);
    Topic.unlink(back);
  }
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
  const topic = Topic.create(name, { capacity: opts.capacity, maxMessageSize: Math.max(size, 64) });
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
  const mb = Mailbox.create(name, { maxMessageSize: size });
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
  const a = Mailbox.create(there, { maxMessageSize: 64 });
  const b = Mailbox.create(back, { maxMessageSize: 64 });
  try {
    const echo = peer(['mbecho', there, back], cpus?.[1]);
    await line(echo, /^ready$/);
    const value = new Uint8Array(64);
    const samples = new Float64Array(iterations);
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

function rttRow(path: string, placement: string, s: Stats, ipcP50: number, cSpinP50: number, oneway?: number): Row {
  return {
    path,
    cores: placement,
    p50: s.p50,
    p99: s.p99,
    'p99.9': s.p999,
    'one-way p50': oneway ?? '',
    'vs C spin p50': `${(s.p50 / cSpinP50).toFixed(1)}x`,
    'IPC p50 / p50': `${(ipcP50 / s.p50).toFixed(0)}x`,
  };
}

export default async function topicSuite(ctx: BenchContext): Promise<Table[]> {
  const watchdog = setTimeout(() => {
    peers.killAll();
  }, SUITE_TIMEOUT_MS);
  try {
    const k = ctx.quick ? 10 : 1;
    const small = SIZES.small;
    // ---- 64 B round trips
    ctx.log('baselines: C spin/futex ping-pong, child_process IPC, unix socket (64 B)');
    const cSpin = await cPingPong({ mode: 'spin', size: small, iterations: 50_000 / k, placement: 'cores' });
    const cSpin1 = await cPingPong({ mode: 'spin', size: small, iterations: 5_000 / k, placement: 'same-core' });
    const cFutex = await cPingPong({ mode: 'futex', size: small, iterations: 5_000 / k, placement: 'cores' });
    const cFutex1 = await cPingPong({ mode: 'futex', size: small, iterations: 5_000 / k, placement: 'same-core' });
    const ipcAdv = await childProcessIpc({ serialization: 'advanced', size: small, iterations: 5_000 / k, placement: 'cores' });
    const ipcJson = await childProcessIpc({ serialization: 'json', size: small, iterations: 5_000 / k, placement: 'cores' });
    const sock = await unixSocket({ size: small, iterations: 5_000 / k, placement: 'cores' });
    ctx.log('Topic 64 B round trips');
    const poll = await pingPong('poll', 'cores', 50_000 / k);
    const awaitCores = await pingPong('await', 'cores', 50_000 / k);
    const park = await pingPong('park', 'cores', 5_000 / k);
    const await1 = await pingPong('await', 'same-core', 2_000 / k);
    const park1 = await pingPong('park', 'same-core', 5_000 / k);
    ctx.log('Topic zero-copy frame round trips (loan + copy: false)');
    const zcFrame = await pingPong('poll', 'cores', 20_000 / k, SIZES.frame);
    const zcLarge = await pingPong('poll', 'cores', 20_000 / k, SIZES.large);
    const zcFrameAwait = await pingPong('await', 'cores', 20_000 / k, SIZES.frame);

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
        'delivered msg/s (all subscribers)': sum(d.read) / d.allSeconds,
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
      const ipcGBs = (2 * size) / (ipc.p50 * 1e3); // a round trip moves size bytes each way
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
        const deliveredGBs = (sum(d.read) * size) / d.allSeconds / 1e9;
        frameRows.push({
          frame: label,
          publisher: how,
          subscribers: subs,
          readers: copy ? 'copy' : 'copy: false',
          'publisher frames/s': frames / d.pubSeconds,
          'publisher GB/s': (frames * size) / d.pubSeconds / 1e9,
          'µs/frame (publisher)': (d.pubSeconds * 1e6) / frames,
          'delivered GB/s (all subs)': deliveredGBs,
          lost: sum(d.lost),
          'vs IPC': `${(deliveredGBs / ipcGBs).toFixed(0)}x`,
        });
      }
      frameRows.push({
        frame: label,
        publisher: 'C memcpy (hot / DRAM)',
        subscribers: '',
        readers: '',
        'publisher frames/s': (mem.hot * 1e9) / size,
        'publisher GB/s': `${mem.hot.toFixed(1)} / ${mem.dram.toFixed(1)}`,
        'µs/frame (publisher)': (size / (mem.hot * 1e9)) * 1e6,
        'delivered GB/s (all subs)': '',
        lost: '',
        'vs IPC': '',
      });
      frameRows.push({
        frame: label,
        publisher: "child_process IPC 'advanced' (RTT/2)",
        subscribers: 1,
        readers: '',
        'publisher frames/s': 2e6 / ipc.p50,
        'publisher GB/s': ipcGBs,
        'µs/frame (publisher)': ipc.p50 / 2,
        'delivered GB/s (all subs)': ipcGBs,
        lost: '',
        'vs IPC': '1x',
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
    mbRows.push({ path: 'C memcpy (hot)', value: '1 MiB', cores: '1', p50: MiB / (memMiB!.hot * 1e3), p99: '', 'p99.9': '', 'GB/s at p50': memMiB!.hot, 'vs C futex p50': '' });
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

    return [
      {
        title: 'Topic round trip, 64 B (µs)',
        note:
          'This process publishes on topic A and waits for the echo on topic B from a child (bench/children/topic-peer.ts). ' +
          '"2" = this process on cpu 0, the child on cpu 1; "1" = both on cpu 0. busy-poll: tryRead loops; await: read() ' +
          '(re-reads the commit word for 50 µs, the default, then parks on the futex); parked: read() with spin 0, so every message ' +
          'wakes a sleeping process. one-way: the child\'s receive time minus the hrtime stamp in the message. ' +
          'Busy-poll on one core is not measured: two spinning Node processes on one core hand over only at the scheduler tick ' +
          '(Node cannot sched_yield). Zero-copy frame rows: both sides loan the frame, write only an 8-byte stamp and commit; ' +
          'readers use copy: false (cost independent of size: compare with the 64 B rows). IPC p50 / p50 compares with 64 B IPC. ' +
          'Baselines from bench/baselines.ts in the same run.',
        columns: ['path', 'cores', 'p50', 'p99', 'p99.9', 'one-way p50', 'vs C spin p50', 'IPC p50 / p50'],
        rows: [
          rttRow('Topic busy-poll', '2', poll.rtt, ipcAdv.p50, cSpin.p50, poll.oneway),
          rttRow('Topic await read() (default)', '2', awaitCores.rtt, ipcAdv.p50, cSpin.p50, awaitCores.oneway),
          rttRow('Topic parked (spin 0)', '2', park.rtt, ipcAdv.p50, cSpin.p50, park.oneway),
          rttRow('Topic await read() (default)', '1', await1.rtt, ipcAdv.p50, cSpin.p50, await1.oneway),
          rttRow('Topic parked (spin 0)', '1', park1.rtt, ipcAdv.p50, cSpin.p50, park1.oneway),
          rttRow('Topic zero-copy 2.7 MB frame, busy-poll', '2', zcFrame.rtt, ipcAdv.p50, cSpin.p50, zcFrame.oneway),
          rttRow('Topic zero-copy 6 MiB frame, busy-poll', '2', zcLarge.rtt, ipcAdv.p50, cSpin.p50, zcLarge.oneway),
          rttRow('Topic zero-copy 2.7 MB frame, await read()', '2', zcFrameAwait.rtt, ipcAdv.p50, cSpin.p50, zcFrameAwait.oneway),
          rttRow('C spin ping-pong', '2', cSpin, ipcAdv.p50, cSpin.p50),
          rttRow('C spin ping-pong (yields)', '1', cSpin1, ipcAdv.p50, cSpin.p50),
          rttRow('C futex ping-pong', '2', cFutex, ipcAdv.p50, cSpin.p50),
          rttRow('C futex ping-pong', '1', cFutex1, ipcAdv.p50, cSpin.p50),
          rttRow("child_process IPC ('advanced')", '2', ipcAdv, ipcAdv.p50, cSpin.p50),
          rttRow("child_process IPC ('json')", '2', ipcJson, ipcAdv.p50, cSpin.p50),
          rttRow('Unix domain socket', '2', sock, ipcAdv.p50, cSpin.p50),
        ],
      },
      {
        title: 'Topic throughput, 64 B, 1 publisher',
        note:
          'This process publishes as fast as it can (16 MiB ring); subscriber children read with await read() and copy each ' +
          'message. Unpinned: with 4 subscribers, 5 processes share the 2 cores. Subscribers slower than the publisher are ' +
          'lapped (the ring overwrites; they skip ahead): "lost %" is what they missed.',
        columns: ['subscribers', 'messages', 'publish msg/s', 'ns/publish', 'delivered msg/s (all subscribers)', 'lost %'],
        rows: tpRows,
      },
      {
        title: 'Topic frames: 1280x720x3 (2.7 MB) and 6 MiB',
        note:
          'This process publishes frames as fast as it can into a 64 MiB ring (after one untimed lap, so first-touch page faults are not counted): "publish" copies a private frame in (native ' +
          'memcpy); "loan" writes one byte into the loaned space and commits (a producer that renders in place). Subscriber ' +
          'children read with await read(); "copy: false" readers touch the first and last byte and check valid(), "copy" ' +
          'readers copy the frame out into one reused buffer (read({ into })). delivered = frames all subscribers got intact / time until the last one finished. ' +
          'vs IPC: delivered GB/s over child_process IPC (advanced) GB/s for the same size (2 x size / RTT).',
        columns: [
          'frame',
          'publisher',
          'subscribers',
          'readers',
          'publisher frames/s',
          'publisher GB/s',
          'µs/frame (publisher)',
          'delivered GB/s (all subs)',
          'lost',
          'vs IPC',
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
  }
}
