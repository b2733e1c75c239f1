/**
 * The one error class of shmbus. Every failure carries a stable `code`; the message may change between
 * versions, the code does not. Peers in other languages (planned: Python, C) are to use the same codes.
 * `docs/errors.md` lists each code with its cause and what to do.
 */

/** Stable error codes, in byte order (ASCII: 'T' sorts before '_') (a test keeps this list, docs/errors.md and the peers in step). */
export const ERROR_CODES = [
  'ERR_ABORTED',
  'ERR_CLOSED',
  'ERR_INVALID_ARG',
  'ERR_INVALID_NAME',
  'ERR_MESSAGE_TOO_LARGE',
  'ERR_NOT_OWNER',
  'ERR_NO_SERVER',
  'ERR_OS',
  'ERR_PARTS_CORRUPT',
  'ERR_PUBLISHER_EXISTS',
  'ERR_REMOTE',
  'ERR_SHM_CORRUPT',
  'ERR_SHM_EXISTS',
  'ERR_SHM_KIND',
  'ERR_SHM_NOT_FOUND',
  'ERR_SHM_NO_SPACE',
  'ERR_SHM_PERMISSION',
  'ERR_SHM_VERSION',
  'ERR_TIMEOUT',
  'ERR_TOO_MANY_WORKERS',
] as const;

export type ShmbusErrorCode = (typeof ERROR_CODES)[number];

export interface ShmbusErrorOptions {
  /** The underlying error (an OS error, an AbortSignal's reason, a remote handler's error). */
  cause?: unknown;
  /** The OS error number, when the failure came from the OS. */
  errno?: number;
  /** The system call that failed, when there is one. */
  syscall?: string;
  /** The shmbus name involved. */
  segment?: string;
}

/**
 * An error raised by shmbus. Test for it with `instanceof ShmbusError` or {@link isShmbusError}, and branch on
 * `err.code`.
 *
 * @example
 * ```ts
 * try { Segment.open('cam0'); } catch (e) { if (isShmbusError(e, 'ERR_SHM_NOT_FOUND')) console.log('not yet'); }
 * ```
 */
export class ShmbusError extends Error {
  readonly code: ShmbusErrorCode;
  readonly errno?: number;
  readonly syscall?: string;
  readonly segment?: string;

  constructor(code: ShmbusErrorCode, message: string, options: ShmbusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ShmbusError';
    this.code = code;
    if (options.errno !== undefined) this.errno = options.errno;
    if (options.syscall !== undefined) this.syscall = options.syscall;
    if (options.segment !== undefined) this.segment = options.segment;
  }

  override toString(): string {
    return `${this.name} [${this.code}]: ${this.message}`;
  }
}

/** True when `e` is a {@link ShmbusError} (with the given code, if one is given). */
export function isShmbusError(e: unknown, code?: ShmbusErrorCode): e is ShmbusError {
  return e instanceof ShmbusError && (code === undefined || e.code === code);
}
