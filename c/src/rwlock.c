/*
 * rwlock.c: a robust process-shared reader-writer lock with writer preference (PROTOCOL §4.2). A writer takes the
 * embedded Mutex, raises `writer` (new readers back off) and waits for the reader slots to drain. Each read hold
 * occupies one of 32 slots recording its holder, so a dead reader's hold is released; a dead writer is recovered
 * through the Mutex, by the next writer or by a waiting reader, which then holds the lock alone (recovered = 1).
 * Ownership is per thread (the slot's thread is gettid()).
 */
#include "internal.h"
#include "sync_rounds.h"

#include <stdlib.h>
#include <string.h>

#define RW_MUTEX 0
#define RW_WRITER 32
#define RW_OCCUPIED 40
#define RW_OCC_WAITERS 44
#define RW_SLOTS 64
#define RW_SLOT_COUNT 32
#define RW_SLOT_SIZE 32
#define RW_SLOT_PID 0
#define RW_SLOT_THREAD 4
#define RW_SLOT_START 8
#define RW_SLOT_NS 16
#define RW_WRITER_WAITERS 0x80000000u
#define RW_FULL 0xFFFFFFFFu

struct shmbus_rwlock {
  shmbus_segment* owned; /* the named form's segment, NULL when embedded */
  uint8_t* block;
  sbi_sync_opts opts;
  /* The thread (gettid) that took a dead writer's lock over through a read lock and holds it exclusively until
     its read unlock; 0 none. Relaxed atomics: compared only by the thread itself, written by the mutex holder. */
  uint32_t exclusive_tid;
  /* try_write_lock's memory of a busy writers' mutex (liveness after a whole interval); guarded by try_busy. */
  sbi_mutex_watch try_watch;
  uint32_t try_busy;
};

static uint32_t* rw_w(const shmbus_rwlock* rw, size_t off) { return sbi_word(rw->block, off); }
static uint8_t* rw_mutex(const shmbus_rwlock* rw) { return rw->block + RW_MUTEX; }
static uint32_t* rw_slot(const shmbus_rwlock* rw, int slot, size_t field) {
  return sbi_word(rw->block, RW_SLOTS + (size_t)slot * RW_SLOT_SIZE + field);
}

static uint64_t rw_slot_start(const shmbus_rwlock* rw, int slot) {
  /* Acquire-ordered by the caller's load of `occupied` (RW-READ-ENTER published the identity). */
  return (uint64_t)sbi_load32(rw_slot(rw, slot, RW_SLOT_START + 4), __ATOMIC_RELAXED) << 32 |
         sbi_load32(rw_slot(rw, slot, RW_SLOT_START), __ATOMIC_RELAXED);
}

/* Stores v unless the word holds it already (relaxed: RW-READ-ENTER publishes the identity). */
static void rw_store_if_changed(uint32_t* p, uint32_t v) {
  if (sbi_load32(p, __ATOMIC_RELAXED) != v) sbi_store32(p, v, __ATOMIC_RELAXED);
}

/* Claims a free slot for this thread and writes its identity (not yet published): its index, or -1. */
static int rw_claim(shmbus_rwlock* rw) {
  const sbi_identity* me = sbi_self();
  const uint32_t tid = sbi_thread();
  const int preferred = (int)((me->pid * 7u + tid * 13u) % RW_SLOT_COUNT);
  int k;
  for (k = 0; k < RW_SLOT_COUNT; k++) {
    const int slot = (preferred + k) % RW_SLOT_COUNT;
    uint32_t* pid = rw_slot(rw, slot, RW_SLOT_PID);
    uint32_t expected = 0;
    /* Relaxed probe: skips a CAS bound to fail. SYNC RW-SLOT-CLAIM (seq_cst CAS pid 0 -> me): exclusive claim;
       pairs with the release store of pid 0 in rw_release. */
    if (sbi_load32(pid, __ATOMIC_RELAXED) != 0 || !sbi_cas32(pid, &expected, me->pid)) continue;
    rw_store_if_changed(rw_slot(rw, slot, RW_SLOT_THREAD), tid);
    rw_store_if_changed(rw_slot(rw, slot, RW_SLOT_START), (uint32_t)me->start);
    rw_store_if_changed(rw_slot(rw, slot, RW_SLOT_START + 4), (uint32_t)(me->start >> 32));
    rw_store_if_changed(rw_slot(rw, slot, RW_SLOT_NS), me->ns);
    return slot;
  }
  return -1;
}

