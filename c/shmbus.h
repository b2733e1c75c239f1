/*
 * shmbus.h: the C API of shmbus, a shared-memory message bus (PROTOCOL.md version 2, byte-compatible with the
 * Node and Python peers). Build: compile c/shmbus.c (one file that includes every module) with your program,
 *   cc app.c path/to/c/shmbus.c -pthread
 * or link c/build/libshmbus.a / libshmbus.so made by `make -C c`. C11; the implementation also compiles as C++17.
 *
 * Conventions: every function that can fail returns int: 0 (SHMBUS_OK) or a negative SHMBUS_E* code; out-params
 * come last; timeouts are int64_t milliseconds, -1 = forever, 0 = try once. shmbus_last_error_message() tells
 * the calling thread what went wrong in words. Handles are opaque; `_close` detaches one handle (like Node's
 * close()), `_unlink(name)` removes a name. See docs/c.md.
 *
 * Sections are owned by different engineers: write only between your own markers.
 */
#ifndef SHMBUS_H
#define SHMBUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== SECTION: COMMON ==== */

/* The wire protocol this library speaks (header `version`); segments of another version are refused. */
#define SHMBUS_PROTOCOL_VERSION 2
/* Library version (semantic versioning of the C API). */
#define SHMBUS_VERSION_MAJOR 0
#define SHMBUS_VERSION_MINOR 1
#define SHMBUS_VERSION_PATCH 0

/* Error codes: the Node code of each is given by shmbus_error_code() (values are fixed: never renumber). */
typedef enum shmbus_error {
  SHMBUS_OK = 0,
  SHMBUS_EINVAL_ARG = -1,          /* ERR_INVALID_ARG: an argument is NULL, out of range or inconsistent */
  SHMBUS_EINVALID_NAME = -2,       /* ERR_INVALID_NAME: not 1-200 chars of [A-Za-z0-9._-], or "." / ".." */
  SHMBUS_ESHM_NOT_FOUND = -3,      /* ERR_SHM_NOT_FOUND: no segment (or file) of that name */
  SHMBUS_ESHM_EXISTS = -4,         /* ERR_SHM_EXISTS: the name is taken */
  SHMBUS_ESHM_KIND = -5,           /* ERR_SHM_KIND: the segment holds another kind */
  SHMBUS_ESHM_VERSION = -6,        /* ERR_SHM_VERSION: made by a newer protocol version */
  SHMBUS_ESHM_CORRUPT = -7,        /* ERR_SHM_CORRUPT: not a shmbus segment, truncated, inconsistent */
  SHMBUS_ESHM_NO_SPACE = -8,       /* ERR_SHM_NO_SPACE: /dev/shm full or out of memory */
  SHMBUS_ESHM_PERMISSION = -9,     /* ERR_SHM_PERMISSION: another user's object, or its mode forbids access */
  SHMBUS_ETIMEDOUT = -10,          /* ERR_TIMEOUT: the time ran out */
  SHMBUS_ECLOSED = -11,            /* ERR_CLOSED: handle closed, or stream ended (Queue send) */
  SHMBUS_EMESSAGE_TOO_LARGE = -12, /* ERR_MESSAGE_TOO_LARGE */
  SHMBUS_ENOT_OWNER = -13,         /* ERR_NOT_OWNER: unlock of a lock this thread does not hold */
  SHMBUS_ENO_SERVER = -14,         /* ERR_NO_SERVER */
  SHMBUS_EREMOTE = -15,            /* ERR_REMOTE */
  SHMBUS_EPUBLISHER_EXISTS = -16,  /* ERR_PUBLISHER_EXISTS */
  SHMBUS_ETOO_MANY_WORKERS = -17,  /* ERR_TOO_MANY_WORKERS */
  SHMBUS_EOS = -18,                /* ERR_OS: an OS failure without a more specific code */
  SHMBUS_EABORTED = -19,           /* ERR_ABORTED */
  SHMBUS_EAGAIN = -20,             /* C only: a try_* call found nothing / no room / the lock busy */
  SHMBUS_EEND = -21,               /* C only: end of stream (Node returns null) */
  SHMBUS_EPARTS_CORRUPT = -22      /* ERR_PARTS_CORRUPT: not a valid Parts record (PROTOCOL.md §10) */
} shmbus_error;

/* A short English description of a code ("no such segment"); never NULL. */
const char* shmbus_strerror(int code);
/* The Node error code string of a code ("ERR_SHM_NOT_FOUND"); "OK" for 0, "ERR_UNKNOWN" for an unknown value. */
const char* shmbus_error_code(int code);
/* The message of the last error returned to the calling thread (names the object and the remedy); "" if none. */
const char* shmbus_last_error_message(void);

/* Timeouts. */
#define SHMBUS_FOREVER ((int64_t)-1)

/* Segment header (PROTOCOL §2). */
#define SHMBUS_HEADER_SIZE 128
#define SHMBUS_SEGMENT_MAGIC 0x424D4853u
#define SHMBUS_NAME_MAX 200
#define SHMBUS_PARAMS_COUNT 16

/* Segment kinds (header `kind`). SHMBUS_KIND_ANY is not a kind: "accept any" for shmbus_segment_open_ex. */
#define SHMBUS_KIND_RAW 0
#define SHMBUS_KIND_TOPIC 1
#define SHMBUS_KIND_QUEUE 2
#define SHMBUS_KIND_MAILBOX 3
#define SHMBUS_KIND_RPC 4
#define SHMBUS_KIND_MUTEX 5
#define SHMBUS_KIND_RWLOCK 6
#define SHMBUS_KIND_SEMAPHORE 7
#define SHMBUS_KIND_EVENT 8
#define SHMBUS_KIND_ANY (-1)

/* Defaults shared with Node (docs/platforms.md). */
#define SHMBUS_DEFAULT_MODE 0600u
#define SHMBUS_DEFAULT_OPEN_TIMEOUT_MS 1000
#define SHMBUS_DEFAULT_LIVENESS_MS 50u
#define SHMBUS_DEFAULT_SPIN_US 10u

/* Sync primitives (PROTOCOL §4): sizes and the alignment of an embedded primitive (payload offset). */
#define SHMBUS_SYNC_ALIGN 8
#define SHMBUS_MUTEX_SIZE 32
#define SHMBUS_RWLOCK_SIZE 1088
#define SHMBUS_SEMAPHORE_SIZE 1088
#define SHMBUS_EVENT_SIZE 16

/* Options of every named sync primitive (Mutex, RwLock, Semaphore, Event). Zero-fill it, set struct_size =
   sizeof(shmbus_sync_options), then the fields you want: a 0 field means the default. */
typedef struct shmbus_sync_options {
  size_t struct_size;
  unsigned mode;            /* create: permission bits within 0666; 0 = 0600 */
  int64_t open_timeout_ms;  /* open: wait for a creator still initialising; 0 = 1000, -1 = forever */
  uint32_t liveness_ms;     /* check a holder's liveness every this many ms while waiting; 0 = 50 */
  int32_t spin_us;          /* spin before sleeping, microseconds; 0 = 10, negative = do not spin */
} shmbus_sync_options;

