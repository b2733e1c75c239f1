/**
 * Read-only snapshots of segments for ls, inspect, stats and the viewer. Queue and Mailbox go through the public
 * API (opening them registers nothing); a Topic is read through its layout (shmbus/protocol, PROTOCOL.md §5),
 * because opening it would register this tool as a publisher and subscribing would count it as a subscriber.
 * Every value read from shared memory is bounds-checked; a segment that does not make sense yields `error`.
 */
import { Mailbox, Queue, Segment, type SegmentInfo } from '../src/index.js';
import {
  EVENT_FLAGS_OFFSET,
  EVENT_SIZE,
  MUTEX_SIZE,
  RWLOCK_SIZE,
  SEMAPHORE_SIZE,
  EVENT_FLAG_MANUAL_RESET,
  EVENT_WORD_OFFSET,
  MUTEX_OWNER_NS_OFFSET,
  MUTEX_OWNER_PID_OFFSET,
  MUTEX_OWNER_START_OFFSET,
  MUTEX_PID_MASK,
  MUTEX_RECOVERIES_OFFSET,
  MUTEX_WORD_OFFSET,
  QUEUE_COMMITS_OFFSET,
  QUEUE_HEAD_OFFSET,
  QUEUE_TAIL_OFFSET,
  RPC_MAX_WORKERS,
  RPC_PARAM_SLOTS,
  RPC_PARAM_SLOT_SIZE,
  RPC_WORKERS_OFFSET,
  RPC_WORKER_BUSY_OFFSET,
  RPC_WORKER_NS_OFFSET,
  RPC_WORKER_PID_OFFSET,
  RPC_WORKER_SERVING,
  RPC_WORKER_SIZE,
  RPC_WORKER_START_OFFSET,
  RPC_WORKER_STATE_OFFSET,
  RPC_RING_OFFSET,
  RWLOCK_MUTEX_OFFSET,
  RWLOCK_SLOTS_OFFSET,
  RWLOCK_SLOT_COUNT,
  RWLOCK_SLOT_NS_OFFSET,
  RWLOCK_SLOT_PID_OFFSET,
  RWLOCK_SLOT_SIZE,
  RWLOCK_SLOT_START_OFFSET,
  SEM_SLOTS_OFFSET,
  SEM_SLOT_COUNT,
  SEM_SLOT_HELD_OFFSET,
  SEM_SLOT_NS_OFFSET,
  SEM_SLOT_PID_OFFSET,
  SEM_SLOT_SIZE,
  SEM_SLOT_START_OFFSET,
  SEM_TOTAL_OFFSET,
  SEM_VALUE_OFFSET,
  TOPIC_DATA_OFFSET,
  TOPIC_ENTRIES_OFFSET,
  TOPIC_ENTRY_COUNT,
  TOPIC_ENTRY_LOST,
  TOPIC_ENTRY_NEXT_SEQ,
  TOPIC_ENTRY_NS,
  TOPIC_ENTRY_OWNER,
  TOPIC_ENTRY_SIZE,
  TOPIC_ENTRY_START,
  TOPIC_FLAG_SINGLE_PUBLISHER,
  TOPIC_MUTEX_OFFSET,
  TOPIC_OWNER_PID_MASK,
  TOPIC_PARAM_CAPACITY_HI,
  TOPIC_PARAM_CAPACITY_LO,
  TOPIC_PARAM_DATA_OFFSET,
  TOPIC_PARAM_FLAGS,
  TOPIC_PARAM_MAX_MESSAGE,
  TOPIC_ROLE_PUBLISHER,
  TOPIC_ROLE_SHIFT,
  TOPIC_ROLE_SUBSCRIBER,
  MAILBOX_MUTEX_OFFSET,
} from '../src/protocol/index.js';
import { holderAlive } from '../src/base/process.js';
import { readU64, TWO32 } from '../src/base/u64.js';
import { readCursor, ringParamsValid, type RingView } from '../src/channels/ring.js';
import { describe } from './errors.js';
import { parseBridgeStatus, type BridgeStatus } from '../src/bridge/status.js';

export interface Holder {
  pid: number;
  alive: boolean;
}

