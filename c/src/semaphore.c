/*
 * semaphore.c: a robust counting semaphore shared by processes (PROTOCOL §4.3). A Mutex guards a small ledger:
 * the free units (`value`, the futex word sleepers wait on) and, per holding process, the units it holds. A
 * waiter that finds a holder dead returns its units. The ledger mutex is held for a few instructions only.
 * This peer runs the ledger mutex as a plain §4.1 Mutex (identity cleared on unlock), which §4.3 allows: it is
 * compatible with the ledger mode of other peers and costs two stores more.
 */
#include "internal.h"
#include "sync_rounds.h"

#include <stdlib.h>

#define SEMA_MUTEX 0
#define SEMA_VALUE 32
#define SEMA_WAITERS 36
#define SEMA_TOTAL 40
#define SEMA_FLAGS 44
#define SEMA_UNTRACKED 48
#define SEMA_SLOTS 64
#define SEMA_SLOT_COUNT 32
#define SEMA_SLOT_SIZE 32
#define SEMA_SLOT_PID 0
#define SEMA_SLOT_HELD 4
#define SEMA_SLOT_START 8
#define SEMA_SLOT_NS 16
#define SEMA_FLAG_UNTRACKED 1u
#define SEMA_VALUE_MAX 0x7FFFFFFFu

struct shmbus_semaphore {
  shmbus_segment* owned; /* the named form's segment, NULL when embedded */
  uint8_t* block;
  sbi_sync_opts opts;
  int hint;              /* this process's slot last time (read and written only under the ledger mutex) */
  int64_t last_sweep;    /* try_acquire's last sweep (ns; relaxed atomics: threads may share the handle) */
};

/* The ledger is read and written under its mutex (MUTEX-ACQUIRE/RELEASE order it), through relaxed atomics:
   other processes may be buggy, and sleepers read `value` without the mutex. */
static uint32_t* sem_w(const shmbus_semaphore* s, size_t off) { return sbi_word(s->block, off); }
static uint32_t* sem_slot(const shmbus_semaphore* s, int slot, size_t field) {
  return sbi_word(s->block, SEMA_SLOTS + (size_t)slot * SEMA_SLOT_SIZE + field);
}
static uint32_t sem_get(uint32_t* p) { return sbi_load32(p, __ATOMIC_RELAXED); }
static void sem_put(uint32_t* p, uint32_t v) { sbi_store32(p, v, __ATOMIC_RELAXED); }

static uint64_t sem_slot_start(const shmbus_semaphore* s, int slot) {
  return (uint64_t)sem_get(sem_slot(s, slot, SEMA_SLOT_START + 4)) << 32 | sem_get(sem_slot(s, slot, SEMA_SLOT_START));
}

static int sem_is_mine(const shmbus_semaphore* s, int slot) {
  const sbi_identity* me = sbi_self();
  return sem_get(sem_slot(s, slot, SEMA_SLOT_PID)) == me->pid && sem_slot_start(s, slot) == me->start &&
         sem_get(sem_slot(s, slot, SEMA_SLOT_NS)) == me->ns;
}

/* This process's slot: found, or claimed when `claim`; -1 when untracked or every slot holds units. */
static int sem_my_slot(shmbus_semaphore* s, int claim) {
  const sbi_identity* me = sbi_self();
  int slot;
  int free_slot = -1;
  /* Flags are written once by the creator before publishing (SYNC READY). */
  if ((sem_get(sem_w(s, SEMA_FLAGS)) & SEMA_FLAG_UNTRACKED) != 0) return -1;
  if (s->hint >= 0 && s->hint < SEMA_SLOT_COUNT && sem_is_mine(s, s->hint)) return s->hint;
  for (slot = 0; slot < SEMA_SLOT_COUNT; slot++) {
    if (sem_is_mine(s, slot)) return s->hint = slot;
    /* A slot holding nothing may be reused by anyone: its process claims another when it next acquires. */
    if (free_slot < 0 && sem_get(sem_slot(s, slot, SEMA_SLOT_HELD)) == 0) free_slot = slot;
  }
  if (!claim || free_slot < 0) return -1;
  sem_put(sem_slot(s, free_slot, SEMA_SLOT_START), (uint32_t)me->start);
  sem_put(sem_slot(s, free_slot, SEMA_SLOT_START + 4), (uint32_t)(me->start >> 32));
  sem_put(sem_slot(s, free_slot, SEMA_SLOT_NS), me->ns);
  sem_put(sem_slot(s, free_slot, SEMA_SLOT_HELD), 0);
  sem_put(sem_slot(s, free_slot, SEMA_SLOT_PID), me->pid);
  return s->hint = free_slot;
}

