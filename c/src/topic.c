/*
 * Topic (PROTOCOL.md §5): a broadcast ring with overwrite. Publishers serialise on the robust Mutex at payload
 * offset 0 (or, single-publisher, one of them holds it from open to close); subscribers take no lock and keep a
 * private cursor. Everything read from the segment is bounds-checked before it is used: a record header is trusted
 * only once the tail says it was not being overwritten, and even then its size is checked against the ring.
 *
 * Memory model: every shared word is accessed through the GNU atomic builtins (relaxed where the protocol says
 * "plain": the seqlock-style re-checks and fences give the ordering); payload bytes are copied with memcpy while a
 * publisher may overwrite them (the seqlock pattern: the copy is discarded unless the tail re-check passes).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- layout (PROTOCOL §5.1): payload offsets */
#define TP_MUTEX 0u
#define TP_COMMIT 64u
#define TP_SLEEPERS 68u
#define TP_TAIL_VERSION 72u
#define TP_TAIL0 80u
#define TP_HEAD0 128u
#define TP_SLOT_SIZE 16u
#define TP_REGISTRY 192u
#define TP_REGISTRY_SLEEPERS 196u
#define TP_ENTRIES 256u
#define TP_ENTRY_COUNT 64
#define TP_ENTRY_SIZE 64u
#define TP_DATA 4352u
/* entry fields */
#define TE_OWNER 0u
#define TE_START 8u
#define TE_NS 16u
#define TE_NEXT_SEQ 24u
#define TE_LOST 32u
#define TE_PID_MASK 0x3FFFFFFFu
#define TE_ROLE_SHIFT 30
#define ROLE_PUBLISHER 1u
#define ROLE_SUBSCRIBER 2u
/* records (§5.2) */
#define REC_HDR 32u
#define REC_SIZE 0u
#define REC_FLAGS 4u
#define REC_SEQ 8u
#define REC_TS 16u
#define REC_ALIGN 8u
#define REC_PAD 1u
/* params (§5.1) */
#define P_CAP_LO 0
#define P_CAP_HI 1
#define P_MAX 2
#define P_DATA 3
#define P_FLAGS 4
#define FLAG_SINGLE 1u

/* Node refuses sequence numbers at or above 2^53 as tp_corrupt; so do we (one rule for every peer). */
#define MAX_SEQ ((uint64_t)1 << 53)
/* A consistent tail/head read retries while writers move; this many changes in a row means a broken segment. */
#define MAX_CURSOR_RETRIES 100000
/* A read tries this many laps of the writers before it gives up for this call (returns "nothing yet"). */
#define MAX_READ_ATTEMPTS 64
/* Largest ring accepted (as Node: 2^46 - data offset). */
#define MAX_CAPACITY (((uint64_t)1 << 46) - TP_DATA)

#define DEFAULT_SPIN_US 50u
#define DEFAULT_SUB_LIVENESS_MS 500u

/* ---- shared-memory accessors. u64 fields are 8-aligned (payload is 64-aligned, every u64 offset is a multiple
 * of 8), so one relaxed 64-bit access reads them; the protocol's ordering comes from the fences and version words. */
static inline uint32_t tp_ld32(const uint8_t *p) { return __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_RELAXED); }
static inline uint64_t tp_ld64(const uint8_t *p) { return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED); }
static inline void tp_st32(uint8_t *p, uint32_t v) { __atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED); }
static inline void tp_st64(uint8_t *p, uint64_t v) { __atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELAXED); }
static inline uint32_t *tp_w32(uint8_t *p) { return (uint32_t *)(void *)p; }

/* Payload copy that may race with a publisher overwriting the bytes (seqlock style: validated afterwards). */
#if defined(__SANITIZE_THREAD__)
__attribute__((no_sanitize_thread))
#endif
static void tp_racy_copy(void *dst, const void *src, size_t n) {
  memcpy(dst, src, n);
}

typedef struct tp_view {
  uint8_t *p;    /* payload */
  uint8_t *ring; /* p + TP_DATA */
  uint64_t cap;
  uint32_t max;
  const char *name;
} tp_view;

typedef struct tp_cursor {
  uint64_t write_seq, write_pos, tail_seq, tail_pos;
} tp_cursor;

struct shmbus_topic {
  shmbus_segment *seg;
  tp_view v;
  int single;
  int timestamps;
  int entry;
  uint32_t liveness_ms;
  /* the open loan (one per handle) */
  int loaned;
  uint64_t loan_seq, loan_at;
  int64_t loan_pad; /* ring offset of the pad, -1 when the record does not wrap */
  size_t loan_size;
};

struct shmbus_sub {
  shmbus_segment *seg;
  tp_view v;
  uint64_t seq, pos, lost, read;
  uint32_t idle; /* (seq - 1) mod 2^32: the commit value meaning "nothing new" */
  int entry;
  int saw_publisher;
  int scanned;
  uint32_t seen_registry;
  uint32_t publishers;
  uint64_t attach_head;
  uint32_t spin_us;
  uint32_t liveness_ms;
};

static uint64_t tp_record_size(uint64_t n) { return (REC_HDR + n + REC_ALIGN - 1) & ~(uint64_t)(REC_ALIGN - 1); }
static uint64_t tp_ring_distance(uint64_t from, uint64_t to, uint64_t cap) { return to >= from ? to - from : cap - from + to; }
static uint64_t tp_norm_pos(uint64_t pos, uint64_t cap) { return pos >= cap ? pos - cap : pos; }

static int tp_corrupt(const tp_view *v, const char *what) {
  return sbi_fail(SHMBUS_ESHM_CORRUPT, "topic \"%s\": %s; the segment is damaged, unlink and recreate it", v->name, what);
}

static int tp_params_valid(uint64_t cap, uint64_t max) {
  return cap > 0 && cap <= MAX_CAPACITY && cap % 64 == 0 && max >= 1 && max <= 0xFFFFFFFFu && 2 * tp_record_size(max) <= cap;
}

/* Checks a topic segment's parameters against its size (§5.1) and fills the view. */
static int tp_view_of(shmbus_segment *seg, tp_view *v) {
  const uint32_t *pr = seg->params;
  uint64_t cap = (uint64_t)pr[P_CAP_LO] | ((uint64_t)pr[P_CAP_HI] << 32);
  uint32_t max = pr[P_MAX];
  if (pr[P_DATA] != TP_DATA || (pr[P_FLAGS] & ~FLAG_SINGLE) != 0 || !tp_params_valid(cap, max) ||
      cap > seg->payload_size || TP_DATA > seg->payload_size - cap) {
    return sbi_fail(SHMBUS_ESHM_CORRUPT,
                    "topic \"%s\" has impossible parameters (capacity %llu, maxMessageSize %u, data offset %u, flags %u, payload %llu bytes)",
                    seg->name, (unsigned long long)cap, max, pr[P_DATA], pr[P_FLAGS], (unsigned long long)seg->payload_size);
  }
  v->p = seg->payload;
  v->ring = seg->payload + TP_DATA;
  v->cap = cap;
  v->max = max;
  v->name = seg->name;
  return 0;
}

