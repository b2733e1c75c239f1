/**
 * Mailbox <-> a JetStream key-value bucket (key: the remote name): the latest value and a change notification on
 * every host. Loops are cut by bookkeeping instead of an envelope, so the value in the bucket is the plain bytes:
 * the revisions this bridge put are not written back locally, and the local versions it wrote are not put back.
 * At start the newer of the local value and the bucket's (by write time) wins.
 *
 * A value larger than one NATS message (max_payload less HEADER_ROOM) is put in parts: first the parts, under keys
 * `_shmbus_parts.<remote>.<host>.<slot>.<k>` (split() chunks), then the value key gets a manifest naming them
 * (MAGIC, the parts' key prefix, the value's length, the revision of each part). A reader writes its mailbox only
 * once it fetched every part at the revision named and the length matches: never half a value, never a mix. Each
 * writing host alternates between two slots (the one the current manifest does not name), so the parts of the value
 * in the bucket are never overwritten by the next put; the put after that reuses them (no growing set of keys, no
 * delete markers). A reader that finds a part already overwritten (newer values came meanwhile) skips its value:
 * the newer manifest follows on the watch. A plain value that begins with MAGIC is sent as a manifest too, so MAGIC
 * is unambiguous.
 */
import { KvWatchInclude, type KV, type KvEntry, type QueuedIterator } from 'nats';
import { ShmbusError, isShmbusError } from '../errors.js';
import { Mailbox } from '../channels/mailbox.js';
import { errorText, newFigures, pause, type Link, type LinkContext } from './link.js';
import { type ResolvedChannel } from './spec.js';
import { chunkLimit, split } from './wire.js';

const DEFAULT_MAX = 64 << 10;
/** First bytes of a manifest value (a NUL first: no text value begins so by accident). */
const MAGIC = '\0shmbus-parts/1 ';
const MAGIC_BYTES = new TextEncoder().encode(MAGIC);
/** Key prefix of the parts of large values. */
const PARTS = '_shmbus_parts';
/** The largest value relayed in parts (larger ones: ERR_MESSAGE_TOO_LARGE, counted lost). */
export const MAX_MAILBOX_VALUE = 64 << 20;

/** What a manifest names. */
interface Manifest {
  prefix: string;
  length: number;
  /** The revision of each part (part k under `<prefix>.<k>`): exactly the puts of this value. */
  revisions: number[];
}

function startsWithMagic(v: Uint8Array): boolean {
  if (v.length < MAGIC_BYTES.length) return false;
  for (let i = 0; i < MAGIC_BYTES.length; i++) if (v[i] !== MAGIC_BYTES[i]) return false;
  return true;
}

/** A manifest's longest form (65536 parts of 16 digits and a comma, the prefix): larger ones are not read. */
const MANIFEST_MAX = 1200 << 10;

