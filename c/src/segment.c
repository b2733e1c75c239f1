/*
 * segment.c: names (PROTOCOL §1), the segment header (§2: create, open, validate, staleness), raw shm objects
 * and file windows (§2.4), and the public shmbus_segment_* API.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Largest payload accepted (64 TiB, as Node): keeps every size far from overflow. */
#define SEGMENT_MAX_SIZE ((uint64_t)1 << 46)
/* The opener sleeps at most this long at a time on `state` (a creator that died is noticed between sleeps). */
#define SEGMENT_OPEN_SLICE_MS 50
/* A not-ready object whose header names no creator is presumed still in creation for this long (§2.3). */
#define SEGMENT_CREATING_GRACE_MS 60000u

static const uint32_t segment_zero_params[SHMBUS_PARAMS_COUNT] = {0};

/* ---- little-endian fields --------------------------------------------------------------------------------- */

/* memcpy keeps unaligned access legal; the targets (x86, arm64) are little-endian, as the wire format. */
uint16_t sbi_get16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
uint32_t sbi_get32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
uint64_t sbi_get64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
void sbi_put16(uint8_t* p, uint16_t v) { memcpy(p, &v, sizeof v); }
void sbi_put32(uint8_t* p, uint32_t v) { memcpy(p, &v, sizeof v); }
void sbi_put64(uint8_t* p, uint64_t v) { memcpy(p, &v, sizeof v); }

/* ---- names ------------------------------------------------------------------------------------------------ */

static int segment_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