/* ---- cursor (§5.5) */

static int tp_check_cursor(const tp_view *v, const tp_cursor *c) {
  if (c->write_seq >= MAX_SEQ || c->tail_seq < 1 || c->tail_seq > c->write_seq + 1 || c->write_pos >= v->cap ||
      c->tail_pos >= v->cap || (c->write_pos & (REC_ALIGN - 1)) != 0 || (c->tail_pos & (REC_ALIGN - 1)) != 0) {
    return tp_corrupt(v, "cursor out of range");
  }
  return 0;
}

/* The tail (seq and pos), consistent: version, slot, acquire fence, version again. */
static int tp_read_tail(const tp_view *v, uint64_t *seq, uint64_t *pos) {
  uint32_t *ver = tp_w32(v->p + TP_TAIL_VERSION);
  for (int i = 0; i < MAX_CURSOR_RETRIES; i++) {
    uint32_t t = sbi_load32(ver, __ATOMIC_ACQUIRE); /* SYNC TOPIC-TAIL (acquire): the slot it names is complete */
    const uint8_t *slot = v->p + TP_TAIL0 + (t & 1u) * TP_SLOT_SIZE;
    uint64_t s = tp_ld64(slot);
    uint64_t p = pos != NULL ? tp_ld64(slot + 8) : 0;
    sbi_fence_acquire(); /* SYNC TOPIC-TAIL: the slot loads complete before the re-check */
    if (sbi_load32(ver, __ATOMIC_ACQUIRE) != t) continue; /* SYNC TOPIC-TAIL (acquire re-check) */
    *seq = s;
    if (pos != NULL) *pos = p;
    return 0;
  }
  return tp_corrupt(v, "the tail version changed 100000 times in a row");
}

/* tailSeq alone, range-checked (the reader's per-message validation). */
static int tp_read_tail_seq(const tp_view *v, uint64_t *seq) {
  int r = tp_read_tail(v, seq, NULL);
  if (r != 0) return r;
  if (*seq < 1 || *seq >= MAX_SEQ) return tp_corrupt(v, "tailSeq out of range");
  return 0;
}

static int tp_read_head(const tp_view *v, uint64_t *seq, uint64_t *pos) {
  uint32_t *commit = tp_w32(v->p + TP_COMMIT);
  for (int i = 0; i < MAX_CURSOR_RETRIES; i++) {
    uint32_t c = sbi_load32(commit, __ATOMIC_ACQUIRE); /* SYNC TOPIC-COMMIT (acquire): the head slot it names is complete */
    const uint8_t *slot = v->p + TP_HEAD0 + (c & 1u) * TP_SLOT_SIZE;
    uint64_t s = tp_ld64(slot), p = tp_ld64(slot + 8);
    sbi_fence_acquire(); /* SYNC TOPIC-COMMIT: the slot loads complete before the re-check */
    if (sbi_load32(commit, __ATOMIC_ACQUIRE) != c) continue; /* SYNC TOPIC-COMMIT (acquire re-check) */
    if ((uint32_t)s != c) return tp_corrupt(v, "the head slot disagrees with the commit word");
    *seq = s;
    *pos = p;
    return 0;
  }
  return tp_corrupt(v, "the commit word changed 100000 times in a row");
}

/* Lock-free cursor read (subscribers): tail first, then head (the head only grows), then validate. */
static int tp_read_cursor(const tp_view *v, tp_cursor *c) {
  int r = tp_read_tail(v, &c->tail_seq, &c->tail_pos);
  if (r == 0) r = tp_read_head(v, &c->write_seq, &c->write_pos);
  if (r == 0) r = tp_check_cursor(v, c);
  return r;
}

/* The cursor as a writer holding the mutex sees it (nobody else writes these words meanwhile). */
static int tp_writer_cursor(const tp_view *v, tp_cursor *c) {
  uint32_t t = tp_ld32(v->p + TP_TAIL_VERSION);
  const uint8_t *tail = v->p + TP_TAIL0 + (t & 1u) * TP_SLOT_SIZE;
  c->tail_seq = tp_ld64(tail);
  c->tail_pos = tp_ld64(tail + 8);
  uint32_t cm = tp_ld32(v->p + TP_COMMIT);
  const uint8_t *head = v->p + TP_HEAD0 + (cm & 1u) * TP_SLOT_SIZE;
  c->write_seq = tp_ld64(head);
  c->write_pos = tp_ld64(head + 8);
  if ((uint32_t)c->write_seq != cm) return tp_corrupt(v, "the head slot disagrees with the commit word");
  return tp_check_cursor(v, c);
}

/* Writer: publishes a tail in the slot readers are not using, then flips the version to it. */
static void tp_publish_tail(const tp_view *v, uint64_t seq, uint64_t pos) {
  uint32_t t = tp_ld32(v->p + TP_TAIL_VERSION);
  uint8_t *slot = v->p + TP_TAIL0 + ((t + 1u) & 1u) * TP_SLOT_SIZE;
  tp_st64(slot, seq);
  tp_st64(slot + 8, pos);
  sbi_store32(tp_w32(v->p + TP_TAIL_VERSION), t + 1u, __ATOMIC_RELEASE); /* SYNC TOPIC-TAIL (release): publishes the slot */
}

/* Wrap rule (§5.2) at a record boundary pos (< cap): fewer than 32 bytes left, or a PAD there, means offset 0. */
static uint64_t tp_record_start(const tp_view *v, uint64_t pos) {
  if (v->cap - pos < REC_HDR) return 0;
  return (tp_ld32(v->ring + pos + REC_FLAGS) & REC_PAD) != 0 ? 0 : pos;
}

static int tp_header_sane(const tp_view *v, uint64_t at, uint32_t size, uint32_t flags, uint64_t seq, uint64_t want) {
  return flags == 0 && seq == want && size <= v->max && at + REC_HDR + size <= v->cap;
}

static void tp_init_ring(uint8_t *p) {
  /* A fresh topic (§5.1): tail[0] = {1, 0}, head[0] = {0, 0}, tailVersion 0, commit 0 (the payload is zeroed;
   * creator only, before READY publishes it). */
  tp_st64(p + TP_TAIL0, 1);
}

/* ---- registration (§5.8) */

static uint8_t *tp_entry_at(const tp_view *v, int e) { return v->p + TP_ENTRIES + (size_t)e * TP_ENTRY_SIZE; }

/* Bumps the registry word and wakes its sleepers (waitForSubscribers). */
static void tp_registry_bump(const tp_view *v) {
  uint32_t *reg = tp_w32(v->p + TP_REGISTRY);
  uint32_t old = sbi_add32(reg, 1, __ATOMIC_SEQ_CST); /* SYNC TOPIC-REGISTRY (seq_cst RMW), then the sleepers load in the wake */
  sbi_wake_counter(reg, tp_w32(v->p + TP_REGISTRY_SLEEPERS), old);
}