/* ==== END: COMMON ==== */

/* ==== SECTION: SEGMENT ==== */

/* A mapped segment: a named shmbus segment (header + payload), a raw shm object, or a file window. */
typedef struct shmbus_segment shmbus_segment;

/* Called by shmbus_segment_create_ex before the segment is published as ready: lay out the payload here.
   A non-zero return aborts the create (the name is unlinked) and is returned to the caller. */
typedef int (*shmbus_segment_init_fn)(shmbus_segment* seg, void* ctx);

typedef struct shmbus_segment_create_options {
  size_t struct_size;               /* sizeof(shmbus_segment_create_options) */
  size_t size;                      /* payload bytes (the 128-byte header comes on top) */
  unsigned mode;                    /* permission bits within 0666; 0 = 0600 */
  int kind;                         /* SHMBUS_KIND_*; default (0) raw */
  const uint32_t* params;           /* NULL or 16 u32 layout parameters stored in the header */
  shmbus_segment_init_fn init;      /* NULL or called before ready */
  void* init_ctx;
} shmbus_segment_create_options;

typedef struct shmbus_segment_open_options {
  size_t struct_size;  /* sizeof(shmbus_segment_open_options) */
  int kind;            /* SHMBUS_KIND_ANY or the kind required (else SHMBUS_ESHM_KIND) */
  int64_t timeout_ms;  /* wait for a creator still initialising; 0 = try once, -1 = forever */
} shmbus_segment_open_options;

/* One entry of shmbus_segment_list. */
typedef struct shmbus_segment_info {
  char name[SHMBUS_NAME_MAX + 1];
  uint64_t size;        /* payload bytes (the object size when the header is unreadable) */
  int kind;             /* SHMBUS_KIND_*, or -1 when unknown (header not ready or unreadable) */
  uint32_t creator_pid;
  uint64_t created_at;  /* ms since the Unix epoch, 0 = unknown */
  int attached;         /* some process maps it */
  int stale;            /* its creator is dead and nobody maps it: safe to unlink */
} shmbus_segment_info;

/* Creates /dev/shm/shmbus.<name> with `size` payload bytes, mode 0600, kind raw. */
int shmbus_segment_create(const char* name, size_t size, shmbus_segment** out);
int shmbus_segment_create_ex(const char* name, const shmbus_segment_create_options* opts, shmbus_segment** out);
/* Opens a segment of any kind, waiting up to 1000 ms for a creator still initialising it. */
int shmbus_segment_open(const char* name, shmbus_segment** out);
int shmbus_segment_open_ex(const char* name, const shmbus_segment_open_options* opts, shmbus_segment** out);
/* Maps a shm object without a shmbus header ("/camera_frames"); size 0 = the whole object; read_only maps it
   copy-on-write (writes stay private). */
int shmbus_segment_open_raw(const char* posix_name, size_t size, int read_only, shmbus_segment** out);
/* Maps the window [offset, offset + length) of a regular file; length SHMBUS_TO_END = to the end of the file.
   writable maps it shared (flush writes it out), otherwise copy-on-write. */
#define SHMBUS_TO_END UINT64_MAX
int shmbus_segment_map_file(const char* path, uint64_t offset, uint64_t length, int writable, shmbus_segment** out);
/* msync of a writable file window; no-op for shared memory. */
int shmbus_segment_flush(shmbus_segment* seg);
/* Unmaps (NULL is ignored). Never unlinks. */
void shmbus_segment_close(shmbus_segment* seg);
/* Removes the name; processes that map it keep using it. */
int shmbus_segment_unlink(const char* name);
/* Every shmbus segment of this machine, sorted by name. Free the array with shmbus_segment_list_free. */
int shmbus_segment_list(shmbus_segment_info** out, size_t* count);
void shmbus_segment_list_free(shmbus_segment_info* list);

/* Accessors (valid until close). data: the payload (after the header; the whole object for raw/file). */
void* shmbus_segment_data(const shmbus_segment* seg);
size_t shmbus_segment_size(const shmbus_segment* seg);
const char* shmbus_segment_name(const shmbus_segment* seg);
/* SHMBUS_KIND_* of a named segment; -1 for raw objects and file windows. */
int shmbus_segment_kind(const shmbus_segment* seg);
/* The 16 header params (all 0 for raw objects and file windows). */
const uint32_t* shmbus_segment_params(const shmbus_segment* seg);

/* Futex wait on payload word `index` (byte offset 4*index) while it holds `expected`, like Atomics.wait across
   processes: 0 woken (maybe spuriously), SHMBUS_EAGAIN the word differed, SHMBUS_ETIMEDOUT. */
int shmbus_segment_wait(shmbus_segment* seg, size_t index, uint32_t expected, int64_t timeout_ms);
/* Wakes up to `count` waiters on payload word `index` in every process; returns how many were woken (>= 0). */
int shmbus_segment_wake(shmbus_segment* seg, size_t index, int count);

/* The 128-byte segment header (PROTOCOL §2), decoded. */
typedef struct shmbus_header {
  uint16_t version;
  uint16_t kind;                /* SHMBUS_KIND_* */
  uint32_t state;               /* 0 = the creator is still initialising (no other field judged), 1 = ready */
  uint32_t header_size;
  uint64_t total_size;
  uint64_t payload_size;
  uint32_t creator_pid;
  uint32_t flags;
  uint64_t creator_start_time;  /* 0 = unknown */
  uint64_t created_at;          /* ms since the Unix epoch */
  uint32_t creator_ns;          /* 0 = unknown */
  uint32_t params[SHMBUS_PARAMS_COUNT];
} shmbus_header;

/* Decodes and validates `len` bytes of a header (len >= 128) of an object of `object_size` bytes, as an opener
   does (magic, state, version, kind, sizes): SHMBUS_ESHM_CORRUPT / SHMBUS_ESHM_VERSION on failure. A header whose
   state is 0 decodes with only `state` set (the creator has not finished; nothing else may be judged). */
int shmbus_header_decode(const void* bytes, size_t len, uint64_t object_size, shmbus_header* out);
/* Writes all 128 bytes of `h` (magic, every field, reserved bytes 0) to out. Plain stores: for buffers and
   tools; a creator publishes through shmbus_segment_create. */
void shmbus_header_encode(const shmbus_header* h, void* out);

/* ==== END: SEGMENT ==== */

/* ==== SECTION: MUTEX ==== */

/* A robust process-shared mutex (PROTOCOL §4.1): a holder that dies is taken over by a waiter within
   liveness_ms, which is told `recovered = 1` (the guarded state may be half-updated). Ownership per thread. */
typedef struct shmbus_mutex shmbus_mutex;

int shmbus_mutex_create(const char* name, shmbus_mutex** out);
int shmbus_mutex_create_ex(const char* name, const shmbus_sync_options* opts, shmbus_mutex** out);
int shmbus_mutex_open(const char* name, shmbus_mutex** out);
int shmbus_mutex_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_mutex** out);
/* A mutex embedded in a segment at payload `byte_offset` (a multiple of SHMBUS_SYNC_ALIGN, 32 bytes inside the
   payload); the segment must outlive the handle. opts may be NULL. */
