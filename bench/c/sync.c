/*
 * The C baselines of the sync benchmark (bench/suites/20-sync.ts): glibc's process-shared primitives in one
 * MAP_SHARED|MAP_ANONYMOUS region shared by fork()ed processes.
 *
 * usage:
 *   sync uncontended <iterations>
 *       prints "mutex <ns>", "rwlock-read <ns>", "rwlock-write <ns>", "sem <ns>": ns per lock+unlock pair of a
 *       PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST mutex, a process-shared rwlock, a process-shared sem_t,
 *       each the best of 5 batches of <iterations> pairs (the method of the Node rows).
 *   sync handoff <rounds> <holdUs> <cpuA|-1> <cpuB|-1>
 *       two processes hand a robust mutex back and forth; before each unlock the holder waits until the other
 *       has announced that it is about to lock, holds <holdUs> more, stamps the time and unlocks; the other
 *       prints the ns from that stamp to its lock returning, one per line, then "done".
 *   sync readers <processes> <ms>
 *       <processes> processes take and release a process-shared rwlock's read side for <ms>; prints
 *       "ops <total>".
 * Bounded: every child dies with its parent (PR_SET_PDEATHSIG); waits give up after 10 s (exit 2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
  pthread_mutex_t mutex;
  pthread_rwlock_t rwlock;
  sem_t sem;
  _Alignas(64) _Atomic uint32_t announce; /* bumped by a process about to lock */
  _Atomic uint32_t stop;
  _Atomic uint32_t acquired; /* bumped by each hand-over's receiver once it holds the mutex */
  _Alignas(64) _Atomic uint64_t stamp;    /* ns (CLOCK_MONOTONIC) just before an unlock */
  _Alignas(64) _Atomic uint64_t ops;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

static void die_with_parent(void) { prctl(PR_SET_PDEATHSIG, SIGKILL); }

static void lock_robust(pthread_mutex_t *m) {
  int rc = pthread_mutex_lock(m);
  if (rc == EOWNERDEAD) pthread_mutex_consistent(m);
  else if (rc != 0) {
    fprintf(stderr, "pthread_mutex_lock: %s\n", strerror(rc));
    exit(1);
  }
}

static struct shared *setup(void) {
  struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&s->mutex, &ma);
  pthread_rwlockattr_t ra;
  pthread_rwlockattr_init(&ra);
  pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
  pthread_rwlock_init(&s->rwlock, &ra);
  sem_init(&s->sem, 1, 1);
  return s;
}

/* ns per pair of `pair`: best of 5 batches of n pairs, the same method as the Node rows (nsPerPair in
   bench/suites/20-sync.ts): the batch least disturbed by other work on the machine. */
#define BEST_OF_5(label, n, lock, unlock)                                  \
  do {                                                                     \
    double best = 1e300;                                                   \
    for (int batch = 0; batch < 5; batch++) {                              \
      uint64_t t0 = now_ns();                                              \
      for (long i = 0; i < (n); i++) {                                     \
        lock;                                                              \
        unlock;                                                            \
      }                                                                    \
      double ns = (double)(now_ns() - t0) / (double)(n);                   \
      if (ns < best) best = ns;                                            \
    }                                                                      \
    printf("%s %.2f\n", label, best);                                      \
  } while (0)

static void uncontended(struct shared *s, long n) {
  BEST_OF_5("mutex", n, lock_robust(&s->mutex), pthread_mutex_unlock(&s->mutex));
  BEST_OF_5("rwlock-read", n, pthread_rwlock_rdlock(&s->rwlock), pthread_rwlock_unlock(&s->rwlock));
  BEST_OF_5("rwlock-write", n, pthread_rwlock_wrlock(&s->rwlock), pthread_rwlock_unlock(&s->rwlock));
  BEST_OF_5("sem", n, sem_wait(&s->sem), sem_post(&s->sem));
}

