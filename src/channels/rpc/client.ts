/** RpcClient: sends requests into a service's ring and matches responses by id (PROTOCOL.md §8, "Client"). */
import { statSync } from 'node:fs';
import { ShmbusError } from '../../errors.js';
import { abortedError, deadlineAfter, remaining, setLongTimeout, timeoutError, type LongTimer, type WaitOptions } from '../../base/deadline.js';
import { invalidArg, optionsObject } from '../../base/options.js';
import { selfIdentity } from '../../base/process.js';
import { TWO32 } from '../../base/u64.js';
import { copyBytes } from '../../base/copy.js';
import { SPIN_CLOCK_MASK, spinClock } from '../../base/spin.js';
import {
  QUEUE_FLAG_TEXT,
  RPC_REQ_CLIENT_OFFSET,
  RPC_REQ_FLAGS_OFFSET,
  RPC_REQ_ID_OFFSET,
  RPC_REQ_NS_OFFSET,
  RPC_REQ_PID_OFFSET,
  RPC_REQ_START_OFFSET,
  RPC_REQUEST_HEADER_SIZE,
  RPC_RES_FLAGS_OFFSET,
  RPC_RES_ID_OFFSET,
  RPC_RES_STATUS_OFFSET,
  RPC_RESPONSE_HEADER_SIZE,
  RPC_STATUS_OK,
  RPC_STATUS_TOO_LARGE,
} from '../../protocol/layout.js';
import { utf8, type Codec } from '../codec.js';
import { createQueueRing, defaultSlots } from '../queue.js';
import { bodyFlags, copyBody, validateBody, writeBody } from '../queue-body.js';
import { EMPTY, END, QueueRing, TIMED_OUT } from '../queue-ring.js';
import { HeldSlot, ViewHolder, slotBytes } from '../queue-loan.js';
import { RpcRequestLoan, RpcResponse, type RequestLoanOwner, type RpcRequestOptions } from './messages.js';
import { DEFAULT_RESPONSE_SLOTS, DEFAULT_SPIN_US, type ConnectSettings } from './options.js';
import { Service, noServer, responseQueueName, unlinkQuietly } from './service.js';
import { osName } from '../../protocol/names.js';


/** Counters of an {@link RpcClient}. */
export interface RpcClientStats {
  /** Requests written into the service's queue. */
  sent: number;
  /** Responses received (results and remote errors). */
  received: number;
  /** Requests that ended with an error (ERR_REMOTE, ERR_NO_SERVER, ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED...). */
  failed: number;
  /** Requests sent and not answered yet. */
  inFlight: number;
}

/** How long a client trusts "a server is alive" before it reads the worker table again. */
const ALIVE_CACHE_MS = 20;

/**
 * One request waiting for its response. Reused for the next lone request when its response came during the
 * synchronous spin (then no promise was made for it: see RpcClient#awaitResponse).
 */
class Pending<Res> {
  id: number;
  resolve: (r: RpcResponse<Res>) => void;
  reject: (e: ShmbusError) => void;
  into: Uint8Array | undefined;
  /** copy: false was asked for. */
  view = false;
  timer: LongTimer | undefined = undefined;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;

  constructor(id: number, resolve: (r: RpcResponse<Res>) => void, reject: (e: ShmbusError) => void, into: Uint8Array | undefined) {
    this.id = id;
    this.resolve = resolve;
    this.reject = reject;
    this.into = into;
  }

  /** Makes a settled (and disarmed) Pending the record of request `id`. */
  reuse(id: number, into: Uint8Array | undefined, view: boolean): this {
    this.id = id;
    this.into = into;
    this.view = view;
    this.timer = undefined;
    this.signal = undefined;
    this.onAbort = undefined;
    return this;
  }

  /** Removes the timer and abort listener, if any. */
  disarm(): void {
    this.timer?.clear();
    if (this.onAbort !== undefined) this.signal!.removeEventListener('abort', this.onAbort);
  }
}

/** Fast slots of the pending table: sequential ids of up to this many requests in flight need no Map. */
const FAST_SLOTS = 64;

