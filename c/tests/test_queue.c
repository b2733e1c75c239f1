/*
 * test_queue.c: Queue (PROTOCOL §6) through the public API, with real processes (fork) where processes matter:
 * round trips, flags, sizes, bad input, end of stream, the u32 ticket wrap, backpressure with threads, an MPMC
 * stream between forked producers and consumers proven exactly-once through a shared tally, and recovery from a
 * producer killed (-9) while writing a slot and a consumer killed while holding one.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "src/queue_ring.h"
#include "test.h"

/* Names created by the current test: removed at the end of each test (also when it failed). */
static const char* made[8];
static int made_count;

static const char* fresh(const char* what) {
  const char* n = test_name(what);
  made[made_count++ % 8] = n;
  return n;
}

static void cleanup(void) {
  for (int i = 0; i < made_count && i < 8; i++) shmbus_segment_unlink(made[i]);
  made_count = 0;
}

#define RUN(fn)       \
  do {                \
    TEST_RUN(fn);     \
    cleanup();        \
  } while (0)

static void round_trip_bytes_and_text(void) {
  shmbus_queue* q = NULL;
  CHECK_OK(shmbus_queue_create(fresh("q-rt"), 4, 16, &q));
  CHECK(shmbus_queue_slots(q) == 4 && shmbus_queue_max_message_size(q) == 16);
  CHECK_OK(shmbus_queue_send(q, "\x01\x02\x03", 3, 0));
  CHECK_OK(shmbus_queue_send_ex(q, "hello", 5, SHMBUS_MSG_TEXT, -1));
  CHECK_OK(shmbus_queue_send(q, NULL, 0, 0)); /* an empty message is a message */
  uint8_t buf[16];
  size_t len = 99;
  uint32_t flags = 99;
  CHECK_OK(shmbus_queue_receive_ex(q, buf, sizeof buf, &len, &flags, 0));
  CHECK(len == 3 && flags == 0 && memcmp(buf, "\x01\x02\x03", 3) == 0);
  CHECK_OK(shmbus_queue_try_receive_ex(q, buf, sizeof buf, &len, &flags));
  CHECK(len == 5 && flags == SHMBUS_MSG_TEXT && memcmp(buf, "hello", 5) == 0);
  CHECK_OK(shmbus_queue_try_receive(q, buf, sizeof buf, &len));
  CHECK(len == 0);
  CHECK_RC(shmbus_queue_try_receive(q, buf, sizeof buf, &len), SHMBUS_EAGAIN);
  CHECK_RC(shmbus_queue_receive(q, buf, sizeof buf, &len, 0), SHMBUS_ETIMEDOUT);
  CHECK_RC(shmbus_queue_receive(q, buf, sizeof buf, &len, 20), SHMBUS_ETIMEDOUT);
  shmbus_queue_stats st;
  CHECK_OK(shmbus_queue_get_stats(q, &st));
  CHECK(st.sent == 3 && st.received == 3 && st.length == 0 && st.abandoned == 0 && st.lost == 0);
  shmbus_queue_close(q);
}

