/*
 * mutex.c: the robust process-shared mutex (PROTOCOL §4.1) and its public handle. The word holds the holder's
 * pid, so an uncontended lock is one CAS and an uncontended unlock one exchange: no system call. A waiter sleeps
 * in slices of liveness_ms and checks the holder between them; a dead holder's lock is taken over at once and the
 * taker is told recovered = 1.
 */
#include "internal.h"
#include "sync_rounds.h"

#include <stdlib.h>
#include <string.h>

/* The words of a 32-byte mutex block (8-aligned, so every u32 is aligned). */
static uint32_t* mx_word(uint8_t* m) { return sbi_word(m, SBI_MUTEX_WORD); }
static uint32_t* mx_owner(uint8_t* m) { return sbi_word(m, SBI_MUTEX_OWNER_PID); }
static uint32_t* mx_start_lo(uint8_t* m) { return sbi_word(m, SBI_MUTEX_OWNER_START); }
static uint32_t* mx_start_hi(uint8_t* m) { return sbi_word(m, SBI_MUTEX_OWNER_START + 4); }
static uint32_t* mx_thread(uint8_t* m) { return sbi_word(m, SBI_MUTEX_OWNER_THREAD); }
static uint32_t* mx_ns(uint8_t* m) { return sbi_word(m, SBI_MUTEX_OWNER_NS); }

/* Stores v unless the word already holds it: rewriting an unchanged companion would dirty the line for nothing.
   Relaxed: the release store of ownerPid (SYNC MUTEX-IDENTITY) publishes every companion. */
static void mx_store_if_changed(uint32_t* p, uint32_t v) {
  if (sbi_load32(p, __ATOMIC_RELAXED) != v) sbi_store32(p, v, __ATOMIC_RELAXED);
}

/* Step 5: the identity after a successful CAS, ownerPid last so that a matching pid vouches for the rest. */
static void mx_publish_identity(uint8_t* m) {
  const sbi_identity* me = sbi_self();
  mx_store_if_changed(mx_thread(m), sbi_thread());
  mx_store_if_changed(mx_start_lo(m), (uint32_t)me->start);
  mx_store_if_changed(mx_start_hi(m), (uint32_t)(me->start >> 32));
  mx_store_if_changed(mx_ns(m), me->ns);
  /* SYNC MUTEX-IDENTITY (release store of ownerPid): pairs with the acquire load in mx_holder_alive. */
  sbi_store32(mx_owner(m), me->pid, __ATOMIC_RELEASE);
}

/* SYNC MUTEX-ACQUIRE (seq_cst CAS, at least acquire): 0 -> desired; pairs with MUTEX-RELEASE. */
static int mx_take_free(uint8_t* m, uint32_t desired) {
  uint32_t expected = 0;
  return sbi_cas32(mx_word(m), &expected, desired);
}

/* ownerStart as its two u32 halves (low first), relaxed: read after the acquire load of ownerPid
   (SYNC MUTEX-IDENTITY) by checkers, or by the holder itself. */
static uint64_t mx_owner_start(uint8_t* m) {
  const uint32_t hi = sbi_load32(mx_start_hi(m), __ATOMIC_RELAXED);
  return (uint64_t)hi << 32 | sbi_load32(mx_start_lo(m), __ATOMIC_RELAXED);
}

/* Is the holder of word value v alive? *recorded receives ownerPid as read (the record the verdict is about). */
static int mx_holder_alive(uint8_t* m, uint32_t v, uint32_t* recorded) {
  const uint32_t pid = v & SBI_MUTEX_PID_MASK;
  /* SYNC MUTEX-IDENTITY (acquire load of ownerPid): a matching pid makes start and ns below the holder's own. */
  *recorded = sbi_load32(mx_owner(m), __ATOMIC_ACQUIRE);
  if (pid == 0) return 0; /* bits without a holder: corrupt, free to take over */
  /* ownerNs relaxed: ordered after the acquire load above. */
  if (*recorded == pid) return sbi_holder_alive(pid, mx_owner_start(m), sbi_load32(mx_ns(m), __ATOMIC_RELAXED));
  /* Incomplete identity: the pid alone (our own pid is another thread of ours between its CAS and stores). */
  return pid == sbi_self()->pid || sbi_holder_alive(pid, 0, 0);
}

