/**
 * Rpc: request/response between processes (PROTOCOL.md §8). Requests go through a Queue ring embedded in the rpc
 * segment (any number of client processes send, any number of server workers take); each response goes to the
 * asking client's own response queue, "<name>.r<clientId>", matched by request id. A worker table with pid + start
 * time tells clients at once whether a server is alive, and which request a dead worker had in hand.
 */
import { validateSpin } from '../base/spin.js';
import { ShmbusError } from '../errors.js';
import { readU64, writeU64 } from '../base/u64.js';
import {
  RPC_MAX_WORKERS,
  RPC_NEXT_CLIENT_OFFSET,
  RPC_PARAM_SLOTS,
  RPC_PARAM_SLOT_SIZE,
  RPC_PARAM_WORKERS,
  RPC_REQ_CLIENT_OFFSET,
  RPC_REQ_FLAGS_OFFSET,
  RPC_REQ_ID_OFFSET,
  RPC_REQ_PID_OFFSET,
  RPC_REQ_START_OFFSET,
  RPC_REQUEST_HEADER_SIZE,
  RPC_RES_FLAGS_OFFSET,
  RPC_RES_ID_OFFSET,
  RPC_RES_STATUS_OFFSET,
  RPC_RESPONSE_HEADER_SIZE,
  RPC_RING_OFFSET,
  RPC_STATUS_ERROR,
  RPC_STATUS_OK,
  RPC_STATUS_TOO_LARGE,
  RPC_WORKER_BUSY_OFFSET,
  RPC_WORKER_CLIENT_OFFSET,
  RPC_WORKER_FREE,
  RPC_WORKER_PID_OFFSET,
  RPC_WORKER_REQUEST_OFFSET,
  RPC_WORKER_SERVING,
  RPC_WORKER_SIZE,
  RPC_WORKER_START_OFFSET,
  RPC_WORKER_STATE_OFFSET,
  RPC_WORKER_STARTING,
  RPC_WORKERS_OFFSET,
  QUEUE_FLAG_TEXT,
  queueRingSize,
} from '../protocol/layout.js';
import { isProcessAlive, selfIdentity } from '../base/process.js';
import { validateName } from '../segment/names.js';
import { Segment } from '../segment/segment.js';
import { deadlineAfter, remaining, throwIfAborted, timeoutError, validateTimeout, type WaitOptions } from '../base/deadline.js';
import {
  QueueMessage,
  QueueRing,
  TIMED_OUT,
  copyBody,
  defaultSlots,
  bodyFlags,
  createQueueRing,
  openQueueRing,
  validateRingOptions,
  validateBody,
  writeBody,
} from './queue.js';

/**
 * A request as a handler sees it (`Rpc.serve(name, (req) => ...)`). `data` is only valid until the handler returns (or its promise settles): the
 * worker reuses the buffer for its next request. Keep a copy (`req.data.slice()`) if you need it later; returning
 * `req.data` (or a view of it) as the reply is fine.
 */
export class RpcRequest extends QueueMessage {
  /** The request id (unique per client while pending). */
  readonly id: number;
  /** The asking client's id (unique per rpc segment). */
  readonly clientId: number;
  /** The asking client's process id. */
  readonly clientPid: number;
  /** @internal the asking client's start time (liveness checks). */
  readonly clientStart: number;

  /** @internal */
  constructor(data: Uint8Array, isText: boolean, id: number, clientId: number, clientPid: number, clientStart: number) {
    super(data, isText);
    this.id = id;
    this.clientId = clientId;
    this.clientPid = clientPid;
    this.clientStart = clientStart;
  }
}

/** What a handler returns: the response payload. */
export type RpcReply = Uint8Array | string;
/** Serves one request; a throw is sent back to the caller as ERR_REMOTE (the server keeps serving). */
export type RpcHandler = (request: RpcRequest) => RpcReply | Promise<RpcReply>;

export interface RpcServeOptions {
  /** Requests handled at once by this process (concurrent handler calls). Default 1, at most 64 in all. */
  workers?: number;
  /**
   * Slots of the request queue (a power of two). Default 64, fewer for big slots (the queue stays within 32 MiB).
   * Used when this server creates the service.
   */
  slots?: number;
  /** Largest request in bytes. Default 65536. Used when this server creates the service. */
  slotSize?: number;
  /** Permission bits of the segments; default 0o600. */
  mode?: number;
  /** Microseconds to spin before sleeping while waiting for requests (default 50). */
  spin?: number;
}

export interface RpcConnectOptions {
  /** Slots of this client's response queue (a power of two). Default 8, fewer for big slots (within 32 MiB). */
  slots?: number;
  /** Largest response in bytes. Default: the service's request slotSize. */
  slotSize?: number;
  /** Permission bits of the response queue; default 0o600. */
  mode?: number;
  /** Microseconds to spin before sleeping while waiting for a response (default 50). */
  spin?: number;
}

