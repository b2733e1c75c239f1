/** Frame codec (PROTOCOL §9): round trips per dtype and format, stride, views without copies, corrupt input. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Frame, Topic, isShmbusError } from '../../../src/index.js';
import { FRAME_HEADER_SIZE } from '../../../src/codecs/frame.js';
import { trackNames } from '../../helpers/index.js';
import { seededRandom } from '../../helpers/seeded.js';

const names = trackNames();
after(names.cleanup);

describe('Frame codec', () => {
  it('encodes and decodes every dtype and format; decode returns views of the message bytes', () => {
    for (const dtype of ['uint8', 'uint16', 'float32'] as const) {
      for (const format of ['GRAY', 'RGB', 'BGR', 'RGBA', 'BGRA'] as const) {
        const channels = Frame.channelsOf(format);
        const [w, h] = [5, 3];
        const n = w * h * channels;
        const data = dtype === 'uint8' ? new Uint8Array(n) : dtype === 'uint16' ? new Uint16Array(n) : new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = dtype === 'float32' ? i / 4 : (i * 37) % (dtype === 'uint8' ? 256 : 65536);
        const bytes = Frame.encode({ width: w, height: h, dtype, format, data, timestamp: 1234.5 });
        assert.equal(bytes.length, FRAME_HEADER_SIZE + n * data.BYTES_PER_ELEMENT);
        const f = Frame.decode(bytes);
        assert.deepEqual(
          { w: f.width, h: f.height, c: f.channels, dtype: f.dtype, format: f.format, stride: f.stride, t: f.timestamp },
          { w, h, c: channels, dtype, format, stride: w * channels * data.BYTES_PER_ELEMENT, t: 1234.5 },
        );
        assert.deepEqual([...f.data], [...data]);
        assert.equal(f.data.buffer, bytes.buffer, 'a view, not a copy');
        assert.equal(f.data.byteOffset, bytes.byteOffset + FRAME_HEADER_SIZE);
      }
    }
  });

  it('honours a row stride: packed rows are padded; rows stride bytes apart are kept as they are', () => {
    const packed = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i + 1);
    const bytes = Frame.encode({ width: 3, height: 2, format: 'BGR', data: packed, stride: 12 });
    const f = Frame.decode(bytes);
    assert.equal(f.stride, 12);
    assert.deepEqual([...f.bytes], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 10, 11, 12, 13, 14, 15, 16, 17, 18, 0, 0, 0]);
    const again = Frame.encode({ width: 3, height: 2, format: 'BGR', data: f.bytes, stride: 12 });
    assert.deepEqual(again, bytes);
  });

  it('refuses bad shapes and corrupt bytes with ERR_INVALID_ARG, never an out-of-range view', () => {
    const bad = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e) => isShmbusError(e, 'ERR_INVALID_ARG') && re.test(e.message));
    const data = new Uint8Array(12);
    bad(() => Frame.encode({ width: 0, height: 2, format: 'GRAY', data }), /width and height/);
    bad(() => Frame.encode({ width: 2, height: 2, format: 'YUV' as 'RGB', data }), /format must be one of/);
    bad(() => Frame.encode({ width: 2, height: 2, format: 'RGB', channels: 4, data }), /has 3 channels/);
    bad(() => Frame.encode({ width: 2, height: 2, format: 'RGB', dtype: 'int8' as 'uint8', data }), /dtype/);
    bad(() => Frame.encode({ width: 2, height: 2, format: 'GRAY', dtype: 'uint16', stride: 5, data }), /stride/);
    bad(() => Frame.encode({ width: 2, height: 2, format: 'RGB', data: new Uint8Array(7) }), /needs 12/);
    const good = Frame.encode({ width: 2, height: 2, format: 'RGB', data, timestamp: 1 });
    bad(() => Frame.decode(good.subarray(0, 63)), /less than the 64-byte header/);
    bad(() => Frame.decode(good.subarray(0, good.length - 1)), /truncated/);
    const corrupt = (offset: number, value: number, width: 2 | 4, re: RegExp) => {
      const b = good.slice();
      const dv = new DataView(b.buffer);
      if (width === 2) dv.setUint16(offset, value, true);
      else dv.setUint32(offset, value, true);
      bad(() => Frame.decode(b), re);
    };
    corrupt(0, 0x12345678, 4, /magic/);
    corrupt(4, 2, 2, /version 2/);
    corrupt(6, 60, 2, /header size/);
    corrupt(8, 0, 4, /width and height/);
    corrupt(12, 0xffffffff, 4, /data size|more than a frame/);
    corrupt(16, 4, 4, /channels/);
    corrupt(20, 9, 2, /dtype code 9/);
    corrupt(22, 9, 2, /format code 9/);
    corrupt(24, 5, 4, /stride/);
    corrupt(28, 1, 4, /flags/);
    corrupt(40, 11, 4, /data size 11/);
    bad(() => Frame.decode('x' as unknown as Uint8Array), /Uint8Array/);
  });

  it('every truncation and 20000 seeded header mutations: ERR_INVALID_ARG or a view inside the message, nothing else', () => {
    const good = Frame.encode({ width: 3, height: 2, format: 'RGB', dtype: 'uint16', stride: 24, data: new Uint16Array(18).map((_, i) => i) });
    for (let n = 0; n < good.length; n++) assert.throws(() => Frame.decode(good.subarray(0, n)), (e) => isShmbusError(e, 'ERR_INVALID_ARG'), `truncated at ${n}`);
    const rand = seededRandom(99);
    let accepted = 0;
    for (let round = 0; round < 20000; round++) {
      const m = good.slice(0, good.length - (round % 5 === 0 ? rand(good.length) : 0));
      for (let k = 1 + rand(2); k > 0; k--) {
        const at = rand(Math.min(m.length, 48)); // the header fields (44..63 are reserved)
        if (at < m.length) m[at] = rand(2) === 0 ? m[at]! ^ (1 << rand(8)) : rand(256);
      }
      try {
        const f = Frame.decode(m);
        const inside = (v: ArrayBufferView) => v.buffer === m.buffer && v.byteOffset >= m.byteOffset + FRAME_HEADER_SIZE && v.byteOffset + v.byteLength <= m.byteOffset + m.length;
        assert.ok(inside(f.bytes) && inside(f.data) && f.bytes.length === f.stride * f.height, `round ${round}`);
        accepted++;
      } catch (e) {
        assert.ok(isShmbusError(e, 'ERR_INVALID_ARG'), `round ${round}: ${String(e)}`);
      }
    }
    assert.ok(accepted > 0 && accepted < 20000, `${accepted} accepted`);
  });

  it('loan renders straight into a topic ring; a subscriber decodes it in place (copy: false)', async () => {
    const name = names.name('frame');
    const pub = Topic.create(name, { capacity: 64 * 1024 });
    const sub = Topic.subscribe(name);
    try {
      await sub.ready;
      const loan = Frame.loan(pub, { width: 4, height: 2, dtype: 'float32', format: 'GRAY', timestamp: 99 });
      for (let i = 0; i < 8; i++) loan.data[i] = i + 0.5;
      assert.equal(loan.commit(), 1);
      const m = sub.tryRead({ copy: false })!;
      const f = Frame.decode(m.data);
      assert.equal(f.dtype, 'float32');
      assert.deepEqual([...f.data], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]);
      assert.ok(m.valid());
      assert.equal(f.timestamp, 99);
    } finally {
      sub.close();
      pub.close();
    }
  });
});
