/**
 * Bridge benchmark (issue 16): shmbus channels across the NATS bridge beside plain NATS between two Node
 * processes, same nats-server (Debian's, started here; skipped without it), same run:
 *  1. 64 B round trip: plain NATS (publish -> an echoing process -> back) vs a local Topic -> bridge -> NATS ->
 *     bridge -> a Topic on the "other host" -> an echoing process -> back the same way (two bridge crossings each
 *     way). Both hosts are this machine (the bridges use different local names for the same subjects).
 *  2. Where the round trip's time goes: one way across one bridge, timed on one clock (this process both ends):
 *     a local Topic -> bridge (out) -> NATS subscriber here, and a NATS publish here -> bridge (in) -> local Topic
 *     read here, beside a NATS publish -> subscribe here (the server hop alone).
 *  3. 1280x720x3 (2.7 MB) frames: the same frames sent at the same rates on both paths (60/s, then 150/s),
 *     counted end to end by a receiving process: plain NATS vs Topic -> bridge -> NATS -> bridge
 *     -> Topic. Both are lossy; the delivered rate and the losses show.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'nats';
import { H, makeHeaders } from '../../src/bridge/wire.js';
import { Topic } from '../../src/index.js';
import { haveNatsServer, startNatsServer, type NatsServer } from '../../test/bridge/hosts.js';
import { benchName, ROOT, spawnLines, stats, type BenchContext, type LineChild, type Row, type Table } from '../lib.js';

const PEER = join(ROOT, 'dist', 'bench', 'children', 'bridge-peer.js');
const CLI = join(ROOT, 'dist', 'cli', 'shmbus.js');
const FRAME = 1280 * 720 * 3;
const TIMEOUT_MS = 60_000;

function within<T>(p: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(t),
  );
}

function peer(args: string[]): LineChild {
  return spawnLines(process.execPath, [PEER, ...args]);
}

/** A `shmbus bridge` process; resolves once it is ready. */
async function bridge(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'bridge', '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await within(
    new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('"event":"ready"')) resolve();
      });
      child.once('exit', (c) => reject(new Error(`bridge exited (${c})`)));
    }),
    'bridge start',
  );
  return child;
}

async function stop(c: ChildProcess | LineChild | undefined): Promise<void> {
  const child = c && 'child' in c ? c.child : c;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('close', r));
  child.kill('SIGTERM');
  await done;
}

function row(path: string, samples: number[], lost: number): Row {
  const s = stats(samples);
  return { path, 'p50 µs': s.p50, 'p99 µs': s.p99, 'p99.9 µs': s.p999, lost, n: s.n };
}

async function natsRoundTrip(server: NatsServer, n: number): Promise<Row> {
  const echo = peer(['nats-echo', server.url, 'bench.ping', 'bench.pong']);
  const nc = await connect({ servers: server.url });
  try {
    await within(echo.next(/^ready$/), 'nats-echo');
    const sub = nc.subscribe('bench.pong');
    const it = sub[Symbol.asyncIterator]();
    const msg = new Uint8Array(64);
    const samples: number[] = [];
    for (let i = 0; i < n + n / 10; i++) {
      const t0 = performance.now();
      nc.publish('bench.ping', msg);
      await it.next();
      if (i >= n / 10) samples.push((performance.now() - t0) * 1000);
    }
    return row('plain NATS: Node -> nats-server -> Node echo -> back', samples, 0);
  } finally {
    await nc.close();
    await stop(echo);
  }
}