/* Waits until *word >= want (the other side moved) or stop is set; returns 0 on stop. */
static int await_at_least(struct shared *s, _Atomic uint32_t *word, uint32_t want) {
  uint64_t deadline = now_ns() + 10000000000ull;
  for (unsigned n = 0;; n++) {
    if (atomic_load_explicit(word, memory_order_acquire) >= want) return 1;
    if (atomic_load_explicit(&s->stop, memory_order_acquire)) return 0;
    if ((n & 1023) == 0 && now_ns() > deadline) {
      fprintf(stderr, "handoff: no announce within 10 s\n");
      exit(2);
    }
    __builtin_ia32_pause();
  }
}

static void spin_us(int us) {
  uint64_t until = now_ns() + (uint64_t)us * 1000;
  while (now_ns() < until) __builtin_ia32_pause();
}

/* One side of the hand-over loop; `first` holds the mutex at the start. Prints its samples. */
static void handoff_side(struct shared *s, int first, long rounds, int hold_us) {
  uint32_t mine = 0;
  if (!first) { /* the first side locked before fork() */
    mine = atomic_fetch_add(&s->announce, 1) + 1;
    lock_robust(&s->mutex);
    /* The first acquisition has no stamp to compare with. */
  }
  uint32_t got = atomic_fetch_add(&s->acquired, 1) + 1;
  for (long r = 0; r < rounds; r++) {
    if (!await_at_least(s, &s->announce, mine + 1)) break;
    spin_us(hold_us);
    atomic_store_explicit(&s->stamp, now_ns(), memory_order_release);
    pthread_mutex_unlock(&s->mutex);
    /* Never barge back in: wait until the other side holds it, then queue behind it. */
    if (!await_at_least(s, &s->acquired, got + 1)) return;
    mine = atomic_fetch_add(&s->announce, 1) + 1;
    lock_robust(&s->mutex);
    uint64_t t = now_ns() - atomic_load_explicit(&s->stamp, memory_order_acquire);
    got = atomic_fetch_add(&s->acquired, 1) + 1;
    printf("%llu\n", (unsigned long long)t);
  }
  atomic_store(&s->stop, 1);
  atomic_store_explicit(&s->stamp, now_ns(), memory_order_release);
  pthread_mutex_unlock(&s->mutex);
}

static void handoff(struct shared *s, long rounds, int hold_us, int cpu_a, int cpu_b) {
  fflush(stdout);
  lock_robust(&s->mutex); /* before fork: the first side holds it when the second starts */
  pid_t child = fork();
  if (child == 0) {
    die_with_parent();
    pin(cpu_b);
    handoff_side(s, 0, rounds, hold_us);
    fflush(stdout);
    _exit(0);
  }
  pin(cpu_a);
  handoff_side(s, 1, rounds, hold_us);
  waitpid(child, NULL, 0);
  printf("done\n");
}

static void readers(struct shared *s, int procs, int ms) {
  fflush(stdout);
  pid_t kids[64];
  if (procs > 64) procs = 64;
  atomic_store(&s->stop, 0);
  for (int p = 0; p < procs; p++) {
    kids[p] = fork();
    if (kids[p] == 0) {
      die_with_parent();
      uint64_t n = 0;
      while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        for (int k = 0; k < 256; k++) {
          pthread_rwlock_rdlock(&s->rwlock);
          pthread_rwlock_unlock(&s->rwlock);
        }
        n += 256;
      }
      atomic_fetch_add(&s->ops, n);
      _exit(0);
    }
  }
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  atomic_store(&s->stop, 1);
  for (int p = 0; p < procs; p++) waitpid(kids[p], NULL, 0);
  printf("ops %llu\n", (unsigned long long)atomic_load(&s->ops));
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: sync uncontended <n> | handoff <rounds> <holdUs> <cpuA> <cpuB> | readers <procs> <ms>\n");
    return 1;
  }
  struct shared *s = setup();
  if (strcmp(argv[1], "uncontended") == 0) uncontended(s, atol(argv[2]));
  else if (strcmp(argv[1], "handoff") == 0 && argc >= 6) handoff(s, atol(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
  else if (strcmp(argv[1], "readers") == 0 && argc >= 4) readers(s, atoi(argv[2]), atoi(argv[3]));
  else {
    fprintf(stderr, "bad arguments\n");
    return 1;
  }
  return 0;
}
