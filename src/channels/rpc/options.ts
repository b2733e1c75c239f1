/** Options of Rpc.serve and Rpc.connect, their defaults and their checking. */
import { ShmbusError } from '../../errors.js';
import { intOption, invalidArg, livenessOption, optionsObject } from '../../base/options.js';
import { validateSpin } from '../../base/spin.js';
import { RPC_MAX_WORKERS, RPC_REQUEST_HEADER_SIZE, RPC_RESPONSE_HEADER_SIZE } from '../../protocol/layout.js';
import { resolveCodec, type Codec, type CodecOption } from '../codec.js';
import { defaultSlots, validateRingOptions } from '../queue.js';
import type { RpcRequest } from './messages.js';

/** Largest request (and, by default, response) in bytes when the creating server does not say. */
export const DEFAULT_MAX_MESSAGE_SIZE = 65536;
/** Request ring slots: 16 x 64 KiB = a 1.0 MiB service by default. */
export const DEFAULT_REQUEST_SLOTS = 16;
/** Response queue slots of a client: 4 x 64 KiB = 0.25 MiB per client by default. */
export const DEFAULT_RESPONSE_SLOTS = 4;
/** Default ms between liveness checks (a waiting client of its servers, a blocked worker of its client). */
export const DEFAULT_LIVENESS_INTERVAL = 50;
/** Microseconds a waiting side spins before sleeping (Queue's default too). */
export const DEFAULT_SPIN_US = 50;
/** Largest payload (the queue's largest slot, less the rpc header). */
const MAX_MESSAGE_SIZE = (1 << 30) - RPC_REQUEST_HEADER_SIZE;

/** Options of {@link Rpc.serve}. */
export interface RpcServeOptions<Req = Uint8Array, Res = Uint8Array | string> {
  /** Requests handled at once by this process (concurrent handler calls). Default 1; at most 64 per service. */
  workers?: number;
  /**
   * Largest request payload in bytes (default 65536). Used when this server creates the service; a service that
   * exists keeps its size (a dead one with other sizes is replaced).
   */
  maxMessageSize?: number;
  /**
   * Slots of the request queue (a power of two). Default 16, fewer for very large messages (the queue stays within
   * 32 MiB). Used when this server creates the service.
   */
  slots?: number;
  /** Permission bits of the service segment; default 0o600. */
  mode?: number;
  /** Microseconds to spin before sleeping while waiting for requests (default 50). */
  spin?: number;
  /**
   * Milliseconds between checks, while a worker waits on a client's full response queue, that the client lives
   * (default 50). Also the lock's liveness interval.
   */
  livenessInterval?: number;
  /** Decodes requests (`req.value`) and encodes what the handler returns: 'json', 'v8' or a {@link Codec}. */
  codec?: CodecOption<Req | Res>;
  /**
   * false: zero-copy requests. `req.data` is a view of the request's slot in the service's queue (no copy); the
   * slot stays taken until the answer is sent, so at most `slots` requests are in hand at once across all workers.
   * Default true (each worker copies the request out and frees the slot at once).
   */
  copy?: boolean;
  /**
   * Called when a handler throws or rejects (after the caller was sent ERR_REMOTE), with the request (valid only
   * during this call). The failure is also counted in `stats().failed`. An onError that throws is reported as a
   * process warning.
   */
  onError?: (error: unknown, request: RpcRequest<Req>) => void;
}

/** Options of {@link Rpc.connect}. */
export interface RpcConnectOptions<Req = Uint8Array | string, Res = Uint8Array> {
  /** Largest response payload in bytes this client accepts. Default: the service's maxMessageSize. */
  maxMessageSize?: number;
  /** Slots of this client's response queue (a power of two). Default 4, fewer for very large messages. */
  slots?: number;
  /** Permission bits of the response queue; default 0o600. */
  mode?: number;
  /** Microseconds to spin before sleeping while waiting for a response (default 50). */
  spin?: number;
  /**
   * Milliseconds between checks, while requests are pending, that the servers live (default 50): a request whose
   * server died fails with ERR_NO_SERVER within about this long.
   */
  livenessInterval?: number;
  /** Encodes requests and decodes responses (`res.value`): 'json', 'v8' or a {@link Codec}. */
  codec?: CodecOption<Req | Res>;
}

function sizeOption(value: unknown, fallback: number): number {
  return intOption('maxMessageSize', value, 1, MAX_MESSAGE_SIZE, fallback);
}

export interface ServeSettings<Req, Res> {
  workers: number;
  slots: number;
  /** Ring slot size (header + largest payload). */
  slotSize: number;
  mode: number | undefined;
  spin: number | undefined;
  livenessInterval: number;
  codec: Codec<Req | Res> | undefined;
  onError: ((error: unknown, request: RpcRequest<Req>) => void) | undefined;
  /** Requests are views of their slots (serve option copy: false). */
  zeroCopy: boolean;
}

export function serveSettings<Req, Res>(options: RpcServeOptions<Req, Res> | undefined): ServeSettings<Req, Res> {
  const o = optionsObject(options, 'Rpc.serve');
  const workers = intOption('workers', o.workers, 1, RPC_MAX_WORKERS, 1);
  const size = sizeOption(o.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
  const { slots, slotSize } = validateRingOptions(o.slots ?? defaultSlots(size, DEFAULT_REQUEST_SLOTS), size + RPC_REQUEST_HEADER_SIZE);
  validateSpin(o.spin, 0);
  if (o.onError !== undefined && typeof o.onError !== 'function') throw invalidArg('onError', 'a function', o.onError);
  if (o.copy !== undefined && typeof o.copy !== 'boolean') throw invalidArg('copy', 'a boolean', o.copy);
  return {
    workers,
    slots,
    slotSize,
    mode: o.mode,
    spin: o.spin,
    livenessInterval: livenessOption(o.livenessInterval, DEFAULT_LIVENESS_INTERVAL),
    codec: resolveCodec(o.codec),
    onError: o.onError,
    zeroCopy: o.copy === false,
  };
}

export interface ConnectSettings<Req, Res> {
  /** Response payload size, undefined = the service's. */
  maxMessageSize: number | undefined;
  slots: number | undefined;
  mode: number | undefined;
  spin: number | undefined;
  livenessInterval: number;
  codec: Codec<Req | Res> | undefined;
}

export function connectSettings<Req, Res>(options: RpcConnectOptions<Req, Res> | undefined): ConnectSettings<Req, Res> {
  const o = optionsObject(options, 'Rpc.connect');
  const size = o.maxMessageSize === undefined ? undefined : sizeOption(o.maxMessageSize, 0);
  if (o.slots !== undefined) validateRingOptions(o.slots, (size ?? 1) + RPC_RESPONSE_HEADER_SIZE);
  validateSpin(o.spin, 0);
  return {
    maxMessageSize: size,
    slots: o.slots,
    mode: o.mode,
    spin: o.spin,
    livenessInterval: livenessOption(o.livenessInterval, DEFAULT_LIVENESS_INTERVAL),
    codec: resolveCodec(o.codec),
  };
}

export function notFunction(got: unknown): ShmbusError {
  return invalidArg('Rpc.serve handler', 'a function', got);
}
