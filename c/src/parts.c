/*
 * Parts codec (PROTOCOL.md §10): a record of named values (bytes, string, json, float64, int64) as one message.
 * Plain bytes, no atomics: a record is read inside a message the channel already handed over. The reader checks
 * every rule once (JSON syntax included), in shmbus_parts_reader_init, before any pointer into the record is handed out; the builder writes
 * values from the front of the caller's buffer and keeps the directory entries at its back until finish moves them
 * behind the last value (no allocation, no count to give in advance).
 */
#include "internal.h"

#include <string.h>

#define PT_MAGIC 0u
#define PT_VERSION 4u
#define PT_HEADER_SIZE 6u
#define PT_COUNT 8u
#define PT_FLAGS 12u
#define PT_DIR 16u
#define PT_TOTAL 20u
/* Directory entry fields. */
#define PE_NAME 0u
#define PE_NAME_SIZE 4u
#define PE_TYPE 6u
#define PE_FLAGS 7u
#define PE_VALUE 8u
#define PE_VALUE_SIZE 12u

static int pt_is_text(int type) { return type == SHMBUS_PART_STRING || type == SHMBUS_PART_JSON; }

static uint64_t pt_align(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF; as Node's fatal TextDecoder
   and Python's codec judge it, so the three readers refuse the same bytes. */
static int pt_utf8_valid(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07u, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += len;
  }
  return 1;
}

/* JSON text (RFC 8259) by recursive descent, at most PT_JSON_DEPTH arrays/objects deep (§10 lets a reader refuse
   deeper text; this bounds the stack). Syntax only: UTF-8 was checked before, values are not converted. */
#define PT_JSON_DEPTH 512

typedef struct pt_json {
  const uint8_t* p;
  const uint8_t* end;
} pt_json;

