/**
 * `Bridge`: relays local channels to a NATS server and back, so that processes on several hosts share them. One
 * bridge per host (its status mailbox refuses a second one for the same host id). docs/bridge.md has it all.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { ShmbusError, isShmbusError } from '../errors.js';
import { Mailbox } from '../channels/mailbox.js';
import { validateName } from '../protocol/names.js';
import { errorText, type Link, type LinkContext } from './link.js';
import { MailboxLink } from './mailbox-link.js';
import { QueueLink } from './queue-link.js';
import { presizeReceives } from './receive.js';
import { RpcLink } from './rpc-link.js';
import { resolveChannel, validatePrefix, type BridgeChannel, type BridgeKind, type ResolvedChannel } from './spec.js';
import { parseBridgeStatus, type BridgeChannelStatus, type BridgeStatus } from './status.js';
import { TopicLink } from './topic-link.js';

/** TLS files for the NATS connection (passed to the client as they are). */
export interface BridgeTlsOptions {
  /** CA certificate(s) to verify the server with (PEM file). */
  caFile?: string;
  /** Client certificate for mutual TLS (PEM file). */
  certFile?: string;
  /** Its key (PEM file). */
  keyFile?: string;
}

/** A channel to relay: "LOCAL[=REMOTE][:in|:out|:both]" or its object form. */
export type BridgeChannelSpec = string | BridgeChannel;

/** An event of the bridge's life (connected, reconnected, an error...), for logs. */
export interface BridgeEvent {
  event: string;
  /** ISO 8601. */
  time: string;
  [field: string]: unknown;
}

export interface BridgeOptions {
  /** NATS server URL(s), e.g. 'nats://127.0.0.1:4222' (several: the client picks and fails over). */
  nats: string | string[];
  /** This host's id: marks what this bridge sends (a bridge drops its own) and names its status (default: hostname). */
  host?: string;
  /** First subject tokens (default 'shmbus'): subjects are `<prefix>.<kind>.<remote name>`. */
  prefix?: string;
  /** Topics to relay (both ways unless `:in`/`:out`): core subjects, lossy. */
  topics?: BridgeChannelSpec[];
  /** Queues to relay, each `:out` (drain the local queue) or `:in` (fill it): a JetStream stream, lossless. */
  queues?: BridgeChannelSpec[];
  /** Mailboxes to relay (both ways unless `:in`/`:out`): keys of the key-value bucket. */
  mailboxes?: BridgeChannelSpec[];
  /** Rpc services to relay, each `:in` (the service runs here) or `:out` (its callers run here). */
  rpcs?: BridgeChannelSpec[];
  /** Name of the status Mailbox (default `shmbus-bridge.<host>`); queue journals are `<status>.j.<queue>`. */
  status?: string;
  /** ms between status writes (default 1000). */
  statusInterval?: number;
  /** Key-value bucket of the mailboxes (default 'shmbus'). */
  kvBucket?: string;
  /** ms a relayed Rpc call may take (default 10000). */
  rpcTimeout?: number;
  /**
   * Largest request/response of a relayed Rpc (default 4 MiB; the local service the bridge serves is sized so). One
   * larger than the server's max_payload crosses in chunks (docs/bridge.md); one larger than this fails with
   * ERR_MESSAGE_TOO_LARGE.
   */
  rpcMaxMessageSize?: number;
  /** NATS credentials file (JWT + nkey seed, as `nsc` writes it). */
  credentials?: string;
  /** NATS user name (with `pass`). */
  user?: string;
  /** NATS password. */
  pass?: string;
  /** NATS token. */
  token?: string;
  /** TLS: `true` to require it with the system CAs, or files. */
  tls?: boolean | BridgeTlsOptions;
  /** Any other option of the `nats` client's connect(), passed through (wins over the above). */
  connectOptions?: Partial<ConnectionOptions>;
  /** Called with each event (default: none). */
  onEvent?: (e: BridgeEvent) => void;
}