/* Sweep: returns dead holders' units to `value`; how many came back. */
static uint32_t sem_sweep(shmbus_semaphore* s) {
  uint64_t returned = 0;
  int slot;
  for (slot = 0; slot < SEMA_SLOT_COUNT; slot++) {
    const uint32_t pid = sem_get(sem_slot(s, slot, SEMA_SLOT_PID));
    const uint32_t held = sem_get(sem_slot(s, slot, SEMA_SLOT_HELD));
    if (pid == 0 || held == 0 || sem_is_mine(s, slot)) continue;
    if (sbi_holder_alive(pid, sem_slot_start(s, slot), sem_get(sem_slot(s, slot, SEMA_SLOT_NS)))) continue;
    returned += held;
    sem_put(sem_slot(s, slot, SEMA_SLOT_HELD), 0);
    sem_put(sem_slot(s, slot, SEMA_SLOT_PID), 0);
  }
  if (returned > 0) {
    uint64_t v = (uint64_t)sem_get(sem_w(s, SEMA_VALUE)) + returned;
    /* SYNC SEM-VALUE (seq_cst store under the ledger mutex): the returned units become free. */
    sbi_store32(sem_w(s, SEMA_VALUE), v > SEMA_VALUE_MAX ? SEMA_VALUE_MAX : (uint32_t)v, __ATOMIC_SEQ_CST);
  }
  return returned > SEMA_VALUE_MAX ? SEMA_VALUE_MAX : (uint32_t)returned;
}

/* Repair after taking the ledger over from a dead process: sweep, then recount value from total and holdings. */
static void sem_repair(shmbus_semaphore* s) {
  uint64_t held;
  uint32_t total;
  int slot;
  sem_sweep(s);
  held = sem_get(sem_w(s, SEMA_UNTRACKED));
  for (slot = 0; slot < SEMA_SLOT_COUNT; slot++) {
    if (sem_get(sem_slot(s, slot, SEMA_SLOT_PID)) != 0) held += sem_get(sem_slot(s, slot, SEMA_SLOT_HELD));
  }
  total = sem_get(sem_w(s, SEMA_TOTAL));
  if (held > total) {
    total = held > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)held;
    sem_put(sem_w(s, SEMA_TOTAL), total);
  }
  held = total - held > SEMA_VALUE_MAX ? SEMA_VALUE_MAX : total - held;
  /* SYNC SEM-VALUE (seq_cst store under the ledger mutex): the recount. */
  sbi_store32(sem_w(s, SEMA_VALUE), (uint32_t)held, __ATOMIC_SEQ_CST);
}

/* Locks the ledger (repairing it when taken over from the dead). *recovered = 1 after a repair. */
static int sem_enter(shmbus_semaphore* s, int64_t timeout_ms, int* recovered) {
  int taken_over = 0;
  int rc = sbi_mutex_lock_spin((s->block + SEMA_MUTEX), timeout_ms, s->opts.liveness_ms, s->opts.spin_us,
                               &taken_over);
  if (rc != SHMBUS_OK) return rc;
  if (taken_over) sem_repair(s);
  *recovered = taken_over;
  return SHMBUS_OK;
}

/* Unlocks the ledger; `surplus` units came back from the dead beyond the one taken: wake sleepers to take them. */
static void sem_leave(shmbus_semaphore* s, int surplus) {
  sbi_mutex_unlock((s->block + SEMA_MUTEX));
  /* SYNC SEM-VALUE (§3 waker after the seq_cst store of value in sem_sweep/sem_repair). */
  if (surplus) sbi_wake_sleepers(sem_w(s, SEMA_VALUE), sem_w(s, SEMA_WAITERS));
}

/* Under the ledger mutex: takes one unit if there is one, after a sweep when `sweep`. 1 taken, 0 none.
   *recovered: units came back from the dead (or the ledger was repaired) in this call. *surplus: units remain
   free after such a return (sleepers to wake). */
