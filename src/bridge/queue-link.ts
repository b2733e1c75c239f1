/**
 * Queue <-> JetStream: lossless across hosts, one way per link.
 *
 * Out (`:out`): records taken from the local queue are journaled (journal.ts) before they are published with
 * message ids `<epoch>.<n>`; they leave the journal once JetStream acknowledged them. A bridge killed meanwhile
 * republishes the journal on restart: the stream's duplicate window drops what it already has. The end of the
 * local stream is published as a record with the Shmbus-End header.
 *
 * In (`:in`): a durable pull consumer on a work-queue stream; each record is acknowledged only once it is in the
 * local queue, and the stream sequence of the last record put into the local queue is journaled right after it,
 * so that a record redelivered after a bridge restart is recognised and not put in twice. On every (re)start the
 * consumer is re-created, so that delivery restarts in stream order from the first unacknowledged record.
 */
import { AckPolicy, DeliverPolicy, nanos, RetentionPolicy, StorageType, type JsMsg } from 'nats';
import { Queue } from '../channels/queue.js';
import { errorText, newFigures, pause, type Link, type LinkContext } from './link.js';
import { InJournal, OutJournal, type JournalRecord } from './journal.js';
import { natsIdent, streamOf, subjectOf, type ResolvedChannel } from './spec.js';
import { chunkHeader, chunkLimit, H, intHeader, makeHeaders, Reassembly, split } from './wire.js';

