/**
 * Topic: a broadcast ring with overwrite (PROTOCOL.md §5). Many publishers (serialised by a robust Mutex in the
 * segment), or one (`singlePublisher`: it holds that Mutex from open to close and publishes with no lock
 * operation), any number of subscribers, each with a private cursor that writers never see. When the ring is full
 * the oldest records are overwritten; a subscriber that fell behind skips to the oldest valid record and counts
 * what it lost.
 */
import { TWO32 } from '../base/u64.js';
import { ShmbusError, isShmbusError } from '../errors.js';
import {
  TOPIC_CAPACITY_ALIGN,
  TOPIC_DATA_OFFSET,
  TOPIC_ENTRY_COUNT,
  TOPIC_FLAG_SINGLE_PUBLISHER,
  TOPIC_MUTEX_OFFSET,
  TOPIC_PARAM_CAPACITY_HI,
  TOPIC_PARAM_CAPACITY_LO,
  TOPIC_PARAM_DATA_OFFSET,
  TOPIC_PARAM_FLAGS,
  TOPIC_PARAM_MAX_MESSAGE,
  TOPIC_RECORD_HEADER_SIZE,
  OS_NAME_PREFIX,
} from '../protocol/layout.js';
import { validateName } from '../protocol/names.js';
import { Segment } from '../segment/segment.js';
import { appearAsync } from '../segment/appear.js';
import { copyBytes } from '../base/copy.js';
import { SPIN_CLOCK_MASK, spinClock, validateSpin } from '../base/spin.js';
import { boolOption, choiceOption, intOption, invalidArg, livenessOption, optionsObject } from '../base/options.js';
import { parkCounterAsync, wakeCounter, wakeCounterKeep } from '../base/park.js';
import {
  abortedError,
  deadlineAfter,
  remaining,
  setLongTimeout,
  throwIfAborted,
  timeoutError,
  validateTimeout,
  type LongTimer,
  type WaitOptions,
} from '../base/deadline.js';
import { Mutex, mutexHolderAlive } from '../sync/mutex.js';
import { resolveCodec, type Codec, type CodecOption } from './codec.js';
import {
  REGISTRY_INDEX,
  REGISTRY_SLEEPERS_INDEX,
  TOPIC_ROLE_PUBLISHER,
  TOPIC_ROLE_SUBSCRIBER,
  count as countRole,
  list as listRegistrants,
  register,
  setProgress,
  unregister,
} from './topic-registry.js';
import { Message, allocBytes } from './message.js';
import { PairWords } from '../base/pair.js';
import {
  COMMIT_INDEX,
  SLEEPERS_INDEX,
  commitRecord,
  initRing,
  ReclaimMarks,
  recordSize,
  reserve,
  ringParamsValid,
  readCursor,
  RingReader,
  type RecordRef,
  type Reservation,
  type RingView,
} from './ring.js';

const TOPIC_ENTRY_COUNT_TEXT = String(TOPIC_ENTRY_COUNT);
/** Largest ring accepted (64 TiB, like a segment). */
const MAX_CAPACITY = 2 ** 46 - TOPIC_DATA_OFFSET;
/** Default microseconds a waiting read re-reads the commit word before it parks (as Queue's spin). */
const DEFAULT_SPIN = 50;
/** Default ms between a parked subscriber's checks that its publishers are still alive (a killed one never says). */
const DEFAULT_LIVENESS_INTERVAL = 500;
const NO_OPTIONS = Object.freeze({});
/**
 * Most ring views a reusing subscriber caches (direct-mapped by a hash of the record offset), so fixed-size
 * traffic allocates none. 16384 slots = 128 KiB of pointers + 128 KiB of keys, made on the first reusing read.
 */
const VIEW_CACHE = 16384;

/** What `publish` takes: with a codec, a value of T; without one, bytes or a string (sent as UTF-8). */
export type Publishable<T> = [T] extends [Uint8Array] ? Uint8Array | string : T;

export interface TopicCreateOptions<T = Uint8Array> {
  /** Bytes of ring data (rounded up to a multiple of 64). The ring holds at least two messages of maxMessageSize. */
  capacity: number;
  /** Largest payload in bytes (default: the largest that fits twice in the ring). */
  maxMessageSize?: number;
  /** Permission bits (default 0o600, owner only). */
  mode?: number;
  /** How values are turned into bytes: 'json', 'v8' or a {@link Codec} (default: raw bytes). */
  codec?: CodecOption<T>;
  /**
   * One publisher only (default false): the creator (or the one process that opens it with `Topic.open`) holds the
   * writers' lock from open to close, so `publish` makes no lock operation at all. A second publisher gets
   * ERR_PUBLISHER_EXISTS while the first is alive; a dead one's place is taken over. Subscribers are unaffected.
   */
  singlePublisher?: boolean;
  /**
   * Record each message's commit time (default true). false writes 0 (`msg.timestamp` is then 0): reading the
   * clock is the largest single cost of a small publish on some VMs (~40-120 ns). This publisher only.
   */
  timestamps?: boolean;
}

export interface TopicOpenOptions<T = Uint8Array> {
  /** Milliseconds to wait for a topic its creator is still initialising (default 1000). */
  timeout?: number;
  /** As in {@link TopicCreateOptions.codec}. */
  codec?: CodecOption<T>;
  /** As in {@link TopicCreateOptions.timestamps}. */
  timestamps?: boolean;
}

/** Options of publish and loan: how long to wait for another publisher's loan to end. */
export interface PublishOptions {
  /** Milliseconds to wait for the writers' lock (default: forever; a dead holder is taken over). */
  timeout?: number;
}

/** Options of publishAsync and loanAsync: they await the writers' lock (never blocking the event loop). */
export type PublishAsyncOptions = WaitOptions;

