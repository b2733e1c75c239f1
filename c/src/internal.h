/*
 * internal.h: what the modules of the C peer share and users never see (names sbi_*, "shmbus internal").
 * Sections are owned by different engineers: write only between your own markers.
 *
 * Every module is compiled into ONE translation unit (c/shmbus.c), so file-static names of different modules
 * share a namespace: prefix yours with the module (`topic_`, `queue_`, ...) to keep the unity build clean.
 */
#ifndef SHMBUS_INTERNAL_H
#define SHMBUS_INTERNAL_H

#include "../shmbus.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ==== SECTION: CORE ==== */

/* ---- Portability ------------------------------------------------------------------------------------------ */

#if defined(__GNUC__) || defined(__clang__)
#define SBI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SBI_UNUSED __attribute__((unused))
#else
#define SBI_PRINTF(fmt, args)
#define SBI_UNUSED
#endif

/* One spelling for thread-local storage in C11 and C++17 (the unity file compiles as both). */
#ifdef __cplusplus
#define SBI_THREAD_LOCAL thread_local
#else
#define SBI_THREAD_LOCAL _Thread_local
#endif

/* A cast that C accepts implicitly and C++ requires (void* to T*). */
#define SBI_CAST(type, value) ((type)(value))

/* ---- Layout constants (PROTOCOL §2, §4.1) ----------------------------------------------------------------- */

#define SBI_HDR_MAGIC 0
#define SBI_HDR_VERSION 4
#define SBI_HDR_KIND 6
#define SBI_HDR_STATE 8
#define SBI_HDR_HEADER_SIZE 12
#define SBI_HDR_TOTAL_SIZE 16
#define SBI_HDR_PAYLOAD_SIZE 24
#define SBI_HDR_CREATOR_PID 32
#define SBI_HDR_FLAGS 36
#define SBI_HDR_CREATOR_START 40
#define SBI_HDR_CREATED_AT 48
#define SBI_HDR_CREATOR_NS 56
#define SBI_HDR_PARAMS 64
#define SBI_STATE_INIT 0u
#define SBI_STATE_READY 1u
#define SBI_KIND_COUNT 9
/* Internal "any kind" for sbi_segment_open (kinds are u16 in the header, 0..8). */
#define SBI_KIND_ANY 0xFFFFu

#define SBI_MUTEX_WORD 0
#define SBI_MUTEX_OWNER_PID 4
#define SBI_MUTEX_OWNER_START 8
#define SBI_MUTEX_OWNER_THREAD 16
#define SBI_MUTEX_RECOVERIES 20
#define SBI_MUTEX_OWNER_NS 24
#define SBI_MUTEX_PID_MASK 0x3FFFFFFFu
#define SBI_MUTEX_WAITERS 0x80000000u

/* Wake-all count of FUTEX_WAKE (PROTOCOL §3). */
#define SBI_WAKE_ALL 0x7FFFFFFF

/* ---- Atomics (GNU builtins; every call site names its order and SYNC point) ------------------------------ */

static inline uint32_t sbi_load32(const uint32_t* p, int order) { return __atomic_load_n(p, order); }
static inline void sbi_store32(uint32_t* p, uint32_t v, int order) { __atomic_store_n(p, v, order); }
/* seq_cst compare-and-swap; on failure *expected receives the current value. Returns 1 on success. */
static inline int sbi_cas32(uint32_t* p, uint32_t* expected, uint32_t desired) {
  return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 1 : 0;
}
/* Returns the old value. */
static inline uint32_t sbi_add32(uint32_t* p, uint32_t v, int order) { return __atomic_fetch_add(p, v, order); }
static inline uint32_t sbi_xchg32(uint32_t* p, uint32_t v, int order) { return __atomic_exchange_n(p, v, order); }
static inline uint64_t sbi_load64(const uint64_t* p, int order) { return __atomic_load_n(p, order); }
static inline void sbi_store64(uint64_t* p, uint64_t v, int order) { __atomic_store_n(p, v, order); }
static inline int sbi_cas64(uint64_t* p, uint64_t* expected, uint64_t desired) {
  return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 1 : 0;
}
/* GCC refuses fences under -fsanitize=thread with -Werror (-Wtsan: TSan does not model them). They stay real
   fences there (the hardware needs them); TSan may then report the data they order as a race. */
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define SBI_FENCE_TSAN_BEGIN _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wtsan\"")
#define SBI_FENCE_TSAN_END _Pragma("GCC diagnostic pop")
#else
#define SBI_FENCE_TSAN_BEGIN
#define SBI_FENCE_TSAN_END
#endif
SBI_FENCE_TSAN_BEGIN
static inline void sbi_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void sbi_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }
static inline void sbi_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
SBI_FENCE_TSAN_END