int shmbus_mutex_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts, shmbus_mutex** out);
/* Takes the lock, waiting at most timeout_ms (-1 forever). `recovered` (may be NULL) is set to 1 when a dead
   holder's lock was taken over. SHMBUS_EINVAL_ARG if this thread already holds it (that would deadlock). */
int shmbus_mutex_lock(shmbus_mutex* m, int64_t timeout_ms, int* recovered);
/* Never sleeps: SHMBUS_EAGAIN when another holds it. A holder seen busy for a whole liveness interval by this
   handle is checked and taken over if dead. */
int shmbus_mutex_try_lock(shmbus_mutex* m, int* recovered);
/* SHMBUS_ENOT_OWNER unless this thread holds it. */
int shmbus_mutex_unlock(shmbus_mutex* m);
/* 1 when this thread holds it through this handle. */
int shmbus_mutex_is_locked_by_me(const shmbus_mutex* m);
/* Detaches (and closes a named mutex's segment); does not unlock. NULL is ignored. */
void shmbus_mutex_close(shmbus_mutex* m);
int shmbus_mutex_unlink(const char* name);

/* ==== END: MUTEX ==== */

/* ==== SECTION: RWLOCK ==== */

/* A robust process-shared reader-writer lock (PROTOCOL §4.2). Readers overlap; a writer excludes everyone; a
   waiting writer stops new readers (writer preference). Up to 32 read holds at once (more readers wait for a
   slot). A dead writer is recovered: the next writer, or the first waiting reader, takes the lock over with
   recovered = 1 and holds it alone (a reader too, until its read unlock). A dead reader's hold is released
   (recovered stays 0). Ownership per thread. Named form: its own segment; embedded: SHMBUS_RWLOCK_SIZE bytes at
   an 8-aligned payload offset of your segment (zero bytes are a free lock). */
typedef struct shmbus_rwlock shmbus_rwlock;

int shmbus_rwlock_create(const char* name, shmbus_rwlock** out);
int shmbus_rwlock_create_ex(const char* name, const shmbus_sync_options* opts, shmbus_rwlock** out);
int shmbus_rwlock_open(const char* name, shmbus_rwlock** out);
int shmbus_rwlock_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_rwlock** out);
/* The segment must outlive the handle. opts may be NULL. */
int shmbus_rwlock_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts,
                        shmbus_rwlock** out);
/* Takes a read hold, waiting at most timeout_ms while a writer holds or waits for the lock. A thread that
   already reads passes a waiting writer (blocking it would deadlock). `recovered` (may be NULL) = 1 when the
   writer had died: this thread then holds the lock exclusively until its shmbus_rwlock_read_unlock.
   SHMBUS_EINVAL_ARG if this thread holds the write lock. */
int shmbus_rwlock_read_lock(shmbus_rwlock* rw, int64_t timeout_ms, int* recovered);
/* Never sleeps: SHMBUS_EAGAIN while a writer holds or waits for the lock (also when this thread reads). */
int shmbus_rwlock_try_read_lock(shmbus_rwlock* rw, int* recovered);
/* Ends one read hold of this thread; SHMBUS_ENOT_OWNER if it holds none. */
int shmbus_rwlock_read_unlock(shmbus_rwlock* rw);
/* Waits for other writers, stops new readers, waits for readers inside to leave. recovered = 1 when the
   previous writer died holding it. SHMBUS_EINVAL_ARG if this thread holds a read or the write lock. */
int shmbus_rwlock_write_lock(shmbus_rwlock* rw, int64_t timeout_ms, int* recovered);
/* Never sleeps: SHMBUS_EAGAIN unless nobody holds the lock at all. */
int shmbus_rwlock_try_write_lock(shmbus_rwlock* rw, int* recovered);
/* SHMBUS_ENOT_OWNER unless this thread holds the write lock. */
int shmbus_rwlock_write_unlock(shmbus_rwlock* rw);
/* 1 when this thread holds the write lock (or a recovered exclusive read hold). */
int shmbus_rwlock_is_write_locked_by_me(const shmbus_rwlock* rw);
/* Detaches (and closes a named rwlock's segment); does not unlock. NULL is ignored. No other thread may be
   inside a call on the handle. */
void shmbus_rwlock_close(shmbus_rwlock* rw);
int shmbus_rwlock_unlink(const char* name);

/* ==== END: RWLOCK ==== */

/* ==== SECTION: SEMAPHORE ==== */

/* A robust counting semaphore (PROTOCOL §4.3). Units a process holds (acquired and not released by it) are
   returned if it dies; the acquirer that returns them is told recovered = 1. Values 0..2^31-1. */
typedef struct shmbus_semaphore shmbus_semaphore;

/* Create flag (Node: trackHolders: false): holders are not recorded and a dead taker's units never come back,
   for signalling (units taken by one process and released by another). */
#define SHMBUS_SEMAPHORE_UNTRACKED 1u

/* initial: free units at the start, 0..2^31-1. */
int shmbus_semaphore_create(const char* name, uint32_t initial, shmbus_semaphore** out);
int shmbus_semaphore_create_ex(const char* name, uint32_t initial, unsigned flags, const shmbus_sync_options* opts,
                               shmbus_semaphore** out);
int shmbus_semaphore_open(const char* name, shmbus_semaphore** out);
int shmbus_semaphore_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_semaphore** out);
/* Lays out an embedded semaphore (SHMBUS_SEMAPHORE_SIZE bytes at an 8-aligned payload offset) before anyone uses
   it, e.g. from a shmbus_segment_init_fn (Node: Semaphore.init). Zero bytes are a tracked one with no units. */
int shmbus_semaphore_init(shmbus_segment* seg, size_t byte_offset, uint32_t initial, unsigned flags);
int shmbus_semaphore_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts,
                           shmbus_semaphore** out);
/* Takes one unit, waiting at most timeout_ms while none is free. */
int shmbus_semaphore_acquire(shmbus_semaphore* s, int64_t timeout_ms, int* recovered);
/* SHMBUS_EAGAIN when no unit is free (or the ledger stayed locked for two liveness intervals: its holder died in
   another pid namespace, where nobody here may take it over). */
int shmbus_semaphore_try_acquire(shmbus_semaphore* s, int* recovered);
/* Returns n units (1..2^31-1): this process's held units first, beyond them new units (signalling); wakes the
   waiters (a system call only when some sleep). SHMBUS_EINVAL_ARG if the value would pass 2^31-1. */
int shmbus_semaphore_release(shmbus_semaphore* s, uint32_t n);
/* Free units right now (>= 0), or a negative code. */
int shmbus_semaphore_value(const shmbus_semaphore* s);
void shmbus_semaphore_close(shmbus_semaphore* s);
int shmbus_semaphore_unlink(const char* name);

/* ==== END: SEMAPHORE ==== */

/* ==== SECTION: EVENT ==== */

