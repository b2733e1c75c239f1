/**
 * The bridge's status: a JSON value in a small Mailbox segment (`shmbus-bridge.<host>` by default), rewritten
 * every second, that `shmbus ls`, `inspect`, `tail` and the viewer show like any Mailbox, and that `shmbus ls`
 * recognises to sum up (bridgeSummary). Kept free of the NATS client so that the CLI can import it alone.
 */
import type { BridgeDirection, BridgeKind } from './spec.js';

/** One direction of a relayed channel. */
export interface BridgeFlowStatus {
  messages: number;
  bytes: number;
  /** Messages per second over the last status period. */
  rate: number;
  lost: number;
}

/** One relayed channel. */
export interface BridgeChannelStatus {
  kind: BridgeKind;
  local: string;
  remote: string;
  direction: BridgeDirection;
  subject: string;
  state: 'starting' | 'waiting' | 'running' | 'ended' | 'error';
  out: BridgeFlowStatus;
  in: BridgeFlowStatus;
  lag: number;
  error?: string;
}

/** The whole status value (`kind: 'shmbus-bridge'`). */
export interface BridgeStatus {
  kind: 'shmbus-bridge';
  host: string;
  pid: number;
  /** The server URL connected to (or last connected to). */
  server: string;
  connected: boolean;
  /** ISO 8601: when the bridge started. */
  started: string;
  /** ISO 8601: when this value was written. */
  updated: string;
  /** Times the connection came back after a loss. */
  reconnects: number;
  /** ms spent disconnected in total. */
  disconnectedMs: number;
  /** The server's max_payload (bytes). */
  maxPayload: number;
  channels: BridgeChannelStatus[];
}

/** Parses a status value, or null if the bytes are not one (any Mailbox may be probed). */
export function parseBridgeStatus(bytes: Uint8Array): BridgeStatus | null {
  if (bytes.length < 20 || bytes.length > 1 << 20 || bytes[0] !== 0x7b) return null;
  try {
    const v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')) as Partial<BridgeStatus>;
    if (v?.kind !== 'shmbus-bridge' || typeof v.host !== 'string' || !Array.isArray(v.channels)) return null;
    return v as BridgeStatus;
  } catch {
    return null;
  }
}

/** One line for `shmbus ls`: connection, rates, lost and lag over every channel. */
export function bridgeSummary(s: BridgeStatus): string {
  let outRate = 0;
  let inRate = 0;
  let lost = 0;
  let lag = 0;
  for (const c of s.channels) {
    outRate += c.out?.rate ?? 0;
    inRate += c.in?.rate ?? 0;
    lost += (c.out?.lost ?? 0) + (c.in?.lost ?? 0);
    lag = Math.max(lag, c.lag ?? 0);
  }
  const r = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));
  return (
    `bridge ${s.host} ${s.connected ? 'connected' : 'DISCONNECTED'} (${s.server}), ${s.channels.length} channels, ` +
    `out ${r(outRate)}/s, in ${r(inRate)}/s, lost ${lost}, lag ${lag}${s.reconnects > 0 ? `, ${s.reconnects} reconnects` : ''}`
  );
}
