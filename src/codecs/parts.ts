/**
 * Parts: a record of named values as one message (PROTOCOL.md §10): bytes, UTF-8 strings, JSON, float64 and int64
 * parts behind a 32-byte header, with a directory of 16-byte entries at the end. decode() checks every offset,
 * size, name and text before it hands anything out, and gives bytes parts as views of the message (no copy); bytes
 * values start 64-byte aligned within the record, so a Frame carried in a part decodes in place.
 * Corrupt input throws ERR_PARTS_CORRUPT; a value encode cannot write throws ERR_INVALID_ARG.
 */
import { ShmbusError } from '../errors.js';

/** 'SBPT' as bytes 53 42 50 54, read as a little-endian u32. */
export const PARTS_MAGIC = 0x54504253;
export const PARTS_VERSION = 1;
export const PARTS_HEADER_SIZE = 32;
export const PARTS_ENTRY_SIZE = 16;
export const PARTS_MAX_COUNT = 1024;
export const PARTS_MAX_NAME = 255;
/** Alignment of bytes values within the record (other values: 8). */
export const PARTS_BYTES_ALIGN = 64;

// Header byte offsets (little-endian).
export const PARTS_MAGIC_OFFSET = 0; // u32
export const PARTS_VERSION_OFFSET = 4; // u16
export const PARTS_HEADER_SIZE_OFFSET = 6; // u16: >= 32, a multiple of 8
export const PARTS_COUNT_OFFSET = 8; // u32: 0..1024
export const PARTS_FLAGS_OFFSET = 12; // u32: 0
export const PARTS_DIR_OFFSET = 16; // u32: a multiple of 8, >= headerSize
export const PARTS_TOTAL_SIZE_OFFSET = 20; // u32: dirOffset + 16 * count
// Directory entry byte offsets.
export const PARTS_ENTRY_NAME_OFFSET = 0; // u32
export const PARTS_ENTRY_NAME_SIZE = 4; // u16: 1..255
export const PARTS_ENTRY_TYPE = 6; // u8
export const PARTS_ENTRY_FLAGS = 7; // u8: 0
export const PARTS_ENTRY_VALUE_OFFSET = 8; // u32: a multiple of 8
export const PARTS_ENTRY_VALUE_SIZE = 12; // u32

/** Value type codes (PROTOCOL.md §10). */
export const PART_TYPES = { bytes: 1, string: 2, json: 3, float64: 4, int64: 5 } as const;
export type PartType = keyof typeof PART_TYPES;

/** A JSON value (what a json part holds). */
export type JsonValue = null | boolean | number | string | JsonArray | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}
export type JsonArray = JsonValue[];

/**
 * One part's value. Encoding: a Uint8Array (or any ArrayBufferView: its bytes) is a bytes part, a string a string
 * part, a number a float64 part, a bigint an int64 part; booleans, null, plain objects and arrays travel as JSON.
 * Decoding gives the same types back (bytes parts as Uint8Array views of the message).
 */
export type PartValue = Uint8Array | string | number | bigint | boolean | null | JsonObject | JsonArray;
/** A record: part name (1..255 bytes of UTF-8) -> value. Parts with an `undefined` value are left out. */
export type PartsRecord = Record<string, PartValue>;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function invalid(message: string): ShmbusError {
  return new ShmbusError('ERR_INVALID_ARG', message);
}

function corrupt(message: string): ShmbusError {
  return new ShmbusError('ERR_PARTS_CORRUPT', `not a valid Parts record: ${message}`);
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;
// With the u flag a surrogate pair is one code point, so this matches lone surrogates only (not UTF-8 encodable).
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const wellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);

/** A part ready to be written: its encoded name and value bytes, and where they go. */
interface Planned {
  name: Uint8Array;
  type: number;
  value: Uint8Array; // bytes / string / json: the bytes to copy; numbers: 8 bytes
  nameOffset: number;
  valueOffset: number;
}

interface Plan {
  parts: Planned[];
  dirOffset: number;
  totalSize: number;
}

