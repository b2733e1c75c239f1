import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeHeader, encodeHeader } from '../../../src/protocol/header.js';
import { HEADER_SIZE, HDR_STATE_OFFSET } from '../../../src/protocol/layout.js';

const vectors = new URL('../../../../test/vectors/', import.meta.url);

describe('test vectors (shared with the Python and C peers)', () => {
  it('segment-header.bin decodes to segment-header.json and re-encodes to the same bytes', () => {
    const bin = new Uint8Array(readFileSync(new URL('segment-header.bin', vectors)));
    const expect = JSON.parse(readFileSync(new URL('segment-header.json', vectors), 'utf8')) as Record<string, unknown>;
    const h = decodeHeader(bin, expect['totalSize'] as number, 'vector');
    for (const k of ['kind', 'version', 'state', 'headerSize', 'totalSize', 'payloadSize', 'creatorPid', 'creatorStartTime', 'createdAt', 'creatorNs']) {
      assert.equal((h as unknown as Record<string, unknown>)[k], expect[k], k);
    }
    assert.deepEqual(h.params, expect['params']);
    const again = new Uint8Array(HEADER_SIZE);
    encodeHeader(new DataView(again.buffer), h);
    new DataView(again.buffer).setUint32(HDR_STATE_OFFSET, 1, true);
    assert.deepEqual(again, bin);
  });
});
