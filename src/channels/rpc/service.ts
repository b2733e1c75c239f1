/**
 * The rpc segment (PROTOCOL.md §8): a robust Mutex, a worker table with pid + start time + pid namespace per
 * worker, and a request ring laid out as a §6 queue. Also the wire helpers shared by servers and clients. @internal
 */
import { ShmbusError } from '../../errors.js';
import { readU64, writeU64 } from '../../base/u64.js';
import { holderAlive, selfIdentity } from '../../base/process.js';
import {
  RPC_INSTANCE_OFFSET,
  RPC_LOCK_OFFSET,
  RPC_MAX_NAME_LENGTH,
  RPC_MAX_WORKERS,
  RPC_NEXT_CLIENT_OFFSET,
  RPC_PARAM_SLOTS,
  RPC_PARAM_SLOT_SIZE,
  RPC_PARAM_WORKERS,
  RPC_REQUEST_HEADER_SIZE,
  RPC_RES_FLAGS_OFFSET,
  RPC_RES_ID_OFFSET,
  RPC_RES_STATUS_OFFSET,
  RPC_RESPONSE_HEADER_SIZE,
  RPC_RETIRED_OFFSET,
  RPC_RING_OFFSET,
  RPC_WORKER_BUSY_OFFSET,
  RPC_WORKER_CLIENT_OFFSET,
  RPC_WORKER_FREE,
  RPC_WORKER_NS_OFFSET,
  RPC_WORKER_REQUEST_OFFSET,
  RPC_WORKER_SERVING,
  RPC_WORKER_SIZE,
  RPC_WORKER_START_OFFSET,
  RPC_WORKER_STARTING,
  RPC_WORKER_STATE_OFFSET,
  RPC_WORKERS_OFFSET,
  queueRingSize,
} from '../../protocol/layout.js';
import { validateName } from '../../protocol/names.js';
import { Segment } from '../../segment/segment.js';
import { Mutex } from '../../sync/mutex.js';
import { bodyFlags, writeBody } from '../queue-body.js';
import { QueueRing } from '../queue-ring.js';



export function responseQueueName(service: string, clientId: number): string {
  return `${service}.r${clientId}`;
}

/** Checks a service name: a segment name short enough to leave room for ".r<clientId>". @throws ERR_INVALID_NAME */
export function validateServiceName(name: unknown): string {
  validateName(name);
  const n = name as string;
  if (n.length > RPC_MAX_NAME_LENGTH) {
    throw new ShmbusError(
      'ERR_INVALID_NAME',
      `rpc service name of ${n.length} characters is too long: at most ${RPC_MAX_NAME_LENGTH}, so that the ` +
        `response queues' names "<name>.r<clientId>" fit the ${RPC_MAX_NAME_LENGTH + 12}-character name limit`,
    );
  }
  return n;
}

export function unlinkQuietly(name: string): void {
  try {
    Segment.unlink(name);
  } catch (e) {
    if (!(e instanceof ShmbusError) || e.code !== 'ERR_SHM_NOT_FOUND') throw e;
  }
}

export function noServer(name: string, why: string): ShmbusError {
  return new ShmbusError('ERR_NO_SERVER', `rpc "${name}": ${why}; start a server with Rpc.serve("${name}", handler)`, {
    segment: name,
  });
}

/** What {@link Service.join} found. */
export type JoinResult = number[] | 'retired';

const W_NEXT_CLIENT = RPC_NEXT_CLIENT_OFFSET >> 2;
const W_RETIRED = RPC_RETIRED_OFFSET >> 2;
const W_INSTANCE = RPC_INSTANCE_OFFSET >> 2;
const E_STATE = RPC_WORKER_STATE_OFFSET >> 2;
const E_START = RPC_WORKER_START_OFFSET >> 2;
const E_CLIENT = RPC_WORKER_CLIENT_OFFSET >> 2;
const E_REQUEST = RPC_WORKER_REQUEST_OFFSET >> 2;
const E_BUSY = RPC_WORKER_BUSY_OFFSET >> 2;
const E_NS = RPC_WORKER_NS_OFFSET >> 2;

/** The rpc segment: lock, worker table, request ring. */
export class Service {
  readonly segment: Segment;
  readonly ring: QueueRing;
  readonly #words: Int32Array;
  readonly #words64: BigInt64Array;
  readonly #lock: Mutex;
  readonly #lockWait: { timeout: number };

