/**
 * Every transport a user would weigh against shmbus, behind one small interface, so that the transports suite
 * (bench/suites/90-transports.ts) runs the same workloads on each: shmbus Topic and Queue, child_process IPC, a
 * Unix domain socket, ZeroMQ over ipc://, Redis pub/sub on a Unix socket, NATS core pub/sub, and worker_threads
 * postMessage (same process, for scale).
 *
 * A bench is one parent and K peers. Data flows parent -> peers (`publish`: every peer gets every message) and
 * peers -> parent (`receive`: answers from any peer). Peers are processes running bench/children/transport-peer.js
 * (a thread for worker_threads). Message byte 0 says what it is (KIND): peers answer probes so the parent knows a
 * subscription is live before it measures (pub/sub transports drop what they publish before that).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Queue, Topic } from '../src/index.js';
import { ROOT } from './lib.js';
import { readFrames, writeFramed } from './framing.js';

/**
 * The stream window of the throughput workloads: every peer acks each `window`-th message (at most 64 messages
 * or 1 MiB per window) and at most two windows are in flight. One rule for every row, Node or program.
 */
export function windowFor(size: number): number {
  return Math.max(1, Math.min(64, Math.floor((1 << 20) / size)));
}

/** Byte 0 of every message. */
export const KIND = { probe: 0, data: 1, last: 2, hello: 3, ack: 4 } as const;