/* Checks without reading past 201 characters: a name without its NUL within reach is refused, not overrun. */
static int segment_name_valid(const char* name) {
  size_t i;
  if (name == NULL) return 0;
  for (i = 0; i <= SHMBUS_NAME_MAX && name[i] != '\0'; i++) {
    if (!segment_name_char(name[i])) return 0;
  }
  if (i == 0 || i > SHMBUS_NAME_MAX) return 0;
  return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int sbi_check_name(const char* name) {
  if (segment_name_valid(name)) return SHMBUS_OK;
  if (name == NULL) return sbi_fail(SHMBUS_EINVALID_NAME, "a segment name is required (got NULL)");
  return sbi_fail(SHMBUS_EINVALID_NAME,
                  "invalid segment name \"%.40s%s\": use 1-200 characters of A-Z a-z 0-9 . _ - (not \".\" or \"..\")",
                  name, strnlen(name, 41) > 40 ? "..." : "");
}

int sbi_os_name(const char* name, char* out) {
  int rc = sbi_check_name(name);
  if (rc != SHMBUS_OK) return rc;
  memcpy(out, "/shmbus.", 8);
  strcpy(out + 8, name); /* at most 200 characters: fits SBI_OS_NAME_MAX */
  return SHMBUS_OK;
}

int sbi_check_mode(unsigned mode, unsigned* out) {
  if ((mode & ~0666u) != 0) {
    return sbi_fail(SHMBUS_EINVAL_ARG,
                    "mode 0%o has bits outside 0666: only read/write bits mean something for shared memory", mode);
  }
  *out = mode == 0 ? SHMBUS_DEFAULT_MODE : mode;
  return SHMBUS_OK;
}

/* ---- handles ---------------------------------------------------------------------------------------------- */

static char* segment_strdup(const char* s) {
  size_t n = strlen(s);
  char* copy = SBI_CAST(char*, malloc(n + 1));
  if (copy != NULL) memcpy(copy, s, n + 1);
  return copy;
}

/* Wraps a mapping into a handle. For a shmbus segment, `head` is the validated copy of its header: kind and params
   come from that copy, never again from shared bytes another process may have changed since. */
static int segment_wrap(const char* name, sbi_map* map, int origin, const uint8_t* head, shmbus_segment** out) {
  shmbus_segment* seg = SBI_CAST(shmbus_segment*, calloc(1, sizeof *seg));
  char* copy = segment_strdup(name);
  if (seg == NULL || copy == NULL) {
    free(seg);
    free(copy);
    sbi_os_unmap(map);
    return sbi_fail(SHMBUS_EOS, "out of memory for a segment handle");
  }
  seg->name = copy;
  seg->map = *map;
  seg->base = map->data;
  seg->size = map->len;
  seg->origin = origin;
  if (origin == SBI_ORIGIN_SHMBUS) {
    size_t i;
    seg->payload = map->data + SHMBUS_HEADER_SIZE;
    seg->payload_size = map->len - SHMBUS_HEADER_SIZE;
    seg->kind = sbi_get16(head + SBI_HDR_KIND);
    for (i = 0; i < SHMBUS_PARAMS_COUNT; i++) seg->params_copy[i] = sbi_get32(head + SBI_HDR_PARAMS + 4 * i);
  } else {
    seg->payload = map->data;
    seg->payload_size = map->len;
    seg->kind = SBI_KIND_ANY;
  }
  seg->params = seg->params_copy;
  *out = seg;
  return SHMBUS_OK;
}

void sbi_segment_close(shmbus_segment* seg) {
  if (seg == NULL) return;
  sbi_os_unmap(&seg->map);
  free(seg->name);
  free(seg);
}

/* ---- create (§2.1) ---------------------------------------------------------------------------------------- */

void shmbus_header_encode(const shmbus_header* hd, void* out) {
  uint8_t* h = SBI_CAST(uint8_t*, out);
  size_t i;
  if (hd == NULL || out == NULL) return;
  memset(h, 0, SHMBUS_HEADER_SIZE);
  sbi_put32(h + SBI_HDR_MAGIC, SHMBUS_SEGMENT_MAGIC);
  sbi_put16(h + SBI_HDR_VERSION, hd->version);
  sbi_put16(h + SBI_HDR_KIND, hd->kind);
  sbi_put32(h + SBI_HDR_STATE, hd->state);
  sbi_put32(h + SBI_HDR_HEADER_SIZE, hd->header_size);
  sbi_put64(h + SBI_HDR_TOTAL_SIZE, hd->total_size);
  sbi_put64(h + SBI_HDR_PAYLOAD_SIZE, hd->payload_size);
  sbi_put32(h + SBI_HDR_CREATOR_PID, hd->creator_pid);
  sbi_put32(h + SBI_HDR_FLAGS, hd->flags);
  sbi_put64(h + SBI_HDR_CREATOR_START, hd->creator_start_time);
  sbi_put64(h + SBI_HDR_CREATED_AT, hd->created_at);
  sbi_put32(h + SBI_HDR_CREATOR_NS, hd->creator_ns);
  for (i = 0; i < SHMBUS_PARAMS_COUNT; i++) sbi_put32(h + SBI_HDR_PARAMS + 4 * i, hd->params[i]);
}

/* Step 2 of §2.1 up to the payload: every field but state and creatorPid (magic first: the encoded bytes are
   copied in order), then SYNC CREATOR. The object is fresh (zero), so state stays INIT. */
static void segment_write_header(uint8_t* h, uint16_t kind, const uint32_t* params, size_t payload_size) {
  const sbi_identity* me = sbi_self();
  uint8_t bytes[SHMBUS_HEADER_SIZE];
  shmbus_header hd;
  memset(&hd, 0, sizeof hd);
  hd.version = SHMBUS_PROTOCOL_VERSION;
  hd.kind = kind;
  hd.header_size = SHMBUS_HEADER_SIZE;
  hd.total_size = (uint64_t)payload_size + SHMBUS_HEADER_SIZE;
  hd.payload_size = (uint64_t)payload_size;
  hd.creator_start_time = me->start;
  hd.created_at = sbi_os_epoch_ms();
  hd.creator_ns = me->ns;
  if (params != NULL) memcpy(hd.params, params, sizeof hd.params);
  shmbus_header_encode(&hd, bytes);
  /* Everything before state, then everything after creatorPid; state and creatorPid stay 0 for now. */
  memcpy(h, bytes, SBI_HDR_STATE);
  memcpy(h + SBI_HDR_HEADER_SIZE, bytes + SBI_HDR_HEADER_SIZE, SBI_HDR_CREATOR_PID - SBI_HDR_HEADER_SIZE);
  memcpy(h + SBI_HDR_FLAGS, bytes + SBI_HDR_FLAGS, SHMBUS_HEADER_SIZE - SBI_HDR_FLAGS);
  /* SYNC CREATOR (release store of creatorPid): an opener that sees the pid sees magic, start and ns. */
  sbi_store32(sbi_word(h, SBI_HDR_CREATOR_PID), me->pid, __ATOMIC_RELEASE);
}

/* Creates the object and writes its header; the payload is zero (a fresh object) and state still INIT. */
static int segment_begin(const char* name, uint16_t kind, const uint32_t* params, size_t payload_size,
                         unsigned mode, shmbus_segment** out) {
  char os_name[SBI_OS_NAME_MAX];
  sbi_map map;
  int rc = sbi_os_name(name, os_name);
  if (rc != SHMBUS_OK) return rc;
  if (kind >= SBI_KIND_COUNT) return sbi_fail(SHMBUS_EINVAL_ARG, "unknown segment kind %u", (unsigned)kind);
  /* 0 is the default (0600): a zero-filled options struct must never create an object nobody may open. */
  if ((rc = sbi_check_mode(mode, &mode)) != SHMBUS_OK) return rc;
  if ((uint64_t)payload_size > SEGMENT_MAX_SIZE) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "segment size %llu is larger than 2^46 bytes", (unsigned long long)payload_size);
  }
  rc = sbi_os_shm_create(os_name, mode, payload_size + SHMBUS_HEADER_SIZE, &map);
  if (rc == SHMBUS_ESHM_EXISTS) {
    return sbi_fail(rc, "segment \"%s\" already exists: open it, or unlink it first", name);
  }
  if (rc != SHMBUS_OK) return rc;
  segment_write_header(map.data, kind, params, payload_size);
  rc = segment_wrap(name, &map, SBI_ORIGIN_SHMBUS, map.data, out); /* our own header: nobody else writes it */
  if (rc != SHMBUS_OK) sbi_os_shm_unlink(os_name);
  return rc;
}

