/**
 * Zero-copy pieces of the Queue ring (PROTOCOL.md §6) shared by Queue and Rpc: a slot this process holds (a loan
 * holds it WRITING, a view holds it TAKEN) and QueueLoan, the public face of a loaned Queue slot. Holding a slot
 * needs no protocol rule of its own: a holder that dies is recovered by §6 RECOVER like any other.
 */
import { ShmbusError } from '../errors.js';
import { invalidArg } from '../base/options.js';

/**
 * What a held slot needs of its ring (QueueRing has it). Stated here rather than imported, so that this module
 * stays below queue-ring.ts, which makes HeldSlots. @internal
 */
export interface SlotRing {
  readonly segment: { readonly name: string; readonly bytes: Uint8Array };
  readonly view: DataView;
  /** The slot the ring claimed or took last. */
  readonly held: { readonly si: number; readonly seq: number; readonly offset: number; readonly length: number; readonly flags: number };
  commitHeld(si: number, seq: number, length: number, flags: number): boolean;
  abortHeld(si: number, seq: number): void;
  freeHeld(si: number, seq: number): boolean;
}

/** One slot held by this process (its pair is (seq, our pid)): its ring, word index, state and the body's byte offset. @internal */
export class HeldSlot {
  readonly ring: SlotRing;
  readonly si: number;
  readonly seq: number;
  /** Byte offset of the body in the ring's segment bytes. */
  readonly offset: number;
  /** Body length (a taken slot's message length; 0 for a claimed one). */
  readonly length: number;
  readonly flags: number;

  /** The slot the ring claimed or took last (ring.held), copied. */
  constructor(ring: SlotRing) {
    const h = ring.held;
    this.ring = ring;
    this.si = h.si;
    this.seq = h.seq;
    this.offset = h.offset;
    this.length = h.length;
    this.flags = h.flags;
  }

  /** Commits a claimed slot. @throws ERR_CLOSED (stream ended: given back), ERR_SHM_CORRUPT (recovered under us) */
  commit(length: number, flags: number): void {
    if (!this.ring.commitHeld(this.si, this.seq, length, flags)) {
      throw new ShmbusError(
        'ERR_SHM_CORRUPT',
        `queue "${this.ring.segment.name}": the slot of this loan was recovered by another process that judged this ` +
          'one dead; the message was not sent',
        { segment: this.ring.segment.name },
      );
    }
  }

  /** Gives the slot back unused (a loan's abort, or a view dropped on an error). */
  abort(): void {
    this.ring.abortHeld(this.si, this.seq);
  }

  /** Frees a taken slot (a view's release); false when it had been recovered under us. */
  free(): boolean {
    return this.ring.freeHeld(this.si, this.seq);
  }
}

/**
 * The one zero-copy view a handle holds (a Queue's message, an Rpc client's response): the message object handed
 * out and the slot it reads. Holding another, or dropping, frees the slot. @internal
 */
export class ViewHolder<M> {
  #message: M | null = null;
  #slot: HeldSlot | null = null;

  /** True when `message` is the view held now. */
  holds(message: M): boolean {
    return this.#message === message;
  }

  /** Holds `message` over `slot`, freeing the slot of the view held before. */
  hold(message: M, slot: HeldSlot): void {
    this.drop();
    this.#message = message;
    this.#slot = slot;
  }

  /** Frees the slot of the view held, if any. */
  drop(): void {
    const slot = this.#slot;
    if (slot === null) return;
    this.#message = null;
    this.#slot = null;
    slot.free();
  }
}

/** A view of `length` bytes at `offset` of the ring's segment (the bytes of a held slot). @internal */
export function slotBytes(ring: SlotRing, offset: number, length: number): Uint8Array {
  const b = ring.segment.bytes;
  // `new Uint8Array(buffer, ...)` costs less than `subarray` (no species lookup).
  return new Uint8Array(b.buffer, b.byteOffset + offset, length);
}

/** What a QueueLoan ends through (its Queue). @internal */
export interface QueueLoanOwner {
  loanEnded(loan: QueueLoan): void;
  readonly closed: boolean;
}

/** ERR_CLOSED for a loan that was already committed or aborted. @internal */
export function loanEndedError(): ShmbusError {
  return new ShmbusError('ERR_CLOSED', 'this loan was already committed or aborted');
}

/** Checks a commit size against the loaned size (ERR_INVALID_ARG). @internal */
export function commitSize(size: unknown, loaned: number): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > loaned) {
    throw invalidArg('commit size', `an integer from 0 to ${loaned} (the loan was aborted)`, size);
  }
  return size;
}

/**
 * A zero-copy send: a slot of the queue claimed for you. Write the message into `bytes`, then `commit()` it (or
 * `commit(n)` for its first n bytes), or `abort()`. Receivers take messages in order, so an open loan holds back
 * the messages sent after it: fill it promptly. If this process dies before the commit, the slot is recovered
 * (counted in `stats().abandoned`) and nothing is sent.
 * @example
 * ```ts
 * const loan = await q.loan(1280 * 720 * 3);
 * camera.readInto(loan.bytes);
 * loan.commit();
 * ```
 */
export class QueueLoan {
  /** The message space in the slot, exactly the size asked for. Valid until commit/abort. */
  readonly bytes: Uint8Array;
  readonly #slot: HeldSlot;
  readonly #owner: QueueLoanOwner;
  #open = true;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create(owner: QueueLoanOwner, slot: HeldSlot, bytes: Uint8Array): QueueLoan {
    return new QueueLoan(owner, slot, bytes);
  }

  private constructor(owner: QueueLoanOwner, slot: HeldSlot, bytes: Uint8Array) {
    this.#owner = owner;
    this.#slot = slot;
    this.bytes = bytes;
  }

  /** True until commit or abort. */
  get open(): boolean {
    return this.#open;
  }

  /**
   * Sends the message: its first `size` bytes (default all of `bytes`).
   * @throws ERR_CLOSED (loan already ended, queue handle closed, or the stream ended: the slot is given back),
   *   ERR_INVALID_ARG (size out of range: the loan is aborted)
   */
  commit(size: number = this.bytes.length): void {
    this.#end();
    try {
      this.#slot.commit(commitSize(size, this.bytes.length), 0);
    } catch (e) {
      if (!(e instanceof ShmbusError) || e.code !== 'ERR_CLOSED') this.#slot.abort();
      throw e;
    }
  }

  /** Gives the slot back; nothing is sent. @throws ERR_CLOSED (already ended) */
  abort(): void {
    this.#end();
    this.#slot.abort();
  }

  /** @internal close() of the queue: gives the slot back if the loan is still open. */
  drop(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#slot.abort();
  }

  #end(): void {
    if (this.#owner.closed) {
      throw new ShmbusError('ERR_CLOSED', 'the queue handle of this loan was closed (the loan was aborted then)');
    }
    if (!this.#open) throw loanEndedError();
    this.#open = false;
    this.#owner.loanEnded(this);
  }
}