/* A liveness check of word value v: 1 when this caller took the dead holder's lock over. The verdict on an
   incomplete identity counts only when the previous check of this waiter saw the same v incomplete (§4.0). */
static int mx_take_over_if_dead(uint8_t* m, uint32_t v, uint32_t* incomplete_seen) {
  const uint32_t pid = v & SBI_MUTEX_PID_MASK;
  uint32_t recorded;
  uint32_t expected;
  if (mx_holder_alive(m, v, &recorded)) return 0;
  if (recorded != pid && *incomplete_seen != v) {
    *incomplete_seen = v;
    return 0;
  }
  *incomplete_seen = 0;
  /* Clear the dead holder's own record (only that one: a record that is not v's holder's belongs to a newer live
     holder, or to nobody). SYNC MUTEX-IDENTITY (seq_cst CAS recorded -> 0, before MUTEX-RECOVER). */
  expected = recorded;
  if (recorded == pid && !sbi_cas32(mx_owner(m), &expected, 0)) return 0;
  /* SYNC MUTEX-RECOVER (seq_cst CAS, at least acquire): v -> me|WAITERS; only one recoverer wins. */
  expected = v;
  if (!sbi_cas32(mx_word(m), &expected, sbi_self()->pid | SBI_MUTEX_WAITERS)) return 0;
  /* Statistics only: relaxed, nobody synchronises on it. */
  sbi_add32(sbi_word(m, SBI_MUTEX_RECOVERIES), 1, __ATOMIC_RELAXED);
  return 1;
}

int sbi_mutex_held_by_me(const uint8_t* mutex) {
  uint8_t* m = SBI_CAST(uint8_t*, (void*)(uintptr_t)mutex);
  const sbi_identity* me = sbi_self();
  /* Relaxed reads suffice: only this thread could have written an identity that matches it. */
  return (sbi_load32(mx_word(m), __ATOMIC_RELAXED) & SBI_MUTEX_PID_MASK) == me->pid &&
         sbi_load32(mx_owner(m), __ATOMIC_RELAXED) == me->pid &&
         sbi_load32(mx_thread(m), __ATOMIC_RELAXED) == sbi_thread() && mx_owner_start(m) == me->start &&
         sbi_load32(mx_ns(m), __ATOMIC_RELAXED) == me->ns;
}

/* Step 2: re-read the word for spin_us and retry the fast path whenever it reads 0. */
static int mx_spin(uint8_t* m, int32_t spin_us) {
  int64_t start, until, now;
  uint32_t n = 0;
  if (spin_us <= 0) return 0;
  start = sbi_os_now_ns();
  until = start + (int64_t)spin_us * 1000;
  do {
    /* Polling read (relaxed): the CAS is the synchronising step. */
    if (sbi_load32(mx_word(m), __ATOMIC_RELAXED) == 0 && mx_take_free(m, sbi_self()->pid)) return 1;
    sbi_cpu_relax();
    now = sbi_os_now_ns();
    if ((++n & SBI_SPIN_YIELD_MASK) == 0) sbi_os_yield(now - start); /* a holder on this core can finish */
  } while (now < until);
  return 0;
}

/* A waiter that gives up may have consumed the one wake an unlock sent: pass it on. */
static void mx_give_up(uint8_t* m) {
  /* Probe (seq_cst load): only decides whether to pass a wake on. */
  const uint32_t v = sbi_load32(mx_word(m), __ATOMIC_SEQ_CST);
  if (v == 0 || (v & SBI_MUTEX_WAITERS) != 0) sbi_os_futex_wake(mx_word(m), 1);
}

/* Milliseconds to sleep: up to the next liveness check or the deadline, whichever comes first (at least 1). */
static int64_t mx_sleep_ms(int64_t next_check, int64_t left_ms) {
  int64_t until_check = (next_check - sbi_os_now_ns() + 999999) / 1000000;
  if (until_check < 1) until_check = 1;
  return left_ms >= 0 && left_ms < until_check ? left_ms : until_check;
}

