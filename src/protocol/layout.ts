/**
 * Every offset and constant of PROTOCOL.md, in one place. Peers in other languages (planned: python/, c/) are to
 * mirror it; test/vectors holds byte-exact examples to check a copy against. All multi-byte fields are little-endian and naturally aligned.
 */

/** 'SHMB' as bytes 53 48 4D 42, read as a little-endian u32. */
export const SEGMENT_MAGIC = 0x424d4853;
export const PROTOCOL_VERSION = 2;

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
export const HDR_CREATOR_NS_OFFSET = 56; // u32, creator's pid namespace (inode of /proc/self/ns/pid), 0 = unknown
// 60..63 reserved, 0.
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
export const MUTEX_OWNER_NS_OFFSET = 24; // u32 companion: owner's pid namespace (§4.0), 0 = unknown
// 28..31 reserved, 0.
/** Bits of the mutex word that hold the owner's pid (Linux pid_max <= 2^22). */
export const MUTEX_PID_MASK = 0x3fffffff;
/** Set in the mutex word while some process may sleep on it: the unlocker must wake one. */
export const MUTEX_WAITERS = 0x80000000;

// §4.2 RwLock: 1088 bytes. A Mutex serialises writers; readers register in slots (one per read hold).
export const RWLOCK_MUTEX_OFFSET = 0; // Mutex (§4.1), 32 bytes: held by the writer
export const RWLOCK_WRITER_OFFSET = 32; // u32 futex word: bit 0 set while a writer holds or drains the lock; WAITERS bit
export const RWLOCK_WRITER_WAITERS = 0x80000000 | 0; // bit 31 of `writer`: readers may sleep on it, the writer's unlock wakes them
// 36..39 reserved, 0.
export const RWLOCK_OCCUPIED_OFFSET = 40; // u32 futex word: bit i set = slot i holds a read lock
export const RWLOCK_OCCUPIED_WAITERS_OFFSET = 44; // u32 sleepers word (§3) of `occupied` (a draining writer, slot seekers)
// 48..63 reserved, 0.
export const RWLOCK_SLOTS_OFFSET = 64;
export const RWLOCK_SLOT_COUNT = 32;
export const RWLOCK_SLOT_SIZE = 32;
export const RWLOCK_SLOT_PID_OFFSET = 0; // u32: claimant's pid, 0 = free
export const RWLOCK_SLOT_THREAD_OFFSET = 4; // u32: claimant's thread discriminator
export const RWLOCK_SLOT_START_OFFSET = 8; // u64: claimant's process start time
export const RWLOCK_SLOT_NS_OFFSET = 16; // u32: claimant's pid namespace (§4.0), 0 = unknown
// slot bytes 20..31 reserved, 0.
export const RWLOCK_SIZE = RWLOCK_SLOTS_OFFSET + RWLOCK_SLOT_COUNT * RWLOCK_SLOT_SIZE;

// §4.3 Semaphore: 1088 bytes. A Mutex guards a ledger: free units + units held per process (returned on death).
export const SEM_MUTEX_OFFSET = 0; // Mutex (§4.1), 32 bytes: held while the ledger changes
export const SEM_VALUE_OFFSET = 32; // u32 futex word: free units
export const SEM_WAITERS_OFFSET = 36; // u32 sleepers word (§3) of `value`
export const SEM_TOTAL_OFFSET = 40; // u32: free + held units (value + sum of held + untracked)
export const SEM_FLAGS_OFFSET = 44; // u32: bit 0 SEM_FLAG_UNTRACKED (holders are not recorded, nothing is returned)
export const SEM_UNTRACKED_OFFSET = 48; // u32: units held without a slot (untracked mode, or all slots in use)
// 52..63 reserved, 0.
export const SEM_SLOTS_OFFSET = 64;
export const SEM_SLOT_COUNT = 32;
export const SEM_SLOT_SIZE = 32;
export const SEM_SLOT_PID_OFFSET = 0; // u32: holder process, 0 = free
export const SEM_SLOT_HELD_OFFSET = 4; // u32: units that process holds
export const SEM_SLOT_START_OFFSET = 8; // u64: holder's process start time
export const SEM_SLOT_NS_OFFSET = 16; // u32: holder's pid namespace (§4.0), 0 = unknown
// slot bytes 20..31 reserved, 0.
export const SEM_FLAG_UNTRACKED = 1;
/** Largest value and total of a semaphore. */
export const SEM_VALUE_MAX = 0x7fffffff;
export const SEMAPHORE_SIZE = SEM_SLOTS_OFFSET + SEM_SLOT_COUNT * SEM_SLOT_SIZE;