/* A process-shared event (PROTOCOL §4.4). Manual reset: set() releases every waiter, in every process, and the
   event stays set until reset(); waiters present at a set() are released even if reset() follows at once. Auto
   reset (default): set() releases exactly one waiter; with nobody waiting it stays set for the next one; setting
   a set event does nothing. Nothing is held, so nothing is recovered. */
typedef struct shmbus_event shmbus_event;

/* Create / init flags (Node: manualReset, set). */
#define SHMBUS_EVENT_MANUAL_RESET 1u
#define SHMBUS_EVENT_SET 2u

int shmbus_event_create(const char* name, unsigned flags, shmbus_event** out);
int shmbus_event_create_ex(const char* name, unsigned flags, const shmbus_sync_options* opts, shmbus_event** out);
int shmbus_event_open(const char* name, shmbus_event** out);
int shmbus_event_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_event** out);
/* Lays out an embedded event (SHMBUS_EVENT_SIZE bytes at an 8-aligned payload offset) before anyone uses it.
   Zero bytes are an unset auto-reset event. */
int shmbus_event_init(shmbus_segment* seg, size_t byte_offset, unsigned flags);
int shmbus_event_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts, shmbus_event** out);
/* No system call when nobody sleeps on the event. */
int shmbus_event_set(shmbus_event* e);
int shmbus_event_reset(shmbus_event* e);
/* Waits until the event is set (manual: or set() was called since the wait began; auto: consumes the set).
   SHMBUS_ETIMEDOUT after timeout_ms. */
int shmbus_event_wait(shmbus_event* e, int64_t timeout_ms);
/* 1 set, 0 not set (a snapshot), or a negative code. */
int shmbus_event_is_set(const shmbus_event* e);
/* 1 manual reset, 0 auto reset, or a negative code. */
int shmbus_event_manual_reset(const shmbus_event* e);
void shmbus_event_close(shmbus_event* e);
int shmbus_event_unlink(const char* name);

/* ==== END: EVENT ==== */

/* ==== SECTION: TOPIC ==== */

/* Topic (PROTOCOL §5): broadcast ring with overwrite. Publishers (many, or one in single-publisher mode) write
   records; every subscriber reads every record at its own pace; a subscriber that falls a whole ring behind is
   lapped: it skips to the oldest record still there and counts what it missed (shmbus_sub_lost). A handle is used
   by one thread at a time (a publisher's lock and loan belong to the thread that took them). */
typedef struct shmbus_topic shmbus_topic;
typedef struct shmbus_sub shmbus_sub;

/* Where a new subscriber starts. */
#define SHMBUS_FROM_LATEST 0 /* the next message published */
#define SHMBUS_FROM_OLDEST 1 /* the oldest message the ring still holds */

/* Zero-fill, set struct_size = sizeof(shmbus_topic_options), then the fields you want: 0 means the default. */
typedef struct shmbus_topic_options {
  size_t struct_size;
  uint64_t capacity;          /* create: ring bytes (rounded up to a multiple of 64); required */
  uint32_t max_message_size;  /* create: largest payload; 0 = the largest that fits twice in the ring */
  unsigned mode;              /* create: permission bits within 0666; 0 = 0600 */
  int single_publisher;       /* create: 1 = one publisher holds the writers' lock from open to close (wait-free
                                 publish); another live one gets SHMBUS_EPUBLISHER_EXISTS, a dead one is replaced */
  int no_timestamps;          /* 1 = write 0 as each message's commit time (skips a clock read per publish) */
  int64_t open_timeout_ms;    /* open: wait for a creator still initialising; 0 = 1000, -1 = forever */
  uint32_t liveness_ms;       /* writers' lock: judge a holder's liveness every this many ms; 0 = 50 */
} shmbus_topic_options;

/* Zero-fill, set struct_size = sizeof(shmbus_sub_options), then the fields you want: 0 means the default. */
typedef struct shmbus_sub_options {
  size_t struct_size;
  int from;              /* SHMBUS_FROM_LATEST (0, default) or SHMBUS_FROM_OLDEST */
  int64_t wait_ms;       /* wait this long for the topic to be created (0 = it must exist, -1 = forever); a
                            subscriber that waited starts at the oldest message */
  int32_t spin_us;       /* a waiting read re-reads the ring this long before it sleeps; 0 = 50, negative = none */
  uint32_t liveness_ms;  /* a sleeping read checks that its publishers live every this many ms; 0 = 500 */
} shmbus_sub_options;

/* One message read. Zero-copy (shmbus_sub_read): data points into the ring and stays meaningful only while
   shmbus_msg_valid() says so (check it after using the bytes). Copied (shmbus_sub_read_copy): data is your buffer. */
typedef struct shmbus_msg {
  const void* data;
  size_t size;
  uint64_t seq;           /* 1 for the first message ever published on the topic */
  uint64_t timestamp_us;  /* commit time, microseconds since the Unix epoch; 0 = not recorded */
} shmbus_msg;

/* A loan: room for a message in the ring, written in place, then committed (zero-copy publish). */
typedef struct shmbus_loan {
  void* data;
  size_t size;
  uint64_t seq;  /* the sequence number the message gets when committed */
} shmbus_loan;

typedef struct shmbus_topic_stats_t {
  uint64_t published;    /* messages published on the topic so far (every publisher): the last seq */
  uint64_t oldest;       /* oldest seq still in the ring (published + 1 when empty) */
  uint32_t publishers;   /* live registered publishers (this one included) */
  uint32_t subscribers;  /* live registered subscribers (any process) */
  uint64_t max_lag;      /* messages the furthest-behind subscriber has not read yet */
  uint64_t lost;         /* messages lost, summed over the subscribers */
} shmbus_topic_stats_t;

typedef struct shmbus_sub_stats_t {
  uint64_t read;  /* messages this subscriber read */
  uint64_t lost;  /* messages it missed (overwritten before it read them) */
  uint64_t lag;   /* messages published that it has not read yet */
} shmbus_sub_stats_t;

/* Creates a topic and returns a publisher on it (mode 0600). SHMBUS_ESHM_EXISTS if the name is taken. */
int shmbus_topic_create(const char* name, uint64_t capacity, uint32_t max_message_size, shmbus_topic** out);
int shmbus_topic_create_ex(const char* name, const shmbus_topic_options* opts, shmbus_topic** out);
/* Another publisher on an existing topic (opts may be NULL). */
int shmbus_topic_open(const char* name, shmbus_topic** out);
int shmbus_topic_open_ex(const char* name, const shmbus_topic_options* opts, shmbus_topic** out);
/* Publishes one message (copied into the ring; waits for another publisher's lock forever). */
int shmbus_topic_publish(shmbus_topic* t, const void* data, size_t len);
/* As publish; waits at most timeout_ms for the writers' lock; *seq (may be NULL) gets the message's seq. */
int shmbus_topic_publish_ex(shmbus_topic* t, const void* data, size_t len, int64_t timeout_ms, uint64_t* seq);
/* Zero-copy publish: reserves `size` bytes (holding the writers' lock until commit or abort: keep it short). */
int shmbus_topic_loan(shmbus_topic* t, size_t size, int64_t timeout_ms, shmbus_loan* loan);
/* Publishes the loan's first `size` bytes (<= loaned); *seq may be NULL. */
int shmbus_topic_commit(shmbus_topic* t, size_t size, uint64_t* seq);
/* Drops the loan. */
int shmbus_topic_abort(shmbus_topic* t);
int shmbus_topic_stats(shmbus_topic* t, shmbus_topic_stats_t* out);
/* Live registered subscribers (dead ones are swept first). */
int shmbus_topic_subscribers(shmbus_topic* t, uint32_t* n);
/* Waits until at least n (<= 64) subscribers are registered; *have (may be NULL) gets the count. */
int shmbus_topic_wait_for_subscribers(shmbus_topic* t, uint32_t n, int64_t timeout_ms, uint32_t* have);
uint64_t shmbus_topic_capacity(const shmbus_topic* t);
uint32_t shmbus_topic_max_message_size(const shmbus_topic* t);
/* Detaches this publisher (aborts an open loan; a single publisher releases the writers' lock). NULL ignored. */
int shmbus_topic_close(shmbus_topic* t);
int shmbus_topic_unlink(const char* name);