/* Step 3: the contended loop. Returns 0 with *recovered set, or SHMBUS_ETIMEDOUT. */
static int mx_contend(uint8_t* m, int64_t deadline, uint32_t liveness_ms, int* recovered) {
  const uint32_t me = sbi_self()->pid;
  const int64_t interval = (int64_t)liveness_ms * 1000000;
  int64_t next_check = sbi_os_now_ns() + interval;
  uint32_t incomplete_seen = 0;
  for (;;) {
    /* Probe (relaxed): every decision below is made by a CAS. */
    uint32_t v = sbi_load32(mx_word(m), __ATOMIC_RELAXED);
    int64_t left;
    if (v == 0) {
      /* A waiter that slept keeps the WAITERS bit: others may still sleep. */
      if (mx_take_free(m, me | SBI_MUTEX_WAITERS)) return SHMBUS_OK;
      continue;
    }
    if ((v & SBI_MUTEX_WAITERS) == 0) {
      /* SYNC MUTEX-WAITERS (seq_cst CAS v -> v|WAITERS, before FUTEX_WAIT): the unlocker's exchange returns it. */
      sbi_cas32(mx_word(m), &v, v | SBI_MUTEX_WAITERS);
      continue;
    }
    if (sbi_os_now_ns() >= next_check) {
      next_check = sbi_os_now_ns() + interval;
      if (mx_take_over_if_dead(m, v, &incomplete_seen)) {
        *recovered = 1;
        return SHMBUS_OK;
      }
      continue;
    }
    left = sbi_left_ms(deadline);
    if (left == 0) {
      mx_give_up(m);
      return SHMBUS_ETIMEDOUT;
    }
    sbi_park_sleep(mx_word(m), v, mx_sleep_ms(next_check, left));
  }
}

int sbi_mutex_lock_spin(uint8_t* mutex, int64_t timeout_ms, uint32_t liveness_ms, int32_t spin_us, int* recovered) {
  const uint32_t me = sbi_self()->pid;
  int taken_over = 0;
  int rc;
  if (recovered != NULL) *recovered = 0;
  if (me > SBI_MUTEX_PID_MASK) return sbi_fail(SHMBUS_EOS, "pid %u does not fit the mutex word", me);
  if (!mx_take_free(mutex, me)) {
    /* The clock is read only here: the uncontended path stays one CAS, no clock call. */
    const int64_t deadline = sbi_deadline(timeout_ms);
    /* Step 4: this thread already holds it; waiting would never end. */
    if (sbi_mutex_held_by_me(mutex)) {
      return sbi_fail(SHMBUS_EINVAL_ARG, "this thread already holds the mutex: locking it again would deadlock");
    }
    if (!mx_spin(mutex, spin_us)) {
      rc = mx_contend(mutex, deadline, liveness_ms == 0 ? SHMBUS_DEFAULT_LIVENESS_MS : liveness_ms, &taken_over);
      if (rc != SHMBUS_OK) {
        /* Relaxed read: only for the message. */
        return sbi_fail(rc, "timed out after %lld ms waiting for a mutex held by process %u", (long long)timeout_ms,
                        sbi_load32(mx_word(mutex), __ATOMIC_RELAXED) & SBI_MUTEX_PID_MASK);
      }
    }
  }
  mx_publish_identity(mutex);
  if (recovered != NULL) *recovered = taken_over;
  return SHMBUS_OK;
}

int sbi_mutex_lock(uint8_t* mutex, int64_t timeout_ms, uint32_t liveness_ms, int* recovered) {
  return sbi_mutex_lock_spin(mutex, timeout_ms, liveness_ms, (int32_t)SHMBUS_DEFAULT_SPIN_US, recovered);
}

