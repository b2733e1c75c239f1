/*
 * The C side of the C peer benchmark (bench/suites/50-c.ts): Topic round trips and frame publishing through
 * c/shmbus.h, against C or Node peers. Built with the library: cc -O2 -Ic bench/c/topic-rtt.c c/shmbus.c -pthread.
 *
 * usage:
 *   topic-rtt ping <ping> <pong> <poll|park> <size> <iterations> <warmup> <cpu|-1>
 *       publishes <size>-byte messages on <ping> (the first 8 bytes: CLOCK_MONOTONIC ns as a little-endian f64, as
 *       the Node echo child expects) and waits for each echo on <pong>; prints one round-trip time in ns per line
 *       after the warm-up, then "done"; finally publishes a 1-byte message (the echo's stop signal).
 *   topic-rtt echo <ping> <pong> <poll|park> <cpu|-1>
 *       prints "ready"; echoes every message of <ping> on <pong> (zero-copy read, publish copies) until a 1-byte one.
 *   topic-rtt frames <topic> <size> <count> <warm> <cpu|-1>
 *       publishes <warm> untimed frames (page faults), prints "ready", waits for a line on stdin, then publishes
 *       <count> frames of <size> bytes as fast as it can (publish: one memcpy into the ring); prints
 *       "pub <seconds> <lastSeq>".
 *   topic-rtt sub <topic> <lastSeq> <cpu|-1>
 *       prints "ready"; reads zero-copy (touches the first and last byte, checks valid()) until it has seen
 *       <lastSeq>; prints "done <read> <lost> <bytes>".
 * poll: busy try_read; park: blocking read with no spinning (every message wakes a sleeping process).
 * Every wait is bounded (10 s), so a broken run ends instead of hanging.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmbus.h"

#define WAIT_MS 10000

static void die(int rc, const char* what) {
  fprintf(stderr, "topic-rtt %s: %s: %s\n", what, shmbus_error_code(rc), shmbus_last_error_message());
  exit(1);
}

static void pin(const char* arg) {
  int cpu = atoi(arg);
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static shmbus_sub* subscribe(const char* name, int park) {
  shmbus_sub_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.spin_us = park ? -1 : 0; /* park: no spinning at all; poll: the loop below spins */
  shmbus_sub* s = NULL;
  int rc = shmbus_topic_subscribe_ex(name, &o, &s);
  if (rc != 0) die(rc, "subscribe");
  return s;
}

/* The next message: busy try_read (poll) or a sleeping read (park). */
static void next(shmbus_sub* s, int park, shmbus_msg* m) {
  int rc;
  if (park) {
    rc = shmbus_sub_read(s, m, WAIT_MS);
  } else {
    uint64_t deadline = 0;
    for (unsigned n = 0; (rc = shmbus_sub_try_read(s, m)) == SHMBUS_EAGAIN; n++) {
      __builtin_ia32_pause();
      if ((n & 4095) == 4095) {
        uint64_t t = now_ns();
        if (deadline == 0) deadline = t + (uint64_t)WAIT_MS * 1000000;
        else if (t > deadline) {
          rc = SHMBUS_ETIMEDOUT;
          break;
        }
      }
    }
  }
  if (rc != 0) die(rc, "read");
}

static int ping(char** a) {
  int park = strcmp(a[2], "park") == 0;
  size_t size = (size_t)atol(a[3]);
  long iterations = atol(a[4]), warmup = atol(a[5]);
  pin(a[6]);
  if (size < 8) size = 8;
  shmbus_topic* t = NULL;
  int rc = shmbus_topic_open(a[0], &t);
  if (rc != 0) die(rc, "open");
  shmbus_sub* s = subscribe(a[1], park);
  uint8_t* buf = (uint8_t*)calloc(1, size);
  uint64_t* samples = (uint64_t*)malloc(sizeof(uint64_t) * (size_t)(iterations > 0 ? iterations : 1));
  for (long i = -warmup; i < iterations; i++) {
    uint64_t t0 = now_ns();
    double stamp = (double)t0;
    memcpy(buf, &stamp, 8);
    if ((rc = shmbus_topic_publish(t, buf, size)) != 0) die(rc, "publish");
    shmbus_msg m;
    next(s, park, &m);
    if (i >= 0) samples[i] = now_ns() - t0;
  }
  for (long i = 0; i < iterations; i++) printf("%llu\n", (unsigned long long)samples[i]);
  printf("done\n");
  fflush(stdout);
  shmbus_topic_publish(t, buf, 1);
  shmbus_sub_close(s);
  shmbus_topic_close(t);
  return 0;
}