/* Subscribes (the topic must exist; shmbus_topic_subscribe_ex can wait for it). */
int shmbus_topic_subscribe(const char* name, int from, shmbus_sub** out);
int shmbus_topic_subscribe_ex(const char* name, const shmbus_sub_options* opts, shmbus_sub** out);
/* The next message, zero-copy: spins, then sleeps, at most timeout_ms (-1 forever, 0 try once).
   SHMBUS_ETIMEDOUT: nothing came. SHMBUS_EEND: end of stream (a publisher was seen, none is left, nothing unread). */
int shmbus_sub_read(shmbus_sub* s, shmbus_msg* m, int64_t timeout_ms);
/* Never waits: SHMBUS_EAGAIN when nothing is there. */
int shmbus_sub_try_read(shmbus_sub* s, shmbus_msg* m);
/* As shmbus_sub_read, but copies the payload into buf (cap bytes), so it can never be overwritten under you.
   A message larger than cap is not consumed: SHMBUS_EMESSAGE_TOO_LARGE with m->size = its size. */
int shmbus_sub_read_copy(shmbus_sub* s, void* buf, size_t cap, shmbus_msg* m, int64_t timeout_ms);
/* 1 while a zero-copy message's bytes were not overwritten (call it after using them), else 0. */
int shmbus_msg_valid(const shmbus_sub* s, const shmbus_msg* m);
/* Messages this subscriber missed because publishers overwrote them first. */
uint64_t shmbus_sub_lost(const shmbus_sub* s);
int shmbus_sub_stats(const shmbus_sub* s, shmbus_sub_stats_t* out);
/* Live registered publishers (dead ones are swept first). */
int shmbus_sub_publishers(shmbus_sub* s, uint32_t* n);
/* Detaches (NULL ignored). */
int shmbus_sub_close(shmbus_sub* s);

/* ==== END: TOPIC ==== */

/* ==== SECTION: MAILBOX ==== */

/* Mailbox (PROTOCOL §7): one shared value (up to max_size bytes) and its version. Writers exclude each other
   with a robust lock; readers take no lock, never block writers and never see a torn value; a writer that dies
   mid-write leaves the previous value readable. */
typedef struct shmbus_mailbox shmbus_mailbox;

/* Zero-fill, set struct_size = sizeof(shmbus_mailbox_options), then the fields you want: 0 means the default. */
typedef struct shmbus_mailbox_options {
  size_t struct_size;
  uint32_t max_size;         /* create: largest value, up to 2^30; 0 = 65536 (shmbus_mailbox_create takes 0 as 0) */
  unsigned mode;             /* create: permission bits within 0666; 0 = 0600 */
  int64_t open_timeout_ms;   /* open: wait for a creator still initialising; 0 = 1000, -1 = forever */
  uint32_t liveness_ms;      /* writers' lock: judge a holder's liveness every this many ms; 0 = 50 */
} shmbus_mailbox_options;

/* What a read returned. */
typedef struct shmbus_mailbox_value {
  size_t size;            /* value bytes */
  uint64_t version;       /* 0 before the first write, then +1 per write */
  uint64_t timestamp_us;  /* write time, microseconds since the Unix epoch (0 before the first write) */
} shmbus_mailbox_value;

/* Creates a mailbox holding an empty value at version 0 (max_size: 0 to 2^30 bytes). */
int shmbus_mailbox_create(const char* name, size_t max_size, shmbus_mailbox** out);
int shmbus_mailbox_create_ex(const char* name, const shmbus_mailbox_options* opts, shmbus_mailbox** out);
int shmbus_mailbox_open(const char* name, shmbus_mailbox** out);
int shmbus_mailbox_open_ex(const char* name, const shmbus_mailbox_options* opts, shmbus_mailbox** out);
/* Replaces the value (waits for another writer forever). */
int shmbus_mailbox_write(shmbus_mailbox* mb, const void* data, size_t len);
/* As write; waits at most timeout_ms for another writer; *version (may be NULL) gets the new version. */
int shmbus_mailbox_write_ex(shmbus_mailbox* mb, const void* data, size_t len, int64_t timeout_ms, uint64_t* version);
/* Copies the current value into buf (cap bytes). A value larger than cap: SHMBUS_EMESSAGE_TOO_LARGE with
   value->size set (a buffer of shmbus_mailbox_max_size() bytes always fits). */
int shmbus_mailbox_read(shmbus_mailbox* mb, void* buf, size_t cap, shmbus_mailbox_value* value);
/* The current version. */
int shmbus_mailbox_version(shmbus_mailbox* mb, uint64_t* version);
/* Waits until the version is greater than `since` (sleeping, no CPU); *version (may be NULL) gets it. */
int shmbus_mailbox_wait_changed(shmbus_mailbox* mb, uint64_t since, int64_t timeout_ms, uint64_t* version);
size_t shmbus_mailbox_max_size(const shmbus_mailbox* mb);
/* Detaches (NULL ignored). */
int shmbus_mailbox_close(shmbus_mailbox* mb);
int shmbus_mailbox_unlink(const char* name);

/* ==== END: MAILBOX ==== */

/* ==== SECTION: QUEUE ==== */

/* A lossless bounded MPMC queue between processes (PROTOCOL §6): every message sent is received exactly once (by
   one of any number of receivers), in order per sender. A full queue makes send wait (backpressure).
   shmbus_queue_end() ends the stream for everyone: receivers drain what is left, then get SHMBUS_EEND;
   shmbus_queue_close() only detaches this handle. A sender killed while writing a slot never blocks the queue
   (the slot is skipped and counted in `abandoned`); a receiver killed while copying a message loses that one
   message (counted in `lost`). A handle may be used by several threads at once; close it once, when none uses it. */
typedef struct shmbus_queue shmbus_queue;

#define SHMBUS_QUEUE_DEFAULT_SLOTS 64u
#define SHMBUS_QUEUE_DEFAULT_MAX_MESSAGE_SIZE 4096u
/* Message flag: the bytes are UTF-8 text (Node: sent as a string, m.isText; received as a string by Python). */
#define SHMBUS_MSG_TEXT 1u

