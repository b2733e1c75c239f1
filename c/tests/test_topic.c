/* test_topic.c: the C Topic (PROTOCOL §5) with real shared memory and, where it matters, real processes (fork). */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "test.h"

/* test_name() names are unlinked after each test by test.h, also when a CHECK failed mid-way. */
#define RUN(fn) TEST_RUN(fn)

static void fill(uint8_t* buf, size_t n, uint64_t seq) {
  for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(seq * 7 + i);
}

static int check_bytes(const void* data, size_t n, uint64_t seq) {
  const uint8_t* p = (const uint8_t*)data;
  for (size_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)(seq * 7 + i)) return 0;
  return 1;
}

static void publish_then_read_from_oldest_and_latest(void) {
  const char* name = test_name("tp");
  shmbus_topic* t = NULL;
  shmbus_sub *old = NULL, *late = NULL;
  CHECK_OK(shmbus_topic_create(name, 4096, 256, &t));
  CHECK(shmbus_topic_capacity(t) == 4096 && shmbus_topic_max_message_size(t) == 256);
  uint8_t buf[256];
  fill(buf, 10, 1);
  uint64_t seq = 0;
  CHECK_OK(shmbus_topic_publish_ex(t, buf, 10, -1, &seq));
  CHECK(seq == 1);
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_OLDEST, &old));
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_LATEST, &late));
  fill(buf, 200, 2);
  CHECK_OK(shmbus_topic_publish(t, buf, 200));
  CHECK_OK(shmbus_topic_publish(t, NULL, 0));
  shmbus_msg m;
  CHECK_OK(shmbus_sub_read(old, &m, 0));
  CHECK(m.seq == 1 && m.size == 10 && check_bytes(m.data, 10, 1) && m.timestamp_us > 1600000000000000ull);
  CHECK(shmbus_msg_valid(old, &m) == 1);
  CHECK_OK(shmbus_sub_read(old, &m, 0));
  CHECK(m.seq == 2 && m.size == 200 && check_bytes(m.data, 200, 2));
  CHECK_OK(shmbus_sub_read(late, &m, 0));
  CHECK(m.seq == 2 && m.size == 200);
  uint8_t out[256];
  CHECK_OK(shmbus_sub_read_copy(late, out, sizeof out, &m, 0));
  CHECK(m.seq == 3 && m.size == 0 && m.data == out);
  CHECK_RC(shmbus_sub_try_read(late, &m), SHMBUS_EAGAIN);
  CHECK_RC(shmbus_sub_read(late, &m, 10), SHMBUS_ETIMEDOUT);
  shmbus_topic_stats_t st;
  CHECK_OK(shmbus_topic_stats(t, &st));
  CHECK(st.published == 3 && st.oldest == 1 && st.publishers == 1 && st.subscribers == 2);
  shmbus_sub_stats_t ss;
  CHECK_OK(shmbus_sub_stats(old, &ss));
  CHECK(ss.read == 2 && ss.lost == 0 && ss.lag == 1);
  CHECK_OK(shmbus_sub_close(old));
  CHECK_OK(shmbus_sub_close(late));
  CHECK_OK(shmbus_topic_close(t));
}

