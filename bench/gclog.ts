/**
 * GC log for the tail attribution (bench/tail.ts): loaded with `node --import <this file>` (children inherit it
 * through `process.execArgv`), it records every garbage collection of this process when SHMBUS_GC_LOG names a
 * directory, and at exit writes `<dir>/<pid>.gc`: one line per GC, "<start ns> <duration ns> <kind>" with the start
 * on CLOCK_MONOTONIC (process.hrtime's clock, the one `perf record -k mono` uses). Does nothing without the variable.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, constants, type PerformanceEntry, type PerformanceObserverEntryList } from 'node:perf_hooks';

const dir = process.env['SHMBUS_GC_LOG'];
/** Writes this process's log now (also done at exit); a no-op without SHMBUS_GC_LOG. */
export let flushGcLog = (): void => undefined;
if (dir) {
  // performance.now() counts from a monotonic origin: origin (ns) = hrtime now - performance.now() now.
  const originNs = Number(process.hrtime.bigint()) - performance.now() * 1e6;
  const lines: string[] = [];
  const take = (list: PerformanceObserverEntryList | PerformanceEntry[]): void => {
    for (const e of Array.isArray(list) ? list : list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      const name = kind === constants.NODE_PERFORMANCE_GC_MINOR ? 'minor' : kind === constants.NODE_PERFORMANCE_GC_MAJOR ? 'major' : String(kind);
      lines.push(`${Math.round(originNs + e.startTime * 1e6)} ${Math.round(e.duration * 1e6)} ${name}`);
    }
  };
  const observer = new PerformanceObserver((list) => take(list));
  observer.observe({ entryTypes: ['gc'] });
  flushGcLog = () => {
    take(observer.takeRecords());
    writeFileSync(join(dir, `${process.pid}.gc`), lines.join('\n') + '\n');
  };
  process.on('exit', () => flushGcLog());
}
