/*
 * Mailbox (PROTOCOL.md §7): the latest value of something, double-buffered behind a seqlock per slot. Writers
 * serialise on the robust Mutex at payload offset 0 and fill the slot readers are not pointed at; readers take no
 * lock, retry when a writer rewrote their slot during the copy, and never return a torn value.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define MB_MUTEX 0u
#define MB_VERSION 64u
#define MB_SLEEPERS 68u
#define MB_SLOTS 128u
#define MB_SLOT_HDR 64u
#define MB_SEQLOCK 0u
#define MB_LENGTH 4u
#define MB_SLOT_VERSION 8u
#define MB_TIMESTAMP 16u
#define MB_P_MAX 0
#define MB_P_STRIDE 1
/* Largest value (as Node: 1 GiB) and the default (64 KiB). */
#define MB_MAX_VALUE ((uint64_t)1 << 30)
#define MB_DEFAULT_MAX (64u << 10)
/* Consistent-read attempts before a reader calls the segment broken (no honest writer makes this many fail). */
#define MB_MAX_READ_ATTEMPTS 10000
#define MB_MAX_VERSION ((uint64_t)1 << 53)

struct shmbus_mailbox {
  shmbus_segment *seg;
  uint8_t *p;
  uint32_t max;
  uint64_t stride;
  uint32_t liveness_ms;
};

static inline uint32_t *mb_w32(uint8_t *p) { return (uint32_t *)(void *)p; }
static inline uint32_t mb_ld32(const uint8_t *p) { return __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_RELAXED); }
static inline uint64_t mb_ld64(const uint8_t *p) { return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED); }
static inline void mb_st32(uint8_t *p, uint32_t v) { __atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED); }
static inline void mb_st64(uint8_t *p, uint64_t v) { __atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELAXED); }

/* Value bytes are copied while a writer may rewrite them (seqlock): the copy is kept only if the re-check passes. */
#if defined(__SANITIZE_THREAD__)
__attribute__((no_sanitize_thread))
#endif
static void mb_racy_copy(void *dst, const void *src, size_t n) {
  memcpy(dst, src, n);
}

static uint8_t *mb_slot(const shmbus_mailbox *mb, uint32_t i) { return mb->p + MB_SLOTS + (uint64_t)(i & 1u) * mb->stride; }

static int mb_corrupt(const shmbus_mailbox *mb, const char *what) {
  return sbi_fail(SHMBUS_ESHM_CORRUPT, "mailbox \"%s\": %s; the segment is damaged, unlink and recreate it", mb->seg->name, what);
}

/* Microseconds since the Unix epoch: monotonic clock + a per-thread offset to the wall clock (see topic.c). */
static uint64_t mb_now_micros(void) {
  static SBI_THREAD_LOCAL int64_t offset_us;
  static SBI_THREAD_LOCAL int have;
  int64_t mono_us = sbi_os_now_ns() / 1000;
  if (!have) {
    offset_us = (int64_t)sbi_os_epoch_ms() * 1000 - mono_us;
    have = 1;
  }
  return (uint64_t)(mono_us + offset_us);
}

static int mb_finish_open(shmbus_segment *seg, uint32_t liveness, shmbus_mailbox **out) {
  uint32_t max = seg->params[MB_P_MAX], stride = seg->params[MB_P_STRIDE];
  if (max > MB_MAX_VALUE || stride % 64 != 0 || (uint64_t)stride < MB_SLOT_HDR + (uint64_t)max ||
      MB_SLOTS + 2 * (uint64_t)stride > seg->payload_size) {
    int r = sbi_fail(SHMBUS_ESHM_CORRUPT, "mailbox \"%s\" has impossible parameters (maxSize %u, slot stride %u, payload %llu bytes)", seg->name,
                     max, stride, (unsigned long long)seg->payload_size);
    sbi_segment_close(seg);
    return r;
  }
  shmbus_mailbox *mb = (shmbus_mailbox *)calloc(1, sizeof *mb);
  if (mb == NULL) {
    sbi_segment_close(seg);
    return sbi_fail(SHMBUS_ESHM_NO_SPACE, "out of memory");
  }
  mb->seg = seg;
  mb->p = seg->payload;
  mb->max = max;
  mb->stride = stride;
  mb->liveness_ms = liveness;
  *out = mb;
  return 0;
}

static int mb_opts(const shmbus_mailbox_options *o, const char *what, unsigned *mode, uint32_t *liveness, int64_t *open_timeout) {
  if (o != NULL && o->struct_size < sizeof(shmbus_mailbox_options)) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "%s: options.struct_size must be sizeof(shmbus_mailbox_options)", what);
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