static void bad_input_is_an_error_code(void) {
  const char* name = test_name("tpbad");
  shmbus_topic* t = NULL;
  shmbus_sub* s = NULL;
  CHECK_RC(shmbus_topic_create(NULL, 4096, 64, &t), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_topic_create("a/b", 4096, 64, &t), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_topic_create(name, 0, 64, &t), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_topic_create(name, 128, 100, &t), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_topic_create(name, 4096, 64, NULL), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_topic_subscribe(name, SHMBUS_FROM_LATEST, &s), SHMBUS_ESHM_NOT_FOUND);
  CHECK_RC(shmbus_topic_subscribe(name, 7, &s), SHMBUS_EINVAL_ARG);
  CHECK_OK(shmbus_topic_create(name, 4096, 64, &t));
  shmbus_topic* t2 = t;
  CHECK_RC(shmbus_topic_create(name, 4096, 64, &t2), SHMBUS_ESHM_EXISTS);
  CHECK(t2 == NULL);
  uint8_t big[65] = {0};
  CHECK_RC(shmbus_topic_publish(t, big, 65), SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_RC(shmbus_topic_publish(t, NULL, 3), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_topic_publish(NULL, big, 3), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_sub_read(NULL, NULL, 0), SHMBUS_EINVAL_ARG);
  CHECK(shmbus_msg_valid(NULL, NULL) == 0);
  shmbus_mailbox* mb = NULL;
  CHECK_RC(shmbus_mailbox_open(name, &mb), SHMBUS_ESHM_KIND);
  CHECK_OK(shmbus_topic_close(t));
  CHECK_OK(shmbus_topic_close(NULL));
  CHECK_OK(shmbus_sub_close(NULL));
}

static void lapping_is_counted_exactly(void) {
  const char* name = test_name("tplap");
  shmbus_topic* t = NULL;
  shmbus_sub* s = NULL;
  CHECK_OK(shmbus_topic_create(name, 1024, 100, &t));
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_LATEST, &s));
  uint8_t buf[100];
  uint64_t published = 0, received = 0, last = 0;
  shmbus_msg m;
  for (int round = 0; round < 50; round++) {
    /* bursts of random size; read some of them in between */
    int burst = 1 + (round * 7) % 40;
    for (int i = 0; i < burst; i++) {
      size_t n = (size_t)((round * 31 + i * 17) % 101);
      fill(buf, n, published + 1);
      CHECK_OK(shmbus_topic_publish(t, buf, n));
      published++;
    }
    for (int i = 0; i < round % 5; i++) {
      int r = shmbus_sub_try_read(s, &m);
      if (r == SHMBUS_EAGAIN) break;
      CHECK_OK(r);
      CHECK(m.seq > last && check_bytes(m.data, m.size, m.seq));
      last = m.seq;
      received++;
    }
  }
  for (;;) {
    int r = shmbus_sub_try_read(s, &m);
    if (r == SHMBUS_EAGAIN) break;
    CHECK_OK(r);
    CHECK(m.seq > last && check_bytes(m.data, m.size, m.seq));
    last = m.seq;
    received++;
  }
  CHECK(last == published);
  CHECK(shmbus_sub_lost(s) > 0);
  CHECK(received + shmbus_sub_lost(s) == published);
  shmbus_sub_close(s);
  shmbus_topic_close(t);
}

static void zero_copy_view_reports_overwrite(void) {
  const char* name = test_name("tpzc");
  shmbus_topic* t = NULL;
  shmbus_sub* s = NULL;
  CHECK_OK(shmbus_topic_create(name, 1024, 200, &t));
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_LATEST, &s));
  uint8_t buf[200];
  fill(buf, 200, 1);
  CHECK_OK(shmbus_topic_publish(t, buf, 200));
  shmbus_msg m;
  CHECK_OK(shmbus_sub_read(s, &m, 0));
  CHECK(shmbus_msg_valid(s, &m) == 1);
  for (int i = 0; i < 10; i++) CHECK_OK(shmbus_topic_publish(t, buf, 200));
  CHECK(shmbus_msg_valid(s, &m) == 0);
  /* a copying read of a too-small buffer does not consume the message */
  uint8_t small[10];
  int r = shmbus_sub_read_copy(s, small, sizeof small, &m, 0);
  CHECK_RC(r, SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK(m.size == 200);
  uint64_t want = m.seq;
  CHECK_OK(shmbus_sub_read_copy(s, buf, sizeof buf, &m, 0));
  CHECK(m.seq == want && m.size == 200);
  shmbus_sub_close(s);
  shmbus_topic_close(t);
}

