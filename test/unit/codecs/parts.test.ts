/**
 * Parts codec (PROTOCOL §10): round trips of every value type, the exact layout, bytes parts as aligned views (a
 * Frame inside decodes in place), encodeInto a loan, and corrupt input: every truncation, every header and entry
 * field spoiled, and seeded random mutations give ERR_PARTS_CORRUPT or a record whose views lie inside the message.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Frame, Parts, Topic, isShmbusError, type PartsRecord } from '../../../src/index.js';
import { PARTS_HEADER_SIZE } from '../../../src/codecs/parts.js';
import { trackNames } from '../../helpers/index.js';
import { seededRandom } from '../../helpers/seeded.js';

const names = trackNames();
after(names.cleanup);

const isCode = (code: 'ERR_PARTS_CORRUPT' | 'ERR_INVALID_ARG') => (e: unknown) => isShmbusError(e, code);

/** A record with one part of each type and a Frame in a bytes part. */
function sample(): { record: PartsRecord; frame: Uint8Array } {
  const frame = Frame.encode({ width: 3, height: 2, format: 'GRAY', dtype: 'float32', data: new Float32Array([0.5, 1, 1.5, 2, 2.5, 3]) });
  return {
    frame,
    record: { image: frame, params: { op: 'gray', size: [640, 480] }, note: 'héllo ✓', scale: 0.25, status: -2n, raw: new Uint8Array(0), ok: true },
  };
}

/** Little-endian field writers for spoiling records. */
function put(bytes: Uint8Array, offset: number, width: 1 | 2 | 4, value: number): Uint8Array {
  const copy = bytes.slice();
  const dv = new DataView(copy.buffer);
  if (width === 1) dv.setUint8(offset, value);
  else if (width === 2) dv.setUint16(offset, value, true);
  else dv.setUint32(offset, value >>> 0, true);
  return copy;
}

/** Every Uint8Array in a decoded record lies inside `msg` (the safety property). */
function viewsInside(rec: PartsRecord, msg: Uint8Array): void {
  for (const v of Object.values(rec)) {
    if (v instanceof Uint8Array) {
      assert.equal(v.buffer, msg.buffer);
      assert.ok(v.byteOffset >= msg.byteOffset && v.byteOffset + v.byteLength <= msg.byteOffset + msg.byteLength);
    }
  }
}