int sbi_mutex_try_lock(uint8_t* mutex, uint32_t liveness_ms, sbi_mutex_watch* watch, int* recovered) {
  const uint32_t me = sbi_self()->pid;
  int64_t now;
  uint32_t v;
  if (recovered != NULL) *recovered = 0;
  if (me > SBI_MUTEX_PID_MASK) return sbi_fail(SHMBUS_EOS, "pid %u does not fit the mutex word", me);
  if (mx_take_free(mutex, me)) goto taken;
  /* Probe (relaxed): the CASes decide. */
  v = sbi_load32(mx_word(mutex), __ATOMIC_RELAXED);
  if (v == 0) {
    if (mx_take_free(mutex, me)) goto taken;
    return SHMBUS_EAGAIN;
  }
  if (watch == NULL) return SHMBUS_EAGAIN;
  /* The same holder seen busy for a whole liveness interval by this handle is checked (and taken if dead). */
  now = sbi_os_now_ns();
  if (v != watch->busy_value || watch->busy_since == 0) {
    watch->busy_value = v;
    watch->busy_since = now;
    return SHMBUS_EAGAIN;
  }
  if (now - watch->busy_since < (int64_t)(liveness_ms == 0 ? SHMBUS_DEFAULT_LIVENESS_MS : liveness_ms) * 1000000) {
    return SHMBUS_EAGAIN;
  }
  watch->busy_since = now;
  if (!mx_take_over_if_dead(mutex, v, &watch->incomplete_seen)) return SHMBUS_EAGAIN;
  if (recovered != NULL) *recovered = 1;
taken:
  mx_publish_identity(mutex);
  return SHMBUS_OK;
}

int sbi_mutex_unlock(uint8_t* mutex) {
  uint32_t old;
  if (!sbi_mutex_held_by_me(mutex)) {
    return sbi_fail(SHMBUS_ENOT_OWNER, "this thread does not hold the mutex; only its owner may unlock it");
  }
  /* Identity first, so a later holder with the same pid number is never judged by this record.
     SYNC MUTEX-IDENTITY (relaxed store 0, ordered before the release exchange below). */
  sbi_store32(mx_owner(mutex), 0, __ATOMIC_RELAXED);
  /* SYNC MUTEX-RELEASE (seq_cst exchange -> 0, at least release): publishes the guarded writes; pairs with
     MUTEX-ACQUIRE; as an RMW it returns the WAITERS bit any waiter set (MUTEX-WAITERS). */
  old = sbi_xchg32(mx_word(mutex), 0, __ATOMIC_SEQ_CST);
  /* Only a set WAITERS bit costs a system call. */
  if ((old & SBI_MUTEX_WAITERS) != 0) sbi_os_futex_wake(mx_word(mutex), 1);
  return SHMBUS_OK;
}

/* ---- options ---------------------------------------------------------------------------------------------- */

#define SBI_SYNC_HAS(opts, field) \
  ((opts)->struct_size >= offsetof(shmbus_sync_options, field) + sizeof((opts)->field))

int sbi_sync_options(const shmbus_sync_options* in, sbi_sync_opts* out) {
  out->mode = SHMBUS_DEFAULT_MODE;
  out->open_timeout_ms = SHMBUS_DEFAULT_OPEN_TIMEOUT_MS;
  out->liveness_ms = SHMBUS_DEFAULT_LIVENESS_MS;
  out->spin_us = (int32_t)SHMBUS_DEFAULT_SPIN_US;
  if (in == NULL) return SHMBUS_OK;
  if (in->struct_size == 0) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "options need struct_size = sizeof(shmbus_sync_options)");
  }
  if (SBI_SYNC_HAS(in, mode) && sbi_check_mode(in->mode, &out->mode) != SHMBUS_OK) return SHMBUS_EINVAL_ARG;
  if (SBI_SYNC_HAS(in, open_timeout_ms) && in->open_timeout_ms != 0) {
    if (in->open_timeout_ms < -1) {
      return sbi_fail(SHMBUS_EINVAL_ARG, "open_timeout_ms %lld: use -1 (forever), 0 (default) or > 0",
                      (long long)in->open_timeout_ms);
    }
    out->open_timeout_ms = in->open_timeout_ms;
  }
  if (SBI_SYNC_HAS(in, liveness_ms) && sbi_liveness_option(in->liveness_ms, "options", &out->liveness_ms) != SHMBUS_OK) {
    return SHMBUS_EINVAL_ARG;
  }
  if (SBI_SYNC_HAS(in, spin_us) && in->spin_us != 0) out->spin_us = in->spin_us < 0 ? -1 : in->spin_us;
  return SHMBUS_OK;
}