/* Frees entries whose owner is dead; returns how many. */
static int tp_registry_sweep(const tp_view *v) {
  int swept = 0;
  for (int e = 0; e < TP_ENTRY_COUNT; e++) {
    uint8_t *b = tp_entry_at(v, e);
    uint32_t owner = sbi_load32(tp_w32(b + TE_OWNER), __ATOMIC_ACQUIRE); /* SYNC TOPIC-REGISTRY (acquire): identity below complete */
    if (owner == 0) continue;
    uint64_t start = (owner >> TE_ROLE_SHIFT) != 0 ? tp_ld64(b + TE_START) : 0;
    if (sbi_holder_alive(owner & TE_PID_MASK, start, tp_ld32(b + TE_NS))) continue;
    uint32_t expected = owner;
    /* SYNC TOPIC-REGISTRY (seq_cst CAS from exactly the word judged: a claim meanwhile makes it fail) */
    if (sbi_cas32(tp_w32(b + TE_OWNER), &expected, 0)) swept++;
  }
  if (swept > 0) tp_registry_bump(v);
  return swept;
}

/* Claims a free entry in `role`; returns its index or -1 when every entry is live. */
static int tp_registry_register(const tp_view *v, uint32_t role, uint64_t next_seq) {
  const sbi_identity me = *sbi_self();
  for (int pass = 0; pass < 2; pass++) {
    for (int e = 0; e < TP_ENTRY_COUNT; e++) {
      uint8_t *b = tp_entry_at(v, e);
      if (sbi_load32(tp_w32(b + TE_OWNER), __ATOMIC_ACQUIRE) != 0) continue; /* SYNC TOPIC-REGISTRY (acquire) */
      uint32_t expected = 0;
      /* SYNC TOPIC-REGISTRY (seq_cst CAS owner 0 -> pid, role 0): ours until we free it */
      if (!sbi_cas32(tp_w32(b + TE_OWNER), &expected, me.pid & TE_PID_MASK)) continue;
      tp_st64(b + TE_START, me.start);
      tp_st32(b + TE_NS, me.ns);
      tp_st64(b + TE_NEXT_SEQ, next_seq);
      tp_st64(b + TE_LOST, 0);
      /* SYNC TOPIC-REGISTRY (release store of pid | role << 30): publishes the identity above */
      sbi_store32(tp_w32(b + TE_OWNER), (me.pid & TE_PID_MASK) | (role << TE_ROLE_SHIFT), __ATOMIC_RELEASE);
      tp_registry_bump(v);
      return e;
    }
    if (pass == 0 && tp_registry_sweep(v) == 0) break;
  }
  return -1;
}

static void tp_registry_unregister(const tp_view *v, int e) {
  sbi_store32(tp_w32(tp_entry_at(v, e) + TE_OWNER), 0, __ATOMIC_RELEASE); /* SYNC TOPIC-REGISTRY (release) */
  tp_registry_bump(v);
}

static uint32_t tp_registry_count(const tp_view *v, uint32_t role, int check_liveness) {
  if (check_liveness) tp_registry_sweep(v);
  uint32_t n = 0;
  for (int e = 0; e < TP_ENTRY_COUNT; e++) {
    /* SYNC TOPIC-REGISTRY (acquire load of the owner word) */
    if ((sbi_load32(tp_w32(tp_entry_at(v, e) + TE_OWNER), __ATOMIC_ACQUIRE) >> TE_ROLE_SHIFT) == role) n++;
  }
  return n;
}

/* Wakes the commit word's sleepers after a change from `old` (or, with no change, so they re-check). */
static void tp_wake_commit(const tp_view *v, uint32_t old) {
  /* SYNC TOPIC-PARK (seq_cst load of the sleepers word after the seq_cst commit store / registry bump) */
  sbi_wake_counter(tp_w32(v->p + TP_COMMIT), tp_w32(v->p + TP_SLEEPERS), old);
}

/* ---- publisher */

/* Subscriber options with the defaults filled in (0 fields mean the default). */
typedef struct tp_sub_opts {
  int from;
  int64_t wait_ms;
  uint32_t spin_us;
  uint32_t liveness_ms;
} tp_sub_opts;

/*
 * Is the holder of the writers' mutex alive? (§4.1 "Is the holder of v alive?": a complete identity is judged by
 * pid, start and ns; an incomplete one by its pid alone, our own pid counting as alive.)
 */
static int tp_mutex_holder_alive(uint8_t *mutex) {
  uint32_t v = sbi_load32(tp_w32(mutex + SBI_MUTEX_WORD), __ATOMIC_ACQUIRE); /* who holds it now */
  uint32_t pid = v & SBI_MUTEX_PID_MASK;
  if (v == 0) return 0;
  if (pid == 0) return 0; /* bits without a holder: dead */
  /* SYNC MUTEX-IDENTITY (acquire load of ownerPid): with r == pid the companions below are complete */
  uint32_t r = sbi_load32(tp_w32(mutex + SBI_MUTEX_OWNER_PID), __ATOMIC_ACQUIRE);
  if (r == pid) {
    uint64_t start = (uint64_t)tp_ld32(mutex + SBI_MUTEX_OWNER_START) | ((uint64_t)tp_ld32(mutex + SBI_MUTEX_OWNER_START + 4) << 32);
    return sbi_holder_alive(pid, start, tp_ld32(mutex + SBI_MUTEX_OWNER_NS));
  }
  return pid == sbi_self()->pid || sbi_holder_alive(pid, 0, 0);
}

/* Single-publisher mode (§5.3): take the writers' lock now, keep it until close. */
static int tp_claim_sole(shmbus_topic *t) {
  uint8_t *mutex = t->v.p + TP_MUTEX;
  int recovered = 0;
  sbi_mutex_watch watch;
  memset(&watch, 0, sizeof watch);
  int r = sbi_mutex_try_lock(mutex, t->liveness_ms, &watch, &recovered);
  if (r != SHMBUS_EAGAIN) return r;
  if (tp_mutex_holder_alive(mutex)) {
    return sbi_fail(SHMBUS_EPUBLISHER_EXISTS, "topic \"%s\" is single-publisher and another live process publishes on it; close that publisher first",
                    t->v.name);
  }
  /* Free or dead: the lock takes a dead holder over within its liveness interval. */
  return sbi_mutex_lock(mutex, 10000, t->liveness_ms, &recovered);
}

