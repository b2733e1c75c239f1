/**
 * `npm run demo`: two processes share one segment. The parent writes a line of text into shared memory and wakes
 * the child; the child reads it in place, answers in upper case and wakes the parent. Then it reports the round
 * trip times. Run: npm run demo
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Segment } from '../../src/index.js';

// Payload layout of this demo (a toy protocol; channels such as Topic and Queue do this for you):
// word 0: turn counter (odd = parent wrote a request, even = child wrote the reply); word 1: text length; bytes 64..: text
const TURN = 0;
const LEN = 1;
const TEXT = 64;
const enc = new TextEncoder();
const dec = new TextDecoder();

function put(seg: Segment, text: string): void {
  const bytes = enc.encode(text);
  seg.bytes.set(bytes, TEXT);
  Atomics.store(seg.words, LEN, bytes.length);
}
const get = (seg: Segment): string => dec.decode(seg.bytes.slice(TEXT, TEXT + Atomics.load(seg.words, LEN)));

async function child(name: string): Promise<void> {
  const seg = Segment.open(name);
  for (let turn = 1; ; turn += 2) {
    // Sleep until the parent bumps the turn word (a futex wake across processes, no polling).
    while (Atomics.load(seg.words, TURN) < turn) await seg.waitAsync(TURN, turn - 1, { timeout: 5000 });
    const text = get(seg);
    if (text === 'bye') break;
    put(seg, text.toUpperCase());
    // Release: the reply text is written before the turn word says so.
    Atomics.store(seg.words, TURN, turn + 1);
    seg.wake(TURN);
  }
  seg.close();
}

async function parent(): Promise<void> {
  const name = `demo-${process.pid}`;
  const seg = Segment.create(name, { size: 4096 });
  console.log(`parent ${process.pid}: created segment "${name}" (${seg.size} bytes, mode 0600) in /dev/shm/shmbus.${name}`);
  const kid = fork(fileURLToPath(import.meta.url), ['child', name]);
  console.log(`parent: started child ${kid.pid}`);
  const lines = ['hello from shared memory', 'no sockets, no pipes', 'just bytes and a futex'];
  const times: number[] = [];
  try {
    let turn = 1;
    for (let i = 0; i < 1000 + lines.length; i++, turn += 2) {
      const text = i < lines.length ? lines[i]! : `ping ${i}`;
      const t0 = process.hrtime.bigint();
      put(seg, text);
      Atomics.store(seg.words, TURN, turn);
      seg.wake(TURN);
      while (Atomics.load(seg.words, TURN) < turn + 1) await seg.waitAsync(TURN, turn, { timeout: 5000 });
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (i < lines.length) console.log(`parent: sent "${text}" -> child answered "${get(seg)}"`);
    }
    put(seg, 'bye');
    Atomics.store(seg.words, TURN, turn);
    seg.wake(TURN);
    await new Promise((r) => kid.once('exit', r));
    times.sort((a, b) => a - b);
    const p = (q: number): string => times[Math.floor(q * (times.length - 1))]!.toFixed(1);
    console.log(`parent: ${times.length} round trips through shared memory with futex wake-ups: p50 ${p(0.5)} µs, p99 ${p(0.99)} µs`);
  } finally {
    seg.close();
    Segment.unlink(name);
    console.log(`parent: closed and unlinked "${name}"`);
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]!);
else await parent();
