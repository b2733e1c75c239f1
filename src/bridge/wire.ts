/**
 * What a bridged message carries on NATS besides its payload: the header names (docs/bridge.md lists them) and
 * the chunking of messages larger than the server's max_payload.
 */
import { randomBytes } from 'node:crypto';
import { headers, type MsgHdrs } from 'nats';

/** NATS header names set by the bridge. */
export const H = {
  /** The host id of the bridge that took the message off its local channel: a bridge drops its own. */
  origin: 'Shmbus-Origin',
  /** A random id per bridge run: per-message numbers restart with it. */
  run: 'Shmbus-Run',
  /** Topic: the message's number in the sender's outgoing stream (messages lost before NATS count too). */
  n: 'Shmbus-N',
  /** "k/total" on each chunk of a message larger than max_payload (k from 0). */
  chunk: 'Shmbus-Chunk',
  /** Queue: the end of the stream. */
  end: 'Shmbus-End',
  /** Queue record sent as a string (the receiving queue keeps the text flag). */
  text: 'Shmbus-Text',
  /** Queue: "<epoch>.<n>", the sender's id of the (first) record in the message: the receiver's dedup key. */
  id: 'Shmbus-Id',
  /** Queue: the message packs this many records (packRecords). */
  pack: 'Shmbus-Pack',
  /** Sender's channel sizes, so that the receiving bridge can create a like-sized channel. */
  capacity: 'Shmbus-Capacity',
  maxMessageSize: 'Shmbus-Max-Message-Size',
  slots: 'Shmbus-Slots',
  /** Topic: commit time of the message on the sending host (ms since the epoch): the receiver's lag. */
  time: 'Shmbus-Time',
  /** Rpc: random id of a chunked request or response (hex); the chunks of one transfer carry the same. */
  transfer: 'Shmbus-Transfer',
  /** Rpc: the subject of the bridge that holds a chunked transfer (its own inbox): the other chunks go there. */
  direct: 'Shmbus-Direct',
  /** Rpc: the error code and message of a failed call. */
  error: 'Shmbus-Error',
  message: 'Shmbus-Message',
} as const;

/** Room left for headers (NATS counts them in max_payload). */
export const HEADER_ROOM = 4096;

/** The payload bytes that fit in one NATS message under `maxPayload`. */
export function chunkLimit(maxPayload: number): number {
  return Math.max(1024, maxPayload - HEADER_ROOM);
}

/** A random transfer id (Shmbus-Transfer; Mailbox part keys). */
export function transferId(): string {
  return randomBytes(8).toString('hex');
}

/** Parses a Shmbus-Transfer header (16 hex digits), or undefined. */
export function transferHeader(h: MsgHdrs | undefined): string | undefined {
  const v = h?.get(H.transfer);
  return v && /^[0-9a-f]{16}$/.test(v) ? v : undefined;
}

/**
 * The fewest bytes a chunked message of `total` chunks whose first chunk is `first` bytes can hold (every chunk
 * but the last is that size, the last at least one byte): what a receiver checks against its cap before taking it.
 */
export function chunkedAtLeast(total: number, first: number): number {
  return total <= 1 ? first : (total - 1) * first + 1;
}

/** Views of `data` of at most `limit` bytes each (one view, possibly empty, when it fits). */
export function split(data: Uint8Array, limit: number): Uint8Array[] {
  if (data.length <= limit) return [data];
  const out: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += limit) out.push(data.subarray(o, Math.min(data.length, o + limit)));
  return out;
}

/** Headers with the given fields (undefined values left out). */
export function makeHeaders(fields: Record<string, string | number | undefined>): MsgHdrs {
  const h = headers();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) h.set(k, String(v));
  return h;
}

/** A header as a non-negative integer, or undefined when absent or malformed (headers come from the network). */
export function intHeader(h: MsgHdrs | undefined, name: string): number | undefined {
  const v = h?.get(name);
  if (!v || !/^\d{1,15}$/.test(v)) return undefined;
  return Number(v);
}

/** Parses "k/total" (0 <= k < total <= 65536), or undefined. */
export function chunkHeader(h: MsgHdrs | undefined): { k: number; total: number } | undefined {
  const v = h?.get(H.chunk);
  const m = v ? /^(\d{1,5})\/(\d{1,5})$/.exec(v) : null;
  if (!m) return undefined;
  const k = Number(m[1]);
  const total = Number(m[2]);
  return k < total && total <= 65536 ? { k, total } : undefined;
}