static void full_queue_and_sizes(void) {
  shmbus_queue* q = NULL;
  const char* n = fresh("q-full");
  CHECK_OK(shmbus_queue_create(n, 2, 8, &q));
  CHECK_RC(shmbus_queue_try_send(q, "123456789", 9), SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_RC(shmbus_queue_send(q, "123456789", 9, -1), SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_OK(shmbus_queue_try_send(q, "12345678", 8));
  CHECK_OK(shmbus_queue_try_send(q, "a", 1));
  CHECK_RC(shmbus_queue_try_send(q, "b", 1), SHMBUS_EAGAIN);
  CHECK_RC(shmbus_queue_send(q, "b", 1, 0), SHMBUS_ETIMEDOUT);
  CHECK_RC(shmbus_queue_send(q, "b", 1, 15), SHMBUS_ETIMEDOUT);
  shmbus_queue_stats st;
  CHECK_OK(shmbus_queue_get_stats(q, &st));
  CHECK(st.length == 2);
  /* A buffer too small: the message stays in the queue, its size is told. */
  uint8_t small[4], big[8];
  size_t len = 0;
  CHECK_RC(shmbus_queue_try_receive(q, small, sizeof small, &len), SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK(len == 8);
  CHECK_OK(shmbus_queue_try_receive(q, big, sizeof big, &len));
  CHECK(len == 8 && memcmp(big, "12345678", 8) == 0);
  CHECK_OK(shmbus_queue_try_receive(q, small, sizeof small, &len));
  CHECK(len == 1 && small[0] == 'a');
  /* A second handle on the same queue sees the same messages. */
  shmbus_queue* q2 = NULL;
  CHECK_OK(shmbus_queue_open(n, &q2));
  CHECK_OK(shmbus_queue_send(q2, "x", 1, -1));
  CHECK_OK(shmbus_queue_receive(q, small, sizeof small, &len, -1));
  CHECK(len == 1 && small[0] == 'x');
  shmbus_queue_close(q2);
  shmbus_queue_close(q);
}

static void end_of_stream(void) {
  shmbus_queue* q = NULL;
  shmbus_queue* other = NULL;
  const char* n = fresh("q-end");
  CHECK_OK(shmbus_queue_create(n, 8, 32, &q));
  CHECK_OK(shmbus_queue_open(n, &other));
  CHECK_OK(shmbus_queue_send(q, "one", 3, -1));
  CHECK_OK(shmbus_queue_send(q, "two", 3, -1));
  CHECK(shmbus_queue_ended(other) == 0);
  CHECK_OK(shmbus_queue_end(other));
  CHECK_OK(shmbus_queue_end(other)); /* idempotent */
  CHECK(shmbus_queue_ended(q) == 1);
  CHECK_RC(shmbus_queue_send(q, "three", 5, -1), SHMBUS_ECLOSED);
  CHECK_RC(shmbus_queue_try_send(other, "three", 5), SHMBUS_ECLOSED);
  char buf[32];
  size_t len;
  CHECK_OK(shmbus_queue_receive(q, buf, sizeof buf, &len, -1));
  CHECK(len == 3 && memcmp(buf, "one", 3) == 0);
  CHECK_OK(shmbus_queue_try_receive(other, buf, sizeof buf, &len));
  CHECK(len == 3 && memcmp(buf, "two", 3) == 0);
  CHECK_RC(shmbus_queue_receive(q, buf, sizeof buf, &len, -1), SHMBUS_EEND);
  CHECK_RC(shmbus_queue_try_receive(other, buf, sizeof buf, &len), SHMBUS_EEND);
  shmbus_queue_close(other);
  shmbus_queue_close(q);
}

static void bad_input_is_an_error_code(void) {
  shmbus_queue* q = NULL;
  const char* n = fresh("q-bad");
  CHECK_RC(shmbus_queue_create(NULL, 4, 16, &q), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_queue_create("a/b", 4, 16, &q), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_queue_create(n, 4, 16, NULL), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_queue_create(n, 3, 16, &q), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_queue_create(n, 1u << 25, 16, &q), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_queue_create(n, 4, (1u << 30) + 1, &q), SHMBUS_EINVAL_ARG);
  shmbus_queue_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = 3;
  CHECK_RC(shmbus_queue_create_ex(n, &o, &q), SHMBUS_EINVAL_ARG);
  o.struct_size = sizeof o;
  o.mode = 01777;
  CHECK_RC(shmbus_queue_create_ex(n, &o, &q), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_queue_open(n, &q), SHMBUS_ESHM_NOT_FOUND);
  CHECK_OK(shmbus_queue_create(n, 4, 16, &q));
  shmbus_queue* dup = NULL;
  CHECK_RC(shmbus_queue_create(n, 4, 16, &dup), SHMBUS_ESHM_EXISTS);
  CHECK_RC(shmbus_queue_send(NULL, "x", 1, 0), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_queue_send(q, NULL, 1, 0), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_queue_send_ex(q, "x", 1, 0x80, 0), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_queue_send(q, "x", 1, -5), SHMBUS_EINVAL_ARG);
  size_t len;
  CHECK_RC(shmbus_queue_receive(q, NULL, 4, &len, 0), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_queue_receive(NULL, NULL, 0, &len, 0), SHMBUS_EINVAL_ARG);
  shmbus_queue_close(q);
  shmbus_queue_close(NULL);
  /* Another kind under the name. */
  const char* raw = fresh("q-raw");
  shmbus_segment* seg = NULL;
  CHECK_OK(shmbus_segment_create(raw, 1024, &seg));
  shmbus_segment_close(seg);
  CHECK_RC(shmbus_queue_open(raw, &q), SHMBUS_ESHM_KIND);
  CHECK_RC(shmbus_queue_open_or_create(raw, 4, 16, &q), SHMBUS_ESHM_KIND);
}

static void corrupt_layouts_are_refused(void) {
  /* A queue segment whose params do not fit its payload, or are impossible. */
  static const uint32_t bad[][2] = {{3, 16}, {0, 16}, {4, 0}, {1u << 25, 16}, {64, 4096}, {4, (1u << 30) + 1}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char* n = fresh("q-corrupt");
    uint32_t p[16] = {0};
    p[0] = bad[i][0];
    p[1] = bad[i][1];
    shmbus_segment_create_options co;
    memset(&co, 0, sizeof co);
    co.struct_size = sizeof co;
    co.size = 320 + 4 * 64;
    co.kind = SHMBUS_KIND_QUEUE;
    co.params = p;
    shmbus_segment* seg = NULL;
    CHECK_OK(shmbus_segment_create_ex(n, &co, &seg));
    shmbus_segment_close(seg);
    shmbus_queue* q = NULL;
    CHECK_RC(shmbus_queue_open(n, &q), SHMBUS_ESHM_CORRUPT);
    CHECK(q == NULL);
    shmbus_segment_unlink(n);
  }
  /* A length word beyond the slot size: refused with ERR_SHM_CORRUPT, the slot freed, the queue goes on. */
  const char* n = fresh("q-len");
  shmbus_queue* q = NULL;
  CHECK_OK(shmbus_queue_create(n, 4, 16, &q));
  CHECK_OK(shmbus_queue_send(q, "abc", 3, 0));
  shmbus_segment* seg = NULL;
  CHECK_OK(shmbus_segment_open(n, &seg));
  uint32_t huge = 1000;
  memcpy((uint8_t*)shmbus_segment_data(seg) + SBI_Q_SLOTS + SBI_Q_SLOT_LENGTH, &huge, 4);
  shmbus_segment_close(seg);
  char buf[16];
  size_t len;
  CHECK_RC(shmbus_queue_try_receive(q, buf, sizeof buf, &len), SHMBUS_ESHM_CORRUPT);
  CHECK_OK(shmbus_queue_send(q, "def", 3, 0));
  CHECK_OK(shmbus_queue_try_receive(q, buf, sizeof buf, &len));
  CHECK(len == 3 && memcmp(buf, "def", 3) == 0);
  shmbus_queue_close(q);
}

static void tickets_cross_the_u32_wrap(void) {
  shmbus_queue_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.slots = 4;
  o.max_message_size = 16;
  shmbus_queue* q = NULL;
  CHECK_OK(sbi_queue_create_at(fresh("q-wrap"), &o, 0xFFFFFFF5u, &q));
  /* Two messages in flight at a time, 100 tickets from 2^32 - 11: every one comes back in order. */
  for (uint32_t i = 0; i < 100; i++) {
    CHECK_OK(shmbus_queue_try_send(q, &i, 4));
    if (i % 2 == 0) continue;
    for (uint32_t k = i - 1; k <= i; k++) {
      uint32_t got = 0;
      size_t len = 0;
      CHECK_OK(shmbus_queue_try_receive(q, &got, 4, &len));
      CHECK(len == 4 && got == k);
    }
  }
  shmbus_segment* seg = NULL;
  CHECK_OK(shmbus_segment_open(shmbus_queue_name(q), &seg));
  uint32_t head = 0;
  memcpy(&head, (uint8_t*)shmbus_segment_data(seg) + SBI_Q_HEAD, 4);
  shmbus_segment_close(seg);
  CHECK(head == 0xFFFFFFF5u + 100u);
  shmbus_queue_close(q);
}

/* ---- threads: blocking send and receive ------------------------------------------------------------------- */

typedef struct pump_arg {
  const char* name;
  uint32_t count;
  int rc;
} pump_arg;

static void* consumer_thread(void* p) {
  pump_arg* a = (pump_arg*)p;
  shmbus_queue* q = NULL;
  a->rc = shmbus_queue_open(a->name, &q);
  for (uint32_t i = 0; a->rc == 0 && i < a->count; i++) {
    uint32_t v = 0;
    size_t len = 0;
    a->rc = shmbus_queue_receive(q, &v, 4, &len, 10000);
    if (a->rc == 0 && (len != 4 || v != i)) a->rc = -100;
  }
  if (a->rc == 0) {
    uint32_t v;
    size_t len;
    a->rc = shmbus_queue_receive(q, &v, 4, &len, 10000) == SHMBUS_EEND ? 0 : -101;
  }
  shmbus_queue_close(q);
  return NULL;
}

static void backpressure_with_a_slow_consumer_thread(void) {
  const char* n = fresh("q-bp");
  shmbus_queue* q = NULL;
  CHECK_OK(shmbus_queue_create(n, 2, 4, &q));
  pump_arg a = {n, 5000, -1};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, consumer_thread, &a) == 0);
  int rc = 0;
  for (uint32_t i = 0; rc == 0 && i < a.count; i++) rc = shmbus_queue_send(q, &i, 4, 10000);
  if (rc == 0) rc = shmbus_queue_end(q);
  pthread_join(t, NULL);
  shmbus_queue_close(q);
  CHECK_OK(rc);
  CHECK_OK(a.rc);
}

/* ---- processes: MPMC exactly once -------------------------------------------------------------------------- */

#define MP_PRODUCERS 2
#define MP_CONSUMERS 2
#define MP_PER 20000

static void produce(const char* name, uint32_t id) {
  shmbus_queue* q = NULL;
  if (shmbus_queue_open(name, &q) != 0) _exit(2);
  for (uint32_t i = 0; i < MP_PER; i++) {
    uint32_t msg[4] = {id, i, id * 2654435761u ^ i, 0};
    if (shmbus_queue_send(q, msg, sizeof msg, 30000) != 0) _exit(3);
  }
  shmbus_queue_close(q);
  _exit(0);
}

static void consume(const char* name, const char* tally_name) {
  shmbus_queue* q = NULL;
  shmbus_segment* tally = NULL;
  uint32_t last[MP_PRODUCERS];
  if (shmbus_queue_open(name, &q) != 0 || shmbus_segment_open(tally_name, &tally) != 0) _exit(2);
  uint8_t* marks = (uint8_t*)shmbus_segment_data(tally);
  for (int i = 0; i < MP_PRODUCERS; i++) last[i] = UINT32_MAX;
  for (;;) {
    uint32_t msg[4];
    size_t len = 0;
    int rc = shmbus_queue_receive(q, msg, sizeof msg, &len, 30000);
    if (rc == SHMBUS_EEND) break;
    if (rc != 0 || len != sizeof msg || msg[0] >= MP_PRODUCERS || msg[1] >= MP_PER) _exit(4);
    if (msg[2] != (msg[0] * 2654435761u ^ msg[1])) _exit(5);
    if (last[msg[0]] != UINT32_MAX && msg[1] <= last[msg[0]]) _exit(6); /* per-producer order */
    last[msg[0]] = msg[1];
    __atomic_fetch_add(&marks[msg[0] * MP_PER + msg[1]], 1, __ATOMIC_RELAXED);
  }
  shmbus_segment_close(tally);
  shmbus_queue_close(q);
  _exit(0);
}

static void mpmc_processes_every_message_exactly_once(void) {
  const char* n = fresh("q-mpmc");
  const char* t = fresh("q-tally");
  shmbus_queue* q = NULL;
  shmbus_segment* tally = NULL;
  CHECK_OK(shmbus_queue_create(n, 16, 16, &q));
  CHECK_OK(shmbus_segment_create(t, MP_PRODUCERS * MP_PER, &tally));
  pid_t kids[MP_PRODUCERS + MP_CONSUMERS];
  for (int i = 0; i < MP_CONSUMERS; i++)
    if ((kids[i] = fork()) == 0) consume(n, t);
  for (int i = 0; i < MP_PRODUCERS; i++)
    if ((kids[MP_CONSUMERS + i] = fork()) == 0) produce(n, (uint32_t)i);
  int bad = 0;
  for (int i = MP_CONSUMERS; i < MP_CONSUMERS + MP_PRODUCERS; i++) {
    int st = 0;
    waitpid(kids[i], &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
  }
  shmbus_queue_end(q);
  for (int i = 0; i < MP_CONSUMERS; i++) {
    int st = 0;
    waitpid(kids[i], &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
  }
  const uint8_t* marks = (const uint8_t*)shmbus_segment_data(tally);
  int wrong = 0;
  for (size_t i = 0; i < (size_t)MP_PRODUCERS * MP_PER; i++) wrong += marks[i] != 1;
  shmbus_segment_close(tally);
  shmbus_queue_close(q);
  CHECK(bad == 0);
  CHECK(wrong == 0);
}

/* ---- processes: kill -9 of a holder -------------------------------------------------------------------------- */

/* A child that stops inside a slot (writing or taking it), says so through the pipe, and waits to be killed. */
static int stuck_pipe[2];

static int stuck_writer(void* ctx, uint8_t* body, uint32_t cap, uint32_t* len) {
  (void)ctx;
  (void)cap;
  (void)len;
  body[0] = 0xde;
  if (write(stuck_pipe[1], "s", 1) != 1) _exit(9);
  for (;;) pause();
}

static int stuck_reader(void* ctx, const uint8_t* body, uint32_t len, uint32_t flags) {
  (void)ctx;
  (void)body;
  (void)len;
  (void)flags;
  if (write(stuck_pipe[1], "s", 1) != 1) _exit(9);
  for (;;) pause();
}

static pid_t stuck_child(const char* name, int take) {
  if (pipe(stuck_pipe) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    shmbus_segment* seg = NULL;
    sbi_ring r;
    if (shmbus_segment_open(name, &seg) != 0) _exit(2);
    const uint32_t* p = shmbus_segment_params(seg);
    sbi_ring_attach(&r, (uint8_t*)shmbus_segment_data(seg), p[0], p[1], name, 0, 50);
    if (take) sbi_ring_try_take(&r, UINT32_MAX, NULL, stuck_reader, NULL);
    else sbi_ring_try_write(&r, stuck_writer, NULL, 0);
    _exit(3); /* the callback never returns */
  }
  char c;
  int ok = pid > 0 && read(stuck_pipe[0], &c, 1) == 1;
  close(stuck_pipe[0]);
  close(stuck_pipe[1]);
  if (!ok && pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
  }
  return pid;
}

static void killed_producer_mid_write_is_skipped(void) {
  const char* n = fresh("q-killp");
  shmbus_queue* q = NULL;
  CHECK_OK(shmbus_queue_create(n, 8, 16, &q));
  CHECK_OK(shmbus_queue_send(q, "before", 6, 0));
  pid_t kid = stuck_child(n, 0);
  CHECK(kid > 0);
  /* Committed after the stuck slot: delivered once the stuck slot is recovered. */
  CHECK_OK(shmbus_queue_send(q, "after-1", 7, 0));
  CHECK_OK(shmbus_queue_send(q, "after-2", 7, 0));
  char buf[16];
  size_t len = 0;
  CHECK_OK(shmbus_queue_receive(q, buf, sizeof buf, &len, 5000));
  CHECK(len == 6 && memcmp(buf, "before", 6) == 0);
  /* The holder lives: a try finds nothing (twice in a row, with a liveness check the second time). */
  CHECK_RC(shmbus_queue_try_receive(q, buf, sizeof buf, &len), SHMBUS_EAGAIN);
  CHECK_RC(shmbus_queue_try_receive(q, buf, sizeof buf, &len), SHMBUS_EAGAIN);
  kill(kid, SIGKILL);
  waitpid(kid, NULL, 0);
  CHECK_OK(shmbus_queue_receive(q, buf, sizeof buf, &len, 5000));
  CHECK(len == 7 && memcmp(buf, "after-1", 7) == 0);
  CHECK_OK(shmbus_queue_receive(q, buf, sizeof buf, &len, 5000));
  CHECK(len == 7 && memcmp(buf, "after-2", 7) == 0);
  CHECK_RC(shmbus_queue_try_receive(q, buf, sizeof buf, &len), SHMBUS_EAGAIN);
  shmbus_queue_stats st;
  CHECK_OK(shmbus_queue_get_stats(q, &st));
  CHECK(st.abandoned == 1 && st.lost == 0);
  /* The ring keeps working across the recovered slot, lap after lap. */
  for (uint32_t i = 0; i < 40; i++) {
    uint32_t v = 0;
    CHECK_OK(shmbus_queue_try_send(q, &i, 4));
    CHECK_OK(shmbus_queue_try_receive(q, &v, 4, &len));
    CHECK(v == i);
  }
  shmbus_queue_close(q);
}

static void killed_consumer_holding_a_slot_is_lost_and_counted(void) {
  const char* n = fresh("q-killc");
  shmbus_queue* q = NULL;
  CHECK_OK(shmbus_queue_create(n, 4, 16, &q));
  CHECK_OK(shmbus_queue_send(q, "taken-by-dead", 13, 0));
  pid_t kid = stuck_child(n, 1);
  CHECK(kid > 0);
  kill(kid, SIGKILL);
  waitpid(kid, NULL, 0);
  /* Fill the ring: the producer reaches the dead consumer's slot, finds its holder dead, reclaims it. */
  for (uint32_t i = 0; i < 4; i++) CHECK_OK(shmbus_queue_send(q, &i, 4, 5000));
  shmbus_queue_stats st;
  CHECK_OK(shmbus_queue_get_stats(q, &st));
  CHECK(st.lost == 1 && st.abandoned == 0);
  for (uint32_t i = 0; i < 4; i++) {
    uint32_t v = 99;
    size_t len;
    CHECK_OK(shmbus_queue_try_receive(q, &v, 4, &len));
    CHECK(v == i);
  }
  size_t len;
  char buf[16];
  CHECK_RC(shmbus_queue_try_receive(q, buf, sizeof buf, &len), SHMBUS_EAGAIN);
  shmbus_queue_close(q);
}

static void open_waits_for_the_queue_to_appear(void) {
  const char* n = fresh("q-wait");
  pid_t kid = fork();
  if (kid == 0) {
    shmbus_queue* q = NULL;
    shmbus_queue_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.open_timeout_ms = 10000;
    char buf[8];
    size_t len;
    if (shmbus_queue_open_ex(n, &o, &q) != 0) _exit(2);
    if (shmbus_queue_receive(q, buf, sizeof buf, &len, 10000) != 0 || len != 2) _exit(3);
    _exit(0);
  }
  shmbus_queue* q = NULL;
  CHECK_OK(shmbus_queue_open_or_create(n, 4, 8, &q));
  CHECK_OK(shmbus_queue_send(q, "hi", 2, 5000));
  int st = 0;
  waitpid(kid, &st, 0);
  shmbus_queue_close(q);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Zero-copy: loans written in place and views read in place, with the misuse cases as error codes. */
static void loans_and_views(void) {
  shmbus_queue* q = NULL;
  shmbus_queue* other = NULL;
  shmbus_qloan loan, big;
  shmbus_qview v, w;
  shmbus_queue_stats st;
  CHECK_OK(shmbus_queue_create(fresh("q-zc"), 4, 16, &q));
  CHECK_OK(shmbus_queue_create(fresh("q-zc2"), 4, 16, &other));
  CHECK_OK(shmbus_queue_loan(q, 5, 0, &loan));
  CHECK(loan.size == 5 && loan.data != NULL);
  memcpy(loan.data, "hello", 5);
  CHECK_OK(shmbus_queue_commit(q, &loan, 5, SHMBUS_MSG_TEXT));
  CHECK(shmbus_queue_commit(q, &loan, 5, 0) == SHMBUS_ECLOSED); /* committed twice */
  CHECK(shmbus_queue_abort(q, &loan) == SHMBUS_ECLOSED);
  CHECK(shmbus_queue_try_loan(q, 17, &big) == SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK(shmbus_queue_loan(q, 17, 0, &big) == SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_OK(shmbus_queue_try_loan(q, 8, &big));
  CHECK(shmbus_queue_commit(other, &big, 8, 0) == SHMBUS_EINVAL_ARG); /* a loan of another queue */
  big.open_ = 1;
  CHECK(shmbus_queue_commit(q, &big, 9, 0) == SHMBUS_EINVAL_ARG); /* more than loaned: aborted */
  CHECK(shmbus_queue_commit(q, &big, 8, 0) == SHMBUS_ECLOSED);
  CHECK_OK(shmbus_queue_try_receive_view(q, &v));
  CHECK(v.size == 5 && v.flags == SHMBUS_MSG_TEXT && memcmp(v.data, "hello", 5) == 0);
  CHECK(shmbus_queue_try_receive_view(q, &w) == SHMBUS_EAGAIN); /* the aborted loan's ticket is skipped */
  CHECK_OK(shmbus_queue_release(q, &v));
  CHECK(shmbus_queue_release(q, &v) == SHMBUS_ECLOSED);
  /* A full lap through loans and views: every slot comes back. */
  for (int i = 0; i < 10; i++) {
    CHECK_OK(shmbus_queue_try_loan(q, 1, &loan));
    ((uint8_t*)loan.data)[0] = (uint8_t)i;
    CHECK_OK(shmbus_queue_commit(q, &loan, 1, 0));
    CHECK_OK(shmbus_queue_receive_view(q, &v, 100));
    CHECK(v.size == 1 && ((const uint8_t*)v.data)[0] == i);
    CHECK_OK(shmbus_queue_release(q, &v));
  }
  /* A held view stops producers when they come round to its slot; releasing it lets them on. */
  CHECK_OK(shmbus_queue_send(q, "a", 1, 0));
  CHECK_OK(shmbus_queue_receive_view(q, &v, 0));
  for (int i = 0; i < 3; i++) CHECK_OK(shmbus_queue_send(q, "b", 1, 0));
  CHECK(shmbus_queue_try_loan(q, 1, &loan) == SHMBUS_EAGAIN);
  CHECK_OK(shmbus_queue_release(q, &v));
  CHECK_OK(shmbus_queue_try_loan(q, 1, &loan));
  CHECK_OK(shmbus_queue_abort(q, &loan));
  shmbus_queue_end(q);
  CHECK(shmbus_queue_try_loan(q, 1, &loan) == SHMBUS_ECLOSED);
  CHECK_OK(shmbus_queue_get_stats(q, &st));
  CHECK(st.abandoned == 0 && st.lost == 0);
  CHECK(shmbus_queue_loan(NULL, 1, 0, &loan) == SHMBUS_EINVAL_ARG && shmbus_queue_release(q, NULL) == SHMBUS_EINVAL_ARG);
  shmbus_queue_close(other);
  shmbus_queue_close(q);
}

int main(void) {
  RUN(round_trip_bytes_and_text);
  RUN(loans_and_views);
  RUN(full_queue_and_sizes);
  RUN(end_of_stream);
  RUN(bad_input_is_an_error_code);
  RUN(corrupt_layouts_are_refused);
  RUN(tickets_cross_the_u32_wrap);
  RUN(backpressure_with_a_slow_consumer_thread);
  RUN(mpmc_processes_every_message_exactly_once);
  RUN(killed_producer_mid_write_is_skipped);
  RUN(killed_consumer_holding_a_slot_is_lost_and_counted);
  RUN(open_waits_for_the_queue_to_appear);
  return test_summary();
}