static void loan_commit_abort(void) {
  const char* name = test_name("tploan");
  shmbus_topic* t = NULL;
  shmbus_sub* s = NULL;
  CHECK_OK(shmbus_topic_create(name, 4096, 512, &t));
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_LATEST, &s));
  shmbus_loan l;
  CHECK_OK(shmbus_topic_loan(t, 512, -1, &l));
  CHECK(l.size == 512 && l.seq == 1);
  CHECK_RC(shmbus_topic_publish(t, "x", 1), SHMBUS_EINVAL_ARG); /* a loan is open */
  fill((uint8_t*)l.data, 100, 1);
  uint64_t seq = 0;
  CHECK_OK(shmbus_topic_commit(t, 100, &seq));
  CHECK(seq == 1);
  CHECK_RC(shmbus_topic_commit(t, 1, NULL), SHMBUS_ECLOSED);
  CHECK_OK(shmbus_topic_loan(t, 50, 0, &l));
  CHECK_OK(shmbus_topic_abort(t));
  CHECK_OK(shmbus_topic_loan(t, 50, 0, &l));
  CHECK_RC(shmbus_topic_commit(t, 51, NULL), SHMBUS_EINVAL_ARG);
  shmbus_msg m;
  CHECK_OK(shmbus_sub_read(s, &m, 0));
  CHECK(m.seq == 1 && m.size == 100 && check_bytes(m.data, 100, 1));
  CHECK_RC(shmbus_sub_try_read(s, &m), SHMBUS_EAGAIN);
  CHECK_OK(shmbus_topic_publish(t, "y", 1));
  CHECK_OK(shmbus_sub_read(s, &m, 0));
  CHECK(m.seq == 2 && m.size == 1);
  shmbus_sub_close(s);
  shmbus_topic_close(t);
}

static void end_of_stream_after_last_publisher(void) {
  const char* name = test_name("tpend");
  shmbus_topic *t = NULL, *t2 = NULL;
  shmbus_sub* s = NULL;
  CHECK_OK(shmbus_topic_create(name, 4096, 64, &t));
  CHECK_OK(shmbus_topic_open(name, &t2));
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_LATEST, &s));
  uint32_t n = 0;
  CHECK_OK(shmbus_sub_publishers(s, &n));
  CHECK(n == 2);
  CHECK_OK(shmbus_topic_publish(t, "a", 1));
  CHECK_OK(shmbus_topic_close(t));
  shmbus_msg m;
  CHECK_RC(shmbus_sub_read(s, &m, 0), SHMBUS_OK);
  CHECK_RC(shmbus_sub_read(s, &m, 5), SHMBUS_ETIMEDOUT); /* one publisher is left */
  CHECK_OK(shmbus_topic_publish(t2, "b", 1));
  CHECK_OK(shmbus_topic_close(t2));
  CHECK_OK(shmbus_sub_read(s, &m, -1)); /* unread first */
  CHECK(m.seq == 2);
  CHECK_RC(shmbus_sub_read(s, &m, -1), SHMBUS_EEND);
  shmbus_sub_close(s);
}

static void single_publisher_refuses_a_second(void) {
  const char* name = test_name("tpsingle");
  shmbus_topic_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.capacity = 4096;
  o.single_publisher = 1;
  shmbus_topic *t = NULL, *t2 = NULL;
  CHECK_OK(shmbus_topic_create_ex(name, &o, &t));
  CHECK_OK(shmbus_topic_publish(t, "a", 1));
  CHECK_RC(shmbus_topic_open(name, &t2), SHMBUS_EPUBLISHER_EXISTS);
  CHECK_OK(shmbus_topic_close(t));
  CHECK_OK(shmbus_topic_open(name, &t2));
  uint64_t seq = 0;
  CHECK_OK(shmbus_topic_publish_ex(t2, "b", 1, 0, &seq));
  CHECK(seq == 2);
  CHECK_OK(shmbus_topic_close(t2));
}

/* A child parked in a blocking read is woken by each publish of the parent (no spinning: spin_us < 0). */
static void parked_reader_in_another_process_is_woken(void) {
  const char* name = test_name("tppark");
  shmbus_topic* t = NULL;
  CHECK_OK(shmbus_topic_create(name, 1 << 16, 64, &t));
  char nm[128];
  snprintf(nm, sizeof nm, "%s", name);
  int ready[2], echo[2];
  CHECK(pipe(ready) == 0 && pipe(echo) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    shmbus_sub_options so;
    memset(&so, 0, sizeof so);
    so.struct_size = sizeof so;
    so.spin_us = -1;
    shmbus_sub* s = NULL;
    if (shmbus_topic_subscribe_ex(nm, &so, &s) != 0) _exit(2);
    if (write(ready[1], "r", 1) != 1) _exit(3);
    for (int i = 1; i <= 200; i++) {
      shmbus_msg m;
      if (shmbus_sub_read(s, &m, 20000) != 0 || m.seq != (uint64_t)i) _exit(4);
      if (write(echo[1], "e", 1) != 1) _exit(5);
    }
    int r = shmbus_sub_read(s, (shmbus_msg[]){{0}}, 20000);
    _exit(r == SHMBUS_EEND ? 0 : 6);
  }
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  for (int i = 1; i <= 200; i++) {
    CHECK_OK(shmbus_topic_publish(t, &i, sizeof i));
    CHECK(read(echo[0], &c, 1) == 1); /* the child read it: it parks again before the next one */
  }
  CHECK_OK(shmbus_topic_close(t));
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ready[0]);
  close(ready[1]);
  close(echo[0]);
  close(echo[1]);
}

