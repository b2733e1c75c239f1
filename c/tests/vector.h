/*
 * vector.h: loading a test vector (test/vectors/<stem>.{json,bin}, convention in test/vectors/README.md) and
 * checking its `fields` (each little-endian integer at its offset reads as its value). Shared by the C tests that
 * run the vectors; each then runs its own `expect` steps through the API.
 */
#ifndef SHMBUS_TEST_VECTOR_H
#define SHMBUS_TEST_VECTOR_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "shmbus.h"

#define VECTORS SHMBUS_SOURCE_DIR "/../test/vectors/"

typedef struct vector_file {
  json* doc;    /* the .json */
  uint8_t* bin; /* the .bin */
  size_t len;
} vector_file;

/* A little-endian unsigned integer of `width` bytes. */
static inline uint64_t vector_read_le(const uint8_t* p, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Reads <stem>.json and <stem>.bin; 1 when both parse and the .json's `size` is the .bin's length. */
static inline int vector_load(const char* stem, vector_file* v) {
  char path[512];
  size_t len = 0;
  memset(v, 0, sizeof *v);
  snprintf(path, sizeof path, VECTORS "%s.json", stem);
  char* text = json_read_file(path, &len);
  if (text == NULL) return 0;
  v->doc = json_parse(text, len);
  free(text);
  snprintf(path, sizeof path, VECTORS "%s.bin", stem);
  v->bin = (uint8_t*)json_read_file(path, &v->len);
  const json* size = json_get(v->doc, "size");
  return v->doc != NULL && v->bin != NULL && size != NULL && size->num == (double)v->len;
}

/* 1 when every `fields` entry (u8/u16/u32/i32/u64 at `offset`) reads as its `value`, and there is at least one. */
static inline int vector_fields_hold(const vector_file* v) {
  const json* fields = json_get(v->doc, "fields");
  if (fields == NULL || fields->n == 0) return 0;
  for (size_t i = 0; i < fields->n; i++) {
    const json* f = fields->items[i];
    const char* type = json_get(f, "type")->str;
    size_t off = (size_t)json_get(f, "offset")->num;
    int width = strcmp(type, "u8") == 0 ? 1 : strcmp(type, "u16") == 0 ? 2 : strcmp(type, "u64") == 0 ? 8 : 4;
    if (off + (size_t)width > v->len) return 0;
    uint64_t x = vector_read_le(v->bin + off, width);
    double got = strcmp(type, "i32") == 0 ? (double)(int32_t)x : (double)x;
    if (got != json_get(f, "value")->num) {
      fprintf(stderr, "  field %s at %zu reads %.0f, the vector says %.0f\n", json_get(f, "name")->str, off, got,
              json_get(f, "value")->num);
      return 0;
    }
  }
  return 1;
}

static inline void vector_free(vector_file* v) {
  json_free(v->doc);
  free(v->bin);
  memset(v, 0, sizeof *v);
}

/* A segment init callback (shmbus_segment_create_ex's `init`, `init_ctx` = the vector_file): the payload becomes the
   vector's .bin, so that the API runs the vector's `expect` steps on exactly those bytes. */
static inline int vector_fill_payload(shmbus_segment* seg, void* ctx) {
  const vector_file* v = (const vector_file*)ctx;
  memcpy(shmbus_segment_data(seg), v->bin, v->len);
  return 0;
}

/* What every vector test starts with (test.h's CHECK in scope): the statics V (the vector), vec, bin and bin_len,
   `load` (reads <stem>.{json,bin}) and `fields_read_as_their_values` (every `fields` entry). */
#define VECTOR_TEST(stem)                 \
  static vector_file V;                   \
  static json* vec;                       \
  static uint8_t* bin;                    \
  static size_t bin_len;                  \
  static void load(void) {                \
    CHECK(vector_load(stem, &V));         \
    vec = V.doc;                          \
    bin = V.bin;                          \
    bin_len = V.len;                      \
  }                                       \
  static void fields_read_as_their_values(void) { \
    CHECK(vec != NULL && bin != NULL);    \
    CHECK(vector_fields_hold(&V));        \
  }

#endif