/**
 * Requests by id: a small direct-mapped array (id mod 64), with a Map only for ids that collide. A Map alone
 * rehashes its table every few insert/delete pairs (~150 B per request measured).
 */
class PendingTable<T extends { readonly id: number }> {
  readonly #slots: (T | undefined)[] = new Array<T | undefined>(FAST_SLOTS).fill(undefined);
  readonly #overflow = new Map<number, T>();
  size = 0;

  get(id: number): T | undefined {
    const p = this.#slots[id & (FAST_SLOTS - 1)];
    if (p !== undefined && p.id === id) return p;
    return this.#overflow.size === 0 ? undefined : this.#overflow.get(id);
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  set(p: T): void {
    const i = p.id & (FAST_SLOTS - 1);
    if (this.#slots[i] === undefined) this.#slots[i] = p;
    else this.#overflow.set(p.id, p);
    this.size++;
  }

  delete(id: number): boolean {
    const i = id & (FAST_SLOTS - 1);
    const p = this.#slots[i];
    if (p !== undefined && p.id === id) {
      this.#slots[i] = undefined;
      this.size--;
      return true;
    }
    if (this.#overflow.delete(id)) {
      this.size--;
      return true;
    }
    return false;
  }

  /** Every entry (a snapshot). */
  values(): T[] {
    const all: T[] = [];
    for (const p of this.#slots) if (p !== undefined) all.push(p);
    for (const p of this.#overflow.values()) all.push(p);
    return all;
  }

  /** Removes and returns every entry. */
  drain(): T[] {
    const all = this.values();
    this.#slots.fill(undefined);
    this.#overflow.clear();
    this.size = 0;
    return all;
  }
}

/**
 * A client of one service (from {@link Rpc.connect}). Requests may overlap; each response is matched to its
 * request by id.
 * @typeParam Req what `request` takes (with a `codec`: the value type; without: bytes or a string)
 * @typeParam Res the type of `res.value` (with a `codec`: the decoded value; without: the bytes)
 * @example
 * ```ts
 * const client = Rpc.connect('echo');
 * const [a, b] = await Promise.all([client.request('a'), client.request('b')]);
 * client.close();
 * ```
 */
export class RpcClient<Req = Uint8Array | string, Res = Uint8Array> implements Disposable {
  /** The service name. */
  readonly name: string;
  readonly #settings: ConnectSettings<Req, Res>;
  readonly #codec: Codec<Req | Res> | undefined;
  #service: Service | undefined;
  /** False after unref(): waits and timers of pending requests do not keep the process alive. */
  #refed = true;
  #responses: QueueRing | undefined;
  /** Inode of the response queue's object: its name must keep leading to it, or responses cannot arrive. */
  #responsesIno = 0;
  #clientId = 0;
  #nextId = 0;
  #aliveUntil = 0;
  readonly #pending = new PendingTable<Pending<Res>>();
  /**
   * A lone request answered during its synchronous spin settles through these (no promise, no resolver closures,
   * no Pending of its own: the spare is reused), and request() returns the outcome as an already settled promise.
   */
  #loneResponse: RpcResponse<Res> | undefined = undefined;
  #loneError: ShmbusError | undefined = undefined;
  readonly #loneResolve = (r: RpcResponse<Res>): void => {
    this.#loneResponse = r;
  };
  readonly #loneReject = (e: ShmbusError): void => {
    this.#loneError = e;
  };
  #spare: Pending<Res> | undefined = undefined;
  #pumping = false;
  #closed = false;
  #sent = 0;
  #received = 0;
  #failed = 0;
  readonly #what: string;
  readonly #pumpWhat: string;
  // The request being written (tryWrite calls one writer function: no closure per request).
  #outBody: Uint8Array | string = '';
  #outId = 0;
  readonly #pid: number;
  readonly #startLo: number;
  readonly #startHi: number;
  readonly #ns: number;
  readonly #spinMs: number;
  /** The zero-copy response this client holds (released by the next request, release() or close). */
  readonly #view = new ViewHolder<RpcResponse<Res>>();
  readonly #releaseView = (r: RpcResponse<Res>): void => {
    if (this.#closed) throw new ShmbusError('ERR_CLOSED', `rpc client of "${this.name}" was closed: its zero-copy response was released then`, { segment: this.name });
    if (this.#view.holds(r)) this.#view.drop();
  };
  readonly #loanOwner: RequestLoanOwner<Res> = {
    commitRequest: (slot, size, options) => {
      try {
        return this.#commitLoan(slot, size, options);
      } finally {
        this.#loanEnded();
      }
    },
    abortRequest: (slot) => {
      try {
        slot.abort();
      } finally {
        this.#loanEnded();
      }
    },
  };
  /** Request loans not yet committed or aborted: their slots live in the mapping of the service they came from. */
  #openLoans = 0;
  /**
   * Services replaced (#connect) while a loan was open on them: their mappings stay open until the last loan ends,
   * so that its commit or abort reaches the shared slot (an abort on a closed mapping would leave the slot WRITING
   * under this live process, and every later server would wait behind it).
   */
  #retired: Service[] = [];

  #loanEnded(): void {
    if (--this.#openLoans > 0) return;
    for (const s of this.#retired.splice(0)) s.segment.close();
  }

  #retire(service: Service | undefined): void {
    if (service === undefined) return;
    if (this.#openLoans > 0) this.#retired.push(service);
    else service.segment.close();
  }

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<Req, Res>(name: string, settings: ConnectSettings<Req, Res>): RpcClient<Req, Res> {
    return new RpcClient<Req, Res>(name, settings);
  }

  private constructor(name: string, settings: ConnectSettings<Req, Res>) {
    this.name = name;
    this.#settings = settings;
    this.#codec = settings.codec;
    this.#what = `request to rpc "${name}"`;
    this.#pumpWhat = `rpc "${name}" responses`;
    const me = selfIdentity();
    this.#pid = me.pid;
    this.#startLo = me.startTime % TWO32;
    this.#startHi = Math.floor(me.startTime / TWO32);
    this.#ns = me.ns;
    this.#spinMs = (settings.spin ?? DEFAULT_SPIN_US) / 1000;
  }

  /** Counters of this client. */
  /**
   * Lets the process exit while requests are pending, as `net.Socket#unref` (an idle client never keeps it alive).
   * @returns this
   */
  unref(): this {
    this.#refed = false;
    this.#responses?.segment.unref();
    for (const p of this.#pending.values()) p.timer?.unref();
    return this;
  }

  /** Undoes {@link unref}. @returns this */
  ref(): this {
    this.#refed = true;
    this.#responses?.segment.ref();
    for (const p of this.#pending.values()) p.timer?.ref();
    return this;
  }

  stats(): RpcClientStats {
    return { sent: this.#sent, received: this.#received, failed: this.#failed, inFlight: this.#pending.size };
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
  request(data: Req, options?: RpcRequestOptions): Promise<RpcResponse<Res>> {
    try {
      return this.#request(data, options);
    } catch (e) {
      this.#failed++;
      return Promise.reject(e);
    }
  }

  #request(data: Req, options: RpcRequestOptions | undefined): Promise<RpcResponse<Res>> {
    const what = this.#what;
    if (this.#closed) throw new ShmbusError('ERR_CLOSED', `rpc client of "${this.name}" was closed`, { segment: this.name });
    let timeout: number | undefined;
    let signal: AbortSignal | undefined;
    let into: Uint8Array | undefined;
    let view = false;
    if (options !== undefined) {
      const o = this.#requestOptions(options);
      timeout = o.timeout;
      signal = o.signal;
      into = o.into;
      view = o.copy === false;
    }
    const deadline = deadlineAfter(timeout);
    const body = this.#codec === undefined ? data : this.#codec.encode(data);
    validateBody(body, what);
    this.#view.drop();
    const service = this.#connect();
    const id = (this.#nextId = (this.#nextId + 1) >>> 0);
    this.#outBody = body;
    this.#outId = id;
    let written: boolean;
    try {
      written = service.ring.tryWrite(this.#writeRequest, 0);
    } catch (e) {
      throw this.#sendError(e);
    } finally {
      this.#outBody = '';
    }
    return this.#awaitResponse(service, id, written ? null : body, deadline, timeout, signal, into, view);
  }

  /** Checks request options (also a loan's commit options). */
  #requestOptions(options: RpcRequestOptions): RpcRequestOptions {
    const o = optionsObject(options, 'request');
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidArg('signal', 'an AbortSignal', o.signal);
    if (o.signal?.aborted) throw abortedError(o.signal, this.#what);
    if (o.into !== undefined && !(o.into instanceof Uint8Array)) throw invalidArg('into', 'a Uint8Array', o.into);
    if (o.copy !== undefined && typeof o.copy !== 'boolean') throw invalidArg('copy', 'a boolean', o.copy);
    if (o.copy === false && o.into !== undefined) throw invalidArg('into', 'absent with copy: false (a zero-copy response is a view of its slot)', o.into);
    return o;
  }

  /**
   * Registers request `id` (sent already when `unsent` is null, else sent once the queue has room) and resolves
   * with its response.
   */
  #awaitResponse(
    service: Service,
    id: number,
    unsent: Uint8Array | string | null,
    deadline: number,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    into: Uint8Array | undefined,
    view: boolean,
  ): Promise<RpcResponse<Res>> {
    const written = unsent === null;
    let p: Pending<Res>;
    if (written && this.#pending.size === 0 && !this.#pumping && this.#spinMs > 0) {
      const lone = this.#spinLone(id, into, view);
      if (lone instanceof Promise) return lone;
      p = lone;
    } else {
      p = new Pending<Res>(id, this.#loneResolve, this.#loneReject, into).reuse(id, into, view);
      this.#pending.set(p);
      if (written) this.#sent++;
    }
    const result = new Promise<RpcResponse<Res>>((res, rej) => {
      p.resolve = res;
      p.reject = rej;
    });
    if (!written) void this.#sendSlow(service, unsent, id, deadline, timeout, signal);
    else if (!this.#pumping) void this.#pump(this.#responses!);
    this.#arm(p, deadline, timeout, signal);
    return result;
  }

  /**
   * The only request in flight (a ping-pong caller), sent: wait for its response right here, spinning on the
   * commits word for the spin budget, before any async machinery (the pump is an async loop: ~490 B of promises
   * and contexts per round trip measured). Answered within the spin (the common case for quick handlers), it
   * costs one settled promise and the response object: no Pending, resolver closures, timer or listener (issue 12:
   * the per-request garbage drove the client's scavenges). Otherwise returns its Pending (registered), which the
   * caller gives a promise, a timer and the pump.
   */
  #spinLone(id: number, into: Uint8Array | undefined, view: boolean): Promise<RpcResponse<Res>> | Pending<Res> {
    const p = this.#spare ?? new Pending<Res>(id, this.#loneResolve, this.#loneReject, into);
    this.#spare = undefined;
    p.resolve = this.#loneResolve;
    p.reject = this.#loneReject;
    p.reuse(id, into, view);
    this.#pending.set(p);
    this.#sent++;
    try {
      this.#spinForResponse(this.#responses!);
    } catch (e) {
      this.#pending.delete(id);
      throw e;
    }
    if (this.#pending.has(id)) return p;
    // Settled during the spin: the outcome is in #loneResponse / #loneError.
    this.#spare = p;
    const response = this.#loneResponse;
    const error = this.#loneError;
    this.#loneResponse = undefined;
    this.#loneError = undefined;
    return error === undefined ? Promise.resolve(response!) : Promise.reject(error);
  }

  /**
   * Zero-copy request: claims a slot for a `size`-byte request in the service's queue (waiting while it is full)
   * and lends it: write the payload into `loan.bytes`, then `loan.commit(n?, options?)` sends it and resolves with
   * the response. Workers take requests in order, so fill it promptly. Releases the zero-copy response this client
   * held. Loans carry raw bytes (no codec).
   * @throws ERR_NO_SERVER, ERR_MESSAGE_TOO_LARGE, ERR_CLOSED, ERR_TIMEOUT, ERR_ABORTED, ERR_INVALID_ARG
   * @example
   * ```ts
   * const loan = await client.loan(3);
   * loan.bytes.set([1, 2, 3]);
   * const res = await loan.commit();
   * ```
   */
  async loan(size: number, options?: WaitOptions): Promise<RpcRequestLoan<Res>> {
    const ring = this.#loanRing(size);
    const o: WaitOptions = options === undefined ? {} : optionsObject(options, 'loan');
    const slot = ring.tryClaim() ? new HeldSlot(ring) : await ring.claim(o, `loan on ${this.#what}`);
    return this.#lend(ring, size, slot);
  }

  /** {@link loan} without waiting. @returns null when the request queue is full @throws as {@link loan} */
  tryLoan(size: number): RpcRequestLoan<Res> | null {
    const ring = this.#loanRing(size);
    return ring.tryClaim() ? this.#lend(ring, size, new HeldSlot(ring)) : null;
  }

  #loanRing(size: number): QueueRing {
    if (this.#closed) throw new ShmbusError('ERR_CLOSED', `rpc client of "${this.name}" was closed`, { segment: this.name });
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw invalidArg('loan size', 'an integer >= 0', size);
    this.#view.drop();
    const service = this.#connect();
    if (size > service.maxMessageSize) {
      throw new ShmbusError('ERR_MESSAGE_TOO_LARGE', `${this.#what}: a ${size}-byte loan is larger than the service's maxMessageSize ${service.maxMessageSize}`, {
        segment: this.name,
      });
    }
    return service.ring;
  }

  #lend(ring: QueueRing, size: number, slot: HeldSlot): RpcRequestLoan<Res> {
    if (this.#closed) {
      slot.abort();
      throw new ShmbusError('ERR_CLOSED', `rpc client of "${this.name}" was closed`, { segment: this.name });
    }
    const loan = RpcRequestLoan.create<Res>(this.#loanOwner, slot, slotBytes(ring, slot.offset + RPC_REQUEST_HEADER_SIZE, size));
    this.#openLoans++;
    return loan;
  }

  /** A request loan's commit: header, §6 commit, then wait for the response as request() does. */
  #commitLoan(slot: HeldSlot, size: number, options: RpcRequestOptions | undefined): Promise<RpcResponse<Res>> {
    let o: RpcRequestOptions = {};
    let service: Service;
    try {
      if (this.#closed) throw new ShmbusError('ERR_CLOSED', `rpc client of "${this.name}" was closed`, { segment: this.name });
      if (options !== undefined) o = this.#requestOptions(options);
      this.#view.drop();
      service = this.#connect();
      if (service.ring !== slot.ring) throw noServer(this.name, 'the service was replaced while the request was loaned');
    } catch (e) {
      slot.abort();
      this.#failed++;
      return Promise.reject(e);
    }
    const id = (this.#nextId = (this.#nextId + 1) >>> 0);
    const view = slot.ring.view;
    const at = slot.offset;
    view.setUint32(at + RPC_REQ_CLIENT_OFFSET, this.#clientId, true);
    view.setUint32(at + RPC_REQ_ID_OFFSET, id, true);
    view.setUint32(at + RPC_REQ_PID_OFFSET, this.#pid, true);
    view.setUint32(at + RPC_REQ_FLAGS_OFFSET, 0, true);
    view.setUint32(at + RPC_REQ_START_OFFSET, this.#startLo, true);
    view.setUint32(at + RPC_REQ_START_OFFSET + 4, this.#startHi, true);
    view.setUint32(at + RPC_REQ_NS_OFFSET, this.#ns, true);
    view.setUint32(at + RPC_REQ_NS_OFFSET + 4, 0, true);
    try {
      slot.commit(RPC_REQUEST_HEADER_SIZE + size, 0);
    } catch (e) {
      this.#failed++;
      return Promise.reject(this.#sendError(e));
    }
    return this.#awaitResponse(service, id, null, deadlineAfter(o.timeout), o.timeout, o.signal, o.into, o.copy === false);
  }

  /** A full request queue: wait for room (bounded by the request's deadline and signal), then start the pump. */
  async #sendSlow(service: Service, body: Uint8Array | string, id: number, deadline: number, timeout: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    const writer = (bytes: Uint8Array, offset: number, capacity: number): number => {
      this.#outBody = body;
      this.#outId = id;
      return this.#writeRequest(bytes, offset, capacity);
    };
    try {
      const o: WaitOptions = { timeout: remaining(deadline) };
      if (signal !== undefined) o.signal = signal;
      await service.ring.write(writer, 0, o, this.#what);
    } catch (e) {
      const p = this.#pending.get(id);
      if (p === undefined) return; // already settled (timeout, abort, close)
      this.#pending.delete(id);
      p.disarm();
      this.#failed++;
      p.reject(e instanceof ShmbusError && e.code === 'ERR_TIMEOUT' ? timeoutError(this.#what, timeout ?? 0, this.name) : this.#sendError(e));
      return;
    } finally {
      this.#outBody = '';
    }
    if (!this.#pending.has(id)) return;
    this.#sent++;
    if (!this.#pumping && this.#responses !== undefined) void this.#pump(this.#responses);
  }

  #sendError(e: unknown): ShmbusError {
    if (e instanceof ShmbusError && e.code === 'ERR_MESSAGE_TOO_LARGE') {
      return new ShmbusError('ERR_MESSAGE_TOO_LARGE', `${this.#what}: the request is larger than the service's maxMessageSize`, {
        cause: e,
        segment: this.name,
      });
    }
    return e instanceof ShmbusError ? e : new ShmbusError('ERR_OS', String(e), { cause: e });
  }

  /** Writes the request header and #outBody into a claimed ring slot. */
  readonly #writeRequest = (bytes: Uint8Array, offset: number, capacity: number): number => {
    const body = this.#outBody;
    const n = writeBody(body, bytes, offset + RPC_REQUEST_HEADER_SIZE, capacity - RPC_REQUEST_HEADER_SIZE, this.#what);
    const view = this.#service!.ring.view;
    view.setUint32(offset + RPC_REQ_CLIENT_OFFSET, this.#clientId, true);
    view.setUint32(offset + RPC_REQ_ID_OFFSET, this.#outId, true);
    view.setUint32(offset + RPC_REQ_PID_OFFSET, this.#pid, true);
    view.setUint32(offset + RPC_REQ_FLAGS_OFFSET, bodyFlags(body), true);
    view.setUint32(offset + RPC_REQ_START_OFFSET, this.#startLo, true);
    view.setUint32(offset + RPC_REQ_START_OFFSET + 4, this.#startHi, true);
    view.setUint32(offset + RPC_REQ_NS_OFFSET, this.#ns, true);
    view.setUint32(offset + RPC_REQ_NS_OFFSET + 4, 0, true);
    return RPC_REQUEST_HEADER_SIZE + n;
  };

  /**
   * Takes responses for up to the spin budget, until none is pending (blocks the event loop that long). The spin
   * of every other wait (Queue, Topic): spinClock every 128 polls, which starts the budget at its first call and
   * offers the CPU. Reading the clock before the first poll cost every request a
   * performance.now() (~0.1 µs and a heap number), and this spin never yielded, so a client sharing a core with
   * its server kept it off the CPU for the whole budget.
   */
  #spinForResponse(responses: QueueRing): void {
    let until = 0;
    for (;;) {
      const seen = responses.commitsSeen();
      const r = this.#takeResponse(responses);
      if (r === END) return;
      if (r !== EMPTY) {
        if (this.#pending.size === 0) return;
        continue;
      }
      for (let i = 1; ; i++) {
        // SYNC QUEUE-COMMITS (seq_cst load inside commitsSeen): a commit moves the word; then take.
        if (responses.commitsSeen() !== seen) break;
        if ((i & SPIN_CLOCK_MASK) === 0 && (until = spinClock(until, this.#spinMs)) < 0) return;
      }
    }
  }

  /** Timer and abort listener of a request still pending after the first spin. */
  #arm(p: Pending<Res>, deadline: number, timeout: number | undefined, signal: AbortSignal | undefined): void {
    const left = remaining(deadline);
    if (left !== Infinity) {
      p.timer = setLongTimeout(() => this.#settleError(p.id, timeoutError(this.#what, timeout ?? 0, this.name)), left);
      if (!this.#refed) p.timer.unref();
    }
    if (signal !== undefined) {
      p.signal = signal;
      p.onAbort = () => this.#settleError(p.id, abortedError(signal, this.#what));
      signal.addEventListener('abort', p.onAbort, { once: true });
    }
  }

  #settleError(id: number, e: ShmbusError): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    p.disarm();
    this.#failed++;
    p.reject(e);
  }

  /** Receives responses and hands them to their requests while any are pending. */
  async #pump(responses: QueueRing): Promise<void> {
    this.#pumping = true;
    const what = this.#pumpWhat;
    const interval = this.#settings.livenessInterval;
    let nextCheck = performance.now() + interval;
    try {
      while (this.#pending.size > 0 && !this.#closed) {
        // Check the servers every livenessInterval even while other responses keep arriving: a dead worker's
        // request must fail although its neighbours are answered.
        if (performance.now() >= nextCheck) {
          this.#checkServers(responses);
          nextCheck = performance.now() + interval;
          continue;
        }
        let r: HeldSlot | null | typeof TIMED_OUT;
        try {
          r = await responses.takeSlot(nextCheck, undefined, what);
          if (r instanceof HeldSlot) this.#taken(responses, r);
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

  /** Takes one response (if any) and settles the request it answers: true, EMPTY or END. */
  #takeResponse(responses: QueueRing): true | typeof EMPTY | typeof END {
    const r = responses.tryTakeSlot();
    if (r === true) this.#taken(responses, responses.held); // read at once: no await in between
    return r;
  }

  /**
   * A taken response (`h`: a HeldSlot, or the ring's reused `held` read in the same synchronous step as the take):
   * settle its request; free the slot unless it is kept as a view.
   */
  #taken(responses: QueueRing, h: HeldSlot | QueueRing['held']): void {
    const si = h.si;
    const seq = h.seq;
    let kept = false;
    try {
      kept = this.#deliver(responses, h, h.offset, h.length);
    } finally {
      if (!kept) responses.freeHeld(si, seq);
    }
  }

  /**
   * Reads one response in its slot and settles the request it answers (into its `into` buffer if it fits, or as
   * a view of the slot for a lone copy: false request). True when the slot is kept for that view.
   */
  #deliver(responses: QueueRing, h: HeldSlot | QueueRing['held'], offset: number, length: number): boolean {
    if (length < RPC_RESPONSE_HEADER_SIZE) return false;
    const bytes = responses.segment.bytes;
    const v = responses.view;
    const id = v.getUint32(offset + RPC_RES_ID_OFFSET, true);
    const p = this.#pending.get(id);
    if (p === undefined) return false; // timed out or aborted already
    this.#pending.delete(id);
    p.disarm();
    this.#received++;
    const status = v.getUint32(offset + RPC_RES_STATUS_OFFSET, true);
    const n = length - RPC_RESPONSE_HEADER_SIZE;
    const at = offset + RPC_RESPONSE_HEADER_SIZE;
    if (status === RPC_STATUS_OK) {
      const isText = (v.getUint32(offset + RPC_RES_FLAGS_OFFSET, true) & QUEUE_FLAG_TEXT) !== 0;
      if (p.view && this.#pending.size === 0) {
        // The only request in flight: hold its slot; the next request releases it, so no later response can find
        // the ring stopped at it.
        const slot = h instanceof HeldSlot ? h : new HeldSlot(responses); // `held` is still this take's here
        const res = RpcResponse.create<Res>(slotBytes(responses, at, n), isText, this.#codec as Codec<Res> | undefined, this.#releaseView);
        this.#view.hold(res, slot);
        p.resolve(res);
        return true;
      }
      const into = p.into;
      let data: Uint8Array;
      if (into !== undefined && into.length === n) {
        copyBytes(into, 0, bytes, at, n); // the whole buffer: no subarray view to allocate
        data = into;
      } else {
        data = copyBody(bytes, at, n, into);
      }
      p.resolve(RpcResponse.create<Res>(data, isText, this.#codec as Codec<Res> | undefined));
      return false;
    }
    this.#failed++;
    if (status === RPC_STATUS_TOO_LARGE) {
      p.reject(
        new ShmbusError(
          'ERR_MESSAGE_TOO_LARGE',
          `rpc "${this.name}": the response did not fit this client's response slots; connect with a larger maxMessageSize`,
          { segment: this.name },
        ),
      );
    } else {
      p.reject(remoteError(this.name, copyBody(bytes, at, n)));
    }
    return false;
  }


  #checkServers(responses: QueueRing): void {
    const service = this.#service;
    if (service === undefined) return;
    // A worker that sent our response and died before clearing BUSY: take what is already here first.
    for (;;) {
      const r = this.#takeResponse(responses);
      if (r === EMPTY || r === END) break;
    }
    if (!service.anyAlive()) {
      this.#failAll(noServer(this.name, 'the server stopped or died while the request was pending'));
      return;
    }
    if (responseQueueIno(responses.segment.name) !== this.#responsesIno) {
      // Workers open the queue by name: once the name is gone (or names another object) no response can reach
      // this client. Fail what is pending now instead of at its timeout; the next request makes a new queue.
      this.#failAll(noServer(this.name, `this client's response queue "${responses.segment.name}" was removed, so no response can reach it`));
      this.#view.drop();
      this.#responses = undefined;
      this.#aliveUntil = 0;
      responses.segment.close();
      return;
    }
    for (const [id, pid] of service.deadWorkersHolding(this.#clientId)) {
      this.#settleError(id, noServer(this.name, `the server process ${pid} died while handling the request`));
    }
  }

  #failAll(e: ShmbusError): void {
    for (const p of this.#pending.drain()) {
      p.disarm();
      this.#failed++;
      p.reject(e);
    }
  }

  /** Opens the service (again, if its servers are gone and it may have been replaced) and the response queue. */
  #connect(): Service {
    // Reading /proc for every worker costs microseconds: a positive answer is trusted for ALIVE_CACHE_MS (a server
    // that dies within that window fails the request through the pump's liveness check instead).
    const now = performance.now();
    if (now < this.#aliveUntil) return this.#service!;
    const s = this.#settings;
    if (this.#service === undefined || !this.#service.anyAlive()) {
      this.#retire(this.#service);
      this.#service = undefined;
      try {
        this.#service = Service.open(this.name, s.spin, s.livenessInterval);
      } catch (e) {
        if (e instanceof ShmbusError && e.code === 'ERR_SHM_NOT_FOUND') throw noServer(this.name, 'no such service');
        throw e;
      }
      if (!this.#service.anyAlive()) throw noServer(this.name, 'no server is alive');
    }
    if (this.#responses === undefined) {
      const size = s.maxMessageSize ?? this.#service.maxMessageSize;
      const slots = s.slots ?? defaultSlots(size, DEFAULT_RESPONSE_SLOTS);
      for (let attempt = 0; this.#responses === undefined; attempt++) {
        const id = this.#service.nextClientId();
        try {
          this.#responses = createQueueRing(responseQueueName(this.name, id), slots, size + RPC_RESPONSE_HEADER_SIZE, s.mode, s.spin);
          if (!this.#refed) this.#responses.segment.unref();
          this.#responsesIno = responseQueueIno(this.#responses.segment.name);
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
    this.#view.drop();
    if (this.#responses !== undefined) {
      this.#responses.close();
      this.#responses.segment.close();
      unlinkQuietly(this.#responses.segment.name);
    }
    this.#service?.segment.close();
    for (const r of this.#retired.splice(0)) r.segment.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Inode of the object a segment name leads to now, 0 when the name is gone. */
function responseQueueIno(name: string): number {
  try {
    return statSync(`/dev/shm${osName(name)}`).ino;
  } catch {
    return 0;
  }
}

function remoteError(name: string, body: Uint8Array): ShmbusError {
  let info: { name?: unknown; message?: unknown; code?: unknown } = {};
  try {
    info = JSON.parse(utf8(body)) as typeof info;
  } catch {
    info = { message: utf8(body) };
  }
  const message = typeof info.message === 'string' ? info.message : 'the remote handler failed';
  return new ShmbusError('ERR_REMOTE', message, { segment: name, cause: info });
}
