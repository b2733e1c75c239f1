/**
 * One side of the Node wake round trip (bench/suites/10-segment.ts): two processes hand a counter back and forth
 * through a shmbus segment, parking between turns with the public Segment API.
 *
 * usage: wake-peer.js <ping|pong> <sync|async|spin> <segment> <iterations> <warmup>
 *   word 0 (PING): the ping side's counter; word 16 (PONG, its own 64-byte line): the pong side's echo.
 *   sync:  seg.wait(index, seen) until the word changes (blocks the thread, like a C futex wait).
 *   async: await seg.waitAsync(index, seen) (native waiter thread, result delivered on the event loop).
 *   spin:  Atomics.load in a loop (no syscalls; needs its own core).
 * Both sides call seg.wake after each store (one futex wake syscall per hand-over, like the C futex baseline).
 * ping prints "ready", then after the run "samples <µs,µs,...>" (round-trip times), then exits; pong prints
 * "ready" and exits after the last round. Bounded: a peer silent for 10 s ends the run with exit code 2.
 */
import { Segment } from '../../src/index.js';

const [role, mode, name, iterationsArg, warmupArg] = process.argv.slice(2);
if ((role !== 'ping' && role !== 'pong') || (mode !== 'sync' && mode !== 'async' && mode !== 'spin') || !name) {
  process.stderr.write('usage: wake-peer.js <ping|pong> <sync|async|spin> <segment> <iterations> <warmup>\n');
  process.exit(1);
}
const iterations = Number(iterationsArg);
const warmup = Number(warmupArg);
const PING = 0;
const PONG = 16;
const SILENCE_MS = 10_000;

const seg = Segment.open(name);
const words = seg.words;

function silent(): never {
  process.stderr.write(`wake-peer ${role}: peer silent for ${SILENCE_MS} ms\n`);
  process.exit(2);
}

/** Returns once words[index] differs from `seen`; returns the new value. */
function changedSync(index: number, seen: number): number {
  for (;;) {
    // SYNC BENCH-HANDOVER (acquire): sees the peer's store; pairs with the release store in publish().
    const v = Atomics.load(words, index);
    if (v !== seen) return v;
    if (seg.wait(index, seen, { timeout: SILENCE_MS }) === 'timed-out') silent();
  }
}

async function changedAsync(index: number, seen: number): Promise<number> {
  for (;;) {
    // SYNC BENCH-HANDOVER (acquire): as in changedSync.
    const v = Atomics.load(words, index);
    if (v !== seen) return v;
    if ((await seg.waitAsync(index, seen, { timeout: SILENCE_MS })) === 'timed-out') silent();
  }
}

function changedSpin(index: number, seen: number): number {
  const deadline = Date.now() + SILENCE_MS;
  for (let n = 0; ; n++) {
    // SYNC BENCH-HANDOVER (acquire): as in changedSync.
    const v = Atomics.load(words, index);
    if (v !== seen) return v;
    if ((n & 0xffff) === 0xffff && Date.now() > deadline) silent();
  }
}

function publish(index: number, value: number): void {
  // SYNC BENCH-HANDOVER (release): hands the turn over; pairs with the acquire load in changed*().
  Atomics.store(words, index, value);
  if (mode !== 'spin') seg.wake(index, 1);
}

const changedBlocking = mode === 'sync' ? changedSync : changedSpin;
const rounds = iterations + warmup;
const samples = new Float64Array(iterations);
process.stdout.write('ready\n');
// Two copies of each loop: an `await` on a plain value would add a microtask turn to every sync/spin round.
if (role === 'pong') {
  let seen = 0;
  if (mode === 'async') {
    for (let i = 0; i < rounds; i++) {
      seen = await changedAsync(PING, seen);
      publish(PONG, seen);
    }
  } else {
    for (let i = 0; i < rounds; i++) {
      seen = changedBlocking(PING, seen);
      publish(PONG, seen);
    }
  }
} else {
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    publish(PING, i + 1);
    if (mode === 'async') await changedAsync(PONG, i);
    else changedBlocking(PONG, i);
    const dt = Number(process.hrtime.bigint() - t0) / 1000;
    if (i >= warmup) samples[i - warmup] = dt;
  }
  process.stdout.write(`samples ${Array.from(samples, (v) => v.toFixed(3)).join(',')}\n`);
}
seg.close();
