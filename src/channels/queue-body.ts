/**
 * Queue message bodies (PROTOCOL.md §6, slot bytes 32..): how a message (bytes, or a string as UTF-8) is written into
 * a slot and copied out of it. Pure functions over bytes, shared by Queue and Rpc.
 */
import { ShmbusError } from '../errors.js';
import { QUEUE_FLAG_TEXT } from '../protocol/layout.js';
import { copyBytes } from '../base/copy.js';
import { describe } from '../base/options.js';

const ENCODER = new TextEncoder();
/** Up to this many bytes a loop copies faster than a view + set (and allocates nothing). */
const SMALL_BODY = 128;

/** Writes a message body into the ring at `offset` (at most `capacity` bytes) and returns its length. @internal */
export type BodyWriter = (bytes: Uint8Array, offset: number, capacity: number) => number;

/**
 * Copies what it needs of a taken message (`length` bytes at `offset`) out of the ring; the slot is freed when it
 * returns (or throws). @internal
 */
export type BodyReader<T> = (bytes: Uint8Array, offset: number, length: number, flags: number) => T;

/** Copies `length` bytes at `offset` of `bytes` into `into` when it is large enough, else into a new array. @internal */
export function copyBody(bytes: Uint8Array, offset: number, length: number, into?: Uint8Array): Uint8Array {
  if (into !== undefined && into.length >= length) {
    // Small bodies byte by byte: copyBytes would allocate a view of the ring for them (issue 12: no allocation per
    // message on receive({ into })).
    if (length <= SMALL_BODY) for (let i = 0; i < length; i++) into[i] = bytes[offset + i]!;
    else copyBytes(into, 0, bytes, offset, length);
    return into.length === length ? into : into.subarray(0, length);
  }
  const data = new Uint8Array(length);
  copyBytes(data, 0, bytes, offset, length);
  return data;
}

/** Checks that `data` is a message: bytes or a string. @internal */
export function validateBody(data: unknown, where: string): asserts data is Uint8Array | string {
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new ShmbusError('ERR_INVALID_ARG', `${where}: a message must be a Uint8Array (or Buffer) or a string (got ${describe(data)})`);
  }
}

/** Flags of a message body (QUEUE_FLAG_TEXT for a string). @internal */
export function bodyFlags(data: Uint8Array | string): number {
  return typeof data === 'string' ? QUEUE_FLAG_TEXT : 0;
}

/**
 * Copies a message body (bytes, or a string as UTF-8) into `bytes` at `offset`; returns its length.
 * @throws ERR_MESSAGE_TOO_LARGE when it needs more than `capacity` bytes @internal
 */
export function writeBody(data: Uint8Array | string, bytes: Uint8Array, offset: number, capacity: number, where: string): number {
  if (typeof data === 'string') {
    // Fast refusal first; encodeInto stops short when the UTF-8 form does not fit.
    if (data.length > capacity) throw tooLarge(where, data.length, capacity);
    const r = ENCODER.encodeInto(data, new Uint8Array(bytes.buffer, bytes.byteOffset + offset, capacity));
    if (r.read < data.length) throw tooLarge(where, Buffer.byteLength(data), capacity);
    return r.written;
  }
  const n = data.byteLength;
  if (n > capacity) throw tooLarge(where, n, capacity);
  copyBytes(bytes, offset, data, 0, n);
  return n;
}

/** ERR_MESSAGE_TOO_LARGE for a `size`-byte message and `capacity`-byte slots. @internal */
export function tooLarge(where: string, size: number, capacity: number): ShmbusError {
  return new ShmbusError(
    'ERR_MESSAGE_TOO_LARGE',
    `${where}: a ${size}-byte message is larger than maxMessageSize ${capacity}; create the queue with a larger maxMessageSize`,
  );
}