// §4.4 Event: 16 bytes.
export const EVENT_WORD_OFFSET = 0; // u32 futex word: bit 0 = set; bits 1..31 = number of set() calls (wraps)
export const EVENT_WAITERS_OFFSET = 4; // u32 sleepers word (§3) of `word`
export const EVENT_FLAGS_OFFSET = 8; // u32: bit 0 EVENT_FLAG_MANUAL_RESET
// 12..15 reserved, 0.
export const EVENT_FLAG_MANUAL_RESET = 1;
export const EVENT_SIZE = 16;

// ---------------------------------------------------------------------------------------------------------------
// Queue (PROTOCOL.md §6): a slot ring. Header params: [0] slots (power of two), [1] slotSize (max message bytes).
// Offsets below are relative to the ring's base (payload offset 0 for a queue segment, RPC_RING_OFFSET in an rpc
// segment). Every hot word sits on its own 64-byte line.
export const QUEUE_PARAM_SLOTS = 0;
export const QUEUE_PARAM_SLOT_SIZE = 1;
export const QUEUE_TAIL_OFFSET = 0; // u32, producers' ticket hint (next ticket to claim)
export const QUEUE_HEAD_OFFSET = 64; // u32, consumers' ticket hint (next ticket to take)
export const QUEUE_COMMITS_OFFSET = 128; // u32, futex word: +1 per commit/abandon/close (consumers sleep on it)
export const QUEUE_CONSUMER_WAITERS_OFFSET = 132; // u32, sleepers word of COMMITS (PROTOCOL §3): consumers announced asleep
export const QUEUE_RELEASES_OFFSET = 192; // u32, futex word: +1 per freed slot/close (producers sleep on it)
export const QUEUE_PRODUCER_WAITERS_OFFSET = 196; // u32, sleepers word of RELEASES (PROTOCOL §3): producers announced asleep
export const QUEUE_CLOSED_OFFSET = 256; // u32, 0 open, 1 end of stream
export const QUEUE_ABANDONED_OFFSET = 260; // u32, slots skipped because their producer died mid-write
export const QUEUE_LOST_OFFSET = 264; // u32, messages taken by a consumer that died before freeing the slot
export const QUEUE_SLOTS_OFFSET = 320; // first slot
/** Per-slot header; the message bytes follow it. */
export const QUEUE_SLOT_HEADER_SIZE = 32;
export const QUEUE_SLOT_SEQ_OFFSET = 0; // u32, state word: 4*ticket + QUEUE_STATE_* (wraps mod 2^32)
export const QUEUE_SLOT_PID_OFFSET = 4; // u32, pid of the process holding the slot (WRITING or TAKEN), else 0
export const QUEUE_SLOT_START_OFFSET = 8; // u64, that process's start time (valid when OWNER_SEQ equals SEQ)
export const QUEUE_SLOT_OWNER_SEQ_OFFSET = 16; // u32, the SEQ value (claim or take) that PID and START belong to
export const QUEUE_SLOT_LENGTH_OFFSET = 20; // u32, message bytes (<= slotSize)
export const QUEUE_SLOT_FLAGS_OFFSET = 24; // u32, bit 0: UTF-8 text
export const QUEUE_SLOT_NS_OFFSET = 28; // u32, the holder's pid namespace (valid when OWNER_SEQ equals SEQ), 0 = unknown
export const QUEUE_FLAG_TEXT = 1;
export const QUEUE_STATE_FREE = 0; // free for the producer of this ticket
export const QUEUE_STATE_WRITING = 1; // claimed by a producer (pid set), being written
export const QUEUE_STATE_COMMITTED = 2; // holds a message
export const QUEUE_STATE_TAKEN = 3; // taken by a consumer (pid set), being copied out
/** Slots are this many bytes apart: header + slotSize rounded up to a 64-byte line. */
export function queueSlotStride(slotSize: number): number {
  return Math.ceil((QUEUE_SLOT_HEADER_SIZE + slotSize) / 64) * 64;
}
/** Bytes a ring of `slots` x `slotSize` occupies from its base. */
export function queueRingSize(slots: number, slotSize: number): number {
  return QUEUE_SLOTS_OFFSET + slots * queueSlotStride(slotSize);
}
export const QUEUE_MAX_SLOTS = 1 << 24;
export const QUEUE_MAX_SLOT_SIZE = 1 << 30;