static int mb_create(const char *name, uint64_t max, const shmbus_mailbox_options *opts, shmbus_mailbox **out) {
  if (out != NULL) *out = NULL;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_mailbox_create: out is NULL");
  unsigned mode;
  uint32_t liveness;
  int64_t open_timeout;
  int r = mb_opts(opts, "shmbus_mailbox_create_ex", &mode, &liveness, &open_timeout);
  if (r != 0) return r;
  r = sbi_check_name(name);
  if (r != 0) return r;
  if (max > MB_MAX_VALUE) return sbi_fail(SHMBUS_EINVAL_ARG, "max_size must be from 0 to 2^30, got %llu", (unsigned long long)max);
  uint64_t stride = MB_SLOT_HDR + (max + 63) / 64 * 64;
  uint32_t params[16];
  memset(params, 0, sizeof params);
  params[MB_P_MAX] = (uint32_t)max;
  params[MB_P_STRIDE] = (uint32_t)stride;
  shmbus_segment *seg = NULL;
  /* All zero bytes are the initial state: version 0 in slot 0, length 0, seqlocks even. */
  r = sbi_segment_create(name, SHMBUS_KIND_MAILBOX, params, MB_SLOTS + 2 * stride, mode, NULL, NULL, &seg);
  if (r != 0) return r;
  return mb_finish_open(seg, liveness, out);
}

int shmbus_mailbox_create_ex(const char *name, const shmbus_mailbox_options *opts, shmbus_mailbox **out) {
  return mb_create(name, opts != NULL && opts->struct_size >= sizeof *opts && opts->max_size != 0 ? opts->max_size : MB_DEFAULT_MAX, opts, out);
}

int shmbus_mailbox_create(const char *name, size_t max_size, shmbus_mailbox **out) { return mb_create(name, max_size, NULL, out); }

int shmbus_mailbox_open_ex(const char *name, const shmbus_mailbox_options *opts, shmbus_mailbox **out) {
  if (out != NULL) *out = NULL;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_mailbox_open_ex: out is NULL");
  unsigned mode;
  uint32_t liveness;
  int64_t open_timeout;
  int r = mb_opts(opts, "shmbus_mailbox_open_ex", &mode, &liveness, &open_timeout);
  if (r != 0) return r;
  shmbus_segment *seg = NULL;
  r = sbi_segment_open(name, SHMBUS_KIND_MAILBOX, open_timeout, &seg);
  if (r != 0) return r;
  return mb_finish_open(seg, liveness, out);
}

int shmbus_mailbox_open(const char *name, shmbus_mailbox **out) { return shmbus_mailbox_open_ex(name, NULL, out); }

int shmbus_mailbox_unlink(const char *name) { return shmbus_segment_unlink(name); }

int shmbus_mailbox_close(shmbus_mailbox *mb) {
  if (mb == NULL) return 0;
  sbi_segment_close(mb->seg);
  free(mb);
  return 0;
}

size_t shmbus_mailbox_max_size(const shmbus_mailbox *mb) { return mb != NULL ? mb->max : 0; }

/* The write itself (§7.2 steps 2-6), holding the writers' mutex. */
static int mb_write_locked(shmbus_mailbox *mb, const void *data, size_t len, uint64_t *version) {
  uint32_t cur = sbi_load32(mb_w32(mb->p + MB_VERSION), __ATOMIC_ACQUIRE); /* SYNC MAILBOX-PUBLISH (acquire) */
  uint64_t v = mb_ld64(mb_slot(mb, cur) + MB_SLOT_VERSION);
  if ((uint32_t)v != cur || v >= MB_MAX_VERSION) return mb_corrupt(mb, "version word and slot disagree");
  uint64_t next = v + 1;
  uint8_t *s = mb_slot(mb, (uint32_t)next);
  /* Odd = being written; from an odd value (a writer died here) go to the next odd one. */
  uint32_t begin = (mb_ld32(s + MB_SEQLOCK) + 1u) | 1u;
  /* SYNC MAILBOX-BEGIN (seq_cst store of the odd value, then a release fence): no store below becomes visible
   * before it; a reader of this slot re-checks the seqlock after its copy and retries */
  sbi_store32(mb_w32(s + MB_SEQLOCK), begin, __ATOMIC_SEQ_CST);
  sbi_fence_release();
  mb_st32(s + MB_LENGTH, (uint32_t)len);
  mb_st64(s + MB_SLOT_VERSION, next);
  mb_st64(s + MB_TIMESTAMP, mb_now_micros());
  if (len > 0) memcpy(s + MB_SLOT_HDR, data, len);
  sbi_store32(mb_w32(s + MB_SEQLOCK), begin + 1u, __ATOMIC_RELEASE); /* SYNC MAILBOX-END (release): slot complete */
  uint32_t *word = mb_w32(mb->p + MB_VERSION);
  /* SYNC MAILBOX-PUBLISH (seq_cst store: also the waker's half of MAILBOX-PARK): readers now pick this slot */
  sbi_store32(word, (uint32_t)next, __ATOMIC_SEQ_CST);
  /* SYNC MAILBOX-PARK (seq_cst load of the sleepers word after the store; counter-word rule of §3) */
  sbi_wake_counter(word, mb_w32(mb->p + MB_SLEEPERS), cur);
  if (version != NULL) *version = next;
  return 0;
}