/** One side's end: send bytes, receive the next message (in arrival order). */
export interface Endpoint {
  send(data: Uint8Array): void | Promise<void>;
  receive(): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** What the parent holds: one publish reaches every peer; receive takes answers from all of them. */
export interface ParentSide extends Endpoint {
  /** CPU time (µs) of the peers' processes so far, for those that are processes (worker_threads: included in ours). */
  readonly peersAreThreads: boolean;
}

/** Settings shared by both sides of one bench (JSON: handed to the peer on its command line). */
export interface LinkConfig {
  transport: TransportName;
  /** Names, paths or addresses the transport needs (made by the parent). */
  address: string;
  /** Peer index (0..peers-1) and count. */
  index: number;
  peers: number;
  /** Largest message, for transports that size buffers. */
  maxSize: number;
}

export type TransportName = 'shmbus-topic' | 'shmbus-queue' | 'ipc' | 'unix-socket' | 'zeromq' | 'redis' | 'nats' | 'worker';

/** Messages waiting for a receive() and receive()s waiting for a message. */
class Inbox {
  readonly #items: Uint8Array[] = [];
  readonly #waiting: ((d: Uint8Array) => void)[] = [];
  push(d: Uint8Array): void {
    const w = this.#waiting.shift();
    if (w) w(d);
    else this.#items.push(d);
  }
  next(): Promise<Uint8Array> {
    const d = this.#items.shift();
    return d !== undefined ? Promise.resolve(d) : new Promise((resolve) => this.#waiting.push(resolve));
  }
}

const PEER_SCRIPT = join(ROOT, 'dist', 'bench', 'children', 'transport-peer.js');

/** Servers a transport needs (redis-server, nats-server), started per bench and stopped by pid. */
export interface Started {
  address: string;
  /** CPU time (µs) the transport's server process has used so far (0 when there is none). */
  serverCpuUs(): number;
  stop(): Promise<void>;
}

// ---- parent sides ---------------------------------------------------------------------------------------------

/**
 * Starts `peers` peer processes (or threads) and connects the parent to them. `spawnPeer` starts one peer with its
 * config (the suite decides pinning).
 */
export async function openParent(
  transport: TransportName,
  address: string,
  peers: number,
  maxSize: number,
  spawnPeer: (config: LinkConfig) => ChildProcess,
): Promise<{ side: ParentSide; children: ChildProcess[]; workers: Worker[] }> {
  const inbox = new Inbox();
  const children: ChildProcess[] = [];
  const workers: Worker[] = [];
  const config = (index: number): LinkConfig => ({ transport, address, index, peers, maxSize });
  const startAll = (): void => {
    for (let i = 0; i < peers; i++) children.push(spawnPeer(config(i)));
  };
  const base = { peersAreThreads: false };
  switch (transport) {
    case 'shmbus-topic': {
      const layout = { capacity: Math.max(1 << 20, 4 * (maxSize + 64)), maxMessageSize: Math.max(4096, maxSize) };
      const down = Topic.create(`${address}-down`, layout);
      const up = Topic.create(`${address}-up`, { capacity: 1 << 20, maxMessageSize: 4096 });
      const sub = Topic.subscribe(`${address}-up`);
      startAll();
      return {
        children,
        workers,
        side: {
          ...base,
          send: (d) => void down.publish(d),
          async receive() {
            const m = await sub.read();
            if (m === null) throw new Error('topic ended');
            return m.data;
          },
          async close() {
            sub.close();
            down.close();
            up.close();
            Topic.unlink(`${address}-down`);
            Topic.unlink(`${address}-up`);
          },
        },
      };
    }
    case 'shmbus-queue': {
      const opts = { slots: 64, maxMessageSize: Math.max(4096, maxSize) };
      const downs = Array.from({ length: peers }, (_, i) => Queue.create(`${address}-d${i}`, opts));
      const up = Queue.create(`${address}-up`, { slots: 256, maxMessageSize: 4096 });
      startAll();
      return {
        children,
        workers,
        side: {
          ...base,
          async send(d) {
            for (const q of downs) await q.send(d);
          },
          async receive() {
            const m = await up.receive();
            if (m === null) throw new Error('queue ended');
            return m.data;
          },
          async close() {
            for (const [i, q] of downs.entries()) {
              q.close();
              Queue.unlink(`${address}-d${i}`);
            }
            up.close();
            Queue.unlink(`${address}-up`);
          },
        },
      };
    }
    case 'ipc': {
      startAll();
      for (const c of children) c.on('message', (m: Uint8Array) => inbox.push(m));
      return {
        children,
        workers,
        side: {
          ...base,
          send(d) {
            for (const c of children) c.send(d);
          },
          receive: () => inbox.next(),
          async close() {},
        },
      };
    }
    case 'unix-socket': {
      const sockets: Socket[] = [];
      const server: Server = createServer((s) => {
        sockets.push(s);
        readFrames(s, (d) => inbox.push(d));
      });
      server.listen(address);
      await once(server, 'listening');
      startAll();
      return {
        children,
        workers,
        side: {
          ...base,
          send(d) {
            for (const s of sockets) writeFramed(s, d);
          },
          receive: () => inbox.next(),
          async close() {
            for (const s of sockets) s.destroy();
            server.close();
          },
        },
      };
    }
    case 'zeromq': {
      const zmq = await import('zeromq');
      const pub = new zmq.Publisher({ sendHighWaterMark: 0 });
      const pull = new zmq.Pull({ receiveHighWaterMark: 0 });
      await pub.bind(`ipc://${address}-down`);
      await pull.bind(`ipc://${address}-up`);
      startAll();
      return {
        children,
        workers,
        side: {
          ...base,
          send: (d) => pub.send(d),
          receive: async () => {
            const [m] = await pull.receive();
            return m!;
          },
          async close() {
            pub.close();
            pull.close();
          },
        },
      };
    }
    case 'redis': {
      const { createClient } = await import('redis');
      const pub = createClient({ socket: { path: address } });
      const sub = pub.duplicate();
      await Promise.all([pub.connect(), sub.connect()]);
      await sub.subscribe('up', (m: Buffer) => inbox.push(m), true);
      startAll();
      return {
        children,
        workers,
        side: {
          ...base,
          send: async (d) => void (await pub.publish('down', Buffer.from(d.buffer, d.byteOffset, d.length))),
          receive: () => inbox.next(),
          async close() {
            await sub.quit();
            await pub.quit();
          },
        },
      };
    }
    case 'nats': {
      const { connect: natsConnect } = await import('nats');
      const nc = await natsConnect({ servers: address });
      const sub = nc.subscribe('up');
      void (async () => {
        for await (const m of sub) inbox.push(m.data);
      })();
      await nc.flush();
      startAll();
      return {
        children,
        workers,
        side: {
          ...base,
          send: (d) => nc.publish('down', d),
          receive: () => inbox.next(),
          async close() {
            await nc.drain();
          },
        },
      };
    }
    case 'worker': {
      for (let i = 0; i < peers; i++) {
        const w = new Worker(PEER_SCRIPT, { workerData: config(i) });
        w.on('message', (m: Uint8Array) => inbox.push(m));
        workers.push(w);
      }
      return {
        children,
        workers,
        side: {
          peersAreThreads: true,
          send(d) {
            for (const w of workers) w.postMessage(d);
          },
          receive: () => inbox.next(),
          async close() {
            await Promise.all(workers.map((w) => w.terminate()));
          },
        },
      };
    }
  }
}

// ---- peer sides -----------------------------------------------------------------------------------------------

/** The peer's end of a link (runs in bench/children/transport-peer.js). */
export async function openPeer(c: LinkConfig, post?: (d: Uint8Array) => void, onMessage?: (cb: (d: Uint8Array) => void) => void): Promise<Endpoint> {
  const inbox = new Inbox();
  switch (c.transport) {
    case 'shmbus-topic': {
      const sub = Topic.subscribe(`${c.address}-down`, { timeout: 10_000 });
      const up = Topic.open(`${c.address}-up`);
      return {
        send: (d) => void up.publish(d),
        // A view: the peer answers before the ring can lap it (probes aside, the parent waits for the answers).
        async receive() {
          const m = await sub.read({ copy: false });
          if (m === null) throw new Error('topic ended');
          return m.data;
        },
        async close() {
          sub.close();
          up.close();
        },
      };
    }
    case 'shmbus-queue': {
      const down = Queue.open(`${c.address}-d${c.index}`, { timeout: 10_000 });
      const up = Queue.open(`${c.address}-up`, { timeout: 10_000 });
      return {
        send: (d) => up.send(d),
        async receive() {
          const m = await down.receive();
          if (m === null) throw new Error('queue ended');
          return m.data;
        },
        async close() {
          down.close();
          up.close();
        },
      };
    }
    case 'ipc':
      process.on('message', (m: Uint8Array) => inbox.push(m));
      return { send: (d) => void process.send!(d), receive: () => inbox.next(), async close() {} };
    case 'unix-socket': {
      const s = connect(c.address);
      await once(s, 'connect');
      readFrames(s, (d) => inbox.push(d));
      return { send: (d) => writeFramed(s, d), receive: () => inbox.next(), async close() { s.destroy(); } };
    }
    case 'zeromq': {
      const zmq = await import('zeromq');
      const sub = new zmq.Subscriber({ receiveHighWaterMark: 0 });
      const push = new zmq.Push({ sendHighWaterMark: 0 });
      sub.connect(`ipc://${c.address}-down`);
      sub.subscribe();
      push.connect(`ipc://${c.address}-up`);
      return {
        send: (d) => push.send(d),
        receive: async () => {
          const [m] = await sub.receive();
          return m!;
        },
        async close() {
          sub.close();
          push.close();
        },
      };
    }
    case 'redis': {
      const { createClient } = await import('redis');
      const pub = createClient({ socket: { path: c.address } });
      const sub = pub.duplicate();
      await Promise.all([pub.connect(), sub.connect()]);
      await sub.subscribe('down', (m: Buffer) => inbox.push(m), true);
      return {
        send: async (d) => void (await pub.publish('up', Buffer.from(d.buffer, d.byteOffset, d.length))),
        receive: () => inbox.next(),
        async close() {
          await sub.quit();
          await pub.quit();
        },
      };
    }
    case 'nats': {
      const { connect: natsConnect } = await import('nats');
      const nc = await natsConnect({ servers: c.address });
      const sub = nc.subscribe('down');
      void (async () => {
        for await (const m of sub) inbox.push(m.data);
      })();
      await nc.flush();
      return { send: (d) => nc.publish('up', d), receive: () => inbox.next(), async close() { await nc.drain(); } };
    }
    case 'worker':
      onMessage!((d) => inbox.push(d));
      return { send: (d) => post!(d), receive: () => inbox.next(), async close() {} };
  }
}

// ---- servers --------------------------------------------------------------------------------------------------

/** Where a transport's parent and peers meet: a shm name, a socket path, or a server it starts. */
export async function startTransport(t: TransportName, tag: string): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'shmbus-bench-'));
  const cleanup = async (): Promise<void> => rmSync(dir, { recursive: true, force: true });
  switch (t) {
    case 'shmbus-topic':
    case 'shmbus-queue':
      return { address: tag, serverCpuUs: () => 0, stop: cleanup };
    case 'unix-socket':
    case 'zeromq':
      return { address: join(dir, 'sock'), serverCpuUs: () => 0, stop: cleanup };
    case 'ipc':
    case 'worker':
      return { address: '', serverCpuUs: () => 0, stop: cleanup };
    case 'redis': {
      const path = join(dir, 'redis.sock');
      const server = await startServer('redis-server', ['--port', '0', '--unixsocket', path, '--save', '', '--appendonly', 'no', '--dir', dir], /ready to accept connections/i);
      return { address: path, serverCpuUs: server.cpuUs, stop: async () => (await server.stop(), cleanup()) };
    }
    case 'nats': {
      const port = 20000 + (process.pid % 20000);
      const conf = join(dir, 'nats.conf');
      // 16 MiB: the largest message of the suite (8 MiB) fits; the server's own limit is 64 MiB.
      writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 16777216\n`);
      const server = await startServer('nats-server', ['-c', conf], /Server is ready/);
      return { address: `nats://127.0.0.1:${port}`, serverCpuUs: server.cpuUs, stop: async () => (await server.stop(), cleanup()) };
    }
  }
}