static void pt_json_ws(pt_json* j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int pt_json_digits(pt_json* j) {
  const uint8_t* start = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
  return j->p > start;
}

static int pt_json_string(pt_json* j) {
  j->p++; /* the opening quote */
  while (j->p < j->end) {
    const uint8_t c = *j->p++;
    if (c == '"') return 1;
    if (c < 0x20) return 0;
    if (c != '\\') continue;
    if (j->p >= j->end) return 0;
    const uint8_t e = *j->p++;
    if (e == 'u') {
      for (int k = 0; k < 4; k++, j->p++) {
        if (j->p >= j->end) return 0;
        const uint8_t h = *j->p;
        if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return 0;
      }
    } else if (strchr("\"\\/bfnrt", e) == NULL || e == 0) {
      return 0;
    }
  }
  return 0;
}

static int pt_json_value(pt_json* j, int depth) {
  pt_json_ws(j);
  if (j->p >= j->end) return 0;
  const uint8_t c = *j->p;
  if (c == '{' || c == '[') {
    if (depth >= PT_JSON_DEPTH) return 0;
    const uint8_t close = c == '{' ? '}' : ']';
    j->p++;
    pt_json_ws(j);
    if (j->p < j->end && *j->p == close) {
      j->p++;
      return 1;
    }
    for (;;) {
      if (c == '{') {
        pt_json_ws(j);
        if (j->p >= j->end || *j->p != '"' || !pt_json_string(j)) return 0;
        pt_json_ws(j);
        if (j->p >= j->end || *j->p++ != ':') return 0;
      }
      if (!pt_json_value(j, depth + 1)) return 0;
      pt_json_ws(j);
      if (j->p >= j->end) return 0;
      const uint8_t next = *j->p++;
      if (next == close) return 1;
      if (next != ',') return 0;
    }
  }
  if (c == '"') return pt_json_string(j);
  static const char* const words[] = {"true", "false", "null"};
  for (int w = 0; w < 3; w++) {
    const size_t n = strlen(words[w]);
    if ((size_t)(j->end - j->p) >= n && memcmp(j->p, words[w], n) == 0) {
      j->p += n;
      return 1;
    }
  }
  if (c == '-') j->p++;
  if (j->p < j->end && *j->p == '0') {
    j->p++;
  } else if (!pt_json_digits(j)) {
    return 0;
  }
  if (j->p < j->end && *j->p == '.') {
    j->p++;
    if (!pt_json_digits(j)) return 0;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
    if (!pt_json_digits(j)) return 0;
  }
  return 1;
}

static int pt_json_valid(const uint8_t* s, size_t n) {
  pt_json j = {s, s + n};
  if (!pt_json_value(&j, 0)) return 0;
  pt_json_ws(&j);
  return j.p == j.end;
}

/* A refusal naming the rule and the part (every format has at least one argument: C11 variadic macros). */
#define PT_BAD(i, fmt, ...) \
  sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: part %u: " fmt, (unsigned)(i), __VA_ARGS__)

int shmbus_parts_reader_init(shmbus_parts_reader* r, const void* msg, size_t len) {
  if (r == NULL || msg == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "parts_reader_init: r and msg must not be NULL");
  memset(r, 0, sizeof *r);
  const uint8_t* p = SBI_CAST(const uint8_t*, msg);
  if (len < SHMBUS_PARTS_HEADER_SIZE)
    return sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: %zu bytes, shorter than the 32-byte header", len);
  if (sbi_get32(p + PT_MAGIC) != SHMBUS_PARTS_MAGIC)
    return sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: wrong magic (not a Parts record)");
  if (sbi_get16(p + PT_VERSION) != SHMBUS_PARTS_VERSION)
    return sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: version %u (this reader knows 1)",
                    sbi_get16(p + PT_VERSION));
  const uint64_t header = sbi_get16(p + PT_HEADER_SIZE);
  if (header < SHMBUS_PARTS_HEADER_SIZE || header % 8 != 0)
    return sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: header size %u", (unsigned)header);
  if (sbi_get32(p + PT_FLAGS) != 0) return sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: unknown flags");
  const uint32_t count = sbi_get32(p + PT_COUNT);
  if (count > SHMBUS_PARTS_MAX_COUNT)
    return sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: %u parts, more than 1024", count);
  /* 64-bit sums: no u32 field can wrap a bound. */
  const uint64_t dir = sbi_get32(p + PT_DIR);
  if (dir % 8 != 0 || dir < header)
    return sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: directory offset %u", (unsigned)dir);
  const uint64_t total = sbi_get32(p + PT_TOTAL);
  if (total != dir + (uint64_t)SHMBUS_PARTS_ENTRY_SIZE * count)
    return sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: total size %u, the directory ends at %llu",
                    (unsigned)total, (unsigned long long)(dir + (uint64_t)SHMBUS_PARTS_ENTRY_SIZE * count));
  if (total > len)
    return sbi_fail(SHMBUS_EPARTS_CORRUPT, "not a valid Parts record: %llu bytes needed, %zu given (truncated)",
                    (unsigned long long)total, len);
  uint64_t end = header;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* e = p + dir + (size_t)SHMBUS_PARTS_ENTRY_SIZE * i;
    const uint64_t name = sbi_get32(e + PE_NAME);
    const uint64_t name_size = sbi_get16(e + PE_NAME_SIZE);
    const int type = e[PE_TYPE];
    const uint64_t value = sbi_get32(e + PE_VALUE);
    const uint64_t size = sbi_get32(e + PE_VALUE_SIZE);
    if (e[PE_FLAGS] != 0) return PT_BAD(i, "unknown flags %u", (unsigned)e[PE_FLAGS]);
    if (type < SHMBUS_PART_BYTES || type > SHMBUS_PART_I64) return PT_BAD(i, "unknown type %d", type);
    if (name_size < 1 || name_size > SHMBUS_PARTS_MAX_NAME) return PT_BAD(i, "name size %u", (unsigned)name_size);
    if (name < end) return PT_BAD(i, "name at %llu overlaps what comes before (%llu)", (unsigned long long)name, (unsigned long long)end);
    if (name + name_size + 1 > value) return PT_BAD(i, "name at %llu runs into its value at %llu", (unsigned long long)name, (unsigned long long)value);
    if (value % 8 != 0) return PT_BAD(i, "value offset %llu is not a multiple of 8", (unsigned long long)value);
    const uint64_t value_end = value + size + (pt_is_text(type) ? 1 : 0);
    if (value_end > dir) return PT_BAD(i, "value ends at %llu, past the parts (%llu)", (unsigned long long)value_end, (unsigned long long)dir);
    if ((type == SHMBUS_PART_F64 || type == SHMBUS_PART_I64) && size != 8)
      return PT_BAD(i, "a number of %llu bytes (8)", (unsigned long long)size);
    if (pt_is_text(type) && p[value + size] != 0) return PT_BAD(i, "%s", "text value not followed by its 0 byte");
    if (p[name + name_size] != 0) return PT_BAD(i, "%s", "name not followed by its 0 byte");
    if (memchr(p + name, 0, (size_t)name_size) != NULL) return PT_BAD(i, "%s", "name holds a 0 byte");
    if (!pt_utf8_valid(p + name, (size_t)name_size)) return PT_BAD(i, "%s", "name is not valid UTF-8");
    for (uint32_t k = 0; k < i; k++) { /* at most 1024 x 1023 / 2 short compares */
      const uint8_t* o = p + dir + (size_t)SHMBUS_PARTS_ENTRY_SIZE * k;
      if (sbi_get16(o + PE_NAME_SIZE) == name_size && memcmp(p + sbi_get32(o + PE_NAME), p + name, (size_t)name_size) == 0)
        return PT_BAD(i, "the name of part %u again", k);
    }
    if (pt_is_text(type) && !pt_utf8_valid(p + value, (size_t)size)) return PT_BAD(i, "%s", "text is not valid UTF-8");
    if (type == SHMBUS_PART_JSON && !pt_json_valid(p + value, (size_t)size))
      return PT_BAD(i, "%s", "json value is not JSON text (RFC 8259), or nested deeper than 512");
    end = value_end;
  }
  r->msg = p;
  r->size = (size_t)total;
  r->count = count;
  r->dir_offset = (uint32_t)dir;
  return SHMBUS_OK;
}

