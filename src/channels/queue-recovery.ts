/**
 * Who holds a queue slot, and whether that holder still lives (PROTOCOL.md §6, RECOVER). A slot in state WRITING or
 * TAKEN names its holder: `pid` in the CAS word, `start`, `ns` and `ownerSeq` beside it.
 */
import { readFileSync, statSync } from 'node:fs';
import {
  QUEUE_SLOT_NS_OFFSET,
  QUEUE_SLOT_OWNER_SEQ_OFFSET,
  QUEUE_SLOT_SEQ_OFFSET,
  QUEUE_SLOT_START_OFFSET,
} from '../protocol/layout.js';
import { isProcessAlive, selfIdentity } from '../base/process.js';
import { acquireFence } from '../base/fence.js';
import { readU64, writeU64 } from '../base/u64.js';

let ownNs: number | undefined;

/** This process's pid namespace (inode of /proc/self/ns/pid, u32), 0 when unreadable. */
export function selfNs(): number {
  // TODO(holderAlive): use selfIdentity().ns from src/base/process.ts once the sync helper's version lands.
  if (ownNs === undefined) {
    try {
      ownNs = statSync('/proc/self/ns/pid').ino % 2 ** 32;
    } catch {
      ownNs = 0;
    }
  }
  return ownNs;
}

/**
 * True unless the process recorded as (pid, start, ns) is known to be gone. The one-line switch point to the
 * shared checker: TODO(holderAlive): `return holderAlive(pid, start, ns)` from src/base/process.ts (DECISIONS.md,
 * defect 5) once it lands; until then this local copy follows the same rules.
 */
export function slotHolderAlive(pid: number, start: number, ns: number): boolean {
  if (pid <= 0) return false;
  const myNs = selfNs();
  // Another pid namespace: its pids mean nothing here, so we cannot judge it; never steal.
  if (ns !== 0 && myNs !== 0 && ns !== myNs) return true;
  const me = selfIdentity();
  // Our own pid: alive iff the record is ours (start unknown, or our start time), as for the Mutex.
  if (pid === me.pid) return start === 0 || start === me.startTime;
  if (isProcessAlive(pid, start)) return true;
  // isProcessAlive also says "dead" when /proc/<pid>/stat is unreadable (hidepid, another user): a pid that exists
  // and whose stat we cannot read is alive for us; a zombie, or a readable start time that differs, is dead.
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return true;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return false;
  return start === 0 || Number(fields[19]) === start;
}

/** Identity stamp of this process: start time split in halves, and namespace. */
export interface Stamp {
  readonly pid: number;
  readonly start: number;
  readonly ns: number;
}

export function selfStamp(): Stamp {
  const me = selfIdentity();
  return { pid: me.pid, start: me.startTime, ns: selfNs() };
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