/* Step 3 of §2.1: SYNC READY, then wake every opener sleeping on `state`. */
static void segment_publish(shmbus_segment* seg) {
  uint32_t* state = sbi_word(seg->base, SBI_HDR_STATE);
  /* SYNC READY (release store): the header and the laid-out payload are visible to whoever sees READY. */
  sbi_store32(state, SBI_STATE_READY, __ATOMIC_RELEASE);
  sbi_os_futex_wake(state, SBI_WAKE_ALL);
}

/* A create that failed after the object existed: unmap and remove the name (§2.1 "the creator unlinks"). */
static void segment_abort(shmbus_segment* seg) {
  char os_name[SBI_OS_NAME_MAX];
  if (sbi_os_name(seg->name, os_name) == SHMBUS_OK) sbi_os_shm_unlink(os_name);
  sbi_segment_close(seg);
}

int sbi_segment_create(const char* name, uint16_t kind, const uint32_t params[16], size_t payload_size,
                       unsigned mode, int (*init)(uint8_t* payload, size_t size, void* ctx), void* ctx,
                       shmbus_segment** out) {
  shmbus_segment* seg = NULL;
  int rc = segment_begin(name, kind, params, payload_size, mode, &seg);
  if (rc != SHMBUS_OK) return rc;
  if (init != NULL && (rc = init(seg->payload, seg->payload_size, ctx)) != SHMBUS_OK) {
    segment_abort(seg);
    return rc;
  }
  segment_publish(seg);
  *out = seg;
  return SHMBUS_OK;
}

/* ---- open (§2.2) ------------------------------------------------------------------------------------------ */

static const char* segment_kind_name(unsigned kind) {
  static const char* const names[SBI_KIND_COUNT] = {"raw",   "topic",  "queue",     "mailbox", "rpc",
                                                    "mutex", "rwlock", "semaphore", "event"};
  return kind < SBI_KIND_COUNT ? names[kind] : "unknown";
}

/* Step 4 of §2.2, in its order, on a header whose state is not INIT. `size` is the object's fstat size. */
static int segment_validate(const char* name, const uint8_t* h, uint64_t size, uint32_t state, uint16_t kind) {
  const uint32_t magic = sbi_get32(h + SBI_HDR_MAGIC);
  const uint16_t version = sbi_get16(h + SBI_HDR_VERSION);
  const uint16_t found = sbi_get16(h + SBI_HDR_KIND);
  const uint32_t header_size = sbi_get32(h + SBI_HDR_HEADER_SIZE);
  const uint64_t total = sbi_get64(h + SBI_HDR_TOTAL_SIZE);
  const uint64_t payload = sbi_get64(h + SBI_HDR_PAYLOAD_SIZE);
  if (magic != SHMBUS_SEGMENT_MAGIC) {
    return sbi_fail(SHMBUS_ESHM_CORRUPT, "segment \"%s\" is not a shmbus segment: bad magic 0x%08x", name, magic);
  }
  if (state != SBI_STATE_READY) {
    return sbi_fail(SHMBUS_ESHM_CORRUPT, "segment \"%s\" is corrupt: bad state word %u", name, state);
  }
  if (version != SHMBUS_PROTOCOL_VERSION) {
    return sbi_fail(version > SHMBUS_PROTOCOL_VERSION ? SHMBUS_ESHM_VERSION : SHMBUS_ESHM_CORRUPT,
                    "segment \"%s\" uses protocol version %u; this shmbus speaks version %d%s", name, version,
                    SHMBUS_PROTOCOL_VERSION, version > SHMBUS_PROTOCOL_VERSION ? " (upgrade shmbus here)" : "");
  }
  if (found >= SBI_KIND_COUNT) {
    return sbi_fail(SHMBUS_ESHM_CORRUPT, "segment \"%s\" is corrupt: unknown kind %u", name, found);
  }
  if (kind != SBI_KIND_ANY && found != kind) {
    return sbi_fail(SHMBUS_ESHM_KIND, "segment \"%s\" is a %s, not a %s; pick another name or unlink it", name,
                    segment_kind_name(found), segment_kind_name(kind));
  }
  if (header_size != SHMBUS_HEADER_SIZE || total != size || payload != total - SHMBUS_HEADER_SIZE) {
    return sbi_fail(SHMBUS_ESHM_CORRUPT,
                    "segment \"%s\" is corrupt: header/total/payload sizes %u/%llu/%llu do not fit the %llu-byte "
                    "object",
                    name, header_size, (unsigned long long)total, (unsigned long long)payload,
                    (unsigned long long)size);
  }
  return SHMBUS_OK;
}

