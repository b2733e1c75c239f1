/**
 * What an Rpc handler receives ({@link RpcRequest}), what a client gets back ({@link RpcResponse}) and the options
 * of a request, and their zero-copy forms: a request loaned in the service ring ({@link RpcRequestLoan}) and a
 * response loaned in the asking client's queue ({@link RpcResponseLoan}). One module: each lends or resolves the other.
 */
import { ShmbusError } from '../../errors.js';
import { utf8, type Codec } from '../codec.js';
import type { WaitOptions } from '../../base/deadline.js';
import { HeldSlot, commitSize, loanEndedError } from '../queue-loan.js';

/** How a request's handler loans its response (its worker). @internal */
export interface ResponseLoaner {
  tryLoan(request: RpcRequest<unknown>, size: number): RpcResponseLoan | null;
  loan(request: RpcRequest<unknown>, size: number, options: WaitOptions | undefined): Promise<RpcResponseLoan>;
}

/** Not decoded yet (a value may legitimately be undefined or null). */
const UNSET: unique symbol = Symbol('unset');

/**
 * A request as a handler sees it (`Rpc.serve(name, (req) => ...)`). The object and its `data` are valid until
 * the handler's answer is sent (it returns, or its promise settles): each worker reuses them for its next
 * request. Keep a copy (`req.data.slice()`, or the decoded `req.value`) if you need it later; returning `req.data`
 * (or a view of it) as the reply is fine. With `copy: false` (serve option) `data` is a view of the request's slot
 * in shared memory. `loan(size)` gives room for the answer in the client's response queue (zero-copy reply).
 * @typeParam T the decoded request type (with a `codec`); without one, `value` is the bytes.
 */
export class RpcRequest<T = Uint8Array> {
  #data: Uint8Array = new Uint8Array(0);
  #isText = false;
  #id = 0;
  #clientId = 0;
  #clientPid = 0;
  #value: T | typeof UNSET = UNSET;
  readonly #codec: Codec<T> | undefined;
  /** @internal the asking client's start time and pid namespace (liveness checks). */
  clientStart = 0;
  /** @internal */
  clientNs = 0;
  /** @internal the worker that loans responses for this request. */
  loaner: ResponseLoaner | undefined = undefined;
  /** @internal the response loan of the request in hand, if the handler took one. */
  responseLoan: RpcResponseLoan | undefined = undefined;
  /** @internal the ERR_MESSAGE_TOO_LARGE a loan threw (answered as status TOO_LARGE if the handler rethrows it). */
  loanTooLarge: unknown = undefined;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<T>(codec: Codec<T> | undefined): RpcRequest<T> {
    return new RpcRequest<T>(codec);
  }

  private constructor(codec: Codec<T> | undefined) {
    this.#codec = codec;
  }

  /** @internal refills this object with the next request (the worker reuses it). */
  set(data: Uint8Array, isText: boolean, id: number, clientId: number, clientPid: number, clientStart: number, clientNs: number): void {
    this.#data = data;
    this.#isText = isText;
    this.#id = id;
    this.#clientId = clientId;
    this.#clientPid = clientPid;
    this.clientStart = clientStart;
    this.clientNs = clientNs;
    this.#value = UNSET;
    this.responseLoan = undefined;
    this.loanTooLarge = undefined;
  }

  /**
   * Zero-copy reply: room for a `size`-byte response in the asking client's response queue, waiting while it is
   * full (as long as the client lives). Write into `loan.bytes`, then `loan.commit()` or return the loan. One loan
   * per request.
   * @throws ERR_MESSAGE_TOO_LARGE (larger than the client's response slots; rethrown from the handler, the client
   *   gets ERR_MESSAGE_TOO_LARGE), ERR_CLOSED (the client is gone), ERR_INVALID_ARG (a second loan, bad size),
   *   ERR_TIMEOUT, ERR_ABORTED
   */
  loan(size: number, options?: WaitOptions): Promise<RpcResponseLoan> {
    if (this.loaner === undefined) return Promise.reject(notInHand());
    return this.loaner.loan(this as RpcRequest<unknown>, size, options);
  }

  /**
   * {@link loan} without waiting. @returns null when the client's response queue is full
   * @throws as {@link loan}
   */
  tryLoan(size: number): RpcResponseLoan | null {
    if (this.loaner === undefined) throw notInHand();
    return this.loaner.tryLoan(this as RpcRequest<unknown>, size);
  }

  /** The request payload. */
  get data(): Uint8Array {
    return this.#data;
  }

  /** True when the client sent a string. */
  get isText(): boolean {
    return this.#isText;
  }

  /** The request id (unique per client while pending). */
  get id(): number {
    return this.#id;
  }

  /** The asking client's id (unique per rpc service). */
  get clientId(): number {
    return this.#clientId;
  }