static int topic_finish_open(shmbus_segment *seg, int entry, int timestamps, uint32_t liveness, shmbus_topic **out) {
  shmbus_topic *t = (shmbus_topic *)calloc(1, sizeof *t);
  if (t == NULL) {
    if (entry >= 0) {
      tp_view v;
      if (tp_view_of(seg, &v) == 0) tp_registry_unregister(&v, entry);
    }
    sbi_segment_close(seg);
    return sbi_fail(SHMBUS_ESHM_NO_SPACE, "out of memory");
  }
  t->seg = seg;
  t->timestamps = timestamps;
  t->liveness_ms = liveness;
  t->loan_pad = -1;
  int r = tp_view_of(seg, &t->v);
  if (r != 0) goto fail;
  t->single = (seg->params[P_FLAGS] & FLAG_SINGLE) != 0;
  if (t->single) {
    r = tp_claim_sole(t);
    if (r != 0) goto fail;
  }
  if (entry < 0) entry = tp_registry_register(&t->v, ROLE_PUBLISHER, 0);
  if (entry < 0) {
    if (t->single) sbi_mutex_unlock(t->v.p + TP_MUTEX);
    r = sbi_fail(SHMBUS_ESHM_NO_SPACE, "topic \"%s\" has 64 live publishers and subscribers registered: no room for another publisher",
                 t->v.name);
    goto fail;
  }
  t->entry = entry;
  *out = t;
  return 0;
fail:
  if (entry >= 0 && t->v.p != NULL) tp_registry_unregister(&t->v, entry);
  sbi_segment_close(seg);
  free(t);
  return r;
}

typedef struct tp_create_ctx {
  int entry;
} tp_create_ctx;

static int topic_init(uint8_t *payload, size_t size, void *ctx) {
  (void)size;
  tp_init_ring(payload);
  /* The creator is a publisher before anyone can open the topic (no subscriber sees a publisher-less start).
   * The table is empty: registering cannot fail here. */
  tp_view v;
  memset(&v, 0, sizeof v);
  v.p = payload;
  ((tp_create_ctx *)ctx)->entry = tp_registry_register(&v, ROLE_PUBLISHER, 0);
  return 0;
}

/* Publisher options checked, defaults filled in. */
static int tp_publisher_opts(const shmbus_topic_options *o, const char *what, unsigned *mode, uint32_t *liveness, int64_t *open_timeout) {
  if (o != NULL && o->struct_size < sizeof(shmbus_topic_options)) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "%s: options.struct_size must be sizeof(shmbus_topic_options)", what);
  }
  *mode = SHMBUS_DEFAULT_MODE;
  *liveness = SHMBUS_DEFAULT_LIVENESS_MS;
  *open_timeout = SHMBUS_DEFAULT_OPEN_TIMEOUT_MS;
  if (o == NULL) return 0;
  if (sbi_check_mode(o->mode, mode) != 0) return SHMBUS_EINVAL_ARG;
  if (sbi_liveness_option(o->liveness_ms, what, liveness) != SHMBUS_OK) return SHMBUS_EINVAL_ARG;
  if (o->open_timeout_ms != 0) *open_timeout = o->open_timeout_ms;
  return 0;
}

int shmbus_topic_create_ex(const char *name, const shmbus_topic_options *opts, shmbus_topic **out) {
  if (out != NULL) *out = NULL;
  if (opts == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_topic_create_ex: options (with capacity) and out are required");
  unsigned mode;
  uint32_t liveness;
  int64_t open_timeout;
  int r = tp_publisher_opts(opts, "shmbus_topic_create_ex", &mode, &liveness, &open_timeout);
  if (r != 0) return r;
  r = sbi_check_name(name);
  if (r != 0) return r;
  if (opts->capacity < 1 || opts->capacity > MAX_CAPACITY) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "capacity must be an integer from 1 to %llu, got %llu", (unsigned long long)MAX_CAPACITY,
                    (unsigned long long)opts->capacity);
  }
  uint64_t cap = (opts->capacity + 63) / 64 * 64;
  uint64_t largest = cap / 2 / 8 * 8 - REC_HDR;
  uint64_t max = opts->max_message_size != 0 ? opts->max_message_size : (largest < 1 ? 1 : largest > 0xFFFFFFFFu ? 0xFFFFFFFFu : largest);
  if (!tp_params_valid(cap, max)) {
    return sbi_fail(SHMBUS_EINVAL_ARG,
                    "capacity %llu cannot hold two messages of %llu bytes (each takes %llu with its header); raise capacity to at least %llu or lower max_message_size",
                    (unsigned long long)cap, (unsigned long long)max, (unsigned long long)tp_record_size(max), (unsigned long long)(2 * tp_record_size(max)));
  }
  uint32_t params[16];
  memset(params, 0, sizeof params);
  params[P_CAP_LO] = (uint32_t)cap;
  params[P_CAP_HI] = (uint32_t)(cap >> 32);
  params[P_MAX] = (uint32_t)max;
  params[P_DATA] = TP_DATA;
  params[P_FLAGS] = opts->single_publisher ? FLAG_SINGLE : 0;
  tp_create_ctx ctx = {-1};
  shmbus_segment *seg = NULL;
  r = sbi_segment_create(name, SHMBUS_KIND_TOPIC, params, TP_DATA + cap, mode, topic_init, &ctx, &seg);
  if (r != 0) return r;
  return topic_finish_open(seg, ctx.entry, !opts->no_timestamps, liveness, out);
}

int shmbus_topic_create(const char *name, uint64_t capacity, uint32_t max_message_size, shmbus_topic **out) {
  shmbus_topic_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.capacity = capacity;
  o.max_message_size = max_message_size;
  return shmbus_topic_create_ex(name, &o, out);
}

int shmbus_topic_open_ex(const char *name, const shmbus_topic_options *opts, shmbus_topic **out) {
  if (out != NULL) *out = NULL;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_topic_open_ex: out is NULL");
  unsigned mode;
  uint32_t liveness;
  int64_t open_timeout;
  int r = tp_publisher_opts(opts, "shmbus_topic_open_ex", &mode, &liveness, &open_timeout);
  if (r != 0) return r;
  shmbus_segment *seg = NULL;
  r = sbi_segment_open(name, SHMBUS_KIND_TOPIC, open_timeout, &seg);
  if (r != 0) return r;
  return topic_finish_open(seg, -1, opts == NULL || !opts->no_timestamps, liveness, out);
}

int shmbus_topic_open(const char *name, shmbus_topic **out) { return shmbus_topic_open_ex(name, NULL, out); }

int shmbus_topic_unlink(const char *name) { return shmbus_segment_unlink(name); }