/* Options of the _ex functions. Zero-fill, set struct_size = sizeof(shmbus_queue_options): a 0 field is the default. */
typedef struct shmbus_queue_options {
  size_t struct_size;
  uint32_t slots;             /* create: a power of two, 1..2^24; 0 = 64 (fewer for big messages: ring <= 16 MiB) */
  uint32_t max_message_size;  /* create: largest message, 1..2^30 bytes; 0 = 4096 */
  unsigned mode;              /* create: permission bits within 0666; 0 = 0600 */
  int64_t open_timeout_ms;    /* open: wait this long for the queue to appear; 0 = it must exist now, -1 = forever */
  uint32_t liveness_ms;       /* while a slot another process holds blocks a wait, check that holder this often;
                                 0 = 50 */
  int32_t spin_us;            /* spin before sleeping, microseconds; 0 = 50, negative = do not spin */
} shmbus_queue_options;

/* A queue's counters (approximate while others work on it). */
typedef struct shmbus_queue_stats {
  uint32_t length;            /* messages in the ring now (committed or being written), 0..slots */
  uint32_t slots;
  uint32_t max_message_size;
  uint32_t abandoned;         /* slots skipped because their sender died while writing (whole queue) */
  uint32_t lost;              /* messages taken by a receiver that died before it finished copying (whole queue) */
  uint64_t sent;              /* messages sent through this handle */
  uint64_t received;          /* messages received through this handle */
} shmbus_queue_stats;

/* Creates a queue of `slots` slots (0 = default) for messages of up to `max_message_size` bytes (0 = 4096).
   SHMBUS_ESHM_EXISTS when the name is taken. */
int shmbus_queue_create(const char* name, uint32_t slots, uint32_t max_message_size, shmbus_queue** out);
int shmbus_queue_create_ex(const char* name, const shmbus_queue_options* opts, shmbus_queue** out);
/* Opens a queue another process created (SHMBUS_ESHM_NOT_FOUND when missing; _ex: after open_timeout_ms). */
int shmbus_queue_open(const char* name, shmbus_queue** out);
int shmbus_queue_open_ex(const char* name, const shmbus_queue_options* opts, shmbus_queue** out);
/* Opens the queue, or creates it with these sizes if it does not exist yet (whichever side starts first). */
int shmbus_queue_open_or_create(const char* name, uint32_t slots, uint32_t max_message_size, shmbus_queue** out);
int shmbus_queue_open_or_create_ex(const char* name, const shmbus_queue_options* opts, shmbus_queue** out);

/* Sends `len` bytes, waiting while the queue is full (at most timeout_ms; -1 forever; 0 = one try, then
   SHMBUS_ETIMEDOUT). SHMBUS_ECLOSED once the stream has ended, SHMBUS_EMESSAGE_TOO_LARGE above max_message_size. */
int shmbus_queue_send(shmbus_queue* q, const void* data, size_t len, int64_t timeout_ms);
/* The same with message flags (SHMBUS_MSG_TEXT). */
int shmbus_queue_send_ex(shmbus_queue* q, const void* data, size_t len, uint32_t flags, int64_t timeout_ms);
/* Never waits: SHMBUS_EAGAIN when the queue is full. */
int shmbus_queue_try_send(shmbus_queue* q, const void* data, size_t len);
int shmbus_queue_try_send_ex(shmbus_queue* q, const void* data, size_t len, uint32_t flags);

/* Receives the next message into buf (cap bytes), *len = its length; waits while the queue is empty (timeout_ms as
   above: SHMBUS_ETIMEDOUT). SHMBUS_EEND once the stream has ended and the queue is drained. A message longer than
   cap is not taken: SHMBUS_EMESSAGE_TOO_LARGE with *len = its length (a cap of max_message_size always fits). */
int shmbus_queue_receive(shmbus_queue* q, void* buf, size_t cap, size_t* len, int64_t timeout_ms);
/* The same, also giving the message's flags (SHMBUS_MSG_TEXT); flags may be NULL. */
int shmbus_queue_receive_ex(shmbus_queue* q, void* buf, size_t cap, size_t* len, uint32_t* flags, int64_t timeout_ms);
/* Never waits: SHMBUS_EAGAIN when empty, SHMBUS_EEND when ended and drained. */
int shmbus_queue_try_receive(shmbus_queue* q, void* buf, size_t cap, size_t* len);
int shmbus_queue_try_receive_ex(shmbus_queue* q, void* buf, size_t cap, size_t* len, uint32_t* flags);

/* Ends the stream for everyone (idempotent): later sends from any process fail with SHMBUS_ECLOSED; receivers
   get what is left, then SHMBUS_EEND. The handle stays usable. */
int shmbus_queue_end(shmbus_queue* q);
/* 1 once the stream has ended (by any process), 0 before; negative on a NULL handle. */
int shmbus_queue_ended(const shmbus_queue* q);
int shmbus_queue_get_stats(const shmbus_queue* q, shmbus_queue_stats* out);
uint32_t shmbus_queue_slots(const shmbus_queue* q);
uint32_t shmbus_queue_max_message_size(const shmbus_queue* q);
const char* shmbus_queue_name(const shmbus_queue* q);
/* Detaches this handle (the stream goes on for others; NULL is ignored). */
void shmbus_queue_close(shmbus_queue* q);
/* Removes the name (processes that have it open keep using it). */
int shmbus_queue_unlink(const char* name);
/* ==== END: QUEUE ==== */

/* ==== SECTION: RPC ==== */

/* Request/response between processes (PROTOCOL §8), byte-compatible with Node's Rpc. Requests go through a queue in
   the service's segment; each client has its own response queue "<name>.r<clientId>". A service name has at most
   188 characters. A server process joins the service's worker table with `workers` entries; a client fails at once
   with SHMBUS_ENO_SERVER when no live server is there, and within liveness_ms when the server holding its request
   dies. A handler's error reaches the client as SHMBUS_EREMOTE with the handler's message. */
typedef struct shmbus_rpc_server shmbus_rpc_server;
typedef struct shmbus_rpc_client shmbus_rpc_client;

/* A request as the handler sees it (valid during the handler call). */
typedef struct shmbus_rpc_req {
  const void* data;     /* the payload (followed by a NUL byte that is not part of size, for text handlers) */
  size_t size;
  uint32_t flags;       /* SHMBUS_MSG_TEXT when the client sent a string */
  uint32_t id;          /* request id (unique per client while pending) */
  uint32_t client_id;   /* the asking client's id (unique per service) */
  uint32_t client_pid;  /* the asking client's process id */
} shmbus_rpc_req;

/* The handler's answer. Write the reply into buf (cap bytes: the service's max_message_size) and point data at it,
   or point data at any memory that stays valid until the handler returns (the request's data too: an echo). */
typedef struct shmbus_rpc_reply {
  void* buf;
  size_t cap;
  const void* data;
  size_t size;
  uint32_t flags;       /* SHMBUS_MSG_TEXT: the reply is text (Node: res.isText) */
  char error[256];      /* set through shmbus_rpc_reply_error */
} shmbus_rpc_reply;

