/*
 * Round trip between two processes over shared memory: the C baseline for every shmbus latency figure.
 *
 * usage: pingpong <spin|spin-yield|futex> <size> <iterations> <warmup> <cpuParent|-1> <cpuChild|-1>
 * prints one round-trip time in nanoseconds per line (after the warm-up), then "done".
 *
 * fork() + one MAP_SHARED|MAP_ANONYMOUS region:
 *   line 0: ping word (parent -> child), line 1: pong word (child -> parent), each on its own 64-byte line;
 *   then two payload areas of <size> bytes (parent -> child, child -> parent).
 * A round trip: the parent copies <size> private bytes into its area, bumps the ping word (release) and wakes;
 * the child sees it (acquire), copies the area out to private memory, copies it into its own area, bumps the
 * pong word; the parent sees it and copies the reply out. So a round trip moves 4 x <size> bytes, as a real
 * channel does (publish copy in, reader copy out, both ways).
 * spin:  pure busy-wait with the pause instruction, never giving the core away: the floor for two processes on
 *        two cores. Never use it with both processes on one core (each waits for the scheduler tick).
 * spin-yield: the same, plus sched_yield() every 64 pauses, so that two processes on one core still hand over.
 *        Only for one-core rows: on a loaded machine the yield hands the core to other work and the round trip
 *        moves with the load (0.30 vs 0.47 µs in two tables of one loaded run), so it is no two-core floor.
 * futex: FUTEX_WAIT / FUTEX_WAKE without FUTEX_PRIVATE_FLAG (cross-process), no spinning at all.
 * Bounded: every wait gives up after 10 s (exit 2); the program dies with the process that started it and the
 * child with the program (PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int use_futex;
static int use_yield;

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
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    perror("sched_setaffinity");
    exit(1);
  }
}

/* Waits until *word != old; returns its new value. */
static uint32_t await_change(_Atomic uint32_t *word, uint32_t old) {
  uint64_t deadline = 0;
  for (unsigned n = 0;; n++) {
    uint32_t v = atomic_load_explicit(word, memory_order_acquire); /* pairs with the release in signal_word */
    if (v != old) return v;
    if (use_futex) {
      struct timespec ts = {1, 0};
      long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, old, &ts, NULL, 0);
      if (r != 0 && errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT) {
        perror("futex wait");
        exit(1);
      }
    } else {
      __builtin_ia32_pause();
      if (use_yield && (n & 63) == 63) sched_yield();
    }
    if ((n & 1023) == 1023 || use_futex) {
      uint64_t t = now_ns();
      if (deadline == 0) deadline = t + 10000000000ull;
      else if (t > deadline) {
        fprintf(stderr, "pingpong: peer silent for 10 s\n");
        exit(2);
      }
    }
  }
}

static void signal_word(_Atomic uint32_t *word, uint32_t value) {
  atomic_store_explicit(word, value, memory_order_release); /* pairs with the acquire in await_change */
  if (use_futex) syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: pingpong <spin|spin-yield|futex> <size> <iterations> <warmup> <cpuParent> <cpuChild>\n");
    return 1;
  }
  use_futex = strcmp(argv[1], "futex") == 0;
  use_yield = strcmp(argv[1], "spin-yield") == 0;
  if (!use_futex && !use_yield && strcmp(argv[1], "spin") != 0) {
    fprintf(stderr, "pingpong: unknown mode %s\n", argv[1]);
    return 1;
  }
  size_t size = strtoull(argv[2], NULL, 10);
  long iterations = atol(argv[3]);
  long warmup = atol(argv[4]);
  int cpu_parent = atoi(argv[5]);
  int cpu_child = atoi(argv[6]);
  size_t total = 128 + 2 * (size + 64);
  uint8_t *shm = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  _Atomic uint32_t *ping = (_Atomic uint32_t *)shm;
  _Atomic uint32_t *pong = (_Atomic uint32_t *)(shm + 64);
  uint8_t *area_ping = shm + 128;
  uint8_t *area_pong = area_ping + size + 64;
  uint8_t *priv = malloc(size + 1);
  memset(priv, 0x5a, size + 1);
  memset(area_ping, 0, 2 * (size + 64));
  long rounds = iterations + warmup;
  /* Die with whoever started us (the bench harness), and the child with us: nothing outlives a killed run. */
  pid_t starter = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != starter) return 1;
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    pin(cpu_child);
    uint32_t seen = 0;
    for (long i = 0; i < rounds; i++) {
      seen = await_change(ping, seen);
      memcpy(priv, area_ping, size);
      memcpy(area_pong, priv, size);
      signal_word(pong, seen);
    }
    _exit(0);
  }
  pin(cpu_parent);
  uint64_t *samples = malloc(sizeof(uint64_t) * (size_t)(iterations > 0 ? iterations : 1));
  for (long i = 0; i < rounds; i++) {
    uint64_t t0 = now_ns();
    memcpy(area_ping, priv, size);
    signal_word(ping, (uint32_t)(i + 1));
    await_change(pong, (uint32_t)i);
    memcpy(priv, area_pong, size);
    uint64_t t1 = now_ns();
    if (i >= warmup) samples[i - warmup] = t1 - t0;
  }
  int status = 0;
  waitpid(child, &status, 0);
  /* One buffered write of every sample. */
  for (long i = 0; i < iterations; i++) printf("%llu\n", (unsigned long long)samples[i]);
  printf("done\n");
  return 0;
}
