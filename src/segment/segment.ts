/**
 * Segment: a named piece of shared memory with a validated header (PROTOCOL.md "Segment header"), or a raw
 * foreign shm object, or a window of a file. The layer every primitive and channel stands on.
 */
import { statSync } from 'node:fs';
import { ShmbusError } from '../errors.js';
import { callNative, native, type MappingHandle, type NativeMapping } from '../native/binding.js';
import {
  HDR_CREATOR_NS_OFFSET,
  HDR_CREATOR_PID_OFFSET,
  HDR_CREATOR_START_OFFSET,
  HDR_MAGIC_OFFSET,
  HDR_PARAMS_COUNT,
  HDR_STATE_OFFSET,
  HEADER_SIZE,
  KIND,
  OS_NAME_PREFIX,
  PROTOCOL_VERSION,
  SEGMENT_MAGIC,
  STATE_READY,
  type SegmentKind,
} from '../protocol/layout.js';
import { deadlineAfter, remaining, sleepSync, validateTimeout, type WaitOptions } from '../base/deadline.js';
import { ownerRefChanged, waitAsync, waitSync, wake, type WaitOwner, type WaitResult } from '../base/futex.js';
import { decodeHeader, encodeHeader, type SegmentHeader } from '../protocol/header.js';
import { nameFromOsName, osName, validateName } from '../protocol/names.js';
import { holderAlive, selfIdentity } from '../base/process.js';
import { reserveMapping } from './map-budget.js';
import { intOption, invalidArg, optionsObject } from '../base/options.js';

/** Largest payload accepted (64 TiB): keeps every offset exact in a JS number. */
const MAX_SIZE = 2 ** 46;
const STATE_INDEX = HDR_STATE_OFFSET / 4;
/** How long `open` waits, by default, for a segment that is still being initialised. */
const DEFAULT_READY_TIMEOUT = 1000;

export interface SegmentCreateOptions {
  /** Payload size in bytes (the 128-byte header comes on top). */
  size: number;
  /**
   * Permission bits, read and write only (0..0o666; execute bits mean nothing for shared memory and are refused);
   * default 0o600 (owner only).
   */
  mode?: number;
  /** What the segment holds; channels and locks set their own. Default 'raw'. */
  kind?: SegmentKind;
  /** Up to 16 u32 layout parameters stored in the header (meaning set by the kind). */
  params?: readonly number[];
  /** Runs after the header is written and before the segment is published as ready: lay out the payload here. */
  init?: (segment: Segment) => void;
}

export interface SegmentOpenOptions {
  /** Refuse (ERR_SHM_KIND) unless the segment is of this kind. */
  kind?: SegmentKind;
  /** Milliseconds to wait for a segment that is still being initialised by its creator (default 1000). */
  timeout?: number;
}

export interface RawOpenOptions {
  /** Map only the first `size` bytes (default: the whole object). */
  size?: number;
  /** Map copy-on-write: this process sees the object, its writes stay private. Default false. */
  readOnly?: boolean;
}

export interface MapFileOptions {
  /** Byte offset of the window in the file (any value; need not be page aligned). Default 0. */
  offset?: number;
  /** Window length in bytes; default: to the end of the file. The window must lie inside the file. */
  length?: number;
  /** Map shared read/write (writes reach the file; flush() forces them out). Default false: copy-on-write. */
  writable?: boolean;
}

/** One entry of {@link Segment.list}. */
export interface SegmentInfo {
  name: string;
  /** Payload size in bytes (object size minus header; the object size if the header is unreadable). */
  size: number;
  kind: SegmentKind | 'unknown';
  creatorPid: number;
  createdAt: Date | null;
  /** Some process still has it mapped. */
  attached: boolean;
  /** Its creator is dead (pid + start time) and nobody has it mapped: safe to unlink. */
  stale: boolean;
}

type Origin = { type: 'shmbus'; header: SegmentHeader } | { type: 'raw' } | { type: 'file'; path: string };

