/* test_sync.c: RwLock, Semaphore and Event of the C peer over real shared memory, threads and fork()ed
   processes, including holders killed with SIGKILL. */
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define LIVE_MS 10u

static shmbus_sync_options fast(void) {
  shmbus_sync_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.liveness_ms = LIVE_MS;
  return o;
}

/* ---- processes -------------------------------------------------------------------------------------------- */

typedef struct child {
  pid_t pid;
  int fd; /* read end: the child writes one byte when it reached its point */
} child;

/* Forks a child running fn(arg); fn calls child_signal(fd) at its point of interest and returns its exit code. */
static child child_start(int (*fn)(void* arg, int fd), void* arg) {
  child c;
  int p[2];
  c.pid = -1;
  c.fd = -1;
  if (pipe(p) != 0) return c;
  fflush(NULL);
  c.pid = fork();
  if (c.pid == 0) {
    close(p[0]);
    _exit(fn(arg, p[1]));
  }
  close(p[1]);
  c.fd = p[0];
  return c;
}

static void child_signal(int fd) {
  char b = 1;
  if (write(fd, &b, 1) != 1) _exit(99);
}

/* Blocks until the child signalled (1) or exited without doing so (0). */
static int child_wait_signal(child* c) {
  char b;
  return read(c->fd, &b, 1) == 1;
}

