/* test_async.c: park capture (shmbus_park_capture_begin/end) and shmbus_futex_waitv, the C section ASYNC that
 * the Python peer's asyncio waits are built on: a blocking call in capture never sleeps and hands back the word it
 * would sleep on; a wait on that word wakes when another process publishes. */
#include "test.h"

#include <sys/wait.h>
#include <unistd.h>

static void a_captured_topic_read_returns_its_word(void) {
  const char* name = test_name("async-topic");
  shmbus_topic* t = NULL;
  shmbus_sub* s = NULL;
  shmbus_msg m;
  shmbus_park park;
  CHECK_OK(shmbus_topic_create(name, 4096, 0, &t));
  CHECK_OK(shmbus_topic_subscribe(name, SHMBUS_FROM_LATEST, &s));
  /* Not in capture: nothing captured. */
  CHECK(shmbus_park_capture_end(&park) == 0);
  shmbus_park_capture_begin(0);
  CHECK_RC(shmbus_sub_read(s, &m, -1), SHMBUS_ETIMEDOUT); /* forever, yet it returns where it would sleep */
  CHECK(shmbus_park_capture_end(&park) == 1);
  CHECK(park.word != NULL && __atomic_load_n(park.word, __ATOMIC_ACQUIRE) == park.expected);
  /* skip = 1: the first sleep ends at once as a timeout (the liveness slice path), the next one is captured. */
  shmbus_park_capture_begin(1);
  CHECK_RC(shmbus_sub_read(s, &m, 10000), SHMBUS_ETIMEDOUT);
  CHECK(shmbus_park_capture_end(&park) == 1);
  /* Another process publishes: the wait on the captured word ends (woken, or the word moved before the call). */
  pid_t child = fork();
  if (child == 0) {
    shmbus_topic* p = NULL;
    int ok = shmbus_topic_open(name, &p) == 0 && shmbus_topic_publish(p, "x", 1) == 0;
    shmbus_topic_close(p);
    _exit(ok ? 0 : 1);
  }
  const uint32_t* words[1] = {park.word};
  uint32_t expected[1] = {park.expected};
  int rc = shmbus_futex_waitv(words, expected, 1, -1);
  CHECK(rc == 0 || rc == SHMBUS_EAGAIN);
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_OK(shmbus_sub_try_read(s, &m));
  CHECK(m.size == 1);
  /* Outside capture the same call takes the message at once and waits normally again. */
  CHECK_RC(shmbus_sub_read(s, &m, 1), SHMBUS_ETIMEDOUT);
  shmbus_sub_close(s);
  shmbus_topic_close(t);
}

static void a_captured_queue_receive_returns(void) {
  const char* name = test_name("async-queue");
  shmbus_queue* q = NULL;
  shmbus_park park;
  char buf[16];
  size_t n = 0;
  CHECK_OK(shmbus_queue_create(name, 4, 16, &q));
  shmbus_park_capture_begin(0);
  CHECK_RC(shmbus_queue_receive(q, buf, sizeof buf, &n, -1), SHMBUS_ETIMEDOUT);
  CHECK(shmbus_park_capture_end(&park) == 1);
  CHECK_OK(shmbus_queue_send(q, "y", 1, 0));
  CHECK(__atomic_load_n(park.word, __ATOMIC_ACQUIRE) != park.expected); /* the send moved the captured word */
  CHECK_OK(shmbus_queue_receive(q, buf, sizeof buf, &n, 0));
  shmbus_queue_close(q);
}

static void futex_waitv_arguments(void) {
  uint32_t w = 5;
  const uint32_t* words[1] = {&w};
  uint32_t expected[1] = {4};
  CHECK_RC(shmbus_futex_waitv(words, expected, 0, -1), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_futex_waitv(NULL, expected, 1, -1), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_futex_waitv(words, expected, 1, -1), SHMBUS_EAGAIN); /* the word differs */
  expected[0] = 5;
  CHECK_RC(shmbus_futex_waitv(words, expected, 1, 0), SHMBUS_ETIMEDOUT); /* a deadline in the past */
  CHECK(shmbus_futex_wake_all(&w) == 0);
  CHECK_RC(shmbus_futex_wake_all(NULL), SHMBUS_EINVAL_ARG);
}

int main(void) {
  TEST_RUN(a_captured_topic_read_returns_its_word);
  TEST_RUN(a_captured_queue_receive_returns);
  TEST_RUN(futex_waitv_arguments);
  return test_summary();
}
