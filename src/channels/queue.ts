/**
 * Queue: a lossless bounded MPMC queue of messages between processes (PROTOCOL.md §6). This module holds the public
 * class and its options; the pieces live beside it, one concern each:
 * - queue-message.ts: QueueMessage (bytes, text(), json(), value);
 * - queue-body.ts: how a message body is written into a slot and copied out;
 * - queue-loan.ts: zero-copy slots (QueueLoan, and the held slot behind loans and views);
 * - queue-ring.ts: the ring algorithm (claim, commit, take, free as 64-bit CASes);
 * - queue-recovery.ts: who holds a slot and whether it still lives;
 * - queue-park.ts: spinning and sleeping (sleepers words, §3).
 * Rpc imports the ring pieces from here.
 */
import { ShmbusError, isShmbusError } from '../errors.js';
import { QUEUE_FLAG_TEXT, QUEUE_MAX_SLOTS, QUEUE_MAX_SLOT_SIZE, QUEUE_PARAM_SLOTS, QUEUE_PARAM_SLOT_SIZE, queueRingSize } from '../protocol/layout.js';
import { Segment } from '../segment/segment.js';
import { appearAsync, appearSync } from '../segment/appear.js';
import { deadlineAfter, timeoutError, validateSignal, validateTimeout, type WaitOptions } from '../base/deadline.js';
import { intOption, invalidArg, livenessOption, optionsObject } from '../base/options.js';
import { validateSpin } from '../base/spin.js';
import { resolveCodec, type Codec, type CodecOption } from './codec.js';
import { QueueMessage } from './queue-message.js';
import { bodyFlags, copyBody, validateBody, writeBody, type BodyReader } from './queue-body.js';
import { DEFAULT_SPIN_US, EMPTY, END, LIVENESS_INTERVAL_MS, QueueRing, TIMED_OUT } from './queue-ring.js';
import { HeldSlot, QueueLoan, ViewHolder, slotBytes } from './queue-loan.js';

export { QueueMessage } from './queue-message.js';
export { QueueLoan } from './queue-loan.js';

/** What `send` takes: bytes or a string without a codec; the codec's value type with one. */
export type QueueInput<T> = [T] extends [Uint8Array] ? Uint8Array | string : T;

/** Options shared by create, open and openOrCreate. */
export interface QueueHandleOptions<T = Uint8Array> {
  /** Microseconds a waiting call re-checks shared memory before it sleeps (default 50; 0 sleeps at once). */
  spin?: number;
  /**
   * Milliseconds between liveness checks of a process that holds the slot a waiter needs (default 50): the death
   * of a sender in the middle of a message is noticed within about this long.
   */
  livenessInterval?: number;
  /** How messages are encoded: 'json', 'v8' or a {@link Codec}; default raw bytes (and strings as UTF-8). */
  codec?: CodecOption<T>;
}

export interface QueueCreateOptions<T = Uint8Array> extends QueueHandleOptions<T> {
  /**
   * Number of slots: a power of two, 1..2^24. Default 64 (fewer for big messages, so the ring stays within
   * 16 MiB, at least 2).
   */
  slots?: number;
  /** Largest message in bytes (1..2^30). Default 4096. Larger messages are refused with ERR_MESSAGE_TOO_LARGE. */
  maxMessageSize?: number;
  /** Permission bits of the segment (within 0o666); default 0o600. */
  mode?: number;
}

export interface QueueOpenOptions<T = Uint8Array> extends QueueHandleOptions<T> {
  /**
   * Milliseconds to wait for the queue to appear (default 0: it must exist now). `Queue.open` blocks the thread
   * while it waits; `Queue.openAsync` does not.
   */
  timeout?: number;
  /** Aborts `Queue.openAsync`'s wait (ERR_ABORTED; ERR_TIMEOUT for `AbortSignal.timeout`). */
  signal?: AbortSignal;
}

