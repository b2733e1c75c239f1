/**
 * Issue 12: the zero-allocation paths allocate nothing per message. A child publishes and reads (Topic) or sends and
 * receives (Queue) 100 000 64-byte messages per mode and counts its garbage collections (PerformanceObserver 'gc');
 * a mode that allocates on purpose proves the counter sees collections.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expectCleanExit, fixture, spawnPeer, uniqueName, unlinkQuietly } from '../helpers/index.js';

const N = 100_000;
/** "A handful": a collection or two can come from the runtime itself (timers, the stdout stream). */
const HANDFUL = 5;

async function gcCount(mode: string): Promise<number> {
  const name = uniqueName('topicgc');
  try {
    const child = spawnPeer(fixture('topic-gc'), [name, mode, String(N)]);
    const line = await child.line(/^gc \d+/, 60_000);
    await expectCleanExit(child);
    return Number(/^gc (\d+)/.exec(line)![1]);
  } finally {
    unlinkQuietly(name);
  }
}

describe('Topic zero-allocation reads', () => {
  it('the counter counts: allocating 16 KiB per message collects many times', async () => {
    assert.ok((await gcCount('garbage')) > HANDFUL);
  });

  // await read() is not in the list: every await allocates its promise and reaction (~13 young collections per
  // 100 000 here); the allocation-free loop is tryRead.
  for (const mode of ['into-reuse', 'view-reuse']) {
    it(`${mode}: ${N} publish + read round trips collect at most ${HANDFUL} times`, async () => {
      const gcs = await gcCount(mode);
      assert.ok(gcs <= HANDFUL, `${gcs} collections`);
    });
  }
});

describe('Queue zero-allocation send and receive', () => {
  // The ring's (SEQ, PID) CAS made ~5 BigInts per send and per receive (16 young collections per 100 000 here)
  // before it went through the addon. Zero-copy views and loans are objects per message (not in the list).
  it(`queue-into: ${N} trySend + tryReceive({ into }) collect at most ${HANDFUL} times`, async () => {
    const gcs = await gcCount('queue-into');
    assert.ok(gcs <= HANDFUL, `${gcs} collections`);
  });
});
