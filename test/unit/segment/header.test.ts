import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHeader, encodeHeader } from '../../../src/protocol/header.js';
import { HEADER_SIZE, HDR_STATE_OFFSET, SEGMENT_MAGIC } from '../../../src/protocol/layout.js';
import { isShmbusError } from '../../../src/index.js';

function make(payload: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE + payload);
  encodeHeader(new DataView(bytes.buffer), {
    kind: 'topic', payloadSize: payload, creatorPid: 4242, creatorStartTime: 987654321, createdAt: 1_700_000_000_000, creatorNs: 4026531836, params: [1, 2, 3],
  });
  new DataView(bytes.buffer).setUint32(HDR_STATE_OFFSET, 1, true);
  return bytes;
}

describe('segment header', () => {
  it('encodes the documented bytes: magic "SHMB", version 2, kind, sizes little-endian', () => {
    const b = make(1000);
    assert.deepEqual([...b.subarray(0, 4)], [0x53, 0x48, 0x4d, 0x42]);
    const v = new DataView(b.buffer);
    assert.equal(v.getUint32(0, true), SEGMENT_MAGIC);
    assert.equal(v.getUint16(4, true), 2);
    assert.equal(v.getUint16(6, true), 1); // topic
    assert.equal(v.getUint32(12, true), 128);
    assert.equal(v.getBigUint64(16, true), 1128n);
    assert.equal(v.getBigUint64(24, true), 1000n);
    assert.equal(v.getUint32(32, true), 4242);
    assert.equal(v.getBigUint64(40, true), 987654321n);
    assert.equal(v.getBigUint64(48, true), 1_700_000_000_000n);
    assert.equal(v.getUint32(56, true), 4026531836); // creatorNs
    assert.equal(v.getUint32(60, true), 0);
    assert.equal(v.getUint32(64, true), 1);
    assert.equal(v.getUint32(72, true), 3);
    assert.equal(v.getUint32(76, true), 0);
  });

  it('decodes what it encodes', () => {
    const h = decodeHeader(make(1000), 1128, 'x');
    assert.equal(h.kind, 'topic');
    assert.equal(h.payloadSize, 1000);
    assert.equal(h.creatorPid, 4242);
    assert.equal(h.creatorStartTime, 987654321);
    assert.equal(h.creatorNs, 4026531836);
    assert.deepEqual(h.params.slice(0, 4), [1, 2, 3, 0]);
  });

  it('refuses a header whose sizes disagree with the object', () => {
    assert.throws(() => decodeHeader(make(1000), 2000, 'x'), (e: unknown) => isShmbusError(e, 'ERR_SHM_CORRUPT'));
    assert.throws(() => decodeHeader(make(1000).subarray(0, 64), 1128, 'x'), (e: unknown) => isShmbusError(e, 'ERR_SHM_CORRUPT'));
  });

  it('every single-byte corruption of the fixed fields is refused or harmless, never a crash', () => {
    for (let off = 0; off < 64; off++) {
      for (const val of [0x00, 0x01, 0x7f, 0xff]) {
        const b = make(256);
        b[off] = val;
        try {
          decodeHeader(b, 384, 'x');
        } catch (e) {
          assert.ok(isShmbusError(e), `offset ${off}: ${String(e)}`);
        }
      }
    }
  });
});
