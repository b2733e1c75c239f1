/*
 * json.h: a small JSON reader for the tests (the .json files of test/vectors). Parses a whole document into a tree; numbers
 * keep their text so u64 values beyond 2^53 stay exact. Test helper only: errors make json_parse return NULL.
 *   json_value* doc = json_load("path.json");
 *   json_value* fields = json_get(doc, "fields");  json_at(fields, i), json_u64(json_get(f, "value"))
 *   json_free(doc);
 */
#ifndef SHMBUS_TEST_JSON_H
#define SHMBUS_TEST_JSON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
  json_type type;
  char* text;                  /* string contents, or a number's text */
  int boolean;
  struct json_value** items;   /* array elements or object values */
  char** keys;                 /* object keys (NULL for arrays) */
  size_t count;
} json_value;

#define JSON_UNUSED __attribute__((unused))

static json_value* json_parse_value(const char** p);

static void json_skip_ws(const char** p) {
  while (**p == ' ' || **p == '\n' || **p == '\r' || **p == '\t') (*p)++;
}

static json_value* json_new(json_type type) {
  json_value* v = (json_value*)calloc(1, sizeof *v);
  if (v != NULL) v->type = type;
  return v;
}

JSON_UNUSED static void json_free(json_value* v) {
  size_t i;
  if (v == NULL) return;
  for (i = 0; i < v->count; i++) {
    json_free(v->items[i]);
    if (v->keys != NULL) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->text);
  free(v);
}

/* A string without escapes beyond \" \\ \/ \n \t (the vectors use no others). */
static char* json_parse_string(const char** p) {
  const char* s = *p + 1;
  size_t n = 0;
  char* out = (char*)malloc(strlen(s) + 1);
  if (out == NULL) return NULL;
  while (*s != '"') {
    if (*s == '\0') {
      free(out);
      return NULL;
    }
    if (*s == '\\') {
      s++;
      out[n++] = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
      if (*s == '\0') {
        free(out);
        return NULL;
      }
      s++;
      continue;
    }
    out[n++] = *s++;
  }
  out[n] = '\0';
  *p = s + 1;
  return out;
}

static int json_push(json_value* v, char* key, json_value* item) {
  json_value** items = (json_value**)realloc(v->items, (v->count + 1) * sizeof *items);
  if (items == NULL) return -1;
  v->items = items;
  if (v->type == JSON_OBJECT) {
    char** keys = (char**)realloc(v->keys, (v->count + 1) * sizeof *keys);
    if (keys == NULL) return -1;
    v->keys = keys;
    v->keys[v->count] = key;
  }
  v->items[v->count++] = item;
  return 0;
}

static json_value* json_parse_container(const char** p, json_type type) {
  const char close = type == JSON_ARRAY ? ']' : '}';
  json_value* v = json_new(type);
  if (v == NULL) return NULL;
  (*p)++;
  json_skip_ws(p);
  if (**p == close) {
    (*p)++;
    return v;
  }
  for (;;) {
    char* key = NULL;
    json_value* item;
    json_skip_ws(p);
    if (type == JSON_OBJECT) {
      if (**p != '"' || (key = json_parse_string(p)) == NULL) break;
      json_skip_ws(p);
      if (**p != ':') {
        free(key);
        break;
      }
      (*p)++;
    }
    item = json_parse_value(p);
    if (item == NULL || json_push(v, key, item) != 0) {
      free(key);
      json_free(item);
      break;
    }
    json_skip_ws(p);
    if (**p == ',') {
      (*p)++;
      continue;
    }
    if (**p == close) {
      (*p)++;
      return v;
    }
    break;
  }
  json_free(v);
  return NULL;
}

static json_value* json_parse_value(const char** p) {
  json_value* v;
  json_skip_ws(p);
  if (**p == '{') return json_parse_container(p, JSON_OBJECT);
  if (**p == '[') return json_parse_container(p, JSON_ARRAY);
  if (**p == '"') {
    v = json_new(JSON_STRING);
    if (v != NULL && (v->text = json_parse_string(p)) == NULL) {
      json_free(v);
      return NULL;
    }
    return v;
  }
  if (strncmp(*p, "true", 4) == 0 || strncmp(*p, "false", 5) == 0) {
    v = json_new(JSON_BOOL);
    if (v != NULL) v->boolean = **p == 't';
    *p += **p == 't' ? 4 : 5;
    return v;
  }
  if (strncmp(*p, "null", 4) == 0) {
    *p += 4;
    return json_new(JSON_NULL);
  }
  if (**p == '-' || (**p >= '0' && **p <= '9')) {
    const char* start = *p;
    size_t n;
    while (**p == '-' || **p == '+' || **p == '.' || **p == 'e' || **p == 'E' || (**p >= '0' && **p <= '9')) (*p)++;
    n = (size_t)(*p - start);
    v = json_new(JSON_NUMBER);
    if (v == NULL || (v->text = (char*)malloc(n + 1)) == NULL) {
      json_free(v);
      return NULL;
    }
    memcpy(v->text, start, n);
    v->text[n] = '\0';
    return v;
  }
  return NULL;
}

JSON_UNUSED static json_value* json_parse(const char* text) {
  const char* p = text;
  json_value* v = json_parse_value(&p);
  json_skip_ws(&p);
  if (v != NULL && *p != '\0') {
    json_free(v);
    return NULL;
  }
  return v;
}

/* Reads a whole file (NUL-terminated); *len receives its size. NULL when unreadable. */
JSON_UNUSED static uint8_t* json_read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  uint8_t* buf = NULL;
  long size;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = (uint8_t*)malloc((size_t)size + 1)) != NULL) {
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
      free(buf);
      buf = NULL;
    } else {
      buf[size] = 0;
      if (len != NULL) *len = (size_t)size;
    }
  }
  fclose(f);
  return buf;
}

JSON_UNUSED static json_value* json_load(const char* path) {
  uint8_t* text = json_read_file(path, NULL);
  json_value* v = text ? json_parse((const char*)text) : NULL;
  free(text);
  return v;
}

/* Member `key` of an object, or NULL. */
JSON_UNUSED static json_value* json_get(const json_value* v, const char* key) {
  size_t i;
  if (v == NULL || v->type != JSON_OBJECT) return NULL;
  for (i = 0; i < v->count; i++) {
    if (strcmp(v->keys[i], key) == 0) return v->items[i];
  }
  return NULL;
}

/* Element i of an array, or NULL. */
JSON_UNUSED static json_value* json_at(const json_value* v, size_t i) {
  return v != NULL && v->type == JSON_ARRAY && i < v->count ? v->items[i] : NULL;
}

/* A non-negative integer number as u64 (exact); UINT64_MAX when v is not one. */
JSON_UNUSED static uint64_t json_u64(const json_value* v) {
  char* end;
  unsigned long long n;
  if (v == NULL || v->type != JSON_NUMBER || v->text[0] == '-') return UINT64_MAX;
  n = strtoull(v->text, &end, 10);
  return *end == '\0' ? (uint64_t)n : UINT64_MAX;
}

/* A string's text, or "" when v is not a string. */
JSON_UNUSED static const char* json_str(const json_value* v) {
  return v != NULL && v->type == JSON_STRING ? v->text : "";
}

#endif /* SHMBUS_TEST_JSON_H */