/* Read unlock of a slot: clear the bit, free the slot, wake a draining writer or slot seekers. */
static void rw_release(shmbus_rwlock* rw, int slot) {
  /* SYNC RW-READ-EXIT (seq_cst RMW, clear bit): the reads are done; pairs with the writer's load of `occupied`. */
  __atomic_fetch_and(rw_w(rw, RW_OCCUPIED), ~(1u << slot), __ATOMIC_SEQ_CST);
  /* SYNC RW-SLOT-CLAIM (release store pid 0, after the bit is clear): pairs with the claim CAS. */
  sbi_store32(rw_slot(rw, slot, RW_SLOT_PID), 0, __ATOMIC_RELEASE);
  /* SYNC PARK (§3 waker of the state word `occupied`, after the seq_cst RMW above). */
  sbi_wake_sleepers(rw_w(rw, RW_OCCUPIED), rw_w(rw, RW_OCC_WAITERS));
}

/* A slot's holder as read at one moment (every load acquire: RW-SLOT-CLAIM and the identity behind it). */
typedef struct rw_holder {
  uint32_t bit; /* the slot's bit of `occupied` */
  uint32_t pid;
  uint64_t start;
  uint32_t ns;
} rw_holder;

static void rw_read_holder(const shmbus_rwlock* rw, int slot, rw_holder* h) {
  /* SYNC RW-READ-ENTER (acquire load of `occupied`): a set bit publishes its holder's identity. */
  h->bit = sbi_load32(rw_w(rw, RW_OCCUPIED), __ATOMIC_ACQUIRE) & (1u << slot);
  h->pid = sbi_load32(rw_slot(rw, slot, RW_SLOT_PID), __ATOMIC_ACQUIRE);
  h->start = (uint64_t)sbi_load32(rw_slot(rw, slot, RW_SLOT_START + 4), __ATOMIC_ACQUIRE) << 32 |
             sbi_load32(rw_slot(rw, slot, RW_SLOT_START), __ATOMIC_ACQUIRE);
  h->ns = sbi_load32(rw_slot(rw, slot, RW_SLOT_NS), __ATOMIC_ACQUIRE);
}

/* Only while holding the mutex (two cleaners could clear a bit a new reader just set): releases dead readers'
   holds. 1 when some hold was released.
   A slot is judged only when two reads of (bit, pid, start, ns) agree with the bit set: between the snapshot and
   the reads its reader may have left and a live one claimed it (pid 0, or a pid beside the previous holder's start
   time), and clearing that bit would hide a live hold from the writers (a reader cleaner does not raise `writer`,
   so that reader would not back off). A dead reader's record cannot change: nobody claims a slot whose pid is set,
   and only the mutex holder cleans, so the bit cleared below is the dead reader's. */
static int rw_clean_dead_readers(shmbus_rwlock* rw) {
  /* SYNC RW-READ-ENTER (acquire load): which slots to look at. */
  const uint32_t occ = sbi_load32(rw_w(rw, RW_OCCUPIED), __ATOMIC_ACQUIRE);
  int cleaned = 0;
  int slot;
  for (slot = 0; slot < RW_SLOT_COUNT; slot++) {
    rw_holder a;
    rw_holder b;
    if ((occ & (1u << slot)) == 0) continue;
    rw_read_holder(rw, slot, &a);
    if (a.bit == 0 || a.pid == 0 || sbi_holder_alive(a.pid, a.start, a.ns)) continue;
    rw_read_holder(rw, slot, &b);
    if (b.bit == 0 || b.pid != a.pid || b.start != a.start || b.ns != a.ns) continue;
    /* RW-READ-EXIT on behalf of the dead reader (seq_cst RMW), then RW-SLOT-CLAIM (seq_cst CAS pid -> 0). */
    __atomic_fetch_and(rw_w(rw, RW_OCCUPIED), ~(1u << slot), __ATOMIC_SEQ_CST);
    sbi_cas32(rw_slot(rw, slot, RW_SLOT_PID), &a.pid, 0);
    cleaned = 1;
  }
  if (cleaned) sbi_wake_sleepers(rw_w(rw, RW_OCCUPIED), rw_w(rw, RW_OCC_WAITERS));
  return cleaned;
}

/* Frees slots claimed but never published by processes that died in between; each is judged only when seen
   unpublished with the same pid at this waiter's previous check too (`seen`, per waiter). Safe for anyone. */
