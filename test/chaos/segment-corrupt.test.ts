import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync, rmSync } from 'node:fs';
import { Segment, isShmbusError, type ShmbusErrorCode } from '../../src/index.js';
import { encodeHeader } from '../../src/protocol/header.js';
import { HEADER_SIZE, HDR_STATE_OFFSET, HDR_VERSION_OFFSET, HDR_KIND_OFFSET, HDR_TOTAL_SIZE_OFFSET, PROTOCOL_VERSION } from '../../src/protocol/layout.js';
import { selfIdentity } from '../../src/base/process.js';
import { uniqueName, unlinkQuietly } from '../helpers/index.js';

const names: string[] = [];
after(() => unlinkQuietly(...names));

/** Writes raw bytes as /dev/shm/shmbus.<name>: a segment some broken or foreign program left behind. */
function plant(bytes: Uint8Array): string {
  const name = uniqueName('corrupt');
  names.push(name);
  writeFileSync(`/dev/shm/shmbus.${name}`, bytes, { mode: 0o600 });
  return name;
}

function validHeader(payload: number, patch?: (v: DataView) => void): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE + payload);
  const v = new DataView(bytes.buffer);
  encodeHeader(v, { kind: 'raw', payloadSize: payload, creatorPid: process.pid, creatorStartTime: 0, createdAt: Date.now(), params: [] });
  v.setUint32(HDR_STATE_OFFSET, 1, true);
  patch?.(v);
  return bytes;
}

const refused = (code: ShmbusErrorCode) => (e: unknown) => isShmbusError(e, code);

describe('corrupt and foreign segments are refused with typed errors', () => {
  it('a well-formed planted header opens (the test plants correctly)', () => {
    const seg = Segment.open(plant(validHeader(256)));
    assert.equal(seg.size, 256);
    seg.close();
  });

  it('random garbage: ERR_SHM_CORRUPT', () => {
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(HEADER_SIZE + 64);
      bytes.writeUInt32LE(0xdeadbeef, 0); // never the magic
      assert.throws(() => Segment.open(plant(bytes), { timeout: 50 }), refused('ERR_SHM_CORRUPT'));
    }
  });

  it('truncated objects (smaller than a header, and empty): ERR_SHM_CORRUPT after a bounded wait', () => {
    assert.throws(() => Segment.open(plant(new Uint8Array(10)), { timeout: 50 }), refused('ERR_SHM_CORRUPT'));
    assert.throws(() => Segment.open(plant(new Uint8Array(0)), { timeout: 50 }), refused('ERR_SHM_CORRUPT'));
    assert.throws(() => Segment.open(plant(validHeader(256).subarray(0, 100)), { timeout: 50 }), refused('ERR_SHM_CORRUPT'));
  });

  it('a header that claims more bytes than the object has: ERR_SHM_CORRUPT, no out-of-range read', () => {
    const h = validHeader(256, (v) => v.setBigUint64(HDR_TOTAL_SIZE_OFFSET, 1n << 40n, true));
    assert.throws(() => Segment.open(plant(h)), refused('ERR_SHM_CORRUPT'));
    const h2 = validHeader(256, (v) => v.setBigUint64(HDR_TOTAL_SIZE_OFFSET, 0xffffffffffffffffn, true));
    assert.throws(() => Segment.open(plant(h2)), refused('ERR_SHM_CORRUPT'));
  });

  it('a newer protocol version: ERR_SHM_VERSION', () => {
    const h = validHeader(64, (v) => v.setUint16(HDR_VERSION_OFFSET, PROTOCOL_VERSION + 1, true));
    assert.throws(() => Segment.open(plant(h)), refused('ERR_SHM_VERSION'));
  });

  it('an unknown kind: ERR_SHM_CORRUPT; a known but different kind: ERR_SHM_KIND', () => {
    assert.throws(() => Segment.open(plant(validHeader(64, (v) => v.setUint16(HDR_KIND_OFFSET, 999, true)))), refused('ERR_SHM_CORRUPT'));
    assert.throws(() => Segment.open(plant(validHeader(64)), { kind: 'topic' }), refused('ERR_SHM_KIND'));
  });

  it('a bad state word: ERR_SHM_CORRUPT at once', () => {
    assert.throws(() => Segment.open(plant(validHeader(64, (v) => v.setUint32(HDR_STATE_OFFSET, 7, true)))), refused('ERR_SHM_CORRUPT'));
  });

  it('a header left initialising by a dead creator: ERR_SHM_CORRUPT without waiting the whole timeout', () => {
    const h = validHeader(64, (v) => {
      v.setUint32(HDR_STATE_OFFSET, 0, true);
      v.setUint32(32, 0x3ffffe, true); // a pid that does not exist
    });
    assert.throws(() => Segment.open(plant(h), { timeout: 60_000 }), refused('ERR_SHM_CORRUPT'));
  });

  it('a header left initialising by a live creator: ERR_TIMEOUT at the timeout (it is still being created)', () => {
    const me = selfIdentity();
    const h = validHeader(64, (v) => {
      v.setUint32(HDR_STATE_OFFSET, 0, true);
      v.setUint32(32, me.pid, true);
      v.setBigUint64(40, BigInt(me.startTime), true);
      v.setUint32(56, me.ns, true);
    });
    assert.throws(() => Segment.open(plant(h), { timeout: 30 }), refused('ERR_TIMEOUT'));
  });

  it('state 0 with a half-written header (bad magic) is waited for, then refused: nothing is judged before ready', () => {
    const h = validHeader(64, (v) => {
      v.setUint32(HDR_STATE_OFFSET, 0, true);
      v.setUint32(0, 0x00004853, true); // magic half written
    });
    assert.throws(() => Segment.open(plant(h), { timeout: 30 }), refused('ERR_SHM_CORRUPT'));
  });

  it('a foreign object under another name opens with openRaw, with no header expected', () => {
    const os = `shmbus-test-foreign-${process.pid}`;
    writeFileSync(`/dev/shm/${os}`, Buffer.from('hello foreign'));
    try {
      const seg = Segment.openRaw(`/${os}`);
      assert.equal(seg.kind, 'foreign');
      assert.equal(Buffer.from(seg.bytes).toString(), 'hello foreign');
      const part = Segment.openRaw(`/${os}`, { size: 5, readOnly: true });
      assert.equal(Buffer.from(part.bytes).toString(), 'hello');
      part.bytes[0] = 0x4a; // copy-on-write: private to this mapping, no crash
      assert.equal(seg.bytes[0], 0x68);
      assert.throws(() => Segment.openRaw(`/${os}`, { size: 1 << 20 }), refused('ERR_INVALID_ARG'));
      assert.throws(() => Segment.openRaw('no-slash'), refused('ERR_INVALID_NAME'));
      assert.throws(() => Segment.openRaw(`/${os}-missing`), refused('ERR_SHM_NOT_FOUND'));
      seg.close();
      part.close();
    } finally {
      rmSync(`/dev/shm/${os}`, { force: true });
    }
  });
});
