/*
 * test_parts.c: the Parts codec (PROTOCOL.md §10) against test/vectors/parts.{bin,json} (every field, the decode step
 * part by part, the Frame inside viewed in place, re-encoding gives the same bytes even into a buffer of exactly the
 * record's size), then the refusals: every truncation, each header and entry field spoiled, 20000 seeded mutations
 * (SHMBUS_EPARTS_CORRUPT or views inside the buffer, nothing else), and the builder's argument checks.
 */
#include "vector.h"
#include "test.h"

VECTOR_TEST("parts")

static const char* type_name(int t) {
  static const char* names[] = {"?", "bytes", "string", "json", "float64", "int64"};
  return t >= 1 && t <= 5 ? names[t] : "?";
}

/* Deep equality of two parsed JSON values (object keys in the same order: both come from the same writer). */
static int json_equal(const json* a, const json* b) {
  if (a == NULL || b == NULL || a->type != b->type) return 0;
  switch (a->type) {
    case JSON_NULL: return 1;
    case JSON_BOOL:
    case JSON_NUM: return a->num == b->num;
    case JSON_STR: return strcmp(a->str, b->str) == 0;
    default:
      if (a->n != b->n) return 0;
      for (size_t i = 0; i < a->n; i++) {
        if (a->type == JSON_OBJ && strcmp(a->keys[i], b->keys[i]) != 0) return 0;
        if (!json_equal(a->items[i], b->items[i])) return 0;
      }
      return 1;
  }
}

static void decode_step(const json* want) {
  shmbus_parts_reader r;
  CHECK_RC(shmbus_parts_reader_init(&r, bin, bin_len), SHMBUS_OK);
  CHECK((double)shmbus_parts_count(&r) == json_get(want, "count")->num);
  CHECK((double)r.size == json_get(want, "totalSize")->num);
  const json* parts = json_get(want, "parts");
  CHECK(parts != NULL && parts->n == shmbus_parts_count(&r));
  for (uint32_t i = 0; parts != NULL && i < parts->n; i++) {
    const json* w = parts->items[i];
    shmbus_part p;
    CHECK_RC(shmbus_parts_get(&r, i, &p), SHMBUS_OK);
    CHECK(strcmp(p.name, json_get(w, "name")->str) == 0 && p.name_size == strlen(p.name));
    CHECK(strcmp(type_name(p.type), json_get(w, "type")->str) == 0);
    CHECK((double)((const uint8_t*)p.name - bin) == json_get(w, "nameOffset")->num);
    CHECK((double)((const uint8_t*)p.data - bin) == json_get(w, "valueOffset")->num);
    CHECK((double)p.size == json_get(w, "size")->num);
    const json* value = json_get(w, "value");
    if (p.type == SHMBUS_PART_BYTES) {
      CHECK(value->n == p.size);
      for (size_t k = 0; k < value->n && k < p.size; k++) CHECK(((const uint8_t*)p.data)[k] == value->items[k]->num);
    } else if (p.type == SHMBUS_PART_STRING) {
      CHECK(strcmp((const char*)p.data, value->str) == 0);
    } else if (p.type == SHMBUS_PART_JSON) {
      json* parsed = json_parse((const char*)p.data, p.size);
      CHECK(json_equal(parsed, value));
      json_free(parsed);
    } else if (p.type == SHMBUS_PART_F64) {
      CHECK(p.f64 == value->num);
    } else {
      CHECK(p.i64 == strtoll(value->str, NULL, 10));
    }
    shmbus_part again;
    CHECK_RC(shmbus_parts_find(&r, p.name, &again), SHMBUS_OK);
    CHECK(again.data == p.data);
  }
}

