/* test_mailbox.c: the C Mailbox (PROTOCOL §7) with real shared memory and real processes (fork). */
#include <signal.h>
#include <sys/wait.h>

#include "test.h"

/* test_name() names are unlinked after each test by test.h, also when a CHECK failed mid-way. */
#define RUN(fn) TEST_RUN(fn)

/* A value checks itself: [u32 checksum of bytes 4..][u32 counter][pattern of the counter]. */
static uint32_t sum_of(const uint8_t* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static void make_value(uint8_t* v, size_t n, uint32_t counter) {
  memcpy(v + 4, &counter, 4);
  for (size_t i = 8; i < n; i++) v[i] = (uint8_t)(counter * 31 + i);
  uint32_t h = sum_of(v + 4, n - 4);
  memcpy(v, &h, 4);
}

static int value_ok(const uint8_t* v, size_t n) {
  uint32_t h;
  memcpy(&h, v, 4);
  return n >= 8 && h == sum_of(v + 4, n - 4);
}

static void write_read_version(void) {
  const char* name = test_name("mb");
  shmbus_mailbox *mb = NULL, *other = NULL;
  CHECK_OK(shmbus_mailbox_create(name, 100, &mb));
  CHECK(shmbus_mailbox_max_size(mb) == 100);
  uint64_t v = 99;
  CHECK_OK(shmbus_mailbox_version(mb, &v));
  CHECK(v == 0);
  char buf[100];
  shmbus_mailbox_value val;
  CHECK_OK(shmbus_mailbox_read(mb, buf, sizeof buf, &val));
  CHECK(val.size == 0 && val.version == 0);
  CHECK_OK(shmbus_mailbox_write_ex(mb, "hello", 5, -1, &v));
  CHECK(v == 1);
  CHECK_OK(shmbus_mailbox_open(name, &other));
  CHECK_OK(shmbus_mailbox_read(other, buf, sizeof buf, &val));
  CHECK(val.size == 5 && val.version == 1 && memcmp(buf, "hello", 5) == 0 && val.timestamp_us > 1600000000000000ull);
  CHECK_OK(shmbus_mailbox_write(other, "bye", 3));
  CHECK_OK(shmbus_mailbox_read(mb, buf, 3, &val));
  CHECK(val.size == 3 && val.version == 2 && memcmp(buf, "bye", 3) == 0);
  CHECK_RC(shmbus_mailbox_read(mb, buf, 2, &val), SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK(val.size == 3);
  CHECK_OK(shmbus_mailbox_wait_changed(mb, 1, 0, &v));
  CHECK(v == 2);
  CHECK_RC(shmbus_mailbox_wait_changed(mb, 2, 10, &v), SHMBUS_ETIMEDOUT);
  shmbus_mailbox_close(other);
  shmbus_mailbox_close(mb);
}

static void bad_input_is_an_error_code(void) {
  const char* name = test_name("mbbad");
  shmbus_mailbox* mb = NULL;
  CHECK_RC(shmbus_mailbox_create("..", 10, &mb), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_mailbox_create(name, ((size_t)1 << 30) + 1, &mb), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_mailbox_open(name, &mb), SHMBUS_ESHM_NOT_FOUND);
  CHECK_OK(shmbus_mailbox_create(name, 0, &mb));
  CHECK_RC(shmbus_mailbox_write(mb, "x", 1), SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_OK(shmbus_mailbox_write(mb, NULL, 0));
  CHECK_RC(shmbus_mailbox_write(NULL, "x", 1), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_mailbox_read(mb, NULL, 5, (shmbus_mailbox_value[]){{0, 0, 0}}), SHMBUS_EINVAL_ARG);
  shmbus_topic* t = NULL;
  CHECK_RC(shmbus_topic_open(name, &t), SHMBUS_ESHM_KIND);
  shmbus_mailbox_close(mb);
  /* impossible parameters: stride not a multiple of 64 */
  shmbus_segment_unlink(name);
  uint32_t params[16] = {100, 100};
  shmbus_segment_create_options co;
  memset(&co, 0, sizeof co);
  co.struct_size = sizeof co;
  co.size = 128 + 400;
  co.kind = SHMBUS_KIND_MAILBOX;
  co.params = params;
  shmbus_segment* seg = NULL;
  CHECK_OK(shmbus_segment_create_ex(name, &co, &seg));
  CHECK_RC(shmbus_mailbox_open(name, &mb), SHMBUS_ESHM_CORRUPT);
  shmbus_segment_close(seg);
}

/* A reader in another process never sees a torn 1 MiB value while this process rewrites it. */
static void values_are_never_torn(void) {
  const char* name = test_name("mbtorn");
  const size_t size = 1 << 20;
  shmbus_mailbox* mb = NULL;
  CHECK_OK(shmbus_mailbox_create(name, size, &mb));
  uint8_t* v = (uint8_t*)malloc(size);
  CHECK(v != NULL);
  make_value(v, size, 0);
  CHECK_OK(shmbus_mailbox_write(mb, v, size));
  char nm[128];
  snprintf(nm, sizeof nm, "%s", name);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    shmbus_mailbox* r = NULL;
    uint8_t* buf = (uint8_t*)malloc(size);
    if (buf == NULL || shmbus_mailbox_open(nm, &r) != 0) _exit(2);
    for (;;) {
      shmbus_mailbox_value val;
      if (shmbus_mailbox_read(r, buf, size, &val) != 0) _exit(3);
      if (val.size == 4 && memcmp(buf, "STOP", 4) == 0) _exit(0);
      if (val.size != size || !value_ok(buf, size)) _exit(4);
    }
  }
  for (uint32_t i = 1; i <= 300; i++) {
    make_value(v, size, i);
    CHECK_OK(shmbus_mailbox_write(mb, v, size));
  }
  CHECK_OK(shmbus_mailbox_write(mb, "STOP", 4));
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(v);
  shmbus_mailbox_close(mb);
}

/* wait_changed parks in another process and wakes on each write (two parked wakes per round). */
static void wait_changed_wakes_another_process(void) {
  const char* a = test_name("mba");
  const char* b = test_name("mbb");
  shmbus_mailbox *ma = NULL, *mbb = NULL;
  CHECK_OK(shmbus_mailbox_create(a, 64, &ma));
  CHECK_OK(shmbus_mailbox_create(b, 64, &mbb));
  char na[128], nb[128];
  snprintf(na, sizeof na, "%s", a);
  snprintf(nb, sizeof nb, "%s", b);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    shmbus_mailbox *x = NULL, *y = NULL;
    if (shmbus_mailbox_open(na, &x) != 0 || shmbus_mailbox_open(nb, &y) != 0) _exit(2);
    uint64_t seen = 0;
    for (int i = 0; i < 100; i++) {
      if (shmbus_mailbox_wait_changed(x, seen, 20000, &seen) != 0) _exit(3);
      if (shmbus_mailbox_write(y, &seen, sizeof seen) != 0) _exit(4);
    }
    _exit(0);
  }
  uint64_t seen = 0;
  for (int i = 0; i < 100; i++) {
    CHECK_OK(shmbus_mailbox_write(ma, "ping", 4));
    CHECK_OK(shmbus_mailbox_wait_changed(mbb, seen, 20000, &seen));
    CHECK(seen == (uint64_t)i + 1);
  }
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  shmbus_mailbox_close(ma);
  shmbus_mailbox_close(mbb);
}

/* A writer killed while holding the writers' lock: the next writer recovers, the old value stays readable. */
static void killed_writer_is_recovered(void) {
  const char* name = test_name("mbkill");
  shmbus_mailbox* mb = NULL;
  CHECK_OK(shmbus_mailbox_create(name, 64, &mb));
  CHECK_OK(shmbus_mailbox_write(mb, "before", 6));
  char nm[128];
  snprintf(nm, sizeof nm, "%s", name);
  int ready[2];
  CHECK(pipe(ready) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    shmbus_mutex* m = NULL;
    shmbus_segment* seg = NULL;
    if (shmbus_segment_open(nm, &seg) != 0 || shmbus_mutex_embed(seg, 0, NULL, &m) != 0) _exit(2);
    if (shmbus_mutex_lock(m, -1, NULL) != 0) _exit(3);
    if (write(ready[1], "h", 1) != 1) _exit(4);
    for (;;) pause();
  }
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  char buf[64];
  shmbus_mailbox_value val;
  CHECK_OK(shmbus_mailbox_read(mb, buf, sizeof buf, &val));
  CHECK(val.size == 6 && memcmp(buf, "before", 6) == 0);
  uint64_t v = 0;
  CHECK_OK(shmbus_mailbox_write_ex(mb, "after", 5, 20000, &v));
  CHECK(v == 2);
  close(ready[0]);
  close(ready[1]);
  shmbus_mailbox_close(mb);
}

int main(void) {
  RUN(write_read_version);
  RUN(bad_input_is_an_error_code);
  RUN(values_are_never_torn);
  RUN(wait_changed_wakes_another_process);
  RUN(killed_writer_is_recovered);
  return test_summary();
}
