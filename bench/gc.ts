/**
 * GC count of the Topic hot path, for docs/performance.md ("The tail"): one process publishes 64 B and reads it
 * back with the round-trip loops' read (bench/api.ts pollView) `N` times and counts the garbage collections
 * (PerformanceObserver, kind 'gc'). Counts do not depend on the machine's load; pause times do.
 *
 * usage: node [--min-semi-space-size=16 --max-semi-space-size=16] dist/bench/gc.js [N=1000000]
 * prints: "<node flags>: <scavenges> scavenges, <other> other GCs, <ms> ms total pause in <N> publish+read"
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Topic } from '../src/index.js';
import { createTopic, pollView } from './api.js';
import { benchName } from './lib.js';

const n = Number(process.argv[2] ?? 1_000_000);
const name = benchName('gc');
const topic = createTopic(name, { capacity: 1 << 20, maxMessageSize: 4096 }, true);
const sub = Topic.subscribe(name);
const buf = new Uint8Array(64);
let minor = 0;
let other = 0;
let pauseMs = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    pauseMs += e.duration;
    if (((e as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
    else other++;
  }
});
try {
  // Warm-up (JIT) before counting.
  for (let i = 0; i < 20_000; i++) {
    topic.publish(buf);
    pollView(sub);
  }
  observer.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < n; i++) {
    topic.publish(buf);
    pollView(sub);
  }
  // GC entries are delivered asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  const flags = process.execArgv.join(' ') || 'default flags';
  process.stdout.write(`${flags}: ${minor} scavenges, ${other} other GCs, ${pauseMs.toFixed(2)} ms total pause in ${n} publish+read\n`);
} finally {
  sub.close();
  topic.close();
  Topic.unlink(name);
}