static void rw_reclaim_unpublished(shmbus_rwlock* rw, uint32_t seen[RW_SLOT_COUNT]) {
  /* Acquire: see RW-READ-ENTER. */
  const uint32_t occ = sbi_load32(rw_w(rw, RW_OCCUPIED), __ATOMIC_ACQUIRE);
  int slot;
  for (slot = 0; slot < RW_SLOT_COUNT; slot++) {
    const uint32_t last = seen[slot];
    uint32_t pid;
    seen[slot] = 0;
    if ((occ & (1u << slot)) != 0) continue;
    /* Acquire: the claimant's pid (RW-SLOT-CLAIM), then its namespace (maybe still the previous claimant's). */
    pid = sbi_load32(rw_slot(rw, slot, RW_SLOT_PID), __ATOMIC_ACQUIRE);
    if (pid == 0 || pid == sbi_self()->pid) continue;
    if (sbi_holder_alive(pid, 0, sbi_load32(rw_slot(rw, slot, RW_SLOT_NS), __ATOMIC_RELAXED))) continue;
    if (last != pid) {
      seen[slot] = pid;
      continue;
    }
    /* RW-SLOT-CLAIM (seq_cst CAS pid -> 0): frees exactly the dead claimant's slot. */
    sbi_cas32(rw_slot(rw, slot, RW_SLOT_PID), &pid, 0);
  }
}

/* Does the calling thread hold a published read slot (other than `except`, -1 none)? Its index, or -1. */
static int rw_my_slot(const shmbus_rwlock* rw, int except) {
  const sbi_identity* me = sbi_self();
  const uint32_t tid = sbi_thread();
  /* Acquire: our own bits and identities. */
  const uint32_t occ = sbi_load32(rw_w(rw, RW_OCCUPIED), __ATOMIC_ACQUIRE);
  int slot;
  if (occ == 0) return -1;
  for (slot = 0; slot < RW_SLOT_COUNT; slot++) {
    if (slot != except && (occ & (1u << slot)) != 0 && sbi_load32(rw_slot(rw, slot, RW_SLOT_PID), __ATOMIC_RELAXED) == me->pid &&
        sbi_load32(rw_slot(rw, slot, RW_SLOT_THREAD), __ATOMIC_RELAXED) == tid &&
        rw_slot_start(rw, slot) == me->start &&
        sbi_load32(rw_slot(rw, slot, RW_SLOT_NS), __ATOMIC_RELAXED) == me->ns) {
      return slot;
    }
  }
  return -1;
}

/* The calling thread holds the write side: the mutex, with `writer` raised. */
static int rw_write_held_by_me(const shmbus_rwlock* rw) {
  /* Acquire: our own flag store is visible to us. */
  return sbi_mutex_held_by_me(rw_mutex(rw)) && sbi_load32(rw_w(rw, RW_WRITER), __ATOMIC_ACQUIRE) != 0;
}

/* The calling thread holds the lock exclusively through a read lock that took a dead writer over. */
static int rw_exclusive_by_me(const shmbus_rwlock* rw) {
  return __atomic_load_n(&rw->exclusive_tid, __ATOMIC_RELAXED) == sbi_thread() && rw_write_held_by_me(rw);
}

/* Lowers the flag, wakes waiting readers, releases the mutex (the writer's unlock and its undo). */
static void rw_end_write(shmbus_rwlock* rw) {
  uint32_t old;
  __atomic_store_n(&rw->exclusive_tid, 0, __ATOMIC_RELAXED);
  /* SYNC RW-WRITER (release exchange -> 0, seq_cst here): publishes the writer's changes; the old value tells
     whether a reader announced itself (RW-WRITER-WAITERS) and may sleep. */
  old = sbi_xchg32(rw_w(rw, RW_WRITER), 0, __ATOMIC_SEQ_CST);
  if ((old & RW_WRITER_WAITERS) != 0) sbi_os_futex_wake(rw_w(rw, RW_WRITER), SBI_WAKE_ALL);
  sbi_mutex_unlock(rw_mutex(rw));
}

/* Raises the flag: SYNC RW-WRITER (seq_cst RMW, set bit 0; keeps a WAITERS bit left by readers of a dead
   writer): stops new readers; pairs with their load after RW-READ-ENTER (Dekker). */
