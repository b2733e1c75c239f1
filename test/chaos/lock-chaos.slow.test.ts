import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chaosRun, lockTestScope } from '../helpers/locks.js';

const { name } = lockTestScope();

describe('locks survive kill -9 at arbitrary instructions (full size: 200 kills each)', () => {
  for (const kind of ['mutex', 'rwlock', 'semaphore'] as const) {
    it(`${kind}: 200 processes killed while updating journaled state never wedge the others or corrupt the state`, async (t) => {
      const recoveries = await chaosRun(name(`chaosslow-${kind}`), kind, 200);
      assert.ok(recoveries >= 1, 'a holder was killed holding the lock, so some process must have recovered it');
      t.diagnostic(`${kind}: ${recoveries} recoveries after 200 kills`);
    });
  }
});
