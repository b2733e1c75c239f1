/**
 * The topic relay's own publish path: NATS HPUB frames (protocol line, headers, payload) written straight to the
 * `nats` client's socket, in order after whatever the client itself holds, the payload as views of the bridge's
 * read buffer. Why (issue 16, round 7): `nc.publish` queues the pieces and, a microtask later, concatenates them
 * into a fresh buffer for the socket: for a 2.7 MB frame a fresh 2.7 MB array (page faults, a copy, and a major GC
 * every few frames driven by the external memory), and for every small message a microtask turn before the write.
 * Profiled relaying 2.7 MB frames at 150/s, that concatenation was the `:out` bridge's largest cost.
 *
 * This uses the client's internals (its protocol handler and transport, `nats` 2.x). `RawOut.of` checks they are
 * there and returns null otherwise: the bridge then publishes through the client (same bytes on the wire).
 */
import type { NatsConnection } from 'nats';
import { ShmbusError } from '../errors.js';

/** What this file uses of the client's transport (node_transport.ts in `nats` 2.x). */
interface TransportLike {
  readonly isClosed: boolean;
  /** Writes to the socket; resolves once the socket took the bytes (its write callback). */
  _send(frame: Uint8Array): Promise<void>;
}

/** What this file uses of the client's protocol handler (protocol.ts in `nats` 2.x). */
interface ProtocolLike {
  connected: boolean;
  infoReceived: boolean;
  info?: { max_payload?: number; headers?: boolean };
  transport: TransportLike | undefined;
  outbound: { size(): number };
  /** Writes what the client holds (its own publishes, PINGs) to the transport now. */
  flushPending(): void;
  outMsgs: number;
  outBytes: number;
}

function protocolOf(nc: NatsConnection): ProtocolLike | null {
  const p = (nc as unknown as { protocol?: Partial<ProtocolLike> }).protocol;
  if (!p || typeof p !== 'object') return null;
  if (typeof p.flushPending !== 'function' || typeof p.outbound?.size !== 'function') return null;
  if (typeof p.connected !== 'boolean' || typeof p.outMsgs !== 'number' || typeof p.outBytes !== 'number') return null;
  const t = p.transport as Partial<TransportLike> | undefined;
  if (!t || typeof t._send !== 'function' || typeof t.isClosed !== 'boolean') return null;
  return p as ProtocolLike;
}

const CRLF = new Uint8Array([13, 10]);
/** A failed write surfaces as a disconnect of the client (it reconnects); the relay only waits for the socket. */
const ignore = (): void => undefined;
/**
 * Chunks of at most this many bytes are copied into their frame, written in one piece: the caller may reuse their
 * bytes at once. A larger chunk is written from where it lies (no copy) until the returned promise resolves.
 */
export const COPIED_UP_TO = 64 << 10;

/** Header lines of a bridged message: "Name: value\r\n" each (the NATS/1.0 line and the blank line are added here). */
export type HeaderLines = string;

/** `Name: value\r\n` for each defined field (values are ASCII: numbers, host ids, hex; checked by their producers). */
export function headerLines(fields: Record<string, string | number | undefined>): HeaderLines {
  let s = '';
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) s += `${k}: ${v}\r\n`;
  return s;
}

export class RawOut {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly p: ProtocolLike,
  ) {}

  /** The raw path on this connection, or null when the client's internals are not what this file expects. */
  static of(nc: NatsConnection): RawOut | null {
    // SHMBUS_BRIDGE_RAW=0: publish through the client (the fallback, which the tests run this way).
    if (process.env['SHMBUS_BRIDGE_RAW'] === '0') return null;
    const p = protocolOf(nc);
    return p ? new RawOut(nc, p) : null;
  }

  /**
   * True when a frame written now goes to the server: connected, handshake done, transport open. (While the client
   * reconnects it would buffer its own publishes; the relay drops and counts instead, so this says no.)
   */
  get ready(): boolean {
    const p = this.p;
    return p.connected && p.infoReceived && p.transport !== undefined && !p.transport.isClosed && !this.nc.isClosed();
  }

  /** The server's max_payload (headers included). */
  get maxPayload(): number {
    return this.p.info?.max_payload ?? 1 << 20;
  }

  /**
   * Publishes `chunks` (one NATS message each, in order) on `subject`, chunk k with headers `common` + `perChunk(k)`.
   * Call only when `ready`. Resolves once the socket took every byte: until then the chunks' bytes must stay as they
   * are (they are written from where they lie). Throws ERR_MESSAGE_TOO_LARGE, with nothing written, when a chunk does
   * not fit in max_payload.
   */
  publish(subject: string, chunks: Uint8Array[], common: HeaderLines, perChunk?: (k: number) => HeaderLines): Promise<unknown> {
    const p = this.p;
    const t = p.transport!;
    const max = this.maxPayload;
    // What the client holds goes first (order on the connection).
    if (p.outbound.size() > 0) p.flushPending();
    let done: Promise<unknown> = Promise.resolve();
    let bytes = 0;
    let total = 0;
    for (const c of chunks) total += c.length;
    // Small messages are copied into one frame each; a large one is written from where it lies: per chunk its
    // protocol line and headers (after the previous chunk's CRLF), then the chunk itself. The socket batches what
    // it cannot write at once into one writev.
    const copy = total <= COPIED_UP_TO;
    // Every line first, checked against max_payload before anything is written (no half-sent message).
    const lines: string[] = [];
    for (let k = 0; k < chunks.length; k++) {
      const headers = `NATS/1.0\r\n${common}${perChunk ? perChunk(k) : ''}\r\n`;
      const len = headers.length + chunks[k]!.length; // headers are ASCII
      if (len > max) throw new ShmbusError('ERR_MESSAGE_TOO_LARGE', `a ${len}-byte NATS message exceeds the server's max_payload ${max}`);
      lines.push(`${k > 0 && !copy ? '\r\n' : ''}HPUB ${subject} ${headers.length} ${len}\r\n${headers}`);
      bytes += len;
    }
    for (let k = 0; k < chunks.length; k++) {
      const data = chunks[k]!;
      const line = lines[k]!;
      if (copy) {
        const frame = Buffer.allocUnsafe(line.length + data.length + 2);
        frame.write(line, 0, 'latin1');
        frame.set(data, line.length);
        frame.set(CRLF, line.length + data.length);
        done = t._send(frame).catch(ignore);
      } else {
        t._send(Buffer.from(line, 'latin1')).catch(ignore);
        t._send(data).catch(ignore);
      }
    }
    if (!copy) done = t._send(CRLF).catch(ignore);
    p.outMsgs += chunks.length;
    p.outBytes += bytes;
    return done;
  }
}