export interface SubscribeOptions<T = Uint8Array> {
  /** 'latest' (default): start at the next message published; 'oldest': replay what the ring still holds first. */
  from?: 'latest' | 'oldest';
  /**
   * Milliseconds to wait for the topic to appear (default 0: it must exist). A subscriber that waited attaches
   * when the topic is created and then starts at its oldest message, so it misses nothing published after it
   * subscribed. `sub.ready` settles then.
   */
  timeout?: number;
  /** Aborts the wait for the topic to appear (`sub.ready` and pending reads reject with ERR_ABORTED). */
  signal?: AbortSignal;
  /**
   * Microseconds read() keeps re-reading shared memory before it parks on the futex (default 50; 0 parks at once).
   * Spinning catches messages that follow each other closely at sub-µs cost; parking costs a wake (~20-40 µs here).
   */
  spin?: number;
  /** As in {@link TopicCreateOptions.codec}: `msg.value` decodes with it. */
  codec?: CodecOption<T>;
  /**
   * Milliseconds between a waiting read's checks that the publishers it saw are still alive (default 500): a
   * publisher killed without closing is noticed within about this long, and read() then resolves null.
   */
  livenessInterval?: number;
}

export interface ReadOptions extends WaitOptions {
  /** false: `data` is a view into the ring, check `m.valid()` after using it. Default true (a private copy). */
  copy?: boolean;
  /**
   * Copy into this buffer instead of a fresh one when the message fits (`data` is then a view of its first bytes).
   * Reusing one buffer for big messages avoids allocating (and page-faulting) a new one per message.
   */
  into?: Uint8Array;
  /**
   * true: return this subscriber's one reused Message object, updated in place by every read (default false).
   * With `into` (or `copy: false`) a read then allocates nothing per message: `data` views are cached (by size for
   * `into`, by ring offset for `copy: false`). Read what you need before the next read.
   */
  reuse?: boolean;
}

/** Options of tryRead. */
export type TryReadOptions = Pick<ReadOptions, 'copy' | 'into' | 'reuse'>;

/** What a publisher's `stats()` reports. */
export interface TopicStats {
  /** Messages published on the topic so far (by every publisher): the last sequence number. */
  published: number;
  /** Oldest sequence number still in the ring (published + 1 when it is empty). */
  oldest: number;
  /** Live registered publishers (this one included). */
  publishers: number;
  /** Every live registered subscriber (any process): how far behind it is and what it lost. */
  subscribers: { pid: number; lag: number; lost: number }[];
}

/** Options of waitForSubscribers. */
export type WaitForSubscribersOptions = WaitOptions;

/** What a subscriber's `stats()` reports. */
export interface SubscriberStats {
  /** Messages this subscriber read (handed out). */
  read: number;
  /** Messages it missed because writers overwrote them first. */
  lost: number;
  /** Messages published that it has not read yet (0 before it is attached). */
  lag: number;
}

function invalid(message: string): ShmbusError {
  return new ShmbusError('ERR_INVALID_ARG', message);
}

/** Checks a topic segment's parameters against its size and builds the view. @throws ERR_SHM_CORRUPT */
function ringView(seg: Segment): RingView {
  const p = seg.params;
  const capacity = p[TOPIC_PARAM_CAPACITY_LO]! + p[TOPIC_PARAM_CAPACITY_HI]! * TWO32;
  const maxMessageSize = p[TOPIC_PARAM_MAX_MESSAGE]!;
  const dataOffset = p[TOPIC_PARAM_DATA_OFFSET]!;
  const flags = p[TOPIC_PARAM_FLAGS]!;
  if (
    dataOffset !== TOPIC_DATA_OFFSET ||
    (flags & ~TOPIC_FLAG_SINGLE_PUBLISHER) !== 0 ||
    !ringParamsValid(capacity, maxMessageSize) ||
    dataOffset + capacity > seg.size
  ) {
    throw new ShmbusError(
      'ERR_SHM_CORRUPT',
      `topic "${seg.name}" has impossible parameters (capacity ${capacity}, maxMessageSize ${maxMessageSize}, data offset ${dataOffset}, flags ${flags}, payload ${seg.size} bytes)`,
      { segment: seg.name },
    );
  }
  return { words: seg.words, bytes: seg.bytes, dataOffset, capacity, maxMessageSize, name: seg.name };
}

function openTopicSegment(name: string, timeout: number | undefined): Segment {
  const seg = Segment.open(name, { kind: 'topic', ...(timeout !== undefined && { timeout }) });
  try {
    ringView(seg);
  } catch (e) {
    seg.close();
    throw e;
  }
  return seg;
}

function toBytes(data: unknown, what: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  throw invalidArg(what, 'a Uint8Array or a string', data);
}

function closedError(what: string, name: string): ShmbusError {
  return new ShmbusError('ERR_CLOSED', `${what} of topic "${name}" is closed`, { segment: name });
}

/** What a Loan ends through (its Topic). */
interface LoanOwner {
  endLoan(r: Reservation | null, size: number): void;
}

/**
 * A zero-copy publication: write the payload into `bytes` (a view into the ring), then `commit()` it, or `abort()`.
 * The topic's writers' lock is held from `loan` until then, so keep it short.
 * @example
 * ```ts
 * const loan = pub.loan(frame.length);
 * camera.readInto(loan.bytes);
 * const seq = loan.commit();
 * ```
 */
export class Loan {
  /** The payload space, exactly the size asked for. Valid until commit/abort. */
  readonly bytes: Uint8Array;
  readonly #topic: LoanOwner;
  readonly #reservation: Reservation;
  #done = false;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create(topic: LoanOwner, reservation: Reservation, bytes: Uint8Array): Loan {
    return new Loan(topic, reservation, bytes);
  }

  private constructor(topic: LoanOwner, reservation: Reservation, bytes: Uint8Array) {
    this.#topic = topic;
    this.#reservation = reservation;
    this.bytes = bytes;
  }

  /** The sequence number the message gets when committed. */
  get seq(): number {
    return this.#reservation.seq;
  }

  /**
   * Publishes the message (its first `size` bytes, default all) and releases the writers' lock.
   * @returns the message's sequence number
   * @throws ERR_CLOSED (loan already ended or topic closed), ERR_INVALID_ARG (size larger than loaned)
   */
  commit(size: number = this.bytes.length): number {
    this.#end();
    if (!Number.isInteger(size) || size < 0 || size > this.bytes.length) {
      this.#topic.endLoan(null, 0);
      throw invalidArg('commit size', `an integer from 0 to ${this.bytes.length} (the loan was aborted)`, size);
    }
    this.#topic.endLoan(this.#reservation, size);
    return this.#reservation.seq;
  }

  /** Drops the message and releases the writers' lock. Space it reserved stays reclaimed. @throws ERR_CLOSED */
  abort(): void {
    this.#end();
    this.#topic.endLoan(null, 0);
  }

  #end(): void {
    if (this.#done) throw new ShmbusError('ERR_CLOSED', 'this loan was already committed or aborted');
    this.#done = true;
  }
}