/* The word at byte offset `off` of a mapping (the layout keeps it aligned). */
static inline uint32_t* sbi_word(uint8_t* base, size_t off) { return SBI_CAST(uint32_t*, (void*)(base + off)); }

/* Little-endian plain field access for header bytes (x86 and arm64 are little-endian; memcpy keeps it legal). */
uint16_t sbi_get16(const uint8_t* p);
uint32_t sbi_get32(const uint8_t* p);
uint64_t sbi_get64(const uint8_t* p);
void sbi_put16(uint8_t* p, uint16_t v);
void sbi_put32(uint8_t* p, uint32_t v);
void sbi_put64(uint8_t* p, uint64_t v);

/* ---- Errors (errors.c) ------------------------------------------------------------------------------------ */

/* Records a message for shmbus_last_error_message() and returns `code`: `return sbi_fail(SHMBUS_E..., "...")`. */
int sbi_fail(int code, const char* fmt, ...) SBI_PRINTF(2, 3);
/* Clears the calling thread's last message (successful calls need not). */
void sbi_clear_error(void);

/* ---- Names (segment.c, PROTOCOL §1) ----------------------------------------------------------------------- */

/* 0 if `name` is 1-200 chars of [A-Za-z0-9._-] and not "." / "..", else SHMBUS_EINVALID_NAME (message set). */
int sbi_check_name(const char* name);
/* "/shmbus.<name>" into out (SBI_OS_NAME_MAX bytes); checks the name first. */
#define SBI_OS_NAME_MAX (1 + 7 + SHMBUS_NAME_MAX + 1)
int sbi_os_name(const char* name, char* out);

/* ---- Time and deadlines (os_posix.c) ---------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t sbi_os_now_ns(void);
/* Offers the CPU to a runnable thread on this core (sched_yield). Every spin calls it about once a microsecond, with
   the nanoseconds it has spun so far: a spin that never yields keeps the process it waits for, runnable on the same
   core on a loaded machine, off the CPU for its whole budget (round trips of ~2 x the spin); with a core free it
   returns at once. A thread pinned to one CPU yields only once it has spun SBI_PINNED_YIELD_AFTER_NS: its peer is
   usually on another core, where a yield would hand the core to other threads; a longer spin means the peer may
   share that one CPU (both pinned there, or a container limited to one CPU), and only a yield lets it answer. The
   Node addon's yieldCpu(late) follows the same rule. */
void sbi_os_yield(int64_t spun_ns);
/* How long a thread pinned to one CPU spins before it yields too (10 µs; Node: SPIN_PINNED_YIELD_AFTER). */
#define SBI_PINNED_YIELD_AFTER_NS 10000
/* The spins' yield period: a power of two minus 1, in polls (~1 µs of polling). */
#define SBI_SPIN_YIELD_MASK 63u
/* Wall clock, ms since the Unix epoch (header createdAt). */
uint64_t sbi_os_epoch_ms(void);
/* A deadline for timeout_ms (< 0 = forever -> INT64_MAX). */
int64_t sbi_deadline(int64_t timeout_ms);
/* Milliseconds left until `deadline`, rounded up; -1 for forever, 0 once passed. */
int64_t sbi_left_ms(int64_t deadline);
/* A CPU hint inside spin loops. */
void sbi_cpu_relax(void);
/* Sleeps (EINTR resumed); only where no word exists to wait on. */
void sbi_os_sleep_ms(int64_t ms);

/* ---- OS seam (os_posix.c: the only file that calls the OS) ----------------------------------------------- */

/* A mapping: `base`/`map_len` as mmap returned them; `data`/`len` the window the caller asked for. */
typedef struct sbi_map {
  uint8_t* base;
  size_t map_len;
  uint8_t* data;
  size_t len;
} sbi_map;

/* Creates `os_name` exclusively with `mode` (exact: fchmod after the umask), size bytes reserved
   (ftruncate + posix_fallocate), mapped shared read/write. Unlinks it again on any failure. */
int sbi_os_shm_create(const char* os_name, unsigned mode, size_t size, sbi_map* out);
/* Size of an existing shm object (fstat). */
int sbi_os_shm_size(const char* os_name, uint64_t* size);
/* Maps `len` bytes of an existing shm object (len 0 = its whole fstat size). Shared read/write, or private
   copy-on-write when !writable. Fails with SHMBUS_ESHM_CORRUPT-free codes (NOT_FOUND, PERMISSION, OS). */
int sbi_os_shm_map(const char* os_name, size_t len, int writable, sbi_map* out);
int sbi_os_shm_unlink(const char* os_name);
/* Maps [offset, offset+length) of a regular file (length UINT64_MAX = to the end); refuses windows past the end. */
int sbi_os_file_map(const char* path, uint64_t offset, uint64_t length, int writable, sbi_map* out);
int sbi_os_flush(const sbi_map* m);
void sbi_os_unmap(sbi_map* m);

