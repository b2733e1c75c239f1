/*
 * The C rows of the transports suite (bench/suites/90-transports.ts): both sides in C over c/shmbus.h, the floor
 * the Node rows are set against. It speaks the suite's protocol (bench/transports.ts KIND: byte 0 of a message
 * says what it is, byte 1 of a data message the stream window, 0 = echo it) and runs the suite's workloads with
 * the counts and windows the suite gives it, so the C rows follow the same rules as every other row.
 * Built with the library: cc -O2 -Ic bench/c/transport-driver.c c/shmbus.c -pthread.
 *
 * usage:
 *   transport-driver <topic|queue> <name> <peers> <parent-cpu|-1> <peer-cpu|-1> <max-size> <op>...
 *     creates the channels (names <name>-down / <name>-d<i>, <name>-up, the sizes transports.ts gives Node),
 *     starts <peers> peers (this program, "peer" role, pinned to <peer-cpu>), waits for each one's hello, runs
 *     the ops in order and prints one JSON line per op:
 *       rtt:<iterations>:<warm>            64 B round trips to peer 0
 *           {"op":"rtt","samples":[µs...],"cpuUs":<both processes, timed loop only>}
 *       stream:<size>:<count>:<window>[:<cap-ms>]  one-way stream; every peer acks each window-th message and at
 *                                          most two windows are in flight (the suite's rule); with cap-ms (the
 *                                          untimed warm-up) it stops at the first window boundary after that long
 *           {"op":"stream","size":s,"n":n,"seconds":x,"cpuUs":<all processes>}
 *   transport-driver peer <topic|queue> <name> <index> <cpu|-1> <max-size>
 *     the peer: answers probes (hello), echoes window-0 data, acks each window, reports its CPU time for the
 *     stream on a "last" message (bytes 2..9: µs, little-endian u64), leaves on any other kind.
 * Every wait is bounded (30 s), so a broken run ends instead of hanging.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmbus.h"

#define WAIT_MS 30000
#define MAX_PEERS 64
enum { K_PROBE = 0, K_DATA = 1, K_LAST = 2, K_HELLO = 3, K_ACK = 4, K_BYE = 255 };

static void die(int rc, const char* what) {
  fprintf(stderr, "transport-driver %s: %s: %s\n", what, shmbus_error_code(rc), shmbus_last_error_message());
  exit(1);
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* user + system CPU of this process, µs */
static uint64_t cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (uint64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000u + (uint64_t)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/* The channels of one side: Topic (one down ring for all peers, one up ring) or Queue (one down queue per peer,
   one shared up queue), with the layouts transports.ts gives the Node rows. */
typedef struct link {
  int queue;
  int peers;
  shmbus_topic* pub;      /* topic: down (parent) or up (peer) */
  shmbus_sub* sub;        /* topic: up (parent) or down (peer) */
  shmbus_queue* out[MAX_PEERS]; /* queue: parent: every peer's down; peer: out[0] = up */
  shmbus_queue* in;       /* queue: up (parent) or own down (peer) */
  uint8_t* buf;           /* queue receive buffer */
  size_t cap;
} link_t;

static void link_send(link_t* l, const void* d, size_t n) {
  int rc;
  if (!l->queue) {
    if ((rc = shmbus_topic_publish(l->pub, d, n)) != 0) die(rc, "publish");
    return;
  }
  for (int i = 0; i < l->peers; i++)
    if ((rc = shmbus_queue_send(l->out[i], d, n, WAIT_MS)) != 0) die(rc, "send");
}

/* The next message (a view into the ring for Topic, valid until the next receive; the peer answers before the
   parent can lap it, as in transports.ts). */
static const uint8_t* link_receive(link_t* l, size_t* n) {
  int rc;
  if (!l->queue) {
    shmbus_msg m;
    if ((rc = shmbus_sub_read(l->sub, &m, WAIT_MS)) != 0) die(rc, "read");
    *n = m.size;
    return (const uint8_t*)m.data;
  }
  if ((rc = shmbus_queue_receive(l->in, l->buf, l->cap, n, WAIT_MS)) != 0) die(rc, "receive");
  return l->buf;
}

static char* name_of(const char* base, const char* suffix, int i) {
  static char s[4][256];
  static int k;
  char* out = s[k++ & 3];
  if (i < 0) snprintf(out, 256, "%s-%s", base, suffix);
  else snprintf(out, 256, "%s-%s%d", base, suffix, i);
  return out;
}

static size_t max_msg(size_t max_size) { return max_size > 4096 ? max_size : 4096; }

/* ---- peer ---------------------------------------------------------------------------------------------------- */

static int peer(int queue, const char* name, int index, size_t max_size) {
  link_t l = {.queue = queue, .peers = 1};
  int rc;
  if (!queue) {
    if ((rc = shmbus_topic_subscribe(name_of(name, "down", -1), SHMBUS_FROM_LATEST, &l.sub)) != 0) die(rc, "subscribe");
    if ((rc = shmbus_topic_open(name_of(name, "up", -1), &l.pub)) != 0) die(rc, "open up");
  } else {
    if ((rc = shmbus_queue_open(name_of(name, "d", index), &l.in)) != 0) die(rc, "open down");
    if ((rc = shmbus_queue_open(name_of(name, "up", -1), &l.out[0])) != 0) die(rc, "open up");
    l.cap = max_msg(max_size);
    l.buf = (uint8_t*)malloc(l.cap);
  }
  uint8_t hello[2] = {K_HELLO, (uint8_t)index}, ack[2] = {K_ACK, (uint8_t)index}, report[10] = {K_ACK, (uint8_t)index};
  link_send(&l, hello, 2); /* subscribed before this: everything the parent sends from now on reaches us */
  uint64_t started = cpu_us(), count = 0;
  for (;;) {
    size_t n;
    const uint8_t* m = link_receive(&l, &n);
    uint8_t kind = n > 0 ? m[0] : K_BYE, window = n > 1 ? m[1] : 0;
    if (kind == K_PROBE) {
      link_send(&l, hello, 2);
    } else if (kind == K_DATA && window == 0) {
      link_send(&l, m, n); /* echo */
    } else if (kind == K_DATA) {
      if (++count % window == 0) link_send(&l, ack, 2);
    } else if (kind == K_LAST) {
      count = 0;
      uint64_t used = cpu_us() - started;
      for (int b = 0; b < 8; b++) report[2 + b] = (uint8_t)(used >> (8 * b));
      link_send(&l, report, sizeof report);
      started = cpu_us();
    } else {
      break;
    }
  }
  if (!queue) {
    shmbus_sub_close(l.sub);
    shmbus_topic_close(l.pub);
  } else {
    shmbus_queue_close(l.in);
    shmbus_queue_close(l.out[0]);
  }
  return 0;
}

/* ---- parent -------------------------------------------------------------------------------------------------- */

static uint8_t* message(size_t size, uint8_t kind, uint8_t window) {
  uint8_t* m = (uint8_t*)calloc(1, size < 2 ? 2 : size);
  m[0] = kind;
  m[1] = window;
  return m;
}

/* Sends "last" and sums the CPU µs the peers report for the stream (late window acks are skipped). */
static uint64_t stream_end(link_t* l) {
  uint8_t last[2] = {K_LAST, 0};
  link_send(l, last, 2);
  uint64_t cpu = 0;
  for (int got = 0; got < l->peers;) {
    size_t n;
    const uint8_t* m = link_receive(l, &n);
    if (n < 10 || m[0] != K_ACK) continue;
    uint64_t v = 0;
    for (int b = 0; b < 8; b++) v |= (uint64_t)m[2 + b] << (8 * b);
    cpu += v;
    got++;
  }
  return cpu;
}

static void rtt(link_t* l, long iterations, long warm) {
  uint8_t* m = message(64, K_DATA, 0);
  size_t n;
  for (long i = 0; i < warm; i++) {
    link_send(l, m, 64);
    link_receive(l, &n);
  }
  stream_end(l); /* restarts the peers' CPU clocks: the warm-up is not counted */
  double* samples = (double*)malloc(sizeof(double) * (size_t)(iterations > 0 ? iterations : 1));
  uint64_t c0 = cpu_us();
  for (long i = 0; i < iterations; i++) {
    double t0 = now_s();
    link_send(l, m, 64);
    link_receive(l, &n);
    samples[i] = (now_s() - t0) * 1e6;
  }
  uint64_t mine = cpu_us() - c0;
  uint64_t peers = stream_end(l);
  printf("{\"op\":\"rtt\",\"cpuUs\":%llu,\"samples\":[", (unsigned long long)(mine + peers));
  for (long i = 0; i < iterations; i++) printf(i ? ",%.3f" : "%.3f", samples[i]);
  printf("]}\n");
  fflush(stdout);
  free(samples);
  free(m);
}

/* Receives until every peer has acked one window. */
static void acks(link_t* l) {
  for (int got = 0; got < l->peers;) {
    size_t n;
    const uint8_t* m = link_receive(l, &n);
    if (n > 0 && m[0] == K_ACK) got++;
  }
}

static void stream(link_t* l, size_t size, long count, int window, long cap_ms) {
  long n = (count + window - 1) / window * window;
  uint8_t* m = message(size, K_DATA, (uint8_t)window);
  size_t len = size < 2 ? 2 : size;
  int in_flight = 0;
  uint64_t c0 = cpu_us();
  double t0 = now_s();
  for (long i = 1; i <= n; i++) {
    link_send(l, m, len);
    if (i % window == 0) {
      in_flight++;
      while (in_flight > 2) {
        acks(l);
        in_flight--;
      }
      if (cap_ms > 0 && (now_s() - t0) * 1000 > (double)cap_ms) n = i;
    }
  }
  while (in_flight > 0) {
    acks(l);
    in_flight--;
  }
  double seconds = now_s() - t0;
  uint64_t mine = cpu_us() - c0;
  uint64_t peers = stream_end(l);
  printf("{\"op\":\"stream\",\"size\":%zu,\"n\":%ld,\"seconds\":%.9f,\"cpuUs\":%llu}\n", size, n, seconds,
         (unsigned long long)(mine + peers));
  fflush(stdout);
  free(m);
}

static int parent(int queue, const char* name, int peers, int parent_cpu, int peer_cpu, size_t max_size, int nops,
                  char** ops) {
  if (peers < 1 || peers > MAX_PEERS) {
    fprintf(stderr, "transport-driver: peers must be 1..%d\n", MAX_PEERS);
    return 2;
  }
  /* every op is checked before anything is created or started: a bad one leaves nothing behind */
  struct { int rtt; long a, b, c, d; } op[256];
  if (nops > 256) {
    fprintf(stderr, "transport-driver: at most 256 ops\n");
    return 2;
  }
  for (int i = 0; i < nops; i++) {
    long a = 0, b = 0, c = 0, d = 0;
    if (sscanf(ops[i], "rtt:%ld:%ld", &a, &b) == 2 && a > 0 && b >= 0) {
      op[i].rtt = 1;
    } else if (sscanf(ops[i], "stream:%ld:%ld:%ld:%ld", &a, &b, &c, &d) >= 3 && a > 0 && b > 0 && c > 0 && c < 256 &&
               d >= 0 && (size_t)a <= max_size) {
      op[i].rtt = 0;
    } else {
      fprintf(stderr, "transport-driver: bad op %s\n", ops[i]);
      return 2;
    }
    op[i].a = a, op[i].b = b, op[i].c = c, op[i].d = d;
  }
  pin(parent_cpu);
  link_t l = {.queue = queue, .peers = peers};
  shmbus_topic* up = NULL;
  int rc;
  if (!queue) {
    uint64_t cap = 4 * (max_size + 64);
    if (cap < (1u << 20)) cap = 1u << 20;
    if ((rc = shmbus_topic_create(name_of(name, "down", -1), cap, (uint32_t)max_msg(max_size), &l.pub)) != 0) die(rc, "create down");
    /* the creator's publisher stays open to the end (as in transports.ts): with none left, a read would end */
    if ((rc = shmbus_topic_create(name_of(name, "up", -1), 1u << 20, 4096, &up)) != 0) die(rc, "create up");
    if ((rc = shmbus_topic_subscribe(name_of(name, "up", -1), SHMBUS_FROM_LATEST, &l.sub)) != 0) die(rc, "subscribe up");
  } else {
    for (int i = 0; i < peers; i++)
      if ((rc = shmbus_queue_create(name_of(name, "d", i), 64, (uint32_t)max_msg(max_size), &l.out[i])) != 0) die(rc, "create down");
    if ((rc = shmbus_queue_create(name_of(name, "up", -1), 256, 4096, &l.in)) != 0) die(rc, "create up");
    l.cap = 4096;
    l.buf = (uint8_t*)malloc(l.cap);
  }
  pid_t pids[MAX_PEERS];
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl <= 0) {
    perror("readlink /proc/self/exe");
    return 1;
  }
  self[sl] = 0;
  for (int i = 0; i < peers; i++) {
    char idx[16], cpu[16], max[32];
    snprintf(idx, sizeof idx, "%d", i);
    snprintf(cpu, sizeof cpu, "%d", peer_cpu);
    snprintf(max, sizeof max, "%zu", max_size);
    pids[i] = fork();
    if (pids[i] == 0) {
      /* a fresh process (exec), not a fork sharing the parent's library state */
      execl(self, self, "peer", queue ? "queue" : "topic", name, idx, cpu, max, (char*)NULL);
      _exit(127);
    }
  }
  for (int got = 0; got < peers;) {
    size_t n;
    const uint8_t* m = link_receive(&l, &n);
    if (n > 0 && m[0] == K_HELLO) got++;
  }
  for (int i = 0; i < nops; i++) {
    if (op[i].rtt) rtt(&l, op[i].a, op[i].b);
    else stream(&l, (size_t)op[i].a, op[i].b, (int)op[i].c, op[i].d);
  }
  uint8_t bye[2] = {K_BYE, 0};
  link_send(&l, bye, 2);
  int failed = 0;
  for (int i = 0; i < peers; i++) {
    int st = 0;
    waitpid(pids[i], &st, 0);
    failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  if (!queue) {
    shmbus_sub_close(l.sub);
    shmbus_topic_close(l.pub);
    shmbus_topic_close(up);
    shmbus_topic_unlink(name_of(name, "down", -1));
    shmbus_topic_unlink(name_of(name, "up", -1));
  } else {
    for (int i = 0; i < peers; i++) {
      shmbus_queue_close(l.out[i]);
      shmbus_queue_unlink(name_of(name, "d", i));
    }
    shmbus_queue_close(l.in);
    shmbus_queue_unlink(name_of(name, "up", -1));
  }
  return failed;
}

int main(int argc, char** argv) {
  if (argc == 7 && strcmp(argv[1], "peer") == 0) {
    pin(atoi(argv[5]));
    return peer(strcmp(argv[2], "queue") == 0, argv[3], atoi(argv[4]), (size_t)atol(argv[6]));
  }
  if (argc >= 8 && (strcmp(argv[1], "topic") == 0 || strcmp(argv[1], "queue") == 0))
    return parent(strcmp(argv[1], "queue") == 0, argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                  (size_t)atol(argv[6]), argc - 7, argv + 7);
  fprintf(stderr,
          "usage: transport-driver <topic|queue> <name> <peers> <parent-cpu|-1> <peer-cpu|-1> <max-size> op...\n"
          "       transport-driver peer <topic|queue> <name> <index> <cpu|-1> <max-size>\n");
  return 2;
}
