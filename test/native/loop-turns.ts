/**
 * Fixture of loop-turns.test.ts: async waits of this process woken by this process must leave the event loop its
 * turns. Usage: node loop-turns.js <segment> <starve|flood>
 *
 * starve: two async loops ping-pong through two words of a real shm segment (each wakes the other's waitAsync, as an
 *   Rpc client and its server workers do in one process); while they run, a timer, a child process's stdout line and
 *   its exit (SIGCHLD) must all be handled. Prints 'turned <hops>' and exits 0. A waiter that keeps completing the
 *   waits it is handed within one loop callback (the io_uring reap loop before the fix) never prints it.
 * flood: 6000 waits on 3 words (more completions than the io_uring CQ's 4096 entries: the overflow path), woken by
 *   3 wakes; every other wait is aborted in the same synchronous step as the wakes (its completion is already queued:
 *   cancel racing completion), some have timeouts. Every wait must settle exactly once, the right way; then a second
 *   round on the same words (no stale completion may settle a new wait). Prints 'flood ok' and exits 0.
 * Prints 'kind <waiter>' first.
 */
import { spawn } from 'node:child_process';
import { Segment, isShmbusError } from '../../src/index.js';
import { asyncWaiterKind } from '../../src/base/futex.js';
import { fail, say } from '../fixtures/lib.js';

const [name, scenario] = process.argv.slice(2) as [string, string];

async function starve(seg: Segment): Promise<void> {
  const w = seg.words;
  let running = true;
  let hops = 0;
  let flowing: () => void = () => {};
  const flowingNow = new Promise<void>((r) => (flowing = r));
  const side = async (mine: number, other: number): Promise<void> => {
    let seen = 0;
    while (running) {
      await seg.waitAsync(mine, seen);
      const now = Atomics.load(w, mine); // seq_cst: the other side's add happened before its wake
      if (now === seen) continue; // spurious: wait again
      seen = now;
      if (++hops === 1000) flowing();
      Atomics.add(w, other, 1);
      seg.wake(other);
    }
  };
  const a = side(0, 1);
  const b = side(1, 0);
  Atomics.add(w, 0, 1);
  seg.wake(0);
  // Only once the ping-pong runs by itself: from here on, each hop completes a wait submitted in the previous hop.
  await flowingNow;
  const timer = new Promise<void>((r) => setTimeout(r, 1));
  const child = spawn('sh', ['-c', 'echo ready'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const line = new Promise<void>((r) => child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d).includes('ready') && r()));
  const exit = new Promise<void>((r) => child.on('exit', () => r()));
  await Promise.all([timer, line, exit]);
  running = false;
  Atomics.add(w, 0, 1);
  Atomics.add(w, 1, 1);
  seg.wake(0);
  seg.wake(1);
  await Promise.all([a, b]);
  say(`turned ${hops}`);
}

async function flood(seg: Segment): Promise<void> {
  const WAITS = 6000;
  for (let round = 0; round < 2; round++) {
    const ctl = new AbortController();
    const settled = new Array<string>(WAITS);
    const all: Promise<void>[] = [];
    for (let i = 0; i < WAITS; i++) {
      const aborted = i % 2 === 1;
      // Every fifth kept wait has a timeout far beyond the test: its timer must be cleared, never fire.
      const options = aborted ? { signal: ctl.signal } : i % 5 === 0 ? { timeout: 600_000 } : {};
      all.push(
        seg.waitAsync(i % 3, round, options).then(
          (r) => {
            if (settled[i] !== undefined) fail(new Error(`wait ${i} settled twice (${settled[i]}, then ${r})`));
            settled[i] = r;
          },
          (e: unknown) => {
            if (settled[i] !== undefined) fail(new Error(`wait ${i} settled twice (${settled[i]}, then ${String(e)})`));
            settled[i] = isShmbusError(e, 'ERR_ABORTED') ? 'aborted' : `error ${String(e)}`;
          },
        ),
      );
    }
    // Let the loop turn once: every wait is queued in the kernel (io_uring) or parked on a waiter thread.
    await new Promise((r) => setImmediate(r));
    for (let k = 0; k < 3; k++) {
      Atomics.add(seg.words, k, 1);
      seg.wake(k);
    }
    ctl.abort(); // same synchronous step: the aborted waits' completions are already queued or on their way
    await Promise.all(all);
    for (let i = 0; i < WAITS; i++) {
      const want = i % 2 === 1 ? 'aborted' : 'ok';
      if (settled[i] !== want) fail(new Error(`round ${round}: wait ${i} ended ${settled[i]}, expected ${want}`));
    }
  }
  say('flood ok');
}

const seg = Segment.create(name, { size: 4096 });
try {
  say(`kind ${asyncWaiterKind()}`);
  if (scenario === 'starve') await starve(seg);
  else if (scenario === 'flood') await flood(seg);
  else throw new Error(`unknown scenario ${scenario}`);
} catch (e) {
  fail(e);
} finally {
  seg.close();
  Segment.unlink(name);
}