/* A publisher killed while holding the writers' lock (a loan) is recovered by the next publisher. */
static void killed_publisher_is_recovered(void) {
  const char* name = test_name("tpkill");
  shmbus_topic* t = NULL;
  shmbus_sub* s = NULL;
  CHECK_OK(shmbus_topic_create(name, 4096, 256, &t));
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_LATEST, &s));
  char nm[128];
  snprintf(nm, sizeof nm, "%s", name);
  int ready[2];
  CHECK(pipe(ready) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    shmbus_topic* ct = NULL;
    shmbus_loan l;
    if (shmbus_topic_open(nm, &ct) != 0 || shmbus_topic_loan(ct, 200, -1, &l) != 0) _exit(2);
    memset(l.data, 0xee, 100);
    if (write(ready[1], "l", 1) != 1) _exit(3);
    for (;;) pause();
  }
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  uint64_t seq = 0;
  CHECK_OK(shmbus_topic_publish_ex(t, "after", 5, 20000, &seq));
  CHECK(seq == 1);
  shmbus_msg m;
  CHECK_OK(shmbus_sub_read(s, &m, 0));
  CHECK(m.seq == 1 && m.size == 5 && memcmp(m.data, "after", 5) == 0);
  close(ready[0]);
  close(ready[1]);
  shmbus_sub_close(s);
  shmbus_topic_close(t);
}

/* Damaged segments: impossible parameters refuse to open, a broken cursor is ESHM_CORRUPT, never a crash. */
static void corrupt_segments_are_refused(void) {
  const char* name = test_name("tpcorrupt");
  uint32_t params[16] = {1000, 0, 200, 4352, 0};
  shmbus_segment_create_options co;
  memset(&co, 0, sizeof co);
  co.struct_size = sizeof co;
  co.size = 4352 + 1024;
  co.kind = SHMBUS_KIND_TOPIC;
  co.params = params;
  shmbus_segment* seg = NULL;
  CHECK_OK(shmbus_segment_create_ex(name, &co, &seg));
  shmbus_topic* t = NULL;
  shmbus_sub* s = NULL;
  CHECK_RC(shmbus_topic_open(name, &t), SHMBUS_ESHM_CORRUPT); /* capacity not a multiple of 64 */
  CHECK_RC(shmbus_topic_subscribe(name, SHMBUS_FROM_OLDEST, &s), SHMBUS_ESHM_CORRUPT);
  shmbus_segment_close(seg);
  shmbus_segment_unlink(name);
  params[0] = 1024;
  CHECK_OK(shmbus_segment_create_ex(name, &co, &seg));
  /* all-zero payload: tailSeq 0 is an impossible cursor */
  CHECK_RC(shmbus_topic_subscribe(name, SHMBUS_FROM_OLDEST, &s), SHMBUS_ESHM_CORRUPT);
  uint8_t* p = (uint8_t*)shmbus_segment_data(seg);
  p[80] = 1; /* tailSeq = 1: a valid empty ring */
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_OLDEST, &s));
  CHECK_OK(shmbus_topic_open(name, &t));
  CHECK_OK(shmbus_topic_publish(t, "abc", 3));
  /* the record's size field claims more than maxMessageSize: a reader refuses it */
  p[4352] = 0xff;
  p[4353] = 0xff;
  shmbus_msg m;
  CHECK_RC(shmbus_sub_read(s, &m, 0), SHMBUS_ESHM_CORRUPT);
  /* a writer that finds a broken chain drops the ring and goes on */
  for (int i = 0; i < 40; i++) CHECK_OK(shmbus_topic_publish(t, "abcdefghijklmnopqrstuvwxyz0123456789", 36));
  shmbus_sub_close(s);
  shmbus_topic_close(t);
  shmbus_segment_close(seg);
}