async function bridgeRoundTrip(server: NatsServer, n: number, id: string): Promise<Row> {
  const a = (x: string): string => `bench-a-${x}-${id}`;
  const b = (x: string): string => `bench-b-${x}-${id}`;
  const common = ['--nats', server.url, '--prefix', `bench${id}`];
  const pub = Topic.create(a('ping'), { capacity: 1 << 20, maxMessageSize: 4096 });
  const bridges: ChildProcess[] = [];
  let echo: LineChild | undefined;
  let sub: ReturnType<typeof Topic.subscribe> | undefined;
  try {
    bridges.push(await bridge([...common, '--host', `a${id}`, '--topic', `${a('ping')}=ping:out`, '--topic', `${a('pong')}=pong:in`]));
    bridges.push(await bridge([...common, '--host', `b${id}`, '--topic', `${b('ping')}=ping:in`, '--topic', `${b('pong')}=pong:out`]));
    echo = peer(['topic-echo', b('ping'), b('pong')]);
    sub = Topic.subscribe(a('pong'), { timeout: TIMEOUT_MS, spin: 50 });
    const msg = new Uint8Array(64);
    // Until the first echo comes back: the topics on the far side are created by the first messages.
    for (let i = 0; ; i++) {
      pub.publish(msg);
      if ((await sub.read({ timeout: 200 }).catch(() => null)) !== null) break;
      if (i > 300) throw new Error('bridge round trip: no echo');
    }
    const samples: number[] = [];
    let lost = 0;
    for (let i = 0; i < n + n / 10; i++) {
      const t0 = performance.now();
      pub.publish(msg);
      const m = await sub.read({ timeout: 2000 }).catch(() => null);
      if (m === null) {
        lost++;
        continue;
      }
      if (i >= n / 10) samples.push((performance.now() - t0) * 1000);
    }
    return row('shmbus Topic -> bridge -> nats-server -> bridge -> Topic echo -> back', samples, lost);
  } finally {
    sub?.close();
    pub.close();
    await stop(echo);
    for (const c of bridges) await stop(c);
    for (const x of [a('ping'), a('pong'), b('ping'), b('pong')]) {
      try {
        Topic.unlink(x);
      } catch {
        // not created
      }
    }
  }
}

/**
 * One way across one bridge, both ends in this process (one clock): out (local Topic -> bridge -> NATS here), in
 * (NATS here -> bridge -> local Topic here), and the server hop alone (NATS here -> NATS here).
 */
async function crossings(server: NatsServer, n: number, id: string): Promise<Row[]> {
  const common = ['--nats', server.url, '--prefix', `benchc${id}`];
  const outName = `bench-c-out-${id}`;
  const inName = `bench-c-in-${id}`;
  const pub = Topic.create(outName, { capacity: 1 << 20, maxMessageSize: 4096 });
  const bridges: ChildProcess[] = [];
  const nc = await connect({ servers: server.url });
  let sub: ReturnType<typeof Topic.subscribe> | undefined;
  try {
    bridges.push(await bridge([...common, '--host', `ca${id}`, '--topic', `${outName}=x:out`]));
    bridges.push(await bridge([...common, '--host', `cb${id}`, '--topic', `${inName}=y:in`]));
    const msg = new Uint8Array(64);
    const rows: Row[] = [];
    // Out: the bridge's NATS message arrives here.
    const it = nc.subscribe(`benchc${id}.topic.x`)[Symbol.asyncIterator]();
    await nc.flush();
    let samples: number[] = [];
    for (let i = 0; i < n + n / 10; i++) {
      const t0 = performance.now();
      pub.publish(msg);
      await within(it.next(), 'bridge out');
      if (i >= n / 10) samples.push((performance.now() - t0) * 1000);
    }
    rows.push(row('one way: Topic -> bridge (out) -> nats-server -> NATS subscriber', samples, 0));
    // In: a NATS message with the bridge's headers, read from the local topic the far bridge publishes into.
    let num = 1;
    const send = (): void => nc.publish(`benchc${id}.topic.y`, msg, { headers: makeHeaders({ [H.origin]: `z${id}`, [H.run]: 'r', [H.n]: num++, [H.capacity]: 1 << 20, [H.maxMessageSize]: 4096 }) });
    for (let i = 0; !sub; i++) {
      send(); // the first message creates the topic
      await nc.flush();
      try {
        sub = Topic.subscribe(inName, { timeout: 200, from: 'latest' });
      } catch (e) {
        if (i > 100) throw e;
      }
    }
    samples = [];
    let lost = 0;
    for (let i = 0; i < n + n / 10; i++) {
      const t0 = performance.now();
      send();
      // No spin: a synchronous spin here would hold back the client's flush (a microtask) and time itself.
      const m = await sub.read({ timeout: 2000 }).catch(() => null);
      if (m === null) lost++;
      else if (i >= n / 10) samples.push((performance.now() - t0) * 1000);
    }
    rows.push(row('one way: NATS publisher -> nats-server -> bridge (in) -> Topic', samples, lost));
    const it2 = nc.subscribe(`benchc${id}.plain`)[Symbol.asyncIterator]();
    await nc.flush();
    samples = [];
    for (let i = 0; i < n + n / 10; i++) {
      const t0 = performance.now();
      nc.publish(`benchc${id}.plain`, msg);
      await within(it2.next(), 'plain one way');
      if (i >= n / 10) samples.push((performance.now() - t0) * 1000);
    }
    rows.push(row('one way: NATS publisher -> nats-server -> NATS subscriber (no bridge)', samples, 0));
    return rows;
  } finally {
    sub?.close();
    pub.close();
    await nc.close();
    for (const c of bridges) await stop(c);
    for (const x of [outName, inName]) {
      try {
        Topic.unlink(x);
      } catch {
        // not created
      }
    }
  }
}

