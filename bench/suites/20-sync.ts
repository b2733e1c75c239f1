/**
 * Sync primitives benchmark (issue 5), each beside glibc's process-shared primitives measured in the same run
 * (bench/c/sync.c: a PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST mutex, a process-shared rwlock and sem_t):
 *  1. Uncontended lock + unlock, ns per pair (one process, the lock free every time).
 *  2. Contended hand-over between two processes: stamp just before the holder's unlock -> the waiter's lock
 *     returning (µs), with the waiter arriving just before the unlock and well before it.
 *  3. RwLock read throughput with 1, 2 and 4 reader processes (read lock + unlock pairs per second, all readers).
 */
import { join } from 'node:path';
import { Event, Mutex, RWLOCK_SIZE, RwLock, Segment, Semaphore } from '../../src/index.js';
import { interleave, PeerSet, placementCpus } from '../baselines.js';
import { benchName, buildC, median, ROOT, runCapture, type BenchContext, type LineChild, type Row, type Stats, type Table } from '../lib.js';

const PEER = join(ROOT, 'dist', 'bench', 'children', 'sync-peer.js');
const PEER_TIMEOUT_MS = 120_000;

const peers = new PeerSet(PEER, PEER_TIMEOUT_MS);
const peer = (args: string[], cpu?: number): LineChild => peers.spawn(args, cpu);
const line = (child: LineChild, re: RegExp): Promise<string> => peers.line(child, re);

// ---- 1. uncontended --------------------------------------------------------------------------------------------

/** ns per call of `pair`, best of 5 batches of `n` (the best batch is the one least disturbed by other work). */
function nsPerPair(n: number, pair: () => void): number {
  let best = Infinity;
  for (let batch = 0; batch < 5; batch++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) pair();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  return best;
}

async function nsPerAsyncPair(n: number, pair: () => Promise<void>): Promise<number> {
  let best = Infinity;
  for (let batch = 0; batch < 5; batch++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await pair();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  return best;
}

async function uncontendedTable(ctx: BenchContext, cBin: string): Promise<Table> {
  const n = ctx.quick ? 200_000 : 2_000_000;
  ctx.log('uncontended: C');
  const c = Object.fromEntries(
    // Same method as the Node rows: best of 5 batches of n pairs (bench/c/sync.c).
    runCapture(cBin, ['uncontended', String(n)])
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k!, Number(v)]),
  ) as Record<string, number>;
  ctx.log('uncontended: shmbus');
  const name = benchName('unc');
  const seg = Segment.create(name, { size: 4096, init: (s) => Semaphore.init(s, 2048, { initial: 1 }) });
  const rows: Row[] = [];
  const row = (path: string, ns: number, cNs: number | undefined, cPath: string): void => {
    rows.push({ path, 'ns / pair': ns, 'C baseline': cPath, 'C ns / pair': cNs ?? NaN, 'vs C': cNs ? `${(ns / cNs).toFixed(2)}x` : '' });
  };
  try {
    const m = new Mutex(seg, 0);
    const rw = new RwLock(seg, 64);
    const sem = new Semaphore(seg, 2048);
    const ev = new Event(seg, 3072);
    const robust = 'pthread_mutex_lock/unlock (robust, pshared)';
    row('Mutex lockSync + unlock', nsPerPair(n, () => {
      m.lockSync();
      m.unlock();
    }), c['mutex'], robust);
    row('Mutex tryLock + unlock', nsPerPair(n, () => {
      m.tryLock();
      m.unlock();
    }), c['mutex'], robust);
    row('Mutex await lock() + unlock', await nsPerAsyncPair(n / 10, async () => {
      await m.lock();
      m.unlock();
    }), c['mutex'], robust);
    row('RwLock readLockSync + readUnlock', nsPerPair(n, () => {
      rw.readLockSync();
      rw.readUnlock();
    }), c['rwlock-read'], 'pthread_rwlock_rdlock/unlock (pshared)');
    row('RwLock writeLockSync + writeUnlock', nsPerPair(n, () => {
      rw.writeLockSync();
      rw.writeUnlock();
    }), c['rwlock-write'], 'pthread_rwlock_wrlock/unlock (pshared)');
    row('Semaphore acquireSync + release', nsPerPair(n, () => {
      sem.acquireSync();
      sem.release();
    }), c['sem'], 'sem_wait/sem_post (pshared)');
    row('Event set + waitSync (auto reset)', nsPerPair(n, () => {
      ev.set();
      ev.waitSync();
    }), undefined, '');
  } finally {
    seg.close();
    Segment.unlink(name);
  }
  return {
    title: 'Uncontended lock + unlock (ns per pair)',
    note:
      `One process, the primitive always free. Every figure, C and Node alike, is the best of 5 batches of ${n.toLocaleString('en-US')} pairs (async: ${(n / 10).toLocaleString('en-US')}): ` +
      'the batch least disturbed by other work, one method for every row. ' +
      'None of these makes a system call (test/process/sync-syscalls.test.ts counts them with strace). ' +
      'C: bench/c/sync.c, glibc primitives in a MAP_SHARED mapping, same run.',
    columns: ['path', 'ns / pair', 'C baseline', 'C ns / pair', 'vs C'],
    rows,
  };
}

// ---- 2. hand-over ----------------------------------------------------------------------------------------------

