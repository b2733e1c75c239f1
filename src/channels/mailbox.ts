/**
 * Mailbox: the latest value of something, shared (PROTOCOL.md §7). Writers exclude each other with a robust Mutex
 * and write into the slot readers are not using (double buffering, a seqlock per slot), then publish its version.
 * Readers take no lock, never block writers and never return a torn value; a writer that dies mid-write leaves the
 * previous value readable.
 */
import { TWO32 } from '../base/u64.js';
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
import { validateName } from '../segment/names.js';
import { Segment } from '../segment/segment.js';
import { copyBytes } from '../base/copy.js';
import { deadlineAfter, remaining, throwIfAborted, timeoutError, validateTimeout, type WaitOptions } from '../base/deadline.js';
import { Mutex } from '../sync/mutex.js';
import { allocBytes, nowMicros } from './message.js';
import { readU64, writeU64 } from '../base/u64.js';

const VERSION_INDEX = MAILBOX_VERSION_OFFSET / 4;
const WAITERS_INDEX = MAILBOX_WAITERS_OFFSET / 4;
/** Largest value accepted (1 GiB): both slots must fit a segment comfortably. */
const MAX_VALUE = 2 ** 30;
/** Consistent-read attempts before a reader calls the segment broken (an honest writer cannot make this many fail). */
const MAX_READ_ATTEMPTS = 10_000;
const decoder = new TextDecoder();

export interface MailboxCreateOptions {
  /** Largest value in bytes (default 64 KiB). */
  maxSize?: number;
  /** Permission bits (default 0o600, owner only). */
  mode?: number;
}

export interface MailboxOpenOptions {
  /** Milliseconds to wait for a mailbox its creator is still initialising (default 1000). */
  timeout?: number;
}

export interface MailboxWriteOptions {
  /** Milliseconds to wait for another writer (default: forever; a dead writer's lock is taken over). */
  timeout?: number;
}

/** Options of {@link Mailbox.read}. */
export interface MailboxReadOptions {
  /**
   * Copy into this buffer instead of a fresh one when the value fits (`data` is then a view of its first bytes).
   * Reusing one buffer for big values avoids allocating (and page-faulting) a new one per read.
   */
  into?: Uint8Array;
}

export interface ChangedOptions extends WaitOptions {
  /** Resolve once the version is greater than this (default: the version current when called). */
  since?: number;
}

/** A value read from a {@link Mailbox}: a private copy. */
export interface MailboxValue {
  /** The value's bytes (owned by the caller). */
  readonly data: Uint8Array;
  /** Its version: 0 before the first write, then +1 per write. */
  readonly version: number;
  /** When it was written, ms since the Unix epoch (0 before the first write). */
  readonly timestamp: number;
  /** The value decoded as UTF-8. */
  text(): string;
}

function invalid(message: string): ShmbusError {
  return new ShmbusError('ERR_INVALID_ARG', message);
}

class Value implements MailboxValue {
  constructor(
    readonly data: Uint8Array,
    readonly version: number,
    readonly timestamp: number,
  ) {}
  text(): string {
    return decoder.decode(this.data);
  }
}

/**
 * A named latest-value cell shared between processes.
 * @example
 * ```ts
 * const mb = Mailbox.create('settings', { maxSize: 64 << 10 });
 * mb.write(JSON.stringify({ theme: 'dark' }));
 * const { data, version } = Mailbox.open('settings').read();
 * await mb.changed({ since: version, timeout: 5000 });
 * ```
 */
export class Mailbox {
  readonly name: string;
  /** Largest value in bytes. */
  readonly maxSize: number;
  readonly #segment: Segment;
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #stride: number;
  readonly #mutex: Mutex;
  #closed = false;

  private constructor(segment: Segment) {
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
    this.name = segment.name;
    this.maxSize = maxSize;
  }

