/* test_park.c: the two sleep/wake rules of PROTOCOL §3 (internal API), their words and real cross-process wakes. */
#include "test.h"

#include <sys/wait.h>

#include "../src/internal.h"

static void state_rule_counts_and_clears(void) {
  uint32_t word = 0;
  uint32_t sleepers = 0;
  /* The word already differs: no sleep, but the announcement stays for the next waker. */
  CHECK_OK(sbi_park(&word, &sleepers, 1, -1));
  CHECK(sleepers == 1);
  CHECK_OK(sbi_park(&word, &sleepers, 1, -1));
  CHECK(sleepers == 2);
  sbi_wake_sleepers(&word, &sleepers);
  CHECK(sleepers == 0);
  /* A count that wraps skips 0, which would hide the sleeper. */
  sleepers = 0xFFFFFFFFu;
  CHECK_OK(sbi_park(&word, &sleepers, 1, -1));
  CHECK(sleepers == 1);
  /* Unchanged word: a bounded sleep that times out. */
  sleepers = 0;
  CHECK_RC(sbi_park(&word, &sleepers, 0, 5), SHMBUS_ETIMEDOUT);
}

static void counter_rule_tags(void) {
  uint32_t word = 6;
  uint32_t sleepers = 0;
  CHECK_OK(sbi_park_counter(&word, &sleepers, 5, -1)); /* word moved already: returns, tag = 6 */
  CHECK(sleepers == 6);
  sbi_wake_counter(&word, &sleepers, 4); /* a change from 4 does not cover a sleeper that saw 5 */
  CHECK(sleepers == 6);
  sbi_wake_counter(&word, &sleepers, 5);
  CHECK(sleepers == 0);
  sleepers = 10;
  CHECK_OK(sbi_park_counter(&word, &sleepers, 3, -1)); /* an older tag never lowers a newer one */
  CHECK(sleepers == 10);
  sleepers = 0;
  word = 0;
  CHECK_OK(sbi_park_counter(&word, &sleepers, 0xFFFFFFFFu, -1)); /* tag 0 means none: 1 instead */
  CHECK(sleepers == 1);
  /* Serial order across the wrap: a tag from just before the wrap is older than a change from just after. */
  sleepers = 0xFFFFFFFFu;
  sbi_wake_counter(&word, &sleepers, 2);
  CHECK(sleepers == 0);
  CHECK_RC(sbi_park_counter(&word, &sleepers, 0, 5), SHMBUS_ETIMEDOUT);
  /* A waker that did not move the word leaves the tag for the change that will. */
  sleepers = 7;
  sbi_wake_counter_keep(&word, &sleepers);
  CHECK(sleepers == 7);
}

/* Ping-pong between two processes over counter words: each turn needs one wake, so a lost wake stalls until the
   (generous) timeout and counts as a failure. */
static int counter_side(uint32_t* mine, uint32_t* mine_sleepers, uint32_t* theirs, uint32_t* theirs_sleepers,
                        uint32_t rounds, int first) {
  uint32_t i;
  int lost = 0;
  for (i = 0; i < rounds; i++) {
    /* Before move i, the other side has made `need` moves (the first mover starts without waiting). */
    const uint32_t need = first ? i : i + 1;
    uint32_t seen;
    while ((seen = sbi_load32(theirs, __ATOMIC_SEQ_CST)) != need) {
      if (sbi_park_counter(theirs, theirs_sleepers, seen, 10000) == SHMBUS_ETIMEDOUT &&
          sbi_load32(theirs, __ATOMIC_SEQ_CST) == seen) {
        lost++;
        break;
      }
    }
    {
      /* The seq_cst change of the word, then the wake from its old value. */
      const uint32_t old = sbi_add32(mine, 1, __ATOMIC_SEQ_CST);
      sbi_wake_counter(mine, mine_sleepers, old);
    }
  }
  return lost;
}

static void counter_rule_across_processes(void) {
  const char* name = test_name("park");
  enum { ROUNDS = 5000 };
  shmbus_segment* s = NULL;
  uint32_t* w;
  pid_t child;
  int status = 0;
  int lost;
  CHECK_OK(shmbus_segment_create(name, 64, &s));
  w = (uint32_t*)shmbus_segment_data(s);
  child = fork();
  if (child == 0) _exit(counter_side(&w[2], &w[3], &w[0], &w[1], ROUNDS, 0) == 0 ? 0 : 1);
  lost = counter_side(&w[0], &w[1], &w[2], &w[3], ROUNDS, 1);
  waitpid(child, &status, 0);
  CHECK(lost == 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(w[0] == ROUNDS && w[2] == ROUNDS);
  shmbus_segment_close(s);
}

int main(void) {
  TEST_RUN(state_rule_counts_and_clears);
  TEST_RUN(counter_rule_tags);
  TEST_RUN(counter_rule_across_processes);
  return test_summary();
}