/** Hand-over samples (µs) of two Node processes (both sides' receptions). */
async function nodeHandoff(lockMode: 'sync' | 'async', rounds: number, holdUs: number): Promise<number[]> {
  const cpus = placementCpus('cores');
  const name = benchName('hand');
  const seg = Segment.create(name, { size: 4096 });
  try {
    const args = (role: string): string[] => ['handoff', role, lockMode, name, String(rounds), String(holdUs)];
    const first = peer(args('first'), cpus?.[0]);
    await line(first, /^ready$/);
    const second = peer(args('second'), cpus?.[1]);
    const out = await Promise.all([line(first, /^samples /), line(second, /^samples /)]);
    await Promise.all([first.done, second.done]);
    return out.flatMap((l) => l.slice('samples '.length).split(',').filter(Boolean).map((v) => Number(v) / 1000));
  } finally {
    seg.close();
    Segment.unlink(name);
  }
}

/** Hand-over samples (µs) of the C pair. */
function cHandoff(cBin: string, rounds: number, holdUs: number): number[] {
  const cpus = placementCpus('cores');
  const out = runCapture(cBin, ['handoff', String(rounds), String(holdUs), String(cpus?.[0] ?? -1), String(cpus?.[1] ?? -1)]);
  return out
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map((l) => Number(l) / 1000);
}

async function handoffTable(ctx: BenchContext, cBin: string): Promise<Table> {
  const turns = 5;
  const rounds = (ctx.quick ? 1000 : 5000) / turns;
  const rows: Row[] = [];
  for (const holdUs of [0, 50]) {
    ctx.log(`hand-over, hold ${holdUs} µs: C, Mutex lockSync, Mutex await lock() in ${turns} interleaved turns`);
    const r = await interleave(turns, {
      c: async () => cHandoff(cBin, rounds, holdUs),
      sync: () => nodeHandoff('sync', rounds, holdUs),
      async: () => nodeHandoff('async', rounds, holdUs),
    });
    const add = (path: string, s: Stats): void => {
      rows.push({
        path,
        'waiter arrives': holdUs === 0 ? 'just before unlock' : `${holdUs} µs before unlock`,
        p50: s.p50,
        p99: s.p99,
        'p99.9': s.p999,
        'p50 vs C': `${(s.p50 / r.c.p50).toFixed(2)}x`,
        n: s.n,
      });
    };
    add('C pthread robust mutex (futex, no spin)', r.c);
    add('shmbus Mutex lockSync (spins 10 µs, then futex)', r.sync);
    add('shmbus Mutex await lock() (spins 10 µs, then async futex)', r.async);
  }
  return {
    title: 'Contended hand-over between two processes (µs, unlock -> the waiter holds it)',
    note:
      'Two processes, one per core, pass a lock back and forth; the waiter announces itself, the holder then keeps ' +
      'the lock 0 or 50 µs more, stamps CLOCK_MONOTONIC and unlocks; the waiter measures to its lock returning. ' +
      'With 0 µs the waiter is usually still spinning; with 50 µs it sleeps in the futex and the figure is a ' +
      `cross-process wake. Measured in ${turns} interleaved turns (bench/baselines.ts interleave). ` +
      'C: bench/c/sync.c; Node: bench/children/sync-peer.ts; same protocol, same run.',
    columns: ['path', 'waiter arrives', 'p50', 'p99', 'p99.9', 'p50 vs C', 'n'],
    rows,
  };
}

// ---- 3. read throughput ----------------------------------------------------------------------------------------

async function nodeReaders(processes: number, ms: number): Promise<number> {
  const name = benchName('rd');
  const seg = Segment.create(name, { size: RWLOCK_SIZE });
  try {
    const kids = Array.from({ length: processes }, () => peer(['readers', name, String(ms)]));
    await Promise.all(kids.map((k) => line(k, /^ready$/)));
    for (const k of kids) k.send('go');
    const ops = await Promise.all(kids.map(async (k) => Number((await line(k, /^ops /)).split(' ')[1])));
    await Promise.all(kids.map((k) => k.done));
    return ops.reduce((a, b) => a + b, 0) / (ms / 1000);
  } finally {
    seg.close();
    Segment.unlink(name);
  }
}

async function readersTable(ctx: BenchContext, cBin: string): Promise<Table> {
  const ms = ctx.quick ? 300 : 1000;
  const turns = 3;
  const rows: Row[] = [];
  for (const p of [1, 2, 4]) {
    ctx.log(`read throughput, ${p} reader(s), ${turns} interleaved turns`);
    const c: number[] = [];
    const node: number[] = [];
    for (let t = 0; t < turns; t++) {
      c.push(Number(runCapture(cBin, ['readers', String(p), String(ms)]).match(/ops (\d+)/)![1]) / (ms / 1000));
      node.push(await nodeReaders(p, ms));
    }
    const n = median(node);
    const cm = median(c);
    rows.push({
      readers: `${p} process${p > 1 ? 'es' : ''}`,
      'shmbus RwLock (M pairs/s)': n / 1e6,
      'C pthread_rwlock pshared (M pairs/s)': cm / 1e6,
      'shmbus vs C': `${(n / cm).toFixed(2)}x`,
    });
  }
  return {
    title: 'RwLock read throughput (million read lock + unlock pairs per second, all readers together)',
    note:
      `Each reader process loops readLockSync + readUnlock for ${ms} ms, unpinned, on this 2-core machine (4 readers ` +
      `share 2 cores); median of ${turns} interleaved turns. Every read hold writes the shared occupancy word, so ` +
      'readers contend on one cache line, as in any reader-count rwlock. C: pthread_rwlock_rdlock/unlock, ' +
      'PTHREAD_PROCESS_SHARED, same run.',
    columns: ['readers', 'shmbus RwLock (M pairs/s)', 'C pthread_rwlock pshared (M pairs/s)', 'shmbus vs C'],
    rows,
  };
}

export default async function syncSuite(ctx: BenchContext): Promise<Table[]> {
  const cBin = buildC('sync');
  try {
    return [await uncontendedTable(ctx, cBin), await handoffTable(ctx, cBin), await readersTable(ctx, cBin)];
  } finally {
    peers.killAll();
  }
}