export interface TopicState {
  kind: 'topic';
  capacity: number;
  maxMessageSize: number;
  singlePublisher: boolean;
  /** Last sequence number published (every publisher). */
  published: number;
  /** Oldest sequence number still in the ring. */
  oldest: number;
  writePos: number;
  tailPos: number;
  /** Holder of the writers' lock (a single publisher holds it from open to close). */
  writersLock: Holder | null;
  publishers: Holder[];
  subscribers: (Holder & { nextSeq: number; lag: number; lost: number })[];
}

export interface QueueState {
  kind: 'queue';
  slots: number;
  maxMessageSize: number;
  length: number;
  ended: boolean;
  abandoned: number;
  lost: number;
  /** Commit counter (wraps at 2^32): +1 per message sent; the rate is computed from it. */
  commits: number;
  /** Ring positions: the producers' and consumers' ticket hints (wrap at 2^32). */
  tail: number;
  head: number;
}

export interface MailboxState {
  kind: 'mailbox';
  maxMessageSize: number;
  version: number;
  /** Bytes of the current value. */
  length: number;
  /** When the current value was written (ms since the epoch), or null. */
  writtenAt: number | null;
  writersLock: Holder | null;
  /** When the value is a bridge's status (src/bridge/status.ts): the status, for ls and the viewer. */
  bridge?: BridgeStatus;
}

export interface RpcState {
  kind: 'rpc';
  slots: number;
  maxMessageSize: number;
  workers: (Holder & { busy: boolean })[];
}

export interface LockState {
  kind: 'mutex' | 'rwlock' | 'semaphore' | 'event';
  /** Mutex and RwLock writer: the holder. */
  holder?: Holder | null;
  recoveries?: number;
  /** RwLock readers; Semaphore holders (with units held). */
  holders?: (Holder & { units?: number })[];
  value?: number;
  total?: number;
  set?: boolean;
  manualReset?: boolean;
}

export type LiveState = TopicState | QueueState | MailboxState | RpcState | LockState;

export interface Probe {
  name: string;
  kind: SegmentInfo['kind'];
  size: number;
  creatorPid: number;
  createdAt: Date | null;
  state: 'alive' | 'stale';
  /** Processes that map the segment (this one excluded). */
  pids: number[];
  params: number[];
  live: LiveState | null;
  /** Why `live` is missing, when reading the segment failed. */
  error?: string;
}

const u32 = (w: Int32Array, byteOffset: number): number => w[byteOffset >> 2]! >>> 0;

/** The holder of the Mutex (§4.1) at payload byte `offset`, or null when it is free. */
function mutexHolder(w: Int32Array, offset: number): Holder | null {
  const word = Atomics.load(w, (offset + MUTEX_WORD_OFFSET) >> 2) >>> 0; // reporting only (seq_cst load)
  const pid = word & MUTEX_PID_MASK;
  if (pid === 0) return null;
  // The start time vouches for the holder only when the companion pid matches the word's (MUTEX-IDENTITY).
  const complete = u32(w, offset + MUTEX_OWNER_PID_OFFSET) === pid;
  const start = complete ? readU64(w, (offset + MUTEX_OWNER_START_OFFSET) >> 2) : 0;
  const ns = complete ? u32(w, offset + MUTEX_OWNER_NS_OFFSET) : 0;
  return { pid, alive: holderAlive(pid, start, ns) };
}