static void decode_frame_step(const json* args, const json* want) {
  shmbus_parts_reader r;
  shmbus_part p;
  shmbus_frame f;
  CHECK_RC(shmbus_parts_reader_init(&r, bin, bin_len), SHMBUS_OK);
  CHECK_RC(shmbus_parts_find(&r, json_get(args, "part")->str, &p), SHMBUS_OK);
  CHECK_RC(shmbus_frame_decode(p.data, p.size, &f), SHMBUS_OK);
  CHECK(f.width == json_get(want, "width")->num && f.height == json_get(want, "height")->num);
  CHECK(f.channels == json_get(want, "channels")->num && f.stride == json_get(want, "stride")->num);
  CHECK(f.dtype == SHMBUS_DTYPE_FLOAT32 && f.format == SHMBUS_FORMAT_GRAY);
  CHECK((const uint8_t*)f.data > bin && (const uint8_t*)f.data + f.data_size <= bin + bin_len); /* in place */
  const json* data = json_get(want, "data");
  CHECK(data->n * 4 == f.data_size);
  for (size_t k = 0; k < data->n; k++) {
    float v;
    memcpy(&v, (const uint8_t*)f.data + 4 * k, 4);
    CHECK(v == data->items[k]->num);
  }
}

/* Builds the decoded parts again into `out` (cap bytes); the record's size, or a negative status. */
static long long reencode(uint8_t* out, size_t cap) {
  shmbus_parts_reader r;
  shmbus_parts_builder b;
  int rc = shmbus_parts_reader_init(&r, bin, bin_len);
  if (rc == SHMBUS_OK) rc = shmbus_parts_builder_init(&b, out, cap);
  for (uint32_t i = 0; rc == SHMBUS_OK && i < shmbus_parts_count(&r); i++) {
    shmbus_part p;
    shmbus_parts_get(&r, i, &p);
    switch (p.type) {
      case SHMBUS_PART_BYTES: rc = shmbus_parts_add_bytes(&b, p.name, p.data, p.size); break;
      case SHMBUS_PART_STRING: rc = shmbus_parts_add_string(&b, p.name, (const char*)p.data, p.size); break;
      case SHMBUS_PART_JSON: rc = shmbus_parts_add_json(&b, p.name, (const char*)p.data, p.size); break;
      case SHMBUS_PART_F64: rc = shmbus_parts_add_f64(&b, p.name, p.f64); break;
      default: rc = shmbus_parts_add_i64(&b, p.name, p.i64); break;
    }
  }
  size_t len = 0;
  if (rc == SHMBUS_OK) rc = shmbus_parts_finish(&b, &len);
  return rc == SHMBUS_OK ? (long long)len : rc;
}

static void expect_steps_hold(void) {
  CHECK(vec != NULL && bin != NULL);
  const json* steps = json_get(vec, "expect");
  CHECK(steps != NULL && steps->n > 0);
  for (size_t i = 0; steps != NULL && i < steps->n; i++) {
    const char* op = json_get(steps->items[i], "op")->str;
    const json* want = json_get(steps->items[i], "result");
    if (strcmp(op, "decode") == 0) {
      decode_step(want);
    } else if (strcmp(op, "decodeFrame") == 0) {
      decode_frame_step(json_get(steps->items[i], "args"), want);
    } else if (strcmp(op, "reencode") == 0) {
      /* Into a buffer of exactly the record's size (the stacked directory entries must still fit), and into a
         larger one poisoned with 0xEE (every padding byte must be written). */
      uint8_t* exact = (uint8_t*)malloc(bin_len);
      uint8_t big[1024];
      memset(big, 0xEE, sizeof big);
      CHECK(bin_len <= sizeof big);
      long long n1 = reencode(exact, bin_len), n2 = reencode(big, sizeof big);
      int same = n1 == (long long)bin_len && memcmp(exact, bin, bin_len) == 0 && n2 == (long long)bin_len &&
                 memcmp(big, bin, bin_len) == 0;
      CHECK(same == (want->type == JSON_BOOL && want->num == 1));
      CHECK(reencode(exact, bin_len - 1) == SHMBUS_EINVAL_ARG);
      free(exact);
    } else {
      CHECK(!"unknown op in parts.json");
    }
  }
}