/* Entry of /dev/shm whose name starts with "shmbus.": called with the entry name ("shmbus.x"), the object size,
   up to 128 bytes of its head (head_len may be smaller) and its mtime (ms since the epoch). */
typedef void (*sbi_shm_entry_fn)(const char* entry, uint64_t size, const uint8_t* head, size_t head_len,
                                 uint64_t mtime_ms, void* ctx);
int sbi_os_shm_foreach(sbi_shm_entry_fn fn, void* ctx);
/* 1 if some process maps /dev/shm/<entry> (scans /proc/<pid>/maps), else 0. */
typedef struct sbi_mapped_set sbi_mapped_set;
sbi_mapped_set* sbi_os_mapped_scan(void);
int sbi_os_mapped_has(const sbi_mapped_set* set, const char* entry);
void sbi_os_mapped_free(sbi_mapped_set* set);

/* futex(FUTEX_WAIT) shared (not private): 0 woken, SHMBUS_EAGAIN word != expected, SHMBUS_ETIMEDOUT.
   EINTR is retried with the time left to a CLOCK_MONOTONIC deadline. timeout_ms < 0 = forever. */
int sbi_os_futex_wait(uint32_t* word, uint32_t expected, int64_t timeout_ms);
/* futex(FUTEX_WAKE, n) shared; returns how many were woken. */
int sbi_os_futex_wake(uint32_t* word, int n);

/* Identity facts of processes. */
uint32_t sbi_os_getpid(void);
uint32_t sbi_os_gettid(void);
/* The pid /proc/self/stat names (differs from getpid() when /proc belongs to another pid namespace); 0 unknown. */
uint32_t sbi_os_proc_self_pid(void);
/* Inode of /proc/self/ns/pid mod 2^32; 0 when unreadable. */
uint32_t sbi_os_pid_ns(void);
/* /proc/<pid>/stat: 0 and *state, *start filled; -1 when unreadable (gone, hidepid). pid 0 = self. */
int sbi_os_proc_stat(uint32_t pid, char* state, uint64_t* start);
/* kill(pid, 0): 0 when it fails with ESRCH (no such process), 1 otherwise (exists, or EPERM). */
int sbi_os_pid_exists(uint32_t pid);
/* Registers `fn` to run in the child after fork() (identity caches must be refreshed there). */
void sbi_os_atfork_child(void (*fn)(void));

/* ---- Identity and liveness (identity.c, PROTOCOL §4.0) --------------------------------------------------- */

typedef struct sbi_identity {
  uint32_t pid;    /* getpid() */
  uint64_t start;  /* field 22 of /proc/self/stat, 0 unknown */
  uint32_t ns;     /* pid namespace inode mod 2^32, 0 unknown */
} sbi_identity;

/* This process (cached; refreshed in a fork()ed child). */
const sbi_identity* sbi_self(void);
/* The calling thread's discriminator (gettid(), cached per thread). */
uint32_t sbi_thread(void);
/* §4.0: 1 alive, 0 dead. Another namespace or an unreadable /proc is alive. */
int sbi_holder_alive(uint32_t pid, uint64_t start, uint32_t ns);
/* The liveness_ms option of every handle (Node's livenessOption): 0 keeps *out (the default), else whole ms from 1
   to 2^31-1 into *out; above that SHMBUS_EINVAL_ARG naming `what`. */
int sbi_liveness_option(uint32_t given, const char* what, uint32_t* out);

/* ---- Segments (segment.c, PROTOCOL §2) ------------------------------------------------------------------- */

enum sbi_origin { SBI_ORIGIN_SHMBUS = 0, SBI_ORIGIN_RAW = 1, SBI_ORIGIN_FILE = 2 };

struct shmbus_segment {
  char* name;              /* shmbus name (raw: the posix name; file: the path); owned */
  uint8_t* base;           /* first byte of the object: the header for SBI_ORIGIN_SHMBUS */
  size_t size;             /* bytes from base: header + payload */
  uint8_t* payload;        /* base + 128 for shmbus segments, base otherwise */
  size_t payload_size;
  uint16_t kind;           /* header kind; SBI_KIND_ANY for raw objects and file windows */
  const uint32_t* params;  /* params_copy: the 16 u32 of the header as validated at open (zero for raw/file) */
  uint32_t params_copy[16];
  int origin;              /* enum sbi_origin */
  int writable;            /* file window mapped shared (flush means something) */
  sbi_map map;             /* what to unmap */
};

/* §2.1: exclusive create, header (creator identity last, release), payload zeroed then init(payload, size,
   ctx), then state = READY (release) and a wake. `init` may be NULL; its non-zero return aborts the create and is
   returned. mode: permission bits within 0666, 0 = 0600. Unlinks the name on any failure. */
