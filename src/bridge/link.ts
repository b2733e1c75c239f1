/** What every relayed channel (a "link") shares with the bridge: the connection, the host id, counters. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import type { ResolvedChannel } from './spec.js';

/** Figures of one direction of a link. */
export interface FlowCounters {
  /** Messages relayed. */
  messages: number;
  /** Payload bytes relayed. */
  bytes: number;
  /**
   * Messages lost on the way: out, the ones this bridge could not send (lapped on the local ring, dropped while
   * NATS was unreachable); in, the gaps seen in the sender's numbering (every loss between the two rings).
   */
  lost: number;
}

/** Live figures of one link, as the status mailbox shows them. */
export interface LinkFigures {
  out: FlowCounters;
  in: FlowCounters;
  /**
   * Topic in: ms between the commit on the sending host and the publish here (last message); topic out: messages
   * published locally and not yet read by the bridge; queue out: records waiting in the local queue; queue in:
   * records in JetStream not yet delivered here; mailbox, rpc: 0.
   */
  lag: number;
  /** 'starting', 'waiting' (for the local channel), 'running', 'ended' (queue: end of stream relayed), 'error'. */
  state: 'starting' | 'waiting' | 'running' | 'ended' | 'error';
  /** The last error, if any (the link goes on where it can). */
  error?: string;
}

export function newFigures(): LinkFigures {
  return { out: { messages: 0, bytes: 0, lost: 0 }, in: { messages: 0, bytes: 0, lost: 0 }, lag: 0, state: 'starting' };
}

/** What the bridge gives each link. */
export interface LinkContext {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** This bridge's host id (the origin mark). */
  host: string;
  /** Random id of this bridge run. */
  run: string;
  prefix: string;
  /** True while connected to a server. */
  connected(): boolean;
  /** Resolves once connected (at once when connected). */
  whenConnected(): Promise<void>;
  /** The server's max_payload (bytes, headers included). */
  maxPayload(): number;
  /** Name of this bridge's local segments (status; queue journals are `<base>.j.<queue>`). */
  segmentBase: string;
  /** An event line for the log. */
  log(event: string, fields?: Record<string, unknown>): void;
  /** Aborted when the bridge closes. */
  signal: AbortSignal;
  rpcTimeout: number;
  rpcMaxMessageSize: number;
  kvBucket: string;
}

/** A relayed channel. */
export interface Link {
  channel: ResolvedChannel;
  subject: string;
  figures: LinkFigures;
  /** Sets up subscriptions (resolves once remote messages can arrive) and starts the relay loops. */
  start(): Promise<void>;
  /** Refreshes `figures.lag` (may ask the server). */
  sample?(): Promise<void>;
  /** Stops the loops and lets go of local handles. */
  close(): Promise<void>;
}

/** The message of an error, for figures and logs. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return 'code' in e && typeof e.code === 'string' ? `${e.code}: ${e.message}` : e.message;
  return String(e);
}

/** Resolves after `ms`, or at once when `signal` aborts. Unref'd: never keeps the process alive by itself. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal, ref: false });
  } catch {
    // aborted: the bridge closes
  }
}