/* 1 when every name and value of a record the reader accepted lies inside msg[0..len). */
static int views_inside(const shmbus_parts_reader* r, const uint8_t* msg, size_t len) {
  for (uint32_t i = 0; i < shmbus_parts_count(r); i++) {
    shmbus_part p;
    if (shmbus_parts_get(r, i, &p) != SHMBUS_OK) return 0;
    const uint8_t* name = (const uint8_t*)p.name;
    const uint8_t* data = (const uint8_t*)p.data;
    if (name < msg || name + p.name_size + 1 > msg + len || data < msg || data + p.size > msg + len) return 0;
    if (((uintptr_t)(data - msg)) % 8 != 0) return 0;
  }
  return 1;
}

static void spoil(uint8_t* p, size_t off, int width, uint64_t v) {
  for (int b = 0; b < width; b++) p[off + (size_t)b] = (uint8_t)(v >> (8 * b));
}

static void corrupt_records_are_refused(void) {
  CHECK(bin != NULL);
  shmbus_parts_reader r;
  uint8_t copy[1024];
  CHECK(bin_len <= sizeof copy);
  for (size_t n = 0; n < bin_len; n++) CHECK_RC(shmbus_parts_reader_init(&r, bin, n), SHMBUS_EPARTS_CORRUPT);
  CHECK_RC(shmbus_parts_reader_init(NULL, bin, bin_len), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_reader_init(&r, NULL, 64), SHMBUS_EINVAL_ARG);
  const uint32_t dir = (uint32_t)vector_read_le(bin + 16, 4);
  const uint32_t total = (uint32_t)bin_len;
  const struct { size_t off; int width; uint64_t value; } header[] = {
      {0, 4, 0x54504254}, {4, 2, 2}, {6, 2, 24}, {6, 2, 36}, {6, 2, 512}, {8, 4, 1025}, {8, 4, 6}, {12, 4, 1},
      {16, 4, dir + 4}, {16, 4, dir - 8}, {16, 4, 0xFFFFFFF8u}, {20, 4, total - 16}, {20, 4, total + 16}, {20, 4, 0},
  };
  for (size_t i = 0; i < sizeof header / sizeof header[0]; i++) {
    memcpy(copy, bin, bin_len);
    spoil(copy, header[i].off, header[i].width, header[i].value);
    CHECK_RC(shmbus_parts_reader_init(&r, copy, bin_len), SHMBUS_EPARTS_CORRUPT);
  }
  /* Entry fields of part 1 (params, json) and part 3 (scale, float64). */
  const size_t e1 = dir + 16, e3 = dir + 48;
  const uint32_t name1 = (uint32_t)vector_read_le(bin + e1, 4), value1 = (uint32_t)vector_read_le(bin + e1 + 8, 4);
  const struct { size_t off; int width; uint64_t value; } entry[] = {
      {e1 + 7, 1, 1},         {e1 + 6, 1, 0},           {e1 + 6, 1, 6},           {e1 + 4, 2, 0},
      {e1 + 4, 2, 256},       {e1 + 4, 2, value1 - name1}, {e1, 4, 8},            {e1 + 8, 4, value1 + 4},
      {e1 + 12, 4, 0xFFFFFFFFu}, {e1 + 8, 4, 0xFFFFFFF8u}, {e1 + 12, 4, dir},     {e3 + 12, 4, 4},
      {e3 + 6, 1, 2},         {name1, 1, 0x80},          {name1 + 6, 1, 'x'},      {name1, 1, 0xFF},
      {value1 + (size_t)vector_read_le(bin + e1 + 12, 4), 1, 'x'},                 {e1 + 6, 1, 1}, /* json as bytes: ok */
  };
  for (size_t i = 0; i < sizeof entry / sizeof entry[0]; i++) {
    memcpy(copy, bin, bin_len);
    spoil(copy, entry[i].off, entry[i].width, entry[i].value);
    const int want = i == sizeof entry / sizeof entry[0] - 1 ? SHMBUS_OK : SHMBUS_EPARTS_CORRUPT;
    CHECK_RC(shmbus_parts_reader_init(&r, copy, bin_len), want);
  }
  /* A duplicate name: part 5 "empty" renamed "image". */
  memcpy(copy, bin, bin_len);
  memcpy(copy + vector_read_le(bin + dir + 5 * 16, 4), "image", 5);
  CHECK_RC(shmbus_parts_reader_init(&r, copy, bin_len), SHMBUS_EPARTS_CORRUPT);
  /* Invalid UTF-8 in the string part: an overlong form and an encoded surrogate. */
  shmbus_part s;
  CHECK_RC(shmbus_parts_reader_init(&r, bin, bin_len), SHMBUS_OK);
  CHECK_RC(shmbus_parts_get(&r, 2, &s), SHMBUS_OK);
  const size_t at = (size_t)((const uint8_t*)s.data - bin);
  memcpy(copy, bin, bin_len);
  copy[at] = 0xC0, copy[at + 1] = 0x80;
  CHECK_RC(shmbus_parts_reader_init(&r, copy, bin_len), SHMBUS_EPARTS_CORRUPT);
  memcpy(copy, bin, bin_len);
  copy[at] = 0xED, copy[at + 1] = 0xA0, copy[at + 2] = 0x80;
  CHECK_RC(shmbus_parts_reader_init(&r, copy, bin_len), SHMBUS_EPARTS_CORRUPT);
  /* Seeded mutations: refused, or every view inside the buffer. */
  srand(11);
  int refused = 0;
  for (int round = 0; round < 20000; round++) {
    size_t n = bin_len - (round % 7 == 0 ? (size_t)rand() % bin_len : 0);
    memcpy(copy, bin, bin_len);
    for (int k = 1 + rand() % 3; k > 0; k--) {
      size_t pos = rand() % 4 == 0 ? (size_t)rand() % 32 : rand() % 3 == 0 ? dir + (size_t)rand() % (bin_len - dir) : (size_t)rand() % n;
      if (pos < n) copy[pos] = rand() % 3 == 0 ? (uint8_t)(copy[pos] ^ (1u << (rand() % 8))) : (uint8_t)rand();
    }
    int rc = shmbus_parts_reader_init(&r, copy, n);
    if (rc == SHMBUS_OK) {
      CHECK(views_inside(&r, copy, n));
    } else {
      CHECK_RC(rc, SHMBUS_EPARTS_CORRUPT);
      refused++;
    }
  }
  CHECK(refused > 1000);
}

