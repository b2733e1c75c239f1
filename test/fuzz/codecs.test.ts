/**
 * fast-check properties of the pure decoders over arbitrary bytes: the segment header (PROTOCOL §2) and the Frame
 * codec (§9). Only ShmbusError may come out (never a RangeError from a view past the end, a TypeError, a hang), and
 * a decoded frame's pixel view lies inside the message.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Frame, Parts, ShmbusError } from '../../src/index.js';
import { decodeHeader } from '../../src/protocol/index.js';
import { onlyShmbusErrors, params } from './lib.js';

describe('decoders over arbitrary bytes (fast-check)', () => {
  it('decodeHeader: any bytes and any object size give a header or ERR_SHM_* errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.oneof(fc.nat(), fc.constantFrom(0, 127, 128, 129, 2 ** 32, 2 ** 53)), (bytes, size) => {
        const r = onlyShmbusErrors('decodeHeader', () => decodeHeader(bytes, size, 'fuzz'));
        if (r instanceof ShmbusError) assert.match(r.code, /^ERR_SHM_(CORRUPT|VERSION|KIND)$/);
      }),
      params(),
    );
  });

  it('decodeHeader: a valid header with random fields overwritten is decoded or refused with a typed error', () => {
    // The header of the test vector (a ready topic segment of 128 + 5376 bytes, PROTOCOL §2).
    const base = new Uint8Array(readFileSync(fileURLToPath(new URL('../../../test/vectors/segment-header.bin', import.meta.url))));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(127), fc.nat(255)), { maxLength: 6 }), fc.oneof(fc.constant(128 + 5376), fc.nat(1 << 20)), (writes, size) => {
        const bytes = base.slice();
        for (const [at, v] of writes) bytes[at] = v;
        onlyShmbusErrors('decodeHeader', () => decodeHeader(bytes, size, 'fuzz'));
      }),
      params(),
    );
  });

  it('Frame.decode: arbitrary bytes give a frame whose view lies inside the message, or ERR_INVALID_ARG', () => {
    const good = Frame.encode({ width: 5, height: 3, format: 'RGB', data: new Uint8Array(45) });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          // A valid frame with a few bytes overwritten and a random length: gets past the magic into the checks.
          fc.tuple(fc.array(fc.tuple(fc.nat(good.length - 1), fc.nat(255)), { maxLength: 4 }), fc.nat(good.length + 16)).map(([w, len]) => {
            const b = new Uint8Array(len);
            b.set(good.subarray(0, Math.min(len, good.length)));
            for (const [at, v] of w) if (at < len) b[at] = v;
            return b;
          }),
        ),
        (bytes) => {
          const r = onlyShmbusErrors('Frame.decode', () => Frame.decode(bytes));
          if (r instanceof ShmbusError) {
            assert.equal(r.code, 'ERR_INVALID_ARG');
            return;
          }
          const d = r.data as ArrayBufferView;
          assert.equal(d.buffer, bytes.buffer, 'the pixels are a view of the message');
          assert.ok(d.byteOffset >= bytes.byteOffset && d.byteOffset + d.byteLength <= bytes.byteOffset + bytes.byteLength);
        },
      ),
      params(),
    );
  });

  it('Parts.decode: arbitrary bytes and the vector with bytes overwritten give a record whose bytes parts lie inside the message, or ERR_PARTS_CORRUPT', () => {
    const vector = new Uint8Array(readFileSync(fileURLToPath(new URL('../../../test/vectors/parts.bin', import.meta.url))));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc.tuple(fc.array(fc.tuple(fc.nat(vector.length - 1), fc.nat(255)), { maxLength: 4 }), fc.nat(vector.length + 16)).map(([w, len]) => {
            const b = new Uint8Array(len);
            b.set(vector.subarray(0, Math.min(len, vector.length)));
            for (const [at, v] of w) if (at < len) b[at] = v;
            return b;
          }),
        ),
        (bytes) => {
          const r = onlyShmbusErrors('Parts.decode', () => Parts.decode(bytes));
          if (r instanceof ShmbusError) {
            assert.match(r.code, /^ERR_(PARTS_CORRUPT|INVALID_ARG)$/);
            return;
          }
          for (const v of Object.values(r)) {
            if (v instanceof Uint8Array) {
              assert.equal(v.buffer, bytes.buffer, 'a bytes part is a view of the message');
              assert.ok(v.byteOffset >= bytes.byteOffset && v.byteOffset + v.byteLength <= bytes.byteOffset + bytes.byteLength);
            }
          }
        },
      ),
      params(),
    );
  });
});
