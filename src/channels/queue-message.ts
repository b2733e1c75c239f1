/** QueueMessage: one message taken from a Queue (or an Rpc response): its bytes, text or decoded value. */
import type { Codec } from './codec.js';
import { utf8 } from './codec.js';

/**
 * A message taken from a {@link Queue} (or an Rpc response): a private copy of the bytes, or a view of the `into`
 * buffer you passed.
 * @example
 * ```ts
 * const m = await q.receive();
 * if (m !== null) console.log(m.isText ? m.text() : m.data.length);
 * ```
 */
export class QueueMessage<T = Uint8Array> {
  /** The message bytes (a private copy, or a view of your `into` buffer). */
  data: Uint8Array;
  /** True when the sender sent a string (or its codec encoded to a string). */
  isText: boolean;
  /** @internal the channel's codec, undefined for raw bytes. */
  readonly #codec: Codec<T> | undefined;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<T>(data: Uint8Array, isText: boolean, codec?: Codec<T>): QueueMessage<T> {
    return new QueueMessage<T>(data, isText, codec);
  }

  private constructor(data: Uint8Array, isText: boolean, codec?: Codec<T>) {
    this.data = data;
    this.isText = isText;
    this.#codec = codec;
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
}