/**
 * A broadcast topic: publish messages to every subscriber. Create it once (`Topic.create`), open it from other
 * publishers (`Topic.open`), subscribe from anywhere (`Topic.subscribe`).
 * @example
 * ```ts
 * const pub = Topic.create('video', { capacity: 64 << 20, maxMessageSize: 1280 * 720 * 3 + 4096 });
 * const sub = Topic.subscribe('video');
 * pub.publish('hello');
 * console.log((await sub.read()).text());
 * ```
 */
export class Topic<T = Uint8Array> {
  readonly name: string;
  /** Ring data bytes. */
  readonly capacity: number;
  /** Largest payload accepted by publish and loan. */
  readonly maxMessageSize: number;
  /** True when the topic was created with `singlePublisher` (this publisher holds the writers' lock until close). */
  readonly singlePublisher: boolean;
  readonly #segment: Segment;
  readonly #view: RingView;
  /** Stamps each record's timestamp natively (no heap number per publish); undefined with timestamps: false. */
  readonly #clock: PairWords | undefined;
  readonly #mutex: Mutex;
  readonly #codec: Codec<T> | undefined;
  /** Our registration table entry (PROTOCOL 5.8). */
  readonly #entry: number;
  #loan: Loan | null = null;
  #closed = false;
  readonly #reservation: Reservation = { seq: 0, at: 0, padAt: -1, size: 0, cursor: { writeSeq: 0, writePos: 0, tailSeq: 0, tailPos: 0 } };
  /** Where this publisher's recent records end: lets a batch reclaim skip most of its header walk. */
  readonly #marks: ReclaimMarks;

  private constructor(segment: Segment, codec: Codec<T> | undefined, timestamps: boolean, entry: number) {
    this.#segment = segment;
    this.#view = ringView(segment);
    this.#marks = new ReclaimMarks(this.#view.capacity);
    this.#clock = timestamps ? new PairWords(this.#view.words) : undefined;
    this.#mutex = new Mutex(segment, TOPIC_MUTEX_OFFSET);
    this.#codec = codec;
    this.name = segment.name;
    this.capacity = this.#view.capacity;
    this.maxMessageSize = this.#view.maxMessageSize;
    this.singlePublisher = (segment.params[TOPIC_PARAM_FLAGS]! & TOPIC_FLAG_SINGLE_PUBLISHER) !== 0;
    let claimed = false;
    try {
      if (this.singlePublisher) {
        this.#claimSolePublisher();
        claimed = true;
      }
      if (entry < 0) entry = register(this.#view.words, TOPIC_ROLE_PUBLISHER, 0);
      if (entry < 0) {
        throw new ShmbusError('ERR_SHM_NO_SPACE', `topic "${this.name}" has ${TOPIC_ENTRY_COUNT_TEXT} live publishers and subscribers registered: no room for another publisher`, { segment: this.name });
      }
    } catch (e) {
      if (claimed) this.#releaseSole();
      if (entry >= 0) unregister(this.#view.words, entry);
      this.#mutex.close();
      segment.close();
      throw e;
    }
    this.#entry = entry;
  }

  #releaseSole(): void {
    try {
      this.#mutex.unlock();
    } catch {
      // not ours
    }
  }

  /**
   * Single-publisher mode: take the writers' lock now and keep it until close (PROTOCOL 5.3). A live holder is
   * another publisher: refused. A dead one is taken over (its lock recovered, as any publisher would).
   */
  #claimSolePublisher(): void {
    if (this.#mutex.tryLock() !== null) return;
    const words = this.#view.words;
    const base = TOPIC_MUTEX_OFFSET / 4;
    // Acquire load of the mutex word (pairs with MUTEX-ACQUIRE/RELEASE); the liveness check reads the identity.
    const v = Atomics.load(words, base);
    if (v !== 0 && mutexHolderAlive(words, base, v)) {
      throw new ShmbusError(
        'ERR_PUBLISHER_EXISTS',
        `topic "${this.name}" is single-publisher and process ${v & 0x3fffffff} publishes on it; close that publisher first`,
        { segment: this.name },
      );
    }
    // Free or dead: lockSync takes it (a dead holder within the mutex's liveness interval).
    this.#mutex.lockSync({ timeout: 10_000 });
  }

  /**
   * Creates a topic and returns a publisher on it.
   * @throws ERR_SHM_EXISTS, ERR_INVALID_NAME, ERR_INVALID_ARG (bad capacity or maxMessageSize), ERR_SHM_NO_SPACE,
   * ERR_SHM_PERMISSION
   * @example
   * ```ts
   * const pub = Topic.create('ticks', { capacity: 1 << 20 });
   * const json = Topic.create<{ x: number }>('points', { capacity: 1 << 20, codec: 'json' });
   * ```
   */
  static create<T = Uint8Array>(name: string, options: TopicCreateOptions<T>): Topic<T> {
    validateName(name);
    if (options === null || typeof options !== 'object') throw invalidArg('Topic.create options', 'an object with capacity', options);
    const cap = intOption('capacity', options.capacity, 1, MAX_CAPACITY, NaN);
    if (Number.isNaN(cap)) throw invalidArg('capacity', `an integer from 1 to ${MAX_CAPACITY}`, options.capacity);
    const capacity = Math.ceil(cap / TOPIC_CAPACITY_ALIGN) * TOPIC_CAPACITY_ALIGN;
    const largest = Math.floor(capacity / 2 / 8) * 8 - TOPIC_RECORD_HEADER_SIZE;
    const maxMessageSize = intOption('maxMessageSize', options.maxMessageSize, 1, 0xffffffff, Math.max(1, Math.min(largest, 0xffffffff)));
    if (!ringParamsValid(capacity, maxMessageSize)) {
      throw invalid(
        `capacity ${capacity} cannot hold two messages of ${maxMessageSize} bytes (each takes ${recordSize(maxMessageSize)} with its header); ` +
          `raise capacity to at least ${2 * recordSize(maxMessageSize)} or lower maxMessageSize`,
      );
    }
    const single = boolOption('singlePublisher', options.singlePublisher, false);
    const codec = resolveCodec(options.codec);
    const timestamps = boolOption('timestamps', options.timestamps, true);
    const params = [];
    params[TOPIC_PARAM_CAPACITY_LO] = capacity % TWO32;
    params[TOPIC_PARAM_CAPACITY_HI] = Math.floor(capacity / TWO32);
    params[TOPIC_PARAM_MAX_MESSAGE] = maxMessageSize;
    params[TOPIC_PARAM_DATA_OFFSET] = TOPIC_DATA_OFFSET;
    params[TOPIC_PARAM_FLAGS] = single ? TOPIC_FLAG_SINGLE_PUBLISHER : 0;
    let entry = -1;
    const seg = Segment.create(name, {
      size: TOPIC_DATA_OFFSET + capacity,
      kind: 'topic',
      params,
      ...(options.mode !== undefined && { mode: options.mode }),
      init: (s) => {
        initRing(ringView(s));
        // The creator is a publisher before anyone can open the topic (no subscriber sees a publisher-less start).
        entry = register(s.words, TOPIC_ROLE_PUBLISHER, 0);
      },
    });
    return new Topic<T>(seg, codec, timestamps, entry);
  }

  /**
   * Opens an existing topic as another publisher (any process).
   * @throws ERR_SHM_NOT_FOUND, ERR_SHM_KIND (not a topic), ERR_SHM_CORRUPT, ERR_SHM_VERSION, ERR_SHM_PERMISSION,
   * ERR_INVALID_NAME, ERR_PUBLISHER_EXISTS (a single-publisher topic whose publisher is alive)
   * @example
   * ```ts
   * const pub2 = Topic.open('video');
   * ```
   */
  static open<T = Uint8Array>(name: string, options?: TopicOpenOptions<T>): Topic<T> {
    const o = optionsObject(options, 'Topic.open');
    const codec = resolveCodec(o.codec);
    const timestamps = boolOption('timestamps', o.timestamps, true);
    return new Topic<T>(openTopicSegment(name, o.timeout), codec, timestamps, -1);
  }

  /**
   * Subscribes to a topic. With `timeout`, the topic may appear later: the subscriber attaches when it does
   * (`sub.ready` resolves then; reads wait for it).
   * @throws ERR_SHM_NOT_FOUND (no topic and no `timeout`), ERR_SHM_KIND, ERR_SHM_CORRUPT, ERR_INVALID_ARG,
   * ERR_INVALID_NAME
   * @example
   * ```ts
   * const sub = Topic.subscribe('video', { from: 'oldest', timeout: 5000 });
   * for await (const m of sub) show(m.data);
   * ```
   */
  static subscribe<T = Uint8Array>(name: string, options?: SubscribeOptions<T>): Subscriber<T> {
    return Subscriber.create<T>(name, optionsObject(options, 'Topic.subscribe'));
  }

  /** Removes a topic's name (processes using it go on). @throws ERR_SHM_NOT_FOUND, ERR_SHM_PERMISSION, ERR_INVALID_NAME */
  static unlink(name: string): void {
    Segment.unlink(name);
  }

  /** Encodes a publishable value to bytes (the codec when there is one). */
  #encode(data: Publishable<T>): Uint8Array {
    const codec = this.#codec;
    return codec === undefined ? toBytes(data, 'publish data') : toBytes(codec.encode(data as T), `codec '${codec.name}' output`);
  }

