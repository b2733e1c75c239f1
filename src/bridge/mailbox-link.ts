/**
 * Mailbox <-> a JetStream key-value bucket (key: the remote name): the latest value and a change notification on
 * every host. Loops are cut by bookkeeping instead of an envelope, so the value in the bucket is the plain bytes:
 * the revisions this bridge put are not written back locally, and the local versions it wrote are not put back.
 * At start the newer of the local value and the bucket's (by write time) wins.
 */
import { KvWatchInclude, type KV, type KvEntry, type QueuedIterator } from 'nats';
import { ShmbusError, isShmbusError } from '../errors.js';
import { Mailbox } from '../channels/mailbox.js';
import { errorText, newFigures, pause, type Link, type LinkContext } from './link.js';
import { type ResolvedChannel } from './spec.js';

const DEFAULT_MAX = 64 << 10;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

export class MailboxLink implements Link {
  readonly figures = newFigures();
  readonly subject: string;
  #kv: KV | null = null;
  #mb: Mailbox | null = null;
  #watch: QueuedIterator<KvEntry> | null = null;
  /** Revisions this bridge put (not to be written back locally). */
  #ownRevisions = new Set<number>();
  /** The value of a put whose revision is not known yet (its watch event may come first). */
  #putting: Uint8Array | null = null;
  /** Local versions this bridge wrote (not to be put back). */
  #ownVersions = new Set<number>();
  #loops: Promise<void>[] = [];

  constructor(
    readonly channel: ResolvedChannel,
    private readonly ctx: LinkContext,
  ) {
    this.subject = `$KV.${ctx.kvBucket}.${channel.remote}`;
  }

  async start(): Promise<void> {
    await this.ctx.whenConnected();
    this.#kv = await this.ctx.js.views.kv(this.ctx.kvBucket, { history: 1 });
    this.#mb = this.#open();
    // Start: the newer value wins.
    const entry = await this.#kv.get(this.channel.remote);
    const local = this.#mb?.read();
    const remoteNewer = entry !== null && entry.operation === 'PUT' && (!local || local.version === 0 || entry.created.getTime() > local.timestamp);
    if (remoteNewer && this.channel.direction !== 'out') this.#apply(entry);
    else if (local && local.version > 0 && this.channel.direction !== 'in') await this.#put(local.data, local.version);
    if (this.channel.direction !== 'out') {
      this.#watch = await this.#kv.watch({ key: this.channel.remote, include: KvWatchInclude.UpdatesOnly });
      this.#loops.push(this.#relayIn(this.#watch));
    }
    if (this.channel.direction !== 'in') this.#loops.push(this.#relayOut());
    this.figures.state = 'running';
  }

  #fail(e: unknown): void {
    this.figures.error = errorText(e);
    this.ctx.log('error', { channel: `mailbox ${this.channel.local}`, error: this.figures.error });
  }

  #open(): Mailbox | null {
    try {
      return Mailbox.open(this.channel.local, { timeout: 0 }).unref();
    } catch (e) {
      if (isShmbusError(e, 'ERR_SHM_NOT_FOUND')) return null;
      throw e;
    }
  }

  /** Writes a remote value into the local mailbox (created if missing, sized for it). */
  #apply(e: KvEntry): void {
    try {
      if (!this.#mb) {
        try {
          this.#mb = Mailbox.create(this.channel.local, { maxMessageSize: Math.max(DEFAULT_MAX, e.value.length) }).unref();
        } catch (err) {
          if (!isShmbusError(err, 'ERR_SHM_EXISTS')) throw err;
          this.#mb = Mailbox.open(this.channel.local).unref();
        }
      }
      if (e.value.length > this.#mb.maxMessageSize) {
        this.figures.in.lost++;
        throw new Error(`a ${e.value.length}-byte value does not fit mailbox ${this.channel.local} (maxMessageSize ${this.#mb.maxMessageSize})`);
      }
      this.#ownVersions.add(this.#mb.write(e.value));
      this.figures.in.messages++;
      this.figures.in.bytes += e.value.length;
    } catch (err) {
      this.#fail(err);
    }
  }

  async #put(data: Uint8Array, version: number): Promise<void> {
    if (data.length > this.ctx.maxPayload()) {
      // Not chunked (a key-value entry is one NATS message): refused with the code a too-large write gets locally.
      this.figures.out.lost++;
      this.#fail(
        new ShmbusError(
          'ERR_MESSAGE_TOO_LARGE',
          `mailbox ${this.channel.local}: version ${version} (${data.length} bytes) not relayed: larger than the NATS server's max_payload (${this.ctx.maxPayload()})`,
        ),
      );
      return;
    }
    this.#putting = data;
    try {
      const rev = await this.#kv!.put(this.channel.remote, data);
      this.#ownRevisions.add(rev);
      this.figures.out.messages++;
      this.figures.out.bytes += data.length;
    } catch (e) {
      this.figures.out.lost++;
      this.#fail(new Error(`mailbox ${this.channel.local}: version ${version} not relayed: ${errorText(e)}`));
    } finally {
      this.#putting = null;
    }
  }

  async #relayIn(watch: QueuedIterator<KvEntry>): Promise<void> {
    for await (const e of watch) {
      if (e.operation !== 'PUT') continue;
      if (this.#ownRevisions.delete(e.revision)) continue;
      if (this.#putting && sameBytes(e.value, this.#putting)) continue; // our put, its ack not in yet
      this.#apply(e);
    }
  }

  /** Local changes -> the bucket (only the latest value matters: versions written meanwhile are skipped). */
  async #relayOut(): Promise<void> {
    const { ctx } = this;
    // A mailbox there at start had its value relayed by start(); one that appears later is relayed from version 0.
    let since = this.#mb ? this.#mb.version : 0;
    while (!ctx.signal.aborted) {
      if (!this.#mb) {
        this.figures.state = 'waiting';
        await pause(250, ctx.signal);
        this.#mb ??= this.#open();
        if (this.#mb) this.figures.state = 'running';
        else continue;
      }
      const mb = this.#mb;
      try {
        for (;;) {
          since = await mb.changed({ since, signal: ctx.signal });
          const v = mb.read();
          since = v.version;
          if (this.#ownVersions.delete(v.version)) continue;
          await ctx.whenConnected();
          await this.#put(v.data, v.version);
        }
      } catch (e) {
        if (ctx.signal.aborted) return;
        this.#fail(e);
        await pause(250, ctx.signal);
      }
    }
  }

  async close(): Promise<void> {
    this.#watch?.stop();
    await Promise.allSettled(this.#loops);
    this.#mb?.close();
  }
}