  constructor(segment: Segment, spin: number | undefined, livenessInterval: number) {
    this.segment = segment;
    const slots = segment.params[RPC_PARAM_SLOTS]!;
    const slotSize = segment.params[RPC_PARAM_SLOT_SIZE]!;
    if (segment.params[RPC_PARAM_WORKERS] !== RPC_MAX_WORKERS || slotSize < RPC_REQUEST_HEADER_SIZE) {
      throw new ShmbusError('ERR_SHM_CORRUPT', `rpc segment "${segment.name}" has an impossible layout; unlink it`, {
        segment: segment.name,
      });
    }
    QueueRing.validate(segment, RPC_RING_OFFSET, slots, slotSize);
    this.ring = new QueueRing(segment, RPC_RING_OFFSET, slots, slotSize, spin);
    this.#words = segment.words;
    this.#words64 = new BigInt64Array(segment.buffer, 0, segment.size >> 3);
    this.#lock = new Mutex(segment, RPC_LOCK_OFFSET, { livenessInterval });
    // The lock is held for a few instructions; a live holder after 100 liveness intervals is stopped or forged:
    // ERR_TIMEOUT then, instead of hanging serve/close/unlink forever.
    this.#lockWait = { timeout: livenessInterval * 100 };
  }

  /** Largest request payload of this service. */
  get maxMessageSize(): number {
    return this.ring.slotSize - RPC_REQUEST_HEADER_SIZE;
  }

  static create(name: string, slots: number, slotSize: number, mode: number | undefined, spin: number | undefined, liveness: number): Service {
    const seg = Segment.create(name, {
      size: RPC_RING_OFFSET + queueRingSize(slots, slotSize),
      kind: 'rpc',
      ...(mode === undefined ? {} : { mode }),
      params: [slots, slotSize, RPC_MAX_WORKERS],
      init: (s) => {
        // Random and non-zero: lets a lock holder tell whether the name still names this segment (unlinkIfNamed).
        s.words[W_INSTANCE] = (Math.floor(Math.random() * 0xffffffff) >>> 0 || 1) | 0;
        QueueRing.init(s, RPC_RING_OFFSET, slots, slotSize);
      },
    });
    return Service.#wrap(seg, spin, liveness);
  }

  static open(name: string, spin: number | undefined, liveness: number): Service {
    return Service.#wrap(Segment.open(name, { kind: 'rpc' }), spin, liveness);
  }

