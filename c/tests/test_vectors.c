/* test_vectors.c: test/vectors/segment-header (PROTOCOL §2) decoded field by field and re-encoded byte for byte by
   the C peer, and opened as a real segment (header + topic-ring payload). */
#include "test.h"

#include <fcntl.h>
#include <sys/mman.h>

#include "vector.h"

static const char* const kind_names[] = {"raw", "topic", "queue", "mailbox", "rpc",
                                         "mutex", "rwlock", "semaphore", "event"};

/* A non-negative integer of the vector (exact: the vectors keep integers below 2^53); UINT64_MAX otherwise. */
static uint64_t json_u64(const json* v) {
  return v != NULL && v->type == JSON_NUM && v->num >= 0 ? (uint64_t)v->num : UINT64_MAX;
}

static const char* json_str(const json* v) { return v != NULL && v->type == JSON_STR ? v->str : ""; }

static const json* json_at(const json* v, size_t i) {
  return v != NULL && v->type == JSON_ARR && i < v->n ? v->items[i] : NULL;
}

/* The `result` of the first expectation whose op is `op`. */
static const json* expectation(const json* doc, const char* op) {
  const json* list = json_get(doc, "expect");
  size_t i;
  for (i = 0; list != NULL && i < list->n; i++) {
    if (strcmp(json_str(json_get(json_at(list, i), "op")), op) == 0) return json_get(json_at(list, i), "result");
  }
  return NULL;
}

static void header_vector_fields(void) {
  vector_file v;
  int ok = vector_load("segment-header", &v) && v.len == 128 && vector_fields_hold(&v);
  vector_free(&v);
  CHECK(ok);
}

/* Compares the decoded header with the vector's expected decodeHeader result (every key it lists). */
static int header_matches(const shmbus_header* h, const json* want) {
  const json* params = json_get(want, "params");
  size_t i;
  int ok = strcmp(json_str(json_get(want, "kind")), h->kind < 9 ? kind_names[h->kind] : "?") == 0 &&
           json_u64(json_get(want, "payloadSize")) == h->payload_size &&
           json_u64(json_get(want, "creatorPid")) == h->creator_pid &&
           json_u64(json_get(want, "creatorStartTime")) == h->creator_start_time &&
           json_u64(json_get(want, "createdAt")) == h->created_at &&
           json_u64(json_get(want, "creatorNs")) == h->creator_ns && json_u64(json_get(want, "state")) == h->state &&
           json_u64(json_get(want, "version")) == h->version &&
           json_u64(json_get(want, "headerSize")) == h->header_size &&
           json_u64(json_get(want, "totalSize")) == h->total_size && params != NULL &&
           params->n == SHMBUS_PARAMS_COUNT;
  for (i = 0; ok && i < SHMBUS_PARAMS_COUNT; i++) ok = json_u64(json_at(params, i)) == h->params[i];
  return ok;
}

static void header_vector_decodes_and_reencodes(void) {
  vector_file v;
  shmbus_header h;
  uint8_t again[SHMBUS_HEADER_SIZE];
  const json* want;
  const json* reencode;
  int rc;
  int ok = vector_load("segment-header", &v);
  if (!ok) vector_free(&v);
  CHECK(ok);
  want = expectation(v.doc, "decodeHeader");
  reencode = expectation(v.doc, "reencode");
  /* The header belongs to an object of totalSize bytes (header + payload). */
  rc = shmbus_header_decode(v.bin, v.len, json_u64(json_get(want, "totalSize")), &h);
  ok = rc == SHMBUS_OK && want != NULL && header_matches(&h, want);
  shmbus_header_encode(&h, again);
  ok = ok && reencode != NULL && reencode->type == JSON_BOOL && reencode->num == 1 &&
       memcmp(again, v.bin, SHMBUS_HEADER_SIZE) == 0;
  vector_free(&v);
  CHECK_OK(rc);
  CHECK(ok);
}

/* "followed by topic-ring.bin it is an openable topic segment" (PROTOCOL §2). */
static void header_vector_opens_as_a_topic_segment(void) {
  const char* name = test_name("vec");
  char os_name[256];
  vector_file head;
  vector_file ring;
  shmbus_segment_open_options o;
  shmbus_segment* s = NULL;
  int fd;
  int rc = -1;
  int ok = vector_load("segment-header", &head);
  ok = vector_load("topic-ring", &ring) && ok;
  snprintf(os_name, sizeof os_name, "/shmbus.%s", name);
  fd = ok ? shm_open(os_name, O_RDWR | O_CREAT | O_EXCL, 0600) : -1;
  if (fd >= 0) {
    ok = pwrite(fd, head.bin, head.len, 0) == (ssize_t)head.len &&
         pwrite(fd, ring.bin, ring.len, (off_t)head.len) == (ssize_t)ring.len;
    close(fd);
    o.struct_size = sizeof o;
    o.kind = SHMBUS_KIND_TOPIC;
    o.timeout_ms = 0;
    rc = shmbus_segment_open_ex(name, &o, &s);
  }
  ok = ok && rc == SHMBUS_OK && shmbus_segment_size(s) == ring.len && shmbus_segment_params(s)[0] == 1024 &&
       memcmp(shmbus_segment_data(s), ring.bin, ring.len) == 0;
  shmbus_segment_close(s);
  vector_free(&head);
  vector_free(&ring);
  CHECK(fd >= 0);
  CHECK_OK(rc);
  CHECK(ok);
}

int main(void) {
  TEST_RUN(header_vector_fields);
  TEST_RUN(header_vector_decodes_and_reencodes);
  TEST_RUN(header_vector_opens_as_a_topic_segment);
  return test_summary();
}