/**
 * Frames a second both paths are sent at: a camera's rate, and about what plain NATS delivers here (a rate only
 * the shm publisher could keep up would compare different loads).
 */
const RATES = [60, 150];

/** Publishes `n` frames with `send`, paced at `rate` a second (a timer per frame). Returns the rate reached. */
async function sendFrames(n: number, rate: number, send: (i: number) => void | Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate - performance.now();
    if (due > 0) await sleep(due);
    await send(i);
  }
  const ms = performance.now() - t0;
  return ms > 0 ? ((n - 1) * 1000) / ms : 0;
}

/** A frames row: what was sent at what rate, what the receiving process got (count, frames/s first..last). */
function frameRow(path: string, rate: number, sent: number, sentRate: number, line: string): Row {
  const [, count, ms] = line.split(' ');
  const got = Number(count);
  const fps = got > 1 ? ((got - 1) * 1000) / Number(ms) : 0;
  return {
    path,
    'sent at': `${rate}/s`,
    'sent/s': sentRate,
    'delivered/s': fps,
    'MB/s': (fps * FRAME) / 1e6,
    sent,
    delivered: got,
    lost: sent - got,
  };
}

async function natsFrames(server: NatsServer, n: number, rate: number): Promise<Row> {
  const sink = peer(['nats-sink', server.url, 'bench.frames', String(n)]);
  const nc = await connect({ servers: server.url });
  try {
    await within(sink.next(/^ready$/), 'nats-sink');
    const frame = new Uint8Array(FRAME).fill(7);
    const sentRate = await sendFrames(n, rate, async (i) => {
      nc.publish('bench.frames', frame);
      if (i % 3 === 2) await nc.flush(); // as the bridge does (every 8 MiB)
    });
    await nc.flush();
    return frameRow('plain NATS: Node -> nats-server -> Node', rate, n, sentRate, await within(sink.next(/^got /), 'nats-sink'));
  } finally {
    await nc.close();
    await stop(sink);
  }
}

