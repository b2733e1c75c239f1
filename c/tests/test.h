/*
 * test.h: a tiny test framework for the C peer's tests. A test binary is a main() that calls TEST_RUN(fn) for
 * each test function and ends with `return test_summary();`, which prints "N passed, M failed" as its last line.
 * A failed CHECK records the failure and returns from the test function. Names come from test_name() (unique per
 * run); every name it handed out is unlinked when the test function returns, also after a failed CHECK, so
 * /dev/shm is left as found.
 */
#ifndef SHMBUS_TEST_H
#define SHMBUS_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmbus.h"

/* Helpers a test file may not use must not trip -Werror=unused-function. */
#define SBI_TEST_UNUSED __attribute__((unused))

static int test_passed_count;
static int test_failed_count;
static int test_current_failed;
static const char* test_current_name;

/* Marks the current test failed and returns from it. */
#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      fprintf(stderr, "  FAIL %s:%d in %s: %s\n", __FILE__, __LINE__, test_current_name, #cond); \
      test_current_failed = 1;                                                               \
      return;                                                                                \
    }                                                                                        \
  } while (0)

/* A call that must return `want` (an int status); shows the code, its name and the last error message. */
#define CHECK_RC(call, want)                                                                              \
  do {                                                                                                    \
    int check_rc_ = (call);                                                                               \
    if (check_rc_ != (want)) {                                                                            \
      fprintf(stderr, "  FAIL %s:%d in %s: %s returned %d (%s), want %d (%s): %s\n", __FILE__, __LINE__, \
              test_current_name, #call, check_rc_, shmbus_error_code(check_rc_), (int)(want),             \
              shmbus_error_code(want), shmbus_last_error_message());                                      \
      test_current_failed = 1;                                                                            \
      return;                                                                                             \
    }                                                                                                     \
  } while (0)

#define CHECK_OK(call) CHECK_RC(call, SHMBUS_OK)

#define TEST_RUN(fn) test_run_one(#fn, fn)

/* Names handed out during the current test (removed after it). */
#define TEST_MAX_NAMES 64
static char test_names[TEST_MAX_NAMES][128];
static int test_names_count;

SBI_TEST_UNUSED static void test_cleanup_names(void) {
  int i;
  for (i = 0; i < test_names_count; i++) shmbus_segment_unlink(test_names[i]); /* gone already: fine */
  test_names_count = 0;
}

SBI_TEST_UNUSED static void test_run_one(const char* name, void (*fn)(void)) {
  test_current_name = name;
  test_current_failed = 0;
  fn();
  test_cleanup_names();
  if (test_current_failed) {
    test_failed_count++;
    printf("not ok - %s\n", name);
  } else {
    test_passed_count++;
    printf("ok - %s\n", name);
  }
  fflush(stdout);
}

SBI_TEST_UNUSED static int test_summary(void) {
  printf("%d passed, %d failed\n", test_passed_count, test_failed_count);
  return test_failed_count == 0 ? 0 : 1;
}

/* A unique segment name: "test-c<what>-[<run>-]<pid>-<random>", the shape of Node's uniqueName(), so that the
   /dev/shm leak check of scripts/test.mjs tells this run's names (SHMBUS_TEST_RUN) from a concurrent run's.
   Removed when the current test ends. */
SBI_TEST_UNUSED static const char* test_name(const char* what) {
  static char overflow[128];
  static unsigned seed;
  const char* run = getenv("SHMBUS_TEST_RUN");
  char* out = test_names_count < TEST_MAX_NAMES ? test_names[test_names_count++] : overflow;
  if (seed == 0) seed = (unsigned)getpid() ^ (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
  seed = seed * 1103515245u + 12345u;
  snprintf(out, 128, "test-c%s-%.16s%s%ld-%08x", what, run != NULL ? run : "", run != NULL ? "-" : "", (long)getpid(),
           seed);
  return out;
}

#endif /* SHMBUS_TEST_H */
