/**
 * The bridge's memory of queue records in transit, kept in a local Mailbox segment so that it outlives a bridge
 * killed with SIGKILL (the segment stays; the next bridge run reads it). A Mailbox write is all or nothing (two
 * slots and a seqlock), so a kill mid-write leaves the previous journal.
 *
 * Out (local queue -> JetStream): the records taken from the local queue and not yet acknowledged by JetStream,
 * their first message id, and the journal's epoch (ids are `<epoch>.<n>`, so a new journal never reuses an id
 * that JetStream's duplicate window still remembers). In (JetStream -> local queue): per sender epoch, the id of
 * the last record put into the local queue.
 */
import { randomBytes } from 'node:crypto';
import { isShmbusError } from '../errors.js';
import { Mailbox } from '../channels/mailbox.js';
import { ShmbusError } from '../errors.js';
import { Segment } from '../segment/segment.js';

const MAGIC = 0x314a4253; // "SBJ1"
const EPOCH_BYTES = 16;

/** One record taken from the local queue. */
export interface JournalRecord {
  data: Uint8Array;
  text: boolean;
}

/** Opens the mailbox journal `name`, or creates it with room for `size` bytes. */
function openOrCreate(name: string, size: number): { mb: Mailbox; created: boolean } {
  try {
    return { mb: Mailbox.open(name, { timeout: 1000 }), created: false };
  } catch (e) {
    if (!isShmbusError(e, 'ERR_SHM_NOT_FOUND')) throw e;
  }
  try {
    return { mb: Mailbox.create(name, { maxMessageSize: size }), created: true };
  } catch (e) {
    if (!isShmbusError(e, 'ERR_SHM_EXISTS')) throw e;
    return { mb: Mailbox.open(name, { timeout: 1000 }), created: false };
  }
}

// Out journal layout (payload of a raw segment; one writer, the bridge): u32 magic, u32 reserved, i64 STATE
// (next * 2^20 + count: the id of the first pending record and how many are committed, stored in one atomic step
// so that a kill never separates them), 16 bytes epoch (ASCII hex), then from byte 64 the records: u32 flags
// (bit 0: text), u32 length, the bytes.
const STATE_OFFSET = 8;
const EPOCH_OFFSET = 16;
const RECORDS_OFFSET = 64;
const COUNT_BITS = 2 ** 20;

/**
 * Records taken from the local queue and not yet acknowledged by JetStream. Appending one is a copy and one
 * atomic store (so the window in which a SIGKILL loses a record already taken from the queue is that short).
 */
export class OutJournal {
  readonly epoch: string;
  #next: number;
  #count: number;
  #used = RECORDS_OFFSET;
  readonly #seg: Segment;
  readonly #state: BigInt64Array;
  readonly #dv: DataView;