  /**
   * Publishes one message (with a codec: a value; without: bytes, or a string sent as UTF-8) to every subscriber.
   * Overwrites the oldest messages when the ring is full; never waits for subscribers. Blocks this thread while
   * another publisher is inside its (short) critical section; {@link publishAsync} never blocks the event loop.
   * @returns the message's sequence number
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_INVALID_ARG, ERR_TIMEOUT (another publisher's loan outlasted `timeout`),
   * ERR_CLOSED
   * @example
   * ```ts
   * const seq = pub.publish(new Uint8Array([1, 2, 3]));
   * ```
   */
  publish(data: Publishable<T>, options?: PublishOptions): number {
    const bytes = this.#encode(data);
    this.#check(bytes.length);
    if (!this.singlePublisher) this.#lockSync(options);
    return this.#publishLocked(bytes);
  }

  /**
   * {@link publish} that never blocks the event loop: uncontended it publishes at once (synchronously inside);
   * when another publisher holds the writers' lock it awaits it.
   * @throws as publish; ERR_ABORTED (signal)
   */
  publishAsync(data: Publishable<T>, options?: PublishAsyncOptions): Promise<number> {
    let bytes: Uint8Array;
    try {
      bytes = this.#encode(data);
      this.#check(bytes.length);
      if (this.singlePublisher || this.#tryLock(options)) return Promise.resolve(this.#publishLocked(bytes));
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#lockAsync(options).then(() => this.#publishLocked(bytes));
  }

  /** Holding the lock (or sole publisher): reserve, copy, commit. */
  #publishLocked(bytes: Uint8Array): number {
    const r = this.#reserve(bytes.length);
    try {
      copyBytes(this.#view.bytes, this.#view.dataOffset + r.at + TOPIC_RECORD_HEADER_SIZE, bytes, 0, bytes.length);
    } catch (e) {
      this.#unlock();
      throw e;
    }
    this.#finish(r, bytes.length);
    return r.seq;
  }

  /**
   * Reserves room for a message of `size` bytes and returns a writable view of it (zero-copy). Holds the writers'
   * lock until `commit()` or `abort()`. If this process dies meanwhile, the next publisher takes the lock over
   * and the space is reused; subscribers never see the partial message.
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_INVALID_ARG (bad size, or a loan of this Topic is still open), ERR_TIMEOUT,
   * ERR_CLOSED
   * @example
   * ```ts
   * const loan = pub.loan(1024);
   * loan.bytes.fill(7);
   * loan.commit();
   * ```
   */
  loan(size: number, options?: PublishOptions): Loan {
    this.#check(size);
    if (!this.singlePublisher) this.#lockSync(options);
    return this.#loanLocked(size);
  }

  /** {@link loan} that never blocks the event loop (awaits the writers' lock when contended). */
  loanAsync(size: number, options?: PublishAsyncOptions): Promise<Loan> {
    try {
      this.#check(size);
      if (this.singlePublisher || this.#tryLock(options)) return Promise.resolve(this.#loanLocked(size));
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#lockAsync(options).then(() => this.#loanLocked(size));
  }

  #loanLocked(size: number): Loan {
    const r = this.#reserve(size);
    const start = this.#view.dataOffset + r.at + TOPIC_RECORD_HEADER_SIZE;
    this.#loan = Loan.create(this, { ...r, cursor: { ...r.cursor } }, this.#view.bytes.subarray(start, start + size));
    return this.#loan;
  }

  /** Validates a publication before any lock is taken. */
  #check(size: number): void {
    this.#assertOpen();
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw invalidArg('message size', 'an integer >= 0', size);
    if (size > this.maxMessageSize) {
      throw new ShmbusError(
        'ERR_MESSAGE_TOO_LARGE',
        `a ${size}-byte message does not fit topic "${this.name}" (maxMessageSize ${this.maxMessageSize}); send less or create the topic with a larger maxMessageSize`,
        { segment: this.name },
      );
    }
    if (this.#loan !== null) throw invalid(`a loan of topic "${this.name}" is still open: commit or abort it first`);
  }

  // A lock recovered from a dead publisher needs no repair (PROTOCOL 5.3 step 1): the commit word only ever
  // names a complete record and head slot, and the tail it may have moved is consistent on its own.
  #lockSync(options: PublishOptions | undefined): void {
    // No options: no object made (optionsObject would return a fresh {} per publish).
    const timeout = options === undefined ? undefined : optionsObject(options, 'publish').timeout;
    this.#mutex.lockSync(timeout === undefined ? NO_OPTIONS : { timeout });
  }

  #tryLock(options: PublishAsyncOptions | undefined): boolean {
    const o: PublishAsyncOptions = options === undefined ? NO_OPTIONS : optionsObject(options, 'publishAsync');
    validateTimeout(o.timeout);
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidArg('signal', 'an AbortSignal', o.signal);
    throwIfAborted(o.signal, 'publishAsync');
    return this.#mutex.tryLock() !== null;
  }

  async #lockAsync(options: PublishAsyncOptions | undefined): Promise<void> {
    await this.#mutex.lock(options ?? NO_OPTIONS);
    if (this.#closed) {
      this.#mutex.unlock();
      throw closedError('publisher', this.name);
    }
    if (this.#loan !== null) {
      this.#mutex.unlock();
      throw invalid(`a loan of topic "${this.name}" is still open: commit or abort it first`);
    }
  }