function topicState(seg: Segment): TopicState {
  const p = seg.params;
  const capacity = p[TOPIC_PARAM_CAPACITY_LO]! + p[TOPIC_PARAM_CAPACITY_HI]! * TWO32;
  const maxMessageSize = p[TOPIC_PARAM_MAX_MESSAGE]!;
  if (
    p[TOPIC_PARAM_DATA_OFFSET] !== TOPIC_DATA_OFFSET ||
    !ringParamsValid(capacity, maxMessageSize) ||
    TOPIC_DATA_OFFSET + capacity > seg.size
  ) {
    throw new Error(`impossible topic parameters (capacity ${capacity}, maxMessageSize ${maxMessageSize})`);
  }
  const w = seg.words;
  const view: RingView = { words: w, bytes: seg.bytes, dataOffset: TOPIC_DATA_OFFSET, capacity, maxMessageSize, name: seg.name };
  const c = readCursor(view);
  const publishers: Holder[] = [];
  const subscribers: TopicState['subscribers'] = [];
  for (let e = 0; e < TOPIC_ENTRY_COUNT; e++) {
    const b = TOPIC_ENTRIES_OFFSET + e * TOPIC_ENTRY_SIZE;
    const owner = Atomics.load(w, (b + TOPIC_ENTRY_OWNER) >> 2) >>> 0; // SYNC TOPIC-REGISTRY (acquire)
    const role = owner >>> TOPIC_ROLE_SHIFT;
    const pid = owner & TOPIC_OWNER_PID_MASK;
    if (role === 0 || pid === 0) continue;
    const alive = holderAlive(pid, readU64(w, (b + TOPIC_ENTRY_START) >> 2), u32(w, b + TOPIC_ENTRY_NS));
    if (role === TOPIC_ROLE_PUBLISHER) publishers.push({ pid, alive });
    else if (role === TOPIC_ROLE_SUBSCRIBER) {
      const nextSeq = readU64(w, (b + TOPIC_ENTRY_NEXT_SEQ) >> 2);
      const lost = readU64(w, (b + TOPIC_ENTRY_LOST) >> 2);
      subscribers.push({ pid, alive, nextSeq, lost, lag: nextSeq === 0 ? 0 : Math.max(0, c.writeSeq - (nextSeq - 1)) });
    }
  }
  return {
    kind: 'topic',
    capacity,
    maxMessageSize,
    singlePublisher: (p[TOPIC_PARAM_FLAGS]! & TOPIC_FLAG_SINGLE_PUBLISHER) !== 0,
    published: c.writeSeq,
    oldest: c.tailSeq,
    writePos: c.writePos,
    tailPos: c.tailPos,
    writersLock: mutexHolder(w, TOPIC_MUTEX_OFFSET),
    publishers,
    subscribers,
  };
}

function queueState(seg: Segment): QueueState {
  const q = Queue.open(seg.name);
  try {
    const s = q.stats();
    return {
      kind: 'queue',
      slots: s.slots,
      maxMessageSize: s.maxMessageSize,
      length: s.length,
      ended: q.ended,
      abandoned: s.abandoned,
      lost: s.lost,
      commits: Atomics.load(seg.words, QUEUE_COMMITS_OFFSET >> 2) >>> 0, // reporting only (seq_cst load)
      tail: Atomics.load(seg.words, QUEUE_TAIL_OFFSET >> 2) >>> 0, // reporting only (seq_cst load)
      head: Atomics.load(seg.words, QUEUE_HEAD_OFFSET >> 2) >>> 0, // reporting only (seq_cst load)
    };
  } finally {
    q.close();
  }
}

function mailboxState(seg: Segment): MailboxState {
  const mb = Mailbox.open(seg.name);
  try {
    const v = mb.read();
    const bridge = parseBridgeStatus(v.data);
    return {
      kind: 'mailbox',
      maxMessageSize: mb.maxMessageSize,
      version: v.version,
      length: v.data.length,
      writtenAt: v.timestamp > 0 ? v.timestamp : null,
      writersLock: mutexHolder(seg.words, MAILBOX_MUTEX_OFFSET),
      ...(bridge && { bridge }),
    };
  } finally {
    mb.close();
  }
}

function rpcState(seg: Segment): RpcState {
  const w = seg.words;
  if (seg.size < RPC_RING_OFFSET) throw new Error('rpc segment too small');
  const workers: RpcState['workers'] = [];
  for (let i = 0; i < RPC_MAX_WORKERS; i++) {
    const b = RPC_WORKERS_OFFSET + i * RPC_WORKER_SIZE;
    const pid = Atomics.load(w, (b + RPC_WORKER_PID_OFFSET) >> 2) >>> 0; // reporting only (seq_cst load)
    if (pid === 0) continue;
    const serving = u32(w, b + RPC_WORKER_STATE_OFFSET) === RPC_WORKER_SERVING;
    const start = serving ? readU64(w, (b + RPC_WORKER_START_OFFSET) >> 2) : 0;
    workers.push({ pid, alive: holderAlive(pid, start, u32(w, b + RPC_WORKER_NS_OFFSET)), busy: u32(w, b + RPC_WORKER_BUSY_OFFSET) !== 0 });
  }
  return { kind: 'rpc', slots: seg.params[RPC_PARAM_SLOTS]!, maxMessageSize: seg.params[RPC_PARAM_SLOT_SIZE]!, workers };
}