/* Serves one request: return 0 with the reply set, or fail with `return shmbus_rpc_reply_error(reply, "why");` (any
   other non-zero return also fails it): the client gets SHMBUS_EREMOTE with that message and the server goes on.
   Called from up to `workers` threads at once. */
typedef int (*shmbus_rpc_handler)(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply);
/* Records `message` as the handler's error and returns SHMBUS_EREMOTE. */
int shmbus_rpc_reply_error(shmbus_rpc_reply* reply, const char* message);

#define SHMBUS_RPC_DEFAULT_MAX_MESSAGE_SIZE 65536u
#define SHMBUS_RPC_MAX_WORKERS 64u
#define SHMBUS_RPC_MAX_NAME 188u

/* Zero-fill, set struct_size = sizeof(shmbus_rpc_serve_options): a 0 field is the default. */
typedef struct shmbus_rpc_serve_options {
  size_t struct_size;
  uint32_t workers;           /* concurrent handler calls of this process (threads); 0 = 1; at most 64 per service */
  uint32_t max_message_size;  /* largest request payload when this server creates the service; 0 = 65536 */
  uint32_t slots;             /* request queue slots when this server creates the service; 0 = 16 (fewer if big) */
  unsigned mode;              /* 0 = 0600 */
  uint32_t liveness_ms;       /* lock liveness, and how often a worker blocked on a full response queue checks that
                                 its client lives; 0 = 50 */
  int32_t spin_us;            /* 0 = 50, negative = do not spin */
} shmbus_rpc_serve_options;

typedef struct shmbus_rpc_connect_options {
  size_t struct_size;
  uint32_t max_message_size;  /* largest response payload accepted; 0 = the service's max_message_size */
  uint32_t slots;             /* response queue slots; 0 = 4 (fewer if big) */
  unsigned mode;              /* of the response queue; 0 = 0600 */
  uint32_t liveness_ms;       /* how often a waiting request checks its servers; 0 = 50 */
  int32_t spin_us;            /* 0 = 50, negative = do not spin */
} shmbus_rpc_connect_options;

typedef struct shmbus_rpc_server_stats {
  uint64_t served;     /* requests answered (result or error) or dropped because the client was gone */
  uint64_t failed;     /* requests whose handler failed */
  uint64_t in_flight;  /* handler calls running now */
} shmbus_rpc_server_stats;

/* Creates the service if needed (or joins the servers already there) with `workers` entries; does not take requests
   until shmbus_rpc_server_run or _start. opts may be NULL. SHMBUS_ETOO_MANY_WORKERS when the table is full. */
int shmbus_rpc_serve(const char* name, shmbus_rpc_handler handler, void* ctx, const shmbus_rpc_serve_options* opts,
                     shmbus_rpc_server** out);
/* Runs the workers: workers - 1 threads plus the calling thread, until shmbus_rpc_server_stop (from a handler,
   another thread or a signal handler). Returns 0 then. */
int shmbus_rpc_server_run(shmbus_rpc_server* s);
/* Runs every worker in a background thread and returns at once. */
int shmbus_rpc_server_start(shmbus_rpc_server* s);
/* Asks the workers to stop after the request in hand (async-signal-safe: one store and one futex wake). */
void shmbus_rpc_server_stop(shmbus_rpc_server* s);
int shmbus_rpc_server_get_stats(const shmbus_rpc_server* s, shmbus_rpc_server_stats* out);
/* Stops, waits for background workers, leaves the service (the last server out removes its name and the response
   queues of clients that died). After shmbus_rpc_server_run has returned, or for a started server. NULL ignored. */
void shmbus_rpc_server_close(shmbus_rpc_server* s);

/* A client of `name`. Connecting never waits: the service is looked up at each request. One thread at a time per
   client (use one client per thread). */
int shmbus_rpc_connect(const char* name, shmbus_rpc_client** out);
int shmbus_rpc_connect_ex(const char* name, const shmbus_rpc_connect_options* opts, shmbus_rpc_client** out);
/* Sends a request and waits (timeout_ms; -1 forever) for its response, copied into resp_buf (cap bytes),
   *resp_len = its length. SHMBUS_ENO_SERVER: no live server (at once), or the server died with the request.
   SHMBUS_EREMOTE: the handler failed; shmbus_last_error_message() is its message and resp_buf holds the error's
   JSON ({"name","message","code"?}) as far as it fits. SHMBUS_EMESSAGE_TOO_LARGE: the request is larger than the
   service's max_message_size, or the response larger than cap (*resp_len = its size; it is dropped). */
int shmbus_rpc_request(shmbus_rpc_client* c, const void* req, size_t len, void* resp_buf, size_t cap,
                       size_t* resp_len, int64_t timeout_ms);
/* The same with flags: SHMBUS_MSG_TEXT for a text request; *resp_flags (may be NULL) tells a text response. */
int shmbus_rpc_request_ex(shmbus_rpc_client* c, const void* req, size_t len, uint32_t flags, void* resp_buf,
                          size_t cap, size_t* resp_len, uint32_t* resp_flags, int64_t timeout_ms);
/* This client's id (0 before its first request). */
uint32_t shmbus_rpc_client_id(const shmbus_rpc_client* c);
/* Ends and removes this client's response queue. NULL ignored. */
void shmbus_rpc_client_close(shmbus_rpc_client* c);
/* Removes the service's name (its servers stop being reachable: clients get SHMBUS_ENO_SERVER) and the response
   queues of clients that died without closing. */
int shmbus_rpc_unlink(const char* name);
/* ==== END: RPC ==== */

/* ==== SECTION: FRAME ==== */
/* The Frame codec (PROTOCOL.md §9): one image as one message of any channel. A message format, not a segment kind:
   decode views the pixels inside the message (no copy); a writer loans shmbus_frame_size() bytes, writes the header
   with shmbus_frame_write_header() and renders the pixels in place. */
#define SHMBUS_FRAME_MAGIC 0x52464253u /* "SBFR" */
#define SHMBUS_FRAME_VERSION 1
#define SHMBUS_FRAME_HEADER_SIZE 64

typedef enum shmbus_dtype { SHMBUS_DTYPE_UINT8 = 1, SHMBUS_DTYPE_UINT16 = 2, SHMBUS_DTYPE_FLOAT32 = 3 } shmbus_dtype;

/* Channel order within a pixel; the channel count follows from it (GRAY 1, RGB/BGR 3, RGBA/BGRA 4). */
typedef enum shmbus_pixel_format {
  SHMBUS_FORMAT_GRAY = 1,
  SHMBUS_FORMAT_RGB = 2,
  SHMBUS_FORMAT_BGR = 3,
  SHMBUS_FORMAT_RGBA = 4,
  SHMBUS_FORMAT_BGRA = 5
} shmbus_pixel_format;