uint32_t shmbus_parts_count(const shmbus_parts_reader* r) { return r == NULL ? 0 : r->count; }

int shmbus_parts_get(const shmbus_parts_reader* r, uint32_t index, shmbus_part* out) {
  if (r == NULL || out == NULL || r->msg == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "parts_get: r and out must not be NULL");
  if (index >= r->count) return sbi_fail(SHMBUS_EINVAL_ARG, "parts_get: index %u, the record has %u parts", index, r->count);
  /* Every field below was checked by shmbus_parts_reader_init. */
  const uint8_t* e = r->msg + r->dir_offset + (size_t)SHMBUS_PARTS_ENTRY_SIZE * index;
  memset(out, 0, sizeof *out);
  out->name = SBI_CAST(const char*, r->msg + sbi_get32(e + PE_NAME));
  out->name_size = sbi_get16(e + PE_NAME_SIZE);
  out->type = e[PE_TYPE];
  out->data = r->msg + sbi_get32(e + PE_VALUE);
  out->size = sbi_get32(e + PE_VALUE_SIZE);
  if (out->type == SHMBUS_PART_F64) {
    const uint64_t bits = sbi_get64(SBI_CAST(const uint8_t*, out->data));
    memcpy(&out->f64, &bits, sizeof out->f64);
  } else if (out->type == SHMBUS_PART_I64) {
    out->i64 = SBI_CAST(int64_t, sbi_get64(SBI_CAST(const uint8_t*, out->data)));
  }
  return SHMBUS_OK;
}

int shmbus_parts_find(const shmbus_parts_reader* r, const char* name, shmbus_part* out) {
  if (r == NULL || name == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "parts_find: arguments must not be NULL");
  const size_t n = strlen(name);
  for (uint32_t i = 0; i < r->count; i++) {
    const uint8_t* e = r->msg + r->dir_offset + (size_t)SHMBUS_PARTS_ENTRY_SIZE * i;
    if (sbi_get16(e + PE_NAME_SIZE) == n && memcmp(r->msg + sbi_get32(e + PE_NAME), name, n) == 0)
      return shmbus_parts_get(r, i, out);
  }
  return sbi_fail(SHMBUS_EINVAL_ARG, "parts_find: no part named \"%.200s\"", name);
}

/* ---- builder ---------------------------------------------------------------------------------------------- */

int shmbus_parts_builder_init(shmbus_parts_builder* b, void* buf, size_t cap) {
  if (b == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "parts_builder_init: b must not be NULL");
  memset(b, 0, sizeof *b);
  if (buf != NULL && cap < SHMBUS_PARTS_HEADER_SIZE)
    return sbi_fail(SHMBUS_EINVAL_ARG, "parts_builder_init: %zu bytes, a record needs at least 32", cap);
  b->buf = SBI_CAST(uint8_t*, buf);
  b->cap = buf == NULL ? 0 : cap;
  b->pos = SHMBUS_PARTS_HEADER_SIZE;
  return SHMBUS_OK;
}

