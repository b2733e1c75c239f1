/**
 * The async-wait suites again with the fallback waiters: thread-per-wait (SHMBUS_WAITER=threads, for kernels without
 * futex_waitv) and the futex_waitv group (SHMBUS_WAITER=waitv, for kernels without io_uring FUTEX_WAIT or where
 * seccomp blocks io_uring, e.g. Docker's default profile). The default run covers io_uring where it exists.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const file = (f: string): string => fileURLToPath(new URL(`./${f}.test.js`, import.meta.url));
// The default run covers the io_uring waiter where the kernel has it: the futex_waitv group gets the wait suite too.
const RUNS = [
  ...['segment-waits', 'event', 'semaphore'].map((f) => [file(f), 'threads'] as const),
  [file('segment-waits'), 'waitv'] as const,
];

describe('fallback waiters', () => {
  for (const [file, waiter] of RUNS) {
    it(`${file.split('/').pop()} passes with SHMBUS_WAITER=${waiter}`, () => {
      // Without NODE_TEST_CONTEXT: set by an outer `node --test`, it would make this run report to it, not to us.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], {
        env: { ...env, SHMBUS_WAITER: waiter },
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(r.status, 0, `${r.stdout.split('\n').filter((l) => /not ok|fail/.test(l)).join('\n')}\n${r.stderr}`);
      assert.match(r.stdout, /^# fail 0$/m);
    });
  }
});