  /**
   * Creates a mailbox holding an empty value at version 0.
   * @throws ERR_SHM_EXISTS, ERR_INVALID_NAME, ERR_INVALID_ARG (bad maxSize), ERR_SHM_NO_SPACE, ERR_SHM_PERMISSION
   * @example
   * ```ts
   * const mb = Mailbox.create('settings', { maxSize: 4096 });
   * ```
   */
  static create(name: string, options: MailboxCreateOptions = {}): Mailbox {
    validateName(name);
    if (options === null || typeof options !== 'object') throw invalid('Mailbox.create options must be an object');
    const maxSize = options.maxSize ?? 64 << 10;
    if (typeof maxSize !== 'number' || !Number.isInteger(maxSize) || maxSize < 0 || maxSize > MAX_VALUE) {
      throw invalid(`maxSize must be an integer number of bytes, 0..2^30 (got ${String(maxSize)})`);
    }
    const stride = MAILBOX_SLOT_HEADER_SIZE + Math.ceil(maxSize / 64) * 64;
    const params = [];
    params[MAILBOX_PARAM_MAX_SIZE] = maxSize;
    params[MAILBOX_PARAM_SLOT_STRIDE] = stride;
    const seg = Segment.create(name, {
      size: MAILBOX_SLOTS_OFFSET + 2 * stride,
      kind: 'mailbox',
      params,
      ...(options.mode !== undefined && { mode: options.mode }),
      // All zero is the initial state: version 0 in slot 0, length 0, seqlocks even.
    });
    return new Mailbox(seg);
  }

  /**
   * Opens a mailbox another process created.
   * @throws ERR_SHM_NOT_FOUND, ERR_SHM_KIND, ERR_SHM_CORRUPT, ERR_SHM_VERSION, ERR_SHM_PERMISSION, ERR_INVALID_NAME
   * @example
   * ```ts
   * const mb = Mailbox.open('settings');
   * ```
   */
  static open(name: string, options: MailboxOpenOptions = {}): Mailbox {
    return new Mailbox(Segment.open(name, { kind: 'mailbox', ...(options.timeout !== undefined && { timeout: options.timeout }) }));
  }

  /** Removes a mailbox's name (processes using it go on). @throws ERR_SHM_NOT_FOUND, ERR_SHM_PERMISSION, ERR_INVALID_NAME */
  static unlink(name: string): void {
    Segment.unlink(name);
  }

