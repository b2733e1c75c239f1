/**
 * What the bridge relays and under which NATS names: channel specs ("LOCAL[=REMOTE][:in|:out]") and the one
 * mapping from a channel to its subject, JetStream stream, consumer and key-value key (docs/bridge.md).
 */
import { createHash } from 'node:crypto';
import { ShmbusError } from '../errors.js';
import { validateName } from '../protocol/names.js';

/** Which way a channel is relayed: `out` local -> NATS, `in` NATS -> local, `both`. */
export type BridgeDirection = 'in' | 'out' | 'both';

/** The kinds of channel a bridge relays. */
export type BridgeKind = 'topic' | 'queue' | 'mailbox' | 'rpc';

/**
 * One relayed channel. `local` is the shmbus name on this host, `remote` the name on NATS (default: `local`), so
 * two hosts may use different local names for one remote channel.
 */
export interface BridgeChannel {
  /** The shmbus name on this host. */
  local: string;
  /** The name on NATS (the last tokens of the subject; default: `local`). */
  remote?: string;
  /**
   * Topic and Mailbox: `both` (default), `in` or `out`. Queue: `out` (drain the local queue into JetStream) or `in`
   * (fill the local queue from JetStream); required. Rpc: `in` (remote callers reach the local service) or `out`
   * (local callers reach remote services); required.
   */
  direction?: BridgeDirection;
}

/** A resolved channel: every field set. */
export interface ResolvedChannel {
  kind: BridgeKind;
  local: string;
  remote: string;
  direction: BridgeDirection;
}

const SPEC = /^([A-Za-z0-9._-]+)(?:=([A-Za-z0-9._-]+))?(?::(in|out|both))?$/;

/**
 * Parses "LOCAL[=REMOTE][:in|:out|:both]" (the CLI's form) or checks a {@link BridgeChannel}.
 * @throws ERR_INVALID_ARG for a malformed spec or a direction the kind does not allow; ERR_INVALID_NAME
 */
export function resolveChannel(kind: BridgeKind, spec: string | BridgeChannel): ResolvedChannel {
  let local: string;
  let remote: string | undefined;
  let direction: string | undefined;
  if (typeof spec === 'string') {
    const m = SPEC.exec(spec);
    if (!m) {
      throw new ShmbusError('ERR_INVALID_ARG', `bad ${kind} spec ${JSON.stringify(spec)}: use LOCAL[=REMOTE][:in|:out]`);
    }
    [, local, remote, direction] = m as unknown as [string, string, string | undefined, string | undefined];
  } else if (spec !== null && typeof spec === 'object' && typeof spec.local === 'string') {
    ({ local, remote, direction } = spec);
  } else {
    throw new ShmbusError('ERR_INVALID_ARG', `a ${kind} must be a spec string or { local, remote?, direction? }`);
  }
  validateName(local);
  validateName(remote ?? local);
  if (direction !== undefined && direction !== 'in' && direction !== 'out' && direction !== 'both') {
    throw new ShmbusError('ERR_INVALID_ARG', `${kind} ${local}: direction must be in, out or both (got ${JSON.stringify(direction)})`);
  }
  if ((kind === 'queue' || kind === 'rpc') && (direction === undefined || direction === 'both')) {
    // A queue drained into NATS and filled from it on one host would take back its own records; an Rpc served and
    // called through the bridge on one host would call itself. One way only, said explicitly.
    const hint = kind === 'queue' ? ':out (local senders) or :in (local receivers)' : ':in (the service runs here) or :out (its callers run here)';
    throw new ShmbusError('ERR_INVALID_ARG', `${kind} ${local}: say which way, ${local}${hint}`);
  }
  return { kind, local, remote: remote ?? local, direction: (direction ?? 'both') as BridgeDirection };
}

/** NATS subject of a channel: `<prefix>.<kind>.<remote>` (dots in the name become subject tokens). */
export function subjectOf(prefix: string, c: ResolvedChannel): string {
  return `${prefix}.${c.kind}.${c.remote}`;
}

/**
 * A JetStream-safe identifier for a name (streams, consumers and buckets allow [A-Za-z0-9_-]): the name with other
 * characters replaced, plus 8 hex digits of its hash so that "a.b" and "a_b" stay apart.
 */
export function natsIdent(name: string): string {
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 120)}_${hash}`;
}

/** The stream holding a bridged queue's records. */
export function streamOf(prefix: string, c: ResolvedChannel): string {
  return `SHMBUS_Q_${natsIdent(`${prefix}.${c.remote}`)}`;
}

/** Checks a subject prefix: NATS tokens of [A-Za-z0-9_-] separated by dots. */
export function validatePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix) || prefix.length > 100) {
    throw new ShmbusError('ERR_INVALID_ARG', `prefix must be dot-separated tokens of A-Z a-z 0-9 _ - (got ${JSON.stringify(prefix)})`);
  }
  return prefix;
}