function slotHolders(w: Int32Array, base: number, count: number, size: number, pidAt: number, startAt: number, nsAt: number, unitsAt?: number) {
  const out: (Holder & { units?: number })[] = [];
  for (let i = 0; i < count; i++) {
    const b = base + i * size;
    const pid = Atomics.load(w, (b + pidAt) >> 2) >>> 0; // reporting only (seq_cst load)
    if (pid === 0) continue;
    const h: Holder & { units?: number } = { pid, alive: holderAlive(pid, readU64(w, (b + startAt) >> 2), u32(w, b + nsAt)) };
    if (unitsAt !== undefined) h.units = u32(w, b + unitsAt);
    out.push(h);
  }
  return out;
}

const LOCK_SIZES = { mutex: MUTEX_SIZE, rwlock: RWLOCK_SIZE, semaphore: SEMAPHORE_SIZE, event: EVENT_SIZE } as const;

function lockState(seg: Segment, kind: LockState['kind']): LockState {
  if (seg.size < LOCK_SIZES[kind]) throw new Error(`a ${kind} needs ${LOCK_SIZES[kind]} bytes, the segment has ${seg.size}`);
  const w = seg.words;
  switch (kind) {
    case 'mutex':
      return { kind, holder: mutexHolder(w, 0), recoveries: u32(w, MUTEX_RECOVERIES_OFFSET) };
    case 'rwlock':
      return {
        kind,
        holder: mutexHolder(w, RWLOCK_MUTEX_OFFSET),
        holders: slotHolders(w, RWLOCK_SLOTS_OFFSET, RWLOCK_SLOT_COUNT, RWLOCK_SLOT_SIZE, RWLOCK_SLOT_PID_OFFSET, RWLOCK_SLOT_START_OFFSET, RWLOCK_SLOT_NS_OFFSET),
      };
    case 'semaphore':
      return {
        kind,
        value: u32(w, SEM_VALUE_OFFSET),
        total: u32(w, SEM_TOTAL_OFFSET),
        holders: slotHolders(w, SEM_SLOTS_OFFSET, SEM_SLOT_COUNT, SEM_SLOT_SIZE, SEM_SLOT_PID_OFFSET, SEM_SLOT_START_OFFSET, SEM_SLOT_NS_OFFSET, SEM_SLOT_HELD_OFFSET),
      };
    case 'event': {
      const word = u32(w, EVENT_WORD_OFFSET);
      return { kind, set: (word & 1) === 1, manualReset: (u32(w, EVENT_FLAGS_OFFSET) & EVENT_FLAG_MANUAL_RESET) !== 0 };
    }
  }
}

/** The live state of one open segment, by kind. */
function liveState(seg: Segment): LiveState | null {
  switch (seg.kind) {
    case 'topic':
      return topicState(seg);
    case 'queue':
      return queueState(seg);
    case 'mailbox':
      return mailboxState(seg);
    case 'rpc':
      return rpcState(seg);
    case 'mutex':
    case 'rwlock':
    case 'semaphore':
    case 'event':
      return lockState(seg, seg.kind);
    default:
      return null;
  }
}

/** A snapshot of one segment listed by Segment.list(). `pids` from procmaps.mappers(). */
export function probe(info: SegmentInfo, pids: number[]): Probe {
  const out: Probe = {
    name: info.name,
    kind: info.kind,
    size: info.size,
    creatorPid: info.creatorPid,
    createdAt: info.createdAt,
    state: info.stale ? 'stale' : 'alive',
    pids,
    params: [],
    live: null,
  };
  if (info.kind === 'unknown') return out;
  let seg: Segment | undefined;
  try {
    seg = Segment.open(info.name, { timeout: 0 });
    out.params = [...seg.params];
    out.live = liveState(seg);
  } catch (e) {
    out.error = describe(e);
  } finally {
    seg?.close();
  }
  return out;
}

/** The counter a channel's message rate is computed from (messages ever), or null. */
export function counter(live: LiveState | null): number | null {
  if (live === null) return null;
  if (live.kind === 'topic') return live.published;
  if (live.kind === 'queue') return live.commits;
  if (live.kind === 'mailbox') return live.version;
  return null;
}

/** Messages per second between two snapshots of one counter (u32 counters wrap). */
export function ratePerSecond(before: number | null, after: number | null, ms: number, wraps: boolean): number | null {
  if (before === null || after === null || ms <= 0) return null;
  const d = wraps ? (after - before) >>> 0 : after - before;
  return d < 0 ? null : (d * 1000) / ms;
}
