import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chaosRun, lockTestScope } from '../helpers/locks.js';

const { name } = lockTestScope();

// Scaled-down version of lock-chaos.slow.test.ts (SHMBUS_SLOW=1 runs 200 kills per primitive).
describe('locks survive kill -9 at arbitrary instructions (scaled down: 6 kills each)', () => {
  for (const kind of ['mutex', 'rwlock', 'semaphore'] as const) {
    it(`${kind}: processes killed while updating journaled state never wedge the others or corrupt the state`, async (t) => {
      const { recoveries, heldKills } = await chaosRun(name(`chaos-${kind}`), kind, 6);
      t.diagnostic(`${kind}: ${recoveries} recoveries after 6 kills (${heldKills} of them while holding the lock)`);
      // Each kill of a holder is followed by exactly one recovered acquisition; the other kills may add more.
      assert.ok(heldKills > 0 && recoveries >= heldKills, `${recoveries} recoveries for ${heldKills} kills of a holder`);
    });
  }
});
