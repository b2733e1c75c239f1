/** Message: one record a Topic subscriber read (a copy it owns, or a zero-copy view into the ring). */
import { ShmbusError } from '../errors.js';
import type { Codec } from './codec.js';

const decoder = new TextDecoder();
/** Cached: reading performance.timeOrigin costs more than the addition. */
const TIME_ORIGIN = performance.timeOrigin;

/** Now, in microseconds since the Unix epoch (the unit of record and slot timestamps). @internal */
export function nowMicros(): number {
  return Math.round((TIME_ORIGIN + performance.now()) * 1000);
}

/**
 * One message read from a {@link Topic}. With the default `copy: true`, `data` is memory the caller owns and
 * `valid()` is always true. With `copy: false`, `data` is a view into the ring that writers may overwrite at any
 * time: use it, then call `valid()`; if that returns false the bytes you used may have been overwritten.
 *
 * With `reuse: true` (read/tryRead) the subscriber hands out the same Message object every time, updated in
 * place: read what you need from it before the next read.
 * @example
 * ```ts
 * const m = await sub.read();
 * console.log(m.seq, new Date(m.timestamp), m.text());
 * ```
 */
export class Message<T = Uint8Array> {
  #data: Uint8Array | null = null;
  #bytes: Uint8Array;
  #offset = 0;
  #size = 0;
  #seq = 0;
  #micros = 0;
  #valid: ((seq: number) => boolean) | null = null;
  readonly #codec: Codec<T> | undefined;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<T>(codec: Codec<T> | undefined, bytes: Uint8Array): Message<T> {
    return new Message<T>(codec, bytes);
  }

  private constructor(codec: Codec<T> | undefined, bytes: Uint8Array) {
    this.#codec = codec;
    this.#bytes = bytes;
  }

  /**
   * @internal Points this message at a record: `data` is given (a copy), or made lazily as a view of
   * `bytes[offset, offset + size)` (zero-copy; `view` may hand a cached view back).
   */
  set(
    data: Uint8Array | null,
    bytes: Uint8Array,
    offset: number,
    size: number,
    seq: number,
    micros: number,
    valid: ((seq: number) => boolean) | null,
  ): this {
    this.#data = data;
    this.#bytes = bytes;
    this.#offset = offset;
    this.#size = size;
    this.#seq = seq;
    this.#micros = micros;
    this.#valid = valid;
    return this;
  }

  /** The payload (for a zero-copy message, a view into the ring made on first use). */
  get data(): Uint8Array {
    let d = this.#data;
    if (d === null) {
      // `new Uint8Array(buffer, ...)` costs half what `subarray` does (no species lookup).
      d = new Uint8Array(this.#bytes.buffer, this.#bytes.byteOffset + this.#offset, this.#size);
      this.#data = d;
    }
    return d;
  }

  /** Payload bytes (`data.length`, without making the view). */
  get size(): number {
    return this.#size;
  }

  /** The message's sequence number in its topic (1 for the first message ever published). */
  get seq(): number {
    return this.#seq;
  }

  /**
   * When the publisher committed it: milliseconds since the Unix epoch (microsecond resolution); 0 when the
   * publisher does not record times (`timestamps: false`).
   */
  get timestamp(): number {
    return this.#micros / 1000;
  }

  /** The payload decoded as UTF-8. */
  text(): string {
    const d = this.data;
    // TextDecoder refuses views of a SharedArrayBuffer: a zero-copy view is copied first.
    return decoder.decode(d.buffer instanceof SharedArrayBuffer ? d.slice() : d);
  }

  /** The payload parsed as JSON text (UTF-8). @throws SyntaxError when it is not JSON */
  json<J = unknown>(): J {
    return JSON.parse(this.text()) as J;
  }

  /**
   * The payload decoded with the topic's codec (`codec` option of create/open/subscribe); without a codec, the
   * bytes (`data`). Decoded on every access.
   * @throws ERR_INVALID_ARG when the codec cannot decode it (the error's `cause` is the codec's error)
   */
  get value(): T {
    const codec = this.#codec;
    if (codec === undefined) return this.data as unknown as T;
    try {
      return codec.decode(this.data);
    } catch (e) {
      throw new ShmbusError('ERR_INVALID_ARG', `message ${this.#seq} cannot be decoded with codec '${codec.name}'`, { cause: e });
    }
  }

  /**
   * True when the payload was not overwritten since it was read: always for copies; for zero-copy views, call it
   * after using the bytes.
   */
  valid(): boolean {
    return this.#valid === null || this.#valid(this.#seq);
  }
}

/** Payloads below this size are carved out of a shared private slab (as Buffer's pool does). */
const SLAB_MAX = 4096;
const SLAB_SIZE = 128 << 10;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabUsed = 0;

/**
 * A fresh, private Uint8Array of `size` bytes (contents unspecified). Small ones share a slab, so a 100-byte copy
 * does not pay for a whole ArrayBuffer allocation; nothing else ever writes the bytes handed out.
 * @internal
 */
export function allocBytes(size: number): Uint8Array {
  if (size >= SLAB_MAX) return new Uint8Array(size);
  if (slabUsed + size > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, size);
  slabUsed = (slabUsed + size + 7) & ~7;
  return out;
}
