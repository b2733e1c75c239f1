/*
 * sync-peer: a C process that drives one sync primitive on command, speaking the line protocol of the Node
 * fixture test/fixtures/lock-peer.ts, so cross-language tests can swap one for the other.
 *
 *   sync-peer <mutex|rwlock|semaphore|event> <named|embedded> <name> [byteOffset] [livenessInterval]
 *     Prints "ready <pid>", then one reply per stdin line ("error <CODE>" for a failed call, "busy" when a try
 *     fails): mutex lock|trylock -> "locked recovered=<bool>", unlock -> "unlocked", held -> "held <bool>";
 *     rwlock read|tryread -> "read recovered=<bool>", write|trywrite -> "write recovered=<bool>",
 *     read-unlock|write-unlock -> "unlocked"; semaphore acquire|tryacquire -> "acquired recovered=<bool>",
 *     release -> "released", value -> "value <n>"; event wait -> "woke", wait-async -> "waiting" then "woke"
 *     (from a thread), set|reset -> "done", status -> "pending <n>"; ping -> "pong"; exit. The *-async commands
 *     of the Node fixture are accepted as their blocking forms.
 *   sync-peer counter <mutex|rwlock|semaphore|rwlock-read> <segment> <lockOffset> <counterOffset> <iterations>
 *     As test/fixtures/lock-counter.ts: prints "ready", waits for "go", increments the plain u32 at counterOffset
 *     `iterations` times under the lock (rwlock: write lock; semaphore: one unit), counting overlaps through the
 *     u32 after it, then prints "done overlaps=<n>" and exits. rwlock-read takes `iterations` read holds instead
 *     and counts those that saw a writer inside.
 *   sync-peer chaos <mutex|rwlock|semaphore> <writer|reader> <segment> <index>
 *     test/fixtures/lock-chaos.ts in C (same words, journal and repair), for chaos runs mixing C and Node children.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmbus.h"

#define PEER_TIMEOUT_MS 20000

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&out_lock);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  pthread_mutex_unlock(&out_lock);
}

static void die(const char* what, int rc) {
  fprintf(stderr, "sync-peer: %s: %s (%s)\n", what, shmbus_error_code(rc), shmbus_last_error_message());
  exit(1);
}

static const char* tf(int b) { return b ? "true" : "false"; }

/* A result line: "<verb> recovered=<bool>", "busy" or "error <CODE>". Use through GOT: the call must run before
   `recovered` is read (argument evaluation order is unspecified). */
static void got(const char* verb, int rc, int recovered) {
  if (rc == SHMBUS_EAGAIN) say("busy");
  else if (rc != SHMBUS_OK) say("error %s", shmbus_error_code(rc));
  else say("%s recovered=%s", verb, tf(recovered));
}

#define GOT(verb, call)         \
  do {                          \
    const int got_rc_ = (call); \
    got(verb, got_rc_, r);      \
  } while (0)

static void done(const char* word, int rc) {
  if (rc != SHMBUS_OK) say("error %s", shmbus_error_code(rc));
  else say("%s", word);
}

static shmbus_segment* seg;
static shmbus_mutex* mx;
static shmbus_rwlock* rw;
static shmbus_semaphore* sem;
static shmbus_event* ev;
static int pending; /* event waits running in threads (under out_lock) */

static void* wait_thread(void* arg) {
  int rc = shmbus_event_wait(ev, PEER_TIMEOUT_MS);
  (void)arg;
  pthread_mutex_lock(&out_lock);
  pending--;
  pthread_mutex_unlock(&out_lock);
  if (rc == SHMBUS_OK) say("woke");
  else say("error %s", shmbus_error_code(rc));
  return NULL;
}

static int is(const char* line, const char* a, const char* b) { return strcmp(line, a) == 0 || strcmp(line, b) == 0; }

