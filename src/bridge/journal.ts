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
import { QueueRing } from '../channels/queue-ring.js';
import {
  QUEUE_PARAM_SLOTS,
  QUEUE_PARAM_SLOT_SIZE,
  QUEUE_SLOTS_OFFSET,
  QUEUE_SLOT_OWNER_SEQ_OFFSET,
  QUEUE_SLOT_SEQ_OFFSET,
  QUEUE_STATE_COMMITTED,
  QUEUE_STATE_TAKEN,
  QUEUE_TAIL_OFFSET,
  queueSlotStride,
} from '../protocol/index.js';

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

  /** Where the next record's bytes go: a view to receive into straight from the queue (see `added`). */
  reserve(): Uint8Array {
    return this.#seg.bytes.subarray(this.#used + 8);
  }

  /**
   * Records a message received into reserve()'s view (`data` must be that view's first bytes: committed in place,
   * no copy), or copies it when it did not fit there.
   */
  added(data: Uint8Array, text: boolean): void {
    const inPlace = data.buffer === this.#seg.bytes.buffer && data.byteOffset === this.#seg.bytes.byteOffset + this.#used + 8;
    if (!inPlace) return this.add({ data, text });
    this.#dv.setUint32(this.#used, text ? 1 : 0, true);
    this.#dv.setUint32(this.#used + 4, data.length, true);
    this.#used += 8 + data.length;
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
 *
 * A put and its mark cannot be one atomic step, so before each put the journal also records it as pending with
 * the ticket that put will claim in the local queue (QueueTickets). A bridge killed between the put and the mark
 * is resolved on restart by that ticket's slot: committed, taken, or freed by a receiver means the record went in.
 * (The queue's commit counter cannot tell: a recovery of our dead WRITING slot moves it too, and a kill between the
 * COMMIT CAS and the counter's increment does not.) This assumes the bridge is the queue's only sender
 * (docs/bridge.md).
 */
export class InJournal {
  #marks = new Map<string, number>();
  #pending: { epoch: string; id: number; ticket: number } | null = null;

  private constructor(
    private mb: Mailbox,
    readonly name: string,
    tickets: () => QueueTickets | null,
  ) {
    const v = mb.read().data;
    if (v.length === 0) return;
    const corrupt = () => new ShmbusError('ERR_SHM_CORRUPT', `bridge journal ${name}: not an inbound journal`, { segment: name });
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    if (v.length < 8 + IN_ENTRY + 8 || dv.getUint32(0, true) !== MAGIC) throw corrupt();
    const count = dv.getUint32(4, true);
    if (count > IN_EPOCHS || v.length !== 8 + IN_ENTRY + 8 + count * IN_ENTRY) throw corrupt();
    const entry = (o: number): [string, number] => {
      const epoch = new TextDecoder().decode(v.subarray(o, o + EPOCH_BYTES)).trim();
      const id = dv.getFloat64(o + EPOCH_BYTES, true);
      if (!Number.isSafeInteger(id) || id < -1) throw corrupt();
      return [epoch, id];
    };
    for (let i = 0; i < count; i++) {
      const [epoch, id] = entry(8 + IN_ENTRY + 8 + i * IN_ENTRY);
      this.#marks.set(epoch, id);
    }
    const [pe, pid] = entry(8);
    const ticket = dv.getUint32(8 + IN_ENTRY, true);
    if (pid >= 0 && pid > this.last(pe)) {
      // Killed around a put: the slot of the ticket it was to claim tells whether it went in.
      if (tickets()?.wentIn(ticket)) this.#marks.set(pe, pid);
      this.#save();
    }
  }

  /** Opens the journal; `tickets` reads the local queue's slots (null: no queue yet). */
  static open(name: string, tickets: () => QueueTickets | null): InJournal {
    return new InJournal(openOrCreate(name, 8 + IN_ENTRY + 8 + IN_EPOCHS * IN_ENTRY).mb, name, tickets);
  }

  /** The last record id of `epoch` in the local queue, or -1. */
  last(epoch: string): number {
    return this.#marks.get(epoch) ?? -1;
  }

  /** Before a put: record `id` of `epoch` is about to go in, as ticket `ticket` of the local queue (QueueTickets.next). */
  begin(epoch: string, id: number, ticket: number): void {
    this.#pending = { epoch, id, ticket };
    this.#save();
  }

  /** Records that record `id` of `epoch` is in the local queue (persisted before this returns). */
  set(epoch: string, id: number): void {
    this.#marks.delete(epoch);
    this.#marks.set(epoch, id); // most recent last; the oldest epoch goes first when full
    while (this.#marks.size > IN_EPOCHS) this.#marks.delete(this.#marks.keys().next().value!);
    this.#pending = null;
    this.#save();
  }

  #save(): void {
    const out = new Uint8Array(8 + IN_ENTRY + 8 + this.#marks.size * IN_ENTRY);
    const dv = new DataView(out.buffer);
    const enc = new TextEncoder();
    dv.setUint32(0, MAGIC, true);
    dv.setUint32(4, this.#marks.size, true);
    const p = this.#pending;
    out.set(enc.encode((p?.epoch ?? '').padEnd(EPOCH_BYTES, ' ').slice(0, EPOCH_BYTES)), 8);
    dv.setFloat64(8 + EPOCH_BYTES, p ? p.id : -1, true);
    dv.setUint32(8 + IN_ENTRY, p ? p.ticket >>> 0 : 0, true);
    let o = 8 + IN_ENTRY + 8;
    for (const [e, n] of this.#marks) {
      out.set(enc.encode(e.padEnd(EPOCH_BYTES, ' ').slice(0, EPOCH_BYTES)), o);
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

/**
 * Read-only look at a local queue's tickets (PROTOCOL §6), for the inbound journal's pending put: which ticket the
 * next put of the queue's only sender will claim, and, after a kill, whether the put of a ticket went in. Reads
 * only; the queue's own code does every CAS.
 */
export class QueueTickets {
  readonly #words: Int32Array;
  readonly #slots: number;
  readonly #first: number;
  readonly #stride: number;

  constructor(private readonly seg: Segment) {
    const slots = seg.params[QUEUE_PARAM_SLOTS]!;
    const slotSize = seg.params[QUEUE_PARAM_SLOT_SIZE]!;
    // Nothing read from shared memory is trusted: slots, slot size and the ring's extent are checked first.
    QueueRing.validate(seg, 0, slots, slotSize);
    this.#words = seg.words;
    this.#slots = slots;
    this.#first = QUEUE_SLOTS_OFFSET;
    this.#stride = queueSlotStride(slotSize);
  }

  /** Opens queue `name`'s segment (null when there is none yet). */
  static open(name: string): QueueTickets | null {
    let seg: Segment;
    try {
      seg = Segment.open(name, { kind: 'queue', timeout: 0 });
    } catch {
      return null;
    }
    try {
      return new QueueTickets(seg);
    } catch (e) {
      seg.close();
      throw e;
    }
  }

  #seq(ticket: number): number {
    const i = (this.#first + (ticket & (this.#slots - 1)) * this.#stride + QUEUE_SLOT_SEQ_OFFSET) >> 2;
    // SYNC QUEUE-SLOT-LOAD (seq_cst load of the pair's low half alone: the state word; ECMAScript defines the
    // mixed-size access, and nothing here CASes on it).
    return Atomics.load(this.#words, i);
  }

  /**
   * The ticket the next put claims, when the caller is the queue's only sender: the tail hint, moved past slots
   * already claimed for their ticket (a put killed before it advanced the tail). A full queue keeps it: the put
   * waits for that very slot.
   */
  next(): number {
    // SYNC QUEUE-TAIL (seq_cst load of the producers' hint).
    let t = Atomics.load(this.#words, QUEUE_TAIL_OFFSET >> 2);
    for (let n = 0; n < this.#slots && ((this.#seq(t) - Math.imul(t, 4)) | 0) > 0; n++) t = (t + 1) | 0;
    return t >>> 0;
  }

  /**
   * Did the put of `ticket` go in? Its slot says so while no later ticket reused it (none can: the caller was the
   * only sender and is only now back): COMMITTED or TAKEN: yes; freed once (4 * slots ahead): yes if a receiver
   * took it (it stamped ownerSeq = TAKEN of that ticket before freeing), no if its WRITING was recovered (ownerSeq
   * still the writer's); FREE, WRITING (a dead writer, recovered later) or the slot's previous ticket: no.
   */
  wentIn(ticket: number): boolean {
    const t = ticket | 0;
    const d = (this.#seq(t) - Math.imul(t, 4)) | 0;
    if (d === QUEUE_STATE_COMMITTED || d === QUEUE_STATE_TAKEN) return true;
    if (d === Math.imul(this.#slots, 4)) {
      const o = (this.#first + (t & (this.#slots - 1)) * this.#stride + QUEUE_SLOT_OWNER_SEQ_OFFSET) >> 2;
      // SYNC QUEUE-OWNER (seq_cst load, reader side: the receiver's release store of ownerSeq before its FREE).
      return Atomics.load(this.#words, o) === ((Math.imul(t, 4) + QUEUE_STATE_TAKEN) | 0);
    }
    // Reused by a later ticket: another sender was at work (outside the documented use); counting it in avoids a
    // duplicate, the choice the journal makes everywhere else it cannot know.
    return d > Math.imul(this.#slots, 4);
  }

  close(): void {
    this.seg.close();
  }
}
