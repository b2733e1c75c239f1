import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chaosRun, lockTestScope } from '../helpers/locks.js';

const { name } = lockTestScope();

describe('locks survive kill -9 at arbitrary instructions (full size: 200 kills each)', () => {
  for (const kind of ['mutex', 'rwlock', 'semaphore'] as const) {
    it(`${kind}: 200 processes killed while updating journaled state never wedge the others or corrupt the state`, async (t) => {
      const { recoveries, heldKills } = await chaosRun(name(`chaosslow-${kind}`), kind, 200);
      t.diagnostic(`${kind}: ${recoveries} recoveries after 200 kills (${heldKills} of them while holding the lock)`);
      // Each kill of a holder is followed by exactly one recovered acquisition; the other kills may add more.
      assert.ok(heldKills > 0 && recoveries >= heldKills, `${recoveries} recoveries for ${heldKills} kills of a holder`);
    });
  }
});
