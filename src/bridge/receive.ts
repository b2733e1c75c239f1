/**
 * The bridge's NATS connection receives large messages into one buffer of their size. Why (issue 16, round 7):
 * the `nats` client's parser collects a message that spans several socket reads (64 KiB each) in a buffer that
 * starts at the first read's size and doubles as reads come: for a 2.7 MB frame six allocations, about 6.7 MB
 * allocated and 3.6 MB copied on top of the message itself, and the external memory drives V8 into a major GC every
 * few frames. The receiving bridge of 2.7 MB frames at 150/s was the process that fell behind.
 *
 * This wraps the parser's parse() on the bridge's own connection (never the client's classes, so other
 * connections of the process are untouched): once a message's payload has begun, its buffer is grown once to the
 * size the protocol line announced (bounded by the server's max_payload). It uses the client's internals
 * (`nats` 2.x: protocol.parser, parser.msgBuf/ma, DenoBuffer.grow); when they are not there it does nothing.
 */
import type { NatsConnection } from 'nats';

interface BufLike {
  readonly length: number;
  readonly capacity: number;
  grow(n: number): void;
}
interface ParserLike {
  parse(buf: Uint8Array): void;
  msgBuf?: BufLike;
  ma?: { size?: unknown };
}

function presize(parser: unknown): unknown {
  const p = parser as Partial<ParserLike> | null;
  if (!p || typeof p.parse !== 'function') return parser;
  const parse = p.parse;
  p.parse = function (this: ParserLike, buf: Uint8Array): void {
    parse.call(this, buf);
    const mb = this.msgBuf;
    const size = this.ma?.size;
    if (mb && typeof size === 'number' && typeof mb.grow === 'function' && mb.capacity < size) mb.grow(size - mb.length);
  };
  return parser;
}

/** Makes `nc` receive large messages into one buffer each (its parser is replaced at each reconnect: so is this). */
export function presizeReceives(nc: NatsConnection): boolean {
  const proto = (nc as unknown as { protocol?: Record<string, unknown> }).protocol;
  if (!proto || typeof proto !== 'object' || !('parser' in proto)) return false;
  const desc = Object.getOwnPropertyDescriptor(proto, 'parser');
  if (!desc || !desc.writable || !desc.configurable) return false;
  let current = presize(proto['parser']);
  Object.defineProperty(proto, 'parser', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (v: unknown) => {
      current = presize(v);
    },
  });
  return true;
}