static void builder_checks_its_arguments(void) {
  uint8_t buf[512];
  shmbus_parts_builder b, m;
  shmbus_parts_reader r;
  shmbus_part p;
  size_t len = 0, measured = 0;
  /* Measuring and writing give the same size. */
  CHECK_RC(shmbus_parts_builder_init(&m, NULL, 0), SHMBUS_OK);
  CHECK_RC(shmbus_parts_builder_init(&b, buf, sizeof buf), SHMBUS_OK);
  shmbus_parts_builder* both[] = {&m, &b};
  void* px = NULL;
  for (int i = 0; i < 2; i++) {
    CHECK_RC(shmbus_parts_add_string(both[i], "op", "gray", 4), SHMBUS_OK);
    CHECK_RC(shmbus_parts_reserve_bytes(both[i], "image", shmbus_frame_size(2, 2, SHMBUS_FORMAT_GRAY, SHMBUS_DTYPE_UINT16, 0), &px), SHMBUS_OK);
    CHECK_RC(shmbus_parts_add_i64(both[i], "status", -7), SHMBUS_OK);
  }
  CHECK_RC(shmbus_parts_finish(&m, &measured), SHMBUS_OK);
  /* A Frame rendered straight into the reserved part: 64-byte aligned in the record. */
  CHECK(px != NULL && ((uint8_t*)px - buf) % 64 == 0);
  shmbus_frame f;
  memset(&f, 0, sizeof f);
  f.width = 2, f.height = 2, f.format = SHMBUS_FORMAT_GRAY, f.dtype = SHMBUS_DTYPE_UINT16;
  CHECK_RC(shmbus_frame_write_header(px, 72, &f), SHMBUS_OK);
  /* Refusals leave the builder as it was. */
  char longname[300];
  memset(longname, 'n', sizeof longname);
  longname[256] = 0;
  CHECK_RC(shmbus_parts_add_f64(&b, "", 1), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_add_f64(&b, longname, 1), SHMBUS_EINVAL_ARG);
  longname[255] = 0;
  CHECK_RC(shmbus_parts_add_f64(&b, "\xC0\x80", 1), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_add_f64(&b, "op", 1), SHMBUS_EINVAL_ARG); /* duplicate */
  CHECK_RC(shmbus_parts_add_string(&b, "bad", "\xED\xA0\x80", 3), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_add_json(&b, "empty", "", 0), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_add_bytes(&b, "huge", buf, sizeof buf), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_add_bytes(&b, NULL, buf, 1), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_finish(&b, &len), SHMBUS_OK);
  CHECK(len == measured);
  CHECK_RC(shmbus_parts_add_f64(&b, "late", 1), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_reader_init(&r, buf, len), SHMBUS_OK);
  CHECK(shmbus_parts_count(&r) == 3);
  CHECK_RC(shmbus_parts_find(&r, "status", &p), SHMBUS_OK);
  CHECK(p.type == SHMBUS_PART_I64 && p.i64 == -7);
  CHECK_RC(shmbus_parts_find(&r, "image", &p), SHMBUS_OK);
  CHECK_RC(shmbus_frame_decode(p.data, p.size, &f), SHMBUS_OK);
  CHECK(f.width == 2 && f.dtype == SHMBUS_DTYPE_UINT16);
  CHECK_RC(shmbus_parts_find(&r, "missing", &p), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_get(&r, 3, &p), SHMBUS_EINVAL_ARG);
  /* A 255-byte name is the longest; 1024 parts the most. */
  CHECK_RC(shmbus_parts_builder_init(&b, buf, sizeof buf), SHMBUS_OK);
  CHECK_RC(shmbus_parts_add_f64(&b, longname, 2.5), SHMBUS_OK);
  CHECK_RC(shmbus_parts_finish(&b, &len), SHMBUS_OK);
  CHECK_RC(shmbus_parts_reader_init(&r, buf, len), SHMBUS_OK);
  CHECK_RC(shmbus_parts_get(&r, 0, &p), SHMBUS_OK);
  CHECK(p.name_size == 255 && p.f64 == 2.5);
  static uint8_t many[1024 * 48 + 64];
  CHECK_RC(shmbus_parts_builder_init(&b, many, sizeof many), SHMBUS_OK);
  int rc = SHMBUS_OK;
  for (int i = 0; i < 1024 && rc == SHMBUS_OK; i++) {
    char name[16];
    snprintf(name, sizeof name, "p%d", i);
    rc = shmbus_parts_add_i64(&b, name, i);
  }
  CHECK_RC(rc, SHMBUS_OK);
  CHECK_RC(shmbus_parts_add_i64(&b, "one-more", 0), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_finish(&b, &len), SHMBUS_OK);
  CHECK_RC(shmbus_parts_reader_init(&r, many, len), SHMBUS_OK);
  CHECK_RC(shmbus_parts_find(&r, "p1023", &p), SHMBUS_OK);
  CHECK(p.i64 == 1023);
  /* The empty record; a buffer below the header. */
  CHECK_RC(shmbus_parts_builder_init(&b, buf, 31), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_builder_init(&b, buf, 32), SHMBUS_OK);
  CHECK_RC(shmbus_parts_add_i64(&b, "x", 1), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_parts_finish(&b, &len), SHMBUS_OK);
  CHECK(len == 32);
  CHECK_RC(shmbus_parts_reader_init(&r, buf, len), SHMBUS_OK);
  CHECK(shmbus_parts_count(&r) == 0);
  CHECK(strcmp(shmbus_error_code(SHMBUS_EPARTS_CORRUPT), "ERR_PARTS_CORRUPT") == 0);
}