  #unlock(): void {
    if (!this.singlePublisher) this.#mutex.unlock();
  }

  /** Holding the lock: reserves; releases the lock if that fails. */
  #reserve(size: number): Reservation {
    try {
      return reserve(this.#view, size, this.#reservation, this.#marks);
    } catch (e) {
      this.#unlock();
      throw e;
    }
  }

  /** Commits a reservation, wakes parked subscribers if any, releases the lock. */
  #finish(r: Reservation, size: number): void {
    try {
      const words = this.#view.words;
      // The commit word before ours (we hold the lock, so it is stable): what the §3 counter rule compares tags with.
      const old = Atomics.load(words, COMMIT_INDEX);
      commitRecord(this.#view, r, size, 0, this.#marks, this.#clock);
      // SYNC TOPIC-PARK (§3 counter rule: seq_cst load after the seq_cst commit store in commitRecord): pairs with
      // the subscriber's announce; one of the two sides sees the other, so a parking reader is never left asleep.
      wakeCounter(words, SLEEPERS_INDEX, COMMIT_INDEX, old);
    } finally {
      this.#unlock();
    }
  }

  /** @internal Loan#commit / Loan#abort: publish (or drop) and release the lock. */
  endLoan(r: Reservation | null, size: number): void {
    this.#loan = null;
    if (this.#closed) throw new ShmbusError('ERR_CLOSED', `topic "${this.name}" was closed during the loan`);
    if (r !== null) this.#finish(r, size);
    else this.#unlock();
  }

  /** The topic's counters (read from shared memory: every publisher's messages count). @throws ERR_CLOSED, ERR_SHM_CORRUPT */
  stats(): TopicStats {
    this.#assertOpen();
    const c = readCursor(this.#view);
    const all = listRegistrants(this.#view.words);
    return {
      published: c.writeSeq,
      oldest: c.tailSeq,
      publishers: all.filter((r) => r.role === TOPIC_ROLE_PUBLISHER).length,
      subscribers: all
        .filter((r) => r.role === TOPIC_ROLE_SUBSCRIBER)
        .map((r) => ({ pid: r.pid, lag: Math.max(0, c.writeSeq - (r.nextSeq - 1)), lost: r.lost })),
    };
  }

  /**
   * Live registered subscribers of the topic, in every process (dead ones are swept first: this reads /proc).
   * @throws ERR_CLOSED
   */
  get subscribers(): number {
    this.#assertOpen();
    return countRole(this.#view.words, TOPIC_ROLE_SUBSCRIBER, true);
  }

  /**
   * Waits until at least `n` subscribers are registered (the slow-joiner problem: publish only once they listen).
   * Never blocks the event loop.
   * @returns the number of subscribers then
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * await pub.waitForSubscribers(2, { timeout: 5000 });
   * ```
   */
  async waitForSubscribers(n?: number, options?: WaitForSubscribersOptions): Promise<number> {
    const want = intOption('n', n, 0, TOPIC_ENTRY_COUNT, 1);
    const o = optionsObject(options, 'waitForSubscribers');
    const timeout = validateTimeout(o.timeout);
    const { signal } = o;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArg('signal', 'an AbortSignal', signal);
    throwIfAborted(signal, 'waitForSubscribers');
    this.#assertOpen();
    const deadline = deadlineAfter(timeout);
    const words = this.#view.words;
    for (;;) {
      // SYNC TOPIC-REGISTRY (seq_cst load before the scan): a registration after it changes the word we sleep on.
      const reg = Atomics.load(words, REGISTRY_INDEX);
      const have = countRole(words, TOPIC_ROLE_SUBSCRIBER, true);
      if (have >= want) return have;
      const left = remaining(deadline);
      if (left === 0) throw timeoutError(`waiting for ${want} subscribers of topic "${this.name}" (${have} now)`, timeout, this.name);
      await parkCounterAsync(words, REGISTRY_SLEEPERS_INDEX, REGISTRY_INDEX, reg, () => Atomics.load(words, REGISTRY_INDEX) !== reg, { timeout: left, ...(signal && { signal }) }, this.#segment);
      this.#assertOpen();
    }
  }

  /**
   * Detaches this publisher (idempotent). An open loan is aborted first (its lock released); a single publisher
   * releases the writers' lock it held.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#loan !== null) {
      try {
        this.#loan.abort();
      } catch {
        // already ended
      }
    }
    if (this.singlePublisher) this.#releaseSole();
    // Unregister, then wake parked subscribers: the last publisher gone ends their reads (PROTOCOL 5.8).
    unregister(this.#view.words, this.#entry);
    // The commit word did not move: wake without clearing the subscribers' tags (they re-check the registry).
    wakeCounterKeep(this.#view.words, SLEEPERS_INDEX, COMMIT_INDEX);
    this.#closed = true;
    this.#mutex.close();
    this.#segment.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError('publisher', this.name);
  }
}

interface Attached {
  segment: Segment;
  view: RingView;
  reader: RingReader;
}

/**
 * One subscriber of a topic: a private cursor (writers never see it). Read with `tryRead` (never waits), `read`
 * (spins briefly, then parks on the futex), or `for await` (a `break` closes the subscriber).
 * @example
 * ```ts
 * const sub = Topic.subscribe('video', { from: 'latest' });
 * const m = await sub.read({ timeout: 1000 });
 * console.log(m.seq, m.data.length, sub.lost);
 * sub.close();
 * ```
 */
export class Subscriber<T = Uint8Array> implements AsyncIterable<Message<T>> {
  readonly name: string;
  /** Resolves once attached to the topic (at once unless subscribe waited for it to appear). */
  readonly ready: Promise<void>;
  readonly #spin: number;
  readonly #codec: Codec<T> | undefined;
  readonly #livenessInterval: number;
  #attached: Attached | null = null;
  /** Our registration table entry, -1 when the table was full (we then read unregistered). */
  #entry = -1;
  /** True once this subscriber saw a live publisher registered: only then can "no publisher left" end it. */
  #sawPublisher = false;
  /** The registry word when the table was last scanned (a different value means: scan again). */
  #seenRegistry = 0;
  #scanned = false;
  #publishers = 0;
  /** False after unref(): waits of this subscriber do not keep the process alive. */
  #keepAlive = true;
  /** writeSeq when this subscriber attached: a message after it was committed by a publisher registered since. */
  #attachHead = 0;
  #closed = false;
  #read = 0;
  #cancelWait: ((err: ShmbusError) => void) | null = null;
  readonly #ref: RecordRef = { seq: 0, offset: 0, size: 0, timestampMicros: 0 };
  /** The copy the sink made of the last record read (a fresh array, or a view of `into`). */
  #copied: Uint8Array | null = null;
  #into: Uint8Array | undefined;
  /** With reuse: the last view of `into` handed out (reused while the buffer and the size stay the same). */
  #intoView: Uint8Array | null = null;
  /** With reuse: ring views by a hash of their offset (see #cachedView), and the offset each slot holds. */
  #views: (Uint8Array | undefined)[] | null = null;
  #viewKeys = new Float64Array(0);
  #viewShift = 32;
  /** The one Message handed out with reuse: true. */
  #reused: Message<T> | null = null;
  #reuse = false;
  readonly #sink = (view: RingView, offset: number, size: number): void => {
    const into = this.#into;
    if (into !== undefined && into.length >= size) {
      // Reusing: copy from a cached view of the record (whole view, offset 0), so the copy makes no view object.
      if (this.#reuse) copyBytes(into, 0, this.#cachedView(view.bytes, offset, size), 0, size);
      else copyBytes(into, 0, view.bytes, offset, size);
      if (into.length === size) this.#copied = into;
      else if (this.#reuse) {
        let v = this.#intoView;
        if (v === null || v.length !== size || v.buffer !== into.buffer || v.byteOffset !== into.byteOffset) {
          v = this.#intoView = new Uint8Array(into.buffer, into.byteOffset, size);
        }
        this.#copied = v;
      } else this.#copied = new Uint8Array(into.buffer, into.byteOffset, size);
    } else {
      this.#copied = copyOut(view.bytes, offset, size);
    }
  };
  readonly #valid = (seq: number): boolean => this.#attached !== null && !this.#closed && this.#attached.reader.stillValid(seq);

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<T>(name: string, options: SubscribeOptions<T>): Subscriber<T> {
    return new Subscriber<T>(name, options);
  }

  private constructor(name: string, options: SubscribeOptions<T>) {
    validateName(name);
    const from = choiceOption('from', options.from, ['latest', 'oldest'] as const, 'latest');
    const wait = validateTimeout(options.timeout ?? 0, 'timeout');
    const { signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArg('signal', 'an AbortSignal', signal);
    this.#spin = validateSpin(options.spin, DEFAULT_SPIN);
    this.#codec = resolveCodec(options.codec);
    this.#livenessInterval = livenessOption(options.livenessInterval, DEFAULT_LIVENESS_INTERVAL);
    this.name = name;
    try {
      this.#attach(openTopicSegment(name, undefined), from);
      this.ready = Promise.resolve();
    } catch (e) {
      if (!isShmbusError(e, 'ERR_SHM_NOT_FOUND') || wait === 0) throw e;
      throwIfAborted(signal, 'subscribe');
      this.ready = this.#waitForTopic(wait, signal);
      this.ready.catch(() => undefined); // observed by read(); never an unhandled rejection
    }
  }

  /** Messages this subscriber missed because writers overwrote them before it read them. */
  get lost(): number {
    return this.#attached?.reader.lost ?? 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** This subscriber's counters. @throws ERR_SHM_CORRUPT */
  stats(): SubscriberStats {
    const a = this.#attached;
    if (a === null || this.#closed) return { read: this.#read, lost: this.lost, lag: 0 };
    const c = readCursor(a.view);
    return { read: this.#read, lost: a.reader.lost, lag: Math.max(0, c.writeSeq - (a.reader.seq - 1)) };
  }

  /**
   * The next message if one is there, else null. Never waits.
   * @throws ERR_CLOSED, ERR_SHM_CORRUPT, ERR_INVALID_ARG
   */
  tryRead(options?: TryReadOptions): Message<T> | null {
    if (this.#closed) throw closedError('subscriber', this.name);
    const a = this.#attached;
    if (a === null) return null;
    let copy = true;
    let into: Uint8Array | undefined;
    let reuse = false;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw invalidArg('tryRead options', 'an object', options);
      copy = options.copy !== false;
      into = options.into;
      reuse = options.reuse === true;
      if (into !== undefined && !(into instanceof Uint8Array)) throw invalidArg('into', 'a Uint8Array', into);
    }
    this.#into = into;
    this.#reuse = reuse;
    const ref = a.reader.tryNext(copy ? this.#sink : null, this.#ref);
    if (ref === null) return null;
    this.#read++;
    if (this.#entry >= 0) setProgress(a.view.words, this.#entry, ref.seq + 1, a.reader.lost);
    const m = reuse ? (this.#reused ??= Message.create<T>(this.#codec, a.view.bytes)) : Message.create<T>(this.#codec, a.view.bytes);
    if (copy) {
      const data = this.#copied!;
      this.#copied = null;
      return m.set(data, a.view.bytes, 0, ref.size, ref.seq, ref.timestampMicros, null);
    }
    return m.set(reuse ? this.#cachedView(a.view.bytes, ref.offset, ref.size) : null, a.view.bytes, ref.offset, ref.size, ref.seq, ref.timestampMicros, this.#valid);
  }

  /**
   * A view of the ring for a reusing read: cached by record offset, so a ring of fixed-size records (whose offsets
   * repeat every lap) allocates none once warm. Direct-mapped with a Fibonacci hash of offset / 8 onto a power of
   * two of slots (an arithmetic progression of offsets spreads evenly); the offset each slot holds is kept in a
   * Float64Array beside it, so a hit costs a multiply, a shift and two compares.
   */
  #cachedView(bytes: Uint8Array, offset: number, size: number): Uint8Array {
    let views = this.#views;
    if (views === null) {
      const slots = Math.min(2 ** Math.ceil(Math.log2(Math.max(64, this.#attached!.view.capacity / 8))), VIEW_CACHE);
      views = this.#views = new Array<Uint8Array | undefined>(slots).fill(undefined);
      this.#viewKeys = new Float64Array(slots).fill(-1);
      this.#viewShift = 32 - Math.log2(slots);
    }
    const k = Math.imul(offset >>> 3, 0x9e3779b1) >>> this.#viewShift;
    let v = views[k];
    if (v === undefined || this.#viewKeys[k] !== offset || v.length !== size) {
      v = views[k] = new Uint8Array(bytes.buffer, bytes.byteOffset + offset, size);
      this.#viewKeys[k] = offset;
    }
    return v;
  }

  /**
   * Waits for the next message: re-reads shared memory for `spin` µs, then parks on the futex (no CPU used)
   * until a publisher commits. Resolves `null` at the end of the stream: this subscriber saw a live publisher,
   * none is left (closed, or died: noticed within `livenessInterval`), and nothing is unread. A subscriber that
   * never saw a publisher waits for one. A publisher that registers later makes read() wait again.
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED (also when closed while waiting), ERR_SHM_NOT_FOUND (the topic
   * did not appear within the subscribe `timeout`), ERR_SHM_CORRUPT
   */
  read(options?: ReadOptions): Promise<Message<T> | null> {
    try {
      let m = this.tryRead(options);
      // The spin runs here, synchronously, before any async machinery: a message that arrives within it is
      // returned through one resolved promise (no async function frame), which is what a stream of messages hits.
      const a = this.#attached;
      if (m === null && a !== null && this.#spin > 0 && this.#spinFor(a.reader)) m = this.tryRead(options);
      if (m !== null) return Promise.resolve(m);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#readSlow(options ?? NO_OPTIONS);
  }

  /**
   * Re-reads the commit word for up to `spin` µs; true when a record may be there. The clock is first read after
   * 128 polls: performance.now() allocates (Node builds it on process.hrtime()), and a message that follows
   * closely should cost no clock read and no garbage.
   */
  #spinFor(reader: RingReader): boolean {
    let until = 0;
    for (let i = 1; ; i++) {
      if (reader.hasNew()) return true;
      if ((i & SPIN_CLOCK_MASK) === 0 && (until = spinClock(until, this.#spin / 1000)) < 0) return false;
    }
  }

  async #readSlow(options: ReadOptions): Promise<Message<T> | null> {
    const timeout = validateTimeout(options.timeout);
    const deadline = deadlineAfter(timeout);
    const { signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArg('signal', 'an AbortSignal', signal);
    throwIfAborted(signal, 'read');
    const attachedBefore = this.#attached !== null;
    if (!attachedBefore) await this.#awaitReady(deadline, timeout, signal);
    const a = this.#attached!;
    const reader = a.reader;
    const words = a.view.words;
    // Wake on a commit, or on a change of the registration table (a publisher closing wakes commit sleepers).
    const ready = (): boolean => reader.hasNew() || Atomics.load(words, REGISTRY_INDEX) !== this.#seenRegistry;
    let checkLiveness = false;
    // read() spun already before calling us (unless it had to wait for the topic to appear).
    let first = attachedBefore;
    for (;;) {
      if (this.#spin > 0 && !first) this.#spinFor(reader);
      first = false;
      const m = this.tryRead(options);
      if (m !== null) return m;
      // End of stream: a publisher was seen and none is left, and nothing is unread (re-checked after the scan).
      if (this.#noPublisherLeft(words, checkLiveness) && !reader.hasNew()) return null;
      checkLiveness = false;
      const left = remaining(deadline);
      if (left === 0) throw timeoutError(`read on topic "${this.name}"`, timeout, this.name);
      // While a publisher is known, wake every livenessInterval to notice one killed without closing.
      const slice = this.#sawPublisher ? Math.min(left, this.#livenessInterval) : left;
      // SYNC TOPIC-PARK (§3 parker: seq_cst announce, re-check commit and registry, sleep; never withdraws, so a
      // close or a death mid-wait leaves nothing to undo).
      const r = await parkCounterAsync(words, SLEEPERS_INDEX, COMMIT_INDEX, reader.idleValue, ready, { timeout: slice, ...(signal && { signal }) }, a.segment);
      if (this.#closed) throw closedError('subscriber', this.name);
      if (r === 'timed-out' && !reader.hasNew()) {
        if (remaining(deadline) === 0) throw timeoutError(`read on topic "${this.name}"`, timeout, this.name);
        checkLiveness = true;
      }
    }
  }

  /**
   * True when this subscriber saw a publisher and none is registered now. Rescans the table only when the
   * registry word changed (or to check liveness: a killed publisher never unregisters).
   */
  #noPublisherLeft(words: Int32Array, checkLiveness: boolean): boolean {
    // SYNC TOPIC-REGISTRY (seq_cst load, before the scan): a change after it makes the next check rescan.
    const reg = Atomics.load(words, REGISTRY_INDEX);
    // Reading (or losing) a message committed after we attached means a publisher registered since (5.8).
    if (!this.#sawPublisher && this.#attached !== null && this.#attached.reader.seq - 1 > this.#attachHead) this.#sawPublisher = true;
    if (!this.#scanned || reg !== this.#seenRegistry || checkLiveness) {
      this.#seenRegistry = reg;
      this.#scanned = true;
      this.#publishers = countRole(words, TOPIC_ROLE_PUBLISHER, checkLiveness);
      if (this.#publishers > 0) this.#sawPublisher = true;
    }
    return this.#sawPublisher && this.#publishers === 0;
  }

  /** Live publishers registered on the topic (sweeps dead ones: reads /proc). 0 before attached. */
  get publishers(): number {
    const a = this.#attached;
    if (a === null || this.#closed) return 0;
    return countRole(a.view.words, TOPIC_ROLE_PUBLISHER, true);
  }

  async #awaitReady(deadline: number, timeout: number, signal: AbortSignal | undefined): Promise<void> {
    let timer: LongTimer | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        this.ready,
        new Promise<never>((_, reject) => {
          // Any deadline, also above 2^31-1 ms, means that long (setLongTimeout re-arms; Infinity arms nothing).
          timer = setLongTimeout(() => reject(timeoutError(`read on topic "${this.name}"`, timeout, this.name)), remaining(deadline));
          if (!this.#keepAlive) timer.unref();
          if (signal) {
            onAbort = () => reject(abortedError(signal, 'read'));
            signal.addEventListener('abort', onAbort, { once: true });
          }
        }),
      ]);
    } finally {
      timer?.clear();
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    }
    if (this.#closed || this.#attached === null) throw closedError('subscriber', this.name);
  }

  /**
   * Messages until the subscriber is closed or the stream ends (no publisher left, see {@link read}). Ending the
   * loop (`break`, `return`, a throw, the end of the stream) closes the subscriber.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Message<T>, void, undefined> {
    try {
      for (;;) {
        let m: Message<T> | null;
        try {
          m = await this.read();
        } catch (e) {
          if (this.#closed && isShmbusError(e, 'ERR_CLOSED')) return;
          throw e;
        }
        if (m === null) return;
        yield m;
      }
    } finally {
      this.close();
    }
  }

  /**
   * Lets the process exit while this subscriber only waits (as `net.Server#unref`): its reads, also one already
   * parked, then wait without keeping the event loop alive. @returns this
   */
  unref(): this {
    this.#keepAlive = false;
    this.#attached?.segment.unref();
    this.#unrefTimers();
    return this;
  }

  /** Undoes {@link unref}: waits keep the process alive again (the default). @returns this */
  ref(): this {
    this.#keepAlive = true;
    this.#attached?.segment.ref();
    return this;
  }

  /** Timers and the /dev/shm watch of a pending wait for the topic to appear. */
  #unrefTimers: () => void = () => undefined;

  /** Detaches (idempotent): pending reads reject with ERR_CLOSED and iterators end. Writers never notice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelWait?.(closedError('subscriber', this.name));
    const a = this.#attached;
    if (a !== null) {
      if (this.#entry >= 0) unregister(a.view.words, this.#entry);
      a.segment.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #attach(segment: Segment, from: 'latest' | 'oldest'): void {
    const view = ringView(segment);
    const reader = new RingReader(view, from);
    if (!this.#keepAlive) segment.unref();
    this.#attached = { segment, view, reader };
    this.#entry = register(view.words, TOPIC_ROLE_SUBSCRIBER, reader.seq);
    this.#attachHead = readCursor(view).writeSeq;
    this.#noPublisherLeft(view.words, false); // a publisher registered now counts as seen
  }

  /** Waits for the topic to appear (segment/appear.ts) and attaches from 'oldest'. */
  #waitForTopic(wait: number, signal: AbortSignal | undefined): Promise<void> {
    const attempt = (last: boolean): true | undefined => {
      try {
        // Created after we subscribed: everything it holds was published after that, so start at the oldest.
        this.#attach(openTopicSegment(this.name, undefined), 'oldest');
        return true;
      } catch (e) {
        if (!isShmbusError(e, 'ERR_SHM_NOT_FOUND')) throw e;
      }
      if (!last) return undefined;
      throw new ShmbusError('ERR_SHM_NOT_FOUND', `topic "${this.name}" did not appear within ${wait} ms`, { segment: this.name });
    };
    const pending = appearAsync(this.name, attempt, deadlineAfter(wait), signal, 'subscribe', this.#keepAlive);
    this.#cancelWait = pending.cancel;
    this.#unrefTimers = pending.unref;
    const done = (): void => {
      this.#cancelWait = null;
    };
    return pending.promise.then(done, (e: unknown) => {
      done();
      throw e;
    });
  }
}

function copyOut(src: Uint8Array, offset: number, size: number): Uint8Array {
  const out = allocBytes(size);
  copyBytes(out, 0, src, offset, size);
  return out;
}
