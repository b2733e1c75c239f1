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
 *   sync-peer counter <mutex|rwlock|semaphore> <segment> <lockOffset> <counterOffset> <iterations>
 *     As test/fixtures/lock-counter.ts: prints "ready", waits for "go", increments the plain u32 at counterOffset
 *     `iterations` times under the lock (rwlock: write lock; semaphore: one unit), counting overlaps through the
 *     u32 after it, then prints "done overlaps=<n>" and exits.
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

/* A result line: "<verb> recovered=<bool>", "busy" or "error <CODE>". */
static void got(const char* verb, int rc, int recovered) {
  if (rc == SHMBUS_EAGAIN) say("busy");
  else if (rc != SHMBUS_OK) say("error %s", shmbus_error_code(rc));
  else say("%s recovered=%s", verb, tf(recovered));
}

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
    if (is(line, "lock", "lock-async")) got("locked", shmbus_mutex_lock(mx, PEER_TIMEOUT_MS, &r), r);
    else if (strcmp(line, "trylock") == 0) got("locked", shmbus_mutex_try_lock(mx, &r), r);
    else if (strcmp(line, "unlock") == 0) done("unlocked", shmbus_mutex_unlock(mx));
    else if (strcmp(line, "held") == 0) say("held %s", tf(shmbus_mutex_is_locked_by_me(mx)));
    else return 0;
  } else if (strcmp(kind, "rwlock") == 0) {
    if (is(line, "read", "read-async")) got("read", shmbus_rwlock_read_lock(rw, PEER_TIMEOUT_MS, &r), r);
    else if (strcmp(line, "tryread") == 0) got("read", shmbus_rwlock_try_read_lock(rw, &r), r);
    else if (is(line, "write", "write-async")) got("write", shmbus_rwlock_write_lock(rw, PEER_TIMEOUT_MS, &r), r);
    else if (strcmp(line, "trywrite") == 0) got("write", shmbus_rwlock_try_write_lock(rw, &r), r);
    else if (strcmp(line, "read-unlock") == 0) done("unlocked", shmbus_rwlock_read_unlock(rw));
    else if (strcmp(line, "write-unlock") == 0) done("unlocked", shmbus_rwlock_write_unlock(rw));
    else return 0;
  } else if (strcmp(kind, "semaphore") == 0) {
    if (is(line, "acquire", "acquire-async")) {
      got("acquired", shmbus_semaphore_acquire(sem, PEER_TIMEOUT_MS, &r), r);
    } else if (strcmp(line, "tryacquire") == 0) {
      got("acquired", shmbus_semaphore_try_acquire(sem, &r), r);
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
  if (argc != 7) {
    fprintf(stderr, "usage: sync-peer counter <kind> <segment> <lockOffset> <counterOffset> <iterations>\n");
    return 2;
  }
  kind = argv[2];
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
  for (i = 0; i < n; i++) {
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

int main(int argc, char** argv) {
  shmbus_sync_options o;
  char line[256];
  if (argc >= 2 && strcmp(argv[1], "counter") == 0) return counter(argc, argv);
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
