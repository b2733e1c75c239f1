/** RpcServer: the workers of one process serving an rpc service (PROTOCOL.md §8, "Worker"). */
import { setMaxListeners } from 'node:events';
import { ShmbusError } from '../../errors.js';
import { describe } from '../../base/options.js';
import { deadlineAfter, setLongTimeout, validateTimeout, type LongTimer } from '../../base/deadline.js';
import {
  QUEUE_FLAG_TEXT,
  RPC_REQ_CLIENT_OFFSET,
  RPC_REQ_FLAGS_OFFSET,
  RPC_REQ_ID_OFFSET,
  RPC_REQ_NS_OFFSET,
  RPC_REQ_PID_OFFSET,
  RPC_REQ_START_OFFSET,
  RPC_MAX_WORKERS,
  RPC_REQUEST_HEADER_SIZE,
  RPC_STATUS_ERROR,
  RPC_STATUS_OK,
  RPC_STATUS_TOO_LARGE,
} from '../../protocol/layout.js';
import { TWO32 } from '../../base/u64.js';
import type { Codec } from '../codec.js';
import { openQueueRing } from '../queue.js';
import { EMPTY, END, QueueRing, TIMED_OUT } from '../queue-ring.js';
import { copyBytes } from '../../base/copy.js';
import { RpcRequest } from './messages.js';
import type { ServeSettings } from './options.js';
import { holderAlive } from '../../base/process.js';
import { Service, errorBody, responseQueueName, unlinkQuietly, writeResponse } from './service.js';
import { Segment } from '../../segment/segment.js';

/** Counters of an {@link RpcServer} (this process's workers). */
export interface RpcServerStats {
  /** Requests answered (with a result or an error) or whose answer was dropped because the client was gone. */
  served: number;
  /** Requests whose handler threw or rejected (or returned something that could not be sent). */
  failed: number;
  /** Requests in hand right now: handler running or answer being sent. */
  inFlight: number;
}

const EMPTY_BODY = new Uint8Array(0);
/** Requests a worker takes in a row without yielding to the event loop. */
const SYNC_STREAK = 256;
/** Response queues kept open per server process (least recently opened closed first). */
const MAX_RESPONDERS = 1024;

/**
 * Removes the response queues "<name>.r<n>" whose client died without closing: READY queues whose creator is dead
 * and that nobody maps. A queue still being created belongs to a client about to use it: it is never stale while
 * its creator lives (PROTOCOL.md §2.3), and its kind is not known yet.
 */
export function removeStaleResponseQueues(name: string): void {
  const prefix = `${name}.r`;
  for (const s of Segment.list()) {
    if (s.name.startsWith(prefix) && /^\d+$/.test(s.name.slice(prefix.length)) && s.kind === 'queue' && s.stale) unlinkQuietly(s.name);
  }
}

/**
 * A running server (from {@link Rpc.serve}): `close()` (or `await using`) stops it.
 * @example
 * ```ts
 * const server = Rpc.serve('echo', (req) => req.data, { workers: 2 });
 * process.once('SIGTERM', () => void server.close({ timeout: 1000 }));
 * ```
 */
