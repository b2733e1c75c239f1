/**
 * The convention every test vector follows (test/vectors/<name>.json beside <name>.bin), so that an
 * implementation in any language can check itself against the vectors with one generic reader: the bytes are
 * described by typed fields at offsets, and what an implementation must observe is a list of operations with
 * their expected results, all JSON values. Prose is informative only and lives in `description` and `notes`.
 * scripts/gen-vectors.mjs validates each vector with {@link validateVector} before writing it;
 * test/unit/segment/vectors.test.ts validates them again, checks every field against the bytes and runs every
 * `expect` step. The operations are listed in {@link OPS}; test/vectors/README.md says the same for peers.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A little-endian integer at a byte offset of the .bin (u64 values are below 2^53). */
export interface VectorField {
  name: string;
  offset: number;
  type: 'u8' | 'u16' | 'u32' | 'i32' | 'u64';
  value: number;
}

/** One observation: run `op` with `args`; it must give `result` (deep-equal; objects: the keys listed). */
export interface VectorStep {
  op: string;
  args?: { [key: string]: Json };
  result: Json;
}

export interface Vector {
  /** The file stem: the bytes are `<vector>.bin`. */
  vector: string;
  /** PROTOCOL.md version the bytes follow. */
  protocolVersion: number;
  /** PROTOCOL.md section(s) that define the bytes, e.g. "2" or "5". */
  section: string;
  /** How the bytes were made: informative prose, never an outcome. */
  description: string;
  /** Length of the .bin in bytes. */
  size: number;
  /**
   * How to map the bytes: as a segment header (`header`), or as the payload of a segment of `kind` whose header
   * params are `params` (a peer creates such a segment, copies the bytes in, and opens it as that kind), or as
   * one message of a codec (`message`: the bytes are what a channel carries; decode them with `codec`).
   */
  map: { as: 'header' } | { as: 'payload'; kind: string; params: number[] } | { as: 'message'; codec: string };
  /** Byte-level facts: each field reads as its value. */
  fields: VectorField[];
  /** Observations through the implementation's API, in order. */
  expect: VectorStep[];
  /** Informative prose. */
  notes?: string[];
  /** Kind-specific data (numbers, arrays, objects; strings only as identifiers or message text). */
  [data: string]: unknown;
}

/**
 * The operations `expect` may use, per mapping ("header", or the payload kind). A result `null` means "nothing"
 * (an empty queue, no record). Message results are `{ text }` (UTF-8 text) or `{ bytes: number[] }`.
 */
export const OPS: Record<string, Record<string, string>> = {
  header: {
    decodeHeader: 'decode the 128 bytes; result: the header fields (kind, version, state, headerSize, totalSize, payloadSize, creatorPid, creatorStartTime, createdAt, params: all 16)',
    reencode: 'encode the decoded header again (state as decoded); result: true when the bytes are identical',
  },
  queue: {
    tryReceive: 'take one message without waiting; result: { text } | { bytes } | null',
    trySend: 'args { text }: send without waiting; result: whether it was sent',
    stats: 'result: the listed counters (e.g. { abandoned })',
  },
  frame: {
    decode: 'Frame.decode the bytes; result: { width, height, channels, dtype, format, stride, timestampMicros, data: the samples as numbers }',
    reencode: 'Frame.encode the decoded frame again; result: true when the bytes are identical',
  },
  parts: {
    decode: 'Parts.decode the bytes; result: { count, totalSize, parts: [{ name, type, nameOffset, valueOffset, size, value }] } in directory order (value: bytes as numbers, text, parsed JSON, float64 number, int64 as decimal text)',
    decodeFrame: 'args { part }: Frame.decode the bytes part of that name in place; result: { width, height, channels, dtype, format, stride, data: the samples }',
    reencode: 'Parts.encode the decoded parts again, in order; result: true when the bytes are identical',
  },
  topic: {
    subscribe: 'args { id, from: "oldest" | "latest" }: a subscriber named id; result: null',
    tryRead: 'args { id }: read one record without waiting; result: { seq, size, timestampMicros, bytes } | null',
    lost: 'args { id }: result: the records subscriber id has lost',
    publish: 'args { text }: result: the seq it got',
  },
};

