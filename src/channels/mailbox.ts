/**
 * Mailbox: the latest value of something, shared (PROTOCOL.md §7). Writers exclude each other with a robust Mutex
 * and write into the slot readers are not using (double buffering, a seqlock per slot), then publish its version.
 * Readers take no lock, never block writers and never return a torn value; a writer that dies mid-write leaves the
 * previous value readable.
 */
import { TWO32, readU64, writeU64 } from '../base/u64.js';
import { ShmbusError } from '../errors.js';
import {
  MAILBOX_MUTEX_OFFSET,
  MAILBOX_PARAM_MAX_SIZE,
  MAILBOX_PARAM_SLOT_STRIDE,
  MAILBOX_SLOT_HEADER_SIZE,
  MAILBOX_SLOT_LENGTH_OFFSET,
  MAILBOX_SLOT_SEQLOCK_OFFSET,
  MAILBOX_SLOT_TIMESTAMP_OFFSET,
  MAILBOX_SLOT_VERSION_OFFSET,
  MAILBOX_SLOTS_OFFSET,
  MAILBOX_VERSION_OFFSET,
  MAILBOX_WAITERS_OFFSET,
} from '../protocol/layout.js';
import { validateName } from '../protocol/names.js';
import { Segment } from '../segment/segment.js';
import { copyBytes } from '../base/copy.js';
import { acquireFence, releaseFence } from '../base/fence.js';
import { deadlineAfter, remaining, throwIfAborted, timeoutError, validateTimeout, type WaitOptions } from '../base/deadline.js';
import { intOption, invalidArg, optionsObject } from '../base/options.js';
import { parkCounterAsync, wakeCounter } from '../base/park.js';
import { Mutex } from '../sync/mutex.js';
import { resolveCodec, utf8, type Codec, type CodecOption } from './codec.js';
import { allocBytes, nowMicros } from './message.js';

const VERSION_INDEX = MAILBOX_VERSION_OFFSET / 4;
const SLEEPERS_INDEX = MAILBOX_WAITERS_OFFSET / 4;
/** Largest value accepted (1 GiB): both slots must fit a segment comfortably. */
const MAX_VALUE = 2 ** 30;
/** Default largest value: 64 KiB (two slots: a 128 KiB segment). */
const DEFAULT_MAX = 64 << 10;
/** Consistent-read attempts before a reader calls the segment broken (an honest writer cannot make this many fail). */
const MAX_READ_ATTEMPTS = 10_000;
const encoder = new TextEncoder();

/** What `write` takes: bytes or a string (UTF-8) without a codec, the codec's value type with one. */
export type MailboxInput<T> = [T] extends [Uint8Array] ? Uint8Array | string : T;

export interface MailboxCreateOptions<T = Uint8Array> {
  /** Largest value in bytes, 0..2^30 (default 64 KiB). */
  maxMessageSize?: number;
  /** Permission bits (default 0o600, owner only). */
  mode?: number;
  /** How values are encoded: 'json', 'v8' or a {@link Codec} (default: raw bytes). */
  codec?: CodecOption<T>;
}

export interface MailboxOpenOptions<T = Uint8Array> {
  /** Milliseconds to wait for a mailbox its creator is still initialising (default 1000). */
  timeout?: number;
  /** How values are encoded (must match the writers'). */
  codec?: CodecOption<T>;
}

/** Options of {@link Mailbox.write}: `timeout` bounds the wait for another writer (default: forever). */
export interface MailboxWriteOptions {
  /** Milliseconds to wait for another writer (default: forever; a dead writer's lock is taken over). */
  timeout?: number;
}

/** Options of {@link Mailbox.writeAsync}. */
export type MailboxWriteAsyncOptions = WaitOptions;

/** Options of {@link Mailbox.read}. */
export interface MailboxReadOptions {
  /**
   * Copy into this buffer instead of a fresh one when the value fits (`data` is then a view of its first bytes).
   * Reusing one buffer for big values avoids allocating (and page-faulting) a new one per read.
   */
  into?: Uint8Array;
}

/** Options of {@link Mailbox.changed}. */
export interface ChangedOptions extends WaitOptions {
  /** Resolve once the version is greater than this (default: the version current when called). */
  since?: number;
}