int shmbus_header_decode(const void* bytes, size_t len, uint64_t object_size, shmbus_header* out) {
  const uint8_t* h = SBI_CAST(const uint8_t*, bytes);
  size_t i;
  int rc;
  if (bytes == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "bytes and out are required");
  memset(out, 0, sizeof *out);
  if (len < SHMBUS_HEADER_SIZE || object_size < SHMBUS_HEADER_SIZE) {
    return sbi_fail(SHMBUS_ESHM_CORRUPT, "a header is %d bytes (got %zu of an object of %llu)", SHMBUS_HEADER_SIZE,
                    len, (unsigned long long)object_size);
  }
  out->state = sbi_get32(h + SBI_HDR_STATE);
  if (out->state == SBI_STATE_INIT) return SHMBUS_OK;
  rc = segment_validate("header", h, object_size, out->state, SBI_KIND_ANY);
  if (rc != SHMBUS_OK) return rc;
  out->version = sbi_get16(h + SBI_HDR_VERSION);
  out->kind = sbi_get16(h + SBI_HDR_KIND);
  out->header_size = sbi_get32(h + SBI_HDR_HEADER_SIZE);
  out->total_size = sbi_get64(h + SBI_HDR_TOTAL_SIZE);
  out->payload_size = sbi_get64(h + SBI_HDR_PAYLOAD_SIZE);
  out->creator_pid = sbi_get32(h + SBI_HDR_CREATOR_PID);
  out->flags = sbi_get32(h + SBI_HDR_FLAGS);
  out->creator_start_time = sbi_get64(h + SBI_HDR_CREATOR_START);
  out->created_at = sbi_get64(h + SBI_HDR_CREATED_AT);
  out->creator_ns = sbi_get32(h + SBI_HDR_CREATOR_NS);
  for (i = 0; i < SHMBUS_PARAMS_COUNT; i++) out->params[i] = sbi_get32(h + SBI_HDR_PARAMS + 4 * i);
  return SHMBUS_OK;
}

/* While state is INIT: the creator the header names, if any (1 known and *alive set; 0 none recorded yet). */
static int segment_creator(const uint8_t* h, int* alive, uint32_t* pid) {
  /* SYNC CREATOR (acquire load of creatorPid): seeing it means start and ns are written. */
  *pid = sbi_load32(SBI_CAST(const uint32_t*, (const void*)(h + SBI_HDR_CREATOR_PID)), __ATOMIC_ACQUIRE);
  if (sbi_get32(h + SBI_HDR_MAGIC) != SHMBUS_SEGMENT_MAGIC || *pid == 0) return 0;
  *alive = sbi_holder_alive(*pid, sbi_get64(h + SBI_HDR_CREATOR_START), sbi_get32(h + SBI_HDR_CREATOR_NS));
  return 1;
}