export class Segment implements WaitOwner {
  /** The shmbus name (or the OS name for openRaw, the path for mapFile). */
  readonly name: string;
  /** Payload size in bytes (header excluded). */
  readonly size: number;
  /** 'raw' for a plain shmbus segment; the channel or lock kind otherwise; 'foreign' / 'file' for the others. */
  readonly kind: SegmentKind | 'foreign' | 'file';
  /** Layout parameters from the header (16 u32; all 0 for raw, foreign and file segments). */
  readonly params: readonly number[];
  /** @internal async waits to reject when the segment closes. */
  readonly pendingWaits = new Set<(err: ShmbusError) => void>();

  readonly #handle: MappingHandle;
  readonly #buffer: SharedArrayBuffer;
  readonly #bytes: Uint8Array;
  readonly #words: Int32Array;
  readonly #headerWords: Int32Array | undefined;
  readonly #origin: Origin;
  #closed = false;

  private constructor(name: string, mapping: NativeMapping, origin: Origin) {
    this.name = name;
    this.#handle = mapping.handle;
    this.#origin = origin;
    if (origin.type === 'shmbus') {
      this.#headerWords = new Int32Array(mapping.buffer, 0, HEADER_SIZE / 4);
      this.#buffer = native.slice(mapping.handle, HEADER_SIZE, mapping.buffer.byteLength - HEADER_SIZE);
      this.kind = origin.header.kind;
      this.params = Object.freeze(origin.header.params.slice());
    } else {
      this.#buffer = mapping.buffer;
      this.kind = origin.type === 'raw' ? 'foreign' : 'file';
      this.params = Object.freeze(new Array<number>(HDR_PARAMS_COUNT).fill(0));
    }
    this.size = this.#buffer.byteLength;
    this.#bytes = new Uint8Array(this.#buffer);
    this.#words = new Int32Array(this.#buffer, 0, Math.floor(this.size / 4));
  }

