/** What an Rpc handler receives ({@link RpcRequest}) and what a client gets back ({@link RpcResponse}). */
import { ShmbusError } from '../../errors.js';
import { utf8, type Codec } from '../codec.js';
import type { WaitOptions } from '../../base/deadline.js';
import type { RpcResponseLoan } from './loans.js';

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
