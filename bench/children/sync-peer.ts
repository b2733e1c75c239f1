/**
 * The Node side of the sync benchmark (bench/suites/20-sync.ts), the twin of bench/c/sync.c.
 *
 * usage:
 *   sync-peer.js handoff <first|second> <sync|async> <segment> <rounds> <holdUs>
 *     Two processes hand the Mutex at byte 0 back and forth. Before each unlock the holder waits until the other
 *     announced that it is about to lock, holds <holdUs> more, stamps the time and unlocks; after it, it waits
 *     until the other holds the lock (no barging back in), then queues behind it. The receiver measures stamp ->
 *     its lock returning. `first` locks at once and prints "ready"; both print "samples <ns,ns,...>" at the end.
 *   sync-peer.js readers <segment> <ms>
 *     Prints "ready", waits for "go" on stdin, then takes and releases the read side of the RwLock at byte 0
 *     for <ms>; prints "ops <n>".
 * * Words: 16 announce, 17 stop, 18 acquired (64-byte line at byte 64); the stamp is a Float64 at byte 128.
 * Bounded: a peer silent for 10 s ends the run with exit code 2.
 */
import { createInterface } from 'node:readline';
import { Mutex, RwLock, Segment } from '../../src/index.js';

const [mode, ...rest] = process.argv.slice(2);
const ANNOUNCE = 16;
const STOP = 17;
const ACQUIRED = 18;
const SILENCE_MS = 10_000;

const now = (): number => Number(process.hrtime.bigint());

/** Spins until words[index] >= want; false when the stop word is set first. */
function atLeast(words: Int32Array, index: number, want: number): boolean {
  const deadline = performance.now() + SILENCE_MS;
  for (let n = 0; ; n++) {
    // BENCH-HANDOFF (acquire): the other side's announce/acquire counters.
    if (Atomics.load(words, index) >= want) return true;
    if (Atomics.load(words, STOP) !== 0) return false;
    if ((n & 1023) === 0 && performance.now() > deadline) {
      process.stderr.write('sync-peer: peer silent for 10 s\n');
      process.exit(2);
    }
  }
}

async function handoff(role: string, lockMode: string, name: string, rounds: number, holdUs: number): Promise<void> {
  const seg = Segment.open(name);
  const m = new Mutex(seg, 0);
  const w = seg.words;
  const stamp = new Float64Array(seg.buffer, 128, 1);
  const lock = lockMode === 'async' ? () => m.lock({ timeout: SILENCE_MS }) : () => Promise.resolve(m.lockSync({ timeout: SILENCE_MS }));
  const samples: number[] = [];
  let mine = 0;
  if (role === 'first') {
    m.lockSync();
    process.stdout.write('ready\n');
  } else {
    mine = Atomics.add(w, ANNOUNCE, 1) + 1;
    await lock();
  }
  let got = Atomics.add(w, ACQUIRED, 1) + 1;
  for (let r = 0; r < rounds; r++) {
    if (!atLeast(w, ANNOUNCE, mine + 1)) break;
    const until = now() + holdUs * 1000;
    while (now() < until);
    stamp[0] = now(); // ordered by the unlock below (MUTEX-RELEASE) and the other side's lock
    m.unlock();
    if (!atLeast(w, ACQUIRED, got + 1)) break;
    mine = Atomics.add(w, ANNOUNCE, 1) + 1;
    await lock();
    samples.push(now() - stamp[0]!);
    got = Atomics.add(w, ACQUIRED, 1) + 1;
  }
  Atomics.store(w, STOP, 1);
  stamp[0] = now();
  if (m.isLockedByMe) m.unlock();
  process.stdout.write(`samples ${samples.join(',')}\n`);
  m.close();
  seg.close();
}

function readers(name: string, ms: number): void {
  const seg = Segment.open(name);
  const rw = new RwLock(seg, 0);
  process.stdout.write('ready\n');
  createInterface({ input: process.stdin }).once('line', () => {
    const until = performance.now() + ms;
    let ops = 0;
    while (performance.now() < until) {
      for (let k = 0; k < 256; k++) {
        rw.readLockSync();
        rw.readUnlock();
      }
      ops += 256;
    }
    process.stdout.write(`ops ${ops}\n`);
    rw.close();
    seg.close();
    process.exit(0);
  });
}

if (mode === 'handoff') {
  const [role, lockMode, name, rounds, hold] = rest;
  await handoff(role!, lockMode!, name!, Number(rounds), Number(hold));
} else if (mode === 'readers') {
  readers(rest[0]!, Number(rest[1]));
} else {
  process.stderr.write('usage: sync-peer.js handoff <first|second> <sync|async> <segment> <rounds> <holdUs> | readers <segment> <ms>\n');
  process.exit(1);
}