/* Directory entry i while building: stacked at the back of the buffer (entry 0 last), moved by finish. */
static uint8_t* pt_stacked(const shmbus_parts_builder* b, uint32_t i) {
  return b->buf + b->cap - (size_t)SHMBUS_PARTS_ENTRY_SIZE * (i + 1);
}

/* Checks and places one part; *value = where its value goes (NULL when measuring). Nothing changes on failure. */
static int pt_add(shmbus_parts_builder* b, const char* name, int type, size_t size, uint8_t** value) {
  *value = NULL;
  if (b == NULL || name == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: b and name must not be NULL");
  if (b->finished) return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: the record is finished");
  const size_t name_size = strnlen(name, SHMBUS_PARTS_MAX_NAME + 1);
  if (name_size < 1 || name_size > SHMBUS_PARTS_MAX_NAME)
    return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: a part name is 1..255 bytes of UTF-8 (\"%.40s\")", name);
  if (!pt_utf8_valid(SBI_CAST(const uint8_t*, name), name_size))
    return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: part name \"%.40s\" is not valid UTF-8", name);
  if (b->count >= SHMBUS_PARTS_MAX_COUNT) return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: more than 1024 parts");
  const uint64_t name_at = b->pos;
  const uint64_t value_at = pt_align(name_at + name_size + 1, type == SHMBUS_PART_BYTES ? SHMBUS_PARTS_BYTES_ALIGN : 8);
  const uint64_t end = value_at + (uint64_t)size + (pt_is_text(type) ? 1 : 0);
  /* The record (values, then the directory with this entry) must fit a u32 and, when writing, the buffer beside
     the stacked entries. */
  const uint64_t need = pt_align(end, 8) + (uint64_t)SHMBUS_PARTS_ENTRY_SIZE * (b->count + 1);
  if ((uint64_t)size > UINT32_MAX || need > UINT32_MAX)
    return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: part \"%.40s\" makes the record larger than 2^32 - 1 bytes", name);
  if (b->buf != NULL && need > b->cap)
    return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: part \"%.40s\" needs %llu bytes, the buffer has %zu", name,
                    (unsigned long long)need, b->cap);
  if (b->buf != NULL) {
    for (uint32_t k = 0; k < b->count; k++) {
      const uint8_t* e = pt_stacked(b, k);
      if (sbi_get16(e + PE_NAME_SIZE) == name_size && memcmp(b->buf + sbi_get32(e + PE_NAME), name, name_size) == 0)
        return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: a second part named \"%.40s\"", name);
    }
    memcpy(b->buf + name_at, name, name_size);
    memset(b->buf + name_at + name_size, 0, (size_t)(value_at - name_at - name_size)); /* its 0 byte, padding */
    if (pt_is_text(type)) b->buf[value_at + size] = 0;
    uint8_t* e = pt_stacked(b, b->count);
    memset(e, 0, SHMBUS_PARTS_ENTRY_SIZE);
    sbi_put32(e + PE_NAME, (uint32_t)name_at);
    sbi_put16(e + PE_NAME_SIZE, (uint16_t)name_size);
    e[PE_TYPE] = (uint8_t)type;
    sbi_put32(e + PE_VALUE, (uint32_t)value_at);
    sbi_put32(e + PE_VALUE_SIZE, (uint32_t)size);
    *value = b->buf + value_at;
  }
  b->pos = (size_t)end;
  b->count++;
  return SHMBUS_OK;
}

int shmbus_parts_add_bytes(shmbus_parts_builder* b, const char* name, const void* data, size_t size) {
  if (data == NULL && size > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "parts_add_bytes: data is NULL");
  uint8_t* v;
  const int rc = pt_add(b, name, SHMBUS_PART_BYTES, size, &v);
  if (rc == SHMBUS_OK && v != NULL && size > 0) memcpy(v, data, size);
  return rc;
}

int shmbus_parts_reserve_bytes(shmbus_parts_builder* b, const char* name, size_t size, void** out) {
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "parts_reserve_bytes: out must not be NULL");
  uint8_t* v;
  const int rc = pt_add(b, name, SHMBUS_PART_BYTES, size, &v);
  *out = v;
  return rc;
}