/* ---- public handle ---------------------------------------------------------------------------------------- */

struct shmbus_mutex {
  shmbus_segment* owned; /* the named form's segment (closed with the handle), NULL when embedded */
  uint8_t* block;
  sbi_sync_opts opts;
  sbi_mutex_watch watch;
};

static int mutex_wrap(shmbus_segment* owned, uint8_t* block, const sbi_sync_opts* opts, shmbus_mutex** out) {
  shmbus_mutex* m = SBI_CAST(shmbus_mutex*, calloc(1, sizeof *m));
  if (m == NULL) {
    sbi_segment_close(owned);
    return sbi_fail(SHMBUS_EOS, "out of memory for a mutex handle");
  }
  m->owned = owned;
  m->block = block;
  m->opts = *opts;
  *out = m;
  return SHMBUS_OK;
}

int shmbus_mutex_create(const char* name, shmbus_mutex** out) { return shmbus_mutex_create_ex(name, NULL, out); }

int shmbus_mutex_create_ex(const char* name, const shmbus_sync_options* opts, shmbus_mutex** out) {
  static const uint32_t no_params[SHMBUS_PARAMS_COUNT] = {0};
  sbi_sync_opts o;
  shmbus_segment* seg = NULL;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out is NULL");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  /* All-zero bytes are an unlocked mutex: no init. */
  rc = sbi_segment_create(name, SHMBUS_KIND_MUTEX, no_params, SHMBUS_MUTEX_SIZE, o.mode, NULL, NULL, &seg);
  if (rc != SHMBUS_OK) return rc;
  return mutex_wrap(seg, seg->payload, &o, out);
}

int shmbus_mutex_open(const char* name, shmbus_mutex** out) { return shmbus_mutex_open_ex(name, NULL, out); }

int shmbus_mutex_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_mutex** out) {
  sbi_sync_opts o;
  shmbus_segment* seg = NULL;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out is NULL");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  rc = sync_open_named(name, SHMBUS_KIND_MUTEX, SHMBUS_MUTEX_SIZE, &o, "mutex", &seg);
  if (rc != SHMBUS_OK) return rc;
  return mutex_wrap(seg, seg->payload, &o, out);
}

int shmbus_mutex_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts, shmbus_mutex** out) {
  sbi_sync_opts o;
  int rc;
  if (seg == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "segment and out are required");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  if ((rc = sync_check_embed(seg, byte_offset, SHMBUS_MUTEX_SIZE, "mutex")) != SHMBUS_OK) return rc;
  return mutex_wrap(NULL, seg->payload + byte_offset, &o, out);
}

int shmbus_mutex_lock(shmbus_mutex* m, int64_t timeout_ms, int* recovered) {
  if (m == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "mutex is NULL");
  int rc = sync_check_timeout(timeout_ms);
  if (rc != SHMBUS_OK) return rc;
  return sbi_mutex_lock_spin(m->block, timeout_ms, m->opts.liveness_ms, m->opts.spin_us, recovered);
}

int shmbus_mutex_try_lock(shmbus_mutex* m, int* recovered) {
  if (m == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "mutex is NULL");
  return sbi_mutex_try_lock(m->block, m->opts.liveness_ms, &m->watch, recovered);
}

int shmbus_mutex_unlock(shmbus_mutex* m) {
  if (m == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "mutex is NULL");
  return sbi_mutex_unlock(m->block);
}

int shmbus_mutex_is_locked_by_me(const shmbus_mutex* m) { return m != NULL && sbi_mutex_held_by_me(m->block); }

void shmbus_mutex_close(shmbus_mutex* m) {
  if (m == NULL) return;
  sbi_segment_close(m->owned);
  free(m);
}

int shmbus_mutex_unlink(const char* name) { return shmbus_segment_unlink(name); }