export class RpcServer<Req = Uint8Array, Res = Uint8Array | string> implements AsyncDisposable {
  /** The service name. */
  readonly name: string;
  readonly #service: Service;
  readonly #handler: (request: RpcRequest<Req>) => Res | PromiseLike<Res>;
  readonly #codec: Codec<Req | Res> | undefined;
  readonly #onError: ((error: unknown, request: RpcRequest<Req>) => void) | undefined;
  readonly #liveness: number;
  readonly #spin: number | undefined;
  readonly #abort = new AbortController();
  readonly #entries: number[];
  readonly #loops: Promise<void>[] = [];
  readonly #responders = new Map<number, QueueRing>();
  #closing: Promise<void> | undefined;
  /** close() stopped waiting for handlers: answers that come later are dropped. */
  #abandoned = false;
  #served = 0;
  #failed = 0;
  #inFlight = 0;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<Req, Res>(
    name: string,
    service: Service,
    entries: number[],
    handler: (request: RpcRequest<Req>) => Res | PromiseLike<Res>,
    settings: ServeSettings<Req, Res>,
  ): RpcServer<Req, Res> {
    return new RpcServer<Req, Res>(name, service, entries, handler, settings);
  }

  private constructor(
    name: string,
    service: Service,
    entries: number[],
    handler: (request: RpcRequest<Req>) => Res | PromiseLike<Res>,
    settings: ServeSettings<Req, Res>,
  ) {
    this.name = name;
    this.#service = service;
    this.#entries = entries;
    this.#handler = handler;
    this.#codec = settings.codec;
    this.#onError = settings.onError;
    this.#liveness = settings.livenessInterval;
    this.#spin = settings.spin;
    // Every worker's wait listens on the one signal (up to 64 per process): not a leak.
    setMaxListeners(RPC_MAX_WORKERS + 1, this.#abort.signal);
    for (const entry of entries) {
      // A worker that fails for good (not a corrupt slot, not close) leaves the table; the others go on.
      this.#loops.push(
        this.#work(entry).catch((e: unknown) => {
          this.#service.drop(entry);
          const at = this.#entries.indexOf(entry);
          if (at >= 0) this.#entries.splice(at, 1);
          process.emitWarning(`rpc "${name}" worker stopped: ${String(e)}`);
        }),
      );
    }
  }

  /**
   * Lets the process exit while the workers only wait for requests (as `net.Server#unref`); a request being
   * handled keeps it alive through the handler's own work. @returns this
   */
  unref(): this {
    this.#service.segment.unref();
    return this;
  }

  /** Undoes {@link unref}. @returns this */
  ref(): this {
    this.#service.segment.ref();
    return this;
  }

  /** Counters of this process's workers. */
  stats(): RpcServerStats {
    return { served: this.#served, failed: this.#failed, inFlight: this.#inFlight };
  }

  async #work(entry: number): Promise<void> {
    const service = this.#service;
    const ring = service.ring;
    const signal = this.#abort.signal;
    const what = `rpc "${this.name}" worker`;
    // One request object and buffer per worker, reused: a fresh multi-megabyte array per request costs more than
    // the copy, and the object saves an allocation per request.
    let scratch = new Uint8Array(0);
    // The view of `scratch` handed out last: requests of the same length reuse it (no subarray per request).
    let view = scratch;
    const req = RpcRequest.create<Req>(this.#codec as Codec<Req> | undefined);
    const reader = (bytes: Uint8Array, offset: number, length: number): boolean => {
      if (length < RPC_REQUEST_HEADER_SIZE) return false; // not a request: nobody to answer
      const v = ring.view;
      const n = length - RPC_REQUEST_HEADER_SIZE;
      if (scratch.length < n) scratch = view = new Uint8Array(Math.max(n, Math.min(2 * scratch.length, ring.slotSize)));
      if (view.length !== n || view.buffer !== scratch.buffer) view = scratch.subarray(0, n);
      copyBytes(view, 0, bytes, offset + RPC_REQUEST_HEADER_SIZE, n);
      const clientId = v.getUint32(offset + RPC_REQ_CLIENT_OFFSET, true);
      const id = v.getUint32(offset + RPC_REQ_ID_OFFSET, true);
      // Marked busy while the slot is still ours (TAKEN with our pid): from here on a client learns of our death.
      service.setBusy(entry, clientId, id);
      req.set(
        view,
        (v.getUint32(offset + RPC_REQ_FLAGS_OFFSET, true) & QUEUE_FLAG_TEXT) !== 0,
        id,
        clientId,
        v.getUint32(offset + RPC_REQ_PID_OFFSET, true),
        v.getUint32(offset + RPC_REQ_START_OFFSET, true) + v.getUint32(offset + RPC_REQ_START_OFFSET + 4, true) * TWO32,
        v.getUint32(offset + RPC_REQ_NS_OFFSET, true),
      );
      return true;
    };
    // Requests taken without waiting since the last macrotask turn: yield now and then, so a steady stream of
    // quick requests cannot starve this process's timers and I/O.
    let streak = 0;
    while (!signal.aborted) {
      let got: boolean | null | typeof TIMED_OUT | typeof EMPTY | typeof END;
      try {
        // Try first without the read's promises: a busy worker takes the next request synchronously.
        got = streak < SYNC_STREAK ? ring.tryTake(reader) : EMPTY;
        if (got === END) return;
        if (got === EMPTY) {
          if (streak >= SYNC_STREAK) await new Promise(setImmediate);
          streak = 0;
          got = await ring.read(reader, Infinity, signal, what);
        } else {
          streak++;
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ShmbusError && e.code === 'ERR_SHM_CORRUPT') continue; // the bad slot was freed
        throw e;
      }
      if (got === null || got === TIMED_OUT) return;
      if (!got) continue;
      this.#inFlight++;
      try {
        // The next request reuses `req` and `scratch`: wait until this one is answered (its reply may be a view).
        const pending = this.#handle(req);
        if (pending !== undefined) await pending;
      } finally {
        this.#inFlight--;
        // Only now: the response is in the client's queue (or was dropped), so a death before this point is
        // seen by the client as "busy with a dead holder" and fails its request instead of leaving it waiting.
        service.setIdle(entry);
      }
    }
  }

  /** Runs the handler and answers; returns a promise only when something had to wait (handler or full queue). */
  #handle(req: RpcRequest<Req>): Promise<void> | undefined {
    let out: Res | PromiseLike<Res>;
    try {
      out = this.#handler(req);
    } catch (e) {
      return this.#fail(req, e);
    }
    if (out !== null && typeof out === 'object' && typeof (out as PromiseLike<Res>).then === 'function') {
      return Promise.resolve(out as PromiseLike<Res>).then(
        (value) => this.#reply(req, value),
        (e: unknown) => this.#fail(req, e),
      );
    }
    return this.#reply(req, out as Res);
  }

  #reply(req: RpcRequest<Req>, value: Res): Promise<void> | undefined {
    let body: Uint8Array | string;
    const codec = this.#codec;
    if (codec !== undefined) {
      try {
        body = codec.encode(value);
      } catch (e) {
        return this.#fail(req, e);
      }
    } else if (typeof value === 'string' || value instanceof Uint8Array) {
      body = value;
    } else {
      return this.#fail(
        req,
        new ShmbusError('ERR_REMOTE', `the handler returned ${describe(value)}; return a Uint8Array or a string, or serve with a codec`),
      );
    }
    return this.#send(req, RPC_STATUS_OK, body);
  }

  #fail(req: RpcRequest<Req>, e: unknown): Promise<void> | undefined {
    this.#failed++;
    if (this.#onError !== undefined) {
      try {
        this.#onError(e, req);
      } catch (e2) {
        process.emitWarning(`rpc "${this.name}" onError threw: ${String(e2)}`);
      }
    }
    return this.#send(req, RPC_STATUS_ERROR, errorBody(e));
  }

  #send(req: RpcRequest<Req>, status: number, body: Uint8Array | string): Promise<void> | undefined {
    if (this.#abandoned) return undefined;
    this.#served++;
    const clientId = req.clientId;
    let ring = this.#responders.get(clientId);
    if (ring === undefined) {
      try {
        ring = openQueueRing(responseQueueName(this.name, clientId), 100, this.#spin);
      } catch {
        return undefined; // the client is gone (closed or never made its queue): nobody to answer
      }
      if (this.#responders.size >= MAX_RESPONDERS) this.#evict(this.#responders.keys().next().value!);
      this.#responders.set(clientId, ring);
    }
    try {
      if (writeResponse(ring, req.id, status, body)) return undefined;
    } catch (e) {
      if (!(e instanceof ShmbusError) || e.code !== 'ERR_MESSAGE_TOO_LARGE') {
        this.#evict(clientId); // closed by its client (or corrupt): drop
        return undefined;
      }
      // Say so in a response that always fits (no payload); the client's queue may be full: retry below.
      status = RPC_STATUS_TOO_LARGE;
      body = EMPTY_BODY;
    }
    return this.#respond(ring, req, status, body).catch(() => {
      this.#evict(clientId); // the client's queue failed (closed, corrupt): that client cannot be answered
    });
  }

  /** Answers through a full response queue: waits for the client to read, as long as it lives. */
  async #respond(ring: QueueRing, req: RpcRequest<Req>, status: number, body: Uint8Array | string): Promise<void> {
    for (;;) {
      const seen = ring.releasesSeen();
      if (writeResponse(ring, req.id, status, body)) return;
      if (this.#abandoned || !holderAlive(req.clientPid, req.clientStart, req.clientNs)) {
        this.#evict(req.clientId);
        return;
      }
      await ring.park(false, seen, deadlineAfter(this.#liveness), undefined);
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
   * name). Idempotent: later calls return the same promise.
   * @throws ERR_INVALID_ARG (bad timeout)
   */
  close(options: { timeout?: number } = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    let timeout: number;
    try {
      timeout = validateTimeout(options?.timeout, 'timeout');
    } catch (e) {
      return Promise.reject(e);
    }
    this.#closing = this.#close(timeout);
    return this.#closing;
  }

  async #close(timeout: number): Promise<void> {
    this.#abort.abort();
    let timer: LongTimer | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setLongTimeout(() => {
        this.#abandoned = true;
        resolve();
      }, timeout);
    });
    await Promise.race([Promise.allSettled(this.#loops), gaveUp]);
    timer?.clear();
    this.#abandoned = true;
    const last = this.#service.leave(this.#entries);
    for (const id of [...this.#responders.keys()]) this.#evict(id);
    this.#service.segment.close();
    if (last) removeStaleResponseQueues(this.name);
  }

  /** `await using server = Rpc.serve(...)`: closes it (waiting for running handlers). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