static int pt_add_text(shmbus_parts_builder* b, const char* name, int type, const char* text, size_t size) {
  if (text == NULL && size > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: text is NULL");
  if (size > 0 && !pt_utf8_valid(SBI_CAST(const uint8_t*, text), size))
    return sbi_fail(SHMBUS_EINVAL_ARG, "parts builder: the text of part \"%.40s\" is not valid UTF-8", name ? name : "");
  if (type == SHMBUS_PART_JSON && !pt_json_valid(SBI_CAST(const uint8_t*, text), size))
    return sbi_fail(SHMBUS_EINVAL_ARG, "parts_add_json: the text of part \"%.40s\" is not JSON (RFC 8259, <= 512 deep)",
                    name ? name : "");
  uint8_t* v;
  const int rc = pt_add(b, name, type, size, &v);
  if (rc == SHMBUS_OK && v != NULL && size > 0) memcpy(v, text, size);
  return rc;
}

int shmbus_parts_add_string(shmbus_parts_builder* b, const char* name, const char* text, size_t size) {
  return pt_add_text(b, name, SHMBUS_PART_STRING, text, size);
}

int shmbus_parts_add_json(shmbus_parts_builder* b, const char* name, const char* json, size_t size) {
  return pt_add_text(b, name, SHMBUS_PART_JSON, json, size);
}

int shmbus_parts_add_f64(shmbus_parts_builder* b, const char* name, double value) {
  uint8_t* v;
  const int rc = pt_add(b, name, SHMBUS_PART_F64, 8, &v);
  if (rc == SHMBUS_OK && v != NULL) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    sbi_put64(v, bits);
  }
  return rc;
}

int shmbus_parts_add_i64(shmbus_parts_builder* b, const char* name, int64_t value) {
  uint8_t* v;
  const int rc = pt_add(b, name, SHMBUS_PART_I64, 8, &v);
  if (rc == SHMBUS_OK && v != NULL) sbi_put64(v, SBI_CAST(uint64_t, value));
  return rc;
}

int shmbus_parts_finish(shmbus_parts_builder* b, size_t* out_len) {
  if (b == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "parts_finish: b must not be NULL");
  if (b->finished) return sbi_fail(SHMBUS_EINVAL_ARG, "parts_finish: the record is finished");
  const size_t dir = (size_t)pt_align(b->pos, 8);
  const size_t total = dir + (size_t)SHMBUS_PARTS_ENTRY_SIZE * b->count;
  if (b->buf != NULL) {
    /* Fits: every add checked dir + the directory <= cap. The stack holds entry count-1 .. 0 from its start:
       reverse it in place, then one memmove (the ranges may overlap) puts entry 0 first at dir. */
    uint8_t* stack = pt_stacked(b, b->count == 0 ? 0 : b->count - 1);
    for (uint32_t i = 0, j = b->count == 0 ? 0 : b->count - 1; i < j; i++, j--) {
      uint8_t tmp[SHMBUS_PARTS_ENTRY_SIZE];
      memcpy(tmp, stack + (size_t)SHMBUS_PARTS_ENTRY_SIZE * i, sizeof tmp);
      memcpy(stack + (size_t)SHMBUS_PARTS_ENTRY_SIZE * i, stack + (size_t)SHMBUS_PARTS_ENTRY_SIZE * j, sizeof tmp);
      memcpy(stack + (size_t)SHMBUS_PARTS_ENTRY_SIZE * j, tmp, sizeof tmp);
    }
    if (b->count > 0) memmove(b->buf + dir, stack, (size_t)SHMBUS_PARTS_ENTRY_SIZE * b->count);
    memset(b->buf + b->pos, 0, dir - b->pos);
    memset(b->buf, 0, SHMBUS_PARTS_HEADER_SIZE); /* flags and reserved bytes are 0 */
    sbi_put32(b->buf + PT_MAGIC, SHMBUS_PARTS_MAGIC);
    sbi_put16(b->buf + PT_VERSION, SHMBUS_PARTS_VERSION);
    sbi_put16(b->buf + PT_HEADER_SIZE, SHMBUS_PARTS_HEADER_SIZE);
    sbi_put32(b->buf + PT_COUNT, b->count);
    sbi_put32(b->buf + PT_DIR, (uint32_t)dir);
    sbi_put32(b->buf + PT_TOTAL, (uint32_t)total);
  }
  b->finished = 1;
  if (out_len != NULL) *out_len = total;
  return SHMBUS_OK;
}
