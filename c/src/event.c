/*
 * event.c: a process-shared event, manual-reset or auto-reset (PROTOCOL §4.4). One futex word holds the set bit
 * (bit 0) and a count of set() calls (bits 1-31): a manual set() releases every waiter present at that moment even
 * if reset() follows at once; an auto-reset set() is consumed by exactly one waiter. Nothing is held, so nothing
 * is recovered when a process dies.
 */
#include "internal.h"
#include "sync_rounds.h"

#include <stdlib.h>

#define EV_WORD 0
#define EV_WAITERS 4
#define EV_FLAGS 8
#define EV_SET 1u

struct shmbus_event {
  shmbus_segment* owned; /* the named form's segment, NULL when embedded */
  uint8_t* block;
  sbi_sync_opts opts;
};

static uint32_t* ev_word(const shmbus_event* e) { return sbi_word(e->block, EV_WORD); }
static uint32_t* ev_waiters(const shmbus_event* e) { return sbi_word(e->block, EV_WAITERS); }

/* Written once by the creator before the segment was published (SYNC READY), so relaxed is enough. */
static int ev_manual(const shmbus_event* e) {
  return (sbi_load32(sbi_word(e->block, EV_FLAGS), __ATOMIC_RELAXED) & SHMBUS_EVENT_MANUAL_RESET) != 0;
}

/* The word after one more set(): the count goes up (mod 2^31) and the set bit is on. */
static uint32_t ev_after_set(uint32_t v) { return ((((v >> 1) + 1) & 0x7FFFFFFFu) << 1) | EV_SET; }

/* Lays out an event block (before anyone uses it). */
static void ev_layout(uint8_t* block, unsigned flags) {
  /* Plain initialisation before the segment is published (SYNC READY orders it): relaxed stores. */
  sbi_store32(sbi_word(block, EV_FLAGS), (flags & SHMBUS_EVENT_MANUAL_RESET) ? 1u : 0u, __ATOMIC_RELAXED);
  sbi_store32(sbi_word(block, EV_WORD), (flags & SHMBUS_EVENT_SET) ? EV_SET : 0u, __ATOMIC_RELAXED);
}

static int ev_init_payload(uint8_t* payload, size_t size, void* ctx) {
  (void)size;
  ev_layout(payload, *SBI_CAST(const unsigned*, ctx));
  return SHMBUS_OK;
}

static int ev_check_flags(unsigned flags) {
  if ((flags & ~(unsigned)(SHMBUS_EVENT_MANUAL_RESET | SHMBUS_EVENT_SET)) != 0) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "event flags 0x%x: only SHMBUS_EVENT_MANUAL_RESET and SHMBUS_EVENT_SET",
                    flags);
  }
  return SHMBUS_OK;
}

static int ev_wrap(shmbus_segment* owned, uint8_t* block, const sbi_sync_opts* o, shmbus_event** out) {
  shmbus_event* e = SBI_CAST(shmbus_event*, calloc(1, sizeof *e));
  if (e == NULL) {
    sbi_segment_close(owned);
    return sbi_fail(SHMBUS_EOS, "out of memory for an event handle");
  }
  e->owned = owned;
  e->block = block;
  e->opts = *o;
  *out = e;
  return SHMBUS_OK;
}

int shmbus_event_create(const char* name, unsigned flags, shmbus_event** out) {
  return shmbus_event_create_ex(name, flags, NULL, out);
}

int shmbus_event_create_ex(const char* name, unsigned flags, const shmbus_sync_options* opts, shmbus_event** out) {
  static const uint32_t no_params[SHMBUS_PARAMS_COUNT] = {0};
  sbi_sync_opts o;
  shmbus_segment* seg = NULL;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out is NULL");
  if ((rc = ev_check_flags(flags)) != SHMBUS_OK || (rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  rc = sbi_segment_create(name, SHMBUS_KIND_EVENT, no_params, SHMBUS_EVENT_SIZE, o.mode, ev_init_payload, &flags,
                          &seg);
  if (rc != SHMBUS_OK) return rc;
  return ev_wrap(seg, seg->payload, &o, out);
}

int shmbus_event_open(const char* name, shmbus_event** out) { return shmbus_event_open_ex(name, NULL, out); }

int shmbus_event_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_event** out) {
  sbi_sync_opts o;
  shmbus_segment* seg = NULL;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out is NULL");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  if ((rc = sync_open_named(name, SHMBUS_KIND_EVENT, SHMBUS_EVENT_SIZE, &o, "event", &seg)) != SHMBUS_OK) return rc;
  return ev_wrap(seg, seg->payload, &o, out);
}

int shmbus_event_init(shmbus_segment* seg, size_t byte_offset, unsigned flags) {
  int rc;
  if (seg == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "segment is NULL");
  if ((rc = ev_check_flags(flags)) != SHMBUS_OK) return rc;
  if ((rc = sync_check_embed(seg, byte_offset, SHMBUS_EVENT_SIZE, "event")) != SHMBUS_OK) return rc;
  ev_layout(seg->payload + byte_offset, flags);
  return SHMBUS_OK;
}

int shmbus_event_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts, shmbus_event** out) {
  sbi_sync_opts o;
  int rc;
  if (seg == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "segment and out are required");
  if ((rc = sbi_sync_options(opts, &o)) != SHMBUS_OK) return rc;
  if ((rc = sync_check_embed(seg, byte_offset, SHMBUS_EVENT_SIZE, "event")) != SHMBUS_OK) return rc;
  return ev_wrap(NULL, seg->payload + byte_offset, &o, out);
}

