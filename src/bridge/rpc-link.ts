/**
 * Rpc <-> NATS request/reply. `:in` (the service runs on this host): the bridge answers requests on the subject
 * (as a member of a queue group, so several hosts serving one name share the load) by calling the local service.
 * `:out` (its callers run here): the bridge serves the local name and forwards each request to the subject. A
 * failed call comes back with the Shmbus-Error / Shmbus-Message headers and is thrown locally (the caller gets
 * ERR_REMOTE with that message, as for any handler that throws).
 *
 * Requests and responses larger than one NATS message (max_payload less HEADER_ROOM) cross in chunks (split() and
 * Reassembly, as Topic and Queue messages), one request/reply per chunk, so that every chunk is acknowledged and a
 * bridge that vanished shows at the next chunk (NATS "no responders"), not only at the call's timeout:
 *   request: chunk 0 goes to the subject (the queue group picks the `:in` bridge) with Shmbus-Chunk 0/n and a
 *   Shmbus-Transfer id; that bridge answers with its own inbox in Shmbus-Direct; chunks 1..n-1 go there, each
 *   answered by an empty ack, the last one by the call's response.
 *   response: a response too large for one message comes back as its chunk 0 (Shmbus-Chunk 0/m, a transfer id,
 *   Shmbus-Direct); the `:out` bridge pulls chunks 1..m-1 from that inbox (an empty request naming transfer and k).
 * The `:in` bridge holds at most MAX_TRANSFERS partial transfers, each at most rpcMaxMessageSize, each dropped
 * rpcTimeout after its last chunk; the `:out` bridge gives the whole call rpcTimeout.
 */
import { createInbox, type Msg, type MsgHdrs, type Subscription } from 'nats';
import { ShmbusError, isShmbusError, ERROR_CODES, type ShmbusErrorCode } from '../errors.js';
import { Rpc, type RpcClient, type RpcServer } from '../channels/rpc.js';
import { errorText, newFigures, type Link, type LinkContext } from './link.js';
import { subjectOf, type ResolvedChannel } from './spec.js';
import { chunkedAtLeast, chunkHeader, chunkLimit, H, makeHeaders, Reassembly, split, transferHeader, transferId } from './wire.js';

/** Concurrent calls the `:out` side forwards (local workers of the bridge's server). */
const WORKERS = 8;
/** Partial transfers (requests being put together, responses being pulled) an `:in` bridge holds at most. */
const MAX_TRANSFERS = 2 * WORKERS;
const EMPTY = new Uint8Array(0);

/** A chunked transfer held by the `:in` side. */
interface Transfer {
  /** A request being put together... */
  request?: Reassembly;
  /** ...or a response's chunks, pulled one by one. */
  response?: Uint8Array[];
  /** Drops the transfer rpcTimeout after its last chunk (its caller has given up by then). */
  timer: NodeJS.Timeout;
}

export class RpcLink implements Link {
  readonly figures = newFigures();
  readonly subject: string;
  #sub: Subscription | null = null;
  #directSub: Subscription | null = null;
  /** `:in`: this bridge's inbox for the chunks of its transfers (Shmbus-Direct). */
  #direct = '';
  #transfers = new Map<string, Transfer>();
  #client: RpcClient | null = null;
  #server: RpcServer | null = null;

  constructor(
    readonly channel: ResolvedChannel,
    private readonly ctx: LinkContext,
  ) {
    this.subject = subjectOf(ctx.prefix, channel);
  }