const KINDS: [BridgeKind, keyof BridgeOptions][] = [
  ['topic', 'topics'],
  ['queue', 'queues'],
  ['mailbox', 'mailboxes'],
  ['rpc', 'rpcs'],
];

function positiveInt(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new ShmbusError('ERR_INVALID_ARG', `bridge option ${name} must be a whole number >= 1 (got ${String(v)})`);
  }
  return v;
}

/** A valid host id: the hostname with other characters than [A-Za-z0-9_-] replaced. */
function hostId(v: unknown): string {
  const h = v === undefined ? hostname() : v;
  if (typeof h !== 'string' || h.length === 0 || h.length > 100) {
    throw new ShmbusError('ERR_INVALID_ARG', `bridge option host must be a non-empty string of at most 100 characters`);
  }
  return h.replace(/[^A-Za-z0-9_-]/g, '_');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A running bridge. `Bridge.start(options)` connects, sets up every channel and resolves once remote messages can
 * arrive; `close()` stops it. See docs/bridge.md.
 */
export class Bridge {
  /** This bridge's host id. */
  readonly host: string;
  /** Name of the status Mailbox. */
  readonly statusName: string;
  readonly #nc: NatsConnection;
  readonly #links: Link[];
  readonly #ac: AbortController;
  readonly #statusBox: Mailbox;
  readonly #started = new Date();
  readonly #timer: NodeJS.Timeout;
  #connected = true;
  #reconnects = 0;
  #disconnectedMs = 0;
  #downSince = 0;
  #whenUp: { promise: Promise<void>; resolve: () => void } | null = null;
  #last = new Map<Link, { out: number; in: number; at: number }>();
  #rates = new Map<Link, { out: number; in: number }>();
  #closing: Promise<void> | null = null;
  #emit: (e: BridgeEvent) => void;

  private constructor(
    nc: NatsConnection,
    host: string,
    statusName: string,
    statusBox: Mailbox,
    build: (ctx: LinkContext) => Link[],
    o: BridgeOptions,
    interval: number,
  ) {
    this.#nc = nc;
    this.host = host;
    this.statusName = statusName;
    this.#statusBox = statusBox;
    this.#ac = new AbortController();
    this.#emit = o.onEvent ?? (() => undefined);
    const ctx: LinkContext = {
      nc,
      js: nc.jetstream(),
      jsm: null as never, // set in start()
      host,
      run: randomBytes(6).toString('hex'),
      prefix: o.prefix ?? 'shmbus',
      connected: () => this.#connected,
      whenConnected: () => this.#whenConnected(),
      maxPayload: () => nc.info?.max_payload ?? 1 << 20,
      segmentBase: statusName,
      log: (event, fields) => this.#log(event, fields),
      signal: this.#ac.signal,
      rpcTimeout: o.rpcTimeout ?? 10_000,
      rpcMaxMessageSize: o.rpcMaxMessageSize ?? 4 << 20,
      kvBucket: o.kvBucket ?? 'shmbus',
    };
    this.#ctx = ctx;
    this.#links = build(ctx);
    this.#timer = setInterval(() => void this.#writeStatus(), interval);
    this.#timer.unref();
    void this.#watchStatus();
  }

  readonly #ctx: LinkContext;

  /**
   * Connects to NATS, opens the status mailbox, sets up every channel. Resolves once subscriptions are in place.
   * @throws ERR_INVALID_ARG (bad options or channel specs), ERR_INVALID_NAME, ERR_SHM_EXISTS (another live bridge
   *   has this host id's status mailbox), and the NATS client's connection errors (auth, TLS) as they are
   */
  static async start(options: BridgeOptions): Promise<Bridge> {
    if (options === null || typeof options !== 'object') throw new ShmbusError('ERR_INVALID_ARG', 'Bridge.start needs an options object');
    const servers = typeof options.nats === 'string' ? [options.nats] : options.nats;
    if (!Array.isArray(servers) || servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.length === 0)) {
      throw new ShmbusError('ERR_INVALID_ARG', 'bridge option nats must be a server URL or a list of them');
    }
    const host = hostId(options.host);
    validatePrefix(options.prefix ?? 'shmbus');
    const interval = positiveInt(options.statusInterval, 'statusInterval', 1000);
    positiveInt(options.rpcTimeout, 'rpcTimeout', 1);
    positiveInt(options.rpcMaxMessageSize, 'rpcMaxMessageSize', 1);
    if (options.kvBucket !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(options.kvBucket)) {
      throw new ShmbusError('ERR_INVALID_ARG', `bridge option kvBucket must be 1-64 characters of A-Z a-z 0-9 _ -`);
    }
    const channels: ResolvedChannel[] = [];
    for (const [kind, key] of KINDS) {
      const list = options[key];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new ShmbusError('ERR_INVALID_ARG', `bridge option ${key} must be an array`);
      for (const spec of list as BridgeChannelSpec[]) channels.push(resolveChannel(kind, spec));
    }
    for (const c of channels) {
      // One link per local channel: the same name relayed twice would relay its own messages back.
      const twin = channels.find((d) => d !== c && d.kind === c.kind && (d.local === c.local || d.remote === c.remote));
      if (twin) throw new ShmbusError('ERR_INVALID_ARG', `${c.kind} ${c.local} is listed twice (or two locals share remote ${c.remote})`);
    }
    const statusName = validateName(options.status ?? `shmbus-bridge.${host}`);

    const statusBox = openStatus(statusName);
    let nc: NatsConnection;
    try {
      nc = await connect(connectOptions(options, servers, host));
      presizeReceives(nc);
    } catch (e) {
      statusBox.close();
      Mailbox.unlink(statusName);
      throw e;
    }
    const bridge = new Bridge(
      nc,
      host,
      statusName,
      statusBox,
      (ctx) =>
        channels.map((c) => {
          switch (c.kind) {
            case 'topic':
              return new TopicLink(c, ctx);
            case 'queue':
              return new QueueLink(c, ctx);
            case 'mailbox':
              return new MailboxLink(c, ctx);
            case 'rpc':
              return new RpcLink(c, ctx);
          }
        }),
      options,
      interval,
    );
    try {
      bridge.#ctx.jsm = await nc.jetstreamManager();
      for (const l of bridge.#links) await l.start();
      await nc.flush();
    } catch (e) {
      await bridge.close();
      throw e;
    }
    bridge.#log('ready', { server: nc.getServer(), channels: channels.length, maxPayload: bridge.#ctx.maxPayload() });
    await bridge.#writeStatus();
    return bridge;
  }

  #log(event: string, fields?: Record<string, unknown>): void {
    try {
      this.#emit({ event, time: new Date().toISOString(), ...fields });
    } catch {
      // a throwing listener must not stop the bridge
    }
  }

  #whenConnected(): Promise<void> {
    if (this.#connected || this.#ac.signal.aborted) return Promise.resolve();
    if (!this.#whenUp) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#whenUp = { promise, resolve };
    }
    return this.#whenUp.promise;
  }

  /** Follows the connection: disconnects, reconnects (and what was lost meanwhile). */
  async #watchStatus(): Promise<void> {
    let lostAtDown = 0;
    const outLost = (): number => this.#links.reduce((a, l) => a + l.figures.out.lost, 0);
    for await (const s of this.#nc.status()) {
      if (s.type === 'disconnect' && this.#connected) {
        this.#connected = false;
        this.#downSince = Date.now();
        lostAtDown = outLost();
        this.#log('disconnected', { server: String(s.data) });
        void this.#writeStatus();
      } else if (s.type === 'reconnect') {
        const down = this.#downSince ? Date.now() - this.#downSince : 0;
        this.#disconnectedMs += down;
        this.#connected = true;
        this.#reconnects++;
        this.#whenUp?.resolve();
        this.#whenUp = null;
        // Topic messages dropped while away; the receiving bridges count the same gaps as their `lost`.
        this.#log('reconnected', { server: String(s.data), downMs: down, droppedWhileDown: outLost() - lostAtDown });
        void this.#writeStatus();
      } else if (s.type === 'error') {
        this.#log('error', { error: errorText(s.data) });
      }
    }
  }

  /** The bridge's status now (what the status mailbox holds). */
  status(): BridgeStatus {
    const now = Date.now();
    const channels: BridgeChannelStatus[] = this.#links.map((l) => {
      const f = l.figures;
      const r = this.#rates.get(l) ?? { out: 0, in: 0 };
      return {
        kind: l.channel.kind,
        local: l.channel.local,
        remote: l.channel.remote,
        direction: l.channel.direction,
        subject: l.subject,
        state: f.state,
        out: { ...f.out, rate: r.out },
        in: { ...f.in, rate: r.in },
        lag: f.lag,
        ...(f.error !== undefined && { error: f.error }),
      };
    });
    return {
      kind: 'shmbus-bridge',
      host: this.host,
      pid: process.pid,
      server: this.#nc.getServer(),
      connected: this.#connected,
      started: this.#started.toISOString(),
      updated: new Date(now).toISOString(),
      reconnects: this.#reconnects,
      disconnectedMs: this.#disconnectedMs + (this.#connected ? 0 : now - this.#downSince),
      maxPayload: this.#ctx.maxPayload(),
      channels,
    };
  }

  async #writeStatus(): Promise<void> {
    if (this.#statusBox === undefined) return;
    const now = performance.now();
    await Promise.all(this.#links.map((l) => l.sample?.().catch(() => undefined)));
    for (const l of this.#links) {
      const prev = this.#last.get(l);
      const cur = { out: l.figures.out.messages, in: l.figures.in.messages, at: now };
      if (prev && now > prev.at) {
        const s = (now - prev.at) / 1000;
        this.#rates.set(l, { out: (cur.out - prev.out) / s, in: (cur.in - prev.in) / s });
      }
      this.#last.set(l, cur);
    }
    if (this.#closing) return;
    try {
      this.#statusBox.write(JSON.stringify(this.status()));
    } catch (e) {
      this.#log('error', { error: `status ${this.statusName}: ${errorText(e)}` });
    }
  }

  /** Stops relaying, lets go of every local handle and of the connection, removes the status mailbox. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      this.#ac.abort();
      this.#whenUp?.resolve();
      await Promise.allSettled(this.#links.map((l) => l.close()));
      await this.#nc.close().catch(() => undefined);
      this.#statusBox.close();
      try {
        Mailbox.unlink(this.statusName);
      } catch {
        // gone already
      }
      this.#log('closed');
    })();
    return this.#closing;
  }
}

/** The status mailbox: created, or taken over from a bridge of this host id that died. */
function openStatus(name: string): Mailbox {
  try {
    return Mailbox.create(name, { maxMessageSize: 64 << 10 });
  } catch (e) {
    if (!isShmbusError(e, 'ERR_SHM_EXISTS')) throw e;
  }
  const mb = Mailbox.open(name);
  const prev = parseBridgeStatus(mb.read().data);
  if (prev && prev.pid !== process.pid && alive(prev.pid)) {
    mb.close();
    throw new ShmbusError('ERR_SHM_EXISTS', `a bridge for host ${prev.host} already runs (pid ${prev.pid}, status ${name}): one bridge per host`, { segment: name });
  }
  return mb;
}

function connectOptions(o: BridgeOptions, servers: string[], host: string): ConnectionOptions {
  const c: ConnectionOptions = {
    servers,
    name: `shmbus-bridge ${host}`,
    // The bridge never needs its own publishes back (and a topic message must not come back to its sender).
    noEcho: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
  };
  if (o.user !== undefined) c.user = o.user;
  if (o.pass !== undefined) c.pass = o.pass;
  if (o.token !== undefined) c.token = o.token;
  if (o.credentials !== undefined) c.authenticator = credsAuthenticator(readFileSync(o.credentials));
  if (o.tls === true) c.tls = {};
  else if (o.tls) c.tls = { ...o.tls };
  return { ...c, ...o.connectOptions };
}