int shmbus_mailbox_write_ex(shmbus_mailbox *mb, const void *data, size_t len, int64_t timeout_ms, uint64_t *version) {
  if (mb == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_mailbox_write: mailbox is NULL");
  if (data == NULL && len > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_mailbox_write: data is NULL");
  if (len > mb->max) {
    return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE, "a %zu-byte value does not fit mailbox \"%s\" (max_size %u)", len, mb->seg->name, mb->max);
  }
  int recovered = 0; /* a recovered lock needs no repair: `version` only ever names a complete slot (§7.2) */
  int r = sbi_mutex_lock(mb->p + MB_MUTEX, timeout_ms, mb->liveness_ms, &recovered);
  if (r != 0) return r;
  r = mb_write_locked(mb, data, len, version);
  sbi_mutex_unlock(mb->p + MB_MUTEX);
  return r;
}

int shmbus_mailbox_write(shmbus_mailbox *mb, const void *data, size_t len) { return shmbus_mailbox_write_ex(mb, data, len, -1, NULL); }

/*
 * Reads the slot `version` names under its seqlock (§7.3). buf == NULL: header only (the version). A value larger
 * than cap: SHMBUS_EMESSAGE_TOO_LARGE with out->size set (nothing copied).
 */
static int mb_read(const shmbus_mailbox *mb, void *buf, size_t cap, shmbus_mailbox_value *out) {
  uint32_t *word = mb_w32(mb->p + MB_VERSION);
  for (int i = 0; i < MB_MAX_READ_ATTEMPTS; i++) {
    uint32_t cur = sbi_load32(word, __ATOMIC_ACQUIRE); /* SYNC MAILBOX-PUBLISH (acquire): the slot it names was complete */
    uint8_t *s = mb_slot(mb, cur);
    uint32_t s1 = sbi_load32(mb_w32(s + MB_SEQLOCK), __ATOMIC_ACQUIRE); /* SYNC MAILBOX-READ (acquire) */
    if (s1 & 1u) continue; /* a newer version is being written into this slot */
    uint32_t length = mb_ld32(s + MB_LENGTH);
    uint64_t version = mb_ld64(s + MB_SLOT_VERSION), ts = mb_ld64(s + MB_TIMESTAMP);
    int sane = length <= mb->max;
    int fits = buf == NULL || length <= cap;
    if (sane && fits && buf != NULL && length > 0) mb_racy_copy(buf, s + MB_SLOT_HDR, length);
    sbi_fence_acquire(); /* SYNC MAILBOX-READ: the loads above complete before the re-check */
    if (sbi_load32(mb_w32(s + MB_SEQLOCK), __ATOMIC_RELAXED) != s1) continue; /* SYNC MAILBOX-READ (re-check) */
    if (!sane) return mb_corrupt(mb, "value length exceeds maxSize");
    out->size = length;
    out->version = version;
    out->timestamp_us = ts;
    if (!fits) {
      return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE, "mailbox \"%s\": the value has %u bytes, the buffer %zu", mb->seg->name, length, cap);
    }
    return 0;
  }
  return mb_corrupt(mb, "no consistent value after 10000 attempts");
}

int shmbus_mailbox_read(shmbus_mailbox *mb, void *buf, size_t cap, shmbus_mailbox_value *value) {
  if (mb == NULL || value == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_mailbox_read: mailbox and value are required");
  if (buf == NULL && cap > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_mailbox_read: buf is NULL");
  memset(value, 0, sizeof *value);
  static unsigned char empty_buf[1]; /* a 0-byte buffer still reads (empty values) */
  return mb_read(mb, buf != NULL ? buf : empty_buf, cap, value);
}

int shmbus_mailbox_version(shmbus_mailbox *mb, uint64_t *version) {
  if (mb == NULL || version == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_mailbox_version: mailbox and version are required");
  shmbus_mailbox_value v;
  int r = mb_read(mb, NULL, 0, &v);
  if (r == 0) *version = v.version;
  return r;
}

int shmbus_mailbox_wait_changed(shmbus_mailbox *mb, uint64_t since, int64_t timeout_ms, uint64_t *version) {
  if (mb == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_mailbox_wait_changed: mailbox is NULL");
  int64_t deadline = sbi_deadline(timeout_ms);
  uint32_t *word = mb_w32(mb->p + MB_VERSION);
  for (;;) {
    uint32_t cur = sbi_load32(word, __ATOMIC_ACQUIRE); /* SYNC MAILBOX-PUBLISH (acquire) */
    shmbus_mailbox_value v;
    int r = mb_read(mb, NULL, 0, &v);
    if (r != 0) return r;
    if (v.version > since) {
      if (version != NULL) *version = v.version;
      return 0;
    }
    int64_t left = sbi_left_ms(deadline);
    if (left == 0) return sbi_fail(SHMBUS_ETIMEDOUT, "wait_changed on mailbox \"%s\" timed out after %lld ms", mb->seg->name, (long long)timeout_ms);
    /* SYNC MAILBOX-PARK (§3 counter word: tag announce, seq_cst re-check of `version`, futex wait while it is cur);
     * nothing to withdraw afterwards. A value read above newer than cur was > since already, so cur is current or
     * older: sleeping on it cannot miss a change. */
    sbi_park_counter(word, mb_w32(mb->p + MB_SLEEPERS), cur, left);
  }
}
