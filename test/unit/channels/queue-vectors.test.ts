import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Queue, Segment } from '../../../src/index.js';
import { trackNames } from '../../helpers/index.js';

const vectors = new URL('../../../../test/vectors/', import.meta.url);
const { name, cleanup } = trackNames();
after(cleanup);

describe('queue test vector (test/vectors, the byte-level reference for peers)', () => {
  it('queue-ring.bin reads as queue-ring.json says: across the u32 ticket wrap, with a dead writer recovered', () => {
    const bin = new Uint8Array(readFileSync(new URL('queue-ring.bin', vectors)));
    const expect = JSON.parse(readFileSync(new URL('queue-ring.json', vectors), 'utf8')) as {
      params: number[];
      payloadSize: number;
      receive: ({ bytes: number[] } | { text: string })[];
      abandoned: number;
    };
    assert.equal(bin.length, expect.payloadSize);
    const n = name('q-vector');
    Segment.create(n, { size: bin.length, kind: 'queue', params: expect.params, init: (s) => s.bytes.set(bin) }).close();
    const q = Queue.open(n);
    for (const want of expect.receive) {
      const m = q.tryReceive();
      assert.ok(m !== null);
      if ('text' in want) assert.equal(m.text(), want.text);
      else assert.deepEqual([...m.data], want.bytes);
    }
    // Ticket 1 is held by a dead writer: the second attempt in a row checks it and skips it.
    assert.equal(q.tryReceive(), null);
    assert.equal(q.tryReceive(), null);
    assert.equal(q.stats().abandoned, expect.abandoned);
    // The ring goes on across the recovered slot.
    assert.equal(q.trySend('next'), true);
    assert.equal(q.tryReceive()?.text(), 'next');
    q.detach();
  });
});
