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
  SHMBUS_EEND = -21                /* C only: end of stream (Node returns null) */
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
/* ==== END: RWLOCK ==== */

/* ==== SECTION: SEMAPHORE ==== */
/* ==== END: SEMAPHORE ==== */

/* ==== SECTION: EVENT ==== */
/* ==== END: EVENT ==== */

/* ==== SECTION: TOPIC ==== */
/* ==== END: TOPIC ==== */

/* ==== SECTION: MAILBOX ==== */
/* ==== END: MAILBOX ==== */

/* ==== SECTION: QUEUE ==== */
/* ==== END: QUEUE ==== */

/* ==== SECTION: RPC ==== */
/* ==== END: RPC ==== */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SHMBUS_H */
