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
import { EMPTY, END, QueueRing, TIMED_OUT, type TakeIntent } from '../queue-ring.js';
import { copyBytes } from '../../base/copy.js';
import { RpcRequest, RpcResponseLoan, type ResponseLoaner, type ResponseLoanOwner } from './messages.js';
import { HeldSlot, slotBytes } from '../queue-loan.js';
import { tooLarge } from '../queue-body.js';
import { remaining, throwIfAborted, timeoutError, type WaitOptions } from '../../base/deadline.js';
import {
  RPC_RES_FLAGS_OFFSET,
  RPC_RES_ID_OFFSET,
  RPC_RES_STATUS_OFFSET,
  RPC_RESPONSE_HEADER_SIZE,
} from '../../protocol/layout.js';
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
 * Test hook of the reliability suite (test/reliability/rpc-take-window.test.ts), read once: with
 * SHMBUS_TEST_RPC_STOP=taking a worker stops its process (SIGSTOP) once its intent is published but before its TAKE
 * CAS; with =taken, right after the TAKE, where busy used to be stored. The test kills it there with SIGKILL.
 */
const TEST_STOP = process.env['SHMBUS_TEST_RPC_STOP'];

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
  readonly #zeroCopy: boolean;
  /** Response loans not committed or aborted yet: close() gives them back once it stops waiting for handlers. */
  readonly #openLoans = new Set<RpcResponseLoan>();
  /** Request slots held by handlers in progress (copy: false): close() frees them once it stops waiting. */
  readonly #heldRequests = new Set<HeldSlot>();
  /** Response loans: made by a worker's request, ended through this server. */
  readonly #loaner: ResponseLoaner = {
    tryLoan: (req, size) => this.#tryLoan(req, size),
    loan: (req, size, options) => this.#loan(req, size, options),
  };
  readonly #loanOwner: ResponseLoanOwner = {
    commitResponse: (loan, slot, size) => this.#commitLoan(loan, slot, size),
    abortResponse: (loan, slot) => {
      this.#openLoans.delete(loan);
      slot.abort();
    },
  };

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
    this.#zeroCopy = settings.zeroCopy;
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
    req.loaner = this.#loaner;
    // SYNC RPC-BUSY, the intent (PROTOCOL §8 "Worker"): client, request, busy = 1 are stored before our TAKE CAS,
    // so at every instant from the take until the answer is sent (or dropped) our entry names the request and a
    // client learns of our death; a lost take withdraws it.
    const intent: TakeIntent = {
      before: (offset, length) => {
        if (length < RPC_REQUEST_HEADER_SIZE) return; // not a request: nobody to answer
        const v = ring.view;
        service.setBusy(entry, v.getUint32(offset + RPC_REQ_CLIENT_OFFSET, true), v.getUint32(offset + RPC_REQ_ID_OFFSET, true));
        if (TEST_STOP === 'taking') process.kill(process.pid, 'SIGSTOP');
      },
      withdraw: () => service.setIdle(entry),
    };
    /** Reads a request at `offset` (`length` bytes with its header) into `req`; `data` is its payload. */
    const accept = (offset: number, length: number, data: Uint8Array): void => {
      if (TEST_STOP === 'taken') process.kill(process.pid, 'SIGSTOP');
      const v = ring.view;
      const clientId = v.getUint32(offset + RPC_REQ_CLIENT_OFFSET, true);
      const id = v.getUint32(offset + RPC_REQ_ID_OFFSET, true);
      req.set(
        data,
        (v.getUint32(offset + RPC_REQ_FLAGS_OFFSET, true) & QUEUE_FLAG_TEXT) !== 0,
        id,
        clientId,
        v.getUint32(offset + RPC_REQ_PID_OFFSET, true),
        v.getUint32(offset + RPC_REQ_START_OFFSET, true) + v.getUint32(offset + RPC_REQ_START_OFFSET + 4, true) * TWO32,
        v.getUint32(offset + RPC_REQ_NS_OFFSET, true),
      );
    };
    const reader = (bytes: Uint8Array, offset: number, length: number): boolean => {
      if (length < RPC_REQUEST_HEADER_SIZE) return false; // not a request: nobody to answer
      const n = length - RPC_REQUEST_HEADER_SIZE;
      if (scratch.length < n) scratch = view = new Uint8Array(Math.max(n, Math.min(2 * scratch.length, ring.slotSize)));
      if (view.length !== n || view.buffer !== scratch.buffer) view = scratch.subarray(0, n);
      copyBytes(view, 0, bytes, offset + RPC_REQUEST_HEADER_SIZE, n);
      accept(offset, length, view);
      return true;
    };
    // Zero-copy: the request stays in its slot (TAKEN by us) until the answer is sent; `held` frees it then.
    let held: HeldSlot | null = null;
    let views = new Map<number, Uint8Array>();
    const takeView = (h: HeldSlot): boolean => {
      if (h.length < RPC_REQUEST_HEADER_SIZE) {
        h.free(); // not a request: nobody to answer
        return false;
      }
      const n = h.length - RPC_REQUEST_HEADER_SIZE;
      let data = views.get(h.offset);
      if (data === undefined || data.length !== n) {
        data = slotBytes(ring, h.offset + RPC_REQUEST_HEADER_SIZE, n);
        if (views.size > 4 * ring.slots) views = new Map();
        views.set(h.offset, data);
      }
      held = h;
      this.#heldRequests.add(h);
      accept(h.offset, h.length, data);
      return true;
    };
    const zeroCopy = this.#zeroCopy;
    // Requests taken without waiting since the last macrotask turn: yield now and then, so a steady stream of
    // quick requests cannot starve this process's timers and I/O.
    let streak = 0;
    while (!signal.aborted) {
      let got: boolean | null | typeof TIMED_OUT | typeof EMPTY | typeof END;
      try {
        // Try first without the read's promises: a busy worker takes the next request synchronously.
        if (zeroCopy) {
          // A slot taken synchronously is read from ring.held at once; a waited one comes as its own snapshot (the
          // other workers share the ring and its `held`).
          const first = streak < SYNC_STREAK ? ring.tryTakeSlot(intent) : EMPTY;
          got = first === true ? takeView(new HeldSlot(ring)) : first;
          if (got === END) return;
          if (got === EMPTY) {
            if (streak >= SYNC_STREAK) await new Promise(setImmediate);
            streak = 0;
            const w = await ring.takeSlot(Infinity, signal, what, false, intent);
            got = w instanceof HeldSlot ? takeView(w) : w;
          } else {
            streak++;
          }
        } else {
          got = streak < SYNC_STREAK ? ring.tryTake(reader, intent) : EMPTY;
          if (got === END) return;
          if (got === EMPTY) {
            if (streak >= SYNC_STREAK) await new Promise(setImmediate);
            streak = 0;
            got = await ring.read(reader, Infinity, signal, what, false, intent);
          } else {
            streak++;
          }
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
        const loan = req.responseLoan;
        if (loan !== undefined && loan.state === 'open') loan.abort(); // a loan the handler left open after the answer
        req.responseLoan = undefined;
        // The request's slot (zero-copy) is done with: the answer is in the client's queue or was dropped.
        const h = held as HeldSlot | null;
        if (h !== null) {
          held = null;
          // Not when close() gave up on this handler: it freed the slot then (the slot may be another's by now).
          if (this.#heldRequests.delete(h)) h.free();
        }
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
    // A response loan decides first: committed, it was the answer; returned open, it is committed whole; left open
    // while something else is returned, it is aborted and that value answers.
    const loan = req.responseLoan;
    if (loan !== undefined) {
      if (loan.state === 'committed') return undefined;
      if (loan.state === 'open') {
        if ((value as unknown) === loan) {
          try {
            loan.commit();
          } catch (e) {
            return this.#fail(req, e);
          }
          return undefined;
        }
        loan.abort();
      }
    }
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
    const loan = req.responseLoan;
    if (loan !== undefined && loan.state === 'open') loan.abort();
    if (loan !== undefined && loan.state === 'committed') return undefined; // answered already: nothing to fail
    if (e !== undefined && e === req.loanTooLarge) return this.#send(req, RPC_STATUS_TOO_LARGE, EMPTY_BODY);
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

  /** The open response queue of `clientId`, opened now if needed; undefined when the client is gone. */
  #responder(clientId: number): QueueRing | undefined {
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
    return ring;
  }

  /** Checks a response loan request; the client's response ring. */
  #loanRing(req: RpcRequest<unknown>, size: number): QueueRing {
    if (req.responseLoan !== undefined) {
      throw new ShmbusError('ERR_INVALID_ARG', `rpc "${this.name}": this request already has a response loan (one per request)`);
    }
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
      throw new ShmbusError('ERR_INVALID_ARG', `rpc "${this.name}": a loan size must be an integer >= 0 (got ${describe(size)})`);
    }
    const ring = this.#responder(req.clientId);
    if (ring === undefined || this.#abandoned) {
      throw new ShmbusError('ERR_CLOSED', `rpc "${this.name}": the client of this request is gone`, { segment: this.name });
    }
    if (size > ring.slotSize - RPC_RESPONSE_HEADER_SIZE) {
      const e = tooLarge(`rpc "${this.name}" response loan`, size, ring.slotSize - RPC_RESPONSE_HEADER_SIZE);
      req.loanTooLarge = e;
      throw e;
    }
    return ring;
  }

  /** Wraps the slot `ring` just claimed as the request's response loan. */
  #lend(req: RpcRequest<unknown>, ring: QueueRing, size: number): RpcResponseLoan {
    const slot = new HeldSlot(ring);
    const loan = RpcResponseLoan.create(this.#loanOwner, slot, slotBytes(ring, slot.offset + RPC_RESPONSE_HEADER_SIZE, size), req.id);
    req.responseLoan = loan;
    this.#openLoans.add(loan);
    return loan;
  }

  #tryLoan(req: RpcRequest<unknown>, size: number): RpcResponseLoan | null {
    const ring = this.#loanRing(req, size);
    try {
      if (!ring.tryClaim()) return null;
    } catch (e) {
      this.#evict(req.clientId); // its queue ended: the client closed
      throw e;
    }
    return this.#lend(req, ring, size);
  }

  /** Waits for room in the client's response queue (as long as the client lives), then lends it. */
  async #loan(req: RpcRequest<unknown>, size: number, options: WaitOptions | undefined): Promise<RpcResponseLoan> {
    const what = `rpc "${this.name}" response loan`;
    const deadline = deadlineAfter(options?.timeout);
    for (;;) {
      throwIfAborted(options?.signal, what);
      const ring = this.#loanRing(req, size);
      const seen = ring.releasesSeen();
      const loan = this.#tryLoan(req, size);
      if (loan !== null) return loan;
      if (!holderAlive(req.clientPid, req.clientStart, req.clientNs)) {
        this.#evict(req.clientId);
        throw new ShmbusError('ERR_CLOSED', `rpc "${this.name}": the client of this request died`, { segment: this.name });
      }
      if (remaining(deadline) === 0) throw timeoutError(what, options?.timeout ?? 0, this.name);
      await ring.park(false, seen, Math.min(deadline, deadlineAfter(this.#liveness)), options?.signal);
    }
  }

  /** Commits a response loan: the §8 response header, then the §6 commit. */
  #commitLoan(loan: RpcResponseLoan, slot: HeldSlot, size: number): void {
    this.#openLoans.delete(loan);
    if (this.#abandoned) {
      slot.abort(); // close() stopped waiting for this handler: its answer is dropped
      return;
    }
    const v = slot.ring.view;
    v.setUint32(slot.offset + RPC_RES_ID_OFFSET, loan.requestId, true);
    v.setUint32(slot.offset + RPC_RES_STATUS_OFFSET, RPC_STATUS_OK, true);
    v.setUint32(slot.offset + RPC_RES_FLAGS_OFFSET, 0, true);
    v.setUint32(slot.offset + 12, 0, true);
    this.#served++;
    try {
      slot.commit(RPC_RESPONSE_HEADER_SIZE + size, 0);
    } catch (e) {
      if (e instanceof ShmbusError && e.code === 'ERR_CLOSED') return; // the client ended its queue: dropped
      throw e;
    }
  }

  #send(req: RpcRequest<Req>, status: number, body: Uint8Array | string): Promise<void> | undefined {
    if (this.#abandoned) return undefined;
    this.#served++;
    const clientId = req.clientId;
    const ring = this.#responder(clientId);
    if (ring === undefined) return undefined;
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
    // A handler still running holds its response loan WRITING at the head of its client's response queue, which
    // would hold back every later response to that client while this process lives: give them back.
    for (const loan of [...this.#openLoans]) if (loan.state === 'open') loan.abort();
    // Likewise a request slot (copy: false) would stop the clients once they come round the ring to it.
    for (const h of this.#heldRequests) h.free();
    this.#heldRequests.clear();
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
