/**
 * The bridge's memory of queue records in transit, kept in a local Mailbox segment so that it outlives a bridge
 * killed with SIGKILL (the segment stays; the next bridge run reads it). A Mailbox write is all or nothing (two
 * slots and a seqlock), so a kill mid-write leaves the previous journal.
 *
 * Out (local queue -> JetStream): the records taken from the local queue and not yet acknowledged by JetStream,
 * their first message id, and the journal's epoch (ids are `<epoch>.<n>`, so a new journal never reuses an id
 * that JetStream's duplicate window still remembers). In (JetStream -> local queue): the stream sequence of the
 * last record put into the local queue.
 */
import { randomBytes } from 'node:crypto';
import { isShmbusError } from '../errors.js';
import { Mailbox } from '../channels/mailbox.js';
import { ShmbusError } from '../errors.js';

const MAGIC = 0x314a4253; // "SBJ1"
const HEAD = 32;
const EPOCH_BYTES = 16;

/** One record taken from the local queue. */
export interface JournalRecord {
  data: Uint8Array;
  text: boolean;
}

/** Opens the journal `name`, or creates it with room for `size` bytes. */
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

export class OutJournal {
  epoch: string;
  /** Id number of the first pending record (and of the next record after them). */
  next: number;
  pending: JournalRecord[];
  #bytes = 0;

  private constructor(
    private mb: Mailbox,
    readonly name: string,
  ) {
    const v = mb.read().data;
    const parsed = v.length === 0 ? null : decodeOut(v, name);
    this.epoch = parsed?.epoch ?? randomBytes(EPOCH_BYTES / 2).toString('hex');
    this.next = parsed?.next ?? 0;
    this.pending = parsed?.pending ?? [];
    this.#bytes = this.pending.reduce((a, r) => a + r.data.length + 8, 0);
  }

  /** Opens (a previous run's journal is read back) or creates the journal `name` with room for `size` bytes. */
  static open(name: string, size: number): OutJournal {
    const { mb } = openOrCreate(name, size + HEAD);
    const j = new OutJournal(mb, name);
    if (mb.maxMessageSize < size + HEAD && j.pending.length === 0) {
      // Too small for this queue's records (the queue was re-created bigger): a new, empty one.
      mb.close();
      Mailbox.unlink(name);
      return new OutJournal(openOrCreate(name, size + HEAD).mb, name);
    }
    return j;
  }

  /** Bytes the journal holds now (records and their framing). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Room left for records. */
  get room(): number {
    return this.mb.maxMessageSize - HEAD - this.#bytes;
  }

  /** Records one more taken record (persisted before this returns). */
  add(r: JournalRecord): void {
    this.pending.push(r);
    this.#bytes += r.data.length + 8;
    this.#save();
  }

  /** The pending records are in JetStream: forget them, move the id on. */
  done(): void {
    this.next += this.pending.length;
    this.pending = [];
    this.#bytes = 0;
    this.#save();
  }

  /** Takes one id for a record that is not journaled (the end of stream marker). */
  take(): number {
    const id = this.next++;
    this.#save();
    return id;
  }

  #save(): void {
    const out = new Uint8Array(HEAD + this.#bytes);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint32(4, this.pending.length, true);
    dv.setFloat64(8, this.next, true);
    out.set(new TextEncoder().encode(this.epoch.padEnd(EPOCH_BYTES, ' ').slice(0, EPOCH_BYTES)), 16);
    let o = HEAD;
    for (const r of this.pending) {
      dv.setUint32(o, r.text ? 1 : 0, true);
      dv.setUint32(o + 4, r.data.length, true);
      out.set(r.data, o + 8);
      o += 8 + r.data.length;
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

/** Decodes an out journal, every length checked against the bytes (they come from shared memory). */
function decodeOut(v: Uint8Array, name: string): { epoch: string; next: number; pending: JournalRecord[] } {
  const corrupt = (why: string) => new ShmbusError('ERR_SHM_CORRUPT', `bridge journal ${name}: ${why}`, { segment: name });
  if (v.length < HEAD) throw corrupt('too short');
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw corrupt('not a bridge journal');
  const count = dv.getUint32(4, true);
  const next = dv.getFloat64(8, true);
  if (!Number.isSafeInteger(next) || next < 0) throw corrupt('bad id');
  const epoch = new TextDecoder().decode(v.subarray(16, 16 + EPOCH_BYTES)).trim();
  const pending: JournalRecord[] = [];
  let o = HEAD;
  for (let i = 0; i < count; i++) {
    if (o + 8 > v.length) throw corrupt('truncated record header');
    const flags = dv.getUint32(o, true);
    const len = dv.getUint32(o + 4, true);
    if (o + 8 + len > v.length) throw corrupt('truncated record');
    pending.push({ data: v.slice(o + 8, o + 8 + len), text: (flags & 1) !== 0 });
    o += 8 + len;
  }
  return { epoch, next, pending };
}

/** The in side: the stream sequence of the last record in the local queue. */
export class InJournal {
  delivered: number;

  private constructor(
    private mb: Mailbox,
    readonly name: string,
  ) {
    const v = mb.read().data;
    if (v.length === 0) this.delivered = 0;
    else {
      if (v.length !== 16) throw new ShmbusError('ERR_SHM_CORRUPT', `bridge journal ${name}: not an inbound journal`, { segment: name });
      const dv = new DataView(v.buffer, v.byteOffset, 16);
      this.delivered = dv.getFloat64(0, true);
      if (dv.getUint32(8, true) !== MAGIC || !Number.isSafeInteger(this.delivered) || this.delivered < 0) {
        throw new ShmbusError('ERR_SHM_CORRUPT', `bridge journal ${name}: not an inbound journal`, { segment: name });
      }
    }
  }

  static open(name: string): InJournal {
    return new InJournal(openOrCreate(name, 64).mb, name);
  }

  /** Records that the record at stream sequence `seq` is in the local queue. */
  set(seq: number): void {
    this.delivered = seq;
    const out = new Uint8Array(16);
    const dv = new DataView(out.buffer);
    dv.setFloat64(0, seq, true);
    dv.setUint32(8, MAGIC, true);
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