static int echo(char** a) {
  int park = strcmp(a[2], "park") == 0;
  pin(a[3]);
  shmbus_sub* s = subscribe(a[0], park);
  shmbus_topic* t = NULL;
  int rc = shmbus_topic_open(a[1], &t);
  if (rc != 0) die(rc, "open");
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    shmbus_msg m;
    next(s, park, &m);
    if (m.size == 1) break;
    if ((rc = shmbus_topic_publish(t, m.data, m.size)) != 0) die(rc, "publish");
  }
  shmbus_sub_close(s);
  shmbus_topic_close(t);
  return 0;
}

static int frames(char** a) {
  size_t size = (size_t)atol(a[1]);
  long count = atol(a[2]), warm = atol(a[3]);
  pin(a[4]);
  shmbus_topic* t = NULL;
  int rc = shmbus_topic_open(a[0], &t);
  if (rc != 0) die(rc, "open");
  uint8_t* src = (uint8_t*)malloc(size);
  memset(src, 0x5a, size);
  for (long i = 0; i < warm; i++)
    if ((rc = shmbus_topic_publish(t, src, size)) != 0) die(rc, "publish");
  printf("ready\n");
  fflush(stdout);
  char line[16];
  if (fgets(line, sizeof line, stdin) == NULL) return 1;
  uint64_t seq = 0;
  uint64_t t0 = now_ns();
  for (long i = 0; i < count; i++)
    if ((rc = shmbus_topic_publish_ex(t, src, size, WAIT_MS, &seq)) != 0) die(rc, "publish");
  uint64_t t1 = now_ns();
  printf("pub %.9f %llu\n", (double)(t1 - t0) / 1e9, (unsigned long long)seq);
  fflush(stdout);
  shmbus_topic_close(t);
  return 0;
}

static int sub(char** a) {
  uint64_t last = (uint64_t)atoll(a[1]);
  pin(a[2]);
  shmbus_sub* s = subscribe(a[0], 0);
  printf("ready\n");
  fflush(stdout);
  uint64_t read = 0, bytes = 0;
  volatile uint8_t sink = 0;
  for (;;) {
    shmbus_msg m;
    int rc = shmbus_sub_read(s, &m, WAIT_MS);
    if (rc != 0) die(rc, "read");
    if (m.size > 0) sink ^= ((const uint8_t*)m.data)[0] ^ ((const uint8_t*)m.data)[m.size - 1];
    if (shmbus_msg_valid(s, &m)) {
      read++;
      bytes += m.size;
    }
    if (m.seq >= last) break;
  }
  printf("done %llu %llu %llu\n", (unsigned long long)read, (unsigned long long)shmbus_sub_lost(s), (unsigned long long)bytes);
  fflush(stdout);
  shmbus_sub_close(s);
  (void)sink;
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 9 && strcmp(argv[1], "ping") == 0) return ping(argv + 2);
  if (argc == 6 && strcmp(argv[1], "echo") == 0) return echo(argv + 2);
  if (argc == 7 && strcmp(argv[1], "frames") == 0) return frames(argv + 2);
  if (argc == 5 && strcmp(argv[1], "sub") == 0) return sub(argv + 2);
  fprintf(stderr, "usage: see the comment at the top of bench/c/topic-rtt.c\n");
  return 2;
}