int shmbus_event_set(shmbus_event* e) {
  uint32_t v;
  int manual;
  if (e == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "event is NULL");
  manual = ev_manual(e);
  /* Seq_cst load: the value the CAS below expects. */
  v = sbi_load32(ev_word(e), __ATOMIC_SEQ_CST);
  for (;;) {
    if (!manual && (v & EV_SET) != 0) return SHMBUS_OK; /* auto reset: the pending set is still there */
    /* SYNC EVENT-SET (seq_cst CAS): publishes what the setter wrote before; pairs with the waiters' loads. */
    if (sbi_cas32(ev_word(e), &v, ev_after_set(v))) break;
  }
  /* SYNC EVENT-SET then PARK (§3 waker, state word): wakes every announced sleeper (auto reset too: the one that
     wins EVENT-CONSUME proceeds, the others sleep again). */
  sbi_wake_sleepers(ev_word(e), ev_waiters(e));
  return SHMBUS_OK;
}

int shmbus_event_reset(shmbus_event* e) {
  uint32_t v;
  if (e == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "event is NULL");
  /* Seq_cst load for the CAS below. */
  v = sbi_load32(ev_word(e), __ATOMIC_SEQ_CST);
  /* Seq_cst CAS clearing bit 0 without losing a concurrent set()'s count. */
  while ((v & EV_SET) != 0 && !sbi_cas32(ev_word(e), &v, v & ~EV_SET)) {
  }
  return SHMBUS_OK;
}

int shmbus_event_is_set(const shmbus_event* e) {
  if (e == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "event is NULL");
  /* SYNC EVENT-SET (acquire load): a snapshot. */
  return (sbi_load32(ev_word(e), __ATOMIC_ACQUIRE) & EV_SET) != 0;
}

int shmbus_event_manual_reset(const shmbus_event* e) {
  if (e == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "event is NULL");
  return ev_manual(e);
}

/* One wait: the word seen at its start decides whether a manual set() happened since. */
typedef struct ev_waiter {
  uint32_t* word;
  uint32_t start;
  int manual;
} ev_waiter;

/* Manual: set now, or set() called since the wait began. Auto: consume the set bit. */
static int ev_attempt(void* ctx) {
  ev_waiter* w = SBI_CAST(ev_waiter*, ctx);
  /* SYNC EVENT-SET (acquire load): pairs with set()'s CAS; what the setter wrote before is visible after it. */
  uint32_t v = sbi_load32(w->word, __ATOMIC_ACQUIRE);
  if (w->manual) return (v & EV_SET) != 0 || (v >> 1) != (w->start >> 1);
  if ((v & EV_SET) == 0) return 0;
  /* SYNC EVENT-CONSUME (seq_cst CAS set -> clear): exactly one waiter takes an auto-reset set(). */
  return sbi_cas32(w->word, &v, v & ~EV_SET);
}

int shmbus_event_wait(shmbus_event* e, int64_t timeout_ms) {
  ev_waiter w;
  sync_rounds r;
  int rc;
  if (e == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "event is NULL");
  if ((rc = sync_check_timeout(timeout_ms)) != SHMBUS_OK) return rc;
  w.word = ev_word(e);
  w.manual = ev_manual(e);
  /* SYNC EVENT-SET (acquire load): the state this wait starts from. */
  w.start = sbi_load32(w.word, __ATOMIC_ACQUIRE);
  if (ev_attempt(&w) || sync_spin(e->opts.spin_us, ev_attempt, &w)) return SHMBUS_OK;
  sync_rounds_start(&r, sbi_deadline(timeout_ms), e->opts.liveness_ms);
  for (;;) {
    int64_t ms;
    uint32_t v;
    if (ev_attempt(&w)) return SHMBUS_OK;
    if ((ms = sync_rounds_sleep_ms(&r)) == 0) {
      /* Wakes go to all sleepers, so a waiter that leaves consumed nobody else's wake. */
      return sbi_fail(SHMBUS_ETIMEDOUT, "timed out after %lld ms waiting for an event", (long long)timeout_ms);
    }
    /* Seq_cst load: the value the futex compares; every set() changes the count bits, so the word never comes
       back to a value seen before a set (short of 2^31 sets). */
    v = sbi_load32(w.word, __ATOMIC_SEQ_CST);
    if ((v & EV_SET) != 0 || (w.manual && (v >> 1) != (w.start >> 1))) continue;
    /* SYNC PARK (§3, state word): announce in `waiters`, re-check, sleep at most to the next round. */
    sbi_park(w.word, ev_waiters(e), v, ms);
  }
}

void shmbus_event_close(shmbus_event* e) {
  if (e == NULL) return;
  sbi_segment_close(e->owned);
  free(e);
}

int shmbus_event_unlink(const char* name) { return shmbus_segment_unlink(name); }