static void rw_raise(shmbus_rwlock* rw) { __atomic_fetch_or(rw_w(rw, RW_WRITER), 1u, __ATOMIC_SEQ_CST); }

/* Write lock step 3 (holding the mutex, flag raised): wait until `occupied` is 0, releasing dead readers' holds
   at each liveness check. 0 or SHMBUS_ETIMEDOUT (the caller undoes). */
static int rw_drain(shmbus_rwlock* rw, int64_t deadline) {
  sync_rounds r;
  uint32_t* occ = rw_w(rw, RW_OCCUPIED);
  /* SYNC RW-READ-EXIT (seq_cst load of `occupied`): zero = every reader is done; pairs with their RMWs. */
  if (sbi_load32(occ, __ATOMIC_SEQ_CST) == 0) return SHMBUS_OK;
  sync_rounds_start(&r, deadline, rw->opts.liveness_ms);
  for (;;) {
    uint32_t v;
    int64_t ms;
    if (sync_rounds_due(&r) && rw_clean_dead_readers(rw) && sbi_load32(occ, __ATOMIC_SEQ_CST) == 0) return SHMBUS_OK;
    if ((ms = sync_rounds_sleep_ms(&r)) == 0) return SHMBUS_ETIMEDOUT;
    v = sbi_load32(occ, __ATOMIC_SEQ_CST); /* RW-READ-EXIT, as above */
    if (v == 0) return SHMBUS_OK;
    /* SYNC PARK (§3, state word): sleep while readers are inside, announced in `occupiedWaiters`. */
    sbi_park(occ, rw_w(rw, RW_OCC_WAITERS), v, ms);
    if (sbi_load32(occ, __ATOMIC_SEQ_CST) == 0) return SHMBUS_OK;
  }
}

/* ---- read side -------------------------------------------------------------------------------------------- */

enum { RW_WAIT_WRITER = 0, RW_WAIT_SLOT = 1 };
enum { RW_NONE = 0, RW_CLEAN = 1, RW_UPGRADED = 2 };

/* One read-lock call's state. */
typedef struct rw_reader {
  int blocking;       /* a blocking read lock: may pass a waiting writer when this thread already reads */
  int nested;         /* -1 not computed yet, else whether this thread already holds a read lock of this lock */
  int target;         /* what to sleep on after a failed attempt */
  int slot;           /* the slot taken */
  sbi_mutex_watch watch;
  uint32_t unpublished[RW_SLOT_COUNT];
} rw_reader;

/* Computed once per call, never counting the slot this very attempt just published (`fresh`, -1 none): that
   one is not a hold the thread had before, and counting it would let the reader pass a waiting writer. */
static int rw_nested(shmbus_rwlock* rw, rw_reader* rd, int fresh) {
  if (!rd->blocking) return 0;
  if (rd->nested < 0) rd->nested = rw_my_slot(rw, fresh) >= 0 || rw_exclusive_by_me(rw);
  return rd->nested;
}

/* With `writer` seen raised, at a liveness check: if the writer is dead (or the mutex is free), take the mutex;
   then a lowered flag means the writer had finished (RW_NONE after unlocking, retry), a raised one that it died:
   this reader becomes the writer (RW_UPGRADED). */
static int rw_take_over_writer(shmbus_rwlock* rw, rw_reader* rd) {
  int rec = 0;
  /* Relaxed probe of the mutex word: the try-lock's CASes decide. Marking the value as "busy for a whole
     interval" makes the try-lock judge its holder now (this is a due liveness check). */
  rd->watch.busy_value = sbi_load32(sbi_word(rw_mutex(rw), SBI_MUTEX_WORD), __ATOMIC_RELAXED);
  rd->watch.busy_since = INT64_MIN / 2;
  if (sbi_mutex_try_lock(rw_mutex(rw), rw->opts.liveness_ms, &rd->watch, &rec) != SHMBUS_OK) return -1;
  /* Acquire: holding the mutex, the flag is ours to judge. */
  if (sbi_load32(rw_w(rw, RW_WRITER), __ATOMIC_ACQUIRE) == 0) {
    sbi_mutex_unlock(rw_mutex(rw));
    return RW_NONE;
  }
  return RW_UPGRADED;
}

