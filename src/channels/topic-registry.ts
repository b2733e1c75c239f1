/**
 * The Topic registration table (PROTOCOL.md §5.8): who publishes and who subscribes, so that subscribers learn
 * when no publisher is left, publishers can wait for subscribers, and stats() can report each subscriber's lag.
 * An entry's owner word holds pid and role together: claimed by CAS 0 -> pid, published by a release store of
 * pid | role << 30, freed by storing 0; dead owners' entries are swept by whoever finds them (liveness by pid +
 * start time) with a CAS of the word judged. Every change bumps the registry futex word.
 */
import { readU64, writeU64 } from '../base/u64.js';
import { holderAlive, selfIdentity } from '../base/process.js';
import { wakeCounter } from '../base/park.js';
import {
  TOPIC_ENTRIES_OFFSET,
  TOPIC_ENTRY_COUNT,
  TOPIC_ENTRY_LOST,
  TOPIC_ENTRY_NEXT_SEQ,
  TOPIC_ENTRY_NS,
  TOPIC_ENTRY_OWNER,
  TOPIC_ENTRY_SIZE,
  TOPIC_OWNER_PID_MASK,
  TOPIC_ROLE_SHIFT,
  TOPIC_ENTRY_START,
  TOPIC_REGISTRY_OFFSET,
  TOPIC_REGISTRY_SLEEPERS_OFFSET,
  TOPIC_ROLE_PUBLISHER,
  TOPIC_ROLE_SUBSCRIBER,
} from '../protocol/layout.js';

export const REGISTRY_INDEX = TOPIC_REGISTRY_OFFSET / 4;
export const REGISTRY_SLEEPERS_INDEX = TOPIC_REGISTRY_SLEEPERS_OFFSET / 4;
export { TOPIC_ROLE_PUBLISHER, TOPIC_ROLE_SUBSCRIBER };

const base = (entry: number): number => (TOPIC_ENTRIES_OFFSET + entry * TOPIC_ENTRY_SIZE) / 4;

/** Bumps the registry word (seq_cst) and wakes its sleepers (waitForSubscribers). */
function bump(words: Int32Array): void {
  // SYNC TOPIC-REGISTRY (seq_cst RMW, then the sleepers load in wakeCounter): pairs with a parker's announce.
  const old = Atomics.add(words, REGISTRY_INDEX, 1);
  wakeCounter(words, REGISTRY_SLEEPERS_INDEX, REGISTRY_INDEX, old);
}

const OWNER = TOPIC_ENTRY_OWNER / 4;

/** The role in an owner word (0 = free or being filled). */
function roleOf(owner: number): number {
  return owner >>> TOPIC_ROLE_SHIFT;
}

/**
 * Claims a free entry for this process in `role`; returns its index, or -1 when every entry is taken by a live
 * owner (after sweeping dead ones).
 */
export function register(words: Int32Array, role: number, nextSeq: number): number {
  const me = selfIdentity();
  for (let pass = 0; pass < 2; pass++) {
    for (let e = 0; e < TOPIC_ENTRY_COUNT; e++) {
      const b = base(e);
      if (Atomics.load(words, b + OWNER) !== 0) continue;
      // SYNC TOPIC-REGISTRY (CAS owner 0 -> pid, role 0): the entry is ours; nobody else writes it until we free it.
      if (Atomics.compareExchange(words, b + OWNER, 0, me.pid) !== 0) continue;
      writeU64(words, b + TOPIC_ENTRY_START / 4, me.startTime);
      words[b + TOPIC_ENTRY_NS / 4] = selfIdentity().ns | 0;
      writeU64(words, b + TOPIC_ENTRY_NEXT_SEQ / 4, nextSeq);
      writeU64(words, b + TOPIC_ENTRY_LOST / 4, 0);
      // SYNC TOPIC-REGISTRY (release store of pid | role << 30): publishes the identity and counters above.
      Atomics.store(words, b + OWNER, (me.pid | (role << TOPIC_ROLE_SHIFT)) | 0);
      bump(words);
      return e;
    }
    if (pass === 0 && sweep(words) === 0) break;
  }
  return -1;
}

/** Frees our entry (one release store: readers stop counting it, and it is claimable again). */
export function unregister(words: Int32Array, entry: number): void {
  Atomics.store(words, base(entry) + OWNER, 0); // SYNC TOPIC-REGISTRY (release)
  bump(words);
}

/** A subscriber's progress, plain stores on its own line (read by stats(); a torn read only skews a statistic). */
export function setProgress(words: Int32Array, entry: number, nextSeq: number, lost: number): void {
  const b = base(entry);
  writeU64(words, b + TOPIC_ENTRY_NEXT_SEQ / 4, nextSeq);
  writeU64(words, b + TOPIC_ENTRY_LOST / 4, lost);
}

/** Frees entries whose owner is dead (also half-filled ones: role 0). Returns how many. */
export function sweep(words: Int32Array): number {
  let swept = 0;
  for (let e = 0; e < TOPIC_ENTRY_COUNT; e++) {
    const b = base(e);
    // SYNC TOPIC-REGISTRY (acquire load of the owner word): with a role set, the identity below is complete.
    const owner = Atomics.load(words, b + OWNER);
    if (owner === 0) continue;
    const pid = owner & TOPIC_OWNER_PID_MASK;
    const start = roleOf(owner) !== 0 ? readU64(words, b + TOPIC_ENTRY_START / 4) : 0;
    if (holderAlive(pid, start, words[b + TOPIC_ENTRY_NS / 4]! >>> 0)) continue;
    // Dead: free it by CAS from exactly the word judged (a store or claim meanwhile makes the CAS fail).
    if (Atomics.compareExchange(words, b + OWNER, owner, 0) === owner) swept++;
  }
  if (swept > 0) bump(words);
  return swept;
}

/** One registered participant as stats() reports it. */
export interface Registrant {
  role: number;
  pid: number;
  /** Subscribers: the next seq it will read. */
  nextSeq: number;
  /** Subscribers: messages it lost. */
  lost: number;
}

/** Counts registered entries of `role` (after sweeping dead owners when `checkLiveness`). */
export function count(words: Int32Array, role: number, checkLiveness: boolean): number {
  if (checkLiveness) sweep(words);
  let n = 0;
  for (let e = 0; e < TOPIC_ENTRY_COUNT; e++) if (roleOf(Atomics.load(words, base(e) + OWNER)) === role) n++;
  return n;
}

/** Every registered entry (after sweeping dead owners). */
export function list(words: Int32Array): Registrant[] {
  sweep(words);
  const out: Registrant[] = [];
  for (let e = 0; e < TOPIC_ENTRY_COUNT; e++) {
    const b = base(e);
    const owner = Atomics.load(words, b + OWNER); // SYNC TOPIC-REGISTRY (acquire)
    const role = roleOf(owner);
    if (role === 0) continue;
    out.push({
      role,
      pid: owner & TOPIC_OWNER_PID_MASK,
      nextSeq: readU64(words, b + TOPIC_ENTRY_NEXT_SEQ / 4),
      lost: readU64(words, b + TOPIC_ENTRY_LOST / 4),
    });
  }
  return out;
}
