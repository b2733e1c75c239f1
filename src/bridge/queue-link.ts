/**
 * Queue <-> JetStream: lossless across hosts, one way per link.
 *
 * Out (`:out`): records taken from the local queue are journaled (journal.ts) before they are published; each
 * record has an id `<epoch>.<n>` (the journal's epoch, numbers in order), small records travel packed together (one
 * JetStream message and one acknowledgement for many), a record larger than max_payload in chunks. Records leave
 * the journal once JetStream acknowledged them; a bridge killed meanwhile republishes the journal on restart (the
 * stream's duplicate window drops repeated message ids). The end of the local stream is published as a message
 * with the Shmbus-End header.
 *
 * In (`:in`): a durable pull consumer on a work-queue stream; a message is acknowledged only once its records are
 * in the local queue, and the id of each record is journaled right after it went in, so that a record seen again
 * (redelivered after a bridge restart, or republished by a restarted sender) is not put in twice. On every
 * (re)start the consumer is re-created, so that delivery restarts in stream order from the first unacknowledged
 * message.
 */
import { AckPolicy, DeliverPolicy, nanos, RetentionPolicy, StorageType, type JsMsg } from 'nats';
import { Queue } from '../channels/queue.js';
import { errorText, newFigures, pause, type Link, type LinkContext } from './link.js';
import { InJournal, OutJournal, QueueTickets, type JournalRecord } from './journal.js';
import { natsIdent, streamOf, subjectOf, type ResolvedChannel } from './spec.js';
import { chunkHeader, chunkLimit, H, idHeader, intHeader, makeHeaders, packRecords, PACK_OVERHEAD, Reassembly, split, unpackRecords } from './wire.js';

/** Records taken from the local queue per JetStream batch (all published at once, acknowledged together). */
const BATCH_RECORDS = 512;
/** Bytes per batch (beyond the first record). */
const BATCH_BYTES = 1 << 20;
/** Messages fetched from JetStream per pull (each packs many records). */
const FETCH = 16;
/** JetStream's ack wait for the inbound consumer; records in hand are kept alive with working() well before. */
const ACK_WAIT_MS = 30_000;
const KEEPALIVE_MS = 5_000;
/** JetStream's duplicate window for bridged streams: a restarted bridge republishes its journal within it. */
const DUPLICATE_WINDOW_MS = 10 * 60_000;

export class QueueLink implements Link {
  readonly figures = newFigures();
  readonly subject: string;
  readonly stream: string;
  readonly durable: string;
  #queue: Queue | null = null;
  /** The local queue's tickets (the inbound journal's witness of a put cut short). */
  #tickets: QueueTickets | null = null;
  #loop: Promise<void> = Promise.resolve();
  /** In: messages fetched and not yet acknowledged (kept alive with working()). */
  #unacked = new Set<JsMsg>();

  constructor(
    readonly channel: ResolvedChannel,
    private readonly ctx: LinkContext,
  ) {
    this.subject = subjectOf(ctx.prefix, channel);
    this.stream = streamOf(ctx.prefix, channel);
    this.durable = `shmbus_${natsIdent(channel.remote)}`;
  }

  get journalName(): string {
    return `${this.ctx.segmentBase}.j.${this.channel.local}`;
  }