  /** The asking client's process id. */
  get clientPid(): number {
    return this.#clientPid;
  }

  /** The payload decoded with the service's codec (decoded once, on first use); without a codec, the bytes. */
  get value(): T {
    if (this.#value === UNSET) this.#value = this.#codec === undefined ? (this.#data as T) : this.#codec.decode(this.#data);
    return this.#value;
  }

  /** The payload decoded as UTF-8. */
  text(): string {
    return utf8(this.#data);
  }

  /** The payload parsed as JSON text. */
  json<U = unknown>(): U {
    return JSON.parse(this.text()) as U;
  }
}

/**
 * A response (from {@link RpcClient.request}): a private copy of the bytes, or a view of the `into` buffer you
 * passed.
 * @typeParam T the decoded response type (with a `codec`); without one, `value` is the bytes.
 * @example
 * ```ts
 * const res = await client.request('hi');
 * console.log(res.isText ? res.text() : res.data.length);
 * ```
 */
export class RpcResponse<T = Uint8Array> {
  /**
   * The response payload: a private copy, a view of your `into` buffer, or (`copy: false`) a view of the response
   * slot in shared memory, valid until {@link release}.
   */
  readonly data: Uint8Array;
  /** True when the handler answered with a string. */
  readonly isText: boolean;
  readonly #codec: Codec<T> | undefined;
  readonly #release: ((r: RpcResponse<T>) => void) | undefined;
  #value: T | typeof UNSET = UNSET;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<T>(data: Uint8Array, isText: boolean, codec: Codec<T> | undefined, release?: (r: RpcResponse<T>) => void): RpcResponse<T> {
    return new RpcResponse<T>(data, isText, codec, release);
  }

  private constructor(data: Uint8Array, isText: boolean, codec: Codec<T> | undefined, release: ((r: RpcResponse<T>) => void) | undefined) {
    this.data = data;
    this.isText = isText;
    this.#codec = codec;
    this.#release = release;
  }

  /**
   * Frees the response slot of a zero-copy response (`copy: false`); `data` must not be used afterwards.
   * Idempotent; a no-op for copies. The client's next request (or loan) and its close release it too.
   * @throws ERR_CLOSED when the client was closed (the view was released then)
   */
  release(): void {
    if (this.#release !== undefined) this.#release(this);
  }

  /** The payload decoded with the client's codec (decoded once, on first use); without a codec, the bytes. */
  get value(): T {
    if (this.#value === UNSET) this.#value = this.#codec === undefined ? (this.data as T) : this.#codec.decode(this.data);
    return this.#value;
  }

  /** The payload decoded as UTF-8. */
  text(): string {
    return utf8(this.data);
  }

  /** The payload parsed as JSON text. */
  json<U = unknown>(): U {
    return JSON.parse(this.text()) as U;
  }
}

function notInHand(): ShmbusError {
  return new ShmbusError('ERR_INVALID_ARG', 'this request is not in hand: loan a response only inside its handler');
}

/** Options of {@link RpcClient.request}. */
export interface RpcRequestOptions extends WaitOptions {
  /**
   * Copy the response into this buffer when it fits (then `res.data` is a view of it, valid until you reuse the
   * buffer): saves allocating a fresh array per response, which for megabyte responses costs more than the copy.
   */
  into?: Uint8Array;
  /**
   * false: zero-copy response. `res.data` is a view of the response in this client's response queue, valid until
   * `res.release()`, this client's next request (or loan), or its close. Only while this request is the client's
   * only one in flight when its response arrives; otherwise (concurrent requests) the response is copied, since
   * responses held in place would stop the workers once they come round the ring. Not with `into`.
   */
  copy?: boolean;
}

// ---- Zero-copy Rpc ----------------------------------------------------------------------------------------------
/*
 * Zero-copy Rpc (PROTOCOL.md §8 over §6 slots held by this process): a request loaned in the service's request ring
 * (RpcRequestLoan, a client's) and a response loaned in the asking client's response queue (RpcResponseLoan, a
 * handler's). Both write the §8 header at commit; the payload goes straight into the slot.
 */

/** What ends a response loan (its server): commit sends, abort gives the slot back. @internal */
export interface ResponseLoanOwner {
  commitResponse(loan: RpcResponseLoan, slot: HeldSlot, size: number): void;
  abortResponse(loan: RpcResponseLoan, slot: HeldSlot): void;
}

/**
 * Room for a response in the asking client's response queue (from `req.loan(size)` in a handler): write the reply
 * into `bytes`, then `commit()` (it is sent at once and is the answer: the handler's return value is then
 * ignored), or `abort()`. Returning the loan itself from the handler commits it whole; returning anything else
 * with the loan still open aborts it and answers that value; a throw aborts it.
 * @example
 * ```ts
 * Rpc.serve('invert', async (req) => {
 *   const loan = await req.loan(req.data.length);
 *   for (let i = 0; i < req.data.length; i++) loan.bytes[i] = 255 - req.data[i]!;
 *   return loan;
 * }, { copy: false, maxMessageSize: 1 << 20 });
 * ```
 */
export class RpcResponseLoan {
  /** The reply space in the client's response slot, exactly the size asked for. Valid until commit/abort. */
  readonly bytes: Uint8Array;
  readonly #owner: ResponseLoanOwner;
  readonly #slot: HeldSlot;
  /** @internal the id of the request this answers. */
  readonly requestId: number;
  #state: 'open' | 'committed' | 'aborted' = 'open';

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create(owner: ResponseLoanOwner, slot: HeldSlot, bytes: Uint8Array, requestId: number): RpcResponseLoan {
    return new RpcResponseLoan(owner, slot, bytes, requestId);
  }

  private constructor(owner: ResponseLoanOwner, slot: HeldSlot, bytes: Uint8Array, requestId: number) {
    this.#owner = owner;
    this.#slot = slot;
    this.bytes = bytes;
    this.requestId = requestId;
  }

  /** @internal 'open', 'committed' or 'aborted'. */
  get state(): 'open' | 'committed' | 'aborted' {
    return this.#state;
  }

  /**
   * Sends the response: its first `size` bytes (default all of `bytes`). If the client is gone the response is
   * dropped (as a returned one would be).
   * @throws ERR_CLOSED (already committed or aborted), ERR_INVALID_ARG (size out of range: the loan is aborted)
   */
  commit(size: number = this.bytes.length): void {
    if (this.#state !== 'open') throw loanEndedError();
    let n: number;
    try {
      n = commitSize(size, this.bytes.length);
    } catch (e) {
      this.abort();
      throw e;
    }
    this.#state = 'committed';
    this.#owner.commitResponse(this, this.#slot, n);
  }

  /** Gives the slot back; nothing is sent (the handler's return value answers). @throws ERR_CLOSED (already ended) */
  abort(): void {
    if (this.#state !== 'open') throw loanEndedError();
    this.#state = 'aborted';
    this.#owner.abortResponse(this, this.#slot);
  }
}

/** What ends a request loan (its client). @internal */
export interface RequestLoanOwner<Res> {
  commitRequest(slot: HeldSlot, size: number, options: RpcRequestOptions | undefined): Promise<RpcResponse<Res>>;
  abortRequest(slot: HeldSlot): void;
}

/**
 * A request written in place in the service's request queue (from `client.loan(size)`): write the payload into
 * `bytes`, then `commit()` to send it and get the response, or `abort()`. Workers take requests in order, so an
 * open loan holds back every request behind it (of every client): fill it promptly.
 * @example
 * ```ts
 * const loan = await client.loan(image.length);
 * loan.bytes.set(image);
 * const res = await loan.commit(undefined, { copy: false, timeout: 1000 });
 * use(res.data);
 * res.release();
 * ```
 */
export class RpcRequestLoan<Res = Uint8Array> {
  /** The request space in the slot, exactly the size asked for. Valid until commit/abort. */
  readonly bytes: Uint8Array;
  readonly #owner: RequestLoanOwner<Res>;
  readonly #slot: HeldSlot;
  #open = true;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<Res>(owner: RequestLoanOwner<Res>, slot: HeldSlot, bytes: Uint8Array): RpcRequestLoan<Res> {
    return new RpcRequestLoan<Res>(owner, slot, bytes);
  }

  private constructor(owner: RequestLoanOwner<Res>, slot: HeldSlot, bytes: Uint8Array) {
    this.#owner = owner;
    this.#slot = slot;
    this.bytes = bytes;
  }

  /**
   * Sends the request (its first `size` bytes, default all) and resolves with the response (`options` as
   * `client.request`'s: timeout, signal, into, copy).
   * @throws (rejects) as `client.request`; ERR_CLOSED when the loan already ended; ERR_INVALID_ARG (bad size: the
   *   loan is aborted)
   */
  commit(size: number = this.bytes.length, options?: RpcRequestOptions): Promise<RpcResponse<Res>> {
    if (!this.#open) return Promise.reject(loanEndedError());
    this.#open = false;
    let n: number;
    try {
      n = commitSize(size, this.bytes.length);
    } catch (e) {
      this.#owner.abortRequest(this.#slot);
      return Promise.reject(e instanceof ShmbusError ? e : new ShmbusError('ERR_INVALID_ARG', String(e)));
    }
    return this.#owner.commitRequest(this.#slot, n, options);
  }

  /** Gives the slot back; nothing is sent. @throws ERR_CLOSED (already ended) */
  abort(): void {
    if (!this.#open) throw loanEndedError();
    this.#open = false;
    this.#owner.abortRequest(this.#slot);
  }
}