/* One command; 0 when unknown. */
static int command(const char* kind, const char* line) {
  int r = 0;
  if (strcmp(kind, "mutex") == 0) {
    if (is(line, "lock", "lock-async")) GOT("locked", shmbus_mutex_lock(mx, PEER_TIMEOUT_MS, &r));
    else if (strcmp(line, "trylock") == 0) GOT("locked", shmbus_mutex_try_lock(mx, &r));
    else if (strcmp(line, "unlock") == 0) done("unlocked", shmbus_mutex_unlock(mx));
    else if (strcmp(line, "held") == 0) say("held %s", tf(shmbus_mutex_is_locked_by_me(mx)));
    else return 0;
  } else if (strcmp(kind, "rwlock") == 0) {
    if (is(line, "read", "read-async")) GOT("read", shmbus_rwlock_read_lock(rw, PEER_TIMEOUT_MS, &r));
    else if (strcmp(line, "tryread") == 0) GOT("read", shmbus_rwlock_try_read_lock(rw, &r));
    else if (is(line, "write", "write-async")) GOT("write", shmbus_rwlock_write_lock(rw, PEER_TIMEOUT_MS, &r));
    else if (strcmp(line, "trywrite") == 0) GOT("write", shmbus_rwlock_try_write_lock(rw, &r));
    else if (strcmp(line, "read-unlock") == 0) done("unlocked", shmbus_rwlock_read_unlock(rw));
    else if (strcmp(line, "write-unlock") == 0) done("unlocked", shmbus_rwlock_write_unlock(rw));
    else return 0;
  } else if (strcmp(kind, "semaphore") == 0) {
    if (is(line, "acquire", "acquire-async")) {
      GOT("acquired", shmbus_semaphore_acquire(sem, PEER_TIMEOUT_MS, &r));
    } else if (strcmp(line, "tryacquire") == 0) {
      GOT("acquired", shmbus_semaphore_try_acquire(sem, &r));
    } else if (strcmp(line, "release") == 0) {
      done("released", shmbus_semaphore_release(sem, 1));
    } else if (strcmp(line, "value") == 0) {
      say("value %d", shmbus_semaphore_value(sem));
    } else {
      return 0;
    }
  } else if (strcmp(kind, "event") == 0) {
    if (strcmp(line, "wait") == 0) done("woke", shmbus_event_wait(ev, PEER_TIMEOUT_MS));
    else if (strcmp(line, "wait-async") == 0) {
      pthread_t t;
      pthread_mutex_lock(&out_lock);
      pending++;
      pthread_mutex_unlock(&out_lock);
      say("waiting");
      if (pthread_create(&t, NULL, wait_thread, NULL) != 0) die("pthread_create", SHMBUS_EOS);
      pthread_detach(t);
    } else if (strcmp(line, "set") == 0) {
      done("done", shmbus_event_set(ev));
    } else if (strcmp(line, "reset") == 0) {
      done("done", shmbus_event_reset(ev));
    } else if (strcmp(line, "status") == 0) {
      long n;
      pthread_mutex_lock(&out_lock);
      n = pending;
      pthread_mutex_unlock(&out_lock);
      say("pending %ld", n);
    } else {
      return 0;
    }
  } else {
    return 0;
  }
  return 1;
}

static void open_primitive(const char* kind, const char* form, const char* name, size_t at,
                           const shmbus_sync_options* o) {
  int embedded = strcmp(form, "embedded") == 0;
  int rc;
  if (embedded && (rc = shmbus_segment_open(name, &seg)) != SHMBUS_OK) die("open segment", rc);
  if (strcmp(kind, "mutex") == 0) {
    rc = embedded ? shmbus_mutex_embed(seg, at, o, &mx) : shmbus_mutex_open_ex(name, o, &mx);
  } else if (strcmp(kind, "rwlock") == 0) {
    rc = embedded ? shmbus_rwlock_embed(seg, at, o, &rw) : shmbus_rwlock_open_ex(name, o, &rw);
  } else if (strcmp(kind, "semaphore") == 0) {
    rc = embedded ? shmbus_semaphore_embed(seg, at, o, &sem) : shmbus_semaphore_open_ex(name, o, &sem);
  } else if (strcmp(kind, "event") == 0) {
    rc = embedded ? shmbus_event_embed(seg, at, o, &ev) : shmbus_event_open_ex(name, o, &ev);
  } else {
    fprintf(stderr, "sync-peer: unknown kind %s\n", kind);
    exit(2);
  }
  if (rc != SHMBUS_OK) die("open", rc);
}