/* The JSON texts every reader judges alike (the same lists are in test/unit/codecs/parts.test.ts and
   python/tests/test_parts.py). */
static const char* const JSON_OK[] = {
    "0", "-0.5e+10", "1E-2", "\"a\\u00e9\\n\\\"\\\\\\/\"", "[]", "{}", " {\"a\":[1,true,false,null,{\"b\":\"c\"}]} \n",
    "\"\\ud800\"", "\"\xC3\xA9\"", "[[[[[[[[[[1]]]]]]]]]]",
};
static const char* const JSON_BAD[] = {
    "", " ", "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "-", "1e", "[1,]", "{\"a\"}", "{\"a\":1,}", "{a:1}",
    "\"x", "\"\\x\"", "\"\\u12\"", "\"tab\t\"", "[1] x", "tru", "\xEF\xBB\xBF" "1", "'a'", "[1 2]", "{\"a\" 1}", "nul",
};

/* A record holding `text` as a string part, then turned into a json part (so any text can be judged). */
static size_t text_as_json(uint8_t* buf, size_t cap, const char* text, size_t n) {
  shmbus_parts_builder b;
  size_t len = 0;
  shmbus_parts_builder_init(&b, buf, cap);
  if (shmbus_parts_add_string(&b, "j", text, n) != SHMBUS_OK || shmbus_parts_finish(&b, &len) != SHMBUS_OK) return 0;
  buf[vector_read_le(buf + 16, 4) + 6] = SHMBUS_PART_JSON;
  return len;
}

static void json_is_checked_by_reader_and_builder(void) {
  static uint8_t buf[4096];
  shmbus_parts_reader r;
  shmbus_parts_builder b;
  for (size_t i = 0; i < sizeof JSON_OK / sizeof JSON_OK[0]; i++) {
    const size_t len = text_as_json(buf, sizeof buf, JSON_OK[i], strlen(JSON_OK[i]));
    CHECK(len > 0);
    CHECK_RC(shmbus_parts_reader_init(&r, buf, len), SHMBUS_OK);
    shmbus_parts_builder_init(&b, buf, sizeof buf);
    CHECK_RC(shmbus_parts_add_json(&b, "j", JSON_OK[i], strlen(JSON_OK[i])), SHMBUS_OK);
  }
  for (size_t i = 0; i < sizeof JSON_BAD / sizeof JSON_BAD[0]; i++) {
    const size_t len = text_as_json(buf, sizeof buf, JSON_BAD[i], strlen(JSON_BAD[i]));
    CHECK(len > 0);
    if (shmbus_parts_reader_init(&r, buf, len) != SHMBUS_EPARTS_CORRUPT) fprintf(stderr, "  accepted %s\n", JSON_BAD[i]);
    CHECK_RC(shmbus_parts_reader_init(&r, buf, len), SHMBUS_EPARTS_CORRUPT);
    shmbus_parts_builder_init(&b, buf, sizeof buf);
    CHECK_RC(shmbus_parts_add_json(&b, "j", JSON_BAD[i], strlen(JSON_BAD[i])), SHMBUS_EINVAL_ARG);
  }
  /* 512 arrays deep is the most the C reader takes (§10 lets a reader refuse deeper). */
  static char deep[2 * 513 + 1];
  for (int depth = 512; depth <= 513; depth++) {
    memset(deep, '[', (size_t)depth);
    memset(deep + depth, ']', (size_t)depth);
    const size_t len = text_as_json(buf, sizeof buf, deep, 2 * (size_t)depth);
    CHECK_RC(shmbus_parts_reader_init(&r, buf, len), depth == 512 ? SHMBUS_OK : SHMBUS_EPARTS_CORRUPT);
  }
}

int main(void) {
  TEST_RUN(load);
  TEST_RUN(fields_read_as_their_values);
  TEST_RUN(expect_steps_hold);
  TEST_RUN(corrupt_records_are_refused);
  TEST_RUN(builder_checks_its_arguments);
  TEST_RUN(json_is_checked_by_reader_and_builder);
  vector_free(&V);
  return test_summary();
}
