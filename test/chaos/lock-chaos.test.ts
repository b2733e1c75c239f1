import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chaosRun, lockTestScope } from '../helpers/locks.js';

const { name } = lockTestScope();

// Scaled-down version of lock-chaos.slow.test.ts (SHMBUS_SLOW=1 runs 200 kills per primitive).
describe('locks survive kill -9 at arbitrary instructions (scaled down: 6 kills each)', () => {
  for (const kind of ['mutex', 'rwlock', 'semaphore'] as const) {
    it(`${kind}: processes killed while updating journaled state never wedge the others or corrupt the state`, async (t) => {
      const recoveries = await chaosRun(name(`chaos-${kind}`), kind, 6);
      assert.ok(recoveries >= 1, 'a holder was killed holding the lock, so some process must have recovered it');
      t.diagnostic(`${kind}: ${recoveries} recoveries after 6 kills`);
    });
  }
});