const DEFAULT_REQUEST_SLOTS = 64;
const DEFAULT_SLOT_SIZE = 65536;
const DEFAULT_RESPONSE_SLOTS = 8;
/** How often a waiting client re-checks that the servers live, and a blocked worker that the client lives. */
const LIVENESS_CHECK_MS = 100;
/** How long a client trusts "a server is alive" before it reads the worker table again. */
const ALIVE_CACHE_MS = 20;
const DECODER = new TextDecoder();
const EMPTY = new Uint8Array(0);

function responseQueueName(service: string, clientId: number): string {
  return `${service}.r${clientId}`;
}

/** The rpc segment: worker table + request ring. */
class Service {
  readonly segment: Segment;
  readonly ring: QueueRing;
  readonly #words: Int32Array;
  readonly #words64: BigInt64Array;

  constructor(segment: Segment, spin: number | undefined) {
    this.segment = segment;
    const slots = segment.params[RPC_PARAM_SLOTS]!;
    const slotSize = segment.params[RPC_PARAM_SLOT_SIZE]!;
    if (segment.params[RPC_PARAM_WORKERS] !== RPC_MAX_WORKERS || slotSize < RPC_REQUEST_HEADER_SIZE) {
      throw new ShmbusError('ERR_SHM_CORRUPT', `rpc segment "${segment.name}" has an impossible layout; unlink it`, {
        segment: segment.name,
      });
    }
    QueueRing.validate(segment, RPC_RING_OFFSET, slots, slotSize);
    this.ring = new QueueRing(segment, RPC_RING_OFFSET, slots, slotSize, spin);
    this.#words = segment.words;
    this.#words64 = new BigInt64Array(segment.buffer, 0, segment.size >> 3);
  }

  static create(name: string, slots: number, slotSize: number, mode: number | undefined, spin: number | undefined): Service {
    const seg = Segment.create(name, {
      size: RPC_RING_OFFSET + queueRingSize(slots, slotSize),
      kind: 'rpc',
      ...(mode === undefined ? {} : { mode }),
      params: [slots, slotSize, RPC_MAX_WORKERS],
      init: (s) => QueueRing.init(s, RPC_RING_OFFSET, slots, slotSize),
    });
    return Service.#wrap(seg, spin);
  }

  static open(name: string, spin: number | undefined): Service {
    return Service.#wrap(Segment.open(name, { kind: 'rpc' }), spin);
  }

