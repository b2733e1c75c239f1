/**
 * Every offset and constant of PROTOCOL.md, in one place. Mirrored in python/shmbus/_layout.py and c/shmbus.h;
 * test/vectors proves the copies agree. All multi-byte fields are little-endian and naturally aligned.
 */

/** 'SHMB' as bytes 53 48 4D 42, read as a little-endian u32. */
export const SEGMENT_MAGIC = 0x424d4853;
export const PROTOCOL_VERSION = 1;

/** Size of the segment header; the payload starts here (64-byte aligned). */
export const HEADER_SIZE = 128;

// Segment header, byte offsets.
export const HDR_MAGIC_OFFSET = 0; // u32
export const HDR_VERSION_OFFSET = 4; // u16
export const HDR_KIND_OFFSET = 6; // u16
export const HDR_STATE_OFFSET = 8; // u32, futex word: STATE_INIT then STATE_READY
export const HDR_HEADER_SIZE_OFFSET = 12; // u32
export const HDR_TOTAL_SIZE_OFFSET = 16; // u64
export const HDR_PAYLOAD_SIZE_OFFSET = 24; // u64
export const HDR_CREATOR_PID_OFFSET = 32; // u32
export const HDR_FLAGS_OFFSET = 36; // u32, reserved, 0
export const HDR_CREATOR_START_OFFSET = 40; // u64, creator's start time (Linux: clock ticks since boot)
export const HDR_CREATED_AT_OFFSET = 48; // u64, ms since the Unix epoch
export const HDR_PARAMS_OFFSET = 64; // 16 x u32, meaning set by the kind
export const HDR_PARAMS_COUNT = 16;

export const STATE_INIT = 0;
export const STATE_READY = 1;

/** Segment kinds (u16 at HDR_KIND_OFFSET). */
export const KIND = {
  raw: 0,
  topic: 1,
  queue: 2,
  mailbox: 3,
  rpc: 4,
  mutex: 5,
  rwlock: 6,
  semaphore: 7,
  event: 8,
} as const;

export type SegmentKind = keyof typeof KIND;

export function kindName(code: number): SegmentKind | undefined {
  for (const [name, value] of Object.entries(KIND)) if (value === code) return name as SegmentKind;
  return undefined;
}

/** Prefix of every shmbus object name in the OS namespace (`/shmbus.<name>` on POSIX). */
export const OS_NAME_PREFIX = 'shmbus.';
export const NAME_MAX_LENGTH = 200;

// ---- §4 sync primitives -------------------------------------------------------------------------------------
// Every primitive is MUTEX_ALIGN-aligned (payload offset) and all-zero bytes are its initial state, so a freshly
// created segment already holds valid unlocked locks. A named primitive sits at payload offset 0 of its own
// segment of the matching kind.

/** Alignment (bytes) of every sync primitive inside a payload. */
export const SYNC_ALIGN = 8;

// §4.1 Mutex: 32 bytes.
export const MUTEX_SIZE = 32;
export const MUTEX_ALIGN = SYNC_ALIGN;
export const MUTEX_WORD_OFFSET = 0; // u32 futex word: owner pid | MUTEX_WAITERS, 0 = unlocked
export const MUTEX_OWNER_PID_OFFSET = 4; // u32 companion: owner pid once its identity is complete, else 0
export const MUTEX_OWNER_START_OFFSET = 8; // u64 companion: owner's process start time (clock ticks since boot)
export const MUTEX_OWNER_THREAD_OFFSET = 16; // u32 companion: owner's thread discriminator inside its process
export const MUTEX_RECOVERIES_OFFSET = 20; // u32: how many times a dead owner's lock was taken over (wraps)
// 24..31 reserved, 0.
/** Bits of the mutex word that hold the owner's pid (Linux pid_max <= 2^22). */
export const MUTEX_PID_MASK = 0x3fffffff;
/** Set in the mutex word while some process may sleep on it: the unlocker must wake one. */
export const MUTEX_WAITERS = 0x80000000;