/** Options of {@link Queue.receive}. */
export interface QueueReceiveOptions extends WaitOptions {
  /**
   * Copy the message into this buffer when it fits (then `m.data` is a view of it, valid until you reuse the
   * buffer, and the message object itself is reused by the next receive into the same buffer): no allocation per
   * message.
   */
  into?: Uint8Array;
  /**
   * false: zero-copy. `m.data` is a view of the message in its slot (shared memory), valid until `m.release()`,
   * the next receive of this handle, or its close (each releases it): a handle holds at most one such view, and a
   * held slot stops producers once they come round the ring to it, so release it promptly. Not with `into`.
   * Default true (a private copy).
   */
  copy?: boolean;
}

/** Options of {@link Queue.tryReceive}. */
export interface QueueTryReceiveOptions {
  /** As in {@link QueueReceiveOptions.into}. */
  into?: Uint8Array;
  /** As in {@link QueueReceiveOptions.copy}. */
  copy?: boolean;
}

/** A queue's counters (approximate while others work on it). */
export interface QueueStats {
  /** Messages in the ring now (committed or being written), 0..slots. */
  length: number;
  /** Number of slots. */
  slots: number;
  /** Largest message in bytes. */
  maxMessageSize: number;
  /** Slots skipped because their sender died while writing them (all processes, since creation). */
  abandoned: number;
  /** Messages taken by a receiver that died before it finished copying them (all processes, since creation). */
  lost: number;
  /** Messages sent through this handle. */
  sent: number;
  /** Messages received through this handle. */
  received: number;
}

const DEFAULT_SLOTS = 64;
/** receive() without options (no object made per call). */
const NO_RECEIVE_OPTIONS: QueueReceiveOptions = Object.freeze({});
const DEFAULT_MAX_MESSAGE_SIZE = 4096;
/** Default slot counts shrink so that a ring of big slots stays within this many bytes (at least 2 slots). */
const DEFAULT_RING_BUDGET = 16 << 20;
/** Largest wait that means "that long" rather than forever (setTimeout's limit is handled by the futex layer). */

/**
 * The default number of slots for `slotSize`-byte slots: `max`, or fewer (a power of two, at least 2) so the ring
 * stays within 16 MiB. @internal
 */
export function defaultSlots(slotSize: unknown, max: number): number {
  if (typeof slotSize !== 'number' || !(slotSize > 0)) return max;
  let n = max;
  while (n > 2 && n * slotSize > DEFAULT_RING_BUDGET) n >>= 1;
  return n;
}

/** @internal validates slots/slotSize options (`sizeName`: how the caller's option is called). */
export function validateRingOptions(slots: unknown, slotSize: unknown, sizeName = 'slotSize'): { slots: number; slotSize: number } {
  if (typeof slots !== 'number' || !Number.isInteger(slots) || slots < 1 || slots > QUEUE_MAX_SLOTS || (slots & (slots - 1)) !== 0) {
    throw invalidArg('slots', 'a power of two from 1 to 2^24', slots);
  }
  return { slots, slotSize: intOption(sizeName, slotSize, 1, QUEUE_MAX_SLOT_SIZE, 0) };
}

function validateMode(mode: unknown): number | undefined {
  if (mode === undefined) return undefined;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || (mode & ~0o666) !== 0) {
    throw invalidArg('mode', 'permission bits within 0o666 (read/write for owner, group, others)', mode);
  }
  return mode;
}

/** Refuses options of the old API with a hint (slotSize became maxMessageSize). */
function refuseRenamed(options: object): void {
  if ('slotSize' in options && (options as { slotSize?: unknown }).slotSize !== undefined) {
    throw invalidArg('slotSize', 'absent (it is called maxMessageSize now)', (options as { slotSize?: unknown }).slotSize);
  }
}

