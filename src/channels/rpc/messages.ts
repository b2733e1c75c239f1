/** What an Rpc handler receives ({@link RpcRequest}) and what a client gets back ({@link RpcResponse}). */
import { utf8, type Codec } from '../codec.js';

/** Not decoded yet (a value may legitimately be undefined or null). */
const UNSET: unique symbol = Symbol('unset');

/**
 * A request as a handler sees it (`Rpc.serve(name, (req) => ...)`). The object and its `data` are valid until
 * the handler's answer is sent (it returns, or its promise settles): each worker reuses them for its next
 * request. Keep a copy (`req.data.slice()`, or the decoded `req.value`) if you need it later; returning `req.data`
 * (or a view of it) as the reply is fine.
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
  /** The response payload. */
  readonly data: Uint8Array;
  /** True when the handler answered with a string. */
  readonly isText: boolean;
  readonly #codec: Codec<T> | undefined;
  #value: T | typeof UNSET = UNSET;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<T>(data: Uint8Array, isText: boolean, codec: Codec<T> | undefined): RpcResponse<T> {
    return new RpcResponse<T>(data, isText, codec);
  }

  private constructor(data: Uint8Array, isText: boolean, codec: Codec<T> | undefined) {
    this.data = data;
    this.isText = isText;
    this.#codec = codec;
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
