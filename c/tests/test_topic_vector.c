/*
 * test_topic_vector.c: the topic-ring test vector (test/vectors/topic-ring.{bin,json}, convention in
 * test/vectors/README.md) in C: every `fields` entry read from the bytes, then the bytes mapped as the payload of a
 * topic segment with the vector's params and every `expect` step (subscribe, tryRead, lost, publish) run through
 * the public API with the results compared.
 */
#include "vector.h"
#include "test.h"

VECTOR_TEST("topic-ring")

/* Compares a read message with an expected { seq, size, timestampMicros?, bytes? } (only the keys listed). */
static int msg_matches(const shmbus_msg* m, const json* want) {
  const json* v;
  if ((v = json_get(want, "seq")) != NULL && (double)m->seq != v->num) return 0;
  if ((v = json_get(want, "size")) != NULL && (double)m->size != v->num) return 0;
  if ((v = json_get(want, "timestampMicros")) != NULL && (double)m->timestamp_us != v->num) return 0;
  if ((v = json_get(want, "bytes")) != NULL) {
    if (v->n != m->size) return 0;
    for (size_t i = 0; i < v->n; i++)
      if (((const uint8_t*)m->data)[i] != (uint8_t)v->items[i]->num) return 0;
  }
  if ((v = json_get(want, "text")) != NULL && (strlen(v->str) != m->size || memcmp(v->str, m->data, m->size) != 0)) return 0;
  return 1;
}

static char seg_name[128];
static shmbus_segment* seg;
static shmbus_topic* pub;
static shmbus_sub* subs[8];
static char sub_ids[8][32];
static int nsubs;

static shmbus_sub* sub_by_id(const char* id) {
  for (int i = 0; i < nsubs; i++)
    if (strcmp(sub_ids[i], id) == 0) return subs[i];
  return NULL;
}

static void expect_steps_hold(void) {
  CHECK(vec != NULL && bin != NULL);
  const json* map = json_get(vec, "map");
  CHECK(strcmp(json_get(map, "as")->str, "payload") == 0 && strcmp(json_get(map, "kind")->str, "topic") == 0);
  const json* p = json_get(map, "params");
  uint32_t params[16] = {0};
  CHECK(p->n <= 16);
  for (size_t i = 0; i < p->n; i++) params[i] = (uint32_t)p->items[i]->num;
  /* unlinked when this test ends (test.h); the handles stay mapped until main closes them */
  snprintf(seg_name, sizeof seg_name, "%s", test_name("tvec"));
  shmbus_segment_create_options co;
  memset(&co, 0, sizeof co);
  co.struct_size = sizeof co;
  co.size = bin_len;
  co.kind = SHMBUS_KIND_TOPIC;
  co.params = params;
  co.init = vector_fill_payload;
  co.init_ctx = &V;
  CHECK_OK(shmbus_segment_create_ex(seg_name, &co, &seg));
  const json* steps = json_get(vec, "expect");
  CHECK(steps != NULL && steps->n > 0);
  for (size_t i = 0; i < steps->n; i++) {
    const json* st = steps->items[i];
    const char* op = json_get(st, "op")->str;
    const json* args = json_get(st, "args");
    const json* want = json_get(st, "result");
    fprintf(stderr, "  step %zu: %s\n", i, op);
    if (strcmp(op, "subscribe") == 0) {
      CHECK(nsubs < 8);
      const char* from = json_get(args, "from")->str;
      snprintf(sub_ids[nsubs], sizeof sub_ids[0], "%s", json_get(args, "id")->str);
      CHECK_OK(shmbus_topic_subscribe(seg_name, strcmp(from, "oldest") == 0 ? SHMBUS_FROM_OLDEST : SHMBUS_FROM_LATEST, &subs[nsubs]));
      nsubs++;
      CHECK(want->type == JSON_NULL);
    } else if (strcmp(op, "tryRead") == 0) {
      shmbus_sub* s = sub_by_id(json_get(args, "id")->str);
      CHECK(s != NULL);
      shmbus_msg m;
      int rc = shmbus_sub_try_read(s, &m);
      if (want->type == JSON_NULL) {
        CHECK_RC(rc, SHMBUS_EAGAIN);
      } else {
        CHECK_OK(rc);
        CHECK(msg_matches(&m, want));
        CHECK(shmbus_msg_valid(s, &m) == 1);
      }
    } else if (strcmp(op, "lost") == 0) {
      shmbus_sub* s = sub_by_id(json_get(args, "id")->str);
      CHECK(s != NULL);
      CHECK((double)shmbus_sub_lost(s) == want->num);
    } else if (strcmp(op, "publish") == 0) {
      if (pub == NULL) CHECK_OK(shmbus_topic_open(seg_name, &pub));
      const char* text = json_get(args, "text")->str;
      uint64_t seq = 0;
      CHECK_OK(shmbus_topic_publish_ex(pub, text, strlen(text), 5000, &seq));
      CHECK((double)seq == want->num);
    } else {
      fprintf(stderr, "  unknown op %s\n", op);
      CHECK(0);
    }
  }
}

int main(void) {
  TEST_RUN(load);
  TEST_RUN(fields_read_as_their_values);
  TEST_RUN(expect_steps_hold);
  for (int i = 0; i < nsubs; i++) shmbus_sub_close(subs[i]);
  shmbus_topic_close(pub);
  shmbus_segment_close(seg);
  vector_free(&V);
  return test_summary();
}
