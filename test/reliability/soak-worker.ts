/**
 * Child of the soak test: every channel under load in one process until a line arrives on stdin. Each round:
 * publishes and reads on a Topic (copying and zero-copy), sends and receives on a Queue, writes and reads a Mailbox,
 * makes Rpc requests to its own server, locks a Mutex, an RwLock and a Semaphore, and opens and closes a fresh
 * segment (handle churn). Prints "ready", then "done <json of op counts>".
 * argv: <prefix> (names are <prefix>-topic, ...; the test removes them)
 */
import { Mailbox, Mutex, Queue, Rpc, RwLock, Segment, Semaphore, Topic } from '../../src/index.js';
import { fail, say } from '../fixtures/lib.js';

const [prefix] = process.argv.slice(2);
try {
  const topic = Topic.create(`${prefix}-topic`, { capacity: 256 * 1024 });
  const sub = Topic.subscribe(`${prefix}-topic`);
  const q = Queue.create(`${prefix}-queue`, { slots: 16, maxMessageSize: 4096 });
  const mb = Mailbox.create(`${prefix}-mb`, { maxMessageSize: 64 * 1024 });
  const server = Rpc.serve(`${prefix}-rpc`, (req) => req.data, { workers: 2, maxMessageSize: 4096, slots: 4 });
  const client = Rpc.connect(`${prefix}-rpc`);
  const mutex = Mutex.create(`${prefix}-mutex`);
  const rw = RwLock.create(`${prefix}-rw`);
  const sem = Semaphore.create(`${prefix}-sem`, { initial: 2 });
  const ops = { published: 0, read: 0, sent: 0, received: 0, written: 0, mbReads: 0, requests: 0, locks: 0, segments: 0 };
  let stop = false;
  process.stdin.once('data', () => (stop = true));
  const msg = new Uint8Array(2048).fill(3);
  const big = new Uint8Array(32 * 1024).fill(5);
  const into = new Uint8Array(64 * 1024);
  say('ready');
  while (!stop) {
    for (let i = 0; i < 50; i++) {
      topic.publish(msg);
      ops.published++;
      if (sub.tryRead({ copy: i % 2 === 0 })) ops.read++;
      if (q.trySend(msg)) ops.sent++;
      if (q.tryReceive()) ops.received++;
    }
    mb.write(big);
    ops.written++;
    mb.read({ into });
    mb.read();
    ops.mbReads += 2;
    await Promise.all([client.request(msg), client.request('text'), client.request(msg)]);
    ops.requests += 3;
    mutex.lockSync();
    mutex.unlock();
    await rw.withRead(() => undefined);
    rw.writeLockSync();
    rw.writeUnlock();
    sem.acquireSync();
    sem.release();
    ops.locks += 4;
    const n = `${prefix}-seg`;
    const s = Segment.create(n, { size: 64 * 1024 });
    s.bytes[100] = 1;
    const o = Segment.open(n);
    o.close();
    s.close();
    Segment.unlink(n);
    ops.segments++;
    await new Promise((r) => setImmediate(r));
  }
  client.close();
  await server.close();
  for (const h of [sub, topic, q, mb, mutex, rw, sem]) h.close();
  say(`done ${JSON.stringify(ops)}`);
  process.exit(0);
} catch (e) {
  fail(e);
}
