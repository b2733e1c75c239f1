/**
 * The Topic ring's algorithms on a plain (non-shared) buffer, one process: placement and padding, reclaiming,
 * lapping with exact loss counts, sequence numbers across 2^32, corrupt cursors and headers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  TOPIC_COMMIT_OFFSET,
  TOPIC_DATA_OFFSET,
  TOPIC_FLAG_PAD,
  TOPIC_HEAD_SLOTS_OFFSET,
  TOPIC_RECORD_HEADER_SIZE,
  TOPIC_TAIL_VERSION_OFFSET,
} from '../../../src/protocol/layout.js';
import {
  commitRecord,
  initRing,
  normalizePos,
  placeRecord,
  publishCursor,
  readCursor,
  ReclaimMarks,
  reclaimAhead,
  recordSize,
  reserve,
  ringDistance,
  ringParamsValid,
  RingReader,
  type RecordRef,
  type RingView,
} from '../../../src/channels/ring.js';
import { isShmbusError } from '../../../src/errors.js';

function makeRing(capacity: number, maxMessageSize: number): RingView {
  const buf = new ArrayBuffer(TOPIC_DATA_OFFSET + capacity);
  const view: RingView = {
    words: new Int32Array(buf),
    bytes: new Uint8Array(buf),
    dataOffset: TOPIC_DATA_OFFSET,
    capacity,
    maxMessageSize,
    name: 'unit',
  };
  initRing(view);
  return view;
}

/** Publishes a payload whose bytes are derived from its seq, as a writer holding the lock would. */
function publish(view: RingView, size: number): number {
  const r = reserve(view, size);
  const start = view.dataOffset + r.at + TOPIC_RECORD_HEADER_SIZE;
  for (let i = 0; i < size; i++) view.bytes[start + i] = (r.seq * 7 + i) & 0xff;
  commitRecord(view, r, size, 1_000_000 * r.seq);
  return r.seq;
}

function readAll(reader: RingReader, view: RingView): { seq: number; data: Uint8Array }[] {
  const out: { seq: number; data: Uint8Array }[] = [];
  const ref: RecordRef = { seq: 0, offset: 0, size: 0, timestampMicros: 0 };
  let data = new Uint8Array(0);
  for (;;) {
    const r = reader.tryNext((v, off, n) => (data = v.bytes.slice(off, off + n)), ref);
    if (r === null) return out;
    assert.equal(r.timestampMicros, 1_000_000 * r.seq);
    out.push({ seq: r.seq, data });
  }
}