/* One read attempt: RW_CLEAN (a slot is held), RW_UPGRADED (took a dead writer's lock over), or RW_NONE. */
static int rw_read_attempt(shmbus_rwlock* rw, rw_reader* rd, int check) {
  int slot;
  /* SYNC RW-WRITER (acquire load): a lowered flag makes the last writer's changes visible. */
  if (sbi_load32(rw_w(rw, RW_WRITER), __ATOMIC_ACQUIRE) != 0 && !rw_nested(rw, rd, -1)) {
    int t;
    rd->target = RW_WAIT_WRITER;
    if (!check) return RW_NONE;
    t = rw_take_over_writer(rw, rd);
    if (t == RW_UPGRADED) return t;
    if (t < 0) return RW_NONE;
  }
  slot = rw_claim(rw);
  if (slot < 0) {
    if (check) {
      int rec = 0;
      rw_reclaim_unpublished(rw, rd->unpublished);
      /* Dead readers' holds are released only under the mutex, taken here only if free. */
      if (sbi_mutex_try_lock(rw_mutex(rw), rw->opts.liveness_ms, NULL, &rec) == SHMBUS_OK) {
        rw_clean_dead_readers(rw);
        sbi_mutex_unlock(rw_mutex(rw));
      }
    }
    rd->target = RW_WAIT_SLOT;
    return RW_NONE;
  }
  /* SYNC RW-READ-ENTER (seq_cst RMW, set bit): publishes the hold and its slot identity; pairs with the writer's
     load of `occupied` after raising `writer` (Dekker: one of the two sees the other). */
  __atomic_fetch_or(rw_w(rw, RW_OCCUPIED), 1u << slot, __ATOMIC_SEQ_CST);
  /* SYNC RW-WRITER (seq_cst load) after RW-READ-ENTER: a writer that raised the flag meanwhile wins. */
  if (sbi_load32(rw_w(rw, RW_WRITER), __ATOMIC_SEQ_CST) != 0 && !rw_nested(rw, rd, slot)) {
    rw_release(rw, slot);
    rd->target = RW_WAIT_WRITER;
    return RW_NONE;
  }
  rd->slot = slot;
  return RW_CLEAN;
}

/* Sleeps (at most ms) on what the last attempt waited for. */
static void rw_read_sleep(shmbus_rwlock* rw, const rw_reader* rd, int64_t ms) {
  uint32_t* writer = rw_w(rw, RW_WRITER);
  if (rd->target == RW_WAIT_WRITER) {
    /* Seq_cst probe for the CAS below. */
    uint32_t v = sbi_load32(writer, __ATOMIC_SEQ_CST);
    if (v == 0) return;
    /* SYNC RW-WRITER-WAITERS (seq_cst CAS v -> v|WAITERS): the write unlock's exchange returns the bit, and the
       futex re-checks the word, so no wake is lost. */
    if ((v & RW_WRITER_WAITERS) == 0 && !sbi_cas32(writer, &v, v | RW_WRITER_WAITERS)) return;
    sbi_park_sleep(writer, v | RW_WRITER_WAITERS, ms);
    return;
  }
  /* Every slot taken: sleep while `occupied` is full, announced in its sleepers word (§3 PARK, state word). */
  if (sbi_load32(rw_w(rw, RW_OCCUPIED), __ATOMIC_SEQ_CST) != RW_FULL) return;
  sbi_park(rw_w(rw, RW_OCCUPIED), rw_w(rw, RW_OCC_WAITERS), RW_FULL, ms);
}

typedef struct rw_spin_ctx {
  shmbus_rwlock* rw;
  rw_reader* rd;
  int got;
} rw_spin_ctx;

static int rw_spin_read(void* ctx) {
  rw_spin_ctx* c = SBI_CAST(rw_spin_ctx*, ctx);
  /* Relaxed polling read of the flag; the attempt re-checks with the synchronising loads. */
  if (sbi_load32(rw_w(c->rw, RW_WRITER), __ATOMIC_RELAXED) != 0) return 0;
  c->got = rw_read_attempt(c->rw, c->rd, 0);
  return c->got != RW_NONE;
}

static void rw_reader_init(rw_reader* rd, int blocking) {
  memset(rd, 0, sizeof *rd);
  rd->blocking = blocking;
  rd->nested = -1;
  rd->slot = -1;
}