static int sem_acquire_locked(shmbus_semaphore* s, int sweep, int* recovered, int* surplus) {
  uint32_t v;
  int slot;
  if (sweep && sem_sweep(s) > 0) *recovered = 1;
  v = sem_get(sem_w(s, SEMA_VALUE));
  if (v == 0) return 0;
  /* Record the holding before taking the unit: a death in between is repaired by the recount. */
  slot = sem_my_slot(s, 1);
  if (slot >= 0) sem_put(sem_slot(s, slot, SEMA_SLOT_HELD), sem_get(sem_slot(s, slot, SEMA_SLOT_HELD)) + 1);
  else sem_put(sem_w(s, SEMA_UNTRACKED), sem_get(sem_w(s, SEMA_UNTRACKED)) + 1);
  /* SEM-VALUE, one unit fewer: relaxed store under the ledger mutex (its release orders it); sleepers only wait
     for value to rise, and an aligned u32 store is never torn. */
  sem_put(sem_w(s, SEMA_VALUE), v - 1);
  *surplus = *recovered && v - 1 > 0;
  return 1;
}

static void sem_layout(uint8_t* block, uint32_t initial, unsigned flags) {
  /* Plain initialisation before the segment is published (SYNC READY orders it). */
  sbi_store32(sbi_word(block, SEMA_TOTAL), initial, __ATOMIC_RELAXED);
  sbi_store32(sbi_word(block, SEMA_FLAGS), (flags & SHMBUS_SEMAPHORE_UNTRACKED) ? SEMA_FLAG_UNTRACKED : 0u,
              __ATOMIC_RELAXED);
  sbi_store32(sbi_word(block, SEMA_VALUE), initial, __ATOMIC_RELAXED);
}

typedef struct sem_init_ctx {
  uint32_t initial;
  unsigned flags;
} sem_init_ctx;

static int sem_init_payload(uint8_t* payload, size_t size, void* ctx) {
  const sem_init_ctx* c = SBI_CAST(const sem_init_ctx*, ctx);
  (void)size;
  sem_layout(payload, c->initial, c->flags);
  return SHMBUS_OK;
}

static int sem_check_init(uint32_t initial, unsigned flags) {
  if (initial > SEMA_VALUE_MAX) return sbi_fail(SHMBUS_EINVAL_ARG, "initial %u: an integer from 0 to 2^31-1", initial);
  if ((flags & ~(unsigned)SHMBUS_SEMAPHORE_UNTRACKED) != 0) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "semaphore flags 0x%x: only SHMBUS_SEMAPHORE_UNTRACKED", flags);
  }
  return SHMBUS_OK;
}

static int sem_wrap(shmbus_segment* owned, uint8_t* block, const sbi_sync_opts* o, shmbus_semaphore** out) {
  shmbus_semaphore* s = SBI_CAST(shmbus_semaphore*, calloc(1, sizeof *s));
  if (s == NULL) {
    sbi_segment_close(owned);
    return sbi_fail(SHMBUS_EOS, "out of memory for a semaphore handle");
  }
  s->owned = owned;
  s->block = block;
  s->opts = *o;
  s->hint = -1;
  *out = s;
  return SHMBUS_OK;
}

int shmbus_semaphore_create(const char* name, uint32_t initial, shmbus_semaphore** out) {
  return shmbus_semaphore_create_ex(name, initial, 0, NULL, out);
}

