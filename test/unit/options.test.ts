/** One rule for `livenessInterval` everywhere (src/base/options.ts livenessOption): whole ms from 1 to 2^31-1. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Event, Mutex, Queue, Rpc, Topic, isShmbusError } from '../../src/index.js';
import { uniqueName, unlinkQuietly } from '../helpers/index.js';

describe('livenessInterval is checked alike by every robust object', () => {
  for (const bad of [0, 0.5, -1, 2 ** 31, Infinity, '50']) {
    it(`refuses ${String(bad)} (${typeof bad}) with ERR_INVALID_ARG naming the option`, () => {
      const refused = (e: unknown): boolean => isShmbusError(e, 'ERR_INVALID_ARG') && /livenessInterval/.test(String(e));
      const opts = { livenessInterval: bad as number };
      const n = uniqueName('liveopt');
      try {
        assert.throws(() => Mutex.create(n, opts), refused);
        assert.throws(() => Event.create(n, opts), refused);
        assert.throws(() => Queue.create(n, opts), refused);
        assert.throws(() => Rpc.connect(n, opts), refused);
        assert.throws(() => Topic.subscribe(n, opts), refused);
      } finally {
        unlinkQuietly(n);
      }
    });
  }
});