  /**
   * Replaces the value (bytes, or a string stored as UTF-8). Readers see the old value or the new one, never a mix.
   * @returns the new version
   * @throws ERR_MESSAGE_TOO_LARGE, ERR_INVALID_ARG, ERR_TIMEOUT, ERR_CLOSED, ERR_SHM_CORRUPT
   * @example
   * ```ts
   * const v = mb.write('hello');
   * ```
   */
  write(data: Uint8Array | string, options: MailboxWriteOptions = {}): number {
    this.#assertOpen();
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (!(bytes instanceof Uint8Array)) throw invalid(`write takes a Uint8Array or a string (got ${typeof data})`);
    if (bytes.length > this.maxSize) {
      throw new ShmbusError(
        'ERR_MESSAGE_TOO_LARGE',
        `a ${bytes.length}-byte value does not fit mailbox "${this.name}" (maxSize ${this.maxSize})`,
        { segment: this.name },
      );
    }
    this.#mutex.lockSync(options.timeout === undefined ? {} : { timeout: options.timeout });
    try {
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
      w[base + MAILBOX_SLOT_LENGTH_OFFSET / 4] = bytes.length;
      writeU64(w, base + MAILBOX_SLOT_VERSION_OFFSET / 4, next);
      writeU64(w, base + MAILBOX_SLOT_TIMESTAMP_OFFSET / 4, nowMicros());
      const at = (base << 2) + MAILBOX_SLOT_HEADER_SIZE;
      copyBytes(this.#bytes, at, bytes, 0, bytes.length);
      // SYNC MAILBOX-END (release): the slot is complete; pairs with the reader's seqlock loads.
      Atomics.store(w, lock, (begin + 1) | 0);
      // SYNC MAILBOX-PUBLISH (release): readers now pick this slot; pairs with the acquire in read/changed.
      Atomics.store(w, VERSION_INDEX, next % TWO32 | 0);
      // SYNC MAILBOX-PARK (seq_cst load after the publish): pairs with the add in changed().
      if (Atomics.load(w, WAITERS_INDEX) !== 0) this.#segment.wake(VERSION_INDEX);
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
   * const buf = new Uint8Array(mb.maxSize);
   * const again = mb.read({ into: buf }); // again.data is a view of buf
   * ```
   */
  read(options?: MailboxReadOptions): MailboxValue {
    this.#assertOpen();
    const into = options?.into;
    if (into !== undefined && !(into instanceof Uint8Array)) throw invalid('into must be a Uint8Array');
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
      const sane = length <= this.maxSize;
      let data: Uint8Array = EMPTY;
      if (sane && length > 0) {
        const at = (base << 2) + MAILBOX_SLOT_HEADER_SIZE;
        data = into !== undefined && into.length >= length ? (into.length === length ? into : into.subarray(0, length)) : allocBytes(length);
        copyBytes(data, 0, this.#bytes, at, length);
      }
      // SYNC MAILBOX-READ (acquire re-check after the copy): unchanged = no writer touched the slot meanwhile.
      if (Atomics.load(w, lock) !== s1) continue;
      if (!sane) {
        throw new ShmbusError('ERR_SHM_CORRUPT', `mailbox "${this.name}": value length ${length} exceeds maxSize ${this.maxSize}`, {
          segment: this.name,
        });
      }
      return new Value(data, version, ts / 1000);
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
   * in any process. Never blocks the event loop.
   * @throws ERR_TIMEOUT, ERR_ABORTED, ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * let v = mb.version;
   * for (;;) { v = await mb.changed({ since: v }); render(mb.read().text()); }
   * ```
   */
  async changed(options: ChangedOptions = {}): Promise<number> {
    this.#assertOpen();
    const timeout = validateTimeout(options.timeout);
    const { signal } = options;
    throwIfAborted(signal, 'changed');
    const deadline = deadlineAfter(timeout);
    const w = this.#words;
    const since = options.since ?? this.version;
    if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0) {
      throw invalid(`since must be a version number >= 0 (got ${String(since)})`);
    }
    for (;;) {
      // SYNC MAILBOX-PUBLISH (acquire)
      const cur = Atomics.load(w, VERSION_INDEX);
      const version = this.#currentVersion(cur);
      if (version > since) return version;
      // SYNC MAILBOX-PARK (seq_cst RMW, then re-check): pairs with the writer's waiters load after its publish.
      Atomics.add(w, WAITERS_INDEX, 1);
      try {
        if (Atomics.load(w, VERSION_INDEX) !== cur) continue;
        const left = remaining(deadline);
        if (left === 0) throw timeoutError(`changed on mailbox "${this.name}"`, timeout, this.name);
        await this.#segment.waitAsync(VERSION_INDEX, cur, { timeout: left, ...(signal && { signal }) });
        if (remaining(deadline) === 0 && Atomics.load(w, VERSION_INDEX) === cur) {
          throw timeoutError(`changed on mailbox "${this.name}"`, timeout, this.name);
        }
      } finally {
        Atomics.sub(w, WAITERS_INDEX, 1); // SYNC MAILBOX-PARK: withdraw (writers only read it)
      }
    }
  }

  /** Detaches (idempotent); pending changed() calls reject with ERR_CLOSED. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mutex.close();
    this.#segment.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Full version of the value the version word `cur` names (read consistently from its slot). */
  #currentVersion(cur: number): number {
    const w = this.#words;
    for (let i = 0; i < MAX_READ_ATTEMPTS; i++) {
      const base = this.#slotIndex(cur & 1);
      const lock = base + MAILBOX_SLOT_SEQLOCK_OFFSET / 4;
      const s1 = Atomics.load(w, lock); // SYNC MAILBOX-READ (acquire)
      const version = readU64(w, base + MAILBOX_SLOT_VERSION_OFFSET / 4);
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