static int tp_check_topic(const shmbus_topic *t, const char *what) {
  if (t == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: topic is NULL", what);
  return 0;
}

/*
 * Reserve (§5.3 steps 2-4), holding the mutex: place the record, reclaim what the claim overlaps plus a batch,
 * publish the tail, then the TOPIC-RECLAIM release fence before any store into the claimed room.
 */
static int tp_reserve(shmbus_topic *t, size_t size) {
  const tp_view *v = &t->v;
  tp_cursor c;
  int r = tp_writer_cursor(v, &c);
  if (r != 0) return r;
  uint64_t cap = v->cap, rec = tp_record_size(size);
  int wraps = cap - c.write_pos < rec;
  uint64_t claim = wraps ? cap - c.write_pos + rec : rec;
  uint64_t ahead = cap >= 65536 ? 4096 : cap / 128 * 8;
  uint64_t want = tp_ring_distance(c.write_pos, c.tail_pos, cap) < claim ? claim + ahead : 0;
  int moved = 0;
  while (c.tail_seq <= c.write_seq && tp_ring_distance(c.write_pos, c.tail_pos, cap) < want) {
    uint64_t at = tp_record_start(v, c.tail_pos);
    const uint8_t *h = v->ring + at;
    uint32_t hs = tp_ld32(h + REC_SIZE), hf = tp_ld32(h + REC_FLAGS);
    if (!tp_header_sane(v, at, hs, hf, tp_ld64(h + REC_SEQ), c.tail_seq)) {
      c.tail_seq = c.write_seq + 1; /* a broken chain: drop everything */
      moved = 1;
      break;
    }
    c.tail_pos = tp_norm_pos(at + tp_record_size(hs), cap);
    c.tail_seq++;
    moved = 1;
  }
  if (c.tail_seq > c.write_seq) c.tail_pos = c.write_pos;
  if (want == 0) {
    /* A performance hint, not part of the protocol: the next batch reclaim walks the record headers from the tail
     * on, bytes written one ring ago and gone from this core's nearest caches, one dependent load after another
     * (about 1 µs for a 4 KiB batch: one publish in ~40 paid it, the whole p99 of a 64 B round trip). Each publish
     * that reclaims nothing prefetches four lines of that stretch, so the walk finds them cached. A prefetch never
     * faults and never waits. */
    const uint64_t lines = (ahead + 2 * REC_HDR + 63) / 64 + 1;
    const uint64_t first = (c.write_seq * 4) % lines;
    for (uint64_t i = 0; i < 4; i++) {
      uint64_t at = c.tail_pos + ((first + i) % lines) * 64;
      if (at >= v->cap) at -= v->cap;
      __builtin_prefetch(v->ring + at, 0, 3);
    }
  }
  if (moved) {
    tp_publish_tail(v, c.tail_seq, c.tail_pos);
    /* SYNC TOPIC-RECLAIM (release fence after the tail store): no store into the claimed room becomes visible
     * before the tail that says those bytes are no longer valid; pairs with the reader's TOPIC-VALIDATE fence. */
    sbi_fence_release();
  }
  t->loan_seq = c.write_seq + 1;
  t->loan_at = wraps ? 0 : c.write_pos;
  t->loan_pad = wraps ? (int64_t)c.write_pos : -1;
  t->loan_size = size;
  return 0;
}

/*
 * Commit time in microseconds since the Unix epoch. The OS seam gives a millisecond wall clock and a nanosecond
 * monotonic one: the offset between them is taken once, then every timestamp is monotonic + offset (what Node does
 * with performance.timeOrigin + performance.now()).
 */
static uint64_t tp_now_micros(void) {
  static SBI_THREAD_LOCAL int64_t offset_us;
  static SBI_THREAD_LOCAL int have;
  int64_t mono_us = sbi_os_now_ns() / 1000;
  if (!have) {
    offset_us = (int64_t)sbi_os_epoch_ms() * 1000 - mono_us;
    have = 1;
  }
  return (uint64_t)(mono_us + offset_us);
}

/* Commit (§5.3 steps 5-7): pad, header, head slot, the commit word, then wake parked subscribers. */
static void tp_commit_record(shmbus_topic *t, size_t size) {
  const tp_view *v = &t->v;
  uint64_t cap = v->cap;
  if (t->loan_pad >= 0 && cap - (uint64_t)t->loan_pad >= REC_HDR) {
    uint8_t *pad = v->ring + t->loan_pad;
    tp_st32(pad + REC_SIZE, (uint32_t)(cap - (uint64_t)t->loan_pad - REC_HDR));
    tp_st32(pad + REC_FLAGS, REC_PAD);
    tp_st64(pad + REC_SEQ, t->loan_seq);
  }
  uint8_t *h = v->ring + t->loan_at;
  tp_st32(h + REC_SIZE, (uint32_t)size);
  tp_st32(h + REC_FLAGS, 0);
  tp_st64(h + REC_SEQ, t->loan_seq);
  tp_st64(h + REC_TS, t->timestamps ? tp_now_micros() : 0);
  uint8_t *head = v->p + TP_HEAD0 + (t->loan_seq & 1u) * TP_SLOT_SIZE; /* the slot commit does not name */
  tp_st64(head, t->loan_seq);
  tp_st64(head + 8, tp_norm_pos(t->loan_at + tp_record_size(size), cap));
  /* SYNC TOPIC-COMMIT (seq_cst store: release for the record and head slot, seq_cst for TOPIC-PARK) */
  sbi_store32(tp_w32(v->p + TP_COMMIT), (uint32_t)t->loan_seq, __ATOMIC_SEQ_CST);
  tp_wake_commit(v, (uint32_t)(t->loan_seq - 1));
}

static void tp_unlock_writers(shmbus_topic *t) {
  if (!t->single) sbi_mutex_unlock(t->v.p + TP_MUTEX);
}

static int tp_lock_and_reserve(shmbus_topic *t, size_t size, int64_t timeout_ms, const char *what) {
  int r = tp_check_topic(t, what);
  if (r != 0) return r;
  if (t->loaned) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: a loan of topic \"%s\" is still open: commit or abort it first", what, t->v.name);
  if (size > t->v.max) {
    return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE, "a %zu-byte message does not fit topic \"%s\" (max_message_size %u)", size, t->v.name, t->v.max);
  }
  if (!t->single) {
    int recovered = 0; /* a recovered lock needs no repair (§5.3 step 1) */
    r = sbi_mutex_lock(t->v.p + TP_MUTEX, timeout_ms, t->liveness_ms, &recovered);
    if (r != 0) return r;
  }
  r = tp_reserve(t, size);
  if (r != 0) tp_unlock_writers(t);
  return r;
}