/** What a reassembly allocates at first at most; a larger message grows it by doubling (chunk headers are untrusted). */
const FIRST_ALLOCATION = 8 << 20;

/**
 * Puts chunked messages back together, one message at a time per key (a sender's chunks arrive in order on one
 * subject). Each chunk is copied once, into the message's buffer (split() makes every chunk but the last the same
 * size, so chunk k goes at k * size). A chunk that does not continue the message in hand abandons it.
 */
export class Reassembly {
  #buf: Uint8Array | null = null;

  /**
   * @param spare when given, the buffer of a finished message goes there and the next message that fits (of any
   * Reassembly sharing it) takes it: the message returned is then overwritten by a later one, for a caller that
   * copies it at once (e.g. into a ring). No allocation and no page faults per message; one buffer for all senders.
   */
  constructor(private readonly spare?: { buf: Uint8Array | null }) {}

  #length = 0;
  #next = 0;
  #total = 0;
  #size = 0;
  #id = '';

  /** Adds chunk k of `total` of message `id`; returns the whole message once its last chunk came, else null. */
  add(id: string, k: number, total: number, bytes: Uint8Array): Uint8Array | null {
    const last = k === total - 1;
    if (k === 0) {
      this.#id = id;
      this.#total = total;
      this.#size = bytes.length;
      this.#length = 0;
      const want = Math.min(total * bytes.length, Math.max(FIRST_ALLOCATION, bytes.length));
      const spare = this.spare?.buf;
      if (spare && spare.length >= want) {
        this.#buf = spare;
        this.spare!.buf = null;
      } else this.#buf = new Uint8Array(want);
    } else if (this.#buf === null || id !== this.#id || total !== this.#total || k !== this.#next || (last ? bytes.length > this.#size : bytes.length !== this.#size)) {
      this.#buf = null;
      this.#id = '';
      return null;
    }
    let buf = this.#buf!;
    const end = this.#length + bytes.length;
    if (end > buf.length) {
      // Grown by doubling, up to what the chunks still to come can hold at most.
      const grown = new Uint8Array(Math.max(end, Math.min(2 * buf.length, total * this.#size)));
      grown.set(buf.subarray(0, this.#length));
      buf = this.#buf = grown;
    }
    buf.set(bytes, this.#length);
    this.#length = end;
    this.#next = k + 1;
    if (!last) return null;
    this.#buf = null;
    this.#id = '';
    if (this.spare) this.spare.buf = buf;
    return buf.subarray(0, end);
  }

  /** True while part of a message is held. */
  get partial(): boolean {
    return this.#buf !== null;
  }
}

/** A queue record in a pack. */
export interface PackedRecord {
  data: Uint8Array;
  text: boolean;
}

/** Bytes of framing per packed record: u32 flags (bit 0: text), u32 length. */
export const PACK_OVERHEAD = 8;

/** Several queue records in one NATS message: per record u32 flags, u32 length, the bytes (little-endian). */
export function packRecords(records: PackedRecord[]): Uint8Array {
  const out = new Uint8Array(records.reduce((a, r) => a + PACK_OVERHEAD + r.data.length, 0));
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const r of records) {
    dv.setUint32(o, r.text ? 1 : 0, true);
    dv.setUint32(o + 4, r.data.length, true);
    out.set(r.data, o + PACK_OVERHEAD);
    o += PACK_OVERHEAD + r.data.length;
  }
  return out;
}

/** Unpacks `count` records (views of `bytes`); null when the bytes do not hold exactly that (they come from the network). */
export function unpackRecords(bytes: Uint8Array, count: number): PackedRecord[] | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: PackedRecord[] = [];
  let o = 0;
  for (let i = 0; i < count; i++) {
    if (o + PACK_OVERHEAD > bytes.length) return null;
    const flags = dv.getUint32(o, true);
    const len = dv.getUint32(o + 4, true);
    if (len > bytes.length - o - PACK_OVERHEAD) return null;
    out.push({ data: bytes.subarray(o + PACK_OVERHEAD, o + PACK_OVERHEAD + len), text: (flags & 1) !== 0 });
    o += PACK_OVERHEAD + len;
  }
  return o === bytes.length ? out : null;
}

/** Parses "<epoch>.<n>" (the Shmbus-Id header), or undefined. */
export function idHeader(h: MsgHdrs | undefined): { epoch: string; n: number } | undefined {
  const m = /^([0-9a-f]{1,16})\.(\d{1,15})$/.exec(h?.get(H.id) ?? '');
  return m ? { epoch: m[1]!, n: Number(m[2]) } : undefined;
}
