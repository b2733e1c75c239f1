/**
 * The async-wait suites again in thread-per-wait mode (SHMBUS_WAITER=threads, the fallback for kernels without
 * futex_waitv): the default run covers futex_waitv, this one the other waiter.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FILES = ['segment-waits', 'event', 'semaphore'].map((f) => fileURLToPath(new URL(`./${f}.test.js`, import.meta.url)));

describe('thread-per-wait mode', () => {
  for (const file of FILES) {
    it(`${file.split('/').pop()} passes with SHMBUS_WAITER=threads`, () => {
      // Without NODE_TEST_CONTEXT: set by an outer `node --test`, it would make this run report to it, not to us.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], {
        env: { ...env, SHMBUS_WAITER: 'threads' },
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(r.status, 0, `${r.stdout.split('\n').filter((l) => /not ok|fail/.test(l)).join('\n')}\n${r.stderr}`);
      assert.match(r.stdout, /^# fail 0$/m);
    });
  }
});