/* One look at the object: 0 with *out set, SHMBUS_EAGAIN to look again later, or an error. */
static int segment_try_open(const char* name, const char* os_name, uint16_t kind, int final, int64_t left_ms,
                            shmbus_segment** out) {
  sbi_map map;
  uint32_t state;
  uint32_t pid = 0;
  int alive = 1;
  int known;
  int rc = sbi_os_shm_map(os_name, 0, 1, &map);
  if (rc == SHMBUS_ESHM_NOT_FOUND) return sbi_fail(rc, "segment \"%s\" does not exist", name);
  if (rc != SHMBUS_OK) return rc;
  if (map.len < SHMBUS_HEADER_SIZE) {
    /* A creator between shm_open and ftruncate: look again until the timeout. */
    sbi_os_unmap(&map);
    if (!final) {
      sbi_os_sleep_ms(1); /* no word to wait on yet */
      return SHMBUS_EAGAIN;
    }
    return sbi_fail(SHMBUS_ESHM_CORRUPT, "segment \"%s\" is %llu bytes, smaller than a shmbus header (still being "
                    "created, or not a shmbus segment)", name, (unsigned long long)map.len);
  }
  /* SYNC READY (acquire load of state): READY makes every header field and the creator's payload visible. */
  state = sbi_load32(sbi_word(map.data, SBI_HDR_STATE), __ATOMIC_ACQUIRE);
  if (state != SBI_STATE_INIT) {
    /* Judge a private copy: what was validated is what the handle keeps. */
    uint8_t head[SHMBUS_HEADER_SIZE];
    memcpy(head, map.data, sizeof head);
    rc = segment_validate(name, head, map.len, state, kind);
    if (rc != SHMBUS_OK) {
      sbi_os_unmap(&map);
      return rc;
    }
    return segment_wrap(name, &map, SBI_ORIGIN_SHMBUS, head, out);
  }
  known = segment_creator(map.data, &alive, &pid);
  if (known && !alive) {
    sbi_os_unmap(&map);
    return sbi_fail(SHMBUS_ESHM_CORRUPT, "segment \"%s\" never became ready: its creator (pid %u) died while "
                    "creating it; unlink it", name, pid);
  }
  if (final) {
    sbi_os_unmap(&map);
    if (known) {
      return sbi_fail(SHMBUS_ETIMEDOUT, "segment \"%s\" is still being initialised by process %u; open it later or "
                      "with a longer timeout", name, pid);
    }
    return sbi_fail(SHMBUS_ESHM_CORRUPT, "segment \"%s\" never became ready and names no creator (not a shmbus "
                    "segment, or its creator died before writing the header); unlink it", name);
  }
  /* Bounded sleep on state (expected INIT): a creator that dies meanwhile is noticed at the next look. */
  sbi_os_futex_wait(sbi_word(map.data, SBI_HDR_STATE), SBI_STATE_INIT,
                    left_ms < 0 || left_ms > SEGMENT_OPEN_SLICE_MS ? SEGMENT_OPEN_SLICE_MS : left_ms);
  sbi_os_unmap(&map);
  return SHMBUS_EAGAIN;
}

int sbi_segment_open(const char* name, uint16_t kind, int64_t timeout_ms, shmbus_segment** out) {
  char os_name[SBI_OS_NAME_MAX];
  const int64_t deadline = sbi_deadline(timeout_ms);
  int rc = sbi_os_name(name, os_name);
  if (rc != SHMBUS_OK) return rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out is NULL");
  for (;;) {
    const int64_t left = sbi_left_ms(deadline);
    rc = segment_try_open(name, os_name, kind, left == 0, left, out);
    if (rc != SHMBUS_EAGAIN) return rc;
  }
}

/* ---- public API ------------------------------------------------------------------------------------------- */

/* An options struct is read only as far as its caller's struct_size reaches (older callers, smaller structs). */
#define SBI_HAS_FIELD(opts, type, field) ((opts)->struct_size >= offsetof(type, field) + sizeof((opts)->field))

static int segment_check_out(void* out) {
  return out == NULL ? sbi_fail(SHMBUS_EINVAL_ARG, "the out-param is NULL") : SHMBUS_OK;
}

int shmbus_segment_create(const char* name, size_t size, shmbus_segment** out) {
  shmbus_segment_create_options opts;
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  opts.size = size;
  return shmbus_segment_create_ex(name, &opts, out);
}

int shmbus_segment_create_ex(const char* name, const shmbus_segment_create_options* opts, shmbus_segment** out) {
  typedef shmbus_segment_create_options opts_t;
  shmbus_segment* seg = NULL;
  unsigned mode = 0;
  int kind = SHMBUS_KIND_RAW;
  const uint32_t* params = NULL;
  int rc = segment_check_out(out);
  if (rc != SHMBUS_OK) return rc;
  if (opts == NULL || !SBI_HAS_FIELD(opts, opts_t, size)) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "options are required, with struct_size = sizeof(shmbus_segment_create_options)");
  }
  if (SBI_HAS_FIELD(opts, opts_t, mode) && sbi_check_mode(opts->mode, &mode) != SHMBUS_OK) return SHMBUS_EINVAL_ARG;
  if (!SBI_HAS_FIELD(opts, opts_t, mode)) mode = SHMBUS_DEFAULT_MODE;
  if (SBI_HAS_FIELD(opts, opts_t, kind)) kind = opts->kind;
  if (kind < 0 || kind >= SBI_KIND_COUNT) return sbi_fail(SHMBUS_EINVAL_ARG, "kind %d is not a SHMBUS_KIND_*", kind);
  if (SBI_HAS_FIELD(opts, opts_t, params)) params = opts->params;
  rc = segment_begin(name, (uint16_t)kind, params, opts->size, mode, &seg);
  if (rc != SHMBUS_OK) return rc;
  if (SBI_HAS_FIELD(opts, opts_t, init_ctx) && opts->init != NULL && (rc = opts->init(seg, opts->init_ctx)) != 0) {
    segment_abort(seg);
    return rc;
  }
  segment_publish(seg);
  *out = seg;
  return SHMBUS_OK;
}

