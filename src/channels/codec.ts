/**
 * Message codecs: how a channel turns values into payload bytes and back. Raw bytes stay the default (and the
 * zero-copy path); a channel created or opened with `codec` hands out decoded values (`msg.value`).
 */
import { serialize, deserialize } from 'node:v8';
import { ShmbusError } from '../errors.js';
import { describe } from '../base/options.js';

/** Turns values of type T into payload bytes and back. `decode` gets a view it must not keep (copy what it keeps). */
export interface Codec<T> {
  /** A name for errors and tools ('json', 'v8', or your own). */
  readonly name: string;
  encode(value: T): Uint8Array | string;
  decode(bytes: Uint8Array): T;
}

const decoder = new TextDecoder();

/** UTF-8 text of a payload; a view of a SharedArrayBuffer is copied first (TextDecoder refuses those). */
export function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes.buffer instanceof SharedArrayBuffer ? bytes.slice() : bytes);
}

/** JSON text in UTF-8: interoperates with every peer language. */
export const json: Codec<unknown> = {
  name: 'json',
  encode: (value) => {
    const s = JSON.stringify(value);
    if (s === undefined) throw new ShmbusError('ERR_INVALID_ARG', `the json codec cannot encode ${describe(value)}`);
    return s;
  },
  decode: (bytes) => JSON.parse(utf8(bytes)) as unknown,
};

/** V8's structured-clone format (Map, Set, Date, typed arrays, bigint...): Node to Node only. */
export const v8: Codec<unknown> = {
  name: 'v8',
  encode: (value) => serialize(value),
  decode: (bytes) => deserialize(bytes) as unknown,
};

/** The codecs known by name. */
export const codecs = { json, v8 } as const;

/** What a `codec` option may be: a built-in codec's name or a {@link Codec}. */
export type CodecOption<T> = 'json' | 'v8' | Codec<T>;

/** Resolves a `codec` option; undefined stays undefined (raw bytes). */
export function resolveCodec<T>(option: CodecOption<T> | undefined): Codec<T> | undefined {
  if (option === undefined) return undefined;
  if (option === 'json' || option === 'v8') return codecs[option] as Codec<T>;
  if (option !== null && typeof option === 'object' && typeof option.encode === 'function' && typeof option.decode === 'function') {
    return option;
  }
  throw new ShmbusError('ERR_INVALID_ARG', `codec must be 'json', 'v8' or an object with encode and decode (got ${describe(option)})`);
}
