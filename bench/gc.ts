/**
 * GC count of the hot paths, for docs/performance.md ("The tail"): one process sends 64 B and reads it back `N`
 * times through one path and counts the garbage collections (PerformanceObserver, kind 'gc'). Counts do not depend
 * on the machine's load; pause times do. A scavenge stops the thread for 0.1-1 ms (more when the process is pinned
 * to one core with V8's helper threads): one every 1000 messages puts it into the p99.9 of a round trip.
 *
 * usage: node [--min-semi-space-size=16 --max-semi-space-size=16] dist/bench/gc.js [N=1000000] [path...]
 *   paths: topic-poll (publish + tryRead copy: false, reuse), topic-into (tryRead into a buffer, reuse),
 *          topic-await (publish + await read(), reuse), queue-copy (trySend + tryReceive), queue-into
 *          (tryReceive({ into })), queue-view (tryReceive({ copy: false }) + release); default: all
 * prints per path: "<path>: <scavenges> scavenges, <other> other GCs, <ms> ms total pause in <N> messages"
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Queue, Topic } from '../src/index.js';
import { awaitRead, createTopic, pollView } from './api.js';
import { benchName } from './lib.js';

const n = Number(process.argv[2] ?? 1_000_000);
const asked = process.argv.slice(3);
let minor = 0;
let other = 0;
let pauseMs = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    pauseMs += e.duration;
    if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
    else other++;
  }
});

/** Runs `once` for warm-up (JIT), then `n` times while counting GCs. */
async function count(path: string, once: () => void | Promise<unknown>): Promise<void> {
  for (let i = 0; i < 20_000; i++) await once();
  minor = other = pauseMs = 0;
  observer.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < n; i++) await once();
  // GC entries are delivered asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  process.stdout.write(`${path}: ${minor} scavenges, ${other} other GCs, ${pauseMs.toFixed(2)} ms total pause in ${n} messages\n`);
}

const buf = new Uint8Array(64);
const into = new Uint8Array(64);
const INTO = Object.freeze({ into, reuse: true });
const Q_INTO = Object.freeze({ into });
const Q_VIEW = Object.freeze({ copy: false });

async function topic(path: string, read: 'poll' | 'into' | 'await'): Promise<void> {
  const name = benchName('gc');
  const pub = createTopic(name, { capacity: 1 << 20, maxMessageSize: 4096 }, true);
  const sub = Topic.subscribe(name);
  try {
    // The loops are synchronous where the path is (no await per message unless the path awaits).
    if (read === 'await') {
      await count(path, async () => {
        pub.publish(buf);
        await awaitRead(sub);
      });
    } else {
      const loop = (k: number): void => {
        for (let i = 0; i < k; i++) {
          pub.publish(buf);
          if (read === 'poll') pollView(sub);
          else sub.tryRead(INTO);
        }
      };
      loop(20_000);
      minor = other = pauseMs = 0;
      observer.observe({ entryTypes: ['gc'] });
      loop(n);
      await new Promise((resolve) => setTimeout(resolve, 50));
      observer.disconnect();
      process.stdout.write(`${path}: ${minor} scavenges, ${other} other GCs, ${pauseMs.toFixed(2)} ms total pause in ${n} messages\n`);
    }
  } finally {
    sub.close();
    pub.close();
    Topic.unlink(name);
  }
}

function queue(path: string, read: 'copy' | 'into' | 'view'): void {
  const name = benchName('gcq');
  const q = Queue.create(name, { slots: 64, maxMessageSize: 64 });
  try {
    const loop = (k: number): void => {
      for (let i = 0; i < k; i++) {
        q.trySend(buf);
        if (read === 'copy') q.tryReceive();
        else if (read === 'into') q.tryReceive(Q_INTO);
        else q.tryReceive(Q_VIEW)!.release();
      }
    };
    loop(20_000);
    minor = other = pauseMs = 0;
    observer.observe({ entryTypes: ['gc'] });
    loop(n);
  } finally {
    q.close();
    Queue.unlink(name);
  }
}

const paths: Record<string, () => Promise<void>> = {
  'topic-poll': () => topic('topic-poll', 'poll'),
  'topic-into': () => topic('topic-into', 'into'),
  'topic-await': () => topic('topic-await', 'await'),
  'queue-copy': async () => queue('queue-copy', 'copy'),
  'queue-into': async () => queue('queue-into', 'into'),
  'queue-view': async () => queue('queue-view', 'view'),
};
for (const [path, run] of Object.entries(paths)) {
  if (asked.length > 0 && !asked.includes(path)) continue;
  await run();
  if (path.startsWith('queue')) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    observer.disconnect();
    process.stdout.write(`${path}: ${minor} scavenges, ${other} other GCs, ${pauseMs.toFixed(2)} ms total pause in ${n} messages\n`);
  }
}
process.stdout.write(`node flags: ${process.execArgv.join(' ') || 'default'}\n`);