/** utime + stime of a process in µs (/proc/<pid>/stat fields 14 and 15, in clock ticks of 10 ms on Linux). */
function procCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return 0;
  }
}

async function startServer(cmd: string, args: string[], ready: RegExp): Promise<{ cpuUs(): number; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start within 10 s:\n${out}`)), 10_000);
    const on = (d: Buffer): void => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  return {
    cpuUs: () => procCpuUs(child.pid!),
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** `fork` options for a peer of `transport` (ipc needs the advanced serialization for binary payloads). */
export function forkPeer(config: LinkConfig, cpu: number | undefined): ChildProcess {
  const args = [JSON.stringify(config)];
  const opts = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc')[], serialization: 'advanced' as const };
  if (cpu === undefined) return fork(PEER_SCRIPT, args, opts);
  return fork(PEER_SCRIPT, args, { ...opts, execPath: 'taskset', execArgv: ['-c', String(cpu), process.execPath, ...process.execArgv] });
}

// ---- program transports (both sides in C or Python) -----------------------------------------------------------

/**
 * Transports whose two sides are another program speaking the protocol above (KIND bytes, windows, acks):
 * bench/c/transport-driver.c (C <-> C over c/shmbus.h Topic and Queue: the floor) and
 * bench/children/transport-driver.py (multiprocessing.Pipe, multiprocessing.Queue and the Python shmbus Topic).
 * The suite gives them the same iteration counts and windows as the Node rows; they print one JSON line per op.
 */
export type ProgramTransport = 'c-topic' | 'c-queue' | 'py-pipe' | 'py-queue' | 'py-topic';

/** One op of a program run: 64 B round trips to peer 0, or a flow-controlled one-way stream to every peer. */
export type ProgramOp = { rtt: number; warm: number } | { size: number; count: number; window: number; capMs?: number };

export interface RoundTripResult {
  /** Round trips in µs. */
  samples: Float64Array;
  /** CPU µs (user + system of every process) per round trip. */
  cpuPer: number;
}

export interface StreamResult {
  /** Messages delivered per second, per peer. */
  perSecond: number;
  /** CPU µs (user + system of every process) per message. */
  cpuPer: number;
}

/** What to run a program transport with: `command` starts it (binary or interpreter + script). */
export interface ProgramRun {
  command: [string, ...string[]];
  /** Transport argument of the program: topic/queue (C), pipe/queue/topic (Python). */
  kind: string;
  /** Base of its shm names (benchName): <name>-down, <name>-up, <name>-d<i>; removed here if the program left them. */
  name: string;
  peers: number;
  /** Parent and peer CPUs (the program pins itself and its peers), or undefined: unpinned. */
  cpus: [number, number] | undefined;
  maxSize: number;
  ops: ProgramOp[];
  timeoutMs: number;
}

/**
 * Runs a program transport in its own process group (killed as a group, by its pid, if it overruns `timeoutMs`)
 * and returns one result per op. Segments it may have left behind (a crash) are unlinked.
 */
export async function runProgramTransport(r: ProgramRun): Promise<(RoundTripResult | StreamResult)[]> {
  const args = [
    ...r.command.slice(1),
    r.kind,
    r.name,
    String(r.peers),
    String(r.cpus?.[0] ?? -1),
    String(r.cpus?.[1] ?? -1),
    String(r.maxSize),
    ...r.ops.map((o) => ('rtt' in o ? `rtt:${o.rtt}:${o.warm}` : `stream:${o.size}:${o.count}:${o.window}${o.capMs === undefined ? '' : `:${o.capMs}`}`)),
  ];
  const child = spawn(r.command[0], args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  let timer: NodeJS.Timeout | undefined;
  const code = await new Promise<number | 'timeout'>((resolve) => {
    timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL'); // its peers too (same process group)
      } catch {
        // already gone
      }
      resolve('timeout');
    }, r.timeoutMs);
    child.on('close', (c) => resolve(c ?? -1));
    child.on('error', () => resolve(-1));
  });
  clearTimeout(timer);
  const leftovers = [`${r.name}-down`, `${r.name}-up`, ...Array.from({ length: r.peers }, (_, i) => `${r.name}-d${i}`)];
  for (const n of leftovers) {
    try {
      Topic.unlink(n); // any segment kind (Topic and Queue both unlink the named segment)
    } catch {
      // not there (the program removed it): the normal case
    }
  }
  if (code !== 0) {
    const why = code === 'timeout' ? `no result within ${r.timeoutMs / 1000} s` : `exit ${code}`;
    throw new Error(`${r.kind} (${r.command.join(' ')}) failed (${why}): ${Buffer.concat(err).toString('utf8').trim().split('\n').pop() ?? ''}`);
  }
  const lines = Buffer.concat(out).toString('utf8').trim().split('\n').filter((l) => l.startsWith('{'));
  if (lines.length !== r.ops.length) throw new Error(`${r.kind}: ${lines.length} results for ${r.ops.length} ops`);
  return lines.map((l, i) => {
    const j = JSON.parse(l) as { samples?: number[]; n?: number; seconds?: number; cpuUs: number };
    const op = r.ops[i]!;
    if ('rtt' in op) return { samples: Float64Array.from(j.samples ?? []), cpuPer: j.cpuUs / op.rtt };
    return { perSecond: j.n! / j.seconds!, cpuPer: j.cpuUs / j.n! };
  });
}