/** Records taken from the local queue per JetStream batch (all published at once, acknowledged together). */
const BATCH_RECORDS = 512;
/** Bytes per batch (beyond the first record). */
const BATCH_BYTES = 1 << 20;
/** Records fetched from JetStream per pull. */
const FETCH = 256;
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
    const journal = OutJournal.open(this.journalName, BATCH_BYTES + q.maxMessageSize + 8 * BATCH_RECORDS);
    this.figures.state = 'running';
    let clean = false;
    try {
      if (journal.pending.length > 0) {
        ctx.log('resume', { channel: `queue ${this.channel.local}`, records: journal.pending.length });
        if (!(await this.#publish(journal, journal.pending, q))) return;
        journal.done();
      }
      for (;;) {
        let m;
        try {
          m = await q.receive({ signal: ctx.signal });
        } catch (e) {
          if (ctx.signal.aborted) {
            clean = true;
            return;
          }
          throw e;
        }
        if (m === null) {
          // End of stream: carried over as a record of its own.
          const id = journal.take();
          if (!(await this.#send([{ data: new Uint8Array(0), text: false }], `${journal.epoch}.${id}`, q, true))) return;
          this.figures.state = 'ended';
          ctx.log('ended', { channel: `queue ${this.channel.local}` });
          clean = true;
          return;
        }
        // Journal each record as soon as it is taken (the local queue no longer has it).
        journal.add({ data: m.data, text: m.isText });
        while (journal.pending.length < BATCH_RECORDS && journal.bytes < BATCH_BYTES) {
          const more = q.tryReceive();
          if (more === null) break;
          journal.add({ data: more.data, text: more.isText });
        }
        if (!(await this.#publish(journal, journal.pending, q))) return;
        journal.done();
      }
    } finally {
      journal.close(clean && journal.pending.length === 0);
    }
  }

  /** Publishes journaled records (ids from journal.next) until JetStream has them all; false if the bridge closes. */
  async #publish(journal: OutJournal, records: JournalRecord[], q: Queue): Promise<boolean> {
    for (;;) {
      if (this.ctx.signal.aborted) return false;
      await this.ctx.whenConnected();
      try {
        const acks: Promise<unknown>[] = [];
        records.forEach((r, i) => acks.push(...this.#publishOne(r, `${journal.epoch}.${journal.next + i}`, q, false)));
        const results = await Promise.allSettled(acks);
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
        this.figures.out.messages += records.length;
        this.figures.out.bytes += records.reduce((a, r) => a + r.data.length, 0);
        return true;
      } catch (e) {
        // Not acknowledged (disconnected, timed out): publish them all again; the duplicate window drops repeats.
        this.#fail(e);
        await pause(250, this.ctx.signal);
      }
    }
  }

  /** Publishes one record (in chunks when larger than max_payload); the promises of its PubAcks. */
  #publishOne(r: JournalRecord, id: string, q: Queue, end: boolean): Promise<unknown>[] {
    const chunks = split(r.data, chunkLimit(this.ctx.maxPayload()));
    return chunks.map((c, k) =>
      this.ctx.js.publish(this.subject, c, {
        msgID: chunks.length > 1 ? `${id}.${k}` : id,
        timeout: 10_000,
        headers: makeHeaders({
          [H.origin]: this.ctx.host,
          [H.text]: r.text ? 1 : undefined,
          [H.end]: end ? 1 : undefined,
          [H.slots]: q.slots,
          [H.maxMessageSize]: q.maxMessageSize,
          [H.chunk]: chunks.length > 1 ? `${k}/${chunks.length}` : undefined,
        }),
      }),
    );
  }

  /** Publishes the end marker until acknowledged; false if the bridge closes. */
  async #send(records: JournalRecord[], id: string, q: Queue, end: boolean): Promise<boolean> {
    for (;;) {
      if (this.ctx.signal.aborted) return false;
      await this.ctx.whenConnected();
      try {
        await Promise.all(records.flatMap((r) => this.#publishOne(r, id, q, end)));
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
    const journal = InJournal.open(this.journalName);
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
      max_ack_pending: 4 * FETCH,
    });
    const consumer = await ctx.js.consumers.get(this.stream, this.durable);
    const chunks = new Reassembly();
    let held: JsMsg[] = [];
    while (!ctx.signal.aborted) {
      if (!ctx.connected()) throw new Error('disconnected');
      const batch = await consumer.fetch({ max_messages: FETCH, expires: 1000 });
      for await (const jm of batch) {
        this.#unacked.add(jm);
        const ack = (ms: JsMsg[]): void => {
          for (const x of ms) {
            x.ack();
            this.#unacked.delete(x);
          }
        };
        if (jm.seq <= journal.delivered) {
          ack([jm]); // in the local queue already (delivered before a restart, not acknowledged then)
          continue;
        }
        const h = jm.headers;
        if (h?.get(H.origin) === ctx.host) {
          ack([jm]); // our own (a local name bridged out and in again): never back in
          continue;
        }
        let data: Uint8Array | null = jm.data;
        const c = chunkHeader(h);
        if (c) {
          held.push(jm);
          data = chunks.add('q', c.k, c.total, jm.data);
          if (data === null) {
            if (!chunks.partial && c.k !== 0) {
              this.figures.in.lost++;
              this.#fail(new Error(`queue ${this.channel.local}: incomplete chunked record dropped at stream seq ${jm.seq}`));
              ack(held);
              held = [];
            }
            continue;
          }
        } else held = [jm];
        if (h?.get(H.end)) {
          this.#localQueue(h).end();
          journal.set(jm.seq);
          ack(held);
          held = [];
          this.figures.state = 'ended';
          ctx.log('ended', { channel: `queue ${this.channel.local}` });
          return true;
        }
        const q = this.#localQueue(h);
        if (data.length > q.maxMessageSize) {
          this.figures.in.lost++;
          this.#fail(new Error(`a ${data.length}-byte record does not fit queue ${q.name} (maxMessageSize ${q.maxMessageSize}): dropped`));
        } else {
          const payload = h?.get(H.text) ? new TextDecoder().decode(data) : data;
          // Full local queue: wait (backpressure reaches JetStream, which holds the rest).
          if (!q.trySend(payload)) await q.send(payload, { signal: ctx.signal });
          journal.set(jm.seq);
          this.figures.in.messages++;
          this.figures.in.bytes += data.length;
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
  }
}