describe('Parts codec', () => {
  it('round-trips every value type; bytes parts are views of the message, 64-byte aligned in the record', () => {
    const { record, frame } = sample();
    const bytes = Parts.encode(record);
    assert.equal(bytes.length, Parts.byteLength(record));
    const got = Parts.decode(bytes);
    assert.deepEqual(Object.keys(got), Object.keys(record), 'directory order = key order');
    assert.deepEqual(got['params'], { op: 'gray', size: [640, 480] });
    assert.equal(got['note'], 'héllo ✓');
    assert.equal(got['scale'], 0.25);
    assert.equal(got['status'], -2n);
    assert.equal(got['ok'], true);
    const image = got['image'] as Uint8Array;
    assert.deepEqual([...image], [...frame]);
    assert.equal(image.buffer, bytes.buffer, 'a view, not a copy');
    assert.equal((image.byteOffset - bytes.byteOffset) % 64, 0);
    assert.equal((got['raw'] as Uint8Array).length, 0);
    // The Frame inside decodes in place: its float32 samples are a view of the record's bytes. (The type parameter
    // states the expected record, unchecked.)
    const f = Frame.decode(Parts.decode<{ image: Uint8Array; status: bigint }>(bytes).image);
    assert.equal(f.data.buffer, bytes.buffer);
    assert.deepEqual([...f.data], [0.5, 1, 1.5, 2, 2.5, 3]);
  });

  it('numbers: float64 keeps NaN, -0 and infinities; int64 keeps its extremes; null, arrays and nesting go as JSON', () => {
    const rec = { nan: NaN, negZero: -0, inf: -Infinity, min: -(2n ** 63n), max: 2n ** 63n - 1n, nil: null, list: [1, 'a', { b: [null, false] }] };
    const got = Parts.decode(Parts.encode(rec));
    assert.ok(Number.isNaN(got['nan']));
    assert.ok(Object.is(got['negZero'], -0));
    assert.equal(got['inf'], -Infinity);
    assert.equal(got['min'], -(2n ** 63n));
    assert.equal(got['max'], 2n ** 63n - 1n);
    assert.equal(got['nil'], null);
    assert.deepEqual(got['list'], [1, 'a', { b: [null, false] }]);
  });

  it('lays the bytes out as PROTOCOL §10 says (header, name + 0, aligned value, directory)', () => {
    const bytes = Parts.encode({ ab: 'xy', n: 7n });
    const dv = new DataView(bytes.buffer);
    // header
    assert.deepEqual([dv.getUint32(0, true), dv.getUint16(4, true), dv.getUint16(6, true), dv.getUint32(8, true), dv.getUint32(12, true)], [0x54504253, 1, 32, 2, 0]);
    // "ab\0" at 32, "xy\0" at 40, "n\0" at 43, int64 at 48, directory at 56
    assert.deepEqual([...bytes.subarray(32, 35)], [0x61, 0x62, 0]);
    assert.deepEqual([...bytes.subarray(40, 43)], [0x78, 0x79, 0]);
    assert.deepEqual([...bytes.subarray(43, 45)], [0x6e, 0]);
    assert.equal(dv.getBigInt64(48, true), 7n);
    assert.deepEqual([dv.getUint32(16, true), dv.getUint32(20, true)], [56, 56 + 32]);
    assert.deepEqual([dv.getUint32(56, true), dv.getUint16(60, true), dv.getUint8(62), dv.getUint8(63), dv.getUint32(64, true), dv.getUint32(68, true)], [32, 2, 2, 0, 40, 2]);
    assert.deepEqual([dv.getUint32(72, true), dv.getUint16(76, true), dv.getUint8(78), dv.getUint32(80, true), dv.getUint32(84, true)], [43, 1, 5, 48, 8]);
    assert.equal(bytes.length, 88);
    // The empty record is the header alone.
    assert.deepEqual(Parts.decode(Parts.encode({})), {});
    assert.equal(Parts.encode({}).length, PARTS_HEADER_SIZE);
  });

  it('a part named __proto__ is an own property, never the prototype; undefined values are left out', () => {
    const rec = JSON.parse('{"__proto__": "x", "constructor": 1}') as PartsRecord;
    const got = Parts.decode(Parts.encode({ ...rec, skip: undefined as unknown as string }));
    assert.equal(Object.getPrototypeOf(got), Object.prototype);
    assert.ok(Object.hasOwn(got, '__proto__'));
    assert.equal(got['__proto__'], 'x');
    assert.equal(got['constructor'], 1);
    assert.ok(!('skip' in got));
  });

  it('encodeInto writes into a larger target (a loan); trailing bytes are ignored; a short target is refused untouched', () => {
    const { record } = sample();
    const size = Parts.byteLength(record);
    const room = new Uint8Array(size + 100).fill(0xee);
    const target = room.subarray(8); // 8-aligned, like a ring payload
    assert.equal(Parts.encodeInto(target, record), size);
    assert.deepEqual(target.subarray(0, size), Parts.encode(record));
    const got = Parts.decode(target);
    viewsInside(got, target);
    assert.deepEqual(Frame.decode(got['image'] as Uint8Array).data.length, 6);
    const small = new Uint8Array(size - 1).fill(7);
    assert.throws(() => Parts.encodeInto(small, record), isCode('ERR_INVALID_ARG'));
    assert.ok(small.every((b) => b === 7), 'nothing written');
    assert.throws(() => Parts.encodeInto([] as unknown as Uint8Array, record), isCode('ERR_INVALID_ARG'));
  });

  it('encode refuses what it cannot write with ERR_INVALID_ARG', () => {
    const bad: unknown[] = [
      { '': 1 },
      { ['x'.repeat(256)]: 1 },
      { ['é'.repeat(128)]: 1 }, // 256 bytes of UTF-8
      { 'a\0b': 1 },
      { '\ud800': 1 },
      { s: 'lone \udc00' },
      { big: 2n ** 63n },
      { small: -(2n ** 63n) - 1n },
      { f: () => 1 },
      { sym: Symbol('s') },
      { date: new Date(0) },
      { map: new Map() },
      { nested: { n: 1n } },
      Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`p${i}`, i])),
      null,
      [1, 2],
      'text',
    ];
    for (const rec of bad) assert.throws(() => Parts.encode(rec as PartsRecord), isCode('ERR_INVALID_ARG'), String(Object.keys(rec ?? {})[0]));
    assert.equal(Object.keys(Parts.decode(Parts.encode({ ['x'.repeat(255)]: 1 }))).length, 1, '255 bytes is the longest name');
    assert.equal(Object.keys(Parts.decode(Parts.encode(Object.fromEntries(Array.from({ length: 1024 }, (_, i) => [`p${i}`, i]))))).length, 1024);
  });

  it('decode refuses every truncation, a foreign buffer and each spoiled header field with ERR_PARTS_CORRUPT', () => {
    const bytes = Parts.encode(sample().record);
    assert.throws(() => Parts.decode('x' as unknown as Uint8Array), isCode('ERR_INVALID_ARG'));
    for (let n = 0; n < bytes.length; n++) assert.throws(() => Parts.decode(bytes.subarray(0, n)), isCode('ERR_PARTS_CORRUPT'), `truncated at ${n}`);
    assert.throws(() => Parts.decode(Frame.encode({ width: 8, height: 8, format: 'GRAY', data: new Uint8Array(64) })), /wrong magic/);
    const dir = new DataView(bytes.buffer).getUint32(16, true);
    const total = bytes.length;
    const spoil: [number, 1 | 2 | 4, number][] = [
      [0, 4, 0x54504254], [4, 2, 2], [4, 2, 0], [6, 2, 24], [6, 2, 36], [6, 2, dir + 8], [8, 4, 1025], [8, 4, 6], [8, 4, 8],
      [12, 4, 1], [16, 4, dir + 4], [16, 4, dir - 8], [16, 4, 24], [16, 4, 0xfffffff8], [20, 4, total - 16], [20, 4, total + 16], [20, 4, 0],
    ];
    for (const [off, width, value] of spoil) assert.throws(() => Parts.decode(put(bytes, off, width, value)), isCode('ERR_PARTS_CORRUPT'), `field at ${off} = ${value}`);
  });

  it('decode refuses each spoiled directory entry, name and text with ERR_PARTS_CORRUPT', () => {
    const bytes = Parts.encode({ a: 'xy', b: new Uint8Array([1, 2, 3]), j: { k: 1 }, f: 1.5, i: 3n });
    const dv = new DataView(bytes.buffer);
    const dir = dv.getUint32(16, true);
    const e = (i: number, field: number) => dir + 16 * i + field;
    const nameAt = (i: number) => dv.getUint32(e(i, 0), true);
    const valueAt = (i: number) => dv.getUint32(e(i, 8), true);
    const cases: [string, Uint8Array][] = [
      ['entry flags', put(bytes, e(0, 7), 1, 1)],
      ['type 0', put(bytes, e(0, 6), 1, 0)],
      ['type 6', put(bytes, e(0, 6), 1, 6)],
      ['name size 0', put(bytes, e(0, 4), 2, 0)],
      ['name size 256', put(bytes, e(0, 4), 2, 256)],
      ['name size runs into the value', put(bytes, e(0, 4), 2, valueAt(0) - nameAt(0))],
      ['name before the header end', put(bytes, e(0, 0), 4, 8)],
      ['name overlaps the previous part', put(bytes, e(1, 0), 4, valueAt(0))],
      ['value not 8-aligned', put(bytes, e(1, 8), 4, valueAt(1) + 4)],
      ['value past the directory', put(bytes, e(1, 12), 4, dir)],
      ['value size wraps', put(bytes, e(1, 12), 4, 0xffffffff)],
      ['value offset huge', put(bytes, e(4, 8), 4, 0xfffffff8)],
      ['float64 of 4 bytes', put(bytes, e(3, 12), 4, 4)],
      ['int64 of 16 bytes', put(bytes, e(4, 12), 4, 16)],
      ['string without its 0 byte', put(bytes, valueAt(0) + 2, 1, 0x41)],
      ['json without its 0 byte', put(bytes, valueAt(2) + 7, 1, 0x41)],
      ['name without its 0 byte', put(bytes, nameAt(0) + 1, 1, 0x41)],
      ['name holds a 0 byte', put(put(bytes, e(0, 4), 2, 2), nameAt(0) + 2, 1, 0)],
      ['name not UTF-8', put(bytes, nameAt(0), 1, 0xff)],
      ['duplicate name', put(bytes, nameAt(1), 1, 0x61)],
      ['string not UTF-8 (overlong)', put(put(bytes, valueAt(0), 1, 0xc0), valueAt(0) + 1, 1, 0x80)],
      ['string with an encoded surrogate', put(put(put(put(bytes, e(0, 12), 4, 3), valueAt(0), 1, 0xed), valueAt(0) + 1, 1, 0xa0), valueAt(0) + 2, 1, 0x80)],
      ['json not JSON', put(bytes, valueAt(2), 1, 0x5b)],
      ['a string claimed to be JSON', put(bytes, e(0, 6), 1, 3)],
      ['a float claimed to be a string', put(bytes, e(3, 6), 1, 2)],
    ];
    for (const [what, bad] of cases) assert.throws(() => Parts.decode(bad), isCode('ERR_PARTS_CORRUPT'), what);
    // JSON text that JavaScript's parser would take only outside RFC 8259 stays refused.
    const nan = Parts.encode({ j: 'NaN' });
    assert.throws(() => Parts.decode(put(nan, new DataView(nan.buffer).getUint32(16, true) + 6, 1, 3)), isCode('ERR_PARTS_CORRUPT'));
  });

  it('judges JSON text as the C and Python readers do (the same lists as c/tests/test_parts.c)', () => {
    const ok = ['0', '-0.5e+10', '1E-2', '"a\\u00e9\\n\\"\\\\\\/"', '[]', '{}', ' {"a":[1,true,false,null,{"b":"c"}]} \n', '"\\ud800"', '"é"', '[[[[[[[[[[1]]]]]]]]]]'];
    const bad = ['', ' ', 'NaN', 'Infinity', '-Infinity', '01', '1.', '.5', '+1', '-', '1e', '[1,]', '{"a"}', '{"a":1,}', '{a:1}',
      '"x', '"\\x"', '"\\u12"', '"tab\t"', '[1] x', 'tru', '\ufeff1', "'a'", '[1 2]', '{"a" 1}', 'nul'];
    const asJson = (text: string): Uint8Array => {
      const b = Parts.encode({ j: text });
      b[new DataView(b.buffer).getUint32(16, true) + 6] = 3; // the string part turned into a json part
      return b;
    };
    for (const t of ok) assert.deepEqual(Parts.decode(asJson(t))['j'], JSON.parse(t), t);
    for (const t of bad) assert.throws(() => Parts.decode(asJson(t)), isCode('ERR_PARTS_CORRUPT'), JSON.stringify(t));
  });

  it('seeded random mutations: ERR_PARTS_CORRUPT or a record whose views lie inside the message, nothing else', () => {
    const bytes = Parts.encode(sample().record);
    const rand = seededRandom(12345);
    let refused = 0;
    for (let round = 0; round < 20000; round++) {
      const m = bytes.slice(0, bytes.length - (round % 7 === 0 ? rand(bytes.length) : 0));
      for (let k = 1 + rand(3); k > 0 && m.length > 0; k--) {
        const at = rand(4) === 0 ? rand(Math.min(m.length, 32)) : rand(4) === 0 ? m.length - 1 - rand(Math.min(m.length, 112)) : rand(m.length);
        m[at] = rand(3) === 0 ? m[at]! ^ (1 << rand(8)) : rand(256);
      }
      try {
        viewsInside(Parts.decode(m), m);
      } catch (e) {
        assert.ok(isShmbusError(e, 'ERR_PARTS_CORRUPT'), `round ${round}: ${String(e)}`);
        refused++;
      }
    }
    assert.ok(refused > 1000, `${refused} refused`);
  });

  it('through a topic: encodeInto a loan, a copy: false subscriber decodes the record and the Frame in the ring', async () => {
    const name = names.name('parts');
    const pub = Topic.create(name, { capacity: 64 * 1024 });
    const sub = Topic.subscribe(name);
    try {
      await sub.ready;
      const { record } = sample();
      const loan = pub.loan(Parts.byteLength(record));
      loan.commit(Parts.encodeInto(loan.bytes, record));
      const m = sub.tryRead({ copy: false })!;
      const got = Parts.decode(m.data);
      const f = Frame.decode(got['image'] as Uint8Array);
      assert.equal(f.data.buffer, m.data.buffer, 'the samples are read in the ring');
      assert.deepEqual([...f.data], [0.5, 1, 1.5, 2, 2.5, 3]);
      assert.equal(got['status'], -2n);
      assert.ok(m.valid());
    } finally {
      sub.close();
      pub.close();
    }
  });
});