int shmbus_rwlock_read_lock(shmbus_rwlock* rw, int64_t timeout_ms, int* recovered) {
  rw_reader rd;
  rw_spin_ctx sc;
  sync_rounds r;
  int64_t deadline;
  int got;
  int rc;
  if (recovered != NULL) *recovered = 0;
  if (rw == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "rwlock is NULL");
  if ((rc = sync_check_timeout(timeout_ms)) != SHMBUS_OK) return rc;
  rw_reader_init(&rd, 1);
  if (rw_read_attempt(rw, &rd, 0) == RW_CLEAN) return SHMBUS_OK;
  if (rw_write_held_by_me(rw) && !rw_nested(rw, &rd, -1)) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "this thread holds the write lock: a read lock would deadlock");
  }
  sc.rw = rw;
  sc.rd = &rd;
  sc.got = RW_NONE;
  if (sync_spin(rw->opts.spin_us, rw_spin_read, &sc) && sc.got == RW_CLEAN) return SHMBUS_OK;
  deadline = sbi_deadline(timeout_ms);
  sync_rounds_start(&r, deadline, rw->opts.liveness_ms);
  for (;;) {
    int64_t ms;
    got = rw_read_attempt(rw, &rd, sync_rounds_due(&r));
    if (got != RW_NONE) break;
    if ((ms = sync_rounds_sleep_ms(&r)) == 0) {
      return sbi_fail(SHMBUS_ETIMEDOUT, "timed out after %lld ms waiting for a read lock", (long long)timeout_ms);
    }
    rw_read_sleep(rw, &rd, ms);
  }
  if (got == RW_CLEAN) return SHMBUS_OK;
  /* Took a dead writer's lock over: drain the readers as a writer does, then hold it alone. */
  if (rw_drain(rw, deadline) != SHMBUS_OK) {
    rw_end_write(rw);
    return sbi_fail(SHMBUS_ETIMEDOUT, "timed out after %lld ms waiting for readers to leave a recovered rwlock",
                    (long long)timeout_ms);
  }
  __atomic_store_n(&rw->exclusive_tid, sbi_thread(), __ATOMIC_RELAXED);
  if (recovered != NULL) *recovered = 1;
  return SHMBUS_OK;
}

int shmbus_rwlock_try_read_lock(shmbus_rwlock* rw, int* recovered) {
  rw_reader rd;
  if (recovered != NULL) *recovered = 0;
  if (rw == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "rwlock is NULL");
  /* A try respects a waiting writer, also when this thread already reads. */
  rw_reader_init(&rd, 0);
  return rw_read_attempt(rw, &rd, 0) == RW_CLEAN ? SHMBUS_OK : SHMBUS_EAGAIN;
}

int shmbus_rwlock_read_unlock(shmbus_rwlock* rw) {
  int slot;
  if (rw == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "rwlock is NULL");
  slot = rw_my_slot(rw, -1);
  if (slot >= 0) {
    rw_release(rw, slot);
    return SHMBUS_OK;
  }
  if (rw_exclusive_by_me(rw)) {
    rw_end_write(rw);
    return SHMBUS_OK;
  }
  return sbi_fail(SHMBUS_ENOT_OWNER, "this thread holds no read lock of this rwlock");
}

/* ---- write side ------------------------------------------------------------------------------------------- */

int shmbus_rwlock_write_lock(shmbus_rwlock* rw, int64_t timeout_ms, int* recovered) {
  int64_t deadline;
  int rec = 0;
  int rc;
  if (recovered != NULL) *recovered = 0;
  if (rw == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "rwlock is NULL");
  if ((rc = sync_check_timeout(timeout_ms)) != SHMBUS_OK) return rc;
  if (rw_my_slot(rw, -1) >= 0) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "this thread holds a read lock: a write lock would deadlock");
  }
  deadline = sbi_deadline(timeout_ms);
  /* Step 1: the mutex (its recovery is the write lock's; it refuses a re-lock by its holding thread). */
  rc = sbi_mutex_lock_spin(rw_mutex(rw), timeout_ms, rw->opts.liveness_ms, rw->opts.spin_us, &rec);
  if (rc != SHMBUS_OK) return rc;
  rw_raise(rw);
  if (rw_drain(rw, deadline) != SHMBUS_OK) {
    rw_end_write(rw);
    return sbi_fail(SHMBUS_ETIMEDOUT, "timed out after %lld ms waiting for readers to leave an rwlock",
                    (long long)timeout_ms);
  }
  if (recovered != NULL) *recovered = rec;
  return SHMBUS_OK;
}