/** Creates a queue segment holding one ring. @internal */
export function createQueueRing(
  name: string,
  slots: number,
  slotSize: number,
  mode: number | undefined,
  spin: number | undefined,
  firstTicket = 0,
  livenessInterval?: number,
): QueueRing {
  const spinUs = validateSpin(spin, DEFAULT_SPIN_US);
  const seg = Segment.create(name, {
    size: queueRingSize(slots, slotSize),
    kind: 'queue',
    ...(mode === undefined ? {} : { mode }),
    params: [slots, slotSize],
    init: (s) => QueueRing.init(s, 0, slots, slotSize, firstTicket),
  });
  return new QueueRing(seg, 0, slots, slotSize, spinUs, livenessInterval);
}

/** Opens a queue segment and validates its ring. @internal */
export function openQueueRing(name: string, timeout: number | undefined, spin: number | undefined, livenessInterval?: number): QueueRing {
  const spinUs = validateSpin(spin, DEFAULT_SPIN_US);
  const seg = Segment.open(name, { kind: 'queue', ...(timeout === undefined ? {} : { timeout }) });
  try {
    const slots = seg.params[QUEUE_PARAM_SLOTS]!;
    const slotSize = seg.params[QUEUE_PARAM_SLOT_SIZE]!;
    QueueRing.validate(seg, 0, slots, slotSize);
    return new QueueRing(seg, 0, slots, slotSize, spinUs, livenessInterval);
  } catch (e) {
    seg.close();
    throw e;
  }
}

/** How long Segment.open may wait for a creator that is still initialising (it takes microseconds). */
const INIT_WAIT_MS = 1000;

interface Resolved<T> {
  spin: number;
  liveness: number;
  codec: Codec<T> | undefined;
}

function handleOptions<T>(o: QueueHandleOptions<T>): Resolved<T> {
  return { spin: validateSpin(o.spin, DEFAULT_SPIN_US), liveness: livenessOption(o.livenessInterval, LIVENESS_INTERVAL_MS), codec: resolveCodec(o.codec) };
}

/**
 * A lossless bounded queue between processes: every message sent is received exactly once (by one of any number
 * of receivers), in order per sender. A full queue makes `send` wait (backpressure). `end()` ends the stream for
 * everyone: receivers drain what is left, then `receive()` gives `null` and `for await` ends. `close()` only
 * detaches this handle. A sender killed while writing a slot never blocks the queue: receivers skip that slot once
 * they see the sender is dead.
 *
 * @example
 * ```ts
 * const q = Queue.create('files', { slots: 256, maxMessageSize: 4096 });
 * await q.send('hello');
 * q.end();
 * for await (const m of Queue.open('files')) console.log(m.text());
 * ```
 */