int shmbus_segment_open(const char* name, shmbus_segment** out) {
  shmbus_segment_open_options opts;
  opts.struct_size = sizeof opts;
  opts.kind = SHMBUS_KIND_ANY;
  opts.timeout_ms = SHMBUS_DEFAULT_OPEN_TIMEOUT_MS;
  return shmbus_segment_open_ex(name, &opts, out);
}

int shmbus_segment_open_ex(const char* name, const shmbus_segment_open_options* opts, shmbus_segment** out) {
  typedef shmbus_segment_open_options opts_t;
  int kind = SHMBUS_KIND_ANY;
  int64_t timeout_ms = SHMBUS_DEFAULT_OPEN_TIMEOUT_MS;
  int rc = segment_check_out(out);
  if (rc != SHMBUS_OK) return rc;
  if (opts == NULL || opts->struct_size == 0) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "options are required, with struct_size = sizeof(shmbus_segment_open_options)");
  }
  if (SBI_HAS_FIELD(opts, opts_t, kind)) kind = opts->kind;
  if (SBI_HAS_FIELD(opts, opts_t, timeout_ms)) timeout_ms = opts->timeout_ms;
  if (kind != SHMBUS_KIND_ANY && (kind < 0 || kind >= SBI_KIND_COUNT)) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "kind %d is not a SHMBUS_KIND_* (or SHMBUS_KIND_ANY)", kind);
  }
  if (timeout_ms < -1) return sbi_fail(SHMBUS_EINVAL_ARG, "timeout_ms %lld: use -1 (forever) or >= 0", (long long)timeout_ms);
  return sbi_segment_open(name, kind == SHMBUS_KIND_ANY ? SBI_KIND_ANY : (uint16_t)kind, timeout_ms, out);
}

/* "/" then 1-254 characters without "/" (the POSIX shm name rule). */
static int segment_raw_name_valid(const char* posix_name) {
  size_t i;
  if (posix_name == NULL || posix_name[0] != '/') return 0;
  for (i = 1; i <= 255 && posix_name[i] != '\0'; i++) {
    if (posix_name[i] == '/') return 0;
  }
  return i >= 2 && i <= 255;
}

int shmbus_segment_open_raw(const char* posix_name, size_t size, int read_only, shmbus_segment** out) {
  sbi_map map;
  int rc = segment_check_out(out);
  if (rc != SHMBUS_OK) return rc;
  if (!segment_raw_name_valid(posix_name)) {
    return sbi_fail(SHMBUS_EINVALID_NAME, "a raw shm name is \"/\" followed by 1-254 characters without \"/\"");
  }
  if ((uint64_t)size > SEGMENT_MAX_SIZE) return sbi_fail(SHMBUS_EINVAL_ARG, "size is larger than 2^46 bytes");
  rc = sbi_os_shm_map(posix_name, size, !read_only, &map);
  if (rc != SHMBUS_OK) return rc;
  return segment_wrap(posix_name, &map, SBI_ORIGIN_RAW, NULL, out);
}

int shmbus_segment_map_file(const char* path, uint64_t offset, uint64_t length, int writable, shmbus_segment** out) {
  sbi_map map;
  int rc = segment_check_out(out);
  if (rc != SHMBUS_OK) return rc;
  if (path == NULL || path[0] == '\0') return sbi_fail(SHMBUS_EINVAL_ARG, "map_file needs a file path");
  if (length == 0) return sbi_fail(SHMBUS_EINVAL_ARG, "length must be > 0 (SHMBUS_TO_END maps to the end)");
  rc = sbi_os_file_map(path, offset, length, writable, &map);
  if (rc != SHMBUS_OK) return rc;
  rc = segment_wrap(path, &map, SBI_ORIGIN_FILE, NULL, out);
  if (rc == SHMBUS_OK) (*out)->writable = writable ? 1 : 0;
  return rc;
}

int shmbus_segment_flush(shmbus_segment* seg) {
  if (seg == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "segment is NULL");
  return seg->origin == SBI_ORIGIN_FILE ? sbi_os_flush(&seg->map) : SHMBUS_OK;
}

