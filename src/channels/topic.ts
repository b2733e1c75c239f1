/**
 * Topic: a broadcast ring with overwrite (PROTOCOL.md §5). Many publishers (serialised by a robust Mutex in the
 * segment), any number of subscribers, each with a private cursor that writers never see. When the ring is full
 * the oldest records are overwritten; a subscriber that fell behind skips to the oldest valid record and counts
 * what it lost.
 */
import { watch, type FSWatcher } from 'node:fs';
import { TWO32 } from '../base/u64.js';
import { ShmbusError, isShmbusError } from '../errors.js';
import {
  TOPIC_CAPACITY_ALIGN,
  TOPIC_DATA_OFFSET,
  TOPIC_MUTEX_OFFSET,
  TOPIC_PARAM_CAPACITY_HI,
  TOPIC_PARAM_CAPACITY_LO,
  TOPIC_PARAM_DATA_OFFSET,
  TOPIC_PARAM_MAX_MESSAGE,
  TOPIC_RECORD_HEADER_SIZE,
  OS_NAME_PREFIX,
} from '../protocol/layout.js';
import { validateName } from '../segment/names.js';
import { Segment } from '../segment/segment.js';
import { copyBytes } from '../base/copy.js';
import { validateSpin } from '../base/spin.js';
import { deadlineAfter, remaining, throwIfAborted, timeoutError, validateTimeout, type WaitOptions } from '../base/deadline.js';
import { Mutex } from '../sync/mutex.js';
import { Message, allocBytes, nowMicros } from './message.js';
import {
  COMMIT_INDEX,
  WAITERS_INDEX,
  commitRecord,
  initRing,
  recordSize,
  reserve,
  ringParamsValid,
  RingReader,
  type RecordRef,
  type Reservation,
  type RingView,
} from './ring.js';

/** Largest ring accepted (64 TiB, like a segment). */
const MAX_CAPACITY = 2 ** 46 - TOPIC_DATA_OFFSET;
/** Default microseconds a waiting read re-reads the commit word before it parks (as Queue's spin). */
const DEFAULT_SPIN = 50;
const NO_OPTIONS = Object.freeze({});

export interface TopicCreateOptions {
  /** Bytes of ring data (rounded up to a multiple of 64). The ring holds at least two messages of maxMessageSize. */
  capacity: number;
  /** Largest payload in bytes (default: the largest that fits twice in the ring). */
  maxMessageSize?: number;
  /** Permission bits (default 0o600, owner only). */
  mode?: number;
}

export interface TopicOpenOptions {
  /** Milliseconds to wait for a topic its creator is still initialising (default 1000). */
  timeout?: number;
}

/** Options of publish and loan: how long to wait for another publisher's loan to end. */
export interface PublishOptions {
  /** Milliseconds to wait for the writers' lock (default: forever; a dead holder is taken over). */
  timeout?: number;
}

export interface SubscribeOptions {
  /** 'latest' (default): start at the next message published; 'oldest': replay what the ring still holds first. */
  from?: 'latest' | 'oldest';
  /**
   * Milliseconds to wait for the topic to appear (default 0: it must exist). A subscriber that waited attaches
   * when the topic is created and then starts at its oldest message, so it misses nothing published after it
   * subscribed.
   */
  wait?: number;
  /**
   * Microseconds read() keeps re-reading shared memory before it parks on the futex (default 50; 0 parks at once).
   * Spinning catches messages that follow each other closely at sub-µs cost; parking costs a wake (~20-40 µs here).
   */
  spin?: number;
}

export interface ReadOptions extends WaitOptions {
  /** false: `data` is a view into the ring, check `m.valid()` after using it. Default true (a private copy). */
  copy?: boolean;
  /**
   * Copy into this buffer instead of a fresh one when the message fits (`data` is then a view of its first bytes).
   * Reusing one buffer for big messages avoids allocating (and page-faulting) a new one per message.
   */
  into?: Uint8Array;
}

/** Options of tryRead. */
export type TryReadOptions = Pick<ReadOptions, 'copy' | 'into'>;

