/**
 * Messages larger than the server's max_payload, through the library API (Bridge.start in this process): a
 * nats-server with the default-like max_payload of 1 MB, 2.7 MB frames on a Topic and 2.7 MB records on a Queue,
 * chunked by the sending bridge and put back together by the receiving one. Both "hosts" share this /dev/shm and
 * use different local names for the same remote channels.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Queue, Topic } from '../../src/index.js';
import { Bridge, type BridgeEvent } from '../../src/bridge/index.js';
import { trackNames } from '../helpers/index.js';
import { haveNatsServer, startNatsServer, type NatsServer } from './hosts.js';

const skip = haveNatsServer() ? false : 'nats-server is not installed (scripts/ci-deps.sh installs it as root)';
const FRAME = 1280 * 720 * 3;

describe('bridge: messages larger than max_payload are chunked', { skip, timeout: 60_000 }, () => {
  const names = trackNames();
  const topicA = names.name('ct-a');
  const topicB = names.name('ct-b');
  const queueA = names.name('cq-a');
  const queueB = names.name('cq-b');
  const id = randomBytes(3).toString('hex');
  let server: NatsServer;
  let a: Bridge;
  let b: Bridge;
  const events: BridgeEvent[] = [];

  before(async () => {
    server = await startNatsServer(1 << 20);
    const common = { nats: server.url, prefix: `chunks${id}`, statusInterval: 100, onEvent: (e: BridgeEvent) => void events.push(e) };
    a = await Bridge.start({ ...common, host: `ca-${id}`, topics: [`${topicA}=frames:out`], queues: [`${queueA}=big:out`] });
    b = await Bridge.start({ ...common, host: `cb-${id}`, topics: [`${topicB}=frames:in`], queues: [`${queueB}=big:in`] });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await server?.dispose();
    names.cleanup();
  });

  test('the server says max_payload 1 MB and the bridges know it', () => {
    assert.equal(a.status().maxPayload, 1 << 20);
  });

  test('2.7 MB frames cross in chunks, intact', async () => {
    const pub = Topic.create(topicA, { capacity: 16 << 20, maxMessageSize: FRAME });
    try {
      const frame = (i: number): Uint8Array => new Uint8Array(FRAME).map((_, k) => (k * 13 + i) & 255);
      pub.publish(frame(0));
      const sub = Topic.subscribe(topicB, { from: 'oldest', timeout: 20_000 });
      try {
        for (let i = 0; i < 4; i++) {
          if (i > 0) pub.publish(frame(i));
          const m = await sub.read({ timeout: 20_000 });
          assert.ok(m);
          assert.equal(m.data.length, FRAME);
          assert.equal(crc32(m.data), crc32(frame(i)), `frame ${i}`);
        }
      } finally {
        sub.close();
      }
      assert.equal(b.status().channels[0]!.in.lost, 0);
    } finally {
      pub.close();
    }
  });

  test('2.7 MB queue records cross in chunks, in order, then the end of the stream', async () => {
    const q = Queue.create(queueA, { slots: 4, maxMessageSize: FRAME });
    try {
      const record = (i: number): Uint8Array => new Uint8Array(FRAME).fill(i + 1);
      for (let i = 0; i < 5; i++) await q.send(record(i), { timeout: 20_000 });
      q.end();
      const r = await Queue.openAsync(queueB, { timeout: 20_000 });
      try {
        let n = 0;
        for (;;) {
          const m = await r.receive({ timeout: 20_000 });
          if (m === null) break;
          assert.equal(m.data.length, FRAME);
          assert.ok(m.data.every((x) => x === n + 1), `record ${n}`);
          n++;
        }
        assert.equal(n, 5);
        assert.equal(r.ended, true);
      } finally {
        r.close();
      }
    } finally {
      q.close();
    }
  });
});
