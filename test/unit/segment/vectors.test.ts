/**
 * The test vectors (test/vectors/*.json + .bin, written by scripts/gen-vectors.mjs): each follows the convention
 * of test/vectors/schema.ts, every `fields` entry reads as its value from the .bin, and every `expect` step, run
 * through this implementation's API, gives its result. A peer implementation checks itself the same way.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Frame, Parts, Queue, Segment, Topic, type PartsRecord, type Subscriber } from '../../../src/index.js';
import { PART_TYPES, PARTS_DIR_OFFSET, PARTS_ENTRY_SIZE } from '../../../src/codecs/parts.js';
import { decodeHeader, encodeHeader } from '../../../src/protocol/header.js';
import { HEADER_SIZE, HDR_STATE_OFFSET, PROTOCOL_VERSION } from '../../../src/protocol/layout.js';
import { OPS, readField, validateVector, type Json, type Vector, type VectorStep } from '../../vectors/schema.js';
import { trackNames } from '../../helpers/index.js';

const dir = new URL('../../../../test/vectors/', import.meta.url);
const stems = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();
const { name, cleanup } = trackNames();
after(cleanup);

/** `got` matches `want`: deep-equal, except that an object `want` checks only the keys it lists. */
function matches(got: unknown, want: Json, where: string): void {
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    assert.ok(got !== null && typeof got === 'object', `${where}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    for (const [k, v] of Object.entries(want)) matches((got as Record<string, unknown>)[k], v, `${where}.${k}`);
  } else {
    assert.deepEqual(got, want, where);
  }
}

/** A message of any channel as a vector result: { text } when it is text, else { bytes }. */
function messageResult(m: { data: Uint8Array; text(): string; isText?: boolean } | null): Json {
  if (m === null) return null;
  return m.isText === true ? { text: m.text() } : { bytes: [...m.data] };
}

type Runner = { step(s: VectorStep): unknown; close(): void };

function headerRunner(bin: Uint8Array): Runner {
  let decoded: ReturnType<typeof decodeHeader> | undefined;
  return {
    step(s) {
      if (s.op === 'decodeHeader') {
        decoded = decodeHeader(bin, HEADER_SIZE + Number(new DataView(bin.buffer, bin.byteOffset).getBigUint64(24, true)), 'vector');
        return decoded;
      }
      assert.ok(decoded, 'reencode after decodeHeader');
      const again = new Uint8Array(HEADER_SIZE);
      encodeHeader(new DataView(again.buffer), decoded);
      new DataView(again.buffer).setUint32(HDR_STATE_OFFSET, decoded.state, true);
      return Buffer.compare(again, bin) === 0;
    },
    close() {},
  };
}

function frameRunner(bin: Uint8Array): Runner {
  return {
    step(s) {
      const f = Frame.decode(bin);
      if (s.op === 'decode') {
        const { width, height, channels, dtype, format, stride } = f;
        return { width, height, channels, dtype, format, stride, timestampMicros: Math.round(f.timestamp * 1000), data: [...f.data] };
      }
      return Buffer.compare(Frame.encode({ ...f, data: f.bytes }), bin) === 0;
    },
    close() {},
  };
}

function partsRunner(bin: Uint8Array): Runner {
  return {
    step(s) {
      const rec = Parts.decode(bin);
      if (s.op === 'decode') {
        const dv = new DataView(bin.buffer, bin.byteOffset, bin.length);
        const dir = dv.getUint32(PARTS_DIR_OFFSET, true);
        const typeName = Object.fromEntries(Object.entries(PART_TYPES).map(([k, v]) => [v, k]));
        const parts = Object.entries(rec).map(([name, v], i) => {
          const e = dir + PARTS_ENTRY_SIZE * i;
          const type = typeName[dv.getUint8(e + 6)]!;
          const value = v instanceof Uint8Array ? [...v] : typeof v === 'bigint' ? String(v) : v;
          if (v instanceof Uint8Array) assert.equal(v.buffer, bin.buffer, `${name}: a view of the record`);
          return { name, type, nameOffset: dv.getUint32(e, true), valueOffset: dv.getUint32(e + 8, true), size: dv.getUint32(e + 12, true), value };
        });
        return { count: parts.length, totalSize: dv.getUint32(20, true), parts };
      }
      if (s.op === 'decodeFrame') {
        const f = Frame.decode(rec[String(s.args?.['part'])] as Uint8Array);
        assert.equal(f.data.buffer, bin.buffer, 'the frame is viewed in place');
        const { width, height, channels, dtype, format, stride } = f;
        return { width, height, channels, dtype, format, stride, data: [...f.data] };
      }
      return Buffer.compare(Parts.encode(rec as PartsRecord), bin) === 0;
    },
    close() {},
  };
}

function queueRunner(n: string): Runner {
  const q = Queue.open(n);
  return {
    step(s) {
      if (s.op === 'tryReceive') return messageResult(q.tryReceive() as never);
      if (s.op === 'trySend') return q.trySend(String(s.args?.['text']));
      return q.stats();
    },
    close() {
      const h = q as unknown as { detach?: () => void; close(): void };
      (h.detach ?? h.close).call(h);
    },
  };
}

function topicRunner(n: string): Runner {
  const subs = new Map<string, Subscriber>();
  const sub = (s: VectorStep): Subscriber => subs.get(String(s.args?.['id']))!;
  return {
    step(s) {
      switch (s.op) {
        case 'subscribe':
          subs.set(String(s.args?.['id']), Topic.subscribe(n, { from: s.args?.['from'] as 'oldest' | 'latest' }));
          return null;
        case 'tryRead': {
          const m = sub(s).tryRead();
          return m === null ? null : { seq: Number(m.seq), size: m.data.length, timestampMicros: Math.round(m.timestamp * 1000), bytes: [...m.data] };
        }
        case 'lost':
          return sub(s).lost;
        default: {
          const pub = Topic.open(n);
          try {
            return Number(pub.publish(String(s.args?.['text'])));
          } finally {
            pub.close();
          }
        }
      }
    },
    close() {
      for (const s of subs.values()) s.close();
    },
  };
}

describe('test vectors (test/vectors: the bytes and what an implementation must observe)', () => {
  it('there are vectors, each a .json beside its .bin', () => {
    assert.ok(stems.length >= 3, `vectors: ${stems.join(', ')}`);
  });

  it('PROTOCOL.md, PROTOCOL_VERSION and every vector state the same protocol version', () => {
    const title = readFileSync(new URL('../../PROTOCOL.md', dir), 'utf8').split('\n')[0]!;
    assert.equal(title, `# shmbus protocol, version ${PROTOCOL_VERSION}`, 'the first line of PROTOCOL.md');
    for (const stem of stems) {
      const v = JSON.parse(readFileSync(new URL(`${stem}.json`, dir), 'utf8')) as Vector;
      assert.equal(v.protocolVersion, PROTOCOL_VERSION, `${stem}.json: regenerate with node scripts/gen-vectors.mjs`);
    }
  });

  for (const stem of stems) {
    const json = JSON.parse(readFileSync(new URL(`${stem}.json`, dir), 'utf8')) as Vector;
    const bin = new Uint8Array(readFileSync(new URL(`${stem}.bin`, dir)));

    it(`${stem}: follows the vector convention (typed fields, expect steps with JSON results, no prose outcomes)`, () => {
      assert.deepEqual(validateVector(json, stem), []);
      assert.equal(bin.length, json.size, 'size is the length of the .bin');
    });

    it(`${stem}: every field reads as its value (${json.fields?.length ?? 0} fields)`, () => {
      for (const f of json.fields) assert.equal(readField(bin, f), f.value, `${f.name} (${f.type} at ${f.offset})`);
    });

    it(`${stem}: every expect step gives its result (${json.expect?.length ?? 0} steps)`, () => {
      let runner: Runner;
      if (json.map.as === 'header') runner = headerRunner(bin);
      else if (json.map.as === 'message') runner = json.map.codec === 'parts' ? partsRunner(bin) : frameRunner(bin);
      else {
        const { kind, params } = json.map;
        assert.ok(kind in OPS, `no runner for kind ${kind}`);
        const n = name(`vector-${stem}`);
        Segment.create(n, { size: bin.length, kind: kind as 'queue', params, init: (s) => s.bytes.set(bin) }).close();
        runner = kind === 'queue' ? queueRunner(n) : topicRunner(n);
      }
      try {
        json.expect.forEach((s, i) => matches(runner.step(s), s.result, `${stem} step ${i + 1} (${s.op})`));
      } finally {
        runner.close();
      }
    });
  }

  it('the segment-header vector is a header a topic opener accepts: with topic-ring.bin it opens as a topic', () => {
    const header = new Uint8Array(readFileSync(new URL('segment-header.bin', dir)));
    const ringBin = new Uint8Array(readFileSync(new URL('topic-ring.bin', dir)));
    const h = decodeHeader(header, HEADER_SIZE + ringBin.length, 'vector');
    assert.equal(h.kind, 'topic');
    const n = name('vector-header-topic');
    Segment.create(n, { size: h.payloadSize, kind: h.kind, params: h.params.slice(0, 4), init: (s) => s.bytes.set(ringBin) }).close();
    const t = Topic.open(n);
    t.close();
  });
});