/* The lock-counter mode. */
static int counter(int argc, char** argv) {
  const char* kind;
  size_t lock_at;
  size_t counter_at;
  long n;
  long i;
  long overlaps = 0;
  int rc;
  char line[64];
  volatile uint32_t* count;
  volatile uint32_t* inside;
  int reader;
  if (argc != 7) {
    fprintf(stderr, "usage: sync-peer counter <kind> <segment> <lockOffset> <counterOffset> <iterations>\n");
    return 2;
  }
  kind = argv[2];
  /* "rwlock-read": read holds that only check that no writer is inside (counted as overlaps). */
  reader = strcmp(kind, "rwlock-read") == 0;
  if (reader) kind = "rwlock";
  lock_at = (size_t)strtoul(argv[4], NULL, 10);
  counter_at = (size_t)strtoul(argv[5], NULL, 10);
  n = strtol(argv[6], NULL, 10);
  open_primitive(kind, "embedded", argv[3], lock_at, NULL);
  if (counter_at + 8 > shmbus_segment_size(seg)) die("counter offset", SHMBUS_EINVAL_ARG);
  /* Plain (volatile, non-atomic) accesses: the lock alone keeps them apart, as in the Node fixture. */
  count = (volatile uint32_t*)((uint8_t*)shmbus_segment_data(seg) + counter_at);
  inside = count + 1;
  say("ready");
  while (fgets(line, sizeof line, stdin) != NULL && strncmp(line, "go", 2) != 0) {
  }
  for (i = 0; reader && i < n; i++) {
    if ((rc = shmbus_rwlock_read_lock(rw, 30000, NULL)) != SHMBUS_OK) die("read lock", rc);
    if (*inside != 0) overlaps++;
    if ((rc = shmbus_rwlock_read_unlock(rw)) != SHMBUS_OK) die("read unlock", rc);
  }
  for (i = 0; !reader && i < n; i++) {
    if (mx) rc = shmbus_mutex_lock(mx, 30000, NULL);
    else if (rw) rc = shmbus_rwlock_write_lock(rw, 30000, NULL);
    else rc = shmbus_semaphore_acquire(sem, 30000, NULL);
    if (rc != SHMBUS_OK) die("lock", rc);
    if (*inside != 0) overlaps++;
    *inside = 1;
    *count = *count + 1;
    *inside = 0;
    if (mx) rc = shmbus_mutex_unlock(mx);
    else if (rw) rc = shmbus_rwlock_write_unlock(rw);
    else rc = shmbus_semaphore_release(sem, 1);
    if (rc != SHMBUS_OK) die("unlock", rc);
  }
  say("done overlaps=%ld", overlaps);
  shmbus_mutex_close(mx);
  shmbus_rwlock_close(rw);
  shmbus_semaphore_close(sem);
  shmbus_segment_close(seg);
  return 0;
}

/* ---- chaos mode: test/fixtures/lock-chaos.ts in C, so C and Node children can share one chaos run ---------- */

/* Word indexes of the guarded state in the segment payload (test/fixtures/lock-chaos-state.ts CHAOS). */
enum {
  CH_COUNTER = 512,
  CH_INSIDE = 513,
  CH_OVERLAPS = 514,
  CH_PEND_INDEX = 515,
  CH_PEND_COUNTER = 516,
  CH_PEND_MINE = 517,
  CH_STOP = 518,
  CH_RECOVERIES = 519,
  CH_INCONSISTENT = 520,
  CH_HOLD = 521,
  CH_HOLD_PARK = 522,
  CH_COUNTS = 528,
  CH_MAX_CHILDREN = 16
};

static uint32_t* ch_w;
/* Every step seq_cst, like Atomics, so that the order of the stores is the order a killed process leaves. */
static uint32_t ch_get(int i) { return __atomic_load_n(&ch_w[i], __ATOMIC_SEQ_CST); }
static void ch_put(int i, uint32_t v) { __atomic_store_n(&ch_w[i], v, __ATOMIC_SEQ_CST); }
static void ch_add(int i) { __atomic_fetch_add(&ch_w[i], 1, __ATOMIC_SEQ_CST); }

/* Whoever gets recovered = 1 replays a committed journal and clears the dead holder's marks (repairChaos). */
static void ch_repair(void) {
  const uint32_t pending = ch_get(CH_PEND_INDEX);
  if (pending != 0 && pending <= CH_MAX_CHILDREN) {
    ch_put(CH_COUNTER, ch_get(CH_PEND_COUNTER));
    ch_put(CH_COUNTS + (int)pending - 1, ch_get(CH_PEND_MINE));
    ch_put(CH_PEND_INDEX, 0);
  }
  ch_put(CH_INSIDE, 0);
}

