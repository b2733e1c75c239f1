/** Message: one record a Topic subscriber read (a copy it owns, or a zero-copy view into the ring). */

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
 * @example
 * ```ts
 * const m = await sub.read();
 * console.log(m.seq, new Date(m.timestamp), m.text());
 * ```
 */
export class Message {
  /** The payload. */
  readonly data: Uint8Array;
  /** When the publisher committed it: milliseconds since the Unix epoch (microsecond resolution). */
  readonly timestamp: number;
  readonly #seq: number;
  readonly #valid: ((seq: number) => boolean) | null;

  /** @internal */
  constructor(data: Uint8Array, seq: number, timestampMicros: number, valid: ((seq: number) => boolean) | null) {
    this.data = data;
    this.#seq = seq;
    this.timestamp = timestampMicros / 1000;
    this.#valid = valid;
  }

  /** The message's sequence number in its topic (1 for the first message ever published). */
  get seq(): bigint {
    return BigInt(this.#seq);
  }

  /** The payload decoded as UTF-8. */
  text(): string {
    const d = this.data;
    // TextDecoder refuses views of a SharedArrayBuffer: a zero-copy view is copied first.
    return decoder.decode(d.buffer instanceof SharedArrayBuffer ? d.slice() : d);
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
