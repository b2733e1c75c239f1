import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { osName, nameFromOsName, validateName } from '../../../src/protocol/names.js';
import { isShmbusError } from '../../../src/index.js';

describe('segment names', () => {
  it('maps a valid name to /shmbus.<name>', () => {
    assert.equal(osName('cam0'), '/shmbus.cam0');
    assert.equal(osName('a.b_c-D9'), '/shmbus.a.b_c-D9');
    assert.equal(osName('x'.repeat(200)), `/shmbus.${'x'.repeat(200)}`);
  });

  for (const bad of ['', '/', 'a/b', '.', '..', 'x'.repeat(201), 'nul\0byte', 'space name', 'ümlaut', '../etc']) {
    it(`refuses ${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 20)}...` : bad)} with ERR_INVALID_NAME`, () => {
      assert.throws(() => validateName(bad), (e: unknown) => isShmbusError(e, 'ERR_INVALID_NAME'));
    });
  }

  it('refuses a non-string with ERR_INVALID_NAME', () => {
    assert.throws(() => validateName(42), (e: unknown) => isShmbusError(e, 'ERR_INVALID_NAME'));
  });

  it('reads our names back from /dev/shm entries and ignores foreign ones', () => {
    assert.equal(nameFromOsName('shmbus.cam0'), 'cam0');
    assert.equal(nameFromOsName('/shmbus.cam0'), 'cam0');
    assert.equal(nameFromOsName('sem.foo'), undefined);
    assert.equal(nameFromOsName('shmbus.'), undefined);
  });
});
