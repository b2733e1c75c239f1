/**
 * Soak: every channel under load in one process for a while (SHMBUS_SOAK_MINUTES with SHMBUS_SLOW=1, default 60;
 * 16 s in npm test), its resident memory (VmRSS) and open file descriptors sampled every second from /proc. After a
 * warm-up (the first quarter) they must stay flat: fds within 2 of the warm-up level (a create or open holds one
 * for a moment), RSS within 25% + 16 MiB of the warm-up level (the
 * garbage collector moves it; a leak per operation grows it without bound). Figures go to docs/reliability.md with
 * SHMBUS_RELIABILITY_REPORT=1.
 */
import { after as afterAll, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Mailbox, Mutex, Queue, Rpc, RwLock, Segment, Semaphore, Topic } from '../../src/index.js';
import { expectCleanExit, spawnPeer, uniqueName } from '../helpers/index.js';
import { SLOW, after, report } from './lib.js';

const prefix = uniqueName('soak');
afterAll(() => {
  for (const [suffix, unlink] of [['topic', Topic.unlink], ['queue', Queue.unlink], ['mb', Mailbox.unlink], ['rpc', Rpc.unlink], ['mutex', Mutex.unlink], ['rw', RwLock.unlink], ['sem', Semaphore.unlink], ['seg', Segment.unlink]] as const) {
    try {
      unlink(`${prefix}-${suffix}`);
    } catch {
      // removed by the worker
    }
  }
});

const SECONDS = SLOW ? Number(process.env['SHMBUS_SOAK_MINUTES'] ?? 60) * 60 : 16;

function sample(pid: number): { rss: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  return { rss, fds: readdirSync(`/proc/${pid}/fd`).length };
}

describe('soak', () => {
  it(`every channel under load for ${SECONDS} s: RSS and open fds stay flat`, { timeout: (SECONDS + 120) * 1000 }, async (t) => {
    const w = spawnPeer(fileURLToPath(new URL('./soak-worker.js', import.meta.url)), [prefix], { watchdogMs: (SECONDS + 100) * 1000 });
    await w.line('ready');
    const pid = w.child.pid!;
    const samples: { rss: number; fds: number }[] = [];
    for (let s = 0; s < SECONDS; s++) {
      await after(1000); // the sampling period (a clock, not a synchronisation)
      samples.push(sample(pid));
    }
    w.send('stop');
    const done = JSON.parse((await w.line(/^done/, 60_000)).slice(5)) as Record<string, number>;
    await expectCleanExit(w);
    const warm = Math.max(1, Math.floor(samples.length / 4));
    const base = samples.slice(0, warm);
    const rest = samples.slice(warm);
    const baseRss = Math.max(...base.map((x) => x.rss));
    const maxRss = Math.max(...rest.map((x) => x.rss));
    const fdSet = new Set(rest.map((x) => x.fds));
    const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
    const quarters = [1, 2, 3, 4].map((k) => mib(samples[Math.min(samples.length - 1, Math.floor((k * samples.length) / 4) - 1)]!.rss));
    const line = `${SECONDS} s: RSS ${mib(samples[0]!.rss)} MiB at start, ${mib(baseRss)} MiB after warm-up, max ${mib(maxRss)} MiB after (at each quarter: ${quarters.join(', ')}); open fds ${[...fdSet].join('/')}; ops ${JSON.stringify(done)}`;
    t.diagnostic(line);
    await report('soak', [{ kind: SLOW ? `soak ${SECONDS / 60} min` : `soak ${SECONDS} s (npm test)`, runs: 1, kills: 0, recoveries: 'n/a', violations: (Math.max(...fdSet) > Math.max(...base.map((x) => x.fds)) + 2 ? 1 : 0) + (maxRss > baseRss * 1.25 + 16 * 2 ** 20 ? 1 : 0), note: line }]);
    // A create or open holds one descriptor for a moment (the sampler may catch it): one leaked per round would be
    // thousands.
    const baseFds = Math.max(...base.map((x) => x.fds));
    assert.ok(Math.max(...fdSet) <= baseFds + 2, `open fds grew after warm-up: ${baseFds} then ${[...fdSet].join(', ')}`);
    assert.ok(maxRss <= baseRss * 1.25 + 16 * 2 ** 20, `RSS grew from ${mib(baseRss)} to ${mib(maxRss)} MiB`);
    assert.ok(done['requests']! > 0 && done['published']! > 0 && done['segments']! > 0);
  });
});