function invalid(message: string): ShmbusError {
  return new ShmbusError('ERR_INVALID_ARG', message);
}

/** Checks a topic segment's parameters against its size and builds the view. @throws ERR_SHM_CORRUPT */
function ringView(seg: Segment): RingView {
  const p = seg.params;
  const capacity = p[TOPIC_PARAM_CAPACITY_LO]! + p[TOPIC_PARAM_CAPACITY_HI]! * TWO32;
  const maxMessageSize = p[TOPIC_PARAM_MAX_MESSAGE]!;
  const dataOffset = p[TOPIC_PARAM_DATA_OFFSET]!;
  if (
    dataOffset !== TOPIC_DATA_OFFSET ||
    !ringParamsValid(capacity, maxMessageSize) ||
    dataOffset + capacity > seg.size
  ) {
    throw new ShmbusError(
      'ERR_SHM_CORRUPT',
      `topic "${seg.name}" has impossible parameters (capacity ${capacity}, maxMessageSize ${maxMessageSize}, data offset ${dataOffset}, payload ${seg.size} bytes)`,
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

function toBytes(data: Uint8Array | string, what: string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  throw invalid(`${what} takes a Uint8Array or a string (got ${typeof data})`);
}

/**
 * `n` bytes of `bytes` from `offset` as a new view. `new Uint8Array(buffer, ...)` costs half what `subarray` does
 * (no species lookup): it matters per message for small ones.
 */
function viewOf(bytes: Uint8Array, offset: number, n: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + offset, n);
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
  readonly #topic: Topic;
  readonly #reservation: Reservation;
  #done = false;

  /** @internal */
  constructor(topic: Topic, reservation: Reservation, bytes: Uint8Array) {
    this.#topic = topic;
    this.#reservation = reservation;
    this.bytes = bytes;
  }

  /** The sequence number the message gets when committed. */
  get seq(): bigint {
    return BigInt(this.#reservation.seq);
  }

  /**
   * Publishes the message (its first `size` bytes, default all) and releases the writers' lock.
   * @returns the message's sequence number
   * @throws ERR_CLOSED (loan already ended or topic closed), ERR_INVALID_ARG (size larger than loaned)
   */
  commit(size: number = this.bytes.length): bigint {
    this.#end();
    if (!Number.isInteger(size) || size < 0 || size > this.bytes.length) {
      this.#topic.endLoan(null, 0);
      throw invalid(`commit size must be 0..${this.bytes.length} (got ${String(size)}); the loan was aborted`);
    }
    this.#topic.endLoan(this.#reservation, size);
    return BigInt(this.#reservation.seq);
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
export class Topic {
  readonly name: string;
  /** Ring data bytes. */
  readonly capacity: number;
  /** Largest payload accepted by publish and loan. */
  readonly maxMessageSize: number;
  readonly #segment: Segment;
  readonly #view: RingView;
  readonly #mutex: Mutex;
  #loan: Loan | null = null;
  #closed = false;
  readonly #reservation: Reservation = { seq: 0, at: 0, padAt: -1, size: 0, cursor: { writeSeq: 0, writePos: 0, tailSeq: 0, tailPos: 0 } };

  private constructor(segment: Segment) {
    this.#segment = segment;
    this.#view = ringView(segment);
    this.#mutex = new Mutex(segment, TOPIC_MUTEX_OFFSET);
    this.name = segment.name;
    this.capacity = this.#view.capacity;
    this.maxMessageSize = this.#view.maxMessageSize;
  }

  /**
   * Creates a topic and returns a publisher on it.
   * @throws ERR_SHM_EXISTS, ERR_INVALID_NAME, ERR_INVALID_ARG (bad capacity or maxMessageSize), ERR_SHM_NO_SPACE,
   * ERR_SHM_PERMISSION
   * @example
   * ```ts
   * const pub = Topic.create('ticks', { capacity: 1 << 20 });
   * ```
   */
  static create(name: string, options: TopicCreateOptions): Topic {
    validateName(name);
    if (options === null || typeof options !== 'object') throw invalid('Topic.create needs options: { capacity }');
    const cap = options.capacity;
    if (typeof cap !== 'number' || !Number.isInteger(cap) || cap <= 0 || cap > MAX_CAPACITY) {
      throw invalid(`capacity must be an integer number of bytes, 1..2^46 (got ${String(cap)})`);
    }
    const capacity = Math.ceil(cap / TOPIC_CAPACITY_ALIGN) * TOPIC_CAPACITY_ALIGN;
    const largest = Math.floor(capacity / 2 / 8) * 8 - TOPIC_RECORD_HEADER_SIZE;
    const maxMessageSize = options.maxMessageSize ?? Math.min(largest, 0xffffffff);
    if (typeof maxMessageSize !== 'number' || !Number.isInteger(maxMessageSize) || maxMessageSize < 1) {
      throw invalid(`maxMessageSize must be an integer >= 1 (got ${String(maxMessageSize)})`);
    }
    if (!ringParamsValid(capacity, maxMessageSize)) {
      throw invalid(
        `capacity ${capacity} cannot hold two messages of ${maxMessageSize} bytes (each takes ${recordSize(maxMessageSize)} with its header); ` +
          `raise capacity to at least ${2 * recordSize(maxMessageSize)} or lower maxMessageSize`,
      );
    }
    const params = [];
    params[TOPIC_PARAM_CAPACITY_LO] = capacity % TWO32;
    params[TOPIC_PARAM_CAPACITY_HI] = Math.floor(capacity / TWO32);
    params[TOPIC_PARAM_MAX_MESSAGE] = maxMessageSize;
    params[TOPIC_PARAM_DATA_OFFSET] = TOPIC_DATA_OFFSET;
    const seg = Segment.create(name, {
      size: TOPIC_DATA_OFFSET + capacity,
      kind: 'topic',
      params,
      ...(options.mode !== undefined && { mode: options.mode }),
      init: (s) => initRing(ringView(s)),
    });
    return new Topic(seg);
  }

  /**
   * Opens an existing topic as another publisher (any process).
   * @throws ERR_SHM_NOT_FOUND, ERR_SHM_KIND (not a topic), ERR_SHM_CORRUPT, ERR_SHM_VERSION, ERR_SHM_PERMISSION,
   * ERR_INVALID_NAME
   * @example
   * ```ts
   * const pub2 = Topic.open('video');
   * ```
   */
  static open(name: string, options: TopicOpenOptions = {}): Topic {
    return new Topic(openTopicSegment(name, options.timeout));
  }

  /**
   * Subscribes to a topic. With `wait`, the topic may appear later: the subscriber attaches when it does
   * (`sub.ready` resolves then; reads wait for it).
   * @throws ERR_SHM_NOT_FOUND (no topic and no `wait`), ERR_SHM_KIND, ERR_SHM_CORRUPT, ERR_INVALID_ARG,
   * ERR_INVALID_NAME
   * @example
   * ```ts
   * const sub = Topic.subscribe('video', { from: 'oldest', wait: 5000 });
   * for await (const m of sub) show(m.data);
   * ```
   */
  static subscribe(name: string, options: SubscribeOptions = {}): Subscriber {
    return new Subscriber(name, options);
  }

  /** Removes a topic's name (processes using it go on). @throws ERR_SHM_NOT_FOUND, ERR_SHM_PERMISSION, ERR_INVALID_NAME */
  static unlink(name: string): void {
    Segment.unlink(name);
  }

  /**
   * Publishes one message (bytes, or a string sent as UTF-8) to every subscriber. Overwrites the oldest messages
   * when the ring is full; never waits for subscribers.
   * @returns the message's sequence number
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_INVALID_ARG, ERR_TIMEOUT (another publisher's loan outlasted `timeout`),
   * ERR_CLOSED
   * @example
   * ```ts
   * const seq = pub.publish(new Uint8Array([1, 2, 3]));
   * ```
   */
  publish(data: Uint8Array | string, options?: PublishOptions): bigint {
    const bytes = toBytes(data, 'publish');
    const r = this.#begin(bytes.length, options);
    try {
      copyBytes(this.#view.bytes, this.#view.dataOffset + r.at + TOPIC_RECORD_HEADER_SIZE, bytes, 0, bytes.length);
    } catch (e) {
      this.#mutex.unlock();
      throw e;
    }
    this.#finish(r, bytes.length);
    return BigInt(r.seq);
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
    const r = this.#begin(size, options);
    const start = this.#view.dataOffset + r.at + TOPIC_RECORD_HEADER_SIZE;
    this.#loan = new Loan(this, { ...r, cursor: { ...r.cursor } }, this.#view.bytes.subarray(start, start + size));
    return this.#loan;
  }

  /** Validates, takes the writers' lock (repairing after a dead holder) and reserves; the lock stays held. */
  #begin(size: number, options: PublishOptions | undefined): Reservation {
    this.#assertOpen();
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
      throw invalid(`message size must be an integer >= 0 (got ${String(size)})`);
    }
    if (size > this.maxMessageSize) {
      throw new ShmbusError(
        'ERR_MESSAGE_TOO_LARGE',
        `a ${size}-byte message does not fit topic "${this.name}" (maxMessageSize ${this.maxMessageSize}); send less or create the topic with a larger maxMessageSize`,
        { segment: this.name },
      );
    }
    if (this.#loan !== null) throw invalid(`a loan of topic "${this.name}" is still open: commit or abort it first`);
    // A lock recovered from a dead publisher needs no repair (PROTOCOL 5.3 step 1): the commit word only ever
    // names a complete record and head slot, and the tail it may have moved is consistent on its own.
    this.#mutex.lockSync(options?.timeout === undefined ? NO_OPTIONS : { timeout: options.timeout });
    try {
      return reserve(this.#view, size, this.#reservation);
    } catch (e) {
      this.#mutex.unlock();
      throw e;
    }
  }

  /** Commits a reservation, wakes parked subscribers if any, releases the lock. */
  #finish(r: Reservation, size: number): void {
    try {
      commitRecord(this.#view, r, size, nowMicros());
      // SYNC TOPIC-PARK (seq_cst load after the seq_cst commit store): pairs with the add in Subscriber#readSlow;
      // one of the two sides sees the other, so a parking reader is never left asleep.
      if (Atomics.load(this.#view.words, WAITERS_INDEX) !== 0) this.#segment.wake(COMMIT_INDEX);
    } finally {
      this.#mutex.unlock();
    }
  }

  /** @internal Loan#commit / Loan#abort: publish (or drop) and release the lock. */
  endLoan(r: Reservation | null, size: number): void {
    this.#loan = null;
    if (this.#closed) throw new ShmbusError('ERR_CLOSED', `topic "${this.name}" was closed during the loan`);
    if (r !== null) this.#finish(r, size);
    else this.#mutex.unlock();
  }

  /** Detaches this publisher (idempotent). An open loan is aborted first (its lock released). */
  close(): void {
    if (this.#closed) return;
    if (this.#loan !== null) {
      try {
        this.#loan.abort();
      } catch {
        // already ended
      }
    }
    this.#closed = true;
    this.#mutex.close();
    this.#segment.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ShmbusError('ERR_CLOSED', `topic "${this.name}" is closed`, { segment: this.name });
  }
}

interface Attached {
  segment: Segment;
  view: RingView;
  reader: RingReader;
}

/**
 * One subscriber of a topic: a private cursor (writers never see it). Read with `tryRead` (never waits), `read`
 * (spins briefly, then parks on the futex), or `for await`.
 * @example
 * ```ts
 * const sub = Topic.subscribe('video', { from: 'latest' });
 * const m = await sub.read({ timeout: 1000 });
 * console.log(m.seq, m.data.length, sub.lost);
 * sub.close();
 * ```
 */
export class Subscriber implements AsyncIterable<Message> {
  readonly name: string;
  /** Resolves once attached to the topic (at once unless subscribe waited for it to appear). */
  readonly ready: Promise<void>;
  readonly #spin: number;
  #attached: Attached | null = null;
  #closed = false;
  #cancelWait: (() => void) | null = null;
  readonly #ref: RecordRef = { seq: 0, offset: 0, size: 0, timestampMicros: 0 };
  /** The copy tryNext's sink made of the last record read (a fresh array each time; handed to the Message). */
  #copied: Uint8Array | null = null;
  #into: Uint8Array | undefined;
  readonly #sink = (view: RingView, offset: number, size: number): void => {
    const into = this.#into;
    if (into !== undefined && into.length >= size) {
      copyBytes(into, 0, view.bytes, offset, size);
      this.#copied = into.length === size ? into : into.subarray(0, size);
    } else {
      this.#copied = copyOut(view.bytes, offset, size);
    }
  };
  readonly #valid = (seq: number): boolean => this.#attached !== null && !this.#closed && this.#attached.reader.stillValid(seq);

  /** @internal use Topic.subscribe */
  constructor(name: string, options: SubscribeOptions) {
    validateName(name);
    if (options === null || typeof options !== 'object') throw invalid('subscribe options must be an object');
    const from = options.from ?? 'latest';
    if (from !== 'latest' && from !== 'oldest') throw invalid(`from must be 'latest' or 'oldest' (got ${String(from)})`);
    const wait = validateTimeout(options.wait ?? 0, 'wait');
    this.#spin = validateSpin(options.spin, DEFAULT_SPIN);
    this.name = name;
    try {
      this.#attach(openTopicSegment(name, undefined), from);
      this.ready = Promise.resolve();
    } catch (e) {
      if (!isShmbusError(e, 'ERR_SHM_NOT_FOUND') || wait === 0) throw e;
      this.ready = this.#waitForTopic(wait);
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

  /**
   * The next message if one is there, else null. Never waits.
   * @throws ERR_CLOSED, ERR_SHM_CORRUPT
   */
  tryRead(options: TryReadOptions = {}): Message | null {
    if (this.#closed) throw new ShmbusError('ERR_CLOSED', `subscriber of topic "${this.name}" is closed`, { segment: this.name });
    const a = this.#attached;
    if (a === null) return null;
    const copy = options.copy !== false;
    const into = options.into;
    if (into !== undefined && !(into instanceof Uint8Array)) throw invalid('into must be a Uint8Array');
    this.#into = into;
    const ref = a.reader.tryNext(copy ? this.#sink : null, this.#ref);
    if (ref === null) return null;
    if (copy) {
      const data = this.#copied!;
      this.#copied = null;
      return new Message(data, ref.seq, ref.timestampMicros, null);
    }
    return new Message(viewOf(a.view.bytes, ref.offset, ref.size), ref.seq, ref.timestampMicros, this.#valid);
  }

  /**
   * Waits for the next message: re-reads shared memory for `spin` µs, then parks on the futex (no CPU used)
   * until a publisher commits.
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED (also when closed while waiting), ERR_SHM_NOT_FOUND (the topic
   * did not appear within `wait`), ERR_SHM_CORRUPT
   */
  read(options: ReadOptions = {}): Promise<Message> {
    try {
      const m = this.tryRead(options);
      if (m !== null) return Promise.resolve(m);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#readSlow(options);
  }

  async #readSlow(options: ReadOptions): Promise<Message> {
    const timeout = validateTimeout(options.timeout);
    const deadline = deadlineAfter(timeout);
    const { signal } = options;
    throwIfAborted(signal, 'read');
    if (this.#attached === null) await this.#awaitReady(deadline, timeout, signal);
    const a = this.#attached!;
    const words = a.view.words;
    for (;;) {
      if (this.#spin > 0 && !a.reader.hasNew()) {
        const until = performance.now() + this.#spin / 1000;
        for (let i = 1; !a.reader.hasNew(); i++) if ((i & 127) === 0 && performance.now() >= until) break;
      }
      const m = this.tryRead(options);
      if (m !== null) return m;
      const expected = a.reader.idleValue;
      // SYNC TOPIC-PARK (seq_cst RMW, then re-check the commit word): pairs with the publisher's waiters load.
      Atomics.add(words, WAITERS_INDEX, 1);
      try {
        if (!a.reader.hasNew()) {
          const left = remaining(deadline);
          if (left === 0) throw timeoutError(`read on topic "${this.name}"`, timeout, this.name);
          const r = await a.segment.waitAsync(COMMIT_INDEX, expected, { timeout: left, ...(signal && { signal }) });
          if (r === 'timed-out' && !a.reader.hasNew()) throw timeoutError(`read on topic "${this.name}"`, timeout, this.name);
        }
      } finally {
        Atomics.sub(words, WAITERS_INDEX, 1); // SYNC TOPIC-PARK: withdraw (the writer only reads it)
      }
      if (this.#closed) throw new ShmbusError('ERR_CLOSED', `subscriber of topic "${this.name}" is closed`, { segment: this.name });
    }
  }

  async #awaitReady(deadline: number, timeout: number, signal: AbortSignal | undefined): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        this.ready,
        new Promise<never>((_, reject) => {
          const left = remaining(deadline);
          if (left !== Infinity) timer = setTimeout(() => reject(timeoutError(`read on topic "${this.name}"`, timeout, this.name)), left);
          if (signal) {
            onAbort = () => reject(new ShmbusError('ERR_ABORTED', 'read was aborted', { cause: signal.reason }));
            signal.addEventListener('abort', onAbort, { once: true });
          }
        }),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    }
    if (this.#closed || this.#attached === null) {
      throw new ShmbusError('ERR_CLOSED', `subscriber of topic "${this.name}" is closed`, { segment: this.name });
    }
  }

  /** Messages until the subscriber is closed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    for (;;) {
      let m: Message;
      try {
        m = await this.read();
      } catch (e) {
        if (this.#closed && isShmbusError(e, 'ERR_CLOSED')) return;
        throw e;
      }
      yield m;
    }
  }

  /** Detaches (idempotent): pending reads reject with ERR_CLOSED and iterators end. Writers never notice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelWait?.();
    this.#attached?.segment.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #attach(segment: Segment, from: 'latest' | 'oldest'): void {
    const view = ringView(segment);
    this.#attached = { segment, view, reader: new RingReader(view, from) };
  }

  /** Polls for the topic with a bounded backoff, sped up by a watch on /dev/shm; attaches from 'oldest'. */
  #waitForTopic(wait: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const deadline = deadlineAfter(wait);
      let delay = 1;
      let timer: NodeJS.Timeout | undefined;
      let watcher: FSWatcher | undefined;
      const finish = (err?: unknown): void => {
        if (timer) clearTimeout(timer);
        watcher?.close();
        this.#cancelWait = null;
        if (err === undefined) resolve();
        else reject(err);
      };
      this.#cancelWait = () => finish(new ShmbusError('ERR_CLOSED', `subscriber of topic "${this.name}" was closed`, { segment: this.name }));
      const attempt = (): void => {
        timer = undefined;
        if (this.#closed) return;
        try {
          // Created after we subscribed: everything it holds was published after that, so start at the oldest.
          this.#attach(openTopicSegment(this.name, undefined), 'oldest');
          finish();
          return;
        } catch (e) {
          if (!isShmbusError(e, 'ERR_SHM_NOT_FOUND')) return finish(e);
        }
        const left = remaining(deadline);
        if (left === 0) {
          return finish(
            new ShmbusError('ERR_SHM_NOT_FOUND', `topic "${this.name}" did not appear within ${wait} ms`, { segment: this.name }),
          );
        }
        delay = Math.min(delay * 2, 100);
        timer = setTimeout(attempt, Math.min(delay, left));
      };
      try {
        watcher = watch('/dev/shm', (_event, file) => {
          if (file === `${OS_NAME_PREFIX}${this.name}` && timer !== undefined) {
            clearTimeout(timer);
            timer = setTimeout(attempt, 0);
          }
        });
        watcher.on('error', () => watcher?.close());
      } catch {
        // no inotify: polling alone
      }
      attempt();
    });
  }
}

function copyOut(src: Uint8Array, offset: number, size: number): Uint8Array {
  const out = allocBytes(size);
  copyBytes(out, 0, src, offset, size);
  return out;
}