  static #wrap(seg: Segment, spin: number | undefined): Service {
    try {
      return new Service(seg, spin);
    } catch (e) {
      seg.close();
      throw e;
    }
  }

  #entry(i: number): number {
    return (RPC_WORKERS_OFFSET + i * RPC_WORKER_SIZE) >> 2;
  }

  /** Pid of entry `i` if it is held by a live process, else 0. */
  #livePid(i: number): number {
    const e = this.#entry(i);
    const w = this.#words;
    // SYNC RPC-WORKER (acquire): STATE SERVING publishes START; pairs with the release store in register.
    const state = Atomics.load(w, e + (RPC_WORKER_STATE_OFFSET >> 2));
    // SYNC RPC-WORKER (seq_cst load): the entry holder, read with its state.
    const pid = Atomics.load(w, e + (RPC_WORKER_PID_OFFSET >> 2));
    if (pid === 0 || state === RPC_WORKER_FREE) return 0;
    const start = state === RPC_WORKER_SERVING ? readU64(w, e + (RPC_WORKER_START_OFFSET >> 2)) : 0;
    return isProcessAlive(pid, start) ? pid : 0;
  }

  /** Claims a free (or dead) worker entry; returns its index. @throws ERR_INVALID_ARG when all 64 are live */
  register(): number {
    const me = selfIdentity();
    const w = this.#words;
    for (let i = 0; i < RPC_MAX_WORKERS; i++) {
      const e = this.#entry(i);
      // SYNC RPC-WORKER (seq_cst load): the entry holder, read with its state.
      const pid = Atomics.load(w, e + (RPC_WORKER_PID_OFFSET >> 2));
      // SYNC RPC-WORKER (seq_cst load): the CAS below expects exactly the (pid, state) read here.
      const state = Atomics.load(w, e + (RPC_WORKER_STATE_OFFSET >> 2));
      if (state !== RPC_WORKER_FREE && this.#livePid(i) !== 0) continue;
      const expected = BigInt(pid >>> 0) | (BigInt(state >>> 0) << 32n);
      const mine = BigInt(me.pid) | (BigInt(RPC_WORKER_STARTING) << 32n);
      // SYNC RPC-WORKER (seq_cst 64-bit CAS): PID and STATE change together, so a live entry is never taken over.
      if (Atomics.compareExchange(this.#words64, e >> 1, expected, mine) !== expected) continue;
      writeU64(w, e + (RPC_WORKER_START_OFFSET >> 2), me.startTime);
      w[e + (RPC_WORKER_BUSY_OFFSET >> 2)] = 0;
      // SYNC RPC-WORKER (release): START is written before the entry says SERVING.
      Atomics.store(w, e + (RPC_WORKER_STATE_OFFSET >> 2), RPC_WORKER_SERVING);
      return i;
    }
    throw new ShmbusError('ERR_INVALID_ARG', `rpc "${this.segment.name}" already has ${RPC_MAX_WORKERS} live workers`, {
      segment: this.segment.name,
    });
  }

  deregister(i: number): void {
    // SYNC RPC-WORKER (seq_cst 64-bit store): PID 0, STATE FREE.
    Atomics.store(this.#words64, this.#entry(i) >> 1, 0n);
  }

  /** Marks the request a worker has in hand (0 = idle), so clients can tell which request a dead worker had. */
  setBusy(i: number, clientId: number, requestId: number, busy: boolean): void {
    const e = this.#entry(i);
    const w = this.#words;
    if (busy) {
      w[e + (RPC_WORKER_CLIENT_OFFSET >> 2)] = clientId;
      w[e + (RPC_WORKER_REQUEST_OFFSET >> 2)] = requestId;
    }
    // SYNC RPC-BUSY (release): CLIENT and REQUEST are valid while BUSY is 1; pairs with the acquire in deadWorkers.
    Atomics.store(w, e + (RPC_WORKER_BUSY_OFFSET >> 2), busy ? 1 : 0);
  }

  anyAlive(): boolean {
    for (let i = 0; i < RPC_MAX_WORKERS; i++) if (this.#livePid(i) !== 0) return true;
    return false;
  }

  /** Requests of `clientId` that a dead worker had in hand: [requestId, pid] pairs. */
  deadWorkersHolding(clientId: number): [number, number][] {
    const out: [number, number][] = [];
    const w = this.#words;
    for (let i = 0; i < RPC_MAX_WORKERS; i++) {
      const e = this.#entry(i);
      // SYNC RPC-WORKER (seq_cst load): the entry holder, read with its state.
      const pid = Atomics.load(w, e + (RPC_WORKER_PID_OFFSET >> 2));
      // SYNC RPC-BUSY (acquire)
      if (pid === 0 || Atomics.load(w, e + (RPC_WORKER_BUSY_OFFSET >> 2)) !== 1) continue;
      if (w[e + (RPC_WORKER_CLIENT_OFFSET >> 2)] !== clientId || this.#livePid(i) !== 0) continue;
      out.push([w[e + (RPC_WORKER_REQUEST_OFFSET >> 2)]! >>> 0, pid]);
    }
    return out;
  }

  nextClientId(): number {
    // SYNC RPC-CLIENT-ID (seq_cst RMW): unique ids per segment.
    return (Atomics.add(this.#words, RPC_NEXT_CLIENT_OFFSET >> 2, 1) + 1) >>> 0;
  }
}

function noServer(name: string, why: string): ShmbusError {
  return new ShmbusError('ERR_NO_SERVER', `rpc "${name}": ${why}; start a server with Rpc.serve("${name}", handler)`, {
    segment: name,
  });
}

/**
 * Request/response between processes.
 *
 * @example
 * ```ts
 * const server = Rpc.serve('resize', async (req) => `got ${req.data.length} bytes`, { workers: 2 });
 * const client = Rpc.connect('resize');
 * const res = await client.request(new Uint8Array(10), { timeout: 1000 });
 * console.log(res.text());
 * client.close();
 * await server.close();
 * ```
 */
export class Rpc {
  private constructor() {}

  /**
   * Serves `name`: creates the service if needed (or joins the servers already there) and runs `workers`
   * concurrent handler calls in this process until {@link RpcServer.close}.
   * @throws ERR_INVALID_ARG, ERR_INVALID_NAME, ERR_SHM_KIND, ERR_SHM_CORRUPT, ERR_SHM_NO_SPACE, ERR_SHM_PERMISSION
   * @example
   * ```ts
   * const server = Rpc.serve('upper', (req) => req.text().toUpperCase(), { workers: 2 });
   * ```
   */
  static serve(name: string, handler: RpcHandler, options: RpcServeOptions = {}): RpcServer {
    if (typeof handler !== 'function') throw new ShmbusError('ERR_INVALID_ARG', 'Rpc.serve needs a handler function');
    if (options === null || typeof options !== 'object') throw new ShmbusError('ERR_INVALID_ARG', 'options must be an object');
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > RPC_MAX_WORKERS) {
      throw new ShmbusError('ERR_INVALID_ARG', `workers must be an integer from 1 to ${RPC_MAX_WORKERS} (got ${String(workers)})`);
    }
    const size = options.slotSize ?? DEFAULT_SLOT_SIZE;
    const { slots, slotSize } = validateRingOptions(options.slots ?? defaultSlots(size, DEFAULT_REQUEST_SLOTS), size);
    if (slotSize < RPC_REQUEST_HEADER_SIZE) {
      throw new ShmbusError('ERR_INVALID_ARG', `slotSize must be at least ${RPC_REQUEST_HEADER_SIZE} bytes`);
    }
    validateSpin(options.spin, 0);
    const ringSlotSize = slotSize + RPC_REQUEST_HEADER_SIZE;
    let service: Service | undefined;
    while (service === undefined) {
      try {
        service = Service.open(name, options.spin);
        if (!service.anyAlive() && (service.ring.slots !== slots || service.ring.slotSize !== ringSlotSize)) {
          // A dead service made with other sizes: replace it (its clients reopen by name).
          service.segment.close();
          service = undefined;
          unlinkQuietly(name);
          continue;
        }
      } catch (e) {
        if (!(e instanceof ShmbusError) || e.code !== 'ERR_SHM_NOT_FOUND') throw e;
        try {
          service = Service.create(name, slots, ringSlotSize, options.mode, options.spin);
        } catch (e2) {
          if (!(e2 instanceof ShmbusError) || e2.code !== 'ERR_SHM_EXISTS') throw e2;
        }
      }
    }
    return new RpcServer(name, service, handler, workers);
  }

  /**
   * A client of `name`. Connecting never waits: the service is looked up at each request, and a request fails
   * with ERR_NO_SERVER at once when no server is alive.
   * @throws ERR_INVALID_ARG, ERR_INVALID_NAME
   * @example
   * ```ts
   * const client = Rpc.connect('upper');
   * console.log((await client.request('hi', { timeout: 1000 })).text());
   * ```
   */
  static connect(name: string, options: RpcConnectOptions = {}): RpcClient {
    if (options === null || typeof options !== 'object') throw new ShmbusError('ERR_INVALID_ARG', 'options must be an object');
    if (options.slots !== undefined || options.slotSize !== undefined) {
      validateRingOptions(options.slots ?? DEFAULT_RESPONSE_SLOTS, options.slotSize ?? 1);
    }
    validateSpin(options.spin, 0);
    // Validates the name now (ERR_INVALID_NAME) rather than at the first request; room for ".r<clientId>".
    validateName(name);
    validateName(responseQueueName(name, 0xffffffff));
    return new RpcClient(name, options);
  }

  /**
   * Removes the service's name and the response queues of clients that died without closing.
   * @throws ERR_INVALID_NAME
   */
  static unlink(name: string): void {
    unlinkQuietly(name);
    const prefix = `${name}.r`;
    for (const s of Segment.list()) {
      if (s.name.startsWith(prefix) && /^\d+$/.test(s.name.slice(prefix.length)) && s.stale) unlinkQuietly(s.name);
    }
  }
}

function unlinkQuietly(name: string): void {
  try {
    Segment.unlink(name);
  } catch (e) {
    if (!(e instanceof ShmbusError) || e.code !== 'ERR_SHM_NOT_FOUND') throw e;
  }
}

/**
 * A running server (from {@link Rpc.serve}): `close()` stops it.
 * @example
 * ```ts
 * const server = Rpc.serve('echo', (req) => req.data, { workers: 2 });
 * process.once('SIGTERM', () => void server.close({ timeout: 1000 }));
 * ```
 */
export class RpcServer {
  /** The service name. */
  readonly name: string;
  readonly #service: Service;
  readonly #handler: RpcHandler;
  readonly #abort = new AbortController();
  readonly #entries: number[] = [];
  readonly #loops: Promise<void>[] = [];
  readonly #responders = new Map<number, QueueRing>();
  #closed = false;
  /** close() stopped waiting for handlers: answers that come later are dropped. */
  #abandoned = false;
  #served = 0;
  #failed = 0;

  /** @internal use {@link Rpc.serve} */
  constructor(name: string, service: Service, handler: RpcHandler, workers: number) {
    this.name = name;
    this.#service = service;
    this.#handler = handler;
    try {
      for (let i = 0; i < workers; i++) this.#entries.push(service.register());
    } catch (e) {
      for (const i of this.#entries) service.deregister(i);
      service.segment.close();
      throw e;
    }
    for (const entry of this.#entries) {
      // A worker that fails for good (not a corrupt slot, not close) leaves the table; the others go on.
      this.#loops.push(
        this.#work(entry).catch((e: unknown) => {
          this.#service.deregister(entry);
          process.emitWarning(`rpc "${name}" worker stopped: ${String(e)}`);
        }),
      );
    }
  }

  /** Requests answered so far (with a result or an error). */
  get served(): number {
    return this.#served;
  }

  /** Requests whose handler threw. */
  get failed(): number {
    return this.#failed;
  }

  async #work(entry: number): Promise<void> {
    const ring = this.#service.ring;
    const signal = this.#abort.signal;
    const what = `rpc "${this.name}" worker`;
    // One request buffer per worker, reused: a fresh multi-megabyte array per request costs more than the copy.
    let scratch = new Uint8Array(0);
    const reader = (bytes: Uint8Array, offset: number, length: number): RpcRequest | undefined => {
      if (length < RPC_REQUEST_HEADER_SIZE) return undefined; // not a request: nobody to answer
      const v = ring.view;
      const n = length - RPC_REQUEST_HEADER_SIZE;
      if (scratch.length < n) scratch = new Uint8Array(Math.max(n, Math.min(2 * scratch.length, ring.slotSize)));
      const flags = v.getUint32(offset + RPC_REQ_FLAGS_OFFSET, true);
      return new RpcRequest(
        copyBody(bytes, offset + RPC_REQUEST_HEADER_SIZE, n, scratch),
        (flags & QUEUE_FLAG_TEXT) !== 0,
        v.getUint32(offset + RPC_REQ_ID_OFFSET, true),
        v.getUint32(offset + RPC_REQ_CLIENT_OFFSET, true),
        v.getUint32(offset + RPC_REQ_PID_OFFSET, true),
        v.getUint32(offset + RPC_REQ_START_OFFSET, true) + v.getUint32(offset + RPC_REQ_START_OFFSET + 4, true) * 2 ** 32,
      );
    };
    while (!signal.aborted) {
      let req: RpcRequest | undefined | null | typeof TIMED_OUT;
      try {
        req = await ring.read(reader, Infinity, signal, what);
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ShmbusError && e.code === 'ERR_SHM_CORRUPT') continue; // the bad slot was freed
        throw e;
      }
      if (req === null || req === TIMED_OUT) return;
      if (req === undefined) continue;
      // The next request reuses `scratch`: wait until this one is answered (its reply may be a view of it).
      const pending = this.#handle(entry, req);
      if (pending !== undefined) await pending;
    }
  }

  /** Runs the handler and answers; returns a promise only when something had to wait (handler or full queue). */
  #handle(entry: number, req: RpcRequest): Promise<void> | undefined {
    const { clientId, id, clientPid: pid, clientStart: start } = req;
    this.#service.setBusy(entry, clientId, id, true);
    let out: RpcReply | Promise<RpcReply>;
    try {
      out = this.#handler(req);
    } catch (e) {
      return this.#finish(entry, clientId, pid, start, id, RPC_STATUS_ERROR, errorBody(e));
    }
    if (typeof out === 'string' || out instanceof Uint8Array) return this.#finish(entry, clientId, pid, start, id, RPC_STATUS_OK, out);
    return Promise.resolve(out).then(
      (body) => this.#finish(entry, clientId, pid, start, id, RPC_STATUS_OK, body),
      (e: unknown) => this.#finish(entry, clientId, pid, start, id, RPC_STATUS_ERROR, errorBody(e)),
    );
  }

  #finish(entry: number, clientId: number, pid: number, start: number, id: number, status: number, body: unknown): Promise<void> | undefined {
    if (status === RPC_STATUS_OK && typeof body !== 'string' && !(body instanceof Uint8Array)) {
      status = RPC_STATUS_ERROR;
      body = errorBody(new ShmbusError('ERR_REMOTE', `the handler returned ${typeof body}; return a Uint8Array or a string`));
    }
    if (this.#abandoned) return undefined;
    if (status !== RPC_STATUS_OK) this.#failed++;
    this.#service.setBusy(entry, clientId, id, false);
    this.#served++;
    const reply = body as RpcReply;
    let ring = this.#responders.get(clientId);
    if (ring === undefined) {
      try {
        ring = openQueueRing(responseQueueName(this.name, clientId), 100, undefined);
      } catch {
        return undefined; // the client is gone (closed or never made its queue): nobody to answer
      }
      if (this.#responders.size >= 1024) this.#evict(this.#responders.keys().next().value!);
      this.#responders.set(clientId, ring);
    }
    try {
      if (writeResponse(ring, id, status, reply)) return undefined;
    } catch (e) {
      if (!(e instanceof ShmbusError) || e.code !== 'ERR_MESSAGE_TOO_LARGE') {
        this.#evict(clientId); // closed by its client (or corrupt): drop
        return undefined;
      }
      // Say so in a response that always fits (no payload); the client's queue may be full: retry below.
      status = RPC_STATUS_TOO_LARGE;
    }
    return this.#respond(ring, clientId, pid, start, id, status, status === RPC_STATUS_TOO_LARGE ? EMPTY : reply).catch(() => {
      this.#evict(clientId); // the client's queue failed (closed, corrupt): that client cannot be answered
    });
  }

  /** Answers through a full response queue: waits for the client to read, as long as it lives. */
  async #respond(ring: QueueRing, clientId: number, pid: number, start: number, id: number, status: number, body: RpcReply): Promise<void> {
    for (;;) {
      const seen = ring.releasesSeen();
      if (writeResponse(ring, id, status, body)) return;
      if (!isProcessAlive(pid, start) || this.#closed) {
        this.#evict(clientId);
        return;
      }
      try {
        await ring.park(false, seen, deadlineAfter(LIVENESS_CHECK_MS), undefined);
      } catch {
        this.#evict(clientId);
        return;
      }
    }
  }

  #evict(clientId: number): void {
    const ring = this.#responders.get(clientId);
    if (ring === undefined) return;
    this.#responders.delete(clientId);
    ring.segment.close();
  }

  /**
   * Stops taking requests, lets the handlers in progress answer (waiting at most `timeout` ms for them, default
   * forever; after that their answers are dropped), and leaves the service (the last server out removes its
   * name). Idempotent. @throws ERR_INVALID_ARG
   */
  async close(options: { timeout?: number } = {}): Promise<void> {
    const timeout = validateTimeout(options.timeout, 'timeout');
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      if (timeout !== Infinity) {
        timer = setTimeout(() => {
          this.#abandoned = true;
          resolve();
        }, timeout);
      }
    });
    await Promise.race([Promise.allSettled(this.#loops), gaveUp]);
    clearTimeout(timer);
    for (const i of this.#entries) this.#service.deregister(i);
    const last = !this.#service.anyAlive();
    for (const id of [...this.#responders.keys()]) this.#evict(id);
    this.#service.segment.close();
    if (last) Rpc.unlink(this.name);
  }
}

function errorBody(e: unknown): string {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  return JSON.stringify({ name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) });
}

function writeResponse(ring: QueueRing, id: number, status: number, body: RpcReply): boolean {
  return ring.tryWrite((bytes, offset, capacity) => {
    const n = writeBody(body, bytes, offset + RPC_RESPONSE_HEADER_SIZE, capacity - RPC_RESPONSE_HEADER_SIZE, `rpc response`);
    const v = ring.view;
    v.setUint32(offset + RPC_RES_ID_OFFSET, id, true);
    v.setUint32(offset + RPC_RES_STATUS_OFFSET, status, true);
    v.setUint32(offset + RPC_RES_FLAGS_OFFSET, bodyFlags(body), true);
    v.setUint32(offset + 12, 0, true);
    return RPC_RESPONSE_HEADER_SIZE + n;
  }, 0);
}

interface Pending {
  resolve: (m: QueueMessage) => void;
  reject: (e: ShmbusError) => void;
  into: Uint8Array | undefined;
}

/** Options of {@link RpcClient.request}. */
export interface RpcRequestOptions extends WaitOptions {
  /**
   * Copy the response into this buffer when it fits (then `res.data` is a view of it, valid until you reuse the
   * buffer): saves allocating a fresh array per response, which for megabyte responses costs more than the copy.
   */
  into?: Uint8Array;
}

/**
 * A client of one service (from {@link Rpc.connect}). Requests may overlap; each response is matched to its
 * request by id.
 * @example
 * ```ts
 * const client = Rpc.connect('echo');
 * const [a, b] = await Promise.all([client.request('a'), client.request('b')]);
 * client.close();
 * ```
 */
export class RpcClient {
  /** The service name. */
  readonly name: string;
  readonly #options: RpcConnectOptions;
  #service: Service | undefined;
  #responses: QueueRing | undefined;
  #clientId = 0;
  #nextId = 0;
  readonly #me = selfIdentity();
  #aliveUntil = 0;
  readonly #pending = new Map<number, Pending>();
  #pumping = false;
  #closed = false;

  /** @internal use {@link Rpc.connect} */
  constructor(name: string, options: RpcConnectOptions) {
    this.name = name;
    this.#options = options;
  }

  /** Requests sent and not yet answered. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Sends a request and waits for its response.
   * @throws ERR_NO_SERVER (no live server, at once; or the server died while handling it), ERR_TIMEOUT,
   *   ERR_ABORTED, ERR_REMOTE (the handler threw: its message), ERR_MESSAGE_TOO_LARGE, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * const res = await client.request(jpegBytes, { timeout: 5000 });
   * ```
   */
  async request(data: Uint8Array | string, options: RpcRequestOptions = {}): Promise<QueueMessage> {
    if (this.#closed) throw new ShmbusError('ERR_CLOSED', `rpc client of "${this.name}" was closed`, { segment: this.name });
    const what = `request to rpc "${this.name}"`;
    throwIfAborted(options.signal, what);
    const deadline = deadlineAfter(options.timeout);
    const service = this.#connect();
    const responses = this.#responses!;
    validateBody(data, what);
    const id = (this.#nextId = (this.#nextId + 1) >>> 0);
    const clientId = this.#clientId;
    const me = this.#me;
    const view = service.ring.view;
    const requestWriter = (bytes: Uint8Array, offset: number, capacity: number): number => {
      const n = writeBody(data, bytes, offset + RPC_REQUEST_HEADER_SIZE, capacity - RPC_REQUEST_HEADER_SIZE, what);
      view.setUint32(offset + RPC_REQ_CLIENT_OFFSET, clientId, true);
      view.setUint32(offset + RPC_REQ_ID_OFFSET, id, true);
      view.setUint32(offset + RPC_REQ_PID_OFFSET, me.pid, true);
      view.setUint32(offset + RPC_REQ_FLAGS_OFFSET, bodyFlags(data), true);
      view.setUint32(offset + RPC_REQ_START_OFFSET, me.startTime % 2 ** 32, true);
      view.setUint32(offset + RPC_REQ_START_OFFSET + 4, Math.floor(me.startTime / 2 ** 32), true);
      return RPC_REQUEST_HEADER_SIZE + n;
    };
    const into = options.into;
    if (into !== undefined && !(into instanceof Uint8Array)) throw new ShmbusError('ERR_INVALID_ARG', `${what}: into must be a Uint8Array`);
    const result = new Promise<QueueMessage>((resolve, reject) => this.#pending.set(id, { resolve, reject, into }));
    try {
      if (!service.ring.tryWrite(requestWriter, 0)) {
        const sendOptions: WaitOptions = { timeout: remaining(deadline) };
        if (options.signal !== undefined) sendOptions.signal = options.signal;
        await service.ring.write(requestWriter, 0, sendOptions, what);
      }
    } catch (e) {
      this.#pending.delete(id);
      if (e instanceof ShmbusError && e.code === 'ERR_MESSAGE_TOO_LARGE') {
        throw new ShmbusError('ERR_MESSAGE_TOO_LARGE', `${what}: the request is larger than the service's slotSize`, { cause: e });
      }
      throw e;
    }
    if (!this.#pumping) void this.#pump(responses);
    // Answered while we were still here (spin), or nothing to race against: no timer, no listener.
    if (!this.#pending.has(id) || (deadline === Infinity && options.signal === undefined)) return result;
    return this.#await(id, result, deadline, options, what);
  }

  async #await(id: number, result: Promise<QueueMessage>, deadline: number, options: WaitOptions, what: string): Promise<QueueMessage> {
    const { signal } = options;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const cancel = new Promise<never>((_, reject) => {
      const left = remaining(deadline);
      if (left !== Infinity) {
        timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(timeoutError(what, options.timeout ?? 0, this.name));
        }, left);
      }
      if (signal !== undefined) {
        onAbort = () => {
          this.#pending.delete(id);
          try {
            throwIfAborted(signal, what);
          } catch (e) {
            reject(e);
          }
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    try {
      return await Promise.race([result, cancel]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
    }
  }

  /** Receives responses and hands them to their requests while any are pending. */
  async #pump(responses: QueueRing): Promise<void> {
    this.#pumping = true;
    const what = `rpc "${this.name}" responses`;
    let nextCheck = performance.now() + LIVENESS_CHECK_MS;
    try {
      while (this.#pending.size > 0 && !this.#closed) {
        // Check the servers every LIVENESS_CHECK_MS even while other responses keep arriving: a dead worker's
        // request must fail although its neighbours are answered.
        if (performance.now() >= nextCheck) {
          this.#checkServers();
          nextCheck = performance.now() + LIVENESS_CHECK_MS;
          continue;
        }
        let r: boolean | null | typeof TIMED_OUT;
        try {
          r = await responses.read(this.#deliver, nextCheck, undefined, what);
        } catch (e) {
          if (this.#closed) return;
          if (e instanceof ShmbusError && e.code === 'ERR_SHM_CORRUPT') continue;
          this.#failAll(e instanceof ShmbusError ? e : new ShmbusError('ERR_OS', String(e)));
          return;
        }
        if (r === null) return;
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Reads one response out of its slot and settles the request it answers (into its `into` buffer if it fits). */
  readonly #deliver = (bytes: Uint8Array, offset: number, length: number): boolean => {
    if (length < RPC_RESPONSE_HEADER_SIZE) return false;
    const v = this.#responses!.view;
    const id = v.getUint32(offset + RPC_RES_ID_OFFSET, true);
    const p = this.#pending.get(id);
    if (p === undefined) return false; // timed out or aborted already
    this.#pending.delete(id);
    const status = v.getUint32(offset + RPC_RES_STATUS_OFFSET, true);
    const flags = v.getUint32(offset + RPC_RES_FLAGS_OFFSET, true);
    const n = length - RPC_RESPONSE_HEADER_SIZE;
    const at = offset + RPC_RESPONSE_HEADER_SIZE;
    if (status === RPC_STATUS_OK) {
      p.resolve(new QueueMessage(copyBody(bytes, at, n, p.into), (flags & QUEUE_FLAG_TEXT) !== 0));
    } else if (status === RPC_STATUS_TOO_LARGE) {
      p.reject(
        new ShmbusError(
          'ERR_MESSAGE_TOO_LARGE',
          `rpc "${this.name}": the response did not fit this client's response slots; connect with a larger slotSize`,
          { segment: this.name },
        ),
      );
    } else {
      p.reject(remoteError(this.name, copyBody(bytes, at, n)));
    }
    return true;
  };

  #checkServers(): void {
    const service = this.#service;
    if (service === undefined) return;
    if (!service.anyAlive()) {
      this.#failAll(noServer(this.name, 'the server stopped or died while the request was pending'));
      return;
    }
    for (const [id, pid] of service.deadWorkersHolding(this.#clientId)) {
      const p = this.#pending.get(id);
      if (p === undefined) continue;
      this.#pending.delete(id);
      p.reject(noServer(this.name, `the server process ${pid} died while handling the request`));
    }
  }

  #failAll(e: ShmbusError): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of all) p.reject(e);
  }

  /** Opens the service (again, if its servers are gone and it may have been replaced) and the response queue. */
  #connect(): Service {
    // Reading /proc for every worker costs microseconds: a positive answer is trusted for ALIVE_CACHE_MS (a server
    // that dies within that window fails the request through the pump's liveness check instead).
    const now = performance.now();
    if (this.#service !== undefined && this.#responses !== undefined && now < this.#aliveUntil) return this.#service;
    if (this.#service === undefined || !this.#service.anyAlive()) {
      this.#service?.segment.close();
      this.#service = undefined;
      try {
        this.#service = Service.open(this.name, this.#options.spin);
      } catch (e) {
        if (e instanceof ShmbusError && e.code === 'ERR_SHM_NOT_FOUND') throw noServer(this.name, 'no such service');
        throw e;
      }
      if (!this.#service.anyAlive()) throw noServer(this.name, 'no server is alive');
    }
    if (this.#responses === undefined) {
      const slotSize = this.#options.slotSize ?? this.#service.ring.slotSize - RPC_REQUEST_HEADER_SIZE;
      const slots = this.#options.slots ?? defaultSlots(slotSize, DEFAULT_RESPONSE_SLOTS);
      for (let attempt = 0; this.#responses === undefined; attempt++) {
        const id = this.#service.nextClientId();
        try {
          this.#responses = createQueueRing(
            responseQueueName(this.name, id),
            slots,
            slotSize + RPC_RESPONSE_HEADER_SIZE,
            this.#options.mode,
            this.#options.spin,
          );
          this.#clientId = id;
        } catch (e) {
          // A stale queue of a dead client of an earlier service generation holds that name: take the next id.
          if (!(e instanceof ShmbusError) || e.code !== 'ERR_SHM_EXISTS' || attempt > 1000) throw e;
        }
      }
    }
    this.#aliveUntil = now + ALIVE_CACHE_MS;
    return this.#service;
  }

  /** Fails pending requests with ERR_CLOSED, removes this client's response queue. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new ShmbusError('ERR_CLOSED', `rpc client of "${this.name}" was closed`, { segment: this.name }));
    if (this.#responses !== undefined) {
      this.#responses.close();
      this.#responses.segment.close();
      unlinkQuietly(this.#responses.segment.name);
    }
    this.#service?.segment.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function remoteError(name: string, body: Uint8Array): ShmbusError {
  let info: { name?: unknown; message?: unknown; code?: unknown } = {};
  try {
    info = JSON.parse(DECODER.decode(body)) as typeof info;
  } catch {
    info = { message: DECODER.decode(body) };
  }
  const message = typeof info.message === 'string' ? info.message : 'the remote handler failed';
  return new ShmbusError('ERR_REMOTE', message, { segment: name, cause: info });
}

