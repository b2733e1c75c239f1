/**
 * Rpc <-> NATS request/reply. `:in` (the service runs on this host): the bridge answers requests on the subject
 * (as a member of a queue group, so several hosts serving one name share the load) by calling the local service.
 * `:out` (its callers run here): the bridge serves the local name and forwards each request to the subject. A
 * failed call comes back with the Shmbus-Error / Shmbus-Message headers and is thrown locally (the caller gets
 * ERR_REMOTE with that message, as for any handler that throws).
 */
import type { Msg, Subscription } from 'nats';
import { ShmbusError, isShmbusError, ERROR_CODES, type ShmbusErrorCode } from '../errors.js';
import { Rpc, type RpcClient, type RpcServer } from '../channels/rpc.js';
import { errorText, newFigures, type Link, type LinkContext } from './link.js';
import { subjectOf, type ResolvedChannel } from './spec.js';
import { chunkLimit, H, makeHeaders } from './wire.js';

/** Concurrent calls the `:out` side forwards (local workers of the bridge's server). */
const WORKERS = 8;

export class RpcLink implements Link {
  readonly figures = newFigures();
  readonly subject: string;
  #sub: Subscription | null = null;
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
      this.#sub = ctx.nc.subscribe(this.subject, { queue: this.subject, callback: (err, msg) => (err ? this.#fail(err) : void this.#answer(msg)) });
    } else {
      // Sized to what one NATS message carries, so that a caller's too-large request fails at once with
      // ERR_MESSAGE_TOO_LARGE, as on any local Rpc (requests and responses are not chunked).
      this.#server = Rpc.serve(channel.local, (req) => this.#forward(req.data), {
        workers: WORKERS,
        maxMessageSize: Math.min(ctx.rpcMaxMessageSize, chunkLimit(ctx.maxPayload())),
        slots: 4,
      }).unref();
    }
    this.figures.state = 'running';
  }

  #fail(e: unknown): void {
    this.figures.error = errorText(e);
    this.ctx.log('error', { channel: `rpc ${this.channel.local}`, error: this.figures.error });
  }

  /** `:in`: a remote request, answered by the local service. */
  async #answer(msg: Msg): Promise<void> {
    this.figures.in.messages++;
    this.figures.in.bytes += msg.data.length;
    try {
      this.#client ??= Rpc.connect(this.channel.local, { maxMessageSize: this.ctx.rpcMaxMessageSize, slots: 4 }).unref();
      const res = await this.#client.request(msg.data, { timeout: this.ctx.rpcTimeout });
      if (res.data.length > chunkLimit(this.ctx.maxPayload())) {
        throw new ShmbusError('ERR_MESSAGE_TOO_LARGE', `the ${res.data.length}-byte response is larger than the NATS server's max_payload (${this.ctx.maxPayload()})`);
      }
      msg.respond(res.data);
      this.figures.out.messages++;
      this.figures.out.bytes += res.data.length;
    } catch (e) {
      const code = isShmbusError(e) ? e.code : 'ERR_REMOTE';
      msg.respond(new Uint8Array(0), { headers: makeHeaders({ [H.error]: code, [H.message]: (e as Error).message?.slice(0, 1000) ?? String(e) }) });
      this.figures.out.lost++;
      this.#fail(e);
    }
  }

  /** `:out`: a local request, forwarded to whichever host serves the name. */
  async #forward(data: Uint8Array): Promise<Uint8Array> {
    const { ctx } = this;
    if (data.length > chunkLimit(ctx.maxPayload())) {
      throw new ShmbusError('ERR_MESSAGE_TOO_LARGE', `the ${data.length}-byte request is larger than the NATS server's max_payload (${ctx.maxPayload()}): raise max_payload`);
    }
    this.figures.out.messages++;
    this.figures.out.bytes += data.length;
    let res: Msg;
    try {
      res = await ctx.nc.request(this.subject, data, { timeout: ctx.rpcTimeout, headers: makeHeaders({ [H.origin]: ctx.host }) });
    } catch (e) {
      this.figures.in.lost++;
      const text = errorText(e);
      if (/503|no responders/i.test(text)) throw new ShmbusError('ERR_NO_SERVER', `no host serves ${this.subject} (NATS: no responders)`);
      if (/timeout/i.test(text)) throw new ShmbusError('ERR_TIMEOUT', `no answer on ${this.subject} within ${ctx.rpcTimeout} ms`);
      throw new ShmbusError('ERR_REMOTE', `NATS request on ${this.subject} failed: ${text}`);
    }
    const code = res.headers?.get(H.error);
    if (code) {
      this.figures.in.lost++;
      const known = (ERROR_CODES as readonly string[]).includes(code) ? (code as ShmbusErrorCode) : 'ERR_REMOTE';
      throw new ShmbusError(known, res.headers?.get(H.message) || code);
    }
    this.figures.in.messages++;
    this.figures.in.bytes += res.data.length;
    // A copy: the client library may reuse its buffer after we return.
    return res.data.slice();
  }

  async close(): Promise<void> {
    this.#sub?.unsubscribe();
    await this.#server?.close({ timeout: 1000 });
    this.#client?.close();
  }
}
