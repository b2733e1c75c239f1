/**
 * Topic <-> NATS core subject: lossy both ways, like the ring. Out: the bridge is one more subscriber of the local
 * topic (publishers never wait for it; when NATS is slow or away the ring laps it and the loss is counted). In:
 * the bridge publishes what arrives into the local topic (creating it, sized like the sender's, if missing).
 * Every outgoing message is numbered (Shmbus-N), messages lost before NATS included, so the receiving bridge
 * counts every loss on the way from the gaps. A message the bridge published itself is never sent back out.
 */
import type { Msg, MsgHdrs, Subscription } from 'nats';
import { isShmbusError } from '../errors.js';
import { Segment } from '../segment/segment.js';
import { Topic, type Subscriber } from '../channels/topic.js';
import { TOPIC_PARAM_CAPACITY_HI, TOPIC_PARAM_CAPACITY_LO, TOPIC_PARAM_MAX_MESSAGE } from '../protocol/index.js';
import { TWO32 } from '../base/u64.js';
import { errorText, newFigures, pause, type Link, type LinkContext } from './link.js';
import { subjectOf, type ResolvedChannel } from './spec.js';
import { chunkHeader, chunkLimit, H, intHeader, makeHeaders, Reassembly, split } from './wire.js';

/** Bytes handed to the NATS client before the bridge waits for the server to have them (a flush round trip). */
const FLUSH_EVERY = 8 << 20;
/** Ring size of a topic the bridge creates when the sender did not say (or said something impossible). */
const DEFAULT_CAPACITY = 16 << 20;
/** Messages at least this large are read into one reused buffer (a fresh one per frame cost its page faults). */
const REUSE_FROM = 64 << 10;

/**
 * Bytes the NATS client holds and has not handed to its socket yet, or undefined when its internals are not what
 * this version of `nats` has (then no buffer is ever reused). A reused read buffer may be overwritten only once
 * the client copied it out: its flush concatenates what it holds into a fresh buffer for the socket.
 */
function clientPending(nc: unknown): number | undefined {
  const size = (nc as { protocol?: { outbound?: { size?: unknown } } }).protocol?.outbound?.size;
  return typeof size === 'function' ? (size.call((nc as { protocol: { outbound: unknown } }).protocol.outbound) as number) : undefined;
}

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
      const pub = this.#publisher(h?.get(H.capacity), h?.get(H.maxMessageSize), data.length);
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
    let n = 0;
    let lostSeen = 0;
    let sinceFlush = 0;
    /** The flush asked for FLUSH_EVERY bytes ago: awaited only when the next one is due (one in flight). */
    let flushing: Promise<void> = Promise.resolve();
    let sizes: { capacity?: number; maxMessageSize?: number } | null = null;
    /**
     * Headers of a whole message (no chunks), reused: the fields that never change for this run are set once and
     * only the number and time per message (publish encodes them at once). A fresh set of headers per message cost
     * 15-20 µs here, this 8-10 (issue 16 measurements, docs/bridge.md).
     */
    let whole: MsgHdrs | null = null;
    /** Large messages are copied out of the ring into this buffer, reused while the client lets go of it in time. */
    let scratch: Uint8Array | undefined;
    const reading = { signal: ctx.signal, into: scratch };
    while (!ctx.signal.aborted) {
      let m;
      try {
        reading.into = scratch;
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
      if (!ctx.connected()) {
        this.figures.out.lost++; // NATS unreachable: dropped, never buffered (the receiver sees the gap)
        continue;
      }
      const chunks = split(m.data, chunkLimit(ctx.maxPayload()));
      try {
        if (chunks.length === 1) {
          whole ??= makeHeaders({ [H.origin]: ctx.host, [H.run]: ctx.run, [H.capacity]: sizes.capacity, [H.maxMessageSize]: sizes.maxMessageSize });
          whole.set(H.n, String(n));
          if (m.timestamp > 0) whole.set(H.time, String(Math.round(m.timestamp)));
          else whole.delete(H.time);
          ctx.nc.publish(this.subject, chunks[0], { headers: whole });
        } else for (let k = 0; k < chunks.length; k++) {
          const headers = makeHeaders({
            [H.origin]: ctx.host,
            [H.run]: ctx.run,
            [H.n]: n,
            [H.time]: m.timestamp > 0 ? Math.round(m.timestamp) : undefined,
            [H.capacity]: sizes.capacity,
            [H.maxMessageSize]: sizes.maxMessageSize,
            [H.chunk]: chunks.length > 1 ? `${k}/${chunks.length}` : undefined,
          });
          ctx.nc.publish(this.subject, chunks[k], { headers });
        }
      } catch (e) {
        this.figures.out.lost++;
        this.#fail(e);
        // The client may hold the chunks published before the throw: the next read must not overwrite them.
        if (m.data.buffer === scratch?.buffer) scratch = undefined;
        continue;
      }
      this.figures.out.messages++;
      this.figures.out.bytes += m.data.length;
      // Let the client's flush (a microtask queued by publish) write the message to the socket now: the next
      // read() spins synchronously first, which held every message back by the whole spin budget (issue 16: the
      // out crossing spent 95-250 µs between publish and the socket write, 36-80 µs with this).
      await null;
      if (scratch !== undefined && m.data.buffer === scratch.buffer) {
        // Reused only once the client copied the message out (nothing pending). Else (it buffers while it
        // reconnects) the buffer is the client's now: the next read gets a fresh one.
        if (clientPending(ctx.nc) !== 0) scratch = undefined;
      } else if (m.data.length >= REUSE_FROM && clientPending(ctx.nc) === 0) {
        // Room for somewhat larger messages too (frames of varying size), within the topic's maximum.
        scratch = new Uint8Array(Math.max(m.data.length, Math.min(sizes.maxMessageSize ?? 0, 2 * m.data.length)));
      }
      sinceFlush += m.data.length;
      if (sinceFlush >= FLUSH_EVERY) {
        // Bound what the client buffers (2 * FLUSH_EVERY at most): wait until the server has what was handed over
        // up to the previous flush (meanwhile the ring may lap us: counted), and ask for this one. Awaiting this
        // flush itself stalled the relay for a round trip every 8 MiB: 2.7 MB frames ran at about half the rate.
        sinceFlush = 0;
        await flushing;
        flushing = ctx.nc.flush().catch(() => {
          // disconnected: the next messages are dropped and counted until it reconnects
        });
      }
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
