/**
 * The far side of the Topic and Mailbox benchmarks (bench/suites/30-topic.ts).
 *
 * usage: topic-peer.js echo <ping> <pong> <poll|await|park> [zc]
 *          prints "ready"; echoes every message of <ping> on <pong> until a 1-byte message; each ping carries the
 *          sender's process.hrtime (ns, f64 at byte 0), so it records one-way latency (the stamp to the moment
 *          the echo is published: the clock is read after the echo, off the round trip's path) and prints
 *          "oneway <p50> <p99> <p99.9>" (µs) at the end. poll: busy tryRead; await: read() (spin, then park);
 *          park: read() with spin 0 (every message wakes a sleeping process). zc: echo zero-copy (loan the same
 *          size, write only the stamp, commit), for frames.
 *        topic-peer.js mbecho <mailboxA> <mailboxB>
 *          prints "ready"; for each new version of mailbox A (await changed(), parked: no spinning) writes a 64 B
 *          value to mailbox B, until A holds a 1-byte value.
 *        topic-peer.js sub <topic> <lastSeq> <copy 1|0> <poll|await>
 *          prints "ready"; reads until it sees seq <lastSeq>; prints "done <read> <lost> <bytes>".
 * Bounded: every read times out after 60 s, so a broken run ends instead of hanging.
 */
import { Mailbox, Topic } from '../../src/index.js';
import { awaitRead, pollView, seqNumber } from '../api.js';
import { stats } from '../lib.js';

const [role, a, b, c, d] = process.argv.slice(2);
const TIMEOUT = 60_000;
const say = (l: string): void => void process.stdout.write(`${l}\n`);

try {
  if (role === 'echo') {
    const mode = c as 'poll' | 'await' | 'park';
    const zeroCopy = d === 'zc'; // echo by loaning the same size and writing only the 8-byte stamp
    const sub = Topic.subscribe(a!, { spin: mode === 'park' ? 0 : 50 });
    const pub = Topic.open(b!);
    // Allocation-free bookkeeping (issue 12): one-way samples in a preallocated array, the stamp read through a
    // fixed 8-byte alias (a DataView per message and a growing array were this echo's garbage: its scavenges
    // stalled the round trip being measured).
    // A small ring of the latest one-way samples, cycled, so its 8 pages stay hot: the first write to each page of
    // a large array (even pre-faulted) stalled the echo for ~2-5 µs once per 512 messages, and that delayed the
    // next round trip (bench/tail.ts --dump: slow round trips at one index mod 512, moved by an array offset). The
    // stats cover the last ONEWAY_KEPT messages: the end of the measured loop, which comes last.
    const ONEWAY_KEPT = 4096;
    const oneway = new Float64Array(ONEWAY_KEPT).fill(-1);
    let n = 0;
    const stamp = new Float64Array(1);
    const stampBytes = new Uint8Array(stamp.buffer);
    say('ready');
    for (;;) {
      let data = pollView(sub);
      if (data === null) {
        if (mode === 'poll') {
          while ((data = pollView(sub)) === null);
        } else {
          const m = await awaitRead(sub);
          if (m === null) throw new Error(`topic "${a}" ended`);
          data = m.data;
        }
      }
      if (data.length === 1) break;
      if (zeroCopy) {
        const loan = pub.loan(data.length);
        loan.bytes.set(data.subarray(0, 8));
        loan.commit();
      } else {
        pub.publish(data);
      }
      // Bookkeeping after the echo is on its way (the stamp is intact: the next ping cannot lap a 1 MiB ring). The
      // clock read comes after the publish: before it, its ~0.1 µs (and its BigInt) were part of every round trip.
      const now = Number(process.hrtime.bigint());
      for (let k = 0; k < 8; k++) stampBytes[k] = data[k]!;
      oneway[n++ & (ONEWAY_KEPT - 1)] = (now - stamp[0]!) / 1000;
    }
    const s = stats(oneway.subarray(0, Math.min(n, ONEWAY_KEPT)));
    say(`oneway ${s.p50} ${s.p99} ${s.p999}`);
    pub.close();
    sub.close();
  } else if (role === 'mbecho') {
    const from = Mailbox.open(a!);
    const to = Mailbox.open(b!);
    const reply = new Uint8Array(64);
    let seen = from.version;
    say('ready');
    for (;;) {
      seen = await from.changed({ since: seen, timeout: TIMEOUT });
      if (from.read().data.length === 1) break;
      to.write(reply);
    }
    from.close();
    to.close();
  } else if (role === 'sub') {
    const last = Number(b!);
    const copy = c === '1';
    const poll = d === 'poll';
    const sub = Topic.subscribe(a!);
    // Copying readers reuse one buffer (read({ into })): a fresh multi-MB array per frame costs more than the copy.
    const into = new Uint8Array(1 << 23);
    const opts = { copy, into };
    say('ready');
    let read = 0;
    let bytes = 0;
    for (;;) {
      let m = sub.tryRead(opts);
      if (m === null) {
        if (poll) while ((m = sub.tryRead(opts)) === null);
        else m = (await sub.read({ timeout: TIMEOUT, ...opts }))!;
      }
      // A zero-copy reader touches the frame (first and last byte) and checks it was not overwritten meanwhile.
      if (!copy && m.data.length > 0 && (m.data[0]! | m.data[m.data.length - 1]!) < 0) throw new Error('unreachable');
      if (copy || m.valid()) {
        read++;
        bytes += m.data.length;
      }
      if (seqNumber(m.seq) >= last) break;
    }
    say(`done ${read} ${sub.lost} ${bytes}`);
    sub.close();
  } else {
    throw new Error(`unknown role ${role}`);
  }
  process.exit(0);
} catch (e) {
  process.stderr.write(`topic-peer ${role}: ${String((e as Error)?.stack ?? e)}\n`);
  process.exit(1);
}
