/**
 * The Parts codec (PROTOCOL §10) across languages, through a real Topic: Node encodes a record into a loan and the
 * C peer (c/tests/peers/parts-peer.c) and the Python peer (test/cross/parts-peer.py) decode it in the ring and answer
 * its digest (the same line in every language: each part's type and a checksum of its value, and the Frame inside);
 * C and Python write records into loans (C renders its Frame straight into a reserved part) and Node, and the other
 * peer, decode them. Corrupt and foreign records are ERR_PARTS_CORRUPT in every language.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Frame, Parts, Topic, type PartsRecord } from '../../src/index.js';
import { PART_TYPES, PARTS_DIR_OFFSET, PARTS_ENTRY_SIZE } from '../../src/codecs/parts.js';
import { trackNames, type Peer } from '../helpers/index.js';
import { spawnC, spawnPython } from '../helpers/peers.js';

const PY_PEER = fileURLToPath(new URL('../../../test/cross/parts-peer.py', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const names = trackNames();
const tmp = mkdtempSync(join(tmpdir(), 'shmbus-parts-'));
after(() => {
  names.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

// The C++ layer as an image service would use it: a request read in the ring (parts_view, frame_view), an answer
// built straight into a loan (parts_builder measuring, then writing; the gray Frame rendered in a reserved part).
const CXX_SERVICE = `#include "shmbus.hpp"
#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

static void answer(shmbus::parts_builder& b, const shmbus::frame_view& in, std::uint8_t** gray) {
  const std::size_t size = shmbus_frame_size(in.width(), in.height(), SHMBUS_FORMAT_GRAY, SHMBUS_DTYPE_UINT8, 0);
  auto room = b.reserve("image", size);
  b.add_json("params", R"({"op":"gray","by":"c++"})").add_string("note", "done").add_i64("status", 0);
  *gray = room.size() == 0 ? nullptr : reinterpret_cast<std::uint8_t*>(room.data());
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  auto sub = shmbus::Topic::subscribe(argv[1], shmbus::from::oldest);
  auto out = shmbus::Topic::open(argv[2]);
  auto m = sub.read(10000ms);
  if (!m) return 3;
  shmbus::parts_view req(m->data());
  for (shmbus::part p : req) std::printf("%.*s:%d ", int(p.name().size()), p.name().data(), p.type());
  std::printf("op %s status %lld scale %g\\n", std::string(req.at("params").text()).c_str(), (long long)req.at("status").i64(),
              req.at("scale").f64());
  shmbus::frame_view in(req.at("image").data());
  try { req.at("missing"); } catch (const shmbus::error& e) { std::printf("missing %s\\n", e.node_code()); }
  try { req.at("status").text(); } catch (const shmbus::error& e) { std::printf("wrong type %s\\n", e.node_code()); }
  try { shmbus::parts_view bad(m->data().text().substr(0, 40)); } catch (const shmbus::error& e) { std::printf("truncated %s\\n", e.node_code()); }
  std::uint8_t* gray = nullptr;
  shmbus::parts_builder measure;
  answer(measure, in, &gray);
  auto loan = out.loan(measure.finish());
  shmbus::parts_builder b(loan.bytes());
  answer(b, in, &gray);
  shmbus::write_frame_header({reinterpret_cast<std::byte*>(gray), shmbus_frame_size(in.width(), in.height(), SHMBUS_FORMAT_GRAY, SHMBUS_DTYPE_UINT8, 0)},
                             in.width(), in.height(), SHMBUS_FORMAT_GRAY);
  for (std::uint32_t y = 0; y < in.height(); y++) {
    const auto* row = static_cast<const std::uint8_t*>(in.row(y));
    for (std::uint32_t x = 0; x < in.width(); x++)   // BGR -> gray, integer weights
      gray[SHMBUS_FRAME_HEADER_SIZE + y * in.width() + x] = std::uint8_t((row[3 * x] * 29 + row[3 * x + 1] * 150 + row[3 * x + 2] * 77) >> 8);
  }
  std::printf("valid %d answered %llu\\n", int(m->valid()), (unsigned long long)loan.commit(b.finish()));
  return 0;
}
`;

const fnv1a = (bytes: Uint8Array): string => {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
};

/** The digest line of c/tests/peers/parts-peer.c, computed from Node's decode of `bytes`. */
function digest(bytes: Uint8Array): string {
  const rec = Parts.decode(bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dir = dv.getUint32(PARTS_DIR_OFFSET, true);
  const typeName = Object.fromEntries(Object.entries(PART_TYPES).map(([k, v]) => [v, k]));
  const out = [`parts ${Object.keys(rec).length}`];
  Object.entries(rec).forEach(([name, v], i) => {
    const type = typeName[dv.getUint8(dir + PARTS_ENTRY_SIZE * i + 6)]!;
    let d: string;
    if (v instanceof Uint8Array) d = `${v.length}/${fnv1a(v)}`;
    else if (type === 'string') d = fnv1a(new TextEncoder().encode(v as string));
    else if (type === 'json') d = fnv1a(new TextEncoder().encode(JSON.stringify(v)));
    else if (type === 'float64') d = Buffer.from(new Float64Array([v as number]).buffer).reverse().toString('hex');
    else d = String(v);
    out.push(`${name}=${type}:${d}`);
  });
  const image = rec['image'];
  if (image instanceof Uint8Array) {
    const f = Frame.decode(image);
    out.push(`frame=${f.width}x${f.height}x${f.channels}:${fnv1a(f.bytes)}`);
  }
  return out.join(' ');
}

/** Both peers, ready. */
async function peers(): Promise<{ c: Peer; py: Peer; all: Peer[] }> {
  const c = spawnC('parts-peer');
  const py = spawnPython(PY_PEER);
  await Promise.all([c.line('ready'), py.line('ready')]);
  return { c, py, all: [c, py] };
}

async function done(all: Peer[]): Promise<void> {
  for (const p of all) p.child.stdin!.end();
  assert.deepEqual(await Promise.all(all.map((p) => p.exited)), all.map(() => 0));
}

/** One topic holding `messages` (published through loans, as a zero-copy writer would). */
function topicWith(...messages: Uint8Array[]): { name: string; pub: Topic<unknown> } {
  const name = names.name('parts');
  const pub = Topic.create(name, { capacity: 1 << 16 });
  for (const m of messages) {
    const loan = pub.loan(m.length);
    loan.bytes.set(m);
    loan.commit();
  }
  return { name, pub };
}

describe('Parts across Node, C and Python', () => {
  it('Node encodes into a loan; C and Python decode the record and its Frame in the ring and answer the same digest', async () => {
    const frame = Frame.encode({ width: 5, height: 3, format: 'BGR', dtype: 'uint16', stride: 32, data: new Uint16Array(45).map((_, i) => i * 1000) });
    const record: PartsRecord = {
      image: frame,
      params: { op: 'gray', size: [640, 480], keep: true, note: null, name: 'é' },
      'notë': 'héllo ✓',
      scale: 0.1,
      status: -(2n ** 62n) - 3n,
      empty: new Uint8Array(0),
      ok: false,
    };
    const name = names.name('parts');
    const pub = Topic.create(name, { capacity: 1 << 16 });
    const loan = pub.loan(Parts.byteLength(record));
    const size = Parts.encodeInto(loan.bytes, record);
    const want = digest(loan.bytes.subarray(0, size));
    loan.commit(size);
    const { c, py, all } = await peers();
    try {
      for (const p of all) p.send(`read ${name}`);
      assert.equal(await c.line(/^(parts|error) /), want, 'C');
      assert.equal(await py.line(/^(parts|error) /), want, 'Python');
      assert.match(want, /^parts 7 image=bytes:\d+\/\w+ params=json:\w+ .* frame=5x3x3:\w+$/);
    } finally {
      pub.close();
      await done(all);
    }
  });

  it('a truncated record, a spoiled entry and a foreign buffer are ERR_PARTS_CORRUPT in C and Python', async () => {
    const good = Parts.encode({ a: new Uint8Array([1, 2, 3]), b: 'x' });
    const spoiled = good.slice();
    new DataView(spoiled.buffer).setUint32(new DataView(good.buffer).getUint32(PARTS_DIR_OFFSET, true) + 12, 0xfffffff0, true);
    const foreign = Frame.encode({ width: 4, height: 4, format: 'GRAY', data: new Uint8Array(16) });
    const { c, py, all } = await peers();
    const topics: Topic<unknown>[] = [];
    try {
      for (const bad of [good.subarray(0, good.length - 1), spoiled, foreign]) {
        const { name, pub } = topicWith(bad);
        topics.push(pub);
        for (const p of all) p.send(`read ${name}`);
        for (const p of all) assert.match(await p.line(/^(parts|error) /), /^error ERR_PARTS_CORRUPT not a valid Parts record: /);
      }
    } finally {
      for (const t of topics) t.close();
      await done(all);
    }
  });

  it('C builds a record in a loan (its Frame rendered in a reserved part); Node decodes the values, Python the same digest', async () => {
    const name = names.name('parts');
    const pub = Topic.create(name, { capacity: 1 << 16 });
    const sub = Topic.subscribe(name, { from: 'oldest' });
    const { c, py, all } = await peers();
    try {
      c.send(`write ${name}`);
      const [, seq, size] = (await c.line(/^(wrote|error) /)).split(' ');
      assert.equal(seq, '1');
      const m = sub.tryRead({ copy: false })!;
      assert.equal(m.data.length, Number(size));
      const rec = Parts.decode(m.data);
      assert.deepEqual(Object.keys(rec), ['image', 'params', 'note', 'scale', 'status']);
      assert.deepEqual(rec['params'], { op: 'gray', from: 'c', size: [4, 3] });
      assert.equal(rec['note'], 'from C ✓');
      assert.equal(rec['scale'], 0.5);
      assert.equal(rec['status'], -42n);
      const f = Frame.decode(rec['image'] as Uint8Array);
      assert.deepEqual([f.width, f.height, f.format, f.dtype], [4, 3, 'BGR', 'uint8']);
      assert.deepEqual([...f.data], Array.from({ length: 36 }, (_, i) => i));
      assert.equal(f.data.buffer, m.data.buffer, 'the pixels are read in the ring');
      const want = digest(m.data);
      assert.ok(m.valid());
      py.send(`read ${name}`);
      assert.equal(await py.line(/^(parts|error) /), want);
    } finally {
      sub.close();
      pub.close();
      await done(all);
    }
  });

  for (const std of ['c++17', 'c++20']) {
    it(`C++ (-std=${std}): reads a request with parts_view/frame_view in the ring and answers with parts_builder into a loan`, () => {
      const lib = join(ROOT, 'c', 'build', 'libshmbus.a');
      assert.ok(existsSync(lib), `${lib} is missing: run make -C c`);
      const src = join(tmp, 'service.cpp');
      const bin = join(tmp, `service-${std}`);
      writeFileSync(src, CXX_SERVICE);
      const cc = spawnSync('c++', [`-std=${std}`, '-Wall', '-Wextra', '-Werror', '-pedantic', `-I${join(ROOT, 'c')}`, src, lib, '-pthread', '-o', bin], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(cc.status, 0, cc.stderr);
      const bgr = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]); // 2x2: blue, green, red, dark
      const request = Parts.encode({ image: Frame.encode({ width: 2, height: 2, format: 'BGR', data: bgr }), params: { op: 'gray' }, status: 7n, scale: 0.5 });
      const { name: reqName, pub: reqPub } = topicWith(request);
      const resName = names.name('parts-res');
      const resPub = Topic.create(resName, { capacity: 1 << 16 });
      const resSub = Topic.subscribe(resName, { from: 'oldest' });
      try {
        const r = spawnSync(bin, [reqName, resName], { encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(
          r.stdout,
          'image:1 params:3 status:5 scale:4 op {"op":"gray"} status 7 scale 0.5\nmissing ERR_INVALID_ARG\nwrong type ERR_INVALID_ARG\n' +
            'truncated ERR_PARTS_CORRUPT\nvalid 1 answered 1\n',
        );
        const res = Parts.decode(resSub.tryRead({ copy: false })!.data);
        assert.deepEqual(res['params'], { op: 'gray', by: 'c++' });
        assert.deepEqual([res['note'], res['status']], ['done', 0n]);
        const gray = Frame.decode(res['image'] as Uint8Array);
        assert.deepEqual([gray.format, gray.width, gray.height], ['GRAY', 2, 2]);
        assert.deepEqual([...gray.data], [(255 * 29) >> 8, (255 * 150) >> 8, (255 * 77) >> 8, (10 * 29 + 20 * 150 + 30 * 77) >> 8]);
      } finally {
        resSub.close();
        resPub.close();
        reqPub.close();
      }
    });
  }

  it('Python encodes a record into a loan; Node decodes the values, C the same digest', async () => {
    const name = names.name('parts');
    const pub = Topic.create(name, { capacity: 1 << 16 });
    const sub = Topic.subscribe(name, { from: 'oldest' });
    const { c, py, all } = await peers();
    try {
      py.send(`write ${name}`);
      assert.match(await py.line(/^(wrote|error) /), /^wrote 1 \d+$/);
      const m = sub.tryRead({ copy: false })!;
      const rec = Parts.decode(m.data);
      assert.deepEqual(rec['params'], { op: 'resize', from: 'python', size: [2, 1] });
      assert.equal(rec['note'], 'from Python ✓');
      assert.equal(rec['scale'], 2.5);
      assert.equal(rec['status'], 2n ** 40n, 'a Python int travels as int64: a bigint in Node');
      const f = Frame.decode(rec['image'] as Uint8Array);
      assert.deepEqual([f.width, f.height, f.format, f.dtype], [4, 3, 'RGBA', 'uint16']);
      assert.deepEqual([...f.data].slice(0, 6), [0, 1, 2, 3, 4, 5]);
      assert.equal(f.data[4 * 4 * 2 + 4 * 1 + 3], 2 * 16 + 1 * 4 + 3, 'row 2, column 1, channel 3');
      const want = digest(m.data);
      assert.ok(m.valid());
      c.send(`read ${name}`);
      assert.equal(await c.line(/^(parts|error) /), want);
    } finally {
      sub.close();
      pub.close();
      await done(all);
    }
  });
});