// ---------------------------------------------------------------------------------------------------------------
// Rpc (PROTOCOL.md §8): a worker table, then a request ring laid out as §6. Params: [0] slots, [1] slotSize of the
// request ring, [2] RPC_MAX_WORKERS. Responses travel through one queue segment per client, "<name>.r<clientId>".
export const RPC_PARAM_SLOTS = 0;
export const RPC_PARAM_SLOT_SIZE = 1;
export const RPC_PARAM_WORKERS = 2;
export const RPC_NEXT_CLIENT_OFFSET = 0; // u32, last client id handed out (atomic add)
export const RPC_RETIRED_OFFSET = 4; // u32, 0 live, 1 retired: the last server left and unlinked (or is unlinking) the name
export const RPC_INSTANCE_OFFSET = 8; // u32, random non-zero, written at creation: tells this segment from a successor
export const RPC_LOCK_OFFSET = 32; // Mutex (§4.1), 32 bytes: serialises registration, leaving and retiring
export const RPC_WORKERS_OFFSET = 64; // worker table
export const RPC_MAX_WORKERS = 64;
export const RPC_WORKER_SIZE = 32;
export const RPC_WORKER_PID_OFFSET = 0; // u32, worker process id, 0 = free entry
export const RPC_WORKER_STATE_OFFSET = 4; // u32, RPC_WORKER_* (PID and STATE change together, 64-bit CAS)
export const RPC_WORKER_START_OFFSET = 8; // u64, the worker process's start time (valid in state SERVING)
export const RPC_WORKER_CLIENT_OFFSET = 16; // u32, client id of the request in hand
export const RPC_WORKER_REQUEST_OFFSET = 20; // u32, request id of the request in hand
export const RPC_WORKER_BUSY_OFFSET = 24; // u32, 1 from taking (CLIENT, REQUEST) until its response is sent or dropped
export const RPC_WORKER_NS_OFFSET = 28; // u32, the worker's pid namespace (§4.0), 0 = unknown
export const RPC_WORKER_FREE = 0;
export const RPC_WORKER_STARTING = 1; // PID set, START being written
export const RPC_WORKER_SERVING = 2;
export const RPC_RING_OFFSET = RPC_WORKERS_OFFSET + RPC_MAX_WORKERS * RPC_WORKER_SIZE; // 2112
/** Request record inside a ring message: this header, then the payload. */
export const RPC_REQUEST_HEADER_SIZE = 32;
export const RPC_REQ_CLIENT_OFFSET = 0; // u32 client id
export const RPC_REQ_ID_OFFSET = 4; // u32 request id (per client)
export const RPC_REQ_PID_OFFSET = 8; // u32 client pid
export const RPC_REQ_FLAGS_OFFSET = 12; // u32, bit 0: payload is UTF-8 text
export const RPC_REQ_START_OFFSET = 16; // u64 client start time
export const RPC_REQ_NS_OFFSET = 24; // u32 client pid namespace (§4.0), 0 = unknown; 28..31 reserved, 0
/** Longest service name: the response queues' names "<service>.r<clientId>" (clientId up to 10 digits) must fit. */
export const RPC_MAX_NAME_LENGTH = NAME_MAX_LENGTH - '.r4294967295'.length; // 188
/** Response record: this header, then the payload (status 1: UTF-8 JSON {code, message}). */
export const RPC_RESPONSE_HEADER_SIZE = 16;
export const RPC_RES_ID_OFFSET = 0; // u32 request id
export const RPC_RES_STATUS_OFFSET = 4; // u32, RPC_STATUS_*
export const RPC_RES_FLAGS_OFFSET = 8; // u32, bit 0: payload is UTF-8 text
export const RPC_STATUS_OK = 0;
export const RPC_STATUS_ERROR = 1;
/** The response did not fit the client's response slot (empty payload). */
export const RPC_STATUS_TOO_LARGE = 2;
// ---- §5 Topic (broadcast ring with overwrite) ----------------------------------------------------------------
// Payload: control block [0, TOPIC_DATA_OFFSET), then the ring data (capacity bytes). All offsets are payload offsets.