/* Threads of one process: two publishers (a handle each) and a reader; the writers' lock orders them. */
typedef struct thread_pub {
  const char* name;
  uint32_t id;
  int rc;
} thread_pub;

#define PER_THREAD 20000

static void* publish_thread(void* arg) {
  thread_pub* p = (thread_pub*)arg;
  shmbus_topic* t = NULL;
  p->rc = shmbus_topic_open(p->name, &t);
  for (uint32_t i = 0; p->rc == 0 && i < PER_THREAD; i++) {
    uint32_t msg[2] = {p->id, i};
    p->rc = shmbus_topic_publish(t, msg, sizeof msg);
  }
  shmbus_topic_close(t);
  return NULL;
}

static void threads_publish_into_one_topic(void) {
  const char* name = test_name("tpthr");
  shmbus_topic* t = NULL;
  shmbus_sub* s = NULL;
  /* room for every record: nothing may be lost, whatever the scheduling */
  CHECK_OK(shmbus_topic_create(name, 2 * PER_THREAD * 48 + 4096, 64, &t));
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_LATEST, &s));
  thread_pub pubs[2] = {{name, 0, 0}, {name, 1, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, publish_thread, &pubs[i]) == 0);
  uint32_t next[2] = {0, 0};
  uint64_t last = 0;
  for (int n = 0; n < 2 * PER_THREAD; n++) {
    shmbus_msg m;
    int rc = shmbus_sub_read(s, &m, 20000);
    if (rc != 0) break;
    uint32_t msg[2];
    memcpy(msg, m.data, sizeof msg);
    if (m.size != sizeof msg || msg[0] > 1 || msg[1] != next[msg[0]] || m.seq != last + 1) break;
    next[msg[0]]++;
    last = m.seq;
  }
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  CHECK(pubs[0].rc == 0 && pubs[1].rc == 0);
  CHECK(next[0] == PER_THREAD && next[1] == PER_THREAD && shmbus_sub_lost(s) == 0);
  shmbus_sub_close(s);
  shmbus_topic_close(t);
}

/* A subscriber that waits for the topic to appear (another process creates it later) starts at the oldest
 * message; the creator waits for it to register before publishing. */
static void subscriber_waits_for_the_topic(void) {
  const char* name = test_name("tpwait");
  char nm[128];
  snprintf(nm, sizeof nm, "%s", name);
  int ready[2];
  CHECK(pipe(ready) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    shmbus_sub_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.wait_ms = 20000;
    shmbus_sub* s = NULL;
    if (write(ready[1], "s", 1) != 1) _exit(2);
    if (shmbus_topic_subscribe_ex(nm, &o, &s) != 0) _exit(3);
    shmbus_msg m;
    if (shmbus_sub_read(s, &m, 20000) != 0 || m.seq != 1 || m.size != 5 || memcmp(m.data, "first", 5) != 0) _exit(4);
    _exit(shmbus_sub_read(s, &m, 20000) == SHMBUS_EEND ? 0 : 5);
  }
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  shmbus_topic* t = NULL;
  CHECK_OK(shmbus_topic_create(name, 4096, 64, &t));
  uint32_t have = 0;
  CHECK_OK(shmbus_topic_wait_for_subscribers(t, 1, 20000, &have));
  CHECK(have == 1);
  CHECK_OK(shmbus_topic_publish(t, "first", 5));
  CHECK_OK(shmbus_topic_close(t));
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ready[0]);
  close(ready[1]);
}

int main(void) {
  RUN(publish_then_read_from_oldest_and_latest);
  RUN(bad_input_is_an_error_code);
  RUN(lapping_is_counted_exactly);
  RUN(zero_copy_view_reports_overwrite);
  RUN(loan_commit_abort);
  RUN(end_of_stream_after_last_publisher);
  RUN(single_publisher_refuses_a_second);
  RUN(parked_reader_in_another_process_is_woken);
  RUN(killed_publisher_is_recovered);
  RUN(corrupt_segments_are_refused);
  RUN(threads_publish_into_one_topic);
  RUN(subscriber_waits_for_the_topic);
  return test_summary();
}