/** A value read from a {@link Mailbox}: a private copy. */
export interface MailboxValue<T = Uint8Array> {
  /** The value's bytes (owned by the caller). */
  readonly data: Uint8Array;
  /** Its version: 0 before the first write, then +1 per write. */
  readonly version: number;
  /** When it was written, ms since the Unix epoch (0 before the first write). */
  readonly timestamp: number;
  /** The value decoded with the mailbox's codec (without one: `data`). Decoded on first access. */
  readonly value: T;
  /** The bytes decoded as UTF-8. */
  text(): string;
  /** The bytes parsed as JSON (UTF-8). */
  json<J = unknown>(): J;
}

/** What {@link Mailbox.stats} reports. */
export interface MailboxStats {
  /** The current version (writes ever made, by anyone). */
  version: number;
  /** Largest value in bytes. */
  maxMessageSize: number;
  /** Writes made through this handle. */
  writes: number;
  /** Reads made through this handle. */
  reads: number;
}

class Value<T> implements MailboxValue<T> {
  #decoded = false;
  #value: T | undefined;
  constructor(
    readonly data: Uint8Array,
    readonly version: number,
    readonly timestamp: number,
    readonly codec: Codec<T> | undefined,
  ) {}
  get value(): T {
    if (!this.#decoded) {
      this.#value = this.codec === undefined ? (this.data as T) : this.codec.decode(this.data);
      this.#decoded = true;
    }
    return this.#value as T;
  }
  text(): string {
    return utf8(this.data);
  }
  json<J = unknown>(): J {
    return JSON.parse(utf8(this.data)) as J;
  }
}

/**
 * A named latest-value cell shared between processes. Generic over its value type when it has a codec.
 * @example
 * ```ts
 * const mb = Mailbox.create('settings', { maxMessageSize: 64 << 10, codec: 'json' });
 * mb.write({ theme: 'dark' });
 * const { value, version } = Mailbox.open('settings', { codec: 'json' }).read();
 * await mb.changed({ since: version, timeout: 5000 });
 * ```
 */
export class Mailbox<T = Uint8Array> {
  readonly name: string;
  /** Largest value in bytes. */
  readonly maxMessageSize: number;
  readonly #segment: Segment;
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #stride: number;
  readonly #mutex: Mutex;
  readonly #codec: Codec<T> | undefined;
  #closed = false;
  #writes = 0;
  #reads = 0;

  private constructor(segment: Segment, codec: Codec<T> | undefined) {
    const maxSize = segment.params[MAILBOX_PARAM_MAX_SIZE]!;
    const stride = segment.params[MAILBOX_PARAM_SLOT_STRIDE]!;
    if (
      maxSize > MAX_VALUE ||
      stride % 64 !== 0 ||
      stride < MAILBOX_SLOT_HEADER_SIZE + maxSize ||
      MAILBOX_SLOTS_OFFSET + 2 * stride > segment.size
    ) {
      segment.close();
      throw new ShmbusError(
        'ERR_SHM_CORRUPT',
        `mailbox "${segment.name}" has impossible parameters (maxSize ${maxSize}, slot stride ${stride}, payload ${segment.size} bytes)`,
        { segment: segment.name },
      );
    }
    this.#segment = segment;
    this.#words = segment.words;
    this.#bytes = segment.bytes;
    this.#stride = stride;
    this.#mutex = new Mutex(segment, MAILBOX_MUTEX_OFFSET);
    this.#codec = codec;
    this.name = segment.name;
    this.maxMessageSize = maxSize;
  }

  /**
   * Creates a mailbox holding an empty value at version 0.
   * @throws ERR_SHM_EXISTS, ERR_INVALID_NAME, ERR_INVALID_ARG (bad option), ERR_SHM_NO_SPACE, ERR_SHM_PERMISSION
   * @example
   * ```ts
   * const mb = Mailbox.create('settings', { maxMessageSize: 4096 });
   * ```
   */
  static create<T = Uint8Array>(name: string, options?: MailboxCreateOptions<T>): Mailbox<T> {
    validateName(name);
    const o = optionsObject(options, 'Mailbox.create');
    const maxSize = intOption('maxMessageSize', o.maxMessageSize, 0, MAX_VALUE, DEFAULT_MAX);
    const codec = resolveCodec(o.codec);
    const stride = MAILBOX_SLOT_HEADER_SIZE + Math.ceil(maxSize / 64) * 64;
    const params = [];
    params[MAILBOX_PARAM_MAX_SIZE] = maxSize;
    params[MAILBOX_PARAM_SLOT_STRIDE] = stride;
    const seg = Segment.create(name, {
      size: MAILBOX_SLOTS_OFFSET + 2 * stride,
      kind: 'mailbox',
      params,
      ...(o.mode !== undefined && { mode: o.mode }),
      // All zero is the initial state: version 0 in slot 0, length 0, seqlocks even.
    });
    return new Mailbox<T>(seg, codec);
  }