int sbi_segment_create(const char* name, uint16_t kind, const uint32_t params[16], size_t payload_size,
                       unsigned mode, int (*init)(uint8_t* payload, size_t size, void* ctx), void* ctx,
                       shmbus_segment** out);
/* §2.2: waits (up to timeout_ms) for a live creator, validates magic, state, version, kind (SBI_KIND_ANY: any)
   and sizes against the object. Kind-specific bounds are the caller's job. */
int sbi_segment_open(const char* name, uint16_t kind, int64_t timeout_ms, shmbus_segment** out);
void sbi_segment_close(shmbus_segment* seg);
/* mode argument check shared by every create: within 0666 (0 = default 0600). -1 when bad (message set). */
int sbi_check_mode(unsigned mode, unsigned* out);

/* ---- Park (park.c, PROTOCOL §3) -------------------------------------------------------------------------- */

/* STATE words (Semaphore value, Event, RwLock occupied): the counting rule. Announce on `sleepers`, re-check
   that `word` still holds `expected`, futex-wait. 0 woken or changed, SHMBUS_ETIMEDOUT. */
int sbi_park(uint32_t* word, uint32_t* sleepers, uint32_t expected, int64_t timeout_ms);
/* The futex sleep of every protocol wait on a shared word: sbi_os_futex_wait, or recorded instead while the thread
   is in park capture (shmbus_park_capture_begin); then sbi_park_captured() is 1 and sbi_left_ms answers 0. */
int sbi_park_sleep(uint32_t* word, uint32_t expected, int64_t timeout_ms);
int sbi_park_captured(void);
/* 1 once `deadline` (from sbi_deadline) has passed, or a sleep was captured (park capture ends the call there). */
int sbi_time_up(int64_t deadline);
/* After a seq_cst change of a state word: wake all sleepers if any announced (no syscall otherwise). */
void sbi_wake_sleepers(uint32_t* word, uint32_t* sleepers);
/* COUNTER words (only move forward mod 2^32: Queue commits/releases, Topic commit and registry words, Mailbox
   version): the tag rule. Sleep while `word` == `seen`. 0 woken or changed, SHMBUS_ETIMEDOUT. */
int sbi_park_counter(uint32_t* word, uint32_t* sleepers, uint32_t seen, int64_t timeout_ms);
/* After a seq_cst change of a counter word from `old_value`. */
void sbi_wake_counter(uint32_t* word, uint32_t* sleepers, uint32_t old_value);
/* A wake on a counter word by a process that did not move it (a Topic publisher leaving): wakes every sleeper
   if any announced, never clears the tag (no change released them). */
void sbi_wake_counter_keep(uint32_t* word, uint32_t* sleepers);

/* ---- Mutex (mutex.c, PROTOCOL §4.1) ---------------------------------------------------------------------- */

/* Per-waiter state of the two-sightings rule and the try_lock busy timer; zero-initialise. */
typedef struct sbi_mutex_watch {
  uint32_t incomplete_seen;  /* the word value last seen with an incomplete identity, 0 none */
  uint32_t busy_value;       /* try_lock: the word value first seen busy */
  int64_t busy_since;        /* try_lock: when busy_value was first seen (ns), 0 none */
} sbi_mutex_watch;

/* `mutex` points to the 32-byte block (8-aligned). recovered may be NULL. spin_us < 0: no spin. */
int sbi_mutex_lock(uint8_t* mutex, int64_t timeout_ms, uint32_t liveness_ms, int* recovered);
int sbi_mutex_lock_spin(uint8_t* mutex, int64_t timeout_ms, uint32_t liveness_ms, int32_t spin_us, int* recovered);
/* Never sleeps: SHMBUS_EAGAIN when busy; judges a holder seen busy for liveness_ms across calls (watch). */
int sbi_mutex_try_lock(uint8_t* mutex, uint32_t liveness_ms, sbi_mutex_watch* watch, int* recovered);
/* SHMBUS_ENOT_OWNER unless the calling thread holds it. */
int sbi_mutex_unlock(uint8_t* mutex);
/* 1 when the calling thread holds it. */
int sbi_mutex_held_by_me(const uint8_t* mutex);

/* ---- Options ---------------------------------------------------------------------------------------------- */

/* Reads shmbus_sync_options (NULL or too small a struct_size = defaults), checks ranges. */
typedef struct sbi_sync_opts {
  unsigned mode;
  int64_t open_timeout_ms;
  uint32_t liveness_ms;
  int32_t spin_us;
} sbi_sync_opts;
int sbi_sync_options(const shmbus_sync_options* in, sbi_sync_opts* out);

/* ==== END: CORE ==== */

#endif /* SHMBUS_INTERNAL_H */