void shmbus_segment_close(shmbus_segment* seg) { sbi_segment_close(seg); }

int shmbus_segment_unlink(const char* name) {
  char os_name[SBI_OS_NAME_MAX];
  int rc = sbi_os_name(name, os_name);
  if (rc != SHMBUS_OK) return rc;
  rc = sbi_os_shm_unlink(os_name);
  if (rc == SHMBUS_ESHM_NOT_FOUND) return sbi_fail(rc, "segment \"%s\" does not exist", name);
  return rc;
}

void* shmbus_segment_data(const shmbus_segment* seg) { return seg ? seg->payload : NULL; }
size_t shmbus_segment_size(const shmbus_segment* seg) { return seg ? seg->payload_size : 0; }
const char* shmbus_segment_name(const shmbus_segment* seg) { return seg ? seg->name : NULL; }
int shmbus_segment_kind(const shmbus_segment* seg) {
  return seg == NULL || seg->kind == SBI_KIND_ANY ? -1 : (int)seg->kind;
}
const uint32_t* shmbus_segment_params(const shmbus_segment* seg) { return seg ? seg->params : segment_zero_params; }

/* The payload word `index`, or NULL (message set) when it is outside the payload or misaligned. */
static uint32_t* segment_word_at(shmbus_segment* seg, size_t index) {
  uint32_t* word;
  if (seg == NULL) {
    sbi_fail(SHMBUS_EINVAL_ARG, "segment is NULL");
    return NULL;
  }
  if (index >= seg->payload_size / 4) {
    sbi_fail(SHMBUS_EINVAL_ARG, "word index %zu is outside the payload (%zu words)", index, seg->payload_size / 4);
    return NULL;
  }
  word = sbi_word(seg->payload, index * 4);
  if (((uintptr_t)word & 3u) != 0) {
    sbi_fail(SHMBUS_EINVAL_ARG, "word %zu is not 4-byte aligned (a file window at an odd offset)", index);
    return NULL;
  }
  return word;
}

int shmbus_segment_wait(shmbus_segment* seg, size_t index, uint32_t expected, int64_t timeout_ms) {
  uint32_t* word = segment_word_at(seg, index);
  if (word == NULL) return SHMBUS_EINVAL_ARG;
  if (timeout_ms < -1) return sbi_fail(SHMBUS_EINVAL_ARG, "timeout_ms %lld: use -1 or >= 0", (long long)timeout_ms);
  return sbi_os_futex_wait(word, expected, timeout_ms);
}

int shmbus_segment_wake(shmbus_segment* seg, size_t index, int count) {
  uint32_t* word = segment_word_at(seg, index);
  if (word == NULL) return SHMBUS_EINVAL_ARG;
  if (count < 0) return sbi_fail(SHMBUS_EINVAL_ARG, "count %d must be >= 0", count);
  return sbi_os_futex_wake(word, count);
}

/* ---- list and staleness (§2.3) ---------------------------------------------------------------------------- */

/* Header facts of one listed entry needed after the mapping scan. */
typedef struct segment_list_extra {
  int ready;
  int foreign; /* a whole header that is neither ready and valid nor still being created: not ours to wait for */
  int creator_known;
  int creator_alive;
  uint64_t mtime_ms;
  char entry[8 + SHMBUS_NAME_MAX + 1];
} segment_list_extra;

typedef struct segment_list_ctx {
  shmbus_segment_info* items;
  segment_list_extra* extra; /* one per item */
  size_t count;
  size_t cap;
  int failed;
} segment_list_ctx;

static int segment_list_grow(segment_list_ctx* c) {
  size_t cap = c->cap ? c->cap * 2 : 32;
  shmbus_segment_info* items = SBI_CAST(shmbus_segment_info*, realloc(c->items, cap * sizeof *items));
  segment_list_extra* extra;
  if (items == NULL) return -1;
  c->items = items;
  extra = SBI_CAST(segment_list_extra*, realloc(c->extra, cap * sizeof *extra));
  if (extra == NULL) return -1;
  c->extra = extra;
  c->cap = cap;
  return 0;
}