async function bridgeFrames(server: NatsServer, n: number, rate: number, id: string): Promise<Row> {
  const a = `bench-a-frames-${id}`;
  const b = `bench-b-frames-${id}`;
  const common = ['--nats', server.url, '--prefix', `benchf${id}`];
  const pub = Topic.create(a, { capacity: 64 << 20, maxMessageSize: FRAME });
  const bridges: ChildProcess[] = [];
  let sink: LineChild | undefined;
  try {
    bridges.push(await bridge([...common, '--host', `a${id}`, '--topic', `${a}=frames:out`]));
    bridges.push(await bridge([...common, '--host', `b${id}`, '--topic', `${b}=frames:in`]));
    // The far topic is created by the first frame; the sink waits for it and reads from its oldest message.
    const frame = new Uint8Array(FRAME).fill(7);
    sink = peer(['topic-sink', b, String(n)]);
    await within(sink.next(/^ready$/).then(() => undefined), 'topic-sink', TIMEOUT_MS);
    const sentRate = await sendFrames(n, rate, () => void pub.publish(frame));
    return frameRow('shmbus Topic -> bridge -> nats-server -> bridge -> Topic', rate, n, sentRate, await within(sink.next(/^got /), 'topic-sink'));
  } finally {
    pub.close();
    await stop(sink);
    for (const c of bridges) await stop(c);
    for (const x of [a, b]) {
      try {
        Topic.unlink(x);
      } catch {
        // not created
      }
    }
  }
}

export default async function bridgeSuite(ctx: BenchContext): Promise<Table[]> {
  if (!haveNatsServer()) {
    ctx.log('bridge: nats-server not installed (scripts/ci-deps.sh installs it): suite skipped');
    return [];
  }
  const server = await startNatsServer();
  const id = benchName('x').split('-').slice(2).join('');
  try {
    const n = ctx.quick ? 300 : 3000;
    ctx.log('bridge: 64 B round trip, plain NATS');
    const plain = await natsRoundTrip(server, n);
    ctx.log('bridge: 64 B round trip across two bridges');
    const bridged = await bridgeRoundTrip(server, n, id);
    ctx.log('bridge: one way across one bridge (out, in) and the server hop alone');
    const oneWay = await crossings(server, n, id);
    const frames = ctx.quick ? 30 : 200;
    const frameRows: Row[] = [];
    for (const rate of RATES) {
      const at = `${rate}/s`;
      ctx.log(`bridge: 2.7 MB frames at ${at}, plain NATS`);
      frameRows.push(await natsFrames(server, frames, rate));
      ctx.log(`bridge: 2.7 MB frames at ${at}, across two bridges`);
      frameRows.push(await bridgeFrames(server, frames, rate, id));
    }
    return [
      {
        title: 'NATS bridge: 64 B round trip (µs)',
        note: 'One message there and back; the bridged path crosses a bridge four times (A out, B in, B out, A in). Same nats-server, same run.',
        columns: ['path', 'p50 µs', 'p99 µs', 'p99.9 µs', 'lost', 'n'],
        rows: [plain, bridged],
      },
      {
        title: 'NATS bridge: 64 B one way across one bridge (µs)',
        note: 'Where the round trip goes: both ends in the bench process (one clock). A bridge crossing = a futex wake of the bridge (a thread hop into its event loop) or a socket read, NATS header encode/decode, a Topic publish or read; the last row is the server hop alone.',
        columns: ['path', 'p50 µs', 'p99 µs', 'p99.9 µs', 'lost', 'n'],
        rows: oneWay,
      },
      {
        title: 'NATS bridge: 1280x720x3 (2.7 MB) frames, one way',
        note: `Both paths send the same frames at the same rates: ${RATES.map((r) => `${r}/s`).join(', then ')} (sent/s: the rate the sender reached). delivered/s and lost are counted end to end by the receiving process (frames/s between its first and last frame). max_payload 8 MB, so no chunking. Both paths are lossy: a bridge that falls behind is lapped on the local ring.`,
        columns: ['path', 'sent at', 'sent/s', 'delivered/s', 'MB/s', 'sent', 'delivered', 'lost'],
        rows: frameRows,
      },
    ];
  } finally {
    await server.dispose();
  }
}