int shmbus_semaphore_create_ex(const char* name, uint32_t initial, unsigned flags, const shmbus_sync_options* opts,
                               shmbus_semaphore** out) {
  static const uint32_t no_params[SHMBUS_PARAMS_COUNT] = {0};
  sbi_sync_opts o;
  sem_init_ctx ctx;
  shmbus_segment* seg = NULL;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out is NULL");
  if ((rc = sem_check_init(initial, flags)) != SHMBUS_OK || (rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  ctx.initial = initial;
  ctx.flags = flags;
  rc = sbi_segment_create(name, SHMBUS_KIND_SEMAPHORE, no_params, SHMBUS_SEMAPHORE_SIZE, o.mode, sem_init_payload,
                          &ctx, &seg);
  if (rc != SHMBUS_OK) return rc;
  return sem_wrap(seg, seg->payload, &o, out);
}

int shmbus_semaphore_open(const char* name, shmbus_semaphore** out) {
  return shmbus_semaphore_open_ex(name, NULL, out);
}

int shmbus_semaphore_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_semaphore** out) {
  sbi_sync_opts o;
  shmbus_segment* seg = NULL;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out is NULL");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  rc = sync_open_named(name, SHMBUS_KIND_SEMAPHORE, SHMBUS_SEMAPHORE_SIZE, &o, "semaphore", &seg);
  if (rc != SHMBUS_OK) return rc;
  return sem_wrap(seg, seg->payload, &o, out);
}

int shmbus_semaphore_init(shmbus_segment* seg, size_t byte_offset, uint32_t initial, unsigned flags) {
  int rc;
  if (seg == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "segment is NULL");
  if ((rc = sem_check_init(initial, flags)) != SHMBUS_OK) return rc;
  if ((rc = sync_check_embed(seg, byte_offset, SHMBUS_SEMAPHORE_SIZE, "semaphore")) != SHMBUS_OK) return rc;
  sem_layout(seg->payload + byte_offset, initial, flags);
  return SHMBUS_OK;
}

int shmbus_semaphore_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts,
                           shmbus_semaphore** out) {
  sbi_sync_opts o;
  int rc;
  if (seg == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "segment and out are required");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  if ((rc = sync_check_embed(seg, byte_offset, SHMBUS_SEMAPHORE_SIZE, "semaphore")) != SHMBUS_OK) return rc;
  return sem_wrap(NULL, seg->payload + byte_offset, &o, out);
}

/* try_acquire sweeps at most once per liveness interval per handle, and only when no unit is free. */
static int sem_try_sweep_due(shmbus_semaphore* s) {
  const int64_t now = sbi_os_now_ns();
  /* Relaxed: only rate-limits sweeps; the CAS lets one thread of those sharing the handle claim the turn. */
  int64_t last = __atomic_load_n(&s->last_sweep, __ATOMIC_RELAXED);
  if (now - last < (int64_t)s->opts.liveness_ms * 1000000) return 0;
  return __atomic_compare_exchange_n(&s->last_sweep, &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED) ? 1 : 0;
}

/* One round: lock the ledger (waiting at most timeout_ms), take a unit. 1 taken, 0 none, or a negative code. */
static int sem_round(shmbus_semaphore* s, int64_t timeout_ms, int sweep, int try_sweep, int* recovered) {
  int surplus = 0;
  int got;
  int rc = sem_enter(s, timeout_ms, recovered);
  if (rc != SHMBUS_OK) return rc;
  /* Relaxed read under the ledger mutex: only decides whether try_acquire sweeps. */
  if (try_sweep && sem_get(sem_w(s, SEMA_VALUE)) == 0 && sem_try_sweep_due(s)) sweep = 1;
  got = sem_acquire_locked(s, sweep, recovered, &surplus);
  sem_leave(s, surplus);
  return got;
}

/* How long a call that must not wait (try_acquire, acquire with timeout 0) waits for the ledger mutex: it is held
   for a few instructions, or its holder died and is taken over after one liveness interval; a ledger wedged beyond
   that (a dead holder in another pid namespace) makes the call fail instead of hanging (Node waits forever). */
static int64_t sem_ledger_patience(const shmbus_semaphore* s) { return 2 * (int64_t)s->opts.liveness_ms + 1; }

int shmbus_semaphore_try_acquire(shmbus_semaphore* s, int* recovered) {
  int rec = 0;
  int rc;
  if (recovered != NULL) *recovered = 0;
  if (s == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "semaphore is NULL");
  rc = sem_round(s, sem_ledger_patience(s), 0, 1, &rec);
  if (rc == SHMBUS_ETIMEDOUT) return sbi_fail(SHMBUS_EAGAIN, "the semaphore's ledger stayed locked");
  if (rc < 0) return rc;
  if (rc == 0) return SHMBUS_EAGAIN;
  if (recovered != NULL) *recovered = rec;
  return SHMBUS_OK;
}

