/**
 * Robust locks between processes: a crasher dies (kill -9) in the middle of an update it guards with a Mutex;
 * workers released together by an Event take the Mutex in turn, the first one is told `recovered: true` and
 * repairs the half-written record; a Semaphore lets at most 2 workers run a "job" at once; the parent reads the
 * result under an RwLock. Run: node dist/examples/locks/main.js
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Event, Mutex, RwLock, Segment, Semaphore } from '../../src/index.js';

const WORKERS = 3;
const ROUNDS = 10_000;
// Layout of the state segment: the record (two words that must agree) and the job gauge.
const A = 0; // record.a
const B = 1; // record.b: always equal to a, except while an update is half-way
const RUNNING = 2; // jobs running now
const MOST = 3; // most jobs ever seen running at once

function names(tag: string): { state: string; lock: string; rw: string; jobs: string; gate: string } {
  return { state: `${tag}.state`, lock: `${tag}.lock`, rw: `${tag}.rw`, jobs: `${tag}.jobs`, gate: `${tag}.gate` };
}

/** One increment of the record: a then b, so a process killed in between leaves a != b. */
function update(w: Int32Array): void {
  w[A] = w[A]! + 1;
  w[B] = w[B]! + 1;
}

function crasher(tag: string): void {
  const n = names(tag);
  const state = Segment.open(n.state);
  const lock = Mutex.open(n.lock);
  lock.lockSync();
  state.words[A] = state.words[A]! + 1; // half of an update...
  console.log('crasher: holding the lock, half-way through an update: kill -9');
  process.kill(process.pid, 'SIGKILL'); // ...and gone, holding the lock
}

async function worker(tag: string, id: string): Promise<void> {
  const n = names(tag);
  const state = Segment.open(n.state);
  const w = state.words;
  const lock = Mutex.open(n.lock);
  const rw = RwLock.open(n.rw);
  const jobs = Semaphore.open(n.jobs);
  const gate = Event.open(n.gate);
  await gate.wait({ timeout: 10_000 });
  for (let i = 0; i < ROUNDS; i++) {
    const { recovered } = await lock.lock({ timeout: 10_000 });
    if (recovered) {
      w[B] = w[A]!; // the dead holder incremented a, not b: finish its update
      console.log(`worker ${id}: took the lock over from a dead holder (recovered: true) and repaired the record`);
    }
    await rw.withWrite(() => update(w));
    lock.unlock();
    if (i % 1000 === 0) {
      await jobs.acquire({ timeout: 10_000 });
      const running = Atomics.add(w, RUNNING, 1) + 1;
      for (let most = Atomics.load(w, MOST); running > most; most = Atomics.load(w, MOST)) {
        Atomics.compareExchange(w, MOST, most, running);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
      Atomics.sub(w, RUNNING, 1);
      jobs.release();
    }
  }
  for (const x of [lock, rw, jobs, gate]) x.close();
  state.close();
}

async function parent(): Promise<void> {
  const tag = `locks-${process.pid}`;
  const n = names(tag);
  const state = Segment.create(n.state, { size: 64 });
  const prims = [Mutex.create(n.lock), Semaphore.create(n.jobs, { initial: 2 }), Event.create(n.gate, { manualReset: true })];
  const rw = RwLock.create(n.rw);
  const self = fileURLToPath(import.meta.url);
  try {
    await new Promise((resolve) => fork(self, ['crasher', tag]).once('exit', resolve));
    const kids = Array.from({ length: WORKERS }, (_, i) => fork(self, ['worker', tag, String(i + 1)]));
    const done = kids.map((k) => new Promise((resolve) => k.once('exit', resolve)));
    console.log(`parent: ${WORKERS} workers started; opening the gate`);
    (prims[2] as Event).set();
    await Promise.all(done);
    await rw.withRead(() => {
      const w = state.words;
      console.log(`parent: record a=${w[A]} b=${w[B]} (expected ${WORKERS * ROUNDS + 1} each: the crasher's update was completed)`);
      console.log(`parent: at most ${w[MOST]} jobs ran at once (semaphore of 2)`);
    });
  } finally {
    for (const x of [...prims, rw]) x.close();
    state.close();
    for (const name of Object.values(n)) Segment.unlink(name);
  }
}

const [role, tag, id] = process.argv.slice(2);
if (role === 'crasher') crasher(tag!);
else if (role === 'worker') await worker(tag!, id!);
else await parent();
