/**
 * Loads the addon and declares exactly what it exports. The only place that knows about errno: native failures
 * become ShmbusErrors with an actionable message here. Arguments reaching the addon are already validated.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { ShmbusError, type ShmbusErrorCode } from '../errors.js';
import { addonCandidates, runtime } from './locate.js';

/** Opaque handle of one mapping (a Napi::External). */
export interface MappingHandle {
  readonly __mapping: unique symbol;
}

export interface NativeMapping {
  buffer: SharedArrayBuffer;
  handle: MappingHandle;
}

/** Opaque handle naming an Int32Array's memory for {@link NativeBinding.cas64} (a Napi External). */
export interface PairWordsHandle {
  readonly __pairWords: unique symbol;
}

/** The addon's exact surface (src/native/addon.cc). */
export interface NativeBinding {
  shmCreate(osName: string, size: number, mode: number): NativeMapping;
  shmOpen(osName: string, writable: boolean): NativeMapping;
  shmSize(osName: string): number;
  shmUnlink(osName: string): void;
  fileMap(path: string, offset: number, length: number, writable: boolean): NativeMapping;
  flush(handle: MappingHandle): void;
  release(handle: MappingHandle): void;
  slice(handle: MappingHandle, offset: number, length: number): SharedArrayBuffer;
  wait(words: Int32Array, index: number, expected: number, timeoutMs: number): 0 | 1 | 2;
  wake(words: Int32Array, index: number, count: number): number;
  waiterInit(onDone: (id: number, result: number) => void): void;
  waitAsyncStart(words: Int32Array, index: number, expected: number, id: number): void;
  waitAsyncCancel(id: number): void;
  waiterRef(ref: boolean): void;
  waiterKind(): 'io_uring' | 'futex_waitv' | 'thread-per-wait';
  processStartTime(pid: number): number;
  listShm(prefix: string, headLength: number): { osName: string; size: number; head: Buffer }[];
  mappedShm(prefix: string): string[];
  copy(dst: ArrayBufferView, dstOffset: number, src: ArrayBufferView, srcOffset: number, length: number): void;
  /** A handle over `words` for cas64 (the caller keeps `words` alive while it uses the handle). */
  pairWords(words: Int32Array): PairWordsHandle;
  /**
   * seq_cst 64-bit compare-and-swap of the u64 whose low half is words[index] (even) and high half words[index + 1],
   * halves given as int32 bit patterns; true when it swapped.
   */
  cas64(pairs: PairWordsHandle, index: number, expectedLo: number, expectedHi: number, desiredLo: number, desiredHi: number): boolean;
  /** Stores CLOCK_REALTIME in µs since the epoch as a u64 at words[index] (low half), words[index + 1] (plain stores). */
  stampMicros(pairs: PairWordsHandle, index: number): void;
  /**
   * sched_yield(): lets a runnable process on this core run (spinning waits call it about once a µs); a thread
   * pinned to one CPU yields only when `late` is true (see base/spin.ts).
   */
  yieldCpu(late: boolean): void;
  /** C11 atomic_thread_fence: 0 = acquire, 1 = release. */
  fence(kind: 0 | 1): void;
}

/** Loads the first addon that exists among {@link addonCandidates} (locate.ts has the order and why). */
function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  const candidates = addonCandidates();
  for (const path of candidates) {
    if (existsSync(path)) return require(path) as NativeBinding;
  }
  // The usual causes: no prebuild for this platform or Node ABI, and the install script that would compile one did
  // not run (npm >= 11 runs a dependency's install script only once approved; --ignore-scripts) or failed.
  throw new ShmbusError(
    'ERR_OS',
    `the shmbus native addon is not built and no prebuilt one fits ${runtime()} ${process.version} ` +
      `(ABI ${process.versions.modules}, ${process.platform}-${process.arch}); looked for ${candidates.join(', ')}. ` +
      'It is compiled when the package is installed: if install scripts were skipped (npm install --ignore-scripts, ' +
      'or npm 11 waiting for "npm install-scripts approve shmbus") or the build failed, run "npm rebuild shmbus" ' +
      '(needs python3, make and a C++ compiler).',
  );
}

export const native: NativeBinding = load();

/** What the caller was doing when the OS said no; picks the code and the advice. */
export type Operation = 'create' | 'open' | 'unlink' | 'map-file' | 'flush' | 'release';

interface NativeError extends Error {
  errno?: number;
  code?: string;
  syscall?: string;
}

const ADVICE: Partial<Record<string, { code: ShmbusErrorCode; text: (what: string, op: Operation) => string }>> = {
  EEXIST: { code: 'ERR_SHM_EXISTS', text: (w) => `${w} already exists; open it, or unlink it first` },
  ENOENT: {
    code: 'ERR_SHM_NOT_FOUND',
    text: (w, op) =>
      op === 'map-file' ? `${w} does not exist` : `${w} does not exist; create it first (or wait for its creator)`,
  },
  EACCES: {
    code: 'ERR_SHM_PERMISSION',
    text: (w) => `permission denied for ${w}; it belongs to another user or was created with a stricter mode`,
  },
  EPERM: { code: 'ERR_SHM_PERMISSION', text: (w) => `operation not permitted on ${w}` },
  ENOSPC: {
    code: 'ERR_SHM_NO_SPACE',
    text: (w) =>
      `not enough shared memory for ${w}: /dev/shm is full or too small (check "df -h /dev/shm"; in Docker use --shm-size, e.g. --shm-size=1g)`,
  },
  ENOMEM: { code: 'ERR_SHM_NO_SPACE', text: (w) => `out of memory while mapping ${w}` },
  EFBIG: { code: 'ERR_SHM_NO_SPACE', text: (w) => `${w} is larger than the system allows` },
  ENAMETOOLONG: { code: 'ERR_INVALID_NAME', text: (w) => `the OS name of ${w} is too long` },
  ERANGE: { code: 'ERR_INVALID_ARG', text: (w) => `the window asked for lies outside ${w} (past its end)` },
  EINVAL: { code: 'ERR_INVALID_ARG', text: (w) => `the OS refused the arguments for ${w}` },
};

/** Runs a native call and turns its OS error into a ShmbusError. */
export function callNative<T>(op: Operation, what: string, segment: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNativeError(e, op, what, segment);
  }
}

export function fromNativeError(e: unknown, op: Operation, what: string, segment?: string): ShmbusError {
  const err = e as NativeError;
  const advice = err.code === undefined ? undefined : ADVICE[err.code];
  const opts = {
    cause: e,
    ...(err.errno !== undefined && { errno: err.errno }),
    ...(err.syscall !== undefined && { syscall: err.syscall }),
    ...(segment !== undefined && { segment }),
  };
  if (advice) return new ShmbusError(advice.code, advice.text(what, op), opts);
  return new ShmbusError('ERR_OS', `${op} ${what} failed: ${err.message}`, opts);
}