  /**
   * Opens a mailbox another process created.
   * @throws ERR_SHM_NOT_FOUND, ERR_SHM_KIND, ERR_SHM_CORRUPT, ERR_SHM_VERSION, ERR_SHM_PERMISSION, ERR_INVALID_NAME,
   *   ERR_INVALID_ARG
   * @example
   * ```ts
   * const mb = Mailbox.open('settings');
   * ```
   */
  static open<T = Uint8Array>(name: string, options?: MailboxOpenOptions<T>): Mailbox<T> {
    const o = optionsObject(options, 'Mailbox.open');
    const codec = resolveCodec(o.codec);
    return new Mailbox<T>(Segment.open(name, { kind: 'mailbox', ...(o.timeout !== undefined && { timeout: o.timeout }) }), codec);
  }

  /** Removes a mailbox's name (processes using it go on). @throws ERR_SHM_NOT_FOUND, ERR_SHM_PERMISSION, ERR_INVALID_NAME */
  static unlink(name: string): void {
    Segment.unlink(name);
  }

  /**
   * Replaces the value (bytes, or a string stored as UTF-8; with a codec, a value of its type). Readers see the old
   * value or the new one, never a mix. Blocks the thread only while another writer is inside its write (bounded by
   * `timeout`); {@link writeAsync} never blocks the event loop.
   * @returns the new version
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_INVALID_ARG, ERR_TIMEOUT, ERR_CLOSED, ERR_SHM_CORRUPT
   * @example
   * ```ts
   * const v = mb.write('hello');
   * ```
   */
  write(data: MailboxInput<T>, options?: MailboxWriteOptions): number {
    this.#assertOpen();
    const bytes = this.#encode(data);
    const o = optionsObject(options, 'write');
    this.#mutex.lockSync(o.timeout === undefined ? {} : { timeout: o.timeout });
    return this.#writeLocked(bytes);
  }

  /**
   * {@link write} without ever blocking the event loop: when another writer holds the lock, waits for it
   * asynchronously (uncontended, it writes at once).
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_INVALID_ARG, ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED, ERR_SHM_CORRUPT
   * @example
   * ```ts
   * await mb.writeAsync('hello', { timeout: 1000 });
   * ```
   */
  async writeAsync(data: MailboxInput<T>, options?: MailboxWriteAsyncOptions): Promise<number> {
    this.#assertOpen();
    const bytes = this.#encode(data);
    const o = optionsObject(options, 'writeAsync');
    if (this.#mutex.tryLock() === null) {
      await this.#mutex.lock({ ...(o.timeout !== undefined && { timeout: o.timeout }), ...(o.signal !== undefined && { signal: o.signal }) });
    }
    return this.#writeLocked(bytes);
  }

  /** The write itself, holding the writers' mutex (released here). */
  #writeLocked(bytes: Uint8Array): number {
    try {
      this.#assertOpen();
      const w = this.#words;
      // Holding the mutex: the published slot is complete (a dead writer never got to publish its slot).
      const cur = Atomics.load(w, VERSION_INDEX);
      const curBase = this.#slotIndex(cur & 1);
      const version = readU64(w, curBase + MAILBOX_SLOT_VERSION_OFFSET / 4);
      if (version % TWO32 !== cur >>> 0 || version >= Number.MAX_SAFE_INTEGER) {
        throw new ShmbusError('ERR_SHM_CORRUPT', `mailbox "${this.name}": version word and slot disagree`, { segment: this.name });
      }
      const next = version + 1;
      const base = this.#slotIndex(next & 1);
      const lock = base + MAILBOX_SLOT_SEQLOCK_OFFSET / 4;
      // Odd = being written; from an odd value (a writer died here) go to the next odd one.
      const begin = (Atomics.load(w, lock) + 1) | 1;
      // SYNC MAILBOX-BEGIN (seq_cst store before the slot's bytes): a reader of this slot re-checks the seqlock
      // after copying (MAILBOX-READ) and sees the change.
      Atomics.store(w, lock, begin);
      // MAILBOX-BEGIN on weakly ordered CPUs: the plain stores below must not become visible before the odd mark.
      releaseFence();
      w[base + MAILBOX_SLOT_LENGTH_OFFSET / 4] = bytes.length;
      writeU64(w, base + MAILBOX_SLOT_VERSION_OFFSET / 4, next);
      writeU64(w, base + MAILBOX_SLOT_TIMESTAMP_OFFSET / 4, nowMicros());
      const at = (base << 2) + MAILBOX_SLOT_HEADER_SIZE;
      copyBytes(this.#bytes, at, bytes, 0, bytes.length);
      // SYNC MAILBOX-END (release): the slot is complete; pairs with the reader's seqlock loads.
      Atomics.store(w, lock, (begin + 1) | 0);
      // The version word before ours (we hold the lock, so it is stable): the §3 counter rule compares tags with it.
      const old = Atomics.load(w, VERSION_INDEX);
      // SYNC MAILBOX-PUBLISH (seq_cst store: also the waker's half of MAILBOX-PARK): readers now pick this slot.
      Atomics.store(w, VERSION_INDEX, next % TWO32 | 0);
      // SYNC MAILBOX-PARK (§3 counter rule: seq_cst load of the sleepers word after the store): pairs with the
      // announce in changed().
      wakeCounter(w, SLEEPERS_INDEX, VERSION_INDEX, old);
      this.#writes++;
      return next;
    } finally {
      this.#mutex.unlock();
    }
  }

