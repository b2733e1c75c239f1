/**
 * Who holds a queue slot, and whether that holder still lives (PROTOCOL.md §6, RECOVER). A slot in state WRITING or
 * TAKEN names its holder: `pid` in the CAS word, `start`, `ns` and `ownerSeq` beside it.
 */
import {
  QUEUE_SLOT_NS_OFFSET,
  QUEUE_SLOT_OWNER_SEQ_OFFSET,
  QUEUE_SLOT_SEQ_OFFSET,
  QUEUE_SLOT_START_OFFSET,
} from '../protocol/layout.js';
import { holderAlive, selfIdentity } from '../base/process.js';
import { acquireFence } from '../base/fence.js';
import { readU64, writeU64 } from '../base/u64.js';

/**
 * True unless the process recorded as (pid, start, ns) is known to be gone: the one liveness rule of
 * src/base/process.ts (another pid namespace or an unreadable /proc is alive; own pid alive iff the record is ours).
 */
export const slotHolderAlive = holderAlive;

/** Identity stamp of this process: start time split in halves, and namespace. */
export interface Stamp {
  readonly pid: number;
  readonly start: number;
  readonly ns: number;
}

export function selfStamp(): Stamp {
  const me = selfIdentity();
  return { pid: me.pid, start: me.startTime, ns: me.ns };
}

/**
 * Records the holder's start time and namespace for the slot state `seq` we now hold (word `si` = the slot's SEQ),
 * then names that state in `ownerSeq`.
 */
export function stampOwner(words: Int32Array, si: number, seq: number, me: Stamp): void {
  const base = si - (QUEUE_SLOT_SEQ_OFFSET >> 2);
  writeU64(words, base + (QUEUE_SLOT_START_OFFSET >> 2), me.start);
  words[base + (QUEUE_SLOT_NS_OFFSET >> 2)] = me.ns | 0;
  // SYNC QUEUE-OWNER (release): START and NS are complete before OWNER_SEQ names them; pairs with readOwner's acquire.
  Atomics.store(words, base + (QUEUE_SLOT_OWNER_SEQ_OFFSET >> 2), seq);
}

/**
 * The recorded (start, ns) of the holder of state `seq`, { start: 0, ns: 0 } when the holder has not stamped it
 * (it died between its CAS and its stamp, or is about to stamp), or undefined when the stamp changed while we read
 * it (the slot moved on: nothing to judge).
 */
export function readOwner(words: Int32Array, si: number, seq: number): { start: number; ns: number } | undefined {
  const base = si - (QUEUE_SLOT_SEQ_OFFSET >> 2);
  const o = base + (QUEUE_SLOT_OWNER_SEQ_OFFSET >> 2);
  // SYNC QUEUE-OWNER (acquire): pairs with the release store in stampOwner.
  if (Atomics.load(words, o) !== seq) return { start: 0, ns: 0 };
  const start = readU64(words, base + (QUEUE_SLOT_START_OFFSET >> 2));
  const ns = words[base + (QUEUE_SLOT_NS_OFFSET >> 2)]! >>> 0;
  // SYNC QUEUE-OWNER (acquire fence, then load): the plain reads above happened before this re-check (seqlock).
  acquireFence();
  return Atomics.load(words, o) === seq ? { start, ns } : undefined;
}