static void ch_write(int index) {
  uint32_t c;
  uint32_t mine;
  if (ch_get(CH_INSIDE) != 0) ch_add(CH_OVERLAPS);
  ch_put(CH_INSIDE, 1);
  c = ch_get(CH_COUNTER);
  mine = ch_get(CH_COUNTS + index);
  ch_put(CH_PEND_COUNTER, c + 1);
  ch_put(CH_PEND_MINE, mine + 1);
  ch_put(CH_PEND_INDEX, (uint32_t)index + 1); /* the journal commits here */
  if (ch_get(CH_HOLD) == (uint32_t)index + 1) {
    say("holding");
    for (;;) shmbus_segment_wait(seg, CH_HOLD_PARK, 0, SHMBUS_FOREVER); /* until killed */
  }
  ch_put(CH_COUNTER, c + 1);
  ch_put(CH_COUNTS + index, mine + 1);
  ch_put(CH_PEND_INDEX, 0);
  ch_put(CH_INSIDE, 0);
}

static void ch_read(void) {
  uint32_t sum = 0;
  int i;
  for (i = 0; i < CH_MAX_CHILDREN; i++) sum += ch_get(CH_COUNTS + i);
  if (ch_get(CH_PEND_INDEX) != 0 || ch_get(CH_INSIDE) != 0 || sum != ch_get(CH_COUNTER)) ch_add(CH_INCONSISTENT);
}

/* sync-peer chaos <mutex|rwlock|semaphore> <writer|reader> <segment> <index>: the lock at byte 0 (a semaphore
   with one unit), the state at the CHAOS words; "ready", "progress" every 500 rounds, "done" after stop. */
static int chaos(int argc, char** argv) {
  shmbus_sync_options o;
  int reader;
  int index;
  long round;
  if (argc != 6) {
    fprintf(stderr, "usage: sync-peer chaos <mutex|rwlock|semaphore> <writer|reader> <segment> <index>\n");
    return 2;
  }
  reader = strcmp(argv[3], "reader") == 0;
  index = atoi(argv[5]);
  if (index < 0 || index >= CH_MAX_CHILDREN) die("index", SHMBUS_EINVAL_ARG);
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.liveness_ms = 10;
  open_primitive(argv[2], "embedded", argv[4], 0, &o);
  if (shmbus_segment_size(seg) < (size_t)(CH_COUNTS + CH_MAX_CHILDREN) * 4) die("segment size", SHMBUS_EINVAL_ARG);
  ch_w = (uint32_t*)shmbus_segment_data(seg);
  say("ready");
  for (round = 1; ch_get(CH_STOP) == 0; round++) {
    int r = 0;
    int rc;
    if (mx) rc = shmbus_mutex_lock(mx, 30000, &r);
    else if (sem) rc = shmbus_semaphore_acquire(sem, 30000, &r);
    else if (reader) rc = shmbus_rwlock_read_lock(rw, 30000, &r);
    else rc = shmbus_rwlock_write_lock(rw, 30000, &r);
    if (rc != SHMBUS_OK) die("lock", rc);
    if (r) {
      ch_repair();
      ch_add(CH_RECOVERIES);
    }
    if (reader) ch_read();
    else ch_write(index);
    if (mx) rc = shmbus_mutex_unlock(mx);
    else if (sem) rc = shmbus_semaphore_release(sem, 1);
    else if (reader) rc = shmbus_rwlock_read_unlock(rw);
    else rc = shmbus_rwlock_write_unlock(rw);
    if (rc != SHMBUS_OK) die("unlock", rc);
    if (round % 500 == 0) say("progress");
  }
  say("done");
  return 0;
}

int main(int argc, char** argv) {
  shmbus_sync_options o;
  char line[256];
  if (argc >= 2 && strcmp(argv[1], "counter") == 0) return counter(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "chaos") == 0) return chaos(argc, argv);
  if (argc < 4) {
    fprintf(stderr, "usage: sync-peer <mutex|rwlock|semaphore|event> <named|embedded> <name> [offset] [liveness]\n");
    return 2;
  }
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  if (argc >= 6) o.liveness_ms = (uint32_t)strtoul(argv[5], NULL, 10);
  open_primitive(argv[1], argv[2], argv[3], argc >= 5 ? (size_t)strtoul(argv[4], NULL, 10) : 0, &o);
  say("ready %ld", (long)getpid());
  while (fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "exit") == 0) break;
    if (strcmp(line, "ping") == 0) say("pong");
    else if (!command(argv[1], line)) {
      fprintf(stderr, "sync-peer: unknown command %s\n", line);
      return 1;
    }
  }
  return 0;
}
