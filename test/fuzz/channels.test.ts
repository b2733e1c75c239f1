/**
 * fast-check properties of every TypeScript reader of shared memory: a real segment of each kind (made by the API,
 * with traffic in it) is recreated with random words and params overwritten, then opened with the kind's API and
 * used with calls that never wait (tryRead, tryReceive, read, try-locks, timeouts of 0 or a few ms). Only
 * ShmbusError may come out: no RangeError from a view past the end, no TypeError, no hang (the test's timeout).
 * The same segments are then corrupted again while the handles are open (a peer writing garbage after the open).
 */
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  Event,
  Mailbox,
  Mutex,
  Queue,
  Rpc,
  RwLock,
  Segment,
  Semaphore,
  Topic,
  type SegmentKind,
} from '../../src/index.js';
import { trackNames, uniqueName } from '../helpers/index.js';
import { unlinkAny } from '../reliability/lib.js';
import { RUNS, onlyShmbusErrors, onlyShmbusErrorsAsync, params } from './lib.js';

const { name, cleanup } = trackNames(unlinkAny);
after(cleanup);

interface Template {
  kind: SegmentKind;
  params: number[];
  payload: Uint8Array;
}

/** Captures a real segment's kind, params and payload (made by `make`, which leaves its name open). */
function capture(make: (n: string) => () => void | Promise<void>): Promise<Template> {
  const n = name('fuzz-tpl');
  const done = make(n);
  const seg = Segment.open(n);
  const t = { kind: seg.kind as SegmentKind, params: [...seg.params], payload: seg.bytes.slice() };
  seg.close();
  return Promise.resolve(done()).then(() => {
    try {
      Segment.unlink(n);
    } catch {
      // the maker removed it
    }
    return t;
  });
}

/** A write of an interesting 32-bit value (or a byte) at a word-aligned place of the payload or the params. */
const corruption = fc.record({
  where: fc.constantFrom('payload', 'payload', 'payload', 'params'),
  at: fc.nat(),
  value: fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 64, 4096, 1 << 20), fc.nat({ max: 0xffffffff })),
  byte: fc.boolean(),
});
type Corruption = { where: string; at: number; value: number; byte: boolean };

function corrupt(bytes: Uint8Array, ps: number[] | null, c: Corruption): void {
  if (c.where === 'params' && ps) {
    ps[c.at % 16] = c.value >>> 0;
    return;
  }
  if (bytes.length < 4) return;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (c.byte) dv.setUint8(c.at % bytes.length, c.value & 0xff);
  else dv.setUint32((c.at % (bytes.length >>> 2)) * 4, c.value >>> 0, true);
}

/** Short liveness intervals: a forged live holder of an internal lock costs 100 of them (then ERR_TIMEOUT). */
const FAST = { timeout: 1, livenessInterval: 1 };

type Use = (n: string, live: Segment) => Promise<void>;

/** Opens a segment made from `tpl` with `cs` applied and runs `use`; then corrupts it again under the open handle. */
async function trial(tpl: Template, cs: Corruption[], later: Corruption[], use: Use): Promise<void> {
  const n = uniqueName('fuzz'); // unlinked below (tracking thousands of names would make cleanup slow)
  // SHMBUS_FUZZ_LOG=1: each case on stderr before it runs (a hang's case is then the last line).
  if (process.env['SHMBUS_FUZZ_LOG'] === '1') process.stderr.write(`${JSON.stringify({ kind: tpl.kind, cs, later })}\n`);
  const ps = tpl.params.slice();
  const payload = tpl.payload.slice();
  for (const c of cs) corrupt(payload, ps, c);
  let seg: Segment;
  try {
    seg = Segment.create(n, { size: payload.length, kind: tpl.kind, params: ps, init: (s) => s.bytes.set(payload) });
  } catch {
    return; // params refused by create itself (not a reader's business)
  }
  try {
    const mutate = (): void => {
      for (const c of later) corrupt(seg.bytes, null, c);
    };
    await use(n, Object.assign(seg, { mutate }));
  } finally {
    seg.close();
    Segment.unlink(n);
  }
}

