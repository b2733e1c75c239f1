/**
 * Topic <-> NATS core subject: lossy both ways, like the ring. Out: the bridge is one more subscriber of the local
 * topic (publishers never wait for it; when NATS is slow or away the ring laps it and the loss is counted). In:
 * the bridge publishes what arrives into the local topic (creating it, sized like the sender's, if missing).
 * Every outgoing message is numbered (Shmbus-N), messages lost before NATS included, so the receiving bridge
 * counts every loss on the way from the gaps. A message the bridge published itself is never sent back out.
 */
import type { Msg, Subscription } from 'nats';
import { isShmbusError } from '../errors.js';
import { Segment } from '../segment/segment.js';
import { Topic, type ReadOptions, type Subscriber } from '../channels/topic.js';
import { TOPIC_PARAM_CAPACITY_HI, TOPIC_PARAM_CAPACITY_LO, TOPIC_PARAM_MAX_MESSAGE } from '../protocol/index.js';
import { TWO32 } from '../base/u64.js';
import { errorText, newFigures, pause, type Link, type LinkContext } from './link.js';
import { COPIED_UP_TO, headerLines, RawOut } from './raw-out.js';
import { subjectOf, type ResolvedChannel } from './spec.js';
import { chunkHeader, chunkLimit, H, intHeader, makeHeaders, Reassembly, split } from './wire.js';

/** Ring size of a topic the bridge creates when the sender did not say (or said something impossible). */
const DEFAULT_CAPACITY = 16 << 20;
/** Per sending bridge run: the last message number delivered and the message being reassembled. */
interface Sender {
  lastN: number;
  chunks: Reassembly;
}

export class TopicLink implements Link {
  readonly figures = newFigures();
  readonly subject: string;
  #sub: Subscriber | null = null;
  #pub: Topic | null = null;
  #natsSub: Subscription | null = null;
  /** Seqs of messages this bridge published into the local topic, ascending: its own subscriber skips them. */
  #own: number[] = [];
  #senders = new Map<string, Sender>();
  /** One reassembly buffer for every sender: a reassembled message is published (copied into the ring) at once. */
  readonly #spare: { buf: Uint8Array | null } = { buf: null };
  #loop: Promise<void> = Promise.resolve();

  constructor(
    readonly channel: ResolvedChannel,
    private readonly ctx: LinkContext,
  ) {
    this.subject = subjectOf(ctx.prefix, channel);
  }

  async start(): Promise<void> {
    const { channel, ctx } = this;
    if (channel.direction !== 'out') {
      this.#natsSub = ctx.nc.subscribe(this.subject, { callback: (err, msg) => (err ? this.#fail(err) : this.#arrive(msg)) });
    }
    if (channel.direction !== 'in') {
      // Waits for the topic to appear (it may be created later, also by this bridge's inbound side).
      this.#sub = Topic.subscribe(channel.local, { from: 'latest', timeout: Infinity }).unref();
      this.#loop = this.#relayOut();
    }
    this.figures.state = 'running';
  }