/** params[] indices of a topic segment. */
export const TOPIC_PARAM_CAPACITY_LO = 0; // ring data bytes, low 32 bits (a multiple of 64)
export const TOPIC_PARAM_CAPACITY_HI = 1; // ring data bytes, high 32 bits
export const TOPIC_PARAM_MAX_MESSAGE = 2; // largest payload in bytes
export const TOPIC_PARAM_DATA_OFFSET = 3; // payload offset of the ring data, TOPIC_DATA_OFFSET
export const TOPIC_PARAM_FLAGS = 4; // bit 0 TOPIC_FLAG_SINGLE_PUBLISHER; other bits 0 (an opener refuses them)
/** params[4] bit 0: one publisher holds the writers' Mutex from open to close (PROTOCOL 5.3). */
export const TOPIC_FLAG_SINGLE_PUBLISHER = 1;
/** Own 64-byte line: the writers' robust Mutex (§4.1). */
export const TOPIC_MUTEX_OFFSET = 0;
/** u32 futex word, own line with WAITERS and the tail: writeSeq mod 2^32, stored by the committing writer. */
export const TOPIC_COMMIT_OFFSET = 64;
/** u32 sleepers word (§3) of COMMIT: announced by parking subscribers, cleared by the waking writer. */
export const TOPIC_SLEEPERS_OFFSET = 68;
/**
 * u32, on the COMMIT line: tail version; the current tail is slot (version & 1). Subscribers read only this line
 * (and the records) per message: COMMIT to see a record, the tail to validate it after the copy.
 */
export const TOPIC_TAIL_VERSION_OFFSET = 72;
/** Two tail slots of TOPIC_TAIL_SLOT_SIZE bytes { tailSeq u64, tailPos u64 }, on the COMMIT line. */
export const TOPIC_TAIL_SLOTS_OFFSET = 80;
export const TOPIC_TAIL_SLOT_SIZE = 16;
export const TOPIC_TAIL_SEQ = 0; // u64: seq of the oldest record still valid (writeSeq + 1 = ring empty)
export const TOPIC_TAIL_POS = 8; // u64: ring offset where record tailSeq starts (before the wrap rule)
/**
 * Two head slots of TOPIC_HEAD_SLOT_SIZE bytes { writeSeq u64, writePos u64 }, own line (writers' line). The
 * current head is slot (COMMIT & 1): a committing writer fills slot (writeSeq + 1) & 1, then stores COMMIT.
 */
export const TOPIC_HEAD_SLOTS_OFFSET = 128;
export const TOPIC_HEAD_SLOT_SIZE = 16;
export const TOPIC_HEAD_WRITE_SEQ = 0; // u64: seq of the last committed record (0 = none yet)
export const TOPIC_HEAD_WRITE_POS = 8; // u64: ring offset where the next record starts
/**
 * u32 futex word on its own line: +1 (wrapping) per registration, unregistration or sweep of the registration
 * table. waitForSubscribers sleeps on it; subscribers compare it to skip rescanning the table.
 */
