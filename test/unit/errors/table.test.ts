import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, ShmbusError, isShmbusError } from '../../../src/index.js';

const root = new URL('../../../../', import.meta.url);

describe('the error table', () => {
  it('codes are in alphabetical order', () => {
    assert.deepEqual([...ERROR_CODES], [...ERROR_CODES].sort());
  });

  it('docs/errors.md has one row per code, in the same order, and no others', () => {
    const md = readFileSync(new URL('docs/errors.md', root), 'utf8');
    const rows = [...md.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(rows, [...ERROR_CODES]);
  });

  it('ShmbusError carries code, errno, syscall, segment and cause, and prints its code', () => {
    const cause = new Error('inner');
    const e = new ShmbusError('ERR_SHM_EXISTS', 'segment "cam0" already exists', { cause, errno: 17, syscall: 'shm_open', segment: 'cam0' });
    assert.ok(e instanceof Error);
    assert.ok(isShmbusError(e, 'ERR_SHM_EXISTS'));
    assert.equal(isShmbusError(e, 'ERR_CLOSED'), false);
    assert.equal(e.errno, 17);
    assert.equal(e.syscall, 'shm_open');
    assert.equal(e.segment, 'cam0');
    assert.equal(e.cause, cause);
    assert.equal(String(e), 'ShmbusError [ERR_SHM_EXISTS]: segment "cam0" already exists');
  });
});