  #fail(e: unknown): void {
    this.figures.error = errorText(e);
    this.ctx.log('error', { channel: `topic ${this.channel.local}`, error: this.figures.error });
  }

  /** A message from NATS: count the gap since the sender's previous one, reassemble, publish locally. */
  #arrive(msg: Msg): void {
    const h = msg.headers;
    const origin = h?.get(H.origin) ?? '';
    if (origin === this.ctx.host) return; // our own, echoed by a server that ignores noEcho (a second connection)
    const n = intHeader(h, H.n);
    const key = `${origin}/${h?.get(H.run) ?? ''}`;
    let s = this.#senders.get(key);
    if (!s) this.#senders.set(key, (s = { lastN: n === undefined ? 0 : n - 1, chunks: new Reassembly(this.#spare) }));
    let data: Uint8Array | null = msg.data;
    const c = chunkHeader(h);
    if (c) data = s.chunks.add(String(n), c.k, c.total, msg.data);
    if (data === null) return; // more chunks to come (or an abandoned message: its number shows as a gap)
    if (n !== undefined) {
      if (n > s.lastN + 1) this.figures.in.lost += n - s.lastN - 1;
      if (n <= s.lastN) return; // stale or repeated
      s.lastN = n;
    }
    const sent = intHeader(h, H.time);
    if (sent !== undefined) this.figures.lag = Math.max(0, Date.now() - sent);
    try {
      const pub = this.#pub ?? this.#publisher(h?.get(H.capacity), h?.get(H.maxMessageSize), data.length);
      if (data.length > pub.maxMessageSize) {
        this.figures.in.lost++;
        this.#fail(new Error(`a ${data.length}-byte message does not fit topic ${pub.name} (maxMessageSize ${pub.maxMessageSize})`));
        return;
      }
      const seq = pub.publish(data);
      // Only a relay out reads the topic (and skips these): an :in link keeps no list that would only grow.
      if (this.channel.direction !== 'in') this.#own.push(seq);
      this.figures.in.messages++;
      this.figures.in.bytes += data.length;
    } catch (e) {
      this.figures.in.lost++;
      this.#fail(e);
    }
  }

  /** The local publisher: opens the topic, or creates it sized like the sender's. */
  #publisher(capacity: string | undefined, max: string | undefined, size: number): Topic {
    if (this.#pub) return this.#pub;
    const name = this.channel.local;
    try {
      this.#pub = Topic.open(name, { timeout: 0 });
    } catch (e) {
      if (!isShmbusError(e, 'ERR_SHM_NOT_FOUND')) throw e;
      const maxMessageSize = Math.max(Number(max) || 0, size, 1024);
      const cap = Math.max(Number(capacity) || DEFAULT_CAPACITY, 2 * (maxMessageSize + 64));
      try {
        this.#pub = Topic.create(name, { capacity: cap, maxMessageSize });
        this.ctx.log('created', { channel: `topic ${name}`, capacity: cap, maxMessageSize });
      } catch (e2) {
        if (!isShmbusError(e2, 'ERR_SHM_EXISTS')) throw e2;
        this.#pub = Topic.open(name, { timeout: 1000 });
      }
    }
    return this.#pub;
  }

  /** Local -> NATS. Never waits on the ring's publishers; when NATS lags, the ring laps us (counted). */
  async #relayOut(): Promise<void> {
    const { ctx } = this;
    const sub = this.#sub!;
    const raw = RawOut.of(ctx.nc);
    let n = 0;
    let lostSeen = 0;
    let sizes: { capacity?: number; maxMessageSize?: number } | null = null;
    /** Header lines fixed for this run (raw path). */
    let fixed: string | null = null;
    const out = new OutBuffers();
    let sinceFlush = 0;
    /** Fallback path: the flush asked for FLUSH_EVERY bytes ago, awaited only when the next one is due. */
    let flushing: Promise<void> = Promise.resolve();
    const reading: ReadOptions = { signal: ctx.signal };
    while (!ctx.signal.aborted) {
      let m;
      try {
        // Back-pressure from the socket, not from a server round trip: at most IN_FLIGHT large messages written
        // and not yet taken by the socket (the ring laps us meanwhile: counted).
        if (out.full) await out.room();
        // Fallback path: fresh arrays (the client holds views of what it was given until its flush, longer while it
        // reconnects).
        reading.into = raw !== null ? out.next() : undefined;
        m = await sub.read(reading);
      } catch (e) {
        if (ctx.signal.aborted || sub.closed) return;
        this.#fail(e);
        await pause(500, ctx.signal);
        continue;
      }
      if (m === null) {
        // No publisher left: the stream ended for now; a new publisher may come.
        await pause(200, ctx.signal);
        continue;
      }
      sizes ??= topicSizes(this.channel.local);
      // Skip what this bridge published itself (seqs ascend; seqs below m.seq were lapped).
      while (this.#own.length > 0 && this.#own[0]! < m.seq) this.#own.shift();
      if (this.#own.length > 0 && this.#own[0] === m.seq) {
        this.#own.shift();
        continue;
      }
      const lost = sub.lost;
      if (lost > lostSeen) {
        // Lapped on the local ring: those numbers are skipped, so the receiver counts them as lost too.
        this.figures.out.lost += lost - lostSeen;
        n += lost - lostSeen;
        lostSeen = lost;
      }
      n++;
      if (!ctx.connected() || (raw !== null && !raw.ready)) {
        this.figures.out.lost++; // NATS unreachable: dropped, never buffered (the receiver sees the gap)
        continue;
      }
      const data = m.data;
      try {
        const chunks = split(data, chunkLimit(ctx.maxPayload()));
        const time = m.timestamp > 0 ? Math.round(m.timestamp) : undefined;
        if (raw !== null) {
          fixed ??= headerLines({ [H.origin]: ctx.host, [H.run]: ctx.run, [H.capacity]: sizes.capacity, [H.maxMessageSize]: sizes.maxMessageSize });
          const common = `${fixed}${H.n}: ${n}\r\n${time === undefined ? '' : `${H.time}: ${time}\r\n`}`;
          const written = raw.publish(this.subject, chunks, common, chunks.length > 1 ? (k) => `${H.chunk}: ${k}/${chunks.length}\r\n` : undefined);
          out.sent(data, written);
        } else {
          for (let k = 0; k < chunks.length; k++) {
            const headers = makeHeaders({
              [H.origin]: ctx.host,
              [H.run]: ctx.run,
              [H.n]: n,
              [H.time]: time,
              [H.capacity]: sizes.capacity,
              [H.maxMessageSize]: sizes.maxMessageSize,
              [H.chunk]: chunks.length > 1 ? `${k}/${chunks.length}` : undefined,
            });
            ctx.nc.publish(this.subject, chunks[k], { headers });
          }
          // The client copies the message into one buffer and writes it in a microtask: let it, before the next
          // read (whose spin runs synchronously) and before the buffer is read into again.
          await null;
          sinceFlush += data.length;
          if (sinceFlush >= FLUSH_EVERY) {
            // Bound what the client buffers (2 * FLUSH_EVERY at most): wait for the flush asked for one interval
            // ago, and ask for this one. Awaiting this flush itself stalls the relay for a server round trip every
            // 8 MiB (2.7 MB frames at about half the rate, round 6).
            sinceFlush = 0;
            await flushing;
            flushing = ctx.nc.flush().catch(() => undefined); // disconnected: the next messages are dropped and counted
          }
        }
      } catch (e) {
        this.figures.out.lost++;
        this.#fail(e);
        continue;
      }
      this.figures.out.messages++;
      this.figures.out.bytes += data.length;
    }
  }

  async sample(): Promise<void> {
    if (this.#sub && !this.#sub.closed && this.channel.direction === 'out') {
      try {
        this.figures.lag = this.#sub.stats().lag;
      } catch {
        // not attached yet
      }
    }
  }

  async close(): Promise<void> {
    this.#natsSub?.unsubscribe();
    this.#sub?.close();
    await this.#loop;
    this.#pub?.close();
  }
}