/* Exit status of the child (128 + signal when killed). */
static int child_join(child* c) {
  int st = 0;
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  if (waitpid(c->pid, &st, 0) != c->pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void child_kill(child* c) {
  kill(c->pid, SIGKILL);
  child_join(c);
}

/* Children hold something then wait to be killed (pause: a signal is their only way out). */
static int hold_forever(int fd) {
  child_signal(fd);
  for (;;) pause();
  return 0;
}

/* ---- RwLock ----------------------------------------------------------------------------------------------- */

static void test_rwlock_basics(void) {
  const char* name = test_name("rw");
  shmbus_sync_options o = fast();
  shmbus_rwlock* a = NULL;
  shmbus_rwlock* b = NULL;
  int rec = -1;
  CHECK_OK(shmbus_rwlock_create_ex(name, &o, &a));
  CHECK_OK(shmbus_rwlock_open_ex(name, &o, &b));
  CHECK_RC(shmbus_rwlock_create(name, &b), SHMBUS_ESHM_EXISTS);
  /* Readers overlap; a writer is refused while they read. */
  CHECK_OK(shmbus_rwlock_read_lock(a, 0, &rec));
  CHECK(rec == 0);
  CHECK_OK(shmbus_rwlock_try_read_lock(b, &rec));
  CHECK_RC(shmbus_rwlock_try_write_lock(b, &rec), SHMBUS_EAGAIN);
  CHECK_RC(shmbus_rwlock_write_lock(a, 0, &rec), SHMBUS_EINVAL_ARG); /* this thread reads: would deadlock */
  CHECK_OK(shmbus_rwlock_read_unlock(a));
  CHECK_OK(shmbus_rwlock_read_unlock(b));
  CHECK_RC(shmbus_rwlock_read_unlock(a), SHMBUS_ENOT_OWNER);
  /* A writer excludes readers and writers. */
  CHECK_OK(shmbus_rwlock_write_lock(a, 100, &rec));
  CHECK(rec == 0);
  CHECK(shmbus_rwlock_is_write_locked_by_me(a) == 1);
  CHECK_RC(shmbus_rwlock_try_read_lock(b, &rec), SHMBUS_EAGAIN);
  CHECK_RC(shmbus_rwlock_try_write_lock(b, &rec), SHMBUS_EAGAIN);
  CHECK_RC(shmbus_rwlock_read_lock(b, 0, &rec), SHMBUS_EINVAL_ARG); /* this thread writes */
  CHECK_RC(shmbus_rwlock_write_lock(b, 0, &rec), SHMBUS_EINVAL_ARG);
  CHECK_OK(shmbus_rwlock_write_unlock(a));
  CHECK_RC(shmbus_rwlock_write_unlock(a), SHMBUS_ENOT_OWNER);
  CHECK_OK(shmbus_rwlock_try_write_lock(b, &rec));
  CHECK_OK(shmbus_rwlock_write_unlock(b));
  /* Bad input. */
  CHECK_RC(shmbus_rwlock_read_lock(NULL, 0, &rec), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_rwlock_read_lock(a, -2, &rec), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_rwlock_write_unlock(NULL), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_rwlock_open(test_name("none"), &b), SHMBUS_ESHM_NOT_FOUND);
  shmbus_rwlock_close(a);
  shmbus_rwlock_close(b);
  shmbus_rwlock_close(NULL);
}

static void test_wrong_kind_and_embed(void) {
  const char* name = test_name("kind");
  shmbus_mutex* m = NULL;
  shmbus_rwlock* rw = NULL;
  shmbus_semaphore* s = NULL;
  shmbus_event* e = NULL;
  shmbus_segment* seg = NULL;
  CHECK_OK(shmbus_mutex_create(name, &m));
  CHECK_RC(shmbus_rwlock_open(name, &rw), SHMBUS_ESHM_KIND);
  CHECK_RC(shmbus_semaphore_open(name, &s), SHMBUS_ESHM_KIND);
  CHECK_RC(shmbus_event_open(name, &e), SHMBUS_ESHM_KIND);
  shmbus_mutex_close(m);
  CHECK_OK(shmbus_segment_create(test_name("embed"), 2048, &seg));
  CHECK_RC(shmbus_rwlock_embed(seg, 4, NULL, &rw), SHMBUS_EINVAL_ARG);                  /* misaligned */
  CHECK_RC(shmbus_rwlock_embed(seg, 1024, NULL, &rw), SHMBUS_EINVAL_ARG);               /* past the end */
  CHECK_RC(shmbus_semaphore_init(seg, 2048 - 1080, 1, 0), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_semaphore_init(seg, 0, 0x80000000u, 0), SHMBUS_EINVAL_ARG);           /* initial > 2^31-1 */
  CHECK_RC(shmbus_semaphore_init(seg, 0, 1, 4), SHMBUS_EINVAL_ARG);                     /* unknown flag */
  CHECK_RC(shmbus_event_init(seg, 2040, 0), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_event_init(seg, 0, 8), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_event_embed(seg, (size_t)-8, NULL, &e), SHMBUS_EINVAL_ARG);           /* offset overflow */
  CHECK_OK(shmbus_rwlock_embed(seg, 0, NULL, &rw));
  CHECK_OK(shmbus_event_embed(seg, 2048 - 16, NULL, &e));
  shmbus_rwlock_close(rw);
  shmbus_event_close(e);
  shmbus_segment_close(seg);
}

/* Threads: writers increment two plain words under the write lock; readers check they are always equal and that
   no writer is inside. (ThreadSanitizer found a reader that counted its own fresh slot as an earlier hold and
   passed a waiting writer: fixed, see rw_nested.) */
typedef struct rw_shared {
  shmbus_rwlock* rw;
  volatile uint32_t* words;
  int iterations;
  int torn;
  int failed;
} rw_shared;

static void* rw_writer(void* arg) {
  rw_shared* s = (rw_shared*)arg;
  int i;
  for (i = 0; i < s->iterations; i++) {
    if (shmbus_rwlock_write_lock(s->rw, 10000, NULL) != SHMBUS_OK) {
      __atomic_add_fetch(&s->failed, 1, __ATOMIC_RELAXED);
      return NULL;
    }
    s->words[2] = 1; /* a writer is inside: no reader may see this */
    s->words[0] = s->words[0] + 1;
    s->words[1] = s->words[1] + 1;
    s->words[2] = 0;
    shmbus_rwlock_write_unlock(s->rw);
  }
  return NULL;
}

static void* rw_reader(void* arg) {
  rw_shared* s = (rw_shared*)arg;
  int i;
  for (i = 0; i < s->iterations; i++) {
    if (shmbus_rwlock_read_lock(s->rw, 10000, NULL) != SHMBUS_OK) {
      __atomic_add_fetch(&s->failed, 1, __ATOMIC_RELAXED);
      return NULL;
    }
    if (s->words[2] != 0 || s->words[0] != s->words[1]) __atomic_add_fetch(&s->torn, 1, __ATOMIC_RELAXED);
    shmbus_rwlock_read_unlock(s->rw);
  }
  return NULL;
}

static void test_rwlock_threads(void) {
  shmbus_segment* seg = NULL;
  rw_shared s;
  pthread_t t[6];
  int i;
  CHECK_OK(shmbus_segment_create(test_name("rwt"), 2048, &seg));
  memset(&s, 0, sizeof s);
  CHECK_OK(shmbus_rwlock_embed(seg, 0, NULL, &s.rw));
  s.words = (volatile uint32_t*)((uint8_t*)shmbus_segment_data(seg) + 1536);
  s.iterations = 20000;
  for (i = 0; i < 6; i++) pthread_create(&t[i], NULL, i < 3 ? rw_writer : rw_reader, &s);
  for (i = 0; i < 6; i++) pthread_join(t[i], NULL);
  shmbus_rwlock_close(s.rw);
  CHECK(s.failed == 0);
  CHECK(s.torn == 0);
  CHECK(s.words[0] == 60000 && s.words[1] == 60000);
  shmbus_segment_close(seg);
}

static int rw_count_child(void* arg, int fd) {
  const char* name = (const char*)arg;
  shmbus_segment* seg = NULL;
  shmbus_rwlock* rw = NULL;
  volatile uint32_t* n;
  int i;
  (void)fd;
  if (shmbus_segment_open(name, &seg) != SHMBUS_OK || shmbus_rwlock_embed(seg, 0, NULL, &rw) != SHMBUS_OK) return 2;
  n = (volatile uint32_t*)((uint8_t*)shmbus_segment_data(seg) + 1536);
  for (i = 0; i < 20000; i++) {
    if (shmbus_rwlock_write_lock(rw, 10000, NULL) != SHMBUS_OK) return 3;
    *n = *n + 1;
    if (shmbus_rwlock_write_unlock(rw) != SHMBUS_OK) return 4;
  }
  return 0;
}

static void test_rwlock_processes(void) {
  const char* name = test_name("rwp");
  shmbus_segment* seg = NULL;
  child c[3];
  int i;
  CHECK_OK(shmbus_segment_create(name, 2048, &seg));
  for (i = 0; i < 3; i++) c[i] = child_start(rw_count_child, (void*)name);
  for (i = 0; i < 3; i++) CHECK(child_join(&c[i]) == 0);
  CHECK(*(volatile uint32_t*)((uint8_t*)shmbus_segment_data(seg) + 1536) == 60000);
  shmbus_segment_close(seg);
}

static int rw_write_holder(void* arg, int fd) {
  shmbus_rwlock* rw = NULL;
  if (shmbus_rwlock_open((const char*)arg, &rw) != SHMBUS_OK) return 2;
  if (shmbus_rwlock_write_lock(rw, 5000, NULL) != SHMBUS_OK) return 3;
  return hold_forever(fd);
}

static int rw_read_holder(void* arg, int fd) {
  shmbus_rwlock* rw = NULL;
  if (shmbus_rwlock_open((const char*)arg, &rw) != SHMBUS_OK) return 2;
  if (shmbus_rwlock_read_lock(rw, 5000, NULL) != SHMBUS_OK) return 3;
  return hold_forever(fd);
}

static void test_rwlock_dead_writer(void) {
  const char* name = test_name("rwdw");
  shmbus_sync_options o = fast();
  shmbus_rwlock* rw = NULL;
  shmbus_rwlock* other = NULL;
  child c;
  int rec = 0;
  CHECK_OK(shmbus_rwlock_create_ex(name, &o, &rw));
  CHECK_OK(shmbus_rwlock_open_ex(name, &o, &other));
  /* The next writer takes a dead writer over. */
  c = child_start(rw_write_holder, (void*)name);
  CHECK(child_wait_signal(&c));
  CHECK_RC(shmbus_rwlock_try_read_lock(rw, &rec), SHMBUS_EAGAIN);
  child_kill(&c);
  CHECK_OK(shmbus_rwlock_write_lock(rw, 5000, &rec));
  CHECK(rec == 1);
  CHECK_OK(shmbus_rwlock_write_unlock(rw));
  CHECK_OK(shmbus_rwlock_write_lock(rw, 5000, &rec));
  CHECK(rec == 0);
  CHECK_OK(shmbus_rwlock_write_unlock(rw));
  /* A waiting reader takes a dead writer over and holds the lock alone until its read unlock. */
  c = child_start(rw_write_holder, (void*)name);
  CHECK(child_wait_signal(&c));
  child_kill(&c);
  CHECK_OK(shmbus_rwlock_read_lock(rw, 5000, &rec));
  CHECK(rec == 1);
  CHECK_RC(shmbus_rwlock_try_read_lock(other, &rec), SHMBUS_EAGAIN);
  CHECK_OK(shmbus_rwlock_read_unlock(rw));
  CHECK_OK(shmbus_rwlock_try_read_lock(other, &rec));
  CHECK(rec == 0);
  CHECK_OK(shmbus_rwlock_read_unlock(other));
  shmbus_rwlock_close(rw);
  shmbus_rwlock_close(other);
}

static void test_rwlock_dead_reader(void) {
  const char* name = test_name("rwdr");
  shmbus_sync_options o = fast();
  shmbus_rwlock* rw = NULL;
  child c;
  int rec = 1;
  CHECK_OK(shmbus_rwlock_create_ex(name, &o, &rw));
  c = child_start(rw_read_holder, (void*)name);
  CHECK(child_wait_signal(&c));
  CHECK_RC(shmbus_rwlock_try_write_lock(rw, &rec), SHMBUS_EAGAIN);
  child_kill(&c);
  /* The dead reader's hold is released by the draining writer: nothing to repair. */
  CHECK_OK(shmbus_rwlock_write_lock(rw, 5000, &rec));
  CHECK(rec == 0);
  CHECK_OK(shmbus_rwlock_write_unlock(rw));
  shmbus_rwlock_close(rw);
}

/* A process holding the read lock (alive): a writer times out and lowers its flag again, so readers get in. */
static void test_rwlock_write_timeout_undoes(void) {
  const char* name = test_name("rwto");
  shmbus_rwlock* rw = NULL;
  child c;
  int rec = 0;
  CHECK_OK(shmbus_rwlock_create(name, &rw));
  c = child_start(rw_read_holder, (void*)name);
  CHECK(child_wait_signal(&c));
  CHECK_RC(shmbus_rwlock_write_lock(rw, 20, &rec), SHMBUS_ETIMEDOUT);
  CHECK(shmbus_rwlock_is_write_locked_by_me(rw) == 0);
  CHECK_OK(shmbus_rwlock_try_read_lock(rw, &rec));
  CHECK_OK(shmbus_rwlock_read_unlock(rw));
  child_kill(&c);
  shmbus_rwlock_close(rw);
}

typedef struct slot_ctx {
  shmbus_rwlock* rw;
  int rc;
} slot_ctx;

static void* slot_reader(void* arg) {
  slot_ctx* c = (slot_ctx*)arg;
  c->rc = shmbus_rwlock_read_lock(c->rw, 5000, NULL);
  if (c->rc == SHMBUS_OK) c->rc = shmbus_rwlock_read_unlock(c->rw);
  return NULL;
}

/* All 32 slots held, one by a reader that died: a reader waiting for a slot releases the dead hold itself. */
static void test_rwlock_slots_full_dead_reader(void) {
  const char* name = test_name("rwfull");
  shmbus_sync_options o = fast();
  shmbus_rwlock* rw = NULL;
  slot_ctx c;
  pthread_t t;
  child dead;
  int i;
  CHECK_OK(shmbus_rwlock_create_ex(name, &o, &rw));
  dead = child_start(rw_read_holder, (void*)name);
  CHECK(child_wait_signal(&dead));
  /* This thread takes the 31 other slots (its nested read locks each take one). */
  for (i = 0; i < 31; i++) CHECK_OK(shmbus_rwlock_read_lock(rw, 0, NULL));
  CHECK_RC(shmbus_rwlock_try_read_lock(rw, NULL), SHMBUS_EAGAIN);
  child_kill(&dead);
  c.rw = rw;
  c.rc = -100;
  pthread_create(&t, NULL, slot_reader, &c);
  pthread_join(t, NULL);
  CHECK_OK(c.rc);
  for (i = 0; i < 31; i++) CHECK_OK(shmbus_rwlock_read_unlock(rw));
  CHECK_RC(shmbus_rwlock_read_unlock(rw), SHMBUS_ENOT_OWNER);
  CHECK_OK(shmbus_rwlock_try_write_lock(rw, NULL));
  CHECK_OK(shmbus_rwlock_write_unlock(rw));
  shmbus_rwlock_close(rw);
}

typedef struct pref_ctx {
  shmbus_rwlock* rw;
  int rc;
} pref_ctx;

static void* pref_writer(void* arg) {
  pref_ctx* p = (pref_ctx*)arg;
  p->rc = shmbus_rwlock_write_lock(p->rw, 10000, NULL);
  if (p->rc == SHMBUS_OK) p->rc = shmbus_rwlock_write_unlock(p->rw);
  return NULL;
}

/* Writer preference: once a writer waits for the readers to leave, new readers are refused. */
static void test_rwlock_writer_preference(void) {
  shmbus_segment* seg = NULL;
  shmbus_rwlock* reader = NULL;
  pref_ctx p;
  pthread_t t;
  volatile uint32_t* writer_word;
  int rec = 0;
  CHECK_OK(shmbus_segment_create(test_name("rwpref"), 2048, &seg));
  CHECK_OK(shmbus_rwlock_embed(seg, 0, NULL, &reader));
  CHECK_OK(shmbus_rwlock_embed(seg, 0, NULL, &p.rw));
  writer_word = (volatile uint32_t*)((uint8_t*)shmbus_segment_data(seg) + 32);
  CHECK_OK(shmbus_rwlock_read_lock(reader, 0, &rec));
  pthread_create(&t, NULL, pref_writer, &p);
  /* Observe shared state (the raised flag), not time. */
  while (__atomic_load_n(writer_word, __ATOMIC_ACQUIRE) == 0) sched_yield();
  CHECK_RC(shmbus_rwlock_try_read_lock(p.rw, &rec), SHMBUS_EAGAIN);
  /* This thread already reads: its blocking read lock passes the waiting writer (else a deadlock). */
  CHECK_OK(shmbus_rwlock_read_lock(reader, 1000, &rec));
  CHECK_OK(shmbus_rwlock_read_unlock(reader));
  CHECK_OK(shmbus_rwlock_read_unlock(reader));
  pthread_join(t, NULL);
  CHECK_OK(p.rc);
  shmbus_rwlock_close(reader);
  shmbus_rwlock_close(p.rw);
  shmbus_segment_close(seg);
}

/* ---- Semaphore -------------------------------------------------------------------------------------------- */

static void test_semaphore_basics(void) {
  const char* name = test_name("sem");
  shmbus_semaphore* s = NULL;
  shmbus_semaphore* t = NULL;
  int rec = -1;
  CHECK_OK(shmbus_semaphore_create(name, 2, &s));
  CHECK_OK(shmbus_semaphore_open(name, &t));
  CHECK(shmbus_semaphore_value(t) == 2);
  CHECK_OK(shmbus_semaphore_try_acquire(s, &rec));
  CHECK(rec == 0);
  CHECK_OK(shmbus_semaphore_acquire(t, 0, &rec));
  CHECK_RC(shmbus_semaphore_try_acquire(s, &rec), SHMBUS_EAGAIN);
  CHECK_RC(shmbus_semaphore_acquire(s, 0, &rec), SHMBUS_ETIMEDOUT);
  CHECK_RC(shmbus_semaphore_acquire(s, 20, &rec), SHMBUS_ETIMEDOUT);
  CHECK(shmbus_semaphore_value(s) == 0);
  CHECK_OK(shmbus_semaphore_release(s, 1));
  CHECK_OK(shmbus_semaphore_release(t, 1));
  CHECK(shmbus_semaphore_value(s) == 2);
  /* Beyond what it holds, release adds new units (signalling), up to 2^31-1. */
  CHECK_OK(shmbus_semaphore_release(s, 5));
  CHECK(shmbus_semaphore_value(s) == 7);
  CHECK_RC(shmbus_semaphore_release(s, 0x7FFFFFFFu), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_semaphore_release(s, 0), SHMBUS_EINVAL_ARG);
  CHECK(shmbus_semaphore_value(s) == 7);
  CHECK_RC(shmbus_semaphore_release(NULL, 1), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_semaphore_value(NULL), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_semaphore_create(test_name("big"), 0x80000000u, &t), SHMBUS_EINVAL_ARG);
  shmbus_semaphore_close(s);
  shmbus_semaphore_close(t);
}

typedef struct sem_shared {
  shmbus_semaphore* s;
  volatile uint32_t* n;
  int overlaps;
  int failed;
} sem_shared;

static void* sem_worker(void* arg) {
  sem_shared* sh = (sem_shared*)arg;
  int i;
  for (i = 0; i < 5000; i++) {
    if (shmbus_semaphore_acquire(sh->s, 10000, NULL) != SHMBUS_OK) {
      __atomic_add_fetch(&sh->failed, 1, __ATOMIC_RELAXED);
      return NULL;
    }
    if (sh->n[1] != 0) __atomic_add_fetch(&sh->overlaps, 1, __ATOMIC_RELAXED);
    sh->n[1] = 1;
    sh->n[0] = sh->n[0] + 1;
    sh->n[1] = 0;
    shmbus_semaphore_release(sh->s, 1);
  }
  return NULL;
}

static void test_semaphore_threads(void) {
  shmbus_segment* seg = NULL;
  sem_shared sh;
  pthread_t t[4];
  int i;
  CHECK_OK(shmbus_segment_create(test_name("semt"), 2048, &seg));
  CHECK_OK(shmbus_semaphore_init(seg, 0, 1, 0));
  memset(&sh, 0, sizeof sh);
  CHECK_OK(shmbus_semaphore_embed(seg, 0, NULL, &sh.s));
  sh.n = (volatile uint32_t*)((uint8_t*)shmbus_segment_data(seg) + 1536);
  for (i = 0; i < 4; i++) pthread_create(&t[i], NULL, sem_worker, &sh);
  for (i = 0; i < 4; i++) pthread_join(t[i], NULL);
  CHECK(sh.failed == 0);
  CHECK(sh.overlaps == 0);
  CHECK(sh.n[0] == 20000);
  CHECK(shmbus_semaphore_value(sh.s) == 1);
  shmbus_semaphore_close(sh.s);
  shmbus_segment_close(seg);
}

static int sem_holder(void* arg, int fd) {
  shmbus_semaphore* s = NULL;
  if (shmbus_semaphore_open((const char*)arg, &s) != SHMBUS_OK) return 2;
  if (shmbus_semaphore_acquire(s, 5000, NULL) != SHMBUS_OK) return 3;
  return hold_forever(fd);
}

static void test_semaphore_dead_holder(void) {
  const char* name = test_name("semd");
  const char* uname = test_name("semu");
  shmbus_sync_options o = fast();
  shmbus_semaphore* s = NULL;
  shmbus_semaphore* u = NULL;
  child c;
  int rec = 0;
  CHECK_OK(shmbus_semaphore_create_ex(name, 1, 0, &o, &s));
  c = child_start(sem_holder, (void*)name);
  CHECK(child_wait_signal(&c));
  CHECK(shmbus_semaphore_value(s) == 0);
  child_kill(&c);
  /* The waiter's sweep returns the dead holder's unit. */
  CHECK_OK(shmbus_semaphore_acquire(s, 5000, &rec));
  CHECK(rec == 1);
  CHECK_OK(shmbus_semaphore_release(s, 1));
  CHECK_OK(shmbus_semaphore_try_acquire(s, &rec));
  CHECK(rec == 0);
  CHECK_OK(shmbus_semaphore_release(s, 1));
  /* Untracked (signalling): a dead taker's unit never comes back. */
  CHECK_OK(shmbus_semaphore_create_ex(uname, 1, SHMBUS_SEMAPHORE_UNTRACKED, &o, &u));
  c = child_start(sem_holder, (void*)uname);
  CHECK(child_wait_signal(&c));
  child_kill(&c);
  CHECK_RC(shmbus_semaphore_acquire(u, 5 * LIVE_MS, &rec), SHMBUS_ETIMEDOUT);
  CHECK(shmbus_semaphore_value(u) == 0);
  shmbus_semaphore_close(s);
  shmbus_semaphore_close(u);
}

/* A process that took a unit, then died holding the ledger mutex in the middle of an update (here: `value`
   overwritten with garbage): the next acquirer takes the ledger over, returns the dead holder's unit and recounts
   value from total and the holdings, so the count is exact again. */
static int sem_ledger_dier(void* arg, int fd) {
  shmbus_segment* seg = NULL;
  shmbus_semaphore* s = NULL;
  shmbus_mutex* ledger = NULL;
  if (shmbus_segment_open((const char*)arg, &seg) != SHMBUS_OK) return 2;
  if (shmbus_semaphore_embed(seg, 0, NULL, &s) != SHMBUS_OK) return 3;
  if (shmbus_semaphore_acquire(s, 5000, NULL) != SHMBUS_OK) return 4;
  /* The ledger mutex is the first 32 bytes of the semaphore (PROTOCOL §4.3). */
  if (shmbus_mutex_embed(seg, 0, NULL, &ledger) != SHMBUS_OK) return 5;
  if (shmbus_mutex_lock(ledger, 5000, NULL) != SHMBUS_OK) return 6;
  *(volatile uint32_t*)((uint8_t*)shmbus_segment_data(seg) + 32) = 5; /* value: half-done garbage */
  return hold_forever(fd);
}

static void test_semaphore_ledger_repair(void) {
  const char* name = test_name("semrep");
  shmbus_sync_options o = fast();
  shmbus_segment* seg = NULL;
  shmbus_semaphore* s = NULL;
  child c;
  int rec = 0;
  CHECK_OK(shmbus_segment_create(name, 2048, &seg));
  CHECK_OK(shmbus_semaphore_init(seg, 0, 2, 0));
  CHECK_OK(shmbus_semaphore_embed(seg, 0, &o, &s));
  c = child_start(sem_ledger_dier, (void*)name);
  CHECK(child_wait_signal(&c));
  child_kill(&c);
  CHECK_OK(shmbus_semaphore_acquire(s, 5000, &rec));
  CHECK(rec == 1);
  /* total 2: this process holds one, the dead one's came back: one free. */
  CHECK(shmbus_semaphore_value(s) == 1);
  CHECK_OK(shmbus_semaphore_try_acquire(s, &rec));
  CHECK(rec == 0);
  CHECK_RC(shmbus_semaphore_try_acquire(s, &rec), SHMBUS_EAGAIN);
  CHECK_OK(shmbus_semaphore_release(s, 2));
  CHECK(shmbus_semaphore_value(s) == 2);
  shmbus_semaphore_close(s);
  shmbus_segment_close(seg);
}

/* ---- Event ------------------------------------------------------------------------------------------------ */

static void test_event_basics(void) {
  shmbus_event* a = NULL;
  shmbus_event* m = NULL;
  shmbus_event* e = NULL;
  const char* mname = test_name("evm");
  CHECK_OK(shmbus_event_create(test_name("eva"), 0, &a));
  CHECK(shmbus_event_manual_reset(a) == 0);
  CHECK(shmbus_event_is_set(a) == 0);
  CHECK_RC(shmbus_event_wait(a, 0), SHMBUS_ETIMEDOUT);
  /* Auto reset: one set, one waiter through; a second set of a set event does nothing. */
  CHECK_OK(shmbus_event_set(a));
  CHECK_OK(shmbus_event_set(a));
  CHECK(shmbus_event_is_set(a) == 1);
  CHECK_OK(shmbus_event_wait(a, 0));
  CHECK(shmbus_event_is_set(a) == 0);
  CHECK_RC(shmbus_event_wait(a, 10), SHMBUS_ETIMEDOUT);
  /* Manual reset, created set: stays set until reset. */
  CHECK_OK(shmbus_event_create(mname, SHMBUS_EVENT_MANUAL_RESET | SHMBUS_EVENT_SET, &m));
  CHECK_OK(shmbus_event_open(mname, &e));
  CHECK(shmbus_event_manual_reset(e) == 1);
  CHECK_OK(shmbus_event_wait(e, 0));
  CHECK_OK(shmbus_event_wait(m, 0));
  CHECK_OK(shmbus_event_reset(e));
  CHECK(shmbus_event_is_set(m) == 0);
  CHECK_RC(shmbus_event_wait(m, 0), SHMBUS_ETIMEDOUT);
  CHECK_RC(shmbus_event_create(test_name("evx"), 4, &e), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_event_set(NULL), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_event_wait(m, -5), SHMBUS_EINVAL_ARG);
  shmbus_event_close(a);
  shmbus_event_close(m);
  shmbus_event_close(e);
}

typedef struct ev_shared {
  shmbus_event* e;
  int woke;
  int failed;
} ev_shared;

static void* ev_waiter_thread(void* arg) {
  ev_shared* sh = (ev_shared*)arg;
  if (shmbus_event_wait(sh->e, 10000) == SHMBUS_OK) __atomic_add_fetch(&sh->woke, 1, __ATOMIC_SEQ_CST);
  else __atomic_add_fetch(&sh->failed, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

/* The sleepers word counts announcements: wait until `n` waiters have announced themselves (shared state). */
static void ev_until_sleepers(shmbus_segment* seg, uint32_t n) {
  volatile uint32_t* sleepers = (volatile uint32_t*)((uint8_t*)shmbus_segment_data(seg) + 4);
  while (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST) < n) sched_yield();
}

static void test_event_threads(void) {
  shmbus_segment* seg = NULL;
  ev_shared sh;
  pthread_t t[4];
  int i;
  /* Manual reset: one set releases every waiter, even with a reset right after it. */
  CHECK_OK(shmbus_segment_create(test_name("evt"), 64, &seg));
  CHECK_OK(shmbus_event_init(seg, 0, SHMBUS_EVENT_MANUAL_RESET));
  memset(&sh, 0, sizeof sh);
  CHECK_OK(shmbus_event_embed(seg, 0, NULL, &sh.e));
  for (i = 0; i < 4; i++) pthread_create(&t[i], NULL, ev_waiter_thread, &sh);
  ev_until_sleepers(seg, 4);
  CHECK_OK(shmbus_event_set(sh.e));
  CHECK_OK(shmbus_event_reset(sh.e));
  for (i = 0; i < 4; i++) pthread_join(t[i], NULL);
  CHECK(sh.woke == 4 && sh.failed == 0);
  shmbus_event_close(sh.e);
  /* Auto reset: each set releases exactly one waiter. */
  CHECK_OK(shmbus_event_init(seg, 16, 0));
  memset(&sh, 0, sizeof sh);
  CHECK_OK(shmbus_event_embed(seg, 16, NULL, &sh.e));
  for (i = 0; i < 4; i++) pthread_create(&t[i], NULL, ev_waiter_thread, &sh);
  for (i = 1; i <= 4; i++) {
    /* Set only once the previous set was consumed, so no set is absorbed by a set event. */
    while (shmbus_event_is_set(sh.e)) sched_yield();
    CHECK_OK(shmbus_event_set(sh.e));
  }
  for (i = 0; i < 4; i++) pthread_join(t[i], NULL);
  CHECK(sh.woke == 4 && sh.failed == 0);
  CHECK(shmbus_event_is_set(sh.e) == 0);
  shmbus_event_close(sh.e);
  shmbus_segment_close(seg);
}

static int ev_wait_child(void* arg, int fd) {
  shmbus_event* e = NULL;
  if (shmbus_event_open((const char*)arg, &e) != SHMBUS_OK) return 2;
  child_signal(fd);
  return shmbus_event_wait(e, 10000) == SHMBUS_OK ? 0 : 3;
}

static void test_event_processes(void) {
  const char* name = test_name("evp");
  shmbus_event* e = NULL;
  child c[3];
  int i;
  CHECK_OK(shmbus_event_create(name, SHMBUS_EVENT_MANUAL_RESET, &e));
  for (i = 0; i < 3; i++) c[i] = child_start(ev_wait_child, (void*)name);
  for (i = 0; i < 3; i++) CHECK(child_wait_signal(&c[i]));
  CHECK_OK(shmbus_event_set(e));
  for (i = 0; i < 3; i++) CHECK(child_join(&c[i]) == 0);
  shmbus_event_close(e);
}

/* ---- garbage ---------------------------------------------------------------------------------------------- */

static int rc_expected(int rc) {
  return rc == SHMBUS_OK || rc == SHMBUS_EAGAIN || rc == SHMBUS_ETIMEDOUT || rc == SHMBUS_EINVAL_ARG ||
         rc == SHMBUS_ENOT_OWNER;
}

/* Blocks full of random bytes (a buggy or malicious peer): every call returns a code within its timeout, never a
   crash, a hang or an out-of-range access (the sanitizer builds run this too). */
static void test_garbage_blocks(void) {
  const size_t rw_at = 0;
  const size_t sem_at = SHMBUS_RWLOCK_SIZE;
  const size_t ev_at = SHMBUS_RWLOCK_SIZE + SHMBUS_SEMAPHORE_SIZE;
  shmbus_sync_options o = fast();
  unsigned seed;
  o.liveness_ms = 5;
  for (seed = 1; seed <= 12; seed++) {
    shmbus_segment* seg = NULL;
    shmbus_rwlock* rw = NULL;
    shmbus_semaphore* s = NULL;
    shmbus_event* e = NULL;
    uint8_t* p;
    unsigned r = seed;
    size_t i;
    int rc;
    CHECK_OK(shmbus_segment_create(test_name("junk"), ev_at + SHMBUS_EVENT_SIZE, &seg));
    p = (uint8_t*)shmbus_segment_data(seg);
    for (i = 0; i < ev_at + SHMBUS_EVENT_SIZE; i++) p[i] = (uint8_t)(rand_r(&r) >> 7);
    if (seed % 3 == 0) memset(p + 32, 0, 16); /* sometimes a free writer flag / occupancy with junk slots */
    CHECK_OK(shmbus_rwlock_embed(seg, rw_at, &o, &rw));
    CHECK_OK(shmbus_semaphore_embed(seg, sem_at, &o, &s));
    CHECK_OK(shmbus_event_embed(seg, ev_at, &o, &e));
    CHECK(rc_expected(shmbus_rwlock_try_read_lock(rw, NULL)));
    shmbus_rwlock_read_unlock(rw);
    rc = shmbus_rwlock_read_lock(rw, 20, NULL);
    CHECK(rc_expected(rc));
    if (rc == SHMBUS_OK) CHECK_OK(shmbus_rwlock_read_unlock(rw));
    rc = shmbus_rwlock_write_lock(rw, 20, NULL);
    CHECK(rc_expected(rc));
    if (rc == SHMBUS_OK) CHECK_OK(shmbus_rwlock_write_unlock(rw));
    CHECK(rc_expected(shmbus_semaphore_try_acquire(s, NULL)));
    CHECK(rc_expected(shmbus_semaphore_acquire(s, 20, NULL)));
    CHECK(rc_expected(shmbus_semaphore_release(s, 1)));
    CHECK(shmbus_semaphore_value(s) >= 0);
    CHECK(shmbus_event_is_set(e) >= 0);
    CHECK(rc_expected(shmbus_event_wait(e, 5)));
    CHECK_OK(shmbus_event_set(e));
    CHECK_OK(shmbus_event_reset(e));
    shmbus_rwlock_close(rw);
    shmbus_semaphore_close(s);
    shmbus_event_close(e);
    shmbus_segment_close(seg);
  }
}

int main(void) {
  TEST_RUN(test_rwlock_basics);
  TEST_RUN(test_wrong_kind_and_embed);
  TEST_RUN(test_rwlock_threads);
  TEST_RUN(test_rwlock_processes);
  TEST_RUN(test_rwlock_dead_writer);
  TEST_RUN(test_rwlock_dead_reader);
  TEST_RUN(test_rwlock_writer_preference);
  TEST_RUN(test_rwlock_slots_full_dead_reader);
  TEST_RUN(test_rwlock_write_timeout_undoes);
  TEST_RUN(test_semaphore_basics);
  TEST_RUN(test_semaphore_threads);
  TEST_RUN(test_semaphore_dead_holder);
  TEST_RUN(test_semaphore_ledger_repair);
  TEST_RUN(test_event_basics);
  TEST_RUN(test_event_threads);
  TEST_RUN(test_event_processes);
  TEST_RUN(test_garbage_blocks);
  return test_summary();
}