function checkPayload(m: { seq: number; data: Uint8Array }): void {
  for (let i = 0; i < m.data.length; i++) {
    if (m.data[i] !== ((m.seq * 7 + i) & 0xff)) assert.fail(`record ${m.seq} byte ${i} is torn`);
  }
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe('ring maths', () => {
  it('sizes records as a 32-byte header plus the payload rounded up to 8 bytes', () => {
    assert.equal(recordSize(0), 32);
    assert.equal(recordSize(1), 40);
    assert.equal(recordSize(8), 40);
    assert.equal(recordSize(9), 48);
    assert.equal(recordSize(64), 96);
  });

  it('measures forward distance around the ring', () => {
    assert.equal(ringDistance(0, 0, 256), 0);
    assert.equal(ringDistance(10, 30, 256), 20);
    assert.equal(ringDistance(200, 8, 256), 64);
    assert.equal(normalizePos(256, 256), 0);
    assert.equal(normalizePos(248, 256), 248);
  });

  it('places a record that does not fit before the end at 0, padding the rest', () => {
    assert.deepEqual(placeRecord(0, 64, 256), { at: 0, wraps: false, claim: 64 });
    assert.deepEqual(placeRecord(192, 64, 256), { at: 192, wraps: false, claim: 64 });
    assert.deepEqual(placeRecord(200, 64, 256), { at: 0, wraps: true, claim: 56 + 64 });
  });

  it('accepts only rings that hold two records of the largest message', () => {
    assert.equal(ringParamsValid(256, 96), true);
    assert.equal(ringParamsValid(256, 97), false);
    assert.equal(ringParamsValid(250, 8), false);
    assert.equal(ringParamsValid(256, 0), false);
  });
});

describe('ring writer and readers', () => {
  it('delivers every record in order, uncorrupted, across many wraps of every size 0..200', () => {
    const view = makeRing(1024, 400);
    const reader = new RingReader(view, 'latest');
    let next = 1;
    for (let size = 0; size <= 200; size++) {
      publish(view, size);
      if (size % 3 === 0) {
        for (const m of readAll(reader, view)) {
          assert.equal(m.seq, next++);
          checkPayload(m);
        }
      }
    }
    for (const m of readAll(reader, view)) {
      assert.equal(m.seq, next++);
      checkPayload(m);
    }
    assert.equal(next, 202);
    assert.equal(reader.lost, 0);
  });

  it('writes a pad header when at least 32 bytes are left at the end, and wraps silently when fewer', () => {
    const view = makeRing(256, 96);
    publish(view, 96); // 128 bytes at 0
    publish(view, 56); // 88 bytes at 128 -> next 216, 40 left: a pad header fits
    const r = reserve(view, 96);
    assert.equal(r.at, 0);
    assert.equal(r.padAt, 216);
    commitRecord(view, r, 96, 0);
    const padFlags = view.words[(TOPIC_DATA_OFFSET + 216 + 4) / 4];
    assert.equal(padFlags, TOPIC_FLAG_PAD);
    const view2 = makeRing(256, 96);
    publish(view2, 96);
    publish(view2, 80); // 112 bytes at 128 -> next 240, 16 left: no header fits
    const r2 = reserve(view2, 8);
    assert.equal(r2.at, 0);
    assert.equal(r2.padAt, 240);
  });

  it('a reader that fell behind skips to the oldest record and counts exactly what it lost', () => {
    const view = makeRing(4096, 1000);
    const rnd = lcg(1);
    const slow = new RingReader(view, 'oldest');
    const fast = new RingReader(view, 'oldest');
    let published = 0;
    let slowRead = 0;
    let lastSlow = 0;
    for (let round = 0; round < 2000; round++) {
      publish(view, Math.floor(rnd() * 1000));
      published++;
      assert.equal(readAll(fast, view).length, 1);
      if (round % 97 === 0) {
        for (const m of readAll(slow, view)) {
          assert.ok(m.seq > lastSlow, 'in order');
          lastSlow = m.seq;
          checkPayload(m);
          slowRead++;
        }
      }
    }
    slowRead += readAll(slow, view).length;
    assert.equal(fast.lost, 0);
    assert.ok(slow.lost > 0, 'the slow reader was lapped');
    assert.equal(slowRead + slow.lost, published);
  });

  it('a writer that must reclaim frees reclaimAhead bytes more, so the tail moves once per batch, not per record', () => {
    const view = makeRing(1 << 16, 200);
    assert.equal(reclaimAhead(1 << 16), 4096);
    assert.equal(reclaimAhead(1 << 30), 4096);
    const tailVersion = (): number => view.words[TOPIC_TAIL_VERSION_OFFSET / 4]!;
    for (let i = 0; i < 600; i++) publish(view, 64); // 96-byte records: 57 600 bytes, no reclaim yet
    const v0 = tailVersion();
    const reader = new RingReader(view, 'oldest');
    const before = readCursor(view);
    assert.equal(before.tailSeq, 1);
    for (let i = 0; i < 300; i++) publish(view, 64);
    const after = readCursor(view);
    // Reclaiming starts after ~82 more records; each reclaim frees >= 96 + 4096 bytes (43+ records), so the
    // remaining ~218 records need 5 or 6 tail publications where reclaiming per record would need ~218.
    const published = tailVersion() - v0;
    assert.ok(published >= 4 && published <= 6, `tail published ${published} times`);
    assert.ok(ringDistance(after.writePos, after.tailPos, 1 << 16) < 96 + 4096 + 96);
    const got = readAll(reader, view);
    assert.equal(got.length + reader.lost, after.writeSeq - before.tailSeq + 1);
    assert.equal(got[0]!.seq, after.tailSeq);
    for (const m of got) checkPayload(m);
  });

  it("'oldest' replays what the ring still holds; 'latest' starts at the next record", () => {
    const view = makeRing(1024, 200);
    // 88-byte records: 11 fit, but a writer that must reclaim frees reclaimAhead (64 bytes here) more, so 10 stay
    for (let i = 0; i < 30; i++) publish(view, 50);
    assert.equal(reclaimAhead(1024), 64);
    const oldest = readAll(new RingReader(view, 'oldest'), view);
    assert.equal(oldest.length, 10);
    assert.equal(oldest[0]!.seq, 21);
    assert.equal(oldest.at(-1)!.seq, 30);
    const latest = new RingReader(view, 'latest');
    assert.equal(readAll(latest, view).length, 0);
    publish(view, 3);
    assert.deepEqual(readAll(latest, view).map((m) => m.seq), [31]);
  });

  it('keeps counting across 2^32 (64-bit sequence numbers, 32-bit commit word wraps)', () => {
    const view = makeRing(1024, 200);
    const start = 2 ** 32 - 5;
    publishCursor(view, { writeSeq: start, writePos: 0, tailSeq: start + 1, tailPos: 0 });
    Atomics.store(view.words, TOPIC_COMMIT_OFFSET / 4, start % 2 ** 32 | 0);
    const reader = new RingReader(view, 'latest');
    const all: number[] = [];
    for (let i = 0; i < 12; i++) {
      assert.equal(publish(view, i), start + 1 + i);
      for (const m of readAll(reader, view)) {
        checkPayload(m);
        all.push(m.seq);
      }
    }
    assert.deepEqual(all, Array.from({ length: 12 }, (_, i) => start + 1 + i));
    assert.equal(Atomics.load(view.words, TOPIC_COMMIT_OFFSET / 4), (start + 12) % 2 ** 32);
    // lapping across the wrap counts exactly too
    const behind = new RingReader(view, 'latest');
    for (let i = 0; i < 50; i++) publish(view, 100);
    const got = readAll(behind, view);
    assert.equal(got.length + behind.lost, 50);
    assert.equal(got.at(-1)!.seq, start + 62);
  });

  it('a reserve that is never committed is invisible to readers and its space is reused', () => {
    const view = makeRing(1024, 200);
    const reader = new RingReader(view, 'latest');
    publish(view, 10);
    reserve(view, 150); // a writer that died before commit
    assert.deepEqual(readAll(reader, view).map((m) => m.seq), [1]);
    assert.equal(publish(view, 20), 2);
    const got = readAll(reader, view);
    assert.deepEqual(got.map((m) => [m.seq, m.data.length]), [[2, 20]]);
    checkPayload(got[0]!);
  });

  it('a writer that died after filling the next head slot, before the commit store, leaves nothing to repair', () => {
    const view = makeRing(1024, 200);
    const reader = new RingReader(view, 'latest');
    publish(view, 10);
    const r = reserve(view, 150);
    const head = (TOPIC_HEAD_SLOTS_OFFSET + (r.seq % 2) * 16) / 4;
    view.words[head] = r.seq; // writeSeq of the head slot commit does not name yet
    view.words[head + 2] = 999_999; // a writePos no valid cursor holds: never read
    assert.deepEqual(readCursor(view), { writeSeq: 1, writePos: recordSize(10), tailSeq: 1, tailPos: 0 });
    assert.deepEqual(readAll(reader, view).map((m) => m.seq), [1]);
    assert.equal(publish(view, 30), 2);
    assert.deepEqual(readAll(reader, view).map((m) => [m.seq, m.data.length]), [[2, 30]]);
    assert.deepEqual(readAll(new RingReader(view, 'oldest'), view).map((m) => m.seq), [1, 2]);
  });

  it('refuses a corrupt cursor with ERR_SHM_CORRUPT', () => {
    const view = makeRing(1024, 200);
    publishCursor(view, { writeSeq: 5, writePos: 4096, tailSeq: 1, tailPos: 0 });
    assert.throws(() => readCursor(view), (e) => isShmbusError(e, 'ERR_SHM_CORRUPT'));
    assert.throws(() => new RingReader(view, 'latest'), (e) => isShmbusError(e, 'ERR_SHM_CORRUPT'));
    publishCursor(view, { writeSeq: 5, writePos: 12, tailSeq: 1, tailPos: 0 });
    assert.throws(() => reserve(view, 1), (e) => isShmbusError(e, 'ERR_SHM_CORRUPT'));
    publishCursor(view, { writeSeq: 5, writePos: 0, tailSeq: 9, tailPos: 0 });
    assert.throws(() => readCursor(view), (e) => isShmbusError(e, 'ERR_SHM_CORRUPT'));
    // The head slot commit names must hold writeSeq = commit (mod 2^32).
    publishCursor(view, { writeSeq: 5, writePos: 0, tailSeq: 1, tailPos: 0 });
    view.words[(TOPIC_HEAD_SLOTS_OFFSET + 16) / 4] = 7;
    assert.throws(() => readCursor(view), (e) => isShmbusError(e, 'ERR_SHM_CORRUPT'));
    assert.throws(() => reserve(view, 1), (e) => isShmbusError(e, 'ERR_SHM_CORRUPT'));
  });

  it('a valid record with an impossible header is refused with ERR_SHM_CORRUPT, never read out of range', () => {
    const view = makeRing(1024, 200);
    const reader = new RingReader(view, 'latest');
    publish(view, 10);
    view.words[TOPIC_DATA_OFFSET / 4] = 0x7fffffff; // size of record 1
    assert.throws(() => reader.tryNext(null, { seq: 0, offset: 0, size: 0, timestampMicros: 0 }), (e) =>
      isShmbusError(e, 'ERR_SHM_CORRUPT'),
    );
  });

  it('a writer that meets a broken record chain drops the old records and goes on', () => {
    const view = makeRing(1024, 200);
    for (let i = 0; i < 5; i++) publish(view, 150); // fills the ring
    const c = readCursor(view);
    view.words[(TOPIC_DATA_OFFSET + c.tailPos + 8) / 4] = 12345; // the tail record's seq
    const seq = publish(view, 150);
    const after = readCursor(view);
    assert.equal(after.tailSeq, seq);
    const got = readAll(new RingReader(view, 'oldest'), view);
    assert.deepEqual(got.map((m) => m.seq), [seq]);
  });

  it('reclaim marks end every batch reclaim at the same tail as the whole header walk, also among other publishers', () => {
    // Two rings fed the same records: one publisher walks every reclaim, the other jumps by its marks. A second
    // publisher (no marks) writes some records into the marked ring, as another process would.
    for (const capacity of [4096, 65536, 1 << 20]) {
      const plain = makeRing(capacity, 1000);
      const marked = makeRing(capacity, 1000);
      const marks = new ReclaimMarks(capacity);
      let x = 12345;
      const rand = (n: number): number => {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        return x % n;
      };
      for (let i = 0; i < 30_000; i++) {
        const size = rand(8) === 0 ? rand(1001) : 64 + rand(40);
        const other = rand(5) === 0; // a record of another publisher: no mark for it
        const a = reserve(plain, size);
        commitRecord(plain, a, size, 0);
        const b = reserve(marked, size, undefined, other ? undefined : marks);
        commitRecord(marked, b, size, 0, other ? undefined : marks);
        assert.deepEqual(readCursor(marked), readCursor(plain), `capacity ${capacity}, record ${i + 1}`);
      }
    }
  });

  it('a reclaim mark that does not match the ring (a header changed behind it) falls back to the whole walk', () => {
    const view = makeRing(4096, 200);
    const marks = new ReclaimMarks(4096);
    const put = (): void => {
      const r = reserve(view, 100, undefined, marks);
      commitRecord(view, r, 100, 0, marks);
    };
    for (let i = 0; i < 30; i++) put();
    // Damage the header of the oldest records: the whole walk notices the broken chain and drops everything.
    const c = readCursor(view);
    for (let p = c.tailPos; p < c.tailPos + 1024 && p < 4096; p += 136) view.words[(view.dataOffset + p + 8) >> 2] = 0x7fffffff;
    put();
    const after = readCursor(view);
    assert.ok(after.tailSeq >= c.tailSeq, 'the tail moved forward');
    for (let i = 0; i < 100; i++) put(); // and the ring goes on publishing
    assert.equal(readCursor(view).writeSeq, 131);
  });
});