  private constructor(
    seg: Segment,
    readonly name: string,
    fresh: boolean,
  ) {
    this.#seg = seg;
    this.#dv = new DataView(seg.buffer, seg.bytes.byteOffset, seg.size);
    this.#state = new BigInt64Array(seg.buffer, seg.bytes.byteOffset + STATE_OFFSET, 1);
    if (fresh) {
      this.epoch = randomBytes(EPOCH_BYTES / 2).toString('hex');
      seg.bytes.set(new TextEncoder().encode(this.epoch), EPOCH_OFFSET);
      this.#dv.setUint32(0, MAGIC, true);
      this.#next = 0;
      this.#count = 0;
      return;
    }
    const corrupt = (why: string) => new ShmbusError('ERR_SHM_CORRUPT', `bridge journal ${name}: ${why}`, { segment: name });
    if (seg.size < RECORDS_OFFSET || this.#dv.getUint32(0, true) !== MAGIC) throw corrupt('not a bridge journal');
    this.epoch = new TextDecoder().decode(seg.bytes.subarray(EPOCH_OFFSET, EPOCH_OFFSET + EPOCH_BYTES));
    if (!/^[0-9a-f]{16}$/.test(this.epoch)) throw corrupt('bad epoch');
    // SYNC none (one writer; this run reads what a dead run committed): seq_cst load of the state word.
    const state = Number(Atomics.load(this.#state, 0));
    this.#next = Math.floor(state / COUNT_BITS);
    this.#count = state % COUNT_BITS;
    for (let i = 0; i < this.#count; i++) {
      if (this.#used + 8 > seg.size) throw corrupt('truncated record header');
      const len = this.#dv.getUint32(this.#used + 4, true);
      if (len > seg.size - this.#used - 8) throw corrupt('truncated record');
      this.#used += 8 + len;
    }
  }

  /** Opens (a previous run's journal is read back) or creates the journal `name` with room for `size` bytes. */
  static open(name: string, size: number): OutJournal {
    const want = RECORDS_OFFSET + size;
    try {
      const seg = Segment.open(name, { kind: 'raw', timeout: 1000 });
      const j = new OutJournal(seg, name, false);
      if (seg.size >= want || j.#count > 0) return j;
      // Too small for this queue's records (the queue was re-created bigger) and empty: a new one.
      seg.close();
      Segment.unlink(name);
    } catch (e) {
      if (!isShmbusError(e, 'ERR_SHM_NOT_FOUND')) throw e;
    }
    return new OutJournal(Segment.create(name, { size: want }), name, true);
  }

  /** Id number of the first pending record (and of the next record after them). */
  get next(): number {
    return this.#next;
  }

  /** The records committed and not yet acknowledged (copies). */
  get pending(): JournalRecord[] {
    const out: JournalRecord[] = [];
    let o = RECORDS_OFFSET;
    for (let i = 0; i < this.#count; i++) {
      const len = this.#dv.getUint32(o + 4, true);
      out.push({ data: this.#seg.bytes.slice(o + 8, o + 8 + len), text: (this.#dv.getUint32(o, true) & 1) !== 0 });
      o += 8 + len;
    }
    return out;
  }

  get count(): number {
    return this.#count;
  }

  /** Bytes of records held. */
  get bytes(): number {
    return this.#used - RECORDS_OFFSET;
  }

  /** Room for one more record of `size` bytes? */
  fits(size: number): boolean {
    return this.#used + 8 + size <= this.#seg.size && this.#count + 1 < COUNT_BITS;
  }

  #commit(): void {
    // SYNC none (one writer): seq_cst store of next and count together; a kill before it leaves the old state.
    Atomics.store(this.#state, 0, BigInt(this.#next * COUNT_BITS + this.#count));
  }

  /** Appends a record just taken from the local queue (committed before this returns). */
  add(r: JournalRecord): void {
    if (!this.fits(r.data.length)) throw new ShmbusError('ERR_MESSAGE_TOO_LARGE', `bridge journal ${this.name} is full`);
    this.#dv.setUint32(this.#used, r.text ? 1 : 0, true);
    this.#dv.setUint32(this.#used + 4, r.data.length, true);
    this.#seg.bytes.set(r.data, this.#used + 8);
    this.#used += 8 + r.data.length;
    this.#count++;
    this.#commit();
  }

  /** The pending records are in JetStream: forget them, move the id on. */
  done(): void {
    this.#next += this.#count;
    this.#count = 0;
    this.#used = RECORDS_OFFSET;
    this.#commit();
  }

  /** Takes one id for a record that is not journaled (the end of stream marker). */
  take(): number {
    const id = this.#next++;
    this.#commit();
    return id;
  }

  close(unlink: boolean): void {
    this.#seg.close();
    if (unlink) {
      try {
        Segment.unlink(this.name);
      } catch {
        // gone already
      }
    }
  }
}

/** Epochs an inbound journal remembers (the most recent senders' journals). */
const IN_EPOCHS = 32;
const IN_ENTRY = EPOCH_BYTES + 8;

/**
 * The in side: per sender journal epoch, the id of the last record put into the local queue. Records are numbered
 * by their sender (`<epoch>.<n>`, in order), so a record at or below the mark is already here: whether it comes
 * again because its acknowledgement was lost, or republished by a restarted sender.
 */
export class InJournal {
  #marks = new Map<string, number>();

  private constructor(
    private mb: Mailbox,
    readonly name: string,
  ) {
    const v = mb.read().data;
    if (v.length === 0) return;
    const corrupt = () => new ShmbusError('ERR_SHM_CORRUPT', `bridge journal ${name}: not an inbound journal`, { segment: name });
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    if (v.length < 8 || dv.getUint32(0, true) !== MAGIC) throw corrupt();
    const count = dv.getUint32(4, true);
    if (count > IN_EPOCHS || v.length !== 8 + count * IN_ENTRY) throw corrupt();
    for (let i = 0; i < count; i++) {
      const o = 8 + i * IN_ENTRY;
      const epoch = new TextDecoder().decode(v.subarray(o, o + EPOCH_BYTES)).trim();
      const id = dv.getFloat64(o + EPOCH_BYTES, true);
      if (!Number.isSafeInteger(id) || id < 0) throw corrupt();
      this.#marks.set(epoch, id);
    }
  }

  static open(name: string): InJournal {
    return new InJournal(openOrCreate(name, 8 + IN_EPOCHS * IN_ENTRY).mb, name);
  }

  /** The last record id of `epoch` in the local queue, or -1. */
  last(epoch: string): number {
    return this.#marks.get(epoch) ?? -1;
  }

  /** Records that record `id` of `epoch` is in the local queue (persisted before this returns). */
  set(epoch: string, id: number): void {
    this.#marks.delete(epoch);
    this.#marks.set(epoch, id); // most recent last; the oldest epoch goes first when full
    while (this.#marks.size > IN_EPOCHS) this.#marks.delete(this.#marks.keys().next().value!);
    const out = new Uint8Array(8 + this.#marks.size * IN_ENTRY);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint32(4, this.#marks.size, true);
    let o = 8;
    for (const [e, n] of this.#marks) {
      out.set(new TextEncoder().encode(e.padEnd(EPOCH_BYTES, ' ').slice(0, EPOCH_BYTES)), o);
      dv.setFloat64(o + EPOCH_BYTES, n, true);
      o += IN_ENTRY;
    }
    this.mb.write(out);
  }

  close(unlink: boolean): void {
    this.mb.close();
    if (unlink) {
      try {
        Mailbox.unlink(this.name);
      } catch {
        // gone already
      }
    }
  }
}
