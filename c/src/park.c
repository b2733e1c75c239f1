/*
 * park.c: sleeping on a futex word through its sleepers word, and waking (PROTOCOL §3). Two rules:
 * - state words (Semaphore value, Event, RwLock occupied) may come back to an old value: the sleepers word counts
 *   announcements (never decremented) and a waker clears what it saw;
 * - counter words (only move forward mod 2^32: Queue commits/releases, Topic commit and registry words, Mailbox
 *   version) hold a TAG in the sleepers word: the newest value + 1 any sleeper expected to leave, so a waker
 *   whose change came before a sleeper's read never clears that sleeper's announcement (DECISIONS.md).
 * Callers re-check their condition after every return: wakes may be spurious.
 */
#include "internal.h"

/* Park capture (shmbus_park_capture_begin): per thread, so only the binding's own calls on its event-loop thread
   are affected. */
static SBI_THREAD_LOCAL struct {
  int on;
  int skip;        /* sleeps still to end at once as timeouts (a slice a multiplexer already waited out) */
  int captured;
  shmbus_park park;
} park_capture;

void shmbus_park_capture_begin(int skip) {
  park_capture.on = 1;
  park_capture.skip = skip > 0 ? skip : 0;
  park_capture.captured = 0;
}

int shmbus_park_capture_end(shmbus_park* out) {
  const int captured = park_capture.captured;
  if (captured && out != NULL) *out = park_capture.park;
  park_capture.on = 0;
  park_capture.captured = 0;
  return captured;
}

int sbi_park_captured(void) { return park_capture.captured; }

int sbi_time_up(int64_t deadline) { return park_capture.captured || (deadline != INT64_MAX && sbi_os_now_ns() >= deadline); }

int sbi_park_sleep(uint32_t* word, uint32_t expected, int64_t timeout_ms) {
  if (park_capture.on && timeout_ms != 0) {
    if (park_capture.skip > 0) {
      park_capture.skip--;
      return SHMBUS_ETIMEDOUT;
    }
    /* Record the sleep instead of taking it; sbi_left_ms now says the time is up, so the call returns. */
    if (!park_capture.captured) {
      park_capture.park.word = word;
      park_capture.park.expected = expected;
      park_capture.park.timeout_ms = timeout_ms;
      park_capture.captured = 1;
    }
    return SHMBUS_ETIMEDOUT;
  }
  return sbi_os_futex_wait(word, expected, timeout_ms);
}

int sbi_park(uint32_t* word, uint32_t* sleepers, uint32_t expected, int64_t timeout_ms) {
  /* SYNC PARK (seq_cst RMW): announce before the re-check, the Dekker pair with the waker's change + load. */
  if (sbi_add32(sleepers, 1, __ATOMIC_SEQ_CST) == 0xFFFFFFFFu) {
    /* The count wrapped to 0, which would hide this sleeper from every waker: count once more. */
    sbi_add32(sleepers, 1, __ATOMIC_SEQ_CST);
  }
  /* SYNC PARK (seq_cst load): the state may have changed before the announcement was visible. */
  if (sbi_load32(word, __ATOMIC_SEQ_CST) != expected) return SHMBUS_OK;
  /* SYNC PARK (seq_cst load): 0 means a waker already cleared this announcement: re-check instead of sleeping. */
  if (sbi_load32(sleepers, __ATOMIC_SEQ_CST) == 0) return SHMBUS_OK;
  return sbi_park_sleep(word, expected, timeout_ms) == SHMBUS_ETIMEDOUT ? SHMBUS_ETIMEDOUT : SHMBUS_OK;
}

void sbi_wake_sleepers(uint32_t* word, uint32_t* sleepers) {
  /* SYNC PARK (seq_cst load, after the caller's seq_cst change of the word): who announced? */
  uint32_t seen = sbi_load32(sleepers, __ATOMIC_SEQ_CST);
  if (seen == 0) return; /* nobody: no system call */
  /* SYNC PARK (seq_cst CAS): clear only what was seen; a newer announcement makes it fail and stays. */
  sbi_cas32(sleepers, &seen, 0);
  sbi_os_futex_wake(word, SBI_WAKE_ALL);
}

/* Serial-number order mod 2^32: a is newer than b. */
static int park_newer(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

int sbi_park_counter(uint32_t* word, uint32_t* sleepers, uint32_t seen, int64_t timeout_ms) {
  uint32_t tag = seen + 1;
  uint32_t cur;
  if (tag == 0) tag = 1; /* 0 means "no tag" */
  /* Relaxed first read: the CAS below is the synchronising step. */
  cur = sbi_load32(sleepers, __ATOMIC_RELAXED);
  /* SYNC PARK (seq_cst CAS, always done even when the tag stays): raise the tag to the newer of the two. */
  for (;;) {
    const uint32_t want = (cur == 0 || park_newer(tag, cur)) ? tag : cur;
    if (sbi_cas32(sleepers, &cur, want)) break;
  }
  /* SYNC PARK (seq_cst load): the word may have moved before the tag was visible. */
  if (sbi_load32(word, __ATOMIC_SEQ_CST) != seen) return SHMBUS_OK;
  return sbi_park_sleep(word, seen, timeout_ms) == SHMBUS_ETIMEDOUT ? SHMBUS_ETIMEDOUT : SHMBUS_OK;
}

void sbi_wake_counter(uint32_t* word, uint32_t* sleepers, uint32_t old_value) {
  /* SYNC PARK (seq_cst load, after the caller's seq_cst change of the word from old_value). */
  uint32_t tag = sbi_load32(sleepers, __ATOMIC_SEQ_CST);
  if (tag == 0) return; /* nobody announced: no system call */
  /* Every announcer saw a value at or before old_value, so this change reaches them all: clear the tag. A newer
     tag belongs to a sleeper that saw a later value; it is left for the waker of that value. */
  if ((int32_t)((tag - 1) - old_value) <= 0) sbi_cas32(sleepers, &tag, 0); /* SYNC PARK (seq_cst CAS) */
  sbi_os_futex_wake(word, SBI_WAKE_ALL);
}

void sbi_wake_counter_keep(uint32_t* word, uint32_t* sleepers) {
  /* SYNC PARK (seq_cst load): a tag means someone may sleep; the word did not move, so the tag stays. */
  if (sbi_load32(sleepers, __ATOMIC_SEQ_CST) != 0) sbi_os_futex_wake(word, SBI_WAKE_ALL);
}