int shmbus_rwlock_try_write_lock(shmbus_rwlock* rw, int* recovered) {
  uint32_t idle = 0;
  sbi_mutex_watch* watch = NULL;
  int rec = 0;
  int rc;
  if (recovered != NULL) *recovered = 0;
  if (rw == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "rwlock is NULL");
  /* The handle's busy memory serves one thread at a time; another thread's concurrent try goes without it
     (seq_cst CAS on a process-local flag). */
  if (sbi_cas32(&rw->try_busy, &idle, 1)) watch = &rw->try_watch;
  rc = sbi_mutex_try_lock(rw_mutex(rw), rw->opts.liveness_ms, watch, &rec);
  /* Release store: hands the busy memory, updated above, to the next thread that claims it. */
  if (watch != NULL) sbi_store32(&rw->try_busy, 0, __ATOMIC_RELEASE);
  if (rc != SHMBUS_OK) return rc;
  rw_raise(rw);
  /* SYNC RW-READ-EXIT (seq_cst load): nobody reads. */
  if (sbi_load32(rw_w(rw, RW_OCCUPIED), __ATOMIC_SEQ_CST) != 0) {
    rw_end_write(rw);
    return SHMBUS_EAGAIN;
  }
  if (recovered != NULL) *recovered = rec;
  return SHMBUS_OK;
}

int shmbus_rwlock_write_unlock(shmbus_rwlock* rw) {
  if (rw == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "rwlock is NULL");
  if (!rw_write_held_by_me(rw)) return sbi_fail(SHMBUS_ENOT_OWNER, "this thread does not hold the write lock");
  rw_end_write(rw);
  return SHMBUS_OK;
}

int shmbus_rwlock_is_write_locked_by_me(const shmbus_rwlock* rw) { return rw != NULL && rw_write_held_by_me(rw); }

/* ---- handles ---------------------------------------------------------------------------------------------- */

static int rw_wrap(shmbus_segment* owned, uint8_t* block, const sbi_sync_opts* o, shmbus_rwlock** out) {
  shmbus_rwlock* rw = SBI_CAST(shmbus_rwlock*, calloc(1, sizeof *rw));
  if (rw == NULL) {
    sbi_segment_close(owned);
    return sbi_fail(SHMBUS_EOS, "out of memory for an rwlock handle");
  }
  rw->owned = owned;
  rw->block = block;
  rw->opts = *o;
  *out = rw;
  return SHMBUS_OK;
}

int shmbus_rwlock_create(const char* name, shmbus_rwlock** out) { return shmbus_rwlock_create_ex(name, NULL, out); }

int shmbus_rwlock_create_ex(const char* name, const shmbus_sync_options* opts, shmbus_rwlock** out) {
  static const uint32_t no_params[SHMBUS_PARAMS_COUNT] = {0};
  sbi_sync_opts o;
  shmbus_segment* seg = NULL;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out is NULL");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  /* All-zero bytes are a free rwlock: no init. */
  rc = sbi_segment_create(name, SHMBUS_KIND_RWLOCK, no_params, SHMBUS_RWLOCK_SIZE, o.mode, NULL, NULL, &seg);
  if (rc != SHMBUS_OK) return rc;
  return rw_wrap(seg, seg->payload, &o, out);
}

int shmbus_rwlock_open(const char* name, shmbus_rwlock** out) { return shmbus_rwlock_open_ex(name, NULL, out); }

int shmbus_rwlock_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_rwlock** out) {
  sbi_sync_opts o;
  shmbus_segment* seg = NULL;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out is NULL");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  rc = sync_open_named(name, SHMBUS_KIND_RWLOCK, SHMBUS_RWLOCK_SIZE, &o, "rwlock", &seg);
  if (rc != SHMBUS_OK) return rc;
  return rw_wrap(seg, seg->payload, &o, out);
}

int shmbus_rwlock_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts,
                        shmbus_rwlock** out) {
  sbi_sync_opts o;
  int rc;
  if (seg == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "segment and out are required");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  if ((rc = sync_check_embed(seg, byte_offset, SHMBUS_RWLOCK_SIZE, "rwlock")) != SHMBUS_OK) return rc;
  return rw_wrap(NULL, seg->payload + byte_offset, &o, out);
}

void shmbus_rwlock_close(shmbus_rwlock* rw) {
  if (rw == NULL) return;
  sbi_segment_close(rw->owned);
  free(rw);
}

int shmbus_rwlock_unlink(const char* name) { return shmbus_segment_unlink(name); }