export const TOPIC_REGISTRY_OFFSET = 192;
/** u32 sleepers word (§3) of REGISTRY. */
export const TOPIC_REGISTRY_SLEEPERS_OFFSET = 196;
/** Registration table: TOPIC_ENTRY_COUNT entries of TOPIC_ENTRY_SIZE bytes (one 64-byte line each). */
export const TOPIC_ENTRIES_OFFSET = 256;
export const TOPIC_ENTRY_COUNT = 64;
export const TOPIC_ENTRY_SIZE = 64;
/**
 * u32 owner word: 0 = free; bits 0-29 the owner's pid, bits 30-31 its role (0 while the entry is being filled,
 * TOPIC_ROLE_*). Claimed by CAS 0 -> pid, published by a release store of pid | role << 30, freed by a store (or a
 * sweeper's CAS) of 0: one word, so a sweep can never clear an entry someone else re-registered meanwhile.
 */
export const TOPIC_ENTRY_OWNER = 0;
// entry bytes 4..7 reserved, 0.
export const TOPIC_ENTRY_START = 8; // u64: owner's process start time (0 = unknown)
export const TOPIC_ENTRY_NS = 16; // u32: owner's pid namespace inode (0 = unknown)
export const TOPIC_ENTRY_NEXT_SEQ = 24; // u64: subscribers: the next seq they will read (plain stores by the owner)
export const TOPIC_ENTRY_LOST = 32; // u64: subscribers: messages lost so far (plain stores by the owner)
export const TOPIC_ROLE_PUBLISHER = 1;
export const TOPIC_ROLE_SUBSCRIBER = 2;
/** Bits of the owner word that hold the pid; the role is the word >>> TOPIC_ROLE_SHIFT. */
export const TOPIC_OWNER_PID_MASK = 0x3fffffff;
export const TOPIC_ROLE_SHIFT = 30;
/** Payload offset of the ring data (after the registration table). */
export const TOPIC_DATA_OFFSET = TOPIC_ENTRIES_OFFSET + TOPIC_ENTRY_COUNT * TOPIC_ENTRY_SIZE;
/** Record header: { size u32, flags u32, seq u64, timestamp u64 (µs since the Unix epoch), unspecified u64 (ignored) }. */
export const TOPIC_RECORD_HEADER_SIZE = 32;
export const TOPIC_RECORD_SIZE_OFFSET = 0;
export const TOPIC_RECORD_FLAGS_OFFSET = 4;
export const TOPIC_RECORD_SEQ_OFFSET = 8;
export const TOPIC_RECORD_TIMESTAMP_OFFSET = 16;
/** Records start at multiples of this (ring offsets). */
export const TOPIC_RECORD_ALIGN = 8;
/** Record flag: padding to the end of the ring; the record it precedes starts at ring offset 0. */
export const TOPIC_FLAG_PAD = 1;
/** Ring capacity is a multiple of this. */
export const TOPIC_CAPACITY_ALIGN = 64;

// ---- §7 Mailbox (latest value, double-buffered seqlock) -------------------------------------------------------

/** params[] indices of a mailbox segment. */
export const MAILBOX_PARAM_MAX_SIZE = 0; // largest value in bytes
export const MAILBOX_PARAM_SLOT_STRIDE = 1; // bytes from one slot to the next: MAILBOX_SLOT_HEADER_SIZE + maxSize rounded up to 64
/** Own 64-byte line: the writers' robust Mutex (§4.1). */
export const MAILBOX_MUTEX_OFFSET = 0;
/** u32 futex word: low 32 bits of the latest complete version; that value sits in slot (version & 1). */
export const MAILBOX_VERSION_OFFSET = 64;
/** u32 sleepers word of the version word (PROTOCOL §3): announcements of readers parked in changed(). */
export const MAILBOX_WAITERS_OFFSET = 68;
/** Payload offset of slot 0; slot 1 follows at + stride. */
export const MAILBOX_SLOTS_OFFSET = 128;
/** Slot header: { seqlock u32, length u32, version u64, timestamp u64 (µs since the Unix epoch) }, then the value at +64. */
export const MAILBOX_SLOT_HEADER_SIZE = 64;
export const MAILBOX_SLOT_SEQLOCK_OFFSET = 0; // u32: odd while a writer rewrites the slot
export const MAILBOX_SLOT_LENGTH_OFFSET = 4; // u32: value length in bytes
export const MAILBOX_SLOT_VERSION_OFFSET = 8; // u64
export const MAILBOX_SLOT_TIMESTAMP_OFFSET = 16; // u64