/* Decodes what a header copy says (a copy read by the kernel: nothing here touches a live mapping). */
static void segment_list_judge(shmbus_segment_info* info, segment_list_extra* x, const uint8_t* head,
                               size_t head_len, uint64_t size) {
  uint32_t state;
  if (head_len < SHMBUS_HEADER_SIZE) return;
  state = sbi_get32(head + SBI_HDR_STATE);
  if (state == SBI_STATE_READY && segment_validate(info->name, head, size, state, SBI_KIND_ANY) == SHMBUS_OK) {
    x->ready = 1;
    info->size = sbi_get64(head + SBI_HDR_PAYLOAD_SIZE);
    info->kind = sbi_get16(head + SBI_HDR_KIND);
    info->creator_pid = sbi_get32(head + SBI_HDR_CREATOR_PID);
    info->created_at = sbi_get64(head + SBI_HDR_CREATED_AT);
    x->creator_known = 1;
    x->creator_alive = sbi_holder_alive(info->creator_pid, sbi_get64(head + SBI_HDR_CREATOR_START),
                                        sbi_get32(head + SBI_HDR_CREATOR_NS));
  } else if (state == SBI_STATE_INIT && sbi_get32(head + SBI_HDR_MAGIC) == SHMBUS_SEGMENT_MAGIC &&
             sbi_get32(head + SBI_HDR_CREATOR_PID) != 0) {
    /* Still being created, and the header names its creator (§2.3): judged by it. */
    x->creator_known = 1;
    x->creator_alive = sbi_holder_alive(sbi_get32(head + SBI_HDR_CREATOR_PID), sbi_get64(head + SBI_HDR_CREATOR_START),
                                        sbi_get32(head + SBI_HDR_CREATOR_NS));
  } else if (state != SBI_STATE_INIT) {
    x->foreign = 1;
  }
}

static void segment_list_entry(const char* entry, uint64_t size, const uint8_t* head, size_t head_len,
                               uint64_t mtime_ms, void* ctx) {
  segment_list_ctx* c = SBI_CAST(segment_list_ctx*, ctx);
  const char* name = entry + 7; /* after "shmbus." */
  shmbus_segment_info* info;
  segment_list_extra* x;
  if (c->failed || !segment_name_valid(name)) return;
  if (c->count == c->cap && segment_list_grow(c) != 0) {
    c->failed = 1;
    return;
  }
  info = &c->items[c->count];
  x = &c->extra[c->count];
  c->count++;
  memset(info, 0, sizeof *info);
  memset(x, 0, sizeof *x);
  strcpy(info->name, name);
  strcpy(x->entry, entry);
  x->mtime_ms = mtime_ms;
  info->size = size;
  info->kind = -1;
  segment_list_judge(info, x, head, head_len, size);
}

/* §2.3: a segment nobody maps is stale when its creator is dead; one whose header names no creator yet (or is
   shorter than a header), when it is older than the grace period (its creator may not have mapped it yet); one
   with a damaged or foreign header as soon as nobody maps it (as Node's Segment.list judges it). */
static int segment_stale(const shmbus_segment_info* info, const segment_list_extra* x, uint64_t now_ms) {
  if (info->attached) return 0;
  if (x->creator_known) return !x->creator_alive;
  if (x->ready || x->foreign) return 1;
  return now_ms > x->mtime_ms && now_ms - x->mtime_ms > SEGMENT_CREATING_GRACE_MS;
}

static int segment_info_cmp(const void* a, const void* b) {
  return strcmp(SBI_CAST(const shmbus_segment_info*, a)->name, SBI_CAST(const shmbus_segment_info*, b)->name);
}

int shmbus_segment_list(shmbus_segment_info** out, size_t* count) {
  segment_list_ctx c;
  sbi_mapped_set* mapped;
  uint64_t now_ms;
  size_t i;
  int rc;
  if (out == NULL || count == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "out and count are required");
  memset(&c, 0, sizeof c);
  /* Headers first, mappings after: a creator maps its object before it writes the header, so a header read
     here whose creator is mid-creation is already visible in the mapping scan. */
  rc = sbi_os_shm_foreach(segment_list_entry, &c);
  mapped = rc == SHMBUS_OK && !c.failed ? sbi_os_mapped_scan() : NULL;
  if (rc != SHMBUS_OK || c.failed || mapped == NULL) {
    free(c.items);
    free(c.extra);
    return rc != SHMBUS_OK ? rc : sbi_fail(SHMBUS_EOS, "out of memory listing segments");
  }
  now_ms = sbi_os_epoch_ms();
  for (i = 0; i < c.count; i++) {
    c.items[i].attached = sbi_os_mapped_has(mapped, c.extra[i].entry);
    c.items[i].stale = segment_stale(&c.items[i], &c.extra[i], now_ms);
  }
  sbi_os_mapped_free(mapped);
  free(c.extra);
  if (c.count > 1) qsort(c.items, c.count, sizeof c.items[0], segment_info_cmp);
  *out = c.items;
  *count = c.count;
  return SHMBUS_OK;
}

void shmbus_segment_list_free(shmbus_segment_info* list) { free(list); }