  static #wrap(seg: Segment, spin: number | undefined, liveness: number): Service {
    try {
      return new Service(seg, spin, liveness);
    } catch (e) {
      seg.close();
      throw e;
    }
  }

  #entry(i: number): number {
    return (RPC_WORKERS_OFFSET + i * RPC_WORKER_SIZE) >> 2;
  }

  /** True once the last server left: the name no longer leads here (clients treat it as "no server"). */
  get retired(): boolean {
    // SYNC RPC-RETIRED (seq_cst load): pairs with the store under the lock in #retire.
    return Atomics.load(this.#words, W_RETIRED) !== 0;
  }

  /** Pid of entry `i` if it is held by a live process, else 0. */
  #livePid(i: number): number {
    const e = this.#entry(i);
    // SYNC RPC-WORKER (seq_cst 64-bit load): PID and STATE change together (one CAS/store), so read them together.
    const v = Atomics.load(this.#words64, e >> 1);
    if (v === 0n) return 0;
    const pid = Number(v & 0xffffffffn);
    const state = Number(v >> 32n);
    if (pid === 0 || state === RPC_WORKER_FREE) return 0;
    // START and NS are published by the release store of SERVING (acquire side: the seq_cst load above).
    const w = this.#words;
    const serving = state === RPC_WORKER_SERVING;
    return holderAlive(pid, serving ? readU64(w, e + E_START) : 0, serving ? w[e + E_NS]! >>> 0 : 0) ? pid : 0;
  }

  #anyLive(): boolean {
    for (let i = 0; i < RPC_MAX_WORKERS; i++) if (this.#livePid(i) !== 0) return true;
    return false;
  }

  /** A live, not retired service: some worker entry is held by a live process. */
  anyAlive(): boolean {
    return !this.retired && this.#anyLive();
  }

  /**
   * Joins the service with `count` worker entries, under the lock. Returns their indices, or 'retired' when this
   * segment no longer serves its name (then open or create it anew). A service nobody serves whose ring has other
   * sizes than `slots`/`slotSize` is retired here so the caller creates one with its own sizes.
   * @throws ERR_TOO_MANY_WORKERS when the table has no room for `count` more
   */
  join(count: number, slots: number, slotSize: number): JoinResult {
    this.#lock.lockSync(this.#lockWait);
    try {
      if (this.retired) {
        // The previous holder retired it but may have died before unlinking the name.
        this.#unlinkIfNamed();
        return 'retired';
      }
      if ((this.ring.slots !== slots || this.ring.slotSize !== slotSize) && !this.#anyLive()) {
        this.#retire();
        return 'retired';
      }
      const me = selfIdentity();
      const ns = selfIdentity().ns;
      const got: number[] = [];
      // FREE entries first, then dead idle ones: a dead worker's busy entry tells a waiting client which request
      // died with it (BUSY, CLIENT, REQUEST); reclaiming it first made that request wait for its timeout (found by
      // the kill -9 suite). Busy dead entries are reclaimed only when nothing else is left.
      for (let pass = 0; pass < 3; pass++) {
        for (let i = 0; i < RPC_MAX_WORKERS && got.length < count; i++) {
          if (this.#claim(i, me.pid, me.startTime, ns, pass)) got.push(i);
        }
      }
      if (got.length < count) {
        for (const i of got) this.#free(i);
        throw new ShmbusError(
          'ERR_TOO_MANY_WORKERS',
          `rpc "${this.segment.name}" has room for ${got.length} more workers, not ${count}: ` +
            `a service has at most ${RPC_MAX_WORKERS} live workers across its server processes`,
          { segment: this.segment.name },
        );
      }
      return got;
    } finally {
      this.#lock.unlock();
    }
  }

  /**
   * Claims entry `i` if it is free, or (reclaim 1 or 2) if its holder is dead: 1 spares a dead entry still BUSY
   * (its client has yet to learn that the request died with it), 2 takes it too.
   */
  #claim(i: number, pid: number, start: number, ns: number, reclaim: number): boolean {
    const e = this.#entry(i);
    // SYNC RPC-WORKER (seq_cst 64-bit load): the (PID, STATE) pair the CAS below expects.
    const expected = Atomics.load(this.#words64, e >> 1);
    if (expected !== 0n && (reclaim === 0 || this.#livePid(i) !== 0)) return false;
    const w = this.#words;
    // SYNC RPC-BUSY (acquire): a dead holder's BUSY no longer changes.
    if (expected !== 0n && reclaim === 1 && Atomics.load(w, e + E_BUSY) !== 0) return false;
    const mine = BigInt(pid) | (BigInt(RPC_WORKER_STARTING) << 32n);
    // SYNC RPC-WORKER (seq_cst 64-bit CAS): PID and STATE change together, so a live entry is never taken over.
    if (Atomics.compareExchange(this.#words64, e >> 1, expected, mine) !== expected) return false;
    writeU64(w, e + E_START, start);
    w[e + E_NS] = ns | 0;
    w[e + E_BUSY] = 0;
    // SYNC RPC-WORKER (release): START and NS are written before the entry says SERVING.
    Atomics.store(w, e + E_STATE, RPC_WORKER_SERVING);
    return true;
  }

  /** Frees entry `i` if it is still this process's. */
  #free(i: number): void {
    const e = this.#entry(i);
    const mine = BigInt(selfIdentity().pid) | (BigInt(RPC_WORKER_SERVING) << 32n);
    // SYNC RPC-WORKER (seq_cst 64-bit CAS): (own pid, SERVING) -> (0, FREE); never frees an entry reclaimed since.
    Atomics.compareExchange(this.#words64, e >> 1, mine, 0n);
  }

  /** Gives up one entry without the lock (a worker that stopped for good). */
  drop(i: number): void {
    this.#free(i);
  }

  /**
   * Leaves: frees `entries` and, if no live worker is left, retires the service and unlinks its name, all under
   * the lock (so a server joining meanwhile either is counted or finds `retired` and makes a new service).
   * Returns true when this was the last server.
   */
  leave(entries: readonly number[]): boolean {
    this.#lock.lockSync(this.#lockWait);
    try {
      for (const i of entries) this.#free(i);
      if (this.retired) return false;
      if (this.#anyLive()) return false;
      this.#retire();
      return true;
    } finally {
      this.#lock.unlock();
    }
  }

  /** Retires the service now, whoever serves it (Rpc.unlink). */
  retireNow(): void {
    this.#lock.lockSync(this.#lockWait);
    try {
      if (!this.retired) this.#retire();
      else this.#unlinkIfNamed();
    } finally {
      this.#lock.unlock();
    }
  }

  /** Holding the lock: marks the segment retired, then removes the name if it still names this segment. */
  #retire(): void {
    // SYNC RPC-RETIRED (seq_cst store, under the lock): before the unlink, so a joiner that opened this segment by
    // the old name sees it retired once it holds the lock; clients see "no server".
    Atomics.store(this.#words, W_RETIRED, 1);
    this.#unlinkIfNamed();
  }

  /**
   * Holding the lock: unlinks the name if it still names this segment (same instance word). Only holders of a
   * segment's lock unlink its name, and a new segment under the name exists only after that unlink, so the
   * check cannot go stale before the unlink (short of someone unlinking by hand).
   */
  #unlinkIfNamed(): void {
    const name = this.segment.name;
    let other: Segment;
    try {
      other = Segment.open(name, { kind: 'rpc', timeout: 0 });
    } catch {
      return; // gone, another kind, or a successor still being created: not ours
    }
    let same: boolean;
    try {
      same = other.size === this.segment.size && other.words[W_INSTANCE] === this.#words[W_INSTANCE];
    } finally {
      other.close();
    }
    if (same) unlinkQuietly(name);
  }

  /** Marks the request a worker has in hand; it stays marked until its response is sent or dropped. */
  setBusy(i: number, clientId: number, requestId: number): void {
    const e = this.#entry(i);
    const w = this.#words;
    w[e + E_CLIENT] = clientId;
    w[e + E_REQUEST] = requestId;
    // SYNC RPC-BUSY (release): CLIENT and REQUEST are valid while BUSY is 1; pairs with the acquire in deadWorkersHolding.
    Atomics.store(w, e + E_BUSY, 1);
  }

  /** The worker's response is in the client's queue (or was dropped): nothing in hand. */
  setIdle(i: number): void {
    // SYNC RPC-BUSY (release): after the response's commit, so a client never sees "idle" without the response.
    Atomics.store(this.#words, this.#entry(i) + E_BUSY, 0);
  }

  /** Requests of `clientId` that a dead worker had in hand: [requestId, pid] pairs. */
  deadWorkersHolding(clientId: number): [number, number][] {
    const out: [number, number][] = [];
    const w = this.#words;
    for (let i = 0; i < RPC_MAX_WORKERS; i++) {
      const e = this.#entry(i);
      // SYNC RPC-BUSY (acquire): a busy entry's CLIENT and REQUEST; re-read below once the holder is known dead.
      if (Atomics.load(w, e + E_BUSY) !== 1 || w[e + E_CLIENT] !== clientId) continue;
      // SYNC RPC-WORKER (seq_cst 64-bit load): the holder.
      const v = Atomics.load(this.#words64, e >> 1);
      const pid = Number(v & 0xffffffffn);
      if (pid === 0 || this.#livePid(i) !== 0) continue;
      // Dead: the entry no longer changes (until a new server reclaims it, which clears BUSY first).
      // SYNC RPC-BUSY (acquire)
      if (Atomics.load(w, e + E_BUSY) !== 1 || w[e + E_CLIENT] !== clientId) continue;
      out.push([w[e + E_REQUEST]! >>> 0, pid]);
    }
    return out;
  }

  nextClientId(): number {
    // SYNC RPC-CLIENT-ID (seq_cst RMW): unique ids per segment.
    return (Atomics.add(this.#words, W_NEXT_CLIENT, 1) + 1) >>> 0;
  }
}

/** UTF-8 JSON of what a handler threw: {name, message, code?}. */
export function errorBody(e: unknown): string {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  return JSON.stringify({ name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) });
}

/** The response writer's arguments, set before each tryWrite (one writer function, no closure per response). */
const out = { ring: undefined as unknown as QueueRing, id: 0, status: 0, body: '' as Uint8Array | string };
function responseWriter(bytes: Uint8Array, offset: number, capacity: number): number {
  const n = writeBody(out.body, bytes, offset + RPC_RESPONSE_HEADER_SIZE, capacity - RPC_RESPONSE_HEADER_SIZE, 'rpc response');
  const v = out.ring.view;
  v.setUint32(offset + RPC_RES_ID_OFFSET, out.id, true);
  v.setUint32(offset + RPC_RES_STATUS_OFFSET, out.status, true);
  v.setUint32(offset + RPC_RES_FLAGS_OFFSET, bodyFlags(out.body), true);
  v.setUint32(offset + 12, 0, true);
  return RPC_RESPONSE_HEADER_SIZE + n;
}

/** Writes a response if the client's queue has room. @throws ERR_MESSAGE_TOO_LARGE, ERR_CLOSED */
export function writeResponse(ring: QueueRing, id: number, status: number, body: Uint8Array | string): boolean {
  out.ring = ring;
  out.id = id;
  out.status = status;
  out.body = body;
  try {
    return ring.tryWrite(responseWriter, 0);
  } finally {
    out.body = '';
    out.ring = undefined as unknown as QueueRing;
  }
}