export class Queue<T = Uint8Array> implements AsyncIterable<QueueMessage<T>> {
  /** The queue's name. */
  readonly name: string;
  /** Number of slots. */
  readonly slots: number;
  /** Largest message in bytes. */
  readonly maxMessageSize: number;
  readonly #ring: QueueRing;
  readonly #codec: Codec<T> | undefined;
  readonly #where: string;
  #closed = false;
  // Allocation-free send: the writer is made once and reads the message to write from #outgoing.
  #outgoing: Uint8Array | string = '';
  readonly #writer = (bytes: Uint8Array, offset: number, capacity: number): number =>
    writeBody(this.#outgoing, bytes, offset, capacity, this.#where);
  // Allocation-free receive into a caller buffer: the target, and the message object reused for it.
  #into: Uint8Array | undefined = undefined;
  #intoMessage: QueueMessage<T> | undefined = undefined;
  readonly #readInto: BodyReader<QueueMessage<T>> = (bytes, offset, length, flags) => this.#deliverInto(bytes, offset, length, flags);
  readonly #readCopy: BodyReader<QueueMessage<T>> = (bytes, offset, length, flags) =>
    QueueMessage.create<T>(copyBody(bytes, offset, length), (flags & QUEUE_FLAG_TEXT) !== 0, this.#codec);
  // Zero-copy: the open loans (given back on close) and the one view this handle holds (released by the next
  // receive, by release() or by close).
  readonly #loans = new Set<QueueLoan>();
  readonly #view = new ViewHolder<QueueMessage<T>>();
  /** Views of the slots' bodies by slot offset, reused while the length is the same (no view per message). */
  readonly #views = new Map<number, Uint8Array>();
  readonly #releaseView = (m: QueueMessage<T>): void => {
    if (this.#closed) {
      throw new ShmbusError('ERR_CLOSED', `queue "${this.name}" was closed: its zero-copy message was released then`, { segment: this.name });
    }
    if (this.#view.holds(m)) this.#view.drop();
  };

  private constructor(name: string, ring: QueueRing, codec: Codec<T> | undefined) {
    this.name = name;
    this.#ring = ring;
    this.#codec = codec;
    this.#where = `queue "${name}"`;
    this.slots = ring.slots;
    this.maxMessageSize = ring.slotSize;
  }

  /**
   * Creates a queue of `slots` slots for messages of up to `maxMessageSize` bytes. The defaults (64 slots of
   * 4096 bytes) take 266 KiB of /dev/shm.
   * @throws ERR_SHM_EXISTS, ERR_INVALID_NAME, ERR_INVALID_ARG, ERR_SHM_NO_SPACE, ERR_SHM_PERMISSION, ERR_OS
   * @example
   * ```ts
   * const q = Queue.create('jobs', { slots: 256, maxMessageSize: 1024 });
   * const typed = Queue.create<{ id: number }>('typed-jobs', { codec: 'json' });
   * ```
   */
  static create<T = Uint8Array>(name: string, options?: QueueCreateOptions<T>): Queue<T> {
    return Queue.#create(name, options, 0);
  }

  /** @internal creates a queue whose tickets start at `firstTicket` (tests of the 32-bit wrap). */
  static createAtTicket<T = Uint8Array>(name: string, options: QueueCreateOptions<T>, firstTicket: number): Queue<T> {
    return Queue.#create(name, options, firstTicket);
  }

  static #create<T>(name: string, options: QueueCreateOptions<T> | undefined, firstTicket: number): Queue<T> {
    const o = optionsObject(options, 'Queue.create') as QueueCreateOptions<T>;
    refuseRenamed(o);
    const size = intOption('maxMessageSize', o.maxMessageSize, 1, QUEUE_MAX_SLOT_SIZE, DEFAULT_MAX_MESSAGE_SIZE);
    const { slots } = validateRingOptions(o.slots ?? defaultSlots(size, DEFAULT_SLOTS), size);
    const mode = validateMode(o.mode);
    const h = handleOptions(o);
    return new Queue<T>(name, createQueueRing(name, slots, size, mode, h.spin, firstTicket, h.liveness), h.codec);
  }

  /**
   * Opens a queue another process created. With `timeout`, waits up to that many milliseconds for it to appear,
   * blocking this thread (for scripts and start-up code; use {@link Queue.openAsync} in a server).
   * @throws ERR_SHM_NOT_FOUND (not there, after `timeout`), ERR_SHM_KIND, ERR_SHM_CORRUPT, ERR_SHM_VERSION,
   * ERR_SHM_PERMISSION, ERR_INVALID_NAME, ERR_INVALID_ARG
   * @example
   * ```ts
   * const q = Queue.open('jobs');
   * const later = Queue.open('jobs', { timeout: 5000 }); // the producer may start a little later
   * ```
   */
  static open<T = Uint8Array>(name: string, options?: QueueOpenOptions<T>): Queue<T> {
    const o = optionsObject(options, 'Queue.open') as QueueOpenOptions<T>;
    const timeout = validateTimeout(o.timeout ?? 0);
    const signal = validateSignal(o.signal);
    const h = handleOptions(o);
    return appearSync((last) => Queue.#tryOpen<T>(name, h, last), deadlineAfter(timeout), signal, `Queue.open("${name}")`);
  }

  /**
   * {@link Queue.open} without blocking the event loop: resolves once the queue exists (waiting up to `timeout`
   * ms for it to appear), rejects at the timeout with ERR_SHM_NOT_FOUND, or when `signal` aborts with ERR_ABORTED
   * (ERR_TIMEOUT for `AbortSignal.timeout`).
   * @example
   * ```ts
   * const q = await Queue.openAsync('jobs', { timeout: 10_000 }); // the consumer may start first
   * ```
   */
  static async openAsync<T = Uint8Array>(name: string, options?: QueueOpenOptions<T>): Promise<Queue<T>> {
    const o = optionsObject(options, 'Queue.openAsync') as QueueOpenOptions<T>;
    const timeout = validateTimeout(o.timeout ?? 0);
    const signal = validateSignal(o.signal);
    const h = handleOptions(o);
    const what = `Queue.openAsync("${name}")`;
    return appearAsync(name, (last) => Queue.#tryOpen<T>(name, h, last), deadlineAfter(timeout), signal, what).promise;
  }

  /** Opens the queue, or returns undefined when it does not exist (throws that error when `last`). */
  static #tryOpen<T>(name: string, h: Resolved<T>, last = false): Queue<T> | undefined {
    try {
      return new Queue<T>(name, openQueueRing(name, INIT_WAIT_MS, h.spin, h.liveness), h.codec);
    } catch (e) {
      if (last || !isShmbusError(e, 'ERR_SHM_NOT_FOUND')) throw e;
      return undefined;
    }
  }

  /**
   * Opens the queue, or creates it with `options` if it does not exist yet (whichever side starts first).
   * @throws as {@link Queue.create} and {@link Queue.open}
   * @example
   * ```ts
   * const q = Queue.openOrCreate('files', { slots: 64, maxMessageSize: 512 });
   * ```
   */
  static openOrCreate<T = Uint8Array>(name: string, options?: QueueCreateOptions<T>): Queue<T> {
    const o = optionsObject(options, 'Queue.openOrCreate') as QueueCreateOptions<T>;
    const h = handleOptions(o);
    for (;;) {
      const q = Queue.#tryOpen<T>(name, h);
      if (q !== undefined) return q;
      try {
        return Queue.create<T>(name, o);
      } catch (e) {
        if (!isShmbusError(e, 'ERR_SHM_EXISTS')) throw e;
      }
    }
  }

  /** Removes the name (processes that have the queue open keep using it). @throws ERR_SHM_NOT_FOUND, ERR_INVALID_NAME */
  static unlink(name: string): void {
    Segment.unlink(name);
  }

  /** Encodes with the codec (if any) and checks the result. */
  #body(data: QueueInput<T>): Uint8Array | string {
    const body = this.#codec === undefined ? (data as unknown) : this.#codec.encode(data as T);
    validateBody(body, this.#where);
    return body;
  }

  /**
   * Sends a message, waiting while the queue is full.
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_CLOSED (the stream ended, or this handle is closed), ERR_TIMEOUT, ERR_ABORTED,
   * ERR_INVALID_ARG
   * @example
   * ```ts
   * await q.send(new Uint8Array([1, 2, 3]), { timeout: 1000 });
   * ```
   */
  async send(data: QueueInput<T>, options?: WaitOptions): Promise<void> {
    this.#assertOpen();
    const o = options === undefined ? {} : optionsObject(options, 'send');
    // Checked before the first try, so a bad option fails the same whether or not the queue has room.
    if (o.timeout !== undefined) validateTimeout(o.timeout);
    validateSignal(o.signal);
    const body = this.#body(data);
    this.#outgoing = body;
    if (this.#ring.tryWrite(this.#writer, bodyFlags(body))) return;
    // Waiting: other sends of this handle may run meanwhile, so this one keeps its own writer.
    await this.#ring.write((b, off, c) => writeBody(body, b, off, c, this.#where), bodyFlags(body), o, `send on ${this.#where}`);
  }

  /**
   * Sends a message if there is a free slot.
   * @returns false when the queue is full
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * if (!q.trySend('job 1')) console.log('full: try later');
   * ```
   */
  trySend(data: QueueInput<T>): boolean {
    this.#assertOpen();
    const body = this.#body(data);
    this.#outgoing = body;
    return this.#ring.tryWrite(this.#writer, bodyFlags(body));
  }

  /**
   * Zero-copy send: claims a slot for a `size`-byte message, waiting while the queue is full, and lends it to you:
   * write the message into `loan.bytes`, then `loan.commit()` (or `commit(n)` for fewer bytes) or `loan.abort()`.
   * Receivers take messages in order, so an open loan holds back the messages sent after it: fill it promptly.
   * Closing this handle aborts its open loans. Loans carry raw bytes (no codec).
   * @throws ERR_MESSAGE_TOO_LARGE (size > maxMessageSize), ERR_CLOSED (stream ended or handle closed), ERR_TIMEOUT,
   *   ERR_ABORTED, ERR_INVALID_ARG
   * @example
   * ```ts
   * const loan = await q.loan(4);
   * loan.bytes.set([1, 2, 3, 4]);
   * loan.commit();
   * ```
   */
  async loan(size: number, options?: WaitOptions): Promise<QueueLoan> {
    this.#checkLoan(size);
    const o = options === undefined ? {} : optionsObject(options, 'loan');
    if (o.timeout !== undefined) validateTimeout(o.timeout);
    validateSignal(o.signal);
    const slot = this.#ring.tryClaim() ? new HeldSlot(this.#ring) : await this.#ring.claim(o, `loan on ${this.#where}`);
    return this.#lend(size, slot);
  }

  /**
   * {@link loan} without waiting.
   * @returns null when the queue is full
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_CLOSED, ERR_INVALID_ARG
   */
  tryLoan(size: number): QueueLoan | null {
    this.#checkLoan(size);
    return this.#ring.tryClaim() ? this.#lend(size, new HeldSlot(this.#ring)) : null;
  }

  #checkLoan(size: number): void {
    this.#assertOpen();
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw invalidArg('loan size', 'an integer >= 0', size);
    if (size > this.maxMessageSize) {
      throw new ShmbusError(
        'ERR_MESSAGE_TOO_LARGE',
        `${this.#where}: a ${size}-byte loan is larger than maxMessageSize ${this.maxMessageSize}; create the queue with a larger maxMessageSize`,
        { segment: this.name },
      );
    }
  }

  /** Wraps the slot the ring just claimed in a loan (given back at once if this handle closed meanwhile). */
  #lend(size: number, slot: HeldSlot): QueueLoan {
    if (this.#closed) {
      slot.abort();
      this.#assertOpen();
    }
    const loan = QueueLoan.create(this, slot, this.#bodyView(slot.offset, size));
    this.#loans.add(loan);
    return loan;
  }

  /** A view of `size` bytes at `offset` of the ring, cached per offset while the size stays the same. */
  #bodyView(offset: number, size: number): Uint8Array {
    const cached = this.#views.get(offset);
    if (cached !== undefined && cached.length === size) return cached;
    const v = slotBytes(this.#ring, offset, size);
    this.#views.set(offset, v);
    return v;
  }

  /** @internal QueueLoan#commit / abort: forget the loan. */
  loanEnded(loan: QueueLoan): void {
    this.#loans.delete(loan);
  }

  /**
   * Receives the next message, waiting while the queue is empty. Resolves `null` once the stream has ended and
   * the queue is drained.
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED (this handle was closed), ERR_SHM_CORRUPT, ERR_INVALID_ARG
   * @example
   * ```ts
   * const m = await q.receive({ timeout: 5000 });
   * if (m === null) console.log('end of stream'); else console.log(m.text());
   * ```
   */
  receive(options?: QueueReceiveOptions): Promise<QueueMessage<T> | null> {
    // Synchronous up to the end of the spin (issue 12): a message that is there or comes within the spin is
    // returned through one resolved promise, with no async function frame (an allocation and a hop per message).
    let o: QueueReceiveOptions;
    let signal: AbortSignal | undefined;
    try {
      this.#assertOpen();
      o = options === undefined ? NO_RECEIVE_OPTIONS : optionsObject(options, 'receive');
      // Checked before the first try, so a bad option fails the same whether or not a message is there.
      if (o.timeout !== undefined) validateTimeout(o.timeout);
      signal = validateSignal(o.signal);
      if (this.#zeroCopy(o)) {
        const r = this.#ring.takeSlotOrSpin(o.timeout !== 0);
        return r === EMPTY ? this.#receiveViewWait(o, signal) : Promise.resolve(r === END ? null : this.#holdView(new HeldSlot(this.#ring)));
      }
      const reader = this.#reader(o.into);
      const first = this.#ring.takeOrSpin(reader, o.timeout !== 0);
      if (first === END) return Promise.resolve(null);
      if (first !== EMPTY) return Promise.resolve(first);
      return this.#receiveWait(reader, o, signal);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** receive() once the first try and the spin found nothing: sleeps until a message comes. */
  async #receiveWait(reader: BodyReader<QueueMessage<T>>, o: QueueReceiveOptions, signal: AbortSignal | undefined): Promise<QueueMessage<T> | null> {
    const what = `receive on ${this.#where}`;
    const r = await this.#ring.read(reader === this.#readInto ? this.#keepInto(o.into!) : reader, deadlineAfter(o.timeout), signal, what, true);
    if (r === TIMED_OUT) throw timeoutError(what, o.timeout ?? 0, this.name);
    return r;
  }

  /** receive({ copy: false }) once the first try and the spin found nothing. */
  async #receiveViewWait(o: QueueReceiveOptions, signal: AbortSignal | undefined): Promise<QueueMessage<T> | null> {
    const what = `receive on ${this.#where}`;
    const w = await this.#ring.takeSlot(deadlineAfter(o.timeout), signal, what, true);
    if (w === TIMED_OUT) throw timeoutError(what, o.timeout ?? 0, this.name);
    return w === null ? null : this.#holdView(w);
  }

  /**
   * Takes the next message if there is one (`into`: as in {@link receive}).
   * @returns null when empty (or ended and drained: see {@link ended})
   * @throws ERR_CLOSED (this handle was closed), ERR_SHM_CORRUPT, ERR_INVALID_ARG
   */
  tryReceive(options?: QueueTryReceiveOptions): QueueMessage<T> | null {
    this.#assertOpen();
    const o = options === undefined ? undefined : optionsObject(options, 'tryReceive');
    if (o !== undefined && this.#zeroCopy(o)) return this.#ring.tryTakeSlot() === true ? this.#holdView(new HeldSlot(this.#ring)) : null;
    this.#view.drop();
    const r = this.#ring.tryTake(this.#reader(o?.into));
    return r === EMPTY || r === END ? null : r;
  }

  /** True for `copy: false` (checked against `into`); releases the view held so far either way. */
  #zeroCopy(o: QueueTryReceiveOptions): boolean {
    this.#view.drop();
    if (o.copy === undefined || o.copy === true) return false;
    if (o.copy !== false) throw invalidArg('copy', 'a boolean', o.copy);
    if (o.into !== undefined) throw invalidArg('into', 'absent with copy: false (a zero-copy message is a view of the slot)', o.into);
    return true;
  }

  /** Makes the message of the slot the ring just took (a view of it), the one view this handle holds. */
  #holdView(slot: HeldSlot): QueueMessage<T> {
    this.#view.drop(); // a concurrent receive's view, if one was delivered meanwhile
    if (this.#closed) {
      slot.abort();
      this.#assertOpen();
    }
    const m = QueueMessage.create<T>(this.#bodyView(slot.offset, slot.length), (slot.flags & QUEUE_FLAG_TEXT) !== 0, this.#codec, this.#releaseView);
    this.#view.hold(m, slot);
    return m;
  }

  #reader(into: unknown): BodyReader<QueueMessage<T>> {
    if (into === undefined) return this.#readCopy;
    if (!(into instanceof Uint8Array)) throw invalidArg('into', 'a Uint8Array', into);
    this.#into = into;
    return this.#readInto;
  }

  /** A reader bound to `into` for a receive that waits (other receives may change #into meanwhile). */
  #keepInto(into: Uint8Array): BodyReader<QueueMessage<T>> {
    return (bytes, offset, length, flags) => {
      this.#into = into;
      return this.#deliverInto(bytes, offset, length, flags);
    };
  }