  /**
   * The current value, as a private copy (in `into` when given and large enough). Never blocks writers, never torn.
   * @throws ERR_CLOSED, ERR_SHM_CORRUPT, ERR_INVALID_ARG (into is not a Uint8Array)
   * @example
   * ```ts
   * const { data, version } = mb.read();
   * const buf = new Uint8Array(mb.maxMessageSize);
   * const again = mb.read({ into: buf }); // again.data is a view of buf
   * ```
   */
  read(options?: MailboxReadOptions): MailboxValue<T> {
    this.#assertOpen();
    const into = options === undefined ? undefined : optionsObject(options, 'read').into;
    if (into !== undefined && !(into instanceof Uint8Array)) throw invalidArg('into', 'a Uint8Array', into);
    const w = this.#words;
    for (let i = 0; i < MAX_READ_ATTEMPTS; i++) {
      // SYNC MAILBOX-PUBLISH (acquire): the slot it names was complete when published.
      const cur = Atomics.load(w, VERSION_INDEX);
      const base = this.#slotIndex(cur & 1);
      const lock = base + MAILBOX_SLOT_SEQLOCK_OFFSET / 4;
      // SYNC MAILBOX-READ (acquire): odd = a writer is rewriting this slot (a newer version exists); retry.
      const s1 = Atomics.load(w, lock);
      if (s1 & 1) continue;
      const length = w[base + MAILBOX_SLOT_LENGTH_OFFSET / 4]! >>> 0;
      const version = readU64(w, base + MAILBOX_SLOT_VERSION_OFFSET / 4);
      const ts = readU64(w, base + MAILBOX_SLOT_TIMESTAMP_OFFSET / 4);
      const sane = length <= this.maxMessageSize;
      let data: Uint8Array = EMPTY;
      if (sane && length > 0) {
        const at = (base << 2) + MAILBOX_SLOT_HEADER_SIZE;
        data = into !== undefined && into.length >= length ? (into.length === length ? into : into.subarray(0, length)) : allocBytes(length);
        copyBytes(data, 0, this.#bytes, at, length);
      }
      // MAILBOX-READ on weakly ordered CPUs: the plain loads above complete before the re-check below.
      acquireFence();
      // SYNC MAILBOX-READ (acquire re-check after the copy): unchanged = no writer touched the slot meanwhile.
      if (Atomics.load(w, lock) !== s1) continue;
      if (!sane) {
        throw new ShmbusError('ERR_SHM_CORRUPT', `mailbox "${this.name}": value length ${length} exceeds maxMessageSize ${this.maxMessageSize}`, {
          segment: this.name,
        });
      }
      this.#reads++;
      return new Value(data, version, ts / 1000, this.#codec);
    }
    throw new ShmbusError(
      'ERR_SHM_CORRUPT',
      `mailbox "${this.name}": no consistent value after ${MAX_READ_ATTEMPTS} attempts (the segment is damaged)`,
      { segment: this.name },
    );
  }

  /** The current version (0 before the first write). @throws ERR_CLOSED, ERR_SHM_CORRUPT */
  get version(): number {
    this.#assertOpen();
    return this.#currentVersion(Atomics.load(this.#words, VERSION_INDEX));
  }

  /**
   * Resolves with the new version once the value's version is greater than `since` (default: the current one),
   * in any process. Never blocks the event loop; parks on the version word (no CPU while nothing changes).
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * let v = mb.version;
   * for (;;) { v = await mb.changed({ since: v }); render(mb.read().text()); }
   * ```
   */
  async changed(options?: ChangedOptions): Promise<number> {
    this.#assertOpen();
    const o = optionsObject(options, 'changed');
    const timeout = validateTimeout(o.timeout);
    const { signal } = o;
    throwIfAborted(signal, 'changed');
    const deadline = deadlineAfter(timeout);
    const w = this.#words;
    const since = o.since ?? this.version;
    if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0) {
      throw invalidArg('since', 'a version number >= 0', since);
    }
    for (;;) {
      // SYNC MAILBOX-PUBLISH (acquire)
      const cur = Atomics.load(w, VERSION_INDEX);
      const version = this.#currentVersion(cur);
      if (version > since) return version;
      const left = remaining(deadline);
      if (left === 0) throw timeoutError(`changed on mailbox "${this.name}"`, timeout, this.name);
      // SYNC MAILBOX-PARK (seq_cst announce, then re-check the version word): pairs with the writer's load of the
      // sleepers word after its publish. Nothing to withdraw afterwards (PROTOCOL §3).
      await parkCounterAsync(w, SLEEPERS_INDEX, VERSION_INDEX, cur, () => Atomics.load(w, VERSION_INDEX) !== cur, {
        timeout: left,
        ...(signal && { signal }),
      }, this.#segment);
    }
  }

  /** Counters of this mailbox and this handle. @throws ERR_CLOSED */
  stats(): MailboxStats {
    return { version: this.version, maxMessageSize: this.maxMessageSize, writes: this.#writes, reads: this.#reads };
  }

  /** Lets the process exit while a `changed()` is pending (as `net.Socket#unref`). Returns this. */
  unref(): this {
    this.#segment.unref();
    return this;
  }

  /** Undoes {@link unref}. Returns this. */
  ref(): this {
    this.#segment.ref();
    return this;
  }

  /** Detaches this handle (idempotent); pending changed() calls reject with ERR_CLOSED. Writers and readers elsewhere go on. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mutex.close();
    this.#segment.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Bytes of a value to write: checks the type and the size. */
  #encode(data: MailboxInput<T>): Uint8Array {
    let raw: unknown = data;
    if (this.#codec !== undefined) raw = this.#codec.encode(data as T);
    const bytes = typeof raw === 'string' ? encoder.encode(raw) : raw;
    if (!(bytes instanceof Uint8Array)) {
      throw invalidArg('value', this.#codec === undefined ? 'a Uint8Array or a string' : `what codec ${this.#codec.name} encodes to bytes`, raw);
    }
    if (bytes.length > this.maxMessageSize) {
      throw new ShmbusError(
        'ERR_MESSAGE_TOO_LARGE',
        `a ${bytes.length}-byte value does not fit mailbox "${this.name}" (maxMessageSize ${this.maxMessageSize})`,
        { segment: this.name },
      );
    }
    return bytes;
  }

  /** Full version of the value the version word `cur` names (read consistently from its slot). */
  #currentVersion(cur: number): number {
    const w = this.#words;
    for (let i = 0; i < MAX_READ_ATTEMPTS; i++) {
      const base = this.#slotIndex(cur & 1);
      const lock = base + MAILBOX_SLOT_SEQLOCK_OFFSET / 4;
      const s1 = Atomics.load(w, lock); // SYNC MAILBOX-READ (acquire)
      const version = readU64(w, base + MAILBOX_SLOT_VERSION_OFFSET / 4);
      acquireFence(); // MAILBOX-READ: the plain version loads complete before the re-check
      if (!(s1 & 1) && Atomics.load(w, lock) === s1) return version; // SYNC MAILBOX-READ (re-check)
      cur = Atomics.load(w, VERSION_INDEX); // SYNC MAILBOX-PUBLISH (acquire): the slot moved on
    }
    throw new ShmbusError('ERR_SHM_CORRUPT', `mailbox "${this.name}": no consistent version`, { segment: this.name });
  }

  #slotIndex(slot: number): number {
    return (MAILBOX_SLOTS_OFFSET + slot * this.#stride) / 4;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ShmbusError('ERR_CLOSED', `mailbox "${this.name}" is closed`, { segment: this.name });
  }
}

const EMPTY = new Uint8Array(0);
