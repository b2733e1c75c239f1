/*
 * json.h: a small JSON reader for the C tests that run the test vectors (test/vectors/<name>.json). Numbers are
 * doubles (the vectors keep integers below 2^53, exact in a double); json_free releases a tree (so leak checkers
 * stay quiet). Returns NULL on malformed input instead of crashing.
 */
#ifndef SHMBUS_TEST_JSON_H
#define SHMBUS_TEST_JSON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SBI_JSON_UNUSED __attribute__((unused))

enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

typedef struct json {
  int type;
  double num;         /* JSON_NUM; JSON_BOOL: 0/1 */
  char* str;          /* JSON_STR */
  size_t n;           /* JSON_ARR / JSON_OBJ: item count */
  struct json** items;
  char** keys;        /* JSON_OBJ */
} json;

typedef struct json_in {
  const char* p;
  const char* end;
} json_in;

static void json_ws(json_in* in) {
  while (in->p < in->end && (*in->p == ' ' || *in->p == '\n' || *in->p == '\r' || *in->p == '\t')) in->p++;
}

static json* json_value(json_in* in, int depth);

static char* json_string(json_in* in) {
  if (in->p >= in->end || *in->p != '"') return NULL;
  in->p++;
  size_t cap = 16, len = 0;
  char* out = (char*)malloc(cap);
  while (in->p < in->end && *in->p != '"') {
    char c = *in->p++;
    if (c == '\\') {
      if (in->p >= in->end) return NULL;
      c = *in->p++;
      if (c == 'n') c = '\n';
      else if (c == 't') c = '\t';
      else if (c == 'u') { /* only \u00XX appears in ASCII vectors */
        if (in->end - in->p < 4) return NULL;
        c = (char)strtol((char[]){in->p[2], in->p[3], 0}, NULL, 16);
        in->p += 4;
      }
    }
    if (len + 2 > cap) out = (char*)realloc(out, cap *= 2);
    out[len++] = c;
  }
  if (in->p >= in->end) return NULL;
  in->p++;
  out[len] = 0;
  return out;
}

static json* json_new(int type) {
  json* v = (json*)calloc(1, sizeof *v);
  v->type = type;
  return v;
}

static json* json_list(json_in* in, int depth, int obj) {
  json* v = json_new(obj ? JSON_OBJ : JSON_ARR);
  size_t cap = 0;
  in->p++;
  json_ws(in);
  if (in->p < in->end && *in->p == (obj ? '}' : ']')) {
    in->p++;
    return v;
  }
  for (;;) {
    char* key = NULL;
    json_ws(in);
    if (obj) {
      key = json_string(in);
      json_ws(in);
      if (key == NULL || in->p >= in->end || *in->p != ':') return NULL;
      in->p++;
    }
    json* item = json_value(in, depth + 1);
    if (item == NULL) return NULL;
    if (v->n == cap) {
      cap = cap ? cap * 2 : 8;
      v->items = (json**)realloc(v->items, cap * sizeof *v->items);
      v->keys = (char**)realloc(v->keys, cap * sizeof *v->keys);
    }
    v->keys[v->n] = key;
    v->items[v->n++] = item;
    json_ws(in);
    if (in->p >= in->end) return NULL;
    char c = *in->p++;
    if (c == ',') continue;
    if (c == (obj ? '}' : ']')) return v;
    return NULL;
  }
}

static json* json_value(json_in* in, int depth) {
  json_ws(in);
  if (in->p >= in->end || depth > 64) return NULL;
  char c = *in->p;
  if (c == '{' || c == '[') return json_list(in, depth, c == '{');
  if (c == '"') {
    json* v = json_new(JSON_STR);
    v->str = json_string(in);
    return v->str ? v : NULL;
  }
  const char* words[] = {"null", "true", "false"};
  for (int i = 0; i < 3; i++) {
    size_t l = strlen(words[i]);
    if ((size_t)(in->end - in->p) >= l && memcmp(in->p, words[i], l) == 0) {
      in->p += l;
      json* v = json_new(i == 0 ? JSON_NULL : JSON_BOOL);
      v->num = i == 1;
      return v;
    }
  }
  char* stop = NULL;
  double d = strtod(in->p, &stop);
  if (stop == in->p || stop > in->end) return NULL;
  in->p = stop;
  json* v = json_new(JSON_NUM);
  v->num = d;
  return v;
}

/* Parses `len` bytes of text; NULL when malformed. */
static json* json_parse(const char* text, size_t len) {
  json_in in = {text, text + len};
  json* v = json_value(&in, 0);
  json_ws(&in);
  return v != NULL && in.p == in.end ? v : NULL;
}

/* Member `key` of an object, or NULL. */
static const json* json_get(const json* o, const char* key) {
  if (o == NULL || o->type != JSON_OBJ) return NULL;
  for (size_t i = 0; i < o->n; i++)
    if (strcmp(o->keys[i], key) == 0) return o->items[i];
  return NULL;
}

/* Frees a tree from json_parse (NULL is ignored). */
SBI_JSON_UNUSED static void json_free(json* v) {
  if (v == NULL) return;
  for (size_t i = 0; i < v->n; i++) {
    json_free(v->items[i]);
    if (v->keys != NULL) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
  free(v);
}

/* A whole file into memory (NUL-terminated); NULL when unreadable. */
static char* json_read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* buf = n >= 0 ? (char*)malloc((size_t)n + 1) : NULL;
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(buf);
    return NULL;
  }
  fclose(f);
  buf[n] = 0;
  *len = (size_t)n;
  return buf;
}

#endif