  async start(): Promise<void> {
    await this.ctx.whenConnected();
    await this.#ensureStream();
    this.#loop = (this.channel.direction === 'out' ? this.#relayOut() : this.#relayIn()).catch((e: unknown) => {
      this.#fail(e);
      this.figures.state = 'error';
    });
  }

  #fail(e: unknown): void {
    this.figures.error = errorText(e);
    this.ctx.log('error', { channel: `queue ${this.channel.local}`, error: this.figures.error });
  }

  async #ensureStream(): Promise<void> {
    const { jsm } = this.ctx;
    try {
      await jsm.streams.info(this.stream);
      return;
    } catch {
      // missing: add it (a racing bridge may add it first)
    }
    try {
      await jsm.streams.add({
        name: this.stream,
        subjects: [this.subject],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      });
    } catch (e) {
      await jsm.streams.info(this.stream).catch(() => {
        throw e;
      });
    }
  }

  // ----------------------------------------------------------------------------------------------- out

  async #relayOut(): Promise<void> {
    const { ctx } = this;
    this.figures.state = 'waiting';
    const q = await Queue.openAsync(this.channel.local, { timeout: Infinity, signal: ctx.signal });
    this.#queue = q.unref();
    const size = BATCH_BYTES + q.maxMessageSize + 8 * BATCH_RECORDS;
    let journal = OutJournal.open(this.journalName, size);
    this.figures.state = 'running';
    let clean = false;
    try {
      if (journal.count > 0) {
        ctx.log('resume', { channel: `queue ${this.channel.local}`, records: journal.count });
        if (!(await this.#publish(journal, journal.pending, q))) return;
        journal.done();
        // A journal kept for its records may be too small for this queue (re-created bigger): open() renews it.
        journal.close(false);
        journal = OutJournal.open(this.journalName, size);
      }
      for (;;) {
        let m;
        try {
          // Received straight into the journal (the copy out of the queue is the journal's copy), then committed
          // there at once: a kill in between loses the record, so that step is kept as short as it can be.
          m = await q.receive({ signal: ctx.signal, into: journal.reserve() });
        } catch (e) {
          if (ctx.signal.aborted) {
            clean = true;
            return;
          }
          throw e;
        }
        if (m === null) {
          // End of stream: carried over as a record of its own.
          if (!(await this.#sendEnd(journal.epoch, journal.take()))) return;
          this.figures.state = 'ended';
          ctx.log('ended', { channel: `queue ${this.channel.local}` });
          clean = true;
          return;
        }
        // Journal each record as soon as it is taken (the local queue no longer has it).
        journal.added(m.data, m.isText);
        while (journal.count < BATCH_RECORDS && journal.bytes < BATCH_BYTES) {
          const more = q.tryReceive({ into: journal.reserve() });
          if (more === null) break;
          journal.added(more.data, more.isText);
        }
        if (!(await this.#publish(journal, journal.pending, q))) return;
        journal.done();
      }
    } finally {
      journal.close(clean && journal.count === 0);
    }
  }

  /** Publishes journaled records (ids from journal.next) until JetStream has them all; false if the bridge closes. */
  async #publish(journal: OutJournal, records: JournalRecord[], q: Queue): Promise<boolean> {
    for (;;) {
      if (this.ctx.signal.aborted) return false;
      await this.ctx.whenConnected();
      try {
        const results = await Promise.allSettled(this.#messages(journal.epoch, journal.next, records, q));
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
        this.figures.out.messages += records.length;
        this.figures.out.bytes += records.reduce((a, r) => a + r.data.length, 0);
        return true;
      } catch (e) {
        // Not acknowledged (disconnected, timed out): publish them all again; repeats are dropped by the
        // stream's duplicate window (same message ids) or by the receiver (same record ids).
        this.#fail(e);
        await pause(250, this.ctx.signal);
      }
    }
  }

  /**
   * Publishes records numbered from `first`: small ones packed together up to max_payload (one JetStream message,
   * one PubAck for many records), a record too large for one message alone in chunks. The promises of the PubAcks.
   */
  #messages(epoch: string, first: number, records: JournalRecord[], q: Queue): Promise<unknown>[] {
    const limit = chunkLimit(this.ctx.maxPayload());
    const acks: Promise<unknown>[] = [];
    const sizes = { [H.origin]: this.ctx.host, [H.slots]: q.slots, [H.maxMessageSize]: q.maxMessageSize };
    let i = 0;
    while (i < records.length) {
      const r = records[i]!;
      if (r.data.length + PACK_OVERHEAD > limit) {
        const chunks = split(r.data, limit);
        chunks.forEach((c, k) =>
          acks.push(
            this.ctx.js.publish(this.subject, c, {
              msgID: `${epoch}.${first + i}.${k}`,
              timeout: 10_000,
              headers: makeHeaders({ ...sizes, [H.id]: `${epoch}.${first + i}`, [H.text]: r.text ? 1 : undefined, [H.chunk]: `${k}/${chunks.length}` }),
            }),
          ),
        );
        i++;
        continue;
      }
      let j = i;
      let size = 0;
      while (j < records.length && size + PACK_OVERHEAD + records[j]!.data.length <= limit) size += PACK_OVERHEAD + records[j++]!.data.length;
      acks.push(
        this.ctx.js.publish(this.subject, packRecords(records.slice(i, j)), {
          msgID: `${epoch}.${first + i}-${first + j - 1}`,
          timeout: 10_000,
          headers: makeHeaders({ ...sizes, [H.id]: `${epoch}.${first + i}`, [H.pack]: j - i }),
        }),
      );
      i = j;
    }
    return acks;
  }

  /** Publishes the end-of-stream marker (record id `id`) until acknowledged; false if the bridge closes. */
  async #sendEnd(epoch: string, id: number): Promise<boolean> {
    for (;;) {
      if (this.ctx.signal.aborted) return false;
      await this.ctx.whenConnected();
      try {
        await this.ctx.js.publish(this.subject, new Uint8Array(0), {
          msgID: `${epoch}.${id}`,
          timeout: 10_000,
          headers: makeHeaders({ [H.origin]: this.ctx.host, [H.id]: `${epoch}.${id}`, [H.end]: 1 }),
        });
        return true;
      } catch (e) {
        this.#fail(e);
        await pause(250, this.ctx.signal);
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ in

  async #relayIn(): Promise<void> {
    const { ctx } = this;
    const journal = InJournal.open(this.journalName, () => this.#queueTickets());
    const keepalive = setInterval(() => {
      for (const m of this.#unacked) m.working();
    }, KEEPALIVE_MS);
    keepalive.unref();
    let clean = false;
    this.figures.state = 'running';
    try {
      while (!ctx.signal.aborted) {
        try {
          if (await this.#consume(journal)) {
            clean = true;
            return;
          }
        } catch (e) {
          if (ctx.signal.aborted) break;
          this.#fail(e);
          await pause(250, ctx.signal);
        }
      }
      clean = true;
    } finally {
      clearInterval(keepalive);
      this.#unacked.clear();
      if (clean) {
        // Our acks reached the server: acknowledged records are gone from the work queue, so the watermark is no
        // longer needed (and a stale one must not outlive a stream that is re-created).
        clean = await ctx.nc.flush().then(
          () => true,
          () => false,
        );
      }
      journal.close(clean);
    }
  }

  /** One consumer run: re-creates the consumer and relays until the bridge closes (false) or the stream ends (true). */
  async #consume(journal: InJournal): Promise<boolean> {
    const { ctx } = this;
    await ctx.whenConnected();
    // Re-created at each start: delivery restarts in stream order from the first record not acknowledged.
    await ctx.jsm.consumers.delete(this.stream, this.durable).catch(() => undefined);
    await ctx.jsm.consumers.add(this.stream, {
      durable_name: this.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ACK_WAIT_MS),
      max_ack_pending: 16 * FETCH,
    });
    const consumer = await ctx.js.consumers.get(this.stream, this.durable);
    // A record is sent into the local queue (copied) before the next message is read: one buffer serves them all.
    const chunks = new Reassembly({ buf: null });
    let held: JsMsg[] = [];
    const ack = (ms: JsMsg[]): void => {
      for (const x of ms) {
        x.ack();
        this.#unacked.delete(x);
      }
    };
    /** Stream sequence of the last message taken in this run (0: none yet). */
    let last = 0;
    while (!ctx.signal.aborted) {
      if (!ctx.connected()) throw new Error('disconnected');
      const batch = await consumer.fetch({ max_messages: FETCH, expires: 1000 });
      for await (const jm of batch) {
        this.#unacked.add(jm);
        // Strictly in stream order (the id marks below rely on it): every message of the work-queue stream comes
        // to this one consumer, so the next one is last + 1. A message seen again (its ack was late) is in already;
        // a gap (a message not handed to us, say by a pull that ended early) re-creates the consumer, which
        // restarts delivery from the first message not acknowledged.
        if (last !== 0 && jm.seq <= last) {
          jm.ack();
          this.#unacked.delete(jm);
          continue;
        }
        if (last !== 0 && jm.seq !== last + 1) {
          ctx.log('resync', { channel: `queue ${this.channel.local}`, expected: last + 1, got: jm.seq });
          for (const m of this.#unacked) m.nak();
          this.#unacked.clear();
          throw new Error(`stream sequence ${jm.seq} after ${last}: consumer re-created`);
        }
        last = jm.seq;
        const h = jm.headers;
        if (h?.get(H.origin) === ctx.host) {
          ack([jm]); // our own (a local name bridged out and in again): never back in
          continue;
        }
        const id = idHeader(h);
        let data: Uint8Array | null = jm.data;
        const c = chunkHeader(h);
        if (c) {
          held.push(jm);
          data = chunks.add(h?.get(H.id) ?? '', c.k, c.total, jm.data);
          if (data === null) {
            if (!chunks.partial) {
              this.figures.in.lost++;
              this.#fail(new Error(`queue ${this.channel.local}: incomplete chunked record dropped at stream seq ${jm.seq}`));
              ack(held);
              held = [];
            }
            continue;
          }
        } else held = [jm];
        if (h?.get(H.end)) {
          if (!id || id.n > journal.last(id.epoch)) {
            this.#localQueue(h).end();
            if (id) journal.set(id.epoch, id.n);
          }
          ack(held);
          held = [];
          this.figures.state = 'ended';
          ctx.log('ended', { channel: `queue ${this.channel.local}` });
          return true;
        }
        const count = intHeader(h, H.pack);
        const records = count === undefined ? [{ data, text: h?.get(H.text) !== undefined }] : unpackRecords(data, count);
        if (records === null) {
          this.figures.in.lost++;
          this.#fail(new Error(`queue ${this.channel.local}: a malformed pack at stream seq ${jm.seq} dropped`));
        } else {
          const q = this.#localQueue(h);
          for (let i = 0; i < records.length; i++) {
            // Already here (its acknowledgement was lost, or its sender republished it after a restart)?
            if (id && id.n + i <= journal.last(id.epoch)) continue;
            const r = records[i]!;
            if (r.data.length > q.maxMessageSize) {
              this.figures.in.lost++;
              this.#fail(new Error(`a ${r.data.length}-byte record does not fit queue ${q.name} (maxMessageSize ${q.maxMessageSize}): dropped`));
            } else {
              const payload = r.text ? new TextDecoder().decode(r.data) : r.data;
              // Pending first, with the ticket the put will claim: a kill between the put and the mark is resolved
              // on restart by that ticket's slot (journal.ts). Full local queue: wait for room (JetStream holds the rest meanwhile).
              if (id) journal.begin(id.epoch, id.n + i, this.#queueTickets()?.next() ?? 0);
              for (let turn = 0; !q.trySend(payload); turn++) {
                if (ctx.signal.aborted) return false;
                await (turn < 20 ? new Promise((r) => setImmediate(r)) : pause(1, ctx.signal));
              }
              this.figures.in.messages++;
              this.figures.in.bytes += r.data.length;
            }
            if (id) journal.set(id.epoch, id.n + i);
          }
        }
        ack(held);
        held = [];
      }
    }
    return false;
  }

  /** The local queue: opened, or created sized like the sender's. */
  #localQueue(h: JsMsg['headers']): Queue {
    if (this.#queue) return this.#queue;
    const slots = intHeader(h, H.slots);
    const maxMessageSize = intHeader(h, H.maxMessageSize);
    const ok = (n: number | undefined, max: number): n is number => n !== undefined && n >= 1 && n <= max;
    this.#queue = Queue.openOrCreate(this.channel.local, {
      ...(ok(slots, 1 << 24) && (slots & (slots - 1)) === 0 && { slots }),
      ...(ok(maxMessageSize, 1 << 30) && { maxMessageSize }),
    }).unref();
    return this.#queue;
  }

  /** The local queue's tickets, or null when there is no queue yet. */
  #queueTickets(): QueueTickets | null {
    this.#tickets ??= QueueTickets.open(this.channel.local);
    return this.#tickets;
  }

  async sample(): Promise<void> {
    try {
      if (this.channel.direction === 'out') this.figures.lag = this.#queue && !this.#queue.closed ? this.#queue.length : 0;
      else if (this.ctx.connected()) {
        const info = await this.ctx.jsm.consumers.info(this.stream, this.durable);
        this.figures.lag = info.num_pending + info.num_ack_pending;
      }
    } catch {
      // not there yet
    }
  }

  async close(): Promise<void> {
    await this.#loop;
    this.#queue?.close();
    this.#tickets?.close();
  }
}