/** The manifest in a value; null for a plain value; 'bad' for a malformed one (it comes from the network). */
function manifestOf(v: Uint8Array, remote: string): Manifest | null | 'bad' {
  if (!startsWithMagic(v)) return null;
  if (v.length > MANIFEST_MAX) return 'bad';
  const m = /^(\S+) (\d{1,10}) (\d{1,16}(?:,\d{1,16}){0,65535})$/.exec(Buffer.from(v.subarray(MAGIC_BYTES.length)).toString('latin1'));
  if (!m) return 'bad';
  const [, prefix, length, revisions] = m as unknown as [string, string, string, string];
  // Parts of this channel only, a sane size.
  if (!prefix.startsWith(`${PARTS}.${remote}.`) || !/^[A-Za-z0-9._-]+$/.test(prefix)) return 'bad';
  const manifest = { prefix, length: Number(length), revisions: revisions.split(',').map(Number) };
  if (manifest.length > MAX_MAILBOX_VALUE || manifest.revisions.length > manifest.length + 1) return 'bad';
  return manifest;
}

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
    if (remoteNewer && this.channel.direction !== 'out') await this.#apply(entry);
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

  /** Writes a remote value (or the value a manifest names, once whole) into the local mailbox. */
  async #apply(e: KvEntry): Promise<void> {
    let value = e.value;
    try {
      const m = manifestOf(value, this.channel.remote);
      if (m === 'bad') {
        this.figures.in.lost++;
        throw new ShmbusError('ERR_REMOTE', `mailbox ${this.channel.local}: revision ${e.revision} holds a malformed manifest`);
      }
      if (m !== null) {
        const whole = await this.#assemble(m);
        if (whole === null) {
          // A part was overwritten or is missing: when a newer value is in the bucket, it follows on the watch.
          const now = await this.#kv!.get(this.channel.remote).catch(() => null);
          if (now && now.revision > e.revision) return;
          this.figures.in.lost++;
          throw new ShmbusError('ERR_REMOTE', `mailbox ${this.channel.local}: the parts of revision ${e.revision} are missing or do not match its manifest`);
        }
        value = whole;
      }
      this.#write(value);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** The value a manifest names, or null when a part is missing or the whole does not match. */
  async #assemble(m: Manifest): Promise<Uint8Array | null> {
    const kv = this.#kv!;
    const parts = await Promise.all(m.revisions.map((_, k) => kv.get(`${m.prefix}.${k}`)));
    const out = new Uint8Array(m.length);
    let o = 0;
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k];
      // The very put the manifest names (a later put of the slot has another revision), and no more than it says.
      if (!p || p.operation !== 'PUT' || p.revision !== m.revisions[k] || p.value.length > m.length - o) return null;
      out.set(p.value, o);
      o += p.value.length;
    }
    return o === m.length ? out : null;
  }

  /** Writes a value into the local mailbox (created if missing, sized for it). */
  #write(value: Uint8Array): void {
    if (!this.#mb) {
      try {
        this.#mb = Mailbox.create(this.channel.local, { maxMessageSize: Math.max(DEFAULT_MAX, value.length) }).unref();
      } catch (err) {
        if (!isShmbusError(err, 'ERR_SHM_EXISTS')) throw err;
        this.#mb = Mailbox.open(this.channel.local).unref();
      }
    }
    if (value.length > this.#mb.maxMessageSize) {
      this.figures.in.lost++;
      throw new Error(`a ${value.length}-byte value does not fit mailbox ${this.channel.local} (maxMessageSize ${this.#mb.maxMessageSize})`);
    }
    this.#ownVersions.add(this.#mb.write(value));
    this.figures.in.messages++;
    this.figures.in.bytes += value.length;
  }

  async #put(data: Uint8Array, version: number): Promise<void> {
    if (data.length > MAX_MAILBOX_VALUE) {
      // Refused with the code a too-large write gets locally.
      this.figures.out.lost++;
      this.#fail(new ShmbusError('ERR_MESSAGE_TOO_LARGE', `mailbox ${this.channel.local}: version ${version} (${data.length} bytes) not relayed: larger than ${MAX_MAILBOX_VALUE} bytes`));
      return;
    }
    const kv = this.#kv!;
    const limit = chunkLimit(this.ctx.maxPayload());
    try {
      let value = data;
      if (data.length > limit || startsWithMagic(data)) {
        // Parts first, into the slot the value in the bucket does not name; then the manifest.
        const mine = `${PARTS}.${this.channel.remote}.${this.ctx.host}.`;
        const current = await kv.get(this.channel.remote);
        const named = current && current.operation === 'PUT' ? manifestOf(current.value, this.channel.remote) : null;
        const prefix = `${mine}${named && named !== 'bad' && named.prefix === `${mine}0` ? 1 : 0}`;
        const chunks = split(data, limit);
        const revisions = await Promise.all(chunks.map((c, k) => kv.put(`${prefix}.${k}`, c)));
        value = new TextEncoder().encode(`${MAGIC}${prefix} ${data.length} ${revisions.join(',')}`);
      }
      this.#putting = value;
      const rev = await kv.put(this.channel.remote, value);
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
      await this.#apply(e);
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