// Each "use" opens with the kind's API, does never-waiting calls, corrupts the live segment, and does them again.
const uses: Record<string, Use> = {
  async topic(n, live) {
    const sub = onlyShmbusErrors('Topic.subscribe', () => Topic.subscribe(n, { from: 'oldest', livenessInterval: 1 }));
    const pub = onlyShmbusErrors('Topic.open', () => Topic.open(n, { timeout: 1 }));
    for (let round = 0; round < 2; round++) {
      if (!(sub instanceof Error)) {
        for (let i = 0; i < 3; i++) {
          onlyShmbusErrors('sub.tryRead', () => sub.tryRead());
          onlyShmbusErrors('sub.tryRead zero-copy', () => {
            const m = sub.tryRead({ copy: false });
            if (m) void m.data[m.data.length - 1];
            return m?.valid();
          });
        }
        onlyShmbusErrors('sub.stats', () => sub.stats());
      }
      if (!(pub instanceof Error)) {
        onlyShmbusErrors('topic.publish', () => pub.publish(new Uint8Array(16), { timeout: 0 }));
        onlyShmbusErrors('topic.stats', () => pub.stats());
      }
      (live as Segment & { mutate(): void }).mutate();
    }
    if (!(sub instanceof Error)) sub.close();
    if (!(pub instanceof Error)) pub.close();
  },
  async queue(n, live) {
    const q = onlyShmbusErrors('Queue.open', () => Queue.open(n, { livenessInterval: 1 }));
    if (q instanceof Error) return;
    for (let round = 0; round < 2; round++) {
      onlyShmbusErrors('q.tryReceive', () => q.tryReceive());
      onlyShmbusErrors('q.trySend', () => q.trySend(new Uint8Array(8)));
      onlyShmbusErrors('q.stats', () => q.stats());
      (live as Segment & { mutate(): void }).mutate();
    }
    q.close();
  },
  async mailbox(n, live) {
    const mb = onlyShmbusErrors('Mailbox.open', () => Mailbox.open(n));
    if (mb instanceof Error) return;
    for (let round = 0; round < 2; round++) {
      onlyShmbusErrors('mb.read', () => mb.read());
      onlyShmbusErrors('mb.version', () => mb.version);
      onlyShmbusErrors('mb.write', () => mb.write('fuzz', { timeout: 0 }));
      (live as Segment & { mutate(): void }).mutate();
    }
    mb.close();
  },
  async rpc(n, live) {
    const c = onlyShmbusErrors('Rpc.connect', () => Rpc.connect(n, { livenessInterval: 1 }));
    if (c instanceof Error) return;
    for (let round = 0; round < 2; round++) {
      await onlyShmbusErrorsAsync('client.request', () => c.request('fuzz', { timeout: 5 }));
      (live as Segment & { mutate(): void }).mutate();
    }
    c.close();
  },
  async mutex(n, live) {
    const m = onlyShmbusErrors('Mutex.open', () => Mutex.open(n, FAST));
    if (m instanceof Error) return;
    for (let round = 0; round < 2; round++) {
      if (onlyShmbusErrors('m.tryLock', () => m.tryLock())) onlyShmbusErrors('m.unlock', () => m.unlock());
      (live as Segment & { mutate(): void }).mutate();
    }
    m.close();
  },
  async rwlock(n, live) {
    const rw = onlyShmbusErrors('RwLock.open', () => RwLock.open(n, FAST));
    if (rw instanceof Error) return;
    for (let round = 0; round < 2; round++) {
      if (onlyShmbusErrors('rw.tryReadLock', () => rw.tryReadLock())) onlyShmbusErrors('rw.readUnlock', () => rw.readUnlock());
      if (onlyShmbusErrors('rw.tryWriteLock', () => rw.tryWriteLock())) onlyShmbusErrors('rw.writeUnlock', () => rw.writeUnlock());
      (live as Segment & { mutate(): void }).mutate();
    }
    rw.close();
  },
  async semaphore(n, live) {
    const s = onlyShmbusErrors('Semaphore.open', () => Semaphore.open(n, FAST));
    if (s instanceof Error) return;
    for (let round = 0; round < 2; round++) {
      if (onlyShmbusErrors('s.tryAcquire', () => s.tryAcquire())) onlyShmbusErrors('s.release', () => s.release());
      onlyShmbusErrors('s.value', () => s.value);
      (live as Segment & { mutate(): void }).mutate();
    }
    s.close();
  },
  async event(n, live) {
    const e = onlyShmbusErrors('Event.open', () => Event.open(n, FAST));
    if (e instanceof Error) return;
    for (let round = 0; round < 2; round++) {
      onlyShmbusErrors('e.isSet', () => e.isSet);
      await onlyShmbusErrorsAsync('e.wait', () => e.wait({ timeout: 0 }));
      onlyShmbusErrors('e.set', () => e.set());
      (live as Segment & { mutate(): void }).mutate();
    }
    e.close();
  },
};

async function templates(): Promise<Record<string, Template>> {
  const t: Record<string, Template> = {};
  t['topic'] = await capture((n) => {
    const topic = Topic.create(n, { capacity: 2048, maxMessageSize: 200 });
    for (let i = 0; i < 30; i++) topic.publish(new Uint8Array(5 + (i % 40)).fill(i));
    return () => topic.close();
  });
  t['queue'] = await capture((n) => {
    const q = Queue.create(n, { slots: 4, maxMessageSize: 64 });
    q.trySend('one');
    q.trySend(new Uint8Array(40));
    return () => q.close();
  });
  t['mailbox'] = await capture((n) => {
    const mb = Mailbox.create(n, { maxMessageSize: 64 });
    mb.write('value');
    return () => mb.close();
  });
  t['rpc'] = await capture((n) => {
    const server = Rpc.serve(n, (req) => req.data, { maxMessageSize: 64, slots: 2 });
    return () => server.close();
  });
  t['mutex'] = await capture((n) => {
    const m = Mutex.create(n);
    m.lockSync();
    return () => m.close();
  });
  t['rwlock'] = await capture((n) => {
    const rw = RwLock.create(n);
    rw.readLockSync();
    return () => rw.close();
  });
  t['semaphore'] = await capture((n) => {
    const s = Semaphore.create(n, { initial: 2 });
    s.acquireSync();
    return () => s.close();
  });
  t['event'] = await capture((n) => {
    const e = Event.create(n, { set: true });
    return () => e.close();
  });
  return t;
}

describe('readers of shared memory over corrupted segments (fast-check)', () => {
  let tpl: Record<string, Template> = {};
  for (const kind of Object.keys(uses)) {
    // A corrupt queue ring makes a try-call spin to its retry bound (about 4 M steps) before ERR_SHM_CORRUPT: fewer cases.
    const runs = kind === 'queue' ? Math.ceil(RUNS / 10) : kind === 'rpc' ? Math.ceil(RUNS / 3) : RUNS;
    it(`${kind}: any corruption before or after the open gives only typed errors (${runs} cases)`, { timeout: 600_000 }, async () => {
      if (!tpl[kind]) tpl = await templates();
      await fc.assert(
        fc.asyncProperty(fc.array(corruption, { minLength: 1, maxLength: 6 }), fc.array(corruption, { maxLength: 4 }), async (cs, later) => {
          await trial(tpl[kind]!, cs, later, uses[kind]!);
        }),
        params(runs),
      );
    });
  }
});
