/**
 * `{ timeout, signal }` checking shared by every wait (src/base/deadline.ts): a signal that is not an AbortSignal is
 * ERR_INVALID_ARG naming it and leaves no timer behind; AbortSignal.timeout() firing is ERR_TIMEOUT; any other abort
 * is ERR_ABORTED; the reason is the cause.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isShmbusError } from '../../src/index.js';
import { waitAsync } from '../../src/base/futex.js';
import { checkWait, throwIfAborted, validateTimeout } from '../../src/base/deadline.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('wait options', () => {
  it('a signal that is not an AbortSignal: ERR_INVALID_ARG naming signal and the type got, no timer left', async () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    const before = timers();
    for (const bad of ['yes', 1, {}, null, new AbortController()]) {
      await assert.rejects(
        waitAsync(words, 0, 0, { timeout: 60_000, signal: bad as unknown as AbortSignal }),
        (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG') && /^signal must be an AbortSignal \(got /.test(e.message),
      );
      assert.throws(() => throwIfAborted(bad as unknown as AbortSignal, 'x'), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
    }
    assert.throws(() => checkWait({ signal: 'yes' as unknown as AbortSignal }, 'read'), /got string "yes"/);
    assert.equal(timers(), before, 'no timer armed by a refused wait');
  });

  it('AbortSignal.timeout() firing is ERR_TIMEOUT with the TimeoutError as cause; other aborts ERR_ABORTED', async () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    await assert.rejects(
      waitAsync(words, 0, 0, { signal: AbortSignal.timeout(5) }),
      (e: unknown) => isShmbusError(e, 'ERR_TIMEOUT') && (e.cause as DOMException).name === 'TimeoutError',
    );
    const already = AbortSignal.abort(new DOMException('late', 'TimeoutError'));
    await assert.rejects(waitAsync(words, 0, 0, { signal: already }), (e: unknown) => isShmbusError(e, 'ERR_TIMEOUT'));
    const reason = new Error('stop');
    await assert.rejects(
      waitAsync(words, 0, 0, { signal: AbortSignal.abort(reason) }),
      (e: unknown) => isShmbusError(e, 'ERR_ABORTED') && e.cause === reason,
    );
    const ac = new AbortController();
    const p = waitAsync(words, 0, 0, { signal: ac.signal });
    ac.abort(); // default reason: an AbortError DOMException
    await assert.rejects(p, (e: unknown) => isShmbusError(e, 'ERR_ABORTED') && (e.cause as DOMException).name === 'AbortError');
  });

  it('timeouts: bad ones are ERR_INVALID_ARG with the type got; huge ones are kept, 1e15 ms and up is forever', () => {
    for (const bad of [-1, NaN, '10', null]) {
      assert.throws(() => validateTimeout(bad), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG') && /^timeout must be/.test(e.message));
    }
    assert.throws(() => validateTimeout('10'), /got string "10"/);
    assert.equal(validateTimeout(2 ** 40), 2 ** 40);
    assert.equal(validateTimeout(1e15), Infinity);
    assert.equal(validateTimeout(undefined), Infinity);
  });
});