  /**
   * Creates a named segment with `size` payload bytes, owner-only (0600) unless `mode` says otherwise.
   * Creation is atomic: of two processes racing on one name, exactly one wins.
   * @throws ERR_SHM_EXISTS, ERR_INVALID_NAME, ERR_INVALID_ARG, ERR_SHM_NO_SPACE, ERR_SHM_PERMISSION, ERR_OS
   * @example
   * ```ts
   * const seg = Segment.create('cam0', { size: 1 << 20 });
   * seg.bytes[0] = 42;
   * ```
   */
  static create(name: string, options: SegmentCreateOptions): Segment {
    validateName(name);
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw invalidArg('Segment.create options', 'an object with a size: { size: bytes }', options);
    }
    const size = validateSize(options.size, 'size');
    const mode = validateMode(options.mode);
    const kind = options.kind ?? 'raw';
    if (typeof kind !== 'string' || !Object.hasOwn(KIND, kind)) {
      throw invalidArg('kind', `one of ${Object.keys(KIND).map((k) => `'${k}'`).join(', ')}`, kind);
    }
    const params = options.params ?? [];
    if (
      !Array.isArray(params) ||
      params.length > HDR_PARAMS_COUNT ||
      params.some((p) => !Number.isInteger(p) || p < 0 || p > 0xffffffff)
    ) {
      throw invalidArg('params', `an array of at most ${HDR_PARAMS_COUNT} u32 values`, params);
    }
    if (options.init !== undefined && typeof options.init !== 'function') throw invalidArg('init', 'a function', options.init);
    reserveMapping(`segment "${name}"`, name);
    const mapping = callNative('create', `segment "${name}"`, name, () =>
      native.shmCreate(osName(name), HEADER_SIZE + size, mode),
    );
    const me = selfIdentity();
    const header: SegmentHeader = {
      version: PROTOCOL_VERSION,
      kind,
      state: 0,
      headerSize: HEADER_SIZE,
      totalSize: HEADER_SIZE + size,
      payloadSize: size,
      creatorPid: me.pid,
      creatorStartTime: me.startTime,
      creatorNs: me.ns,
      createdAt: Date.now(),
      params: [...params],
    };
    // creatorPid last: an opener that sees it also sees the start time and namespace that identify it.
    encodeHeader(new DataView(mapping.buffer, 0, HEADER_SIZE), { ...header, creatorPid: 0 });
    // SYNC CREATOR (release store of creatorPid): pairs with the acquire load in initialisingCreator.
    Atomics.store(new Int32Array(mapping.buffer, 0, HEADER_SIZE / 4), HDR_CREATOR_PID_OFFSET / 4, me.pid);
    const seg = new Segment(name, mapping, { type: 'shmbus', header: { ...header, state: STATE_READY } });
    try {
      options.init?.(seg);
    } catch (e) {
      seg.close();
      Segment.unlink(name);
      throw e;
    }
    // SYNC READY (release): publishes the header and whatever init laid out; pairs with the acquire load in open.
    Atomics.store(seg.#headerWords!, STATE_INDEX, STATE_READY);
    wake(seg.#headerWords!, STATE_INDEX);
    return seg;
  }

  /**
   * Opens a segment another process created. Waits (bounded by `timeout`) while its creator is still
   * initialising it; validates magic, version, kind and sizes before anything is used.
   * @throws ERR_SHM_NOT_FOUND, ERR_SHM_CORRUPT (damaged, not a shmbus segment, or its creator died before it was
   * ready), ERR_TIMEOUT (its creator is alive and still initialising it after `timeout` ms), ERR_SHM_VERSION,
   * ERR_SHM_KIND, ERR_SHM_PERMISSION, ERR_INVALID_NAME, ERR_INVALID_ARG
   */
  static open(name: string, options: SegmentOpenOptions = {}): Segment {
    const os = osName(name);
    const opts = optionsObject(options, 'Segment.open');
    const timeout = validateTimeout(opts.timeout ?? DEFAULT_READY_TIMEOUT);
    if (opts.kind !== undefined && (typeof opts.kind !== 'string' || !Object.hasOwn(KIND, opts.kind))) {
      throw invalidArg('kind', `one of ${Object.keys(KIND).map((k) => `'${k}'`).join(', ')}`, opts.kind);
    }
    const deadline = deadlineAfter(timeout);
    const what = `segment "${name}"`;
    for (;;) {
      const objectSize = callNative('open', what, name, () => native.shmSize(os));
      if (objectSize < HEADER_SIZE) {
        // Between the creator's shm_open and ftruncate the object is empty: give it a moment, bounded.
        if (remaining(deadline) === 0) {
          throw new ShmbusError(
            'ERR_SHM_CORRUPT',
            `${what} is ${objectSize} bytes, smaller than a shmbus header (still being created, or not a shmbus segment)`,
            { segment: name },
          );
        }
        sleepSync(Math.min(1, remaining(deadline)));
        continue;
      }
      reserveMapping(what, name);
      const mapping = callNative('open', what, name, () => native.shmOpen(os, true));
      const headerWords = new Int32Array(mapping.buffer, 0, HEADER_SIZE / 4);
      // SYNC READY (acquire): once STATE_READY is seen, every header field and the creator's init are visible.
      const state = Atomics.load(headerWords, STATE_INDEX);
      let header: SegmentHeader;
      try {
        header = decodeHeader(new Uint8Array(mapping.buffer, 0, HEADER_SIZE), mapping.buffer.byteLength, name);
      } catch (e) {
        native.release(mapping.handle);
        throw e;
      }
      if (state === STATE_READY && header.state === STATE_READY) {
        if (opts.kind !== undefined && header.kind !== opts.kind) {
          native.release(mapping.handle);
          throw new ShmbusError(
            'ERR_SHM_KIND',
            `${what} is a ${header.kind}, not a ${opts.kind}; pick another name or unlink it`,
            { segment: name },
          );
        }
        return new Segment(name, mapping, { type: 'shmbus', header });
      }
      const left = remaining(deadline);
      const creator = initialisingCreator(mapping.buffer);
      if (left === 0 || (creator !== undefined && !creator.alive)) {
        native.release(mapping.handle);
        throw creator?.alive
          ? new ShmbusError(
              'ERR_TIMEOUT',
              `${what} is still being initialised by process ${creator.pid} after ${timeout} ms; open it later or with a longer timeout`,
              { segment: name },
            )
          : new ShmbusError(
              'ERR_SHM_CORRUPT',
              `${what} never became ready: its creator died while creating it (or it is not a shmbus segment); unlink it`,
              { segment: name },
            );
      }
      waitSync(headerWords, STATE_INDEX, state, Math.min(left, 50));
      native.release(mapping.handle);
    }
  }

  /**
   * Maps a shm object that another program made, without a shmbus header (e.g. "/my_camera_shm").
   * @throws ERR_SHM_NOT_FOUND, ERR_SHM_PERMISSION, ERR_INVALID_NAME, ERR_INVALID_ARG
   */
  static openRaw(posixName: string, options: RawOpenOptions = {}): Segment {
    if (typeof posixName !== 'string' || !/^\/[^/\0]{1,254}$/.test(posixName)) {
      throw new ShmbusError(
        'ERR_INVALID_NAME',
        `a raw shm name is "/" followed by 1-254 characters without "/" or NUL (got ${JSON.stringify(posixName)})`,
      );
    }
    const what = `shm object "${posixName}"`;
    const objectSize = callNative('open', what, posixName, () => native.shmSize(posixName));
    const size = options.size === undefined ? objectSize : validateSize(options.size, 'size');
    if (size > objectSize) {
      throw new ShmbusError('ERR_INVALID_ARG', `${what} has ${objectSize} bytes; cannot map ${size}`, {
        segment: posixName,
      });
    }
    reserveMapping(what, posixName);
    const mapping = callNative('open', what, posixName, () =>
      native.shmOpen(posixName, options.readOnly !== true),
    );
    const seg = new Segment(posixName, trim(mapping, size), { type: 'raw' });
    return seg;
  }

  /**
   * Maps a window of a regular file: huge files can be read in pieces. The window must lie inside the file.
   * @throws ERR_SHM_NOT_FOUND (no such file), ERR_SHM_PERMISSION, ERR_INVALID_ARG (window past the end)
   * @example
   * ```ts
   * const win = Segment.mapFile('/data/video.raw', { offset: 600 << 20, length: 1 << 20 });
   * ```
   */
  static mapFile(path: string, options: MapFileOptions = {}): Segment {
    if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
      throw new ShmbusError('ERR_INVALID_ARG', `mapFile needs a file path (got ${JSON.stringify(path)})`);
    }
    const offset = validateSize(options.offset ?? 0, 'offset');
    const length = options.length === undefined ? 0 : validateSize(options.length, 'length');
    if (options.length === 0) throw new ShmbusError('ERR_INVALID_ARG', 'length must be > 0 (omit it to map to the end)');
    reserveMapping(`file "${path}"`, undefined);
    const mapping = callNative('map-file', `file "${path}"`, undefined, () =>
      native.fileMap(path, offset, length, options.writable === true),
    );
    return new Segment(path, mapping, { type: 'file', path });
  }

