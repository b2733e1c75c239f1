/**
 * Child for the exhausted-resources tests (run inside a private /dev/shm by the test). argv[2] = scenario:
 *   full: a topic and a queue stream while fillers take all the space: creates fail with ERR_SHM_NO_SPACE, the
 *         streams go on (their pages were reserved at creation: no SIGBUS); once the fillers are removed, creating
 *         works again. Prints "result <json>".
 *   many <n>: creates n segments (and a topic, a queue, a mailbox over them), checks each, lists them, removes them.
 *   maps: creates segments until shmbus refuses one (its mapping budget under vm.max_map_count, lowered by
 *         SHMBUS_MAX_MAP_COUNT in the quick form): a typed error instead of V8 aborting the process; then closes a
 *         thousand, lets them be collected (their ranges stay mapped until then) and creates again.
 *   fds: (under a small RLIMIT_NOFILE) creates and opens segments and channels, typed errors only, then recovery.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Mailbox, Queue, Segment, ShmbusError, Topic } from '../../src/index.js';
import { fail, say } from '../fixtures/lib.js';

const [scenario, arg] = process.argv.slice(2);
const codes = new Map<string, number>();
function attempt<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof ShmbusError)) throw e;
    codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
    return null;
  }
}

try {
  if (scenario === 'full') {
    const topic = Topic.create('r-topic', { capacity: 64 * 1024 });
    const sub = Topic.subscribe('r-topic');
    const q = Queue.create('r-queue', { slots: 8, maxMessageSize: 1024 });
    const fillers: string[] = [];
    // Fill what is left with 256 KiB segments, then with 4 KiB ones, until the OS says no.
    for (const size of [256 * 1024, 4096]) {
      for (let i = 0; ; i++) {
        const n = `r-fill-${size}-${i}`;
        const s = attempt(() => Segment.create(n, { size }));
        if (s === null) break;
        s.close();
        fillers.push(n);
      }
    }
    const refused = attempt(() => Queue.create('r-late', { slots: 64, maxMessageSize: 4096 })) === null;
    // The streams made before go on: every page of theirs was reserved.
    let streamed = 0;
    const msg = new Uint8Array(900).fill(7);
    for (let i = 0; i < 2000; i++) {
      topic.publish(msg);
      if (sub.tryRead()?.data.length === 900) streamed++;
      if (!q.trySend(msg)) throw new Error('queue full');
      if (q.tryReceive()?.data.length === 900) streamed++;
    }
    for (const n of fillers) Segment.unlink(n);
    const late = attempt(() => Queue.create('r-late', { slots: 64, maxMessageSize: 4096 }));
    const recovered = late !== null && late.trySend('after') && late.tryReceive()?.text() === 'after';
    late?.close();
    say(`result ${JSON.stringify({ fillers: fillers.length, refused, streamed, recovered, codes: Object.fromEntries(codes) })}`);
  } else if (scenario === 'many') {
    const n = Number(arg);
    const segs: Segment[] = [];
    for (let i = 0; i < n; i++) {
      const s = attempt(() => Segment.create(`r-many-${i}`, { size: 64 }));
      if (s === null) break;
      s.bytes[0] = i & 0xff;
      segs.push(s);
    }
    const topic = Topic.create('r-many-topic', { capacity: 4096 });
    const q = Queue.create('r-many-q', { slots: 4, maxMessageSize: 64 });
    const mb = Mailbox.create('r-many-mb', { maxMessageSize: 64 });
    topic.publish('x');
    q.trySend('y');
    mb.write('z');
    let good = 0;
    for (let i = 0; i < segs.length; i++) if (segs[i]!.bytes[0] === (i & 0xff)) good++;
    const listed = Segment.list().filter((s) => s.name.startsWith('r-many-')).length;
    const ok = q.tryReceive()?.text() === 'y' && mb.read().text() === 'z';
    for (const s of segs) s.close();
    for (let i = 0; i < segs.length; i++) Segment.unlink(`r-many-${i}`);
    topic.close();
    q.close();
    mb.close();
    say(`result ${JSON.stringify({ created: segs.length, good, listed, ok, codes: Object.fromEntries(codes) })}`);
  } else if (scenario === 'maps') {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const segs: Segment[] = [];
    let refusal = '';
    for (let i = 0; ; i++) {
      const s = attempt(() => Segment.create(`r-map-${i}`, { size: 64 }));
      if (s === null) {
        try {
          Segment.create(`r-map-${i}`, { size: 64 }).close();
        } catch (e) {
          refusal = (e as Error).message;
        }
        break;
      }
      segs.push(s);
    }
    const atLimit = segs.length;
    // Free a thousand mappings: once their buffers are collected, creating works again (bounded retries).
    for (const s of segs.splice(-1000)) s.close();
    let again: Segment | null = null;
    for (let i = 0; i < 50 && again === null; i++) {
      gc();
      await new Promise(setImmediate);
      again = attempt(() => Segment.create('r-map-again', { size: 64 }));
    }
    const recovered = again !== null && again.bytes.length >= 64;
    again?.close();
    for (const s of segs) s.close();
    say(`result ${JSON.stringify({ atLimit, recovered, refusal, codes: Object.fromEntries(codes) })}`);
  } else if (scenario === 'fds') {
    // Under a small fd limit (prlimit): many handles of every kind; failures must be typed; closing recovers.
    const handles: { close(): void }[] = [];
    for (let i = 0; i < 300; i++) {
      const made = attempt(() => {
        const k = i % 3;
        return k === 0 ? Topic.create(`r-fd-${i}`, { capacity: 4096 }) : k === 1 ? Queue.create(`r-fd-${i}`, { slots: 2, maxMessageSize: 64 }) : Mailbox.create(`r-fd-${i}`, { maxMessageSize: 64 });
      });
      if (made) handles.push(made);
      const opened = attempt(() => Segment.open(`r-fd-${i}`));
      if (opened) handles.push(opened);
    }
    const subs = [];
    for (let i = 0; i < 300; i += 3) {
      const s = attempt(() => Topic.subscribe(`r-fd-${i}`));
      if (s) subs.push(s);
    }
    for (const s of subs) s.close();
    for (const h of handles) h.close();
    const q = attempt(() => Queue.open('r-fd-1'));
    const recovered = q !== null && q.trySend('a') && q.tryReceive()?.text() === 'a';
    q?.close();
    say(`result ${JSON.stringify({ handles: handles.length, subs: subs.length, recovered, codes: Object.fromEntries(codes) })}`);
  }
  process.exit(0);
} catch (e) {
  fail(e);
}
