/*
 * sync_rounds.h: what the sync primitives share: for all four, the open, embed and timeout checks; for RwLock,
 * Semaphore and Event, the contended path as rounds (the Mutex has its own, c/src/mutex.c). Each round tries;
 * at most once per liveness interval the try may judge holders (a liveness check is "due"); otherwise the caller
 * sleeps for at most the time to the next check or the deadline, whichever comes first, and tries again. Every
 * sleep is bounded by the liveness interval (PROTOCOL §3: a state word may come back to the value a sleeper
 * expects, so a lost wake must cost a delay, never a hang).
 */
#ifndef SHMBUS_SYNC_ROUNDS_H
#define SHMBUS_SYNC_ROUNDS_H

#include "internal.h"

typedef struct sync_rounds {
  int64_t deadline;    /* sbi_deadline() of the call's timeout */
  int64_t interval;    /* liveness interval, ns */
  int64_t next_check;  /* when the next liveness check is due, ns */
} sync_rounds;

static inline void sync_rounds_start(sync_rounds* r, int64_t deadline, uint32_t liveness_ms) {
  r->deadline = deadline;
  r->interval = (int64_t)(liveness_ms == 0 ? SHMBUS_DEFAULT_LIVENESS_MS : liveness_ms) * 1000000;
  r->next_check = sbi_os_now_ns() + r->interval;
}

/* 1 when a liveness check is due now (then the next one is an interval away). */
static inline int sync_rounds_due(sync_rounds* r) {
  const int64_t now = sbi_os_now_ns();
  if (now < r->next_check) return 0;
  r->next_check = now + r->interval;
  return 1;
}

/* Milliseconds the caller may sleep before its next round (>= 1), or 0 when the deadline has passed. */
static inline int64_t sync_rounds_sleep_ms(const sync_rounds* r) {
  const int64_t left = sbi_left_ms(r->deadline);
  int64_t until_check;
  if (left == 0) return 0;
  until_check = (r->next_check - sbi_os_now_ns() + 999999) / 1000000;
  if (until_check < 1) until_check = 1;
  return left > 0 && left < until_check ? left : until_check;
}

/* Re-reads for up to spin_us microseconds while `ready(ctx)` is 0; returns its last answer. */
static inline int sync_spin(int32_t spin_us, int (*ready)(void* ctx), void* ctx) {
  int64_t start, until, now;
  uint32_t n = 0;
  if (spin_us <= 0) return 0;
  start = sbi_os_now_ns();
  until = start + (int64_t)spin_us * 1000;
  do {
    if (ready(ctx)) return 1;
    sbi_cpu_relax();
    now = sbi_os_now_ns();
    if ((++n & SBI_SPIN_YIELD_MASK) == 0) sbi_os_yield(now - start);
  } while (now < until);
  return 0;
}

/* Checks an embedded primitive's placement: `size` bytes at a multiple of SHMBUS_SYNC_ALIGN inside the payload. */
static inline int sync_check_embed(const shmbus_segment* seg, size_t off, size_t size, const char* what) {
  if (off % SHMBUS_SYNC_ALIGN != 0 || off > seg->payload_size || seg->payload_size - off < size ||
      ((uintptr_t)(seg->payload + off) % SHMBUS_SYNC_ALIGN) != 0) {
    return sbi_fail(SHMBUS_EINVAL_ARG,
                    "a %s needs %zu bytes at an offset that is a multiple of %d inside the %zu-byte payload "
                    "(got offset %zu)", what, size, SHMBUS_SYNC_ALIGN, seg->payload_size, off);
  }
  return SHMBUS_OK;
}

/* Opens the named segment of a primitive of `kind` whose block needs `size` payload bytes. */
static inline int sync_open_named(const char* name, uint16_t kind, size_t size, const sbi_sync_opts* o,
                                  const char* what, shmbus_segment** out) {
  shmbus_segment* seg = NULL;
  int rc = sbi_segment_open(name, kind, o->open_timeout_ms, &seg);
  if (rc != SHMBUS_OK) return rc;
  if (seg->payload_size < size) {
    rc = sbi_fail(SHMBUS_ESHM_CORRUPT, "%s \"%s\" has a %zu-byte payload, less than %zu", what, name,
                  seg->payload_size, size);
    sbi_segment_close(seg);
    return rc;
  }
  *out = seg;
  return SHMBUS_OK;
}

static inline int sync_check_timeout(int64_t timeout_ms) {
  if (timeout_ms < -1) return sbi_fail(SHMBUS_EINVAL_ARG, "timeout_ms %lld: use -1 or >= 0", (long long)timeout_ms);
  return SHMBUS_OK;
}

#endif /* SHMBUS_SYNC_ROUNDS_H */