  /**
   * Removes the name. Processes that have the segment mapped keep using it; the memory goes when the last one
   * closes it. @throws ERR_SHM_NOT_FOUND, ERR_SHM_PERMISSION, ERR_INVALID_NAME
   */
  static unlink(name: string): void {
    callNative('unlink', `segment "${name}"`, name, () => native.shmUnlink(osName(name)));
  }

  /** Lists shmbus segments on this machine, with their header facts and whether they are stale. */
  static list(): SegmentInfo[] {
    // Headers first, mappings after: a segment being created when its header was read is mapped by then (its
    // creator maps it before writing the header), so the scan cannot miss the creator's own mapping.
    const entries = native.listShm(OS_NAME_PREFIX, HEADER_SIZE);
    const mapped = new Set(native.mappedShm(OS_NAME_PREFIX));
    const out: SegmentInfo[] = [];
    for (const entry of entries) {
      const name = nameFromOsName(entry.osName);
      if (name === undefined) continue;
      const attached = mapped.has(entry.osName);
      let info: SegmentInfo = {
        name,
        size: entry.size,
        kind: 'unknown',
        creatorPid: 0,
        createdAt: null,
        attached,
        stale: !attached,
      };
      try {
        const h = decodeHeader(entry.head, entry.size, name);
        if (h.state === STATE_READY) {
          info = {
            ...info,
            size: h.payloadSize,
            kind: h.kind,
            creatorPid: h.creatorPid,
            createdAt: new Date(h.createdAt),
            stale: !attached && !holderAlive(h.creatorPid, h.creatorStartTime, h.creatorNs),
          };
        } else {
          // Still being created (PROTOCOL.md §2.3): judged by its creator once the header names one, else by age.
          info.stale = !attached && creatingIsStale(entry.osName, entry.head);
        }
      } catch {
        // An object shorter than the header is a creator between shm_open and ftruncate: by age, as above.
        // Any other unreadable header: stale only if nobody has it mapped.
        if (entry.size < HEADER_SIZE) info.stale = !attached && creatingIsStale(entry.osName, entry.head);
      }
      out.push(info);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The payload as a SharedArrayBuffer (Atomics work on it across processes). In the fallback for engines that
   * refuse a SharedArrayBuffer over external memory (or with SHMBUS_BUFFER=external) it is a non-shared
   * ArrayBuffer over the same memory: Atomics and every shmbus call still work; sharing it with worker_threads does
   * not (see {@link Segment.shared}), which is why the type says both. @throws ERR_CLOSED
   */
  get buffer(): SharedArrayBuffer | ArrayBuffer {
    this.#assertOpen();
    return this.#buffer;
  }

  /** The payload as bytes. @throws ERR_CLOSED */
  get bytes(): Uint8Array {
    this.#assertOpen();
    return this.#bytes;
  }

  /** The payload as 32-bit words (the view wait/wake index into). @throws ERR_CLOSED */
  get words(): Int32Array {
    this.#assertOpen();
    return this.#words;
  }

  /** True when {@link buffer} is a real SharedArrayBuffer (always, on Node 20-26 as built by npm install). */
  get shared(): boolean {
    return this.#buffer instanceof SharedArrayBuffer;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Blocks this thread until word `index` of the payload is woken (by any process) or no longer equals
   * `expected`, like Atomics.wait but across processes, for at most `options.timeout` ms (default: forever).
   * @returns 'ok' (woken; maybe spuriously), 'not-equal', or 'timed-out'
   * @throws ERR_CLOSED, ERR_INVALID_ARG
   * @example
   * ```ts
   * if (seg.wait(0, 0, { timeout: 100 }) === 'timed-out') retry();
   * ```
   */
  wait(index: number, expected: number, options: { timeout?: number } = {}): WaitResult {
    this.#checkIndex(index);
    const opts = optionsObject(options, 'Segment.wait');
    return waitSync(this.#words, index, expected, opts.timeout);
  }

  /**
   * Like {@link wait} but returns a promise and never blocks the event loop.
   * @throws ERR_CLOSED, ERR_INVALID_ARG (bad index or options, a `signal` that is not an AbortSignal); rejects with ERR_ABORTED when `signal` aborts, ERR_CLOSED on close()
   */
  waitAsync(index: number, expected: number, options: WaitOptions = {}): Promise<WaitResult> {
    this.#checkIndex(index);
    const opts = optionsObject(options, 'Segment.waitAsync') as WaitOptions & { signal?: unknown };
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
      throw invalidArg('signal', 'an AbortSignal', opts.signal);
    }
    return waitAsync(this.#words, index, expected, opts, this);
  }

  /** Wakes waiters on word `index` in every process (all by default); returns how many were woken. */
  wake(index: number, count = Infinity): number {
    this.#checkIndex(index);
    if (typeof count !== 'number' || Number.isNaN(count) || count < 0) {
      throw invalidArg('count', 'a number >= 0', count);
    }
    return wake(this.#words, index, count);
  }

  /** Writes a file window's dirty pages to the file (msync); a no-op for shm. @throws ERR_CLOSED, ERR_OS */
  flush(): void {
    this.#assertOpen();
    if (this.#origin.type === 'file') {
      callNative('flush', `file "${this.name}"`, undefined, () => native.flush(this.#handle));
    }
  }

  #refed = true;

  /** False after {@link unref}: pending async waits on this segment do not keep the process alive. */
  get refed(): boolean {
    return this.#refed;
  }

  /**
   * Lets the process exit while async waits on this segment are pending (as `net.Socket#unref`); idempotent.
   * The channels' `unref()` call this on their segment.
   */
  unref(): this {
    if (this.#refed) {
      this.#refed = false;
      ownerRefChanged(this);
    }
    return this;
  }

  /** Undoes {@link unref}: pending and later async waits keep the process alive again. */
  ref(): this {
    if (!this.#refed) {
      this.#refed = true;
      ownerRefChanged(this);
    }
    return this;
  }

  /**
   * Releases the mapping at once (idempotent). Views taken earlier stay safe to touch (they read zeros);
   * pending waitAsync calls reject with ERR_CLOSED; any other later use throws ERR_CLOSED.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = new ShmbusError('ERR_CLOSED', `segment "${this.name}" was closed`, { segment: this.name });
    for (const cancel of [...this.pendingWaits]) cancel(err);
    callNative('release', `segment "${this.name}"`, this.name, () => native.release(this.#handle));
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new ShmbusError('ERR_CLOSED', `segment "${this.name}" is closed`, { segment: this.name });
    }
  }

  #checkIndex(index: number): void {
    this.#assertOpen();
    if (!Number.isInteger(index) || index < 0 || index >= this.#words.length) {
      throw new ShmbusError(
        'ERR_INVALID_ARG',
        `word index ${String(index)} is outside the payload (0..${this.#words.length - 1})`,
        { segment: this.name },
      );
    }
  }
}

/** The creator recorded in a header that is not ready yet (undefined before the creator wrote its pid). */
function initialisingCreator(buffer: SharedArrayBuffer): { pid: number; alive: boolean } | undefined {
  // SYNC CREATOR (acquire load of creatorPid): a pid seen means its start time and namespace are written.
  const pid = Atomics.load(new Int32Array(buffer, 0, HEADER_SIZE / 4), HDR_CREATOR_PID_OFFSET / 4) >>> 0;
  return creatorOf(new DataView(buffer, 0, HEADER_SIZE), pid);
}

/** The creator named by a header still being initialised (`pid` = its creatorPid), undefined if none yet. */
function creatorOf(view: DataView, pid: number): { pid: number; alive: boolean } | undefined {
  if (view.getUint32(HDR_MAGIC_OFFSET, true) !== SEGMENT_MAGIC || pid === 0) return undefined;
  const start = Number(view.getBigUint64(HDR_CREATOR_START_OFFSET, true));
  return { pid, alive: holderAlive(pid, start, view.getUint32(HDR_CREATOR_NS_OFFSET, true)) };
}

/**
 * How long an object whose header names no creator yet (a creator between shm_open and its header stores) is
 * presumed to be still in creation: past this its creator died while creating it (PROTOCOL.md §2.3).
 */
const CREATING_GRACE_MS = 60_000;

/**
 * Staleness of an unmapped object that is not READY: its creator decides once the header names one; before that
 * it is stale only when it was created (mtime) more than CREATING_GRACE_MS ago (a live creator gets from shm_open
 * to its header within microseconds, so an old one was abandoned; a young one may have a creator that has not
 * mapped it yet).
 */
function creatingIsStale(osEntry: string, head: Uint8Array): boolean {
  if (head.length >= HEADER_SIZE) {
    const view = new DataView(head.buffer, head.byteOffset, HEADER_SIZE);
    // A copy read by the kernel (pread): the creator stores creatorPid after magic, start and ns (release).
    const creator = creatorOf(view, view.getUint32(HDR_CREATOR_PID_OFFSET, true));
    if (creator !== undefined) return !creator.alive;
  }
  let changed: number;
  try {
    const st = statSync(`/dev/shm/${osEntry.startsWith('/') ? osEntry.slice(1) : osEntry}`);
    changed = st.mtimeMs; // set by shm_open(O_CREAT) and ftruncate
  } catch {
    return false; // gone meanwhile: nothing to remove
  }
  return Date.now() - changed > CREATING_GRACE_MS;
}

/** Permission bits of a create: read/write bits only (execute bits mean nothing for shared memory). */
export function validateMode(mode: unknown): number {
  if (mode === undefined) return 0o600;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || (mode & ~0o666) !== 0) {
    throw invalidArg('mode', 'permission bits within 0o666 (read/write for owner, group, others)', mode);
  }
  return mode;
}

function validateSize(value: unknown, what: string): number {
  if (value === undefined) throw invalidArg(what, 'an integer number of bytes, 0..2^46', value);
  return intOption(what, value, 0, MAX_SIZE, 0);
}

function trim(mapping: NativeMapping, size: number): NativeMapping {
  if (size === mapping.buffer.byteLength) return mapping;
  return { handle: mapping.handle, buffer: native.slice(mapping.handle, 0, size) };
}
