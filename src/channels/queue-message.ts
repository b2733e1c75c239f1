/** QueueMessage: one message taken from a Queue (or an Rpc response): its bytes, text or decoded value. */
import type { Codec } from './codec.js';
import { utf8 } from './codec.js';

/**
 * A message taken from a {@link Queue} (or an Rpc response): a private copy of the bytes, a view of the `into`
 * buffer you passed, or (`copy: false`) a view of the queue's slot, valid until {@link release}.
 * @example
 * ```ts
 * const m = await q.receive();
 * if (m !== null) console.log(m.isText ? m.text() : m.data.length);
 * ```
 */
export class QueueMessage<T = Uint8Array> {
  /**
   * The message bytes: a private copy, a view of your `into` buffer, or (`copy: false`) a view of the slot in
   * shared memory, valid until `release()` (or the next receive or close of the queue handle).
   */
  data: Uint8Array;
  /** True when the sender sent a string (or its codec encoded to a string). */
  isText: boolean;
  /** @internal the channel's codec, undefined for raw bytes. */
  readonly #codec: Codec<T> | undefined;
  /** Frees the slot of a zero-copy message (undefined for copies). */
  readonly #release: ((m: QueueMessage<T>) => void) | undefined;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<T>(data: Uint8Array, isText: boolean, codec?: Codec<T>, release?: (m: QueueMessage<T>) => void): QueueMessage<T> {
    return new QueueMessage<T>(data, isText, codec, release);
  }

  private constructor(data: Uint8Array, isText: boolean, codec: Codec<T> | undefined, release: ((m: QueueMessage<T>) => void) | undefined) {
    this.data = data;
    this.isText = isText;
    this.#codec = codec;
    this.#release = release;
  }

  /** The bytes decoded as UTF-8. */
  text(): string {
    return utf8(this.data);
  }

  /** The bytes parsed as JSON text. @throws SyntaxError when they are not JSON */
  json<J = unknown>(): J {
    return JSON.parse(this.text()) as J;
  }

  /** The message decoded with the queue's `codec`; without a codec, the bytes themselves. */
  get value(): T {
    return this.#codec === undefined ? (this.data as unknown as T) : this.#codec.decode(this.data);
  }

  /**
   * Frees the slot of a zero-copy message (`receive({ copy: false })`) so producers can reuse it; `data` must not
   * be used afterwards. Idempotent; a no-op for copies. The queue handle's next receive and its close release it
   * too.
   * @throws ERR_CLOSED when the queue handle was closed (the view was released then and its bytes are gone)
   */
  release(): void {
    if (this.#release !== undefined) this.#release(this);
  }
}