  async start(): Promise<void> {
    const { ctx, channel } = this;
    if (channel.direction === 'in') {
      this.#direct = createInbox();
      this.#directSub = ctx.nc.subscribe(this.#direct, { callback: (err, msg) => (err ? this.#fail(err) : void this.#onDirect(msg)) });
      this.#sub = ctx.nc.subscribe(this.subject, { queue: this.subject, callback: (err, msg) => (err ? this.#fail(err) : void this.#answer(msg)) });
    } else {
      // Larger requests than one NATS message carries are chunked: the cap is the configured one.
      this.#server = Rpc.serve(channel.local, (req) => this.#forward(req.data), {
        workers: WORKERS,
        maxMessageSize: ctx.rpcMaxMessageSize,
        slots: 4,
      }).unref();
    }
    this.figures.state = 'running';
  }

  #fail(e: unknown): void {
    this.figures.error = errorText(e);
    this.ctx.log('error', { channel: `rpc ${this.channel.local}`, error: this.figures.error });
  }

  /** Replies with a typed error (the `:out` bridge throws it to its caller). */
  #refuse(msg: Msg, e: unknown): void {
    const code = isShmbusError(e) ? e.code : 'ERR_REMOTE';
    msg.respond(EMPTY, { headers: makeHeaders({ [H.error]: code, [H.message]: (e as Error).message?.slice(0, 1000) ?? String(e) }) });
    this.figures.out.lost++;
    this.#fail(e);
  }

  /** Holds a transfer (or refuses when MAX_TRANSFERS are in hand); it expires rpcTimeout after its last use. */
  #hold(id: string, t: Omit<Transfer, 'timer'>): Transfer | null {
    if (this.#transfers.size >= MAX_TRANSFERS) return null;
    const held: Transfer = { ...t, timer: this.#expiry(id) };
    this.#transfers.set(id, held);
    return held;
  }

  #expiry(id: string): NodeJS.Timeout {
    return setTimeout(() => {
      if (this.#transfers.delete(id)) this.#fail(new ShmbusError('ERR_TIMEOUT', `rpc transfer ${id} dropped: no chunk within ${this.ctx.rpcTimeout} ms`));
    }, this.ctx.rpcTimeout).unref();
  }

  #drop(id: string): void {
    const t = this.#transfers.get(id);
    if (t) clearTimeout(t.timer);
    this.#transfers.delete(id);
  }

  /** `:in`: a remote request (or the first chunk of one), answered by the local service. */
  async #answer(msg: Msg): Promise<void> {
    this.figures.in.messages++;
    this.figures.in.bytes += msg.data.length;
    const c = chunkHeader(msg.headers);
    if (!c) return this.#call(msg, msg.data);
    const id = transferHeader(msg.headers);
    try {
      if (c.k !== 0 || id === undefined || this.#transfers.has(id)) throw new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: a chunked request must begin with chunk 0 of a new transfer`);
      if (chunkedAtLeast(c.total, msg.data.length) > this.ctx.rpcMaxMessageSize) {
        throw new ShmbusError('ERR_MESSAGE_TOO_LARGE', `a ${c.total}-chunk request is larger than this bridge's rpcMaxMessageSize (${this.ctx.rpcMaxMessageSize})`);
      }
      const request = new Reassembly();
      request.add(id, 0, c.total, msg.data);
      if (!this.#hold(id, { request })) throw new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: ${MAX_TRANSFERS} chunked transfers in hand already: try again`);
      msg.respond(EMPTY, { headers: makeHeaders({ [H.direct]: this.#direct }) });
    } catch (e) {
      this.#refuse(msg, e);
    }
  }

  /** `:in`: a chunk of a request in hand, or the pull of a response's chunk. */
  async #onDirect(msg: Msg): Promise<void> {
    const c = chunkHeader(msg.headers);
    const id = transferHeader(msg.headers);
    const t = id === undefined ? undefined : this.#transfers.get(id);
    if (!c || !t || id === undefined) return this.#refuse(msg, new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: unknown or expired transfer ${id ?? '?'}`));
    clearTimeout(t.timer);
    t.timer = this.#expiry(id);
    if (t.response) {
      const chunk = c.total === t.response.length ? t.response[c.k] : undefined;
      if (!chunk) return this.#refuse(msg, new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: transfer ${id} has no chunk ${c.k}/${c.total}`));
      if (c.k === c.total - 1) this.#drop(id);
      msg.respond(chunk, { headers: makeHeaders({ [H.chunk]: `${c.k}/${c.total}` }) });
      this.figures.out.bytes += chunk.length;
      return;
    }
    this.figures.in.bytes += msg.data.length;
    const whole = t.request!.add(id, c.k, c.total, msg.data);
    if (whole !== null) {
      this.#drop(id);
      return this.#call(msg, whole);
    }
    if (!t.request!.partial) {
      // Out of order or of the wrong size: the transfer is abandoned (Reassembly let go of it).
      this.#drop(id);
      return this.#refuse(msg, new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: chunk ${c.k}/${c.total} of transfer ${id} does not continue it`));
    }
    msg.respond(EMPTY);
  }

  /** `:in`: calls the local service; the response goes back whole or, when too large for one message, chunked. */
  async #call(msg: Msg, data: Uint8Array): Promise<void> {
    try {
      this.#client ??= Rpc.connect(this.channel.local, { maxMessageSize: this.ctx.rpcMaxMessageSize, slots: 4 }).unref();
      const res = await this.#client.request(data, { timeout: this.ctx.rpcTimeout });
      const chunks = split(res.data, chunkLimit(this.ctx.maxPayload()));
      if (chunks.length === 1) msg.respond(res.data);
      else {
        // res.data is the client's private copy: the chunks are views of it, held until pulled or expired.
        const id = transferId();
        if (!this.#hold(id, { response: chunks })) throw new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: ${MAX_TRANSFERS} chunked transfers in hand already: try again`);
        msg.respond(chunks[0]!, { headers: makeHeaders({ [H.chunk]: `0/${chunks.length}`, [H.transfer]: id, [H.direct]: this.#direct }) });
      }
      this.figures.out.messages++;
      this.figures.out.bytes += chunks[0]!.length;
    } catch (e) {
      this.#refuse(msg, e);
    }
  }

  /** `:out`: a local request, forwarded to whichever host serves the name (in chunks when it is large). */
  async #forward(data: Uint8Array): Promise<Uint8Array> {
    const { ctx } = this;
    const limit = chunkLimit(ctx.maxPayload());
    const deadline = Date.now() + ctx.rpcTimeout;
    this.figures.out.messages++;
    this.figures.out.bytes += data.length;
    try {
      let res: Msg;
      if (data.length <= limit) res = await this.#ask(this.subject, data, makeHeaders({ [H.origin]: ctx.host }), deadline, true);
      else {
        // req.data stays valid until this handler settles: the chunks are views of it.
        const chunks = split(data, limit);
        const id = transferId();
        const n = chunks.length;
        const first = await this.#ask(this.subject, chunks[0]!, makeHeaders({ [H.origin]: ctx.host, [H.chunk]: `0/${n}`, [H.transfer]: id }), deadline, true);
        const direct = directOf(first.headers);
        res = first;
        for (let k = 1; k < n; k++) res = await this.#ask(direct, chunks[k]!, makeHeaders({ [H.chunk]: `${k}/${n}`, [H.transfer]: id }), deadline, false);
      }
      const c = chunkHeader(res.headers);
      let out: Uint8Array;
      if (!c) out = res.data.slice(); // a copy: the client library may reuse its buffer after we return
      else {
        const id = transferHeader(res.headers);
        if (c.k !== 0 || id === undefined) throw new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: a chunked response without its transfer id`);
        if (chunkedAtLeast(c.total, res.data.length) > ctx.rpcMaxMessageSize) {
          throw new ShmbusError('ERR_MESSAGE_TOO_LARGE', `the ${c.total}-chunk response is larger than rpcMaxMessageSize (${ctx.rpcMaxMessageSize})`);
        }
        const direct = directOf(res.headers);
        const whole = new Reassembly();
        let got = whole.add(id, 0, c.total, res.data);
        for (let k = 1; k < c.total; k++) {
          const part = await this.#ask(direct, EMPTY, makeHeaders({ [H.chunk]: `${k}/${c.total}`, [H.transfer]: id }), deadline, false);
          const pc = chunkHeader(part.headers);
          got = pc && pc.k === k && pc.total === c.total ? whole.add(id, k, c.total, part.data) : null;
          if (got === null && !whole.partial) throw new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: chunk ${k}/${c.total} of the response does not continue it`);
        }
        if (got === null) throw new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: incomplete chunked response`);
        out = got; // the reassembly's own buffer
      }
      this.figures.in.messages++;
      this.figures.in.bytes += out.length;
      return out;
    } catch (e) {
      this.figures.in.lost++;
      throw e;
    }
  }

  /**
   * One request/reply of a call, within the call's deadline; a failure becomes a typed error: no responders on the
   * subject is ERR_NO_SERVER, on a transfer's inbox (its bridge went away mid-transfer) ERR_REMOTE; ERR_TIMEOUT.
   */
  async #ask(subject: string, data: Uint8Array, headers: MsgHdrs, deadline: number, first: boolean): Promise<Msg> {
    const left = deadline - Date.now();
    if (left <= 0) throw new ShmbusError('ERR_TIMEOUT', `no answer on ${this.subject} within ${this.ctx.rpcTimeout} ms`);
    let res: Msg;
    try {
      res = await this.ctx.nc.request(subject, data, { timeout: left, headers });
    } catch (e) {
      const text = errorText(e);
      if (/503|no responders/i.test(text)) {
        if (first) throw new ShmbusError('ERR_NO_SERVER', `no host serves ${this.subject} (NATS: no responders)`);
        throw new ShmbusError('ERR_REMOTE', `rpc ${this.subject}: the bridge holding the chunked transfer went away (NATS: no responders)`);
      }
      if (/timeout/i.test(text)) throw new ShmbusError('ERR_TIMEOUT', `no answer on ${this.subject} within ${this.ctx.rpcTimeout} ms`);
      throw new ShmbusError('ERR_REMOTE', `NATS request on ${this.subject} failed: ${text}`);
    }
    const code = res.headers?.get(H.error);
    if (code) {
      const known = (ERROR_CODES as readonly string[]).includes(code) ? (code as ShmbusErrorCode) : 'ERR_REMOTE';
      throw new ShmbusError(known, res.headers?.get(H.message) || code);
    }
    return res;
  }

  async close(): Promise<void> {
    this.#sub?.unsubscribe();
    this.#directSub?.unsubscribe();
    for (const t of this.#transfers.values()) clearTimeout(t.timer);
    this.#transfers.clear();
    await this.#server?.close({ timeout: 1000 });
    this.#client?.close();
  }
}

/** The Shmbus-Direct subject of a reply: an inbox (it comes from the network: checked before we publish to it). */
function directOf(h: MsgHdrs | undefined): string {
  const v = h?.get(H.direct) ?? '';
  if (!/^_INBOX\.[A-Za-z0-9_-]{1,64}$/.test(v)) throw new ShmbusError('ERR_REMOTE', `a chunked Rpc transfer without a valid ${H.direct} subject`);
  return v;
}