typedef struct shmbus_frame {
  uint32_t width;
  uint32_t height;
  uint32_t channels;     /* decode fills it; write_header derives it from format */
  int dtype;             /* shmbus_dtype */
  int format;            /* shmbus_pixel_format */
  uint32_t stride;       /* bytes from one row to the next; 0 in write_header/frame_size = packed rows */
  uint64_t timestamp_us; /* microseconds since the Unix epoch, 0 = none */
  const void* data;      /* decode: the first sample, inside the message (8-byte aligned when the message is) */
  size_t data_size;      /* stride x height */
} shmbus_frame;

/* Checks every rule of §9 and fills `out` with views into `msg`. SHMBUS_EINVAL_ARG ("not a valid frame: ...") for
   a corrupt, truncated or foreign message: nothing past `len` is ever pointed at. */
int shmbus_frame_decode(const void* msg, size_t len, shmbus_frame* out);
/* Bytes per sample of a dtype (1, 2, 4), 0 for an unknown one. */
size_t shmbus_frame_bytes_per_sample(int dtype);
/* Channels of a format (1, 3, 4), 0 for an unknown one. */
uint32_t shmbus_frame_channels(int format);
/* Message size of a frame of these dimensions (header + stride x height; stride 0 = packed), or 0 when the
   dimensions are invalid (zero, unknown dtype/format, stride too small or not a multiple of the sample size). */
size_t shmbus_frame_size(uint32_t width, uint32_t height, int format, int dtype, uint32_t stride);
/* Writes the 64-byte header of `f` (width, height, dtype, format, stride (0 = packed), timestamp_us) at `msg`,
   which must hold shmbus_frame_size() bytes (`cap`). The pixels go at msg + SHMBUS_FRAME_HEADER_SIZE. */
int shmbus_frame_write_header(void* msg, size_t cap, const shmbus_frame* f);
/* write_header, then copies `pixels` (rows of `src_stride` bytes, 0 = packed) into the frame's rows, zeroing each
   row's padding. *out_len = the message size. */
int shmbus_frame_encode(void* msg, size_t cap, const shmbus_frame* f, const void* pixels, size_t src_stride,
                        size_t* out_len);
/* ==== END: FRAME ==== */

/* ==== SECTION: PARTS ==== */
/* The Parts codec (PROTOCOL.md §10): a record of named values (bytes, UTF-8 string, JSON text, float64, int64) as one
   message of any channel. A reader checks the whole record once (shmbus_parts_reader_init) and then hands out views
   into it (no copy); a builder writes a record into a caller's buffer (a loan), bytes values 64-byte aligned in the
   record so that a Frame inside one is viewed in place. */
#define SHMBUS_PARTS_MAGIC 0x54504253u /* "SBPT" */
#define SHMBUS_PARTS_VERSION 1
#define SHMBUS_PARTS_HEADER_SIZE 32
#define SHMBUS_PARTS_ENTRY_SIZE 16
#define SHMBUS_PARTS_MAX_COUNT 1024
#define SHMBUS_PARTS_MAX_NAME 255
#define SHMBUS_PARTS_BYTES_ALIGN 64

typedef enum shmbus_part_type {
  SHMBUS_PART_BYTES = 1,
  SHMBUS_PART_STRING = 2, /* UTF-8 text */
  SHMBUS_PART_JSON = 3,   /* UTF-8 JSON text (the C reader checks its syntax and hands out the text) */
  SHMBUS_PART_F64 = 4,
  SHMBUS_PART_I64 = 5
} shmbus_part_type;

/* One part of a record read by a shmbus_parts_reader: pointers into the record, valid while its bytes are. */
typedef struct shmbus_part {
  const char* name;  /* UTF-8, NUL-terminated inside the record */
  size_t name_size;  /* bytes, without the NUL */
  int type;          /* shmbus_part_type */
  const void* data;  /* the value: bytes (8-aligned when the record is), text (NUL-terminated), or 8 number bytes */
  size_t size;       /* bytes of the value (text: without the NUL) */
  double f64;        /* SHMBUS_PART_F64: the value */
  int64_t i64;       /* SHMBUS_PART_I64: the value */
} shmbus_part;

typedef struct shmbus_parts_reader {
  const uint8_t* msg;  /* the record */
  size_t size;         /* its totalSize (the message may be longer) */
  uint32_t count;
  uint32_t dir_offset;
} shmbus_parts_reader;

/* Checks every rule of §10 (header, each directory entry, names, UTF-8 of names and text, JSON syntax: at most 512
   arrays/objects deep) before anything is handed out. SHMBUS_EPARTS_CORRUPT ("not a valid Parts record: ...") for a
   foreign, truncated or corrupt record: nothing past `len` is ever pointed at. */
int shmbus_parts_reader_init(shmbus_parts_reader* r, const void* msg, size_t len);
/* Parts in the record (0 for NULL). */
uint32_t shmbus_parts_count(const shmbus_parts_reader* r);
/* Part `index` (0..count-1, directory order); SHMBUS_EINVAL_ARG past the end. */
int shmbus_parts_get(const shmbus_parts_reader* r, uint32_t index, shmbus_part* out);
/* The part named `name` (NUL-terminated UTF-8); SHMBUS_EINVAL_ARG when there is none. */
int shmbus_parts_find(const shmbus_parts_reader* r, const char* name, shmbus_part* out);

/* Builds a record in `buf`: values from the front, directory entries kept at the back until finish. */
typedef struct shmbus_parts_builder {
  uint8_t* buf;  /* NULL: measuring only (finish gives the size to loan) */
  size_t cap;
  size_t pos;    /* where the next part's name goes */
  uint32_t count;
  int finished;
} shmbus_parts_builder;

/* Starts a record in buf[0..cap) (cap >= 32), or a measurement when buf is NULL (cap ignored; duplicate names
   are caught only when writing). */
int shmbus_parts_builder_init(shmbus_parts_builder* b, void* buf, size_t cap);
/* Each add appends one part named `name` (1..255 bytes of UTF-8, NUL-terminated, unique); SHMBUS_EINVAL_ARG for a
   bad or duplicate name, more than 1024 parts, invalid UTF-8 text, or a buffer too small (the builder is then as
   before the call). */
int shmbus_parts_add_bytes(shmbus_parts_builder* b, const char* name, const void* data, size_t size);
int shmbus_parts_add_string(shmbus_parts_builder* b, const char* name, const char* text, size_t size);
/* `json`: JSON text (RFC 8259, at most 512 arrays/objects deep), checked; copied as it is. */
int shmbus_parts_add_json(shmbus_parts_builder* b, const char* name, const char* json, size_t size);
int shmbus_parts_add_f64(shmbus_parts_builder* b, const char* name, double value);
int shmbus_parts_add_i64(shmbus_parts_builder* b, const char* name, int64_t value);
/* A bytes part of `size` bytes whose value the caller fills in place (*out: 64-byte aligned in the record; NULL
   when measuring): render a Frame straight into a loaned record. */
int shmbus_parts_reserve_bytes(shmbus_parts_builder* b, const char* name, size_t size, void** out);
/* Writes the header and the directory; *out_len = the record's size (the bytes to commit or send). */
int shmbus_parts_finish(shmbus_parts_builder* b, size_t* out_len);
/* ==== END: PARTS ==== */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SHMBUS_H */