function isPlainJson(v: object): boolean {
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The encoded bytes and type of one value. */
function encodeValue(name: string, v: unknown): { type: number; value: Uint8Array } {
  if (ArrayBuffer.isView(v)) return { type: PART_TYPES.bytes, value: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
  if (typeof v === 'string') {
    if (!wellFormed(v)) throw invalid(`Parts.encode: part "${name}": the string has a lone surrogate (not encodable as UTF-8)`);
    return { type: PART_TYPES.string, value: utf8.encode(v) };
  }
  if (typeof v === 'number') {
    const value = new Uint8Array(8);
    new DataView(value.buffer).setFloat64(0, v, true);
    return { type: PART_TYPES.float64, value };
  }
  if (typeof v === 'bigint') {
    if (v < INT64_MIN || v > INT64_MAX) throw invalid(`Parts.encode: part "${name}": ${v} is outside int64`);
    const value = new Uint8Array(8);
    new DataView(value.buffer).setBigInt64(0, v, true);
    return { type: PART_TYPES.int64, value };
  }
  if (typeof v === 'boolean' || v === null || (typeof v === 'object' && isPlainJson(v))) {
    let text: string | undefined;
    try {
      text = JSON.stringify(v);
    } catch (e) {
      throw invalid(`Parts.encode: part "${name}": not JSON-serialisable (${(e as Error).message})`);
    }
    if (typeof text !== 'string' || !wellFormed(text)) throw invalid(`Parts.encode: part "${name}": not JSON-serialisable`);
    return { type: PART_TYPES.json, value: utf8.encode(text) };
  }
  const what = typeof v === 'object' ? (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'object' : typeof v;
  throw invalid(`Parts.encode: part "${name}": a ${what} is not a part value (Uint8Array, string, number, bigint, boolean, null, plain object or array)`);
}

/** Checks the record and lays it out (PROTOCOL.md §10 "Writers"): nothing is written yet. */
function plan(record: PartsRecord, what: string): Plan {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) throw invalid(`${what}: needs a record object { name: value, ... }`);
  const parts: Planned[] = [];
  let pos = PARTS_HEADER_SIZE;
  for (const key of Object.keys(record)) {
    const v = record[key];
    if (v === undefined) continue;
    if (!wellFormed(key) || key.includes('\0')) throw invalid(`${what}: part name ${JSON.stringify(key)} is not UTF-8 text without NUL`);
    const name = utf8.encode(key);
    if (name.length < 1 || name.length > PARTS_MAX_NAME) throw invalid(`${what}: part name ${JSON.stringify(key.slice(0, 40))} has ${name.length} bytes (1..${PARTS_MAX_NAME})`);
    const { type, value } = encodeValue(key, v);
    const nameOffset = pos;
    pos = align(nameOffset + name.length + 1, type === PART_TYPES.bytes ? PARTS_BYTES_ALIGN : 8);
    const valueOffset = pos;
    pos = valueOffset + value.length + (type === PART_TYPES.string || type === PART_TYPES.json ? 1 : 0);
    parts.push({ name, type, value, nameOffset, valueOffset });
  }
  if (parts.length > PARTS_MAX_COUNT) throw invalid(`${what}: ${parts.length} parts, more than ${PARTS_MAX_COUNT}`);
  const dirOffset = align(pos, 8);
  const totalSize = dirOffset + PARTS_ENTRY_SIZE * parts.length;
  if (totalSize > 0xffffffff) throw invalid(`${what}: the record would take ${totalSize} bytes, more than a record holds (2^32 - 1)`);
  return { parts, dirOffset, totalSize };
}

function write(target: Uint8Array, p: Plan): void {
  // Padding, reserved and flags are 0 (deterministic bytes): zero only the gaps, the values are written once.
  target.fill(0, 0, PARTS_HEADER_SIZE);
  const dv = new DataView(target.buffer, target.byteOffset, p.totalSize);
  dv.setUint32(PARTS_MAGIC_OFFSET, PARTS_MAGIC, true);
  dv.setUint16(PARTS_VERSION_OFFSET, PARTS_VERSION, true);
  dv.setUint16(PARTS_HEADER_SIZE_OFFSET, PARTS_HEADER_SIZE, true);
  dv.setUint32(PARTS_COUNT_OFFSET, p.parts.length, true);
  dv.setUint32(PARTS_DIR_OFFSET, p.dirOffset, true);
  dv.setUint32(PARTS_TOTAL_SIZE_OFFSET, p.totalSize, true);
  let end = PARTS_HEADER_SIZE;
  p.parts.forEach((part, i) => {
    target.set(part.name, part.nameOffset);
    target.fill(0, part.nameOffset + part.name.length, part.valueOffset); // the name's 0 byte, alignment padding
    target.set(part.value, part.valueOffset);
    end = part.valueOffset + part.value.length;
    if (part.type === PART_TYPES.string || part.type === PART_TYPES.json) target[end++] = 0;
    const e = p.dirOffset + PARTS_ENTRY_SIZE * i;
    target.fill(0, e, e + PARTS_ENTRY_SIZE);
    dv.setUint32(e + PARTS_ENTRY_NAME_OFFSET, part.nameOffset, true);
    dv.setUint16(e + PARTS_ENTRY_NAME_SIZE, part.name.length, true);
    dv.setUint8(e + PARTS_ENTRY_TYPE, part.type);
    dv.setUint32(e + PARTS_ENTRY_VALUE_OFFSET, part.valueOffset, true);
    dv.setUint32(e + PARTS_ENTRY_VALUE_SIZE, part.value.length, true);
  });
  target.fill(0, end, p.dirOffset);
}

function parseJson(text: string, name: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    // Also a RangeError from text nested too deep for this process: refused like any other bad JSON.
    throw corrupt(`part "${name}": json value is not JSON (${(e as Error).message})`);
  }
}

/** Sets part `name` as an own data property: "__proto__" (the one key whose assignment would reach the prototype
 * setter of a plain object) is defined, every other name assigned (several times faster). */
function put(out: PartsRecord, name: string, value: PartValue): void {
  if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  else out[name] = value;
}

/** Strict UTF-8 to a string; short ASCII (most part names) without the TextDecoder call. null if not UTF-8. */
function utf8Text(bytes: Uint8Array): string | null {
  if (bytes.length <= 64) {
    let s = '';
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!;
      if (c >= 0x80) return utf8Slow(bytes);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8Slow(bytes);
}

function utf8Slow(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

export const Parts = {
  /** Bytes `encode(record)` produces (PROTOCOL.md §10). @throws ERR_INVALID_ARG */
  byteLength(record: PartsRecord): number {
    return plan(record, 'Parts.byteLength').totalSize;
  },

  /**
   * The record as one message: each part's name and value in key order, then the directory. Bytes parts are
   * copied once (into the returned array); to write straight into a loan, use {@link Parts.encodeInto}.
   * @throws ERR_INVALID_ARG for a name of 0 or more than 255 bytes, a value of no part type, an int64 out of range
   */
  encode(record: PartsRecord): Uint8Array {
    const p = plan(record, 'Parts.encode');
    const out = new Uint8Array(p.totalSize);
    write(out, p);
    return out;
  },

  /**
   * Writes the record at the start of `target` (a loan's bytes, say) and returns the bytes written. Nothing is
   * written when it throws. @throws ERR_INVALID_ARG, also when `target` is shorter than `byteLength(record)`
   */
  encodeInto(target: Uint8Array, record: PartsRecord): number {
    if (!(target instanceof Uint8Array)) throw invalid('Parts.encodeInto: target must be a Uint8Array (e.g. loan.bytes)');
    const p = plan(record, 'Parts.encodeInto');
    if (target.byteLength < p.totalSize) throw invalid(`Parts.encodeInto: the record needs ${p.totalSize} bytes, the target has ${target.byteLength}`);
    write(target, p);
    return p.totalSize;
  },

  /**
   * Reads a record: every header field, directory entry, name and text is checked (PROTOCOL.md §10 check order)
   * before a value is handed out. Bytes parts are views of `bytes` (no copy: valid as long as `bytes` is, e.g.
   * until the message is released); strings and JSON are decoded copies; int64 parts are bigints. The type
   * parameter states the record you expect (unchecked, as with JSON.parse):
   * `Parts.decode<{ image: Uint8Array; status: bigint }>(m.data).image`.
   * @throws ERR_PARTS_CORRUPT for bytes that are not a valid record; ERR_INVALID_ARG when `bytes` is no Uint8Array
   */
  decode<T extends object = PartsRecord>(bytes: Uint8Array): T {
    if (!(bytes instanceof Uint8Array)) throw invalid('Parts.decode: needs a Uint8Array (e.g. msg.data)');
    const n = bytes.byteLength;
    if (n < PARTS_HEADER_SIZE) throw corrupt(`${n} bytes, less than the ${PARTS_HEADER_SIZE}-byte header`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, n);
    if (dv.getUint32(PARTS_MAGIC_OFFSET, true) !== PARTS_MAGIC) throw corrupt('wrong magic (not a Parts record)');
    const version = dv.getUint16(PARTS_VERSION_OFFSET, true);
    if (version !== PARTS_VERSION) throw corrupt(`version ${version} (this shmbus reads ${PARTS_VERSION})`);
    const headerSize = dv.getUint16(PARTS_HEADER_SIZE_OFFSET, true);
    if (headerSize < PARTS_HEADER_SIZE || headerSize % 8 !== 0) throw corrupt(`header size ${headerSize}`);
    const flags = dv.getUint32(PARTS_FLAGS_OFFSET, true);
    if (flags !== 0) throw corrupt(`unknown flags ${flags}`);
    const count = dv.getUint32(PARTS_COUNT_OFFSET, true);
    if (count > PARTS_MAX_COUNT) throw corrupt(`${count} parts, more than ${PARTS_MAX_COUNT}`);
    const dirOffset = dv.getUint32(PARTS_DIR_OFFSET, true);
    if (dirOffset % 8 !== 0 || dirOffset < headerSize) throw corrupt(`directory offset ${dirOffset}`);
    const totalSize = dv.getUint32(PARTS_TOTAL_SIZE_OFFSET, true);
    if (totalSize !== dirOffset + PARTS_ENTRY_SIZE * count) throw corrupt(`total size ${totalSize}, but the directory ends at ${dirOffset + PARTS_ENTRY_SIZE * count}`);
    if (totalSize > n) throw corrupt(`${totalSize} bytes needed, ${n} given (truncated)`);
    const out: PartsRecord = {};
    const seen = new Set<string>();
    let end = headerSize;
    for (let i = 0; i < count; i++) {
      const e = dirOffset + PARTS_ENTRY_SIZE * i;
      const nameOffset = dv.getUint32(e + PARTS_ENTRY_NAME_OFFSET, true);
      const nameSize = dv.getUint16(e + PARTS_ENTRY_NAME_SIZE, true);
      const type = dv.getUint8(e + PARTS_ENTRY_TYPE);
      const entryFlags = dv.getUint8(e + PARTS_ENTRY_FLAGS);
      const valueOffset = dv.getUint32(e + PARTS_ENTRY_VALUE_OFFSET, true);
      const valueSize = dv.getUint32(e + PARTS_ENTRY_VALUE_SIZE, true);
      const which = `part ${i}`;
      if (entryFlags !== 0) throw corrupt(`${which}: unknown flags ${entryFlags}`);
      if (type < PART_TYPES.bytes || type > PART_TYPES.int64) throw corrupt(`${which}: unknown type ${type}`);
      if (nameSize < 1 || nameSize > PARTS_MAX_NAME) throw corrupt(`${which}: name size ${nameSize}`);
      if (nameOffset < end) throw corrupt(`${which}: name at ${nameOffset} overlaps what comes before (${end})`);
      if (nameOffset + nameSize + 1 > valueOffset) throw corrupt(`${which}: name at ${nameOffset} (+${nameSize}) runs into its value at ${valueOffset}`);
      if (valueOffset % 8 !== 0) throw corrupt(`${which}: value offset ${valueOffset} is not a multiple of 8`);
      const text = type === PART_TYPES.string || type === PART_TYPES.json;
      const valueEnd = valueOffset + valueSize + (text ? 1 : 0);
      if (valueEnd > dirOffset) throw corrupt(`${which}: value at ${valueOffset} (+${valueSize}) runs past the parts (${dirOffset})`);
      if ((type === PART_TYPES.float64 || type === PART_TYPES.int64) && valueSize !== 8) throw corrupt(`${which}: a number of ${valueSize} bytes (8)`);
      if (text && bytes[valueOffset + valueSize] !== 0) throw corrupt(`${which}: text value not followed by its 0 byte`);
      if (bytes[nameOffset + nameSize] !== 0) throw corrupt(`${which}: name not followed by its 0 byte`);
      const nameBytes = bytes.subarray(nameOffset, nameOffset + nameSize);
      if (nameBytes.includes(0)) throw corrupt(`${which}: name holds a 0 byte`);
      const name = utf8Text(nameBytes);
      if (name === null) throw corrupt(`${which}: name is not valid UTF-8`);
      if (seen.has(name)) throw corrupt(`${which}: a second part named "${name}"`);
      seen.add(name);
      const value = bytes.subarray(valueOffset, valueOffset + valueSize);
      switch (type) {
        case PART_TYPES.bytes:
          put(out, name, value);
          break;
        case PART_TYPES.float64:
          put(out, name, dv.getFloat64(valueOffset, true));
          break;
        case PART_TYPES.int64:
          put(out, name, dv.getBigInt64(valueOffset, true));
          break;
        default: {
          const s = utf8Text(value);
          if (s === null) throw corrupt(`part "${name}": text is not valid UTF-8`);
          put(out, name, type === PART_TYPES.string ? s : parseJson(s, name));
        }
      }
      end = valueEnd;
    }
    return out as T;
  },
} as const;