const PROSE_KEYS = new Set(['description', 'notes']);

/** Strings outside `description`/`notes` (and message `text`) must be identifiers or data: no whitespace. */
function proseIn(value: unknown, path: string, out: string[]): void {
  if (typeof value === 'string') {
    if (/\s/.test(value) && !path.endsWith('.text')) out.push(`${path}: prose ${JSON.stringify(value.slice(0, 40))}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => proseIn(v, `${path}[${i}]`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (!PROSE_KEYS.has(k)) proseIn(v, `${path}.${k}`, out);
  }
}

/** Problems of `v` against the convention (empty when it follows it). */
export function validateVector(v: unknown, stem?: string): string[] {
  const p: string[] = [];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return ['not an object'];
  const o = v as Record<string, unknown>;
  const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (typeof o['vector'] !== 'string' || (stem !== undefined && o['vector'] !== stem)) p.push(`vector must be the file stem ${stem ?? ''}`);
  if (!isInt(o['protocolVersion']) || o['protocolVersion'] < 1) p.push('protocolVersion: a positive integer');
  if (typeof o['section'] !== 'string') p.push('section: a string');
  if (typeof o['description'] !== 'string') p.push('description: a string');
  if (!isInt(o['size'])) p.push('size: an integer');
  const map = o['map'] as Record<string, unknown> | undefined;
  let opsKey: string | undefined;
  if (map?.['as'] === 'header') opsKey = 'header';
  else if (map?.['as'] === 'payload' && typeof map['kind'] === 'string' && Array.isArray(map['params']) && map['params'].every(isInt)) {
    opsKey = map['kind'];
  } else if (map?.['as'] === 'message' && typeof map['codec'] === 'string') opsKey = map['codec'];
  else p.push('map: { as: "header" }, { as: "payload", kind, params: integers } or { as: "message", codec }');
  if (!Array.isArray(o['fields']) || o['fields'].length === 0) p.push('fields: a non-empty array');
  else {
    for (const f of o['fields'] as Record<string, unknown>[]) {
      const width = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 }[f['type'] as string];
      if (typeof f['name'] !== 'string' || !isInt(f['offset']) || width === undefined || typeof f['value'] !== 'number' || !Number.isSafeInteger(f['value'])) {
        p.push(`field ${JSON.stringify(f)}: { name, offset, type: u8|u16|u32|i32|u64, value: integer }`);
      } else if (f['offset'] % width !== 0) p.push(`field ${f['name']}: offset ${f['offset']} not aligned to ${width}`);
      else if (isInt(o['size']) && f['offset'] + width > o['size']) p.push(`field ${f['name']}: beyond the ${o['size']} bytes`);
    }
  }
  if (!Array.isArray(o['expect']) || o['expect'].length === 0) p.push('expect: a non-empty array of steps');
  else {
    const ops = opsKey === undefined ? undefined : OPS[opsKey];
    if (opsKey !== undefined && ops === undefined) p.push(`no operations defined for ${opsKey} (add them to OPS)`);
    for (const s of o['expect'] as Record<string, unknown>[]) {
      if (typeof s['op'] !== 'string' || !('result' in s)) p.push(`step ${JSON.stringify(s)}: { op, args?, result }`);
      else if (ops !== undefined && !(s['op'] in ops)) p.push(`step op ${s['op']}: not one of ${Object.keys(ops).join(', ')}`);
    }
  }
  if (o['notes'] !== undefined && !(Array.isArray(o['notes']) && o['notes'].every((n) => typeof n === 'string'))) p.push('notes: strings');
  proseIn(o, '', p);
  return p;
}

/** Reads a field's integer from the bytes (little-endian). */
export function readField(bytes: Uint8Array, f: VectorField): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (f.type) {
    case 'u8':
      return dv.getUint8(f.offset);
    case 'u16':
      return dv.getUint16(f.offset, true);
    case 'u32':
      return dv.getUint32(f.offset, true);
    case 'i32':
      return dv.getInt32(f.offset, true);
    case 'u64':
      return Number(dv.getBigUint64(f.offset, true));
  }
}