  #deliverInto(bytes: Uint8Array, offset: number, length: number, flags: number): QueueMessage<T> {
    const into = this.#into!;
    if (into.length < length) return QueueMessage.create<T>(copyBody(bytes, offset, length), (flags & QUEUE_FLAG_TEXT) !== 0, this.#codec);
    const data = copyBody(bytes, offset, length, into);
    const m = this.#intoMessage;
    if (m !== undefined && m.data.buffer === into.buffer && m.data.byteOffset === into.byteOffset) {
      m.data = m.data.length === length ? m.data : data;
      m.isText = (flags & QUEUE_FLAG_TEXT) !== 0;
      return m;
    }
    return (this.#intoMessage = QueueMessage.create<T>(data, (flags & QUEUE_FLAG_TEXT) !== 0, this.#codec));
  }

  /**
   * Ends the stream for everyone (idempotent): later sends (from any process) throw ERR_CLOSED; receivers get what
   * is left, then `null`. This handle stays open.
   * @throws ERR_CLOSED (this handle was closed)
   */
  end(): void {
    this.#assertOpen();
    this.#ring.end();
  }

  /** True once the stream has ended (by any process). @throws ERR_CLOSED (this handle was closed) */
  get ended(): boolean {
    this.#assertOpen();
    return this.#ring.closed;
  }

  /** True once this handle was closed (see {@link close}). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Messages in the queue right now (approximate while others work on it). @throws ERR_CLOSED */
  get length(): number {
    this.#assertOpen();
    return this.#ring.shared().length;
  }

  /** Depth, size, recovery counters and this handle's traffic (see {@link QueueStats}). @throws ERR_CLOSED */
  stats(): QueueStats {
    this.#assertOpen();
    const s = this.#ring.shared();
    const c = this.#ring.counters;
    return { ...s, slots: this.slots, maxMessageSize: this.maxMessageSize, sent: c.sent, received: c.received };
  }

  /**
   * Lets the process exit while this handle only waits (its pending and later receives and sends do not keep it
   * alive), as `net.Socket#unref`; through {@link Segment.unref} of its segment. @returns this
   */
  unref(): this {
    this.#assertOpen();
    this.#ring.segment.unref();
    return this;
  }

  /** Undoes {@link unref}. @returns this */
  ref(): this {
    this.#assertOpen();
    this.#ring.segment.ref();
    return this;
  }

  /**
   * Detaches this handle (idempotent) without ending the stream: the mapping is released, pending receives and
   * sends of this handle reject with ERR_CLOSED, other processes go on. Use {@link end} to end the stream.
   */
  close(): void {
    if (this.#closed) return;
    // Slots this handle holds go back before the mapping does: an open loan would hold back every later message
    // and a held view would stop producers (they are recovered only once this process exits).
    this.#view.drop();
    for (const loan of this.#loans) loan.drop();
    this.#loans.clear();
    this.#closed = true;
    this.#ring.segment.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Iterates messages until the end of the stream. Leaving the loop early (`break`, `return`, a throw) closes
   * this handle, as Node streams are destroyed then; the stream itself does not end.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<QueueMessage<T>, void, undefined> {
    let drained = false;
    try {
      for (;;) {
        const m = await this.receive();
        if (m === null) {
          drained = true;
          return;
        }
        yield m;
      }
    } finally {
      if (!drained) this.close();
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new ShmbusError('ERR_CLOSED', `queue "${this.name}" was closed in this process`, { segment: this.name });
    }
  }
}