int shmbus_topic_publish_ex(shmbus_topic *t, const void *data, size_t len, int64_t timeout_ms, uint64_t *seq) {
  if (data == NULL && len > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_topic_publish: data is NULL");
  int r = tp_lock_and_reserve(t, len, timeout_ms, "shmbus_topic_publish");
  if (r != 0) return r;
  if (len > 0) memcpy(t->v.ring + t->loan_at + REC_HDR, data, len);
  tp_commit_record(t, len);
  tp_unlock_writers(t);
  if (seq != NULL) *seq = t->loan_seq;
  return 0;
}

int shmbus_topic_publish(shmbus_topic *t, const void *data, size_t len) { return shmbus_topic_publish_ex(t, data, len, -1, NULL); }

int shmbus_topic_loan(shmbus_topic *t, size_t size, int64_t timeout_ms, shmbus_loan *loan) {
  if (loan == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_topic_loan: loan is NULL");
  memset(loan, 0, sizeof *loan);
  int r = tp_lock_and_reserve(t, size, timeout_ms, "shmbus_topic_loan");
  if (r != 0) return r;
  t->loaned = 1;
  loan->data = t->v.ring + t->loan_at + REC_HDR;
  loan->size = size;
  loan->seq = t->loan_seq;
  return 0;
}

int shmbus_topic_commit(shmbus_topic *t, size_t size, uint64_t *seq) {
  int r = tp_check_topic(t, "shmbus_topic_commit");
  if (r != 0) return r;
  if (!t->loaned) return sbi_fail(SHMBUS_ECLOSED, "shmbus_topic_commit: no open loan on topic \"%s\"", t->v.name);
  t->loaned = 0;
  if (size > t->loan_size) {
    tp_unlock_writers(t);
    return sbi_fail(SHMBUS_EINVAL_ARG, "commit size %zu is larger than the loan (%zu); the loan was aborted", size, t->loan_size);
  }
  tp_commit_record(t, size);
  tp_unlock_writers(t);
  if (seq != NULL) *seq = t->loan_seq;
  return 0;
}

int shmbus_topic_abort(shmbus_topic *t) {
  int r = tp_check_topic(t, "shmbus_topic_abort");
  if (r != 0) return r;
  if (!t->loaned) return sbi_fail(SHMBUS_ECLOSED, "shmbus_topic_abort: no open loan on topic \"%s\"", t->v.name);
  t->loaned = 0;
  tp_unlock_writers(t); /* the space it reserved stays reclaimed: nothing to undo */
  return 0;
}

int shmbus_topic_stats(shmbus_topic *t, shmbus_topic_stats_t *st) {
  int r = tp_check_topic(t, "shmbus_topic_stats");
  if (r != 0) return r;
  if (st == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_topic_stats: out is NULL");
  memset(st, 0, sizeof *st);
  tp_cursor c;
  r = tp_read_cursor(&t->v, &c);
  if (r != 0) return r;
  tp_registry_sweep(&t->v);
  st->published = c.write_seq;
  st->oldest = c.tail_seq;
  for (int e = 0; e < TP_ENTRY_COUNT; e++) {
    const uint8_t *b = tp_entry_at(&t->v, e);
    uint32_t owner = sbi_load32(tp_w32((uint8_t *)(uintptr_t)b + TE_OWNER), __ATOMIC_ACQUIRE); /* SYNC TOPIC-REGISTRY (acquire) */
    uint32_t role = owner >> TE_ROLE_SHIFT;
    if (role == ROLE_PUBLISHER) st->publishers++;
    if (role != ROLE_SUBSCRIBER) continue;
    uint64_t next = tp_ld64(b + TE_NEXT_SEQ), lost = tp_ld64(b + TE_LOST); /* statistics: a torn pair only skews them */
    uint64_t lag = c.write_seq + 1 > next ? c.write_seq + 1 - next : 0;
    st->subscribers++;
    if (lag > st->max_lag) st->max_lag = lag;
    st->lost += lost;
  }
  return 0;
}

int shmbus_topic_subscribers(shmbus_topic *t, uint32_t *n) {
  int r = tp_check_topic(t, "shmbus_topic_subscribers");
  if (r != 0) return r;
  if (n == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_topic_subscribers: out is NULL");
  *n = tp_registry_count(&t->v, ROLE_SUBSCRIBER, 1);
  return 0;
}

int shmbus_topic_wait_for_subscribers(shmbus_topic *t, uint32_t n, int64_t timeout_ms, uint32_t *have) {
  int r = tp_check_topic(t, "shmbus_topic_wait_for_subscribers");
  if (r != 0) return r;
  if (n > TP_ENTRY_COUNT) return sbi_fail(SHMBUS_EINVAL_ARG, "n must be from 0 to 64, got %u", n);
  uint32_t *reg = tp_w32(t->v.p + TP_REGISTRY);
  int64_t deadline = sbi_deadline(timeout_ms);
  for (;;) {
    uint32_t seen = sbi_load32(reg, __ATOMIC_SEQ_CST); /* SYNC TOPIC-REGISTRY: a registration after it changes the word */
    uint32_t count = tp_registry_count(&t->v, ROLE_SUBSCRIBER, 1);
    if (have != NULL) *have = count;
    if (count >= n) return 0;
    int64_t left = sbi_left_ms(deadline);
    if (left == 0) {
      return sbi_fail(SHMBUS_ETIMEDOUT, "waiting for %u subscribers of topic \"%s\" (%u now) timed out", n, t->v.name, count);
    }
    /* SYNC TOPIC-PARK on the registry word (§3 counter-word rule) */
    sbi_park_counter(reg, tp_w32(t->v.p + TP_REGISTRY_SLEEPERS), seen, left);
  }
}

uint32_t shmbus_topic_max_message_size(const shmbus_topic *t) { return t != NULL ? t->v.max : 0; }
uint64_t shmbus_topic_capacity(const shmbus_topic *t) { return t != NULL ? t->v.cap : 0; }

int shmbus_topic_close(shmbus_topic *t) {
  if (t == NULL) return 0;
  if (t->loaned) {
    t->loaned = 0;
    tp_unlock_writers(t);
  }
  if (t->single) sbi_mutex_unlock(t->v.p + TP_MUTEX);
  /* Unregister, then wake parked subscribers: the last publisher gone ends their reads (§5.8). */
  tp_registry_unregister(&t->v, t->entry);
  /* SYNC TOPIC-PARK (after the seq_cst registry bump): a wake without a change of commit, so the tag stays (§3) */
  sbi_wake_counter_keep(tp_w32(t->v.p + TP_COMMIT), tp_w32(t->v.p + TP_SLEEPERS));
  sbi_segment_close(t->seg);
  free(t);
  return 0;
}

/* ---- subscriber */

static int tp_sub_attach(shmbus_sub *s, shmbus_segment *seg, int from) {
  int r = tp_view_of(seg, &s->v);
  if (r != 0) return r;
  tp_cursor c;
  r = tp_read_cursor(&s->v, &c);
  if (r != 0) return r;
  if (from == SHMBUS_FROM_OLDEST) {
    s->seq = c.tail_seq;
    s->pos = c.tail_pos;
  } else {
    s->seq = c.write_seq + 1;
    s->pos = c.write_pos;
  }
  s->idle = (uint32_t)(s->seq - 1);
  s->seg = seg;
  s->entry = tp_registry_register(&s->v, ROLE_SUBSCRIBER, s->seq);
  s->attach_head = c.write_seq;
  return 0;
}

static int tp_no_publisher_left(shmbus_sub *s, int check_liveness);

int shmbus_topic_subscribe_ex(const char *name, const shmbus_sub_options *opts, shmbus_sub **out) {
  if (out != NULL) *out = NULL;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_topic_subscribe_ex: out is NULL");
  if (opts != NULL && opts->struct_size < sizeof(shmbus_sub_options)) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_topic_subscribe_ex: options.struct_size must be sizeof(shmbus_sub_options)");
  }
  tp_sub_opts o = {SHMBUS_FROM_LATEST, 0, DEFAULT_SPIN_US, DEFAULT_SUB_LIVENESS_MS};
  if (opts != NULL) {
    o.from = opts->from;
    o.wait_ms = opts->wait_ms;
    if (opts->spin_us != 0) o.spin_us = opts->spin_us < 0 ? 0 : (uint32_t)opts->spin_us;
    if (sbi_liveness_option(opts->liveness_ms, "shmbus_topic_subscribe", &o.liveness_ms) != SHMBUS_OK) return SHMBUS_EINVAL_ARG;
  }
  if (o.from != SHMBUS_FROM_LATEST && o.from != SHMBUS_FROM_OLDEST) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "from must be SHMBUS_FROM_LATEST or SHMBUS_FROM_OLDEST, got %d", o.from);
  }
  int r = sbi_check_name(name);
  if (r != 0) return r;
  shmbus_segment *seg = NULL;
  int from = o.from;
  /* Wait for the topic to appear (bounded backoff). A subscriber that waited starts at the oldest message: it
   * misses nothing published after it subscribed. */
  int64_t deadline = sbi_deadline(o.wait_ms);
  int64_t delay = 1;
  for (;;) {
    r = sbi_segment_open(name, SHMBUS_KIND_TOPIC, SHMBUS_DEFAULT_OPEN_TIMEOUT_MS, &seg);
    if (r != SHMBUS_ESHM_NOT_FOUND || o.wait_ms == 0) break;
    int64_t left = sbi_left_ms(deadline);
    if (left == 0) return sbi_fail(SHMBUS_ESHM_NOT_FOUND, "topic \"%s\" did not appear within %lld ms", name, (long long)o.wait_ms);
    uint32_t nap = 0; /* a sleep: a futex wait on a private word nobody wakes */
    sbi_os_futex_wait(&nap, 0, delay < left || left < 0 ? delay : left);
    delay = delay * 2 > 100 ? 100 : delay * 2;
    from = SHMBUS_FROM_OLDEST;
  }
  if (r != 0) return r;
  shmbus_sub *s = (shmbus_sub *)calloc(1, sizeof *s);
  if (s == NULL) {
    sbi_segment_close(seg);
    return sbi_fail(SHMBUS_ESHM_NO_SPACE, "out of memory");
  }
  s->spin_us = o.spin_us;
  s->liveness_ms = o.liveness_ms;
  r = tp_sub_attach(s, seg, from);
  if (r != 0) {
    sbi_segment_close(seg);
    free(s);
    return r;
  }
  tp_no_publisher_left(s, 0); /* a publisher registered now counts as seen */
  *out = s;
  return 0;
}

int shmbus_topic_subscribe(const char *name, int from, shmbus_sub **out) {
  shmbus_sub_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.from = from;
  return shmbus_topic_subscribe_ex(name, &o, out);
}

static int tp_check_sub(const shmbus_sub *s, const char *what) {
  if (s == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: subscriber is NULL", what);
  return 0;
}

static int tp_has_new(const shmbus_sub *s) {
  /* SYNC TOPIC-COMMIT (acquire): pairs with the publisher's commit store */
  return sbi_load32(tp_w32(s->v.p + TP_COMMIT), __ATOMIC_ACQUIRE) != s->idle;
}

/*
 * The next record (§5.4), or SHMBUS_EAGAIN. buf == NULL: zero-copy (m->data points into the ring); else the
 * payload is copied into buf (cap bytes) before it is validated. A message larger than cap is not consumed:
 * SHMBUS_EMESSAGE_TOO_LARGE with m->size = its size.
 */
static int tp_try_next(shmbus_sub *s, shmbus_msg *m, void *buf, size_t cap) {
  const tp_view *v = &s->v;
  uint32_t *commit = tp_w32(v->p + TP_COMMIT);
  for (int attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
    /* SYNC TOPIC-COMMIT (acquire): anything but seq - 1 means record seq and every byte before it is visible */
    if (sbi_load32(commit, __ATOMIC_ACQUIRE) == s->idle) return SHMBUS_EAGAIN;
    uint64_t seq = s->seq;
    uint64_t at = tp_record_start(v, s->pos);
    const uint8_t *h = v->ring + at;
    uint32_t size = tp_ld32(h + REC_SIZE), flags = tp_ld32(h + REC_FLAGS);
    uint64_t hseq = tp_ld64(h + REC_SEQ), ts = tp_ld64(h + REC_TS);
    int sane = tp_header_sane(v, at, size, flags, hseq, seq);
    int fits = buf == NULL || size <= cap;
    if (sane && buf != NULL && fits && size > 0) tp_racy_copy(buf, h + REC_HDR, size);
    /* SYNC TOPIC-VALIDATE (acquire fence): the header and payload loads complete before the tail loads; pairs
     * with the publisher's TOPIC-RECLAIM fence */
    sbi_fence_acquire();
    uint64_t tail = 0;
    int r = tp_read_tail_seq(v, &tail);
    if (r != 0) return r;
    if (tail <= seq) {
      if (!sane) return tp_corrupt(v, "a record the cursor says is valid has an impossible header");
      m->size = size;
      m->seq = seq;
      m->timestamp_us = ts;
      if (!fits) {
        m->data = NULL;
        return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE, "message %llu has %u bytes, the buffer %zu: not read (retry with a larger buffer)",
                        (unsigned long long)seq, size, cap);
      }
      m->data = buf != NULL ? buf : (const void *)(h + REC_HDR);
      s->seq = seq + 1;
      s->pos = tp_norm_pos(at + tp_record_size(size), v->cap);
      s->idle = (uint32_t)seq;
      s->read++;
      if (s->entry >= 0) {
        /* progress on our own entry line: plain stores, statistics only */
        tp_st64(tp_entry_at(v, s->entry) + TE_NEXT_SEQ, s->seq);
        tp_st64(tp_entry_at(v, s->entry) + TE_LOST, s->lost);
      }
      return 0;
    }
    /* Lapped: skip to the oldest valid record, counting exactly what was overwritten unread. */
    tp_cursor c;
    r = tp_read_cursor(v, &c);
    if (r != 0) return r;
    s->lost += c.tail_seq - seq;
    s->seq = c.tail_seq;
    s->pos = c.tail_pos;
    s->idle = (uint32_t)(c.tail_seq - 1);
  }
  return SHMBUS_EAGAIN;
}

static int tp_read_any(shmbus_sub *s, shmbus_msg *m, void *buf, size_t cap) {
  if (m == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_sub_read: msg is NULL");
  memset(m, 0, sizeof *m);
  return tp_try_next(s, m, buf, cap);
}

int shmbus_sub_try_read(shmbus_sub *s, shmbus_msg *m) {
  int r = tp_check_sub(s, "shmbus_sub_try_read");
  return r != 0 ? r : tp_read_any(s, m, NULL, 0);
}

/* True (1) when this subscriber saw a publisher and none is registered now (§5.8). */
static int tp_no_publisher_left(shmbus_sub *s, int check_liveness) {
  uint32_t reg = sbi_load32(tp_w32(s->v.p + TP_REGISTRY), __ATOMIC_SEQ_CST); /* SYNC TOPIC-REGISTRY (before the scan) */
  /* Reading (or losing) a message committed after we attached means a publisher registered since. */
  if (!s->saw_publisher && s->seq - 1 > s->attach_head) s->saw_publisher = 1;
  if (!s->scanned || reg != s->seen_registry || check_liveness) {
    s->seen_registry = reg;
    s->scanned = 1;
    s->publishers = tp_registry_count(&s->v, ROLE_PUBLISHER, check_liveness);
    if (s->publishers > 0) s->saw_publisher = 1;
  }
  return s->saw_publisher && s->publishers == 0;
}

/* Re-reads the commit word for spin_us; 1 when a record may be there. */
static int tp_spin_for(const shmbus_sub *s) {
  int64_t until = 0;
  for (uint32_t i = 1;; i++) {
    if (tp_has_new(s)) return 1;
    sbi_cpu_relax();
    if ((i & 127u) == 0) {
      int64_t now = sbi_os_now_ns();
      if (until == 0) until = now + (int64_t)s->spin_us * 1000;
      else if (now >= until) return 0;
      sbi_os_yield(now - (until - (int64_t)s->spin_us * 1000));
    }
  }
}

static int tp_wait_read(shmbus_sub *s, shmbus_msg *m, void *buf, size_t cap, int64_t timeout_ms) {
  int r = tp_read_any(s, m, buf, cap);
  if (r != SHMBUS_EAGAIN) return r;
  if (s->spin_us > 0 && timeout_ms != 0 && tp_spin_for(s)) {
    r = tp_read_any(s, m, buf, cap);
    if (r != SHMBUS_EAGAIN) return r;
  }
  int64_t deadline = sbi_deadline(timeout_ms);
  int check_liveness = 0;
  for (int first = 1;; first = 0) {
    if (!first && s->spin_us > 0) tp_spin_for(s);
    r = tp_read_any(s, m, buf, cap);
    if (r != SHMBUS_EAGAIN) return r;
    /* End of stream: a publisher was seen and none is left, and nothing is unread (re-checked after the scan). */
    if (tp_no_publisher_left(s, check_liveness) && !tp_has_new(s)) {
      return sbi_fail(SHMBUS_EEND, "topic \"%s\": no publisher left and nothing unread (end of stream)", s->v.name);
    }
    check_liveness = 0;
    int64_t left = sbi_left_ms(deadline);
    if (left == 0) return sbi_fail(SHMBUS_ETIMEDOUT, "read on topic \"%s\" timed out after %lld ms", s->v.name, (long long)timeout_ms);
    /* While a publisher is known, wake every liveness_ms to notice one killed without closing. */
    int64_t slice = s->saw_publisher && (left < 0 || left > (int64_t)s->liveness_ms) ? (int64_t)s->liveness_ms : left;
    uint32_t *commit = tp_w32(s->v.p + TP_COMMIT), *sleepers = tp_w32(s->v.p + TP_SLEEPERS);
    /* SYNC TOPIC-PARK (§3 counter word): announce the tag and re-check commit without sleeping (timeout 0 makes
     * no system call), then re-check the registry word (seq_cst): with a closing publisher's seq_cst registry bump
     * and its sleepers load this is the Dekker pair of §5.8, so a publisher leaving now is seen here or wakes us. */
    if (sbi_park_counter(commit, sleepers, s->idle, 0) != SHMBUS_ETIMEDOUT) continue;
    if (sbi_load32(tp_w32(s->v.p + TP_REGISTRY), __ATOMIC_SEQ_CST) != s->seen_registry) continue;
    /* SYNC TOPIC-PARK: the sleep itself (announces again, re-checks commit, futex wait); never withdrawn. */
    int pr = sbi_park_counter(commit, sleepers, s->idle, slice);
    if (pr == SHMBUS_ETIMEDOUT && !tp_has_new(s)) {
      if (sbi_left_ms(deadline) == 0) {
        return sbi_fail(SHMBUS_ETIMEDOUT, "read on topic \"%s\" timed out after %lld ms", s->v.name, (long long)timeout_ms);
      }
      check_liveness = 1;
    }
  }
}

int shmbus_sub_read(shmbus_sub *s, shmbus_msg *m, int64_t timeout_ms) {
  int r = tp_check_sub(s, "shmbus_sub_read");
  return r != 0 ? r : tp_wait_read(s, m, NULL, 0, timeout_ms);
}

int shmbus_sub_read_copy(shmbus_sub *s, void *buf, size_t cap, shmbus_msg *m, int64_t timeout_ms) {
  int r = tp_check_sub(s, "shmbus_sub_read_copy");
  if (r != 0) return r;
  if (buf == NULL && cap > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_sub_read_copy: buf is NULL");
  /* a zero-byte buffer still copies (empty messages): give tp_try_next a non-NULL destination */
  static unsigned char empty_buf[1];
  return tp_wait_read(s, m, buf != NULL ? buf : empty_buf, cap, timeout_ms);
}

int shmbus_msg_valid(const shmbus_sub *s, const shmbus_msg *m) {
  if (s == NULL || m == NULL || m->seq == 0) return 0;
  sbi_fence_acquire(); /* SYNC TOPIC-VALIDATE: the caller's loads from the view complete before the tail loads */
  uint64_t tail = 0;
  if (tp_read_tail_seq(&s->v, &tail) != 0) return 0;
  return tail <= m->seq;
}

uint64_t shmbus_sub_lost(const shmbus_sub *s) { return s != NULL ? s->lost : 0; }

int shmbus_sub_stats(const shmbus_sub *s, shmbus_sub_stats_t *st) {
  int r = tp_check_sub(s, "shmbus_sub_stats");
  if (r != 0) return r;
  if (st == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_sub_stats: out is NULL");
  tp_cursor c;
  r = tp_read_cursor(&s->v, &c);
  if (r != 0) return r;
  st->read = s->read;
  st->lost = s->lost;
  st->lag = c.write_seq + 1 > s->seq ? c.write_seq + 1 - s->seq : 0;
  return 0;
}

int shmbus_sub_publishers(shmbus_sub *s, uint32_t *n) {
  int r = tp_check_sub(s, "shmbus_sub_publishers");
  if (r != 0) return r;
  if (n == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_sub_publishers: out is NULL");
  *n = tp_registry_count(&s->v, ROLE_PUBLISHER, 1);
  return 0;
}

int shmbus_sub_close(shmbus_sub *s) {
  if (s == NULL) return 0;
  if (s->entry >= 0) tp_registry_unregister(&s->v, s->entry);
  sbi_segment_close(s->seg);
  free(s);
  return 0;
}