int shmbus_semaphore_acquire(shmbus_semaphore* s, int64_t timeout_ms, int* recovered) {
  sync_rounds r;
  int rec = 0;
  int rc;
  if (recovered != NULL) *recovered = 0;
  if (s == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "semaphore is NULL");
  if ((rc = sync_check_timeout(timeout_ms)) != SHMBUS_OK) return rc;
  sync_rounds_start(&r, sbi_deadline(timeout_ms), s->opts.liveness_ms);
  rc = sem_round(s, timeout_ms == 0 ? sem_ledger_patience(s) : timeout_ms, 0, 1, &rec);
  if (rc > 0) goto got;
  if (rc == SHMBUS_ETIMEDOUT) goto timeout;
  if (rc < 0) return rc;
  for (;;) {
    int64_t ms = sync_rounds_sleep_ms(&r);
    if (ms == 0) goto timeout;
    /* SYNC SEM-VALUE / PARK (§3, state word): announce in `waiters`, re-check value (seq_cst), sleep while 0.
       Bounded by the next liveness check: a value that went 0 -> 1 -> 0 may cost this sleeper its wake. */
    sbi_park(sem_w(s, SEMA_VALUE), sem_w(s, SEMA_WAITERS), 0, ms);
    rec = 0;
    rc = sem_round(s, sbi_left_ms(r.deadline), sync_rounds_due(&r), 0, &rec);
    if (rc > 0) goto got;
    if (rc == SHMBUS_ETIMEDOUT) goto timeout;
    if (rc < 0) return rc;
  }
got:
  if (recovered != NULL) *recovered = rec;
  return SHMBUS_OK;
timeout:
  return sbi_fail(SHMBUS_ETIMEDOUT, "timed out after %lld ms waiting for a unit of a semaphore",
                  (long long)timeout_ms);
}

int shmbus_semaphore_release(shmbus_semaphore* s, uint32_t n) {
  uint32_t v;
  uint32_t rest = n;
  int slot;
  int rec = 0;
  int rc;
  if (s == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "semaphore is NULL");
  if (n < 1 || n > SEMA_VALUE_MAX) return sbi_fail(SHMBUS_EINVAL_ARG, "release(n): n %u is not from 1 to 2^31-1", n);
  /* The ledger is held for a few instructions: a holder still alive after 100 liveness intervals is stopped or
     forged (as Node's Semaphore): ETIMEDOUT rather than a release that never returns. */
  if ((rc = sem_enter(s, (int64_t)s->opts.liveness_ms * 100, &rec)) != SHMBUS_OK) return rc;
  v = sem_get(sem_w(s, SEMA_VALUE));
  if ((uint64_t)v + n > SEMA_VALUE_MAX) {
    sem_leave(s, 0);
    return sbi_fail(SHMBUS_EINVAL_ARG, "releasing %u would take the semaphore past 2^31-1 units (value %u)", n, v);
  }
  slot = sem_my_slot(s, 0);
  if (slot >= 0) {
    const uint32_t held = sem_get(sem_slot(s, slot, SEMA_SLOT_HELD));
    const uint32_t k = rest < held ? rest : held;
    sem_put(sem_slot(s, slot, SEMA_SLOT_HELD), held - k);
    rest -= k;
  }
  if (rest > 0) {
    const uint32_t untracked = sem_get(sem_w(s, SEMA_UNTRACKED));
    const uint32_t k = rest < untracked ? rest : untracked;
    if (k > 0) sem_put(sem_w(s, SEMA_UNTRACKED), untracked - k);
    rest -= k;
  }
  /* Units nobody held (signalling) add to the total. */
  if (rest > 0) sem_put(sem_w(s, SEMA_TOTAL), sem_get(sem_w(s, SEMA_TOTAL)) + rest);
  /* SYNC SEM-VALUE (seq_cst store under the ledger mutex, then the waker's seq_cst load of `waiters`). */
  sbi_store32(sem_w(s, SEMA_VALUE), v + n, __ATOMIC_SEQ_CST);
  sbi_mutex_unlock((s->block + SEMA_MUTEX));
  /* SYNC PARK (§3 waker): every announced sleeper, whatever n. */
  sbi_wake_sleepers(sem_w(s, SEMA_VALUE), sem_w(s, SEMA_WAITERS));
  return SHMBUS_OK;
}

int shmbus_semaphore_value(const shmbus_semaphore* s) {
  uint32_t v;
  if (s == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "semaphore is NULL");
  /* Acquire load: a snapshot of SEM-VALUE. A corrupt word beyond 2^31-1 reads as the maximum. */
  v = sbi_load32(sbi_word(s->block, SEMA_VALUE), __ATOMIC_ACQUIRE);
  return v > SEMA_VALUE_MAX ? (int)SEMA_VALUE_MAX : (int)v;
}

void shmbus_semaphore_close(shmbus_semaphore* s) {
  if (s == NULL) return;
  sbi_segment_close(s->owned);
  free(s);
}

int shmbus_semaphore_unlink(const char* name) { return shmbus_segment_unlink(name); }