/** The local topic's capacity and largest message, read from its header (opening it would register a publisher). */
function topicSizes(name: string): { capacity?: number; maxMessageSize?: number } {
  try {
    const seg = Segment.open(name, { kind: 'topic', timeout: 0 });
    try {
      const p = seg.params;
      return { capacity: p[TOPIC_PARAM_CAPACITY_LO]! + p[TOPIC_PARAM_CAPACITY_HI]! * TWO32, maxMessageSize: p[TOPIC_PARAM_MAX_MESSAGE]! };
    } finally {
      seg.close();
    }
  } catch {
    return {};
  }
}

/** Large messages written to the socket and not yet taken by it, at most (then the relay waits for the socket). */
const IN_FLIGHT = 2;
/** Fallback path: bytes handed to the client between two flushes (bounds what it buffers). */
const FLUSH_EVERY = 8 << 20;

/**
 * The relay's read buffers. Messages up to COPIED_UP_TO bytes are read into one buffer (their frame is a copy); a
 * larger one is written from the buffer it was read into, which stays out of use until the socket took it. At
 * most IN_FLIGHT are out; they come back for reuse (a message read into a fresh array too, up to IN_FLIGHT kept).
 */
class OutBuffers {
  readonly #small = new Uint8Array(COPIED_UP_TO);
  readonly #free: Uint8Array[] = [];
  readonly #writes: Promise<unknown>[] = [];

  /** True while IN_FLIGHT large messages wait for the socket (checked first: no promise per message otherwise). */
  get full(): boolean {
    return this.#writes.length >= IN_FLIGHT;
  }

  /** Resolves once fewer than IN_FLIGHT large messages wait for the socket. */
  async room(): Promise<void> {
    while (this.#writes.length >= IN_FLIGHT) await this.#writes[0];
  }

  /** The buffer to read the next message into (a message that does not fit is read into a fresh one). */
  next(): Uint8Array {
    return this.#free.length > 0 ? this.#free[this.#free.length - 1]! : this.#small;
  }

  /** `data` (read into next() or fresh) was published; a large one's bytes are in use until `written` resolves. */
  sent(data: Uint8Array, written: Promise<unknown>): void {
    if (data.length <= COPIED_UP_TO) return;
    const i = this.#free.findIndex((b) => b.buffer === data.buffer);
    const buf = i >= 0 ? this.#free.splice(i, 1)[0]! : data;
    const p: Promise<void> = written.then(() => {
      this.#writes.splice(this.#writes.indexOf(p), 1);
      // Kept for reuse, smallest first out: the largest IN_FLIGHT buffers seen.
      this.#free.push(buf);
      this.#free.sort((x, y) => x.length - y.length);
      if (this.#free.length > IN_FLIGHT) this.#free.shift();
    });
    this.#writes.push(p);
  }
}
