/*
 * topic-peer: the C side of the Topic cross tests (test/cross/topic.test.ts). Speaks the message format of the
 * Node fixtures test/fixtures/topic-publisher.ts and topic-subscriber.ts: [u32 publisher][u32 index][u32 crc32 of
 * bytes 12..][random bytes], little-endian.
 *
 * usage:
 *   topic-peer pub <topic> <pubId> <count> <minSize> <maxSize> <seed> <publish|loan>
 *       opens the topic as a publisher, prints "ready", publishes, prints "done <lastSeq>".
 *   topic-peer sub <topic> <pubs> <perPub> <untilSeq> <latest|oldest> <copy|zc> <go|hold>
 *       subscribes, prints "ready" (hold: then waits for a line on stdin), reads and checks every message;
 *       stops after perPub messages of every publisher (perPub > 0: nothing may be missing) or once it read
 *       seq >= untilSeq, or (both 0) at the end of the stream (no publisher left); prints
 *       "done read=<n> lost=<n> first=<seq> last=<seq> gaps=<n>".
 *   topic-peer loan <topic>
 *       opens the topic, loans 4000 bytes (holding the writers' lock), fills half, prints "loaned <seq>", waits to
 *       be killed.
 *   topic-peer single <topic>
 *       opens a single-publisher topic (so holds its writers' lock), publishes "alive", prints "publishing", waits
 *       to be killed.
 *   topic-peer flood <topic>
 *       publishes big checksummed messages (loan, fill, commit) forever; prints "flooding" after 3 (to be killed).
 * Every wait is bounded (30 s), so a broken run fails instead of hanging.
 */
#include <unistd.h>

#include "../channel_peer.h"

static void fill_message(uint8_t* m, size_t n, uint32_t pub, uint32_t index, uint64_t* rng) {
  for (size_t i = 12; i < n; i++) m[i] = (uint8_t)(peer_rand(rng) >> 56);
  peer_put32(m, pub);
  peer_put32(m + 4, index);
  peer_put32(m + 8, peer_crc32(m + 12, n - 12));
}

static int run_pub(char** a) {
  const char* name = a[0];
  uint32_t pub = (uint32_t)atoi(a[1]);
  long count = atol(a[2]);
  size_t min = (size_t)atol(a[3]), max = (size_t)atol(a[4]);
  uint64_t rng = (uint64_t)atoll(a[5]) * 0x9E3779B97F4A7C15ull + 1;
  int loan = strcmp(a[6], "loan") == 0;
  if (min < 12 || max < min) {
    fprintf(stderr, "sizes must be >= 12\n");
    return 1;
  }
  shmbus_topic* t = NULL;
  peer_check(shmbus_topic_open(name, &t), "shmbus_topic_open");
  uint8_t* scratch = (uint8_t*)malloc(max);
  peer_say("ready");
  uint64_t last = 0;
  for (long k = 0; k < count; k++) {
    size_t n = min + (size_t)(peer_rand(&rng) % (max - min + 1));
    if (loan) {
      shmbus_loan l;
      peer_check(shmbus_topic_loan(t, n, 30000, &l), "shmbus_topic_loan");
      fill_message((uint8_t*)l.data, n, pub, (uint32_t)k, &rng);
      peer_check(shmbus_topic_commit(t, n, &last), "shmbus_topic_commit");
    } else {
      fill_message(scratch, n, pub, (uint32_t)k, &rng);
      peer_check(shmbus_topic_publish_ex(t, scratch, n, 30000, &last), "shmbus_topic_publish");
    }
  }
  peer_say("done %llu", (unsigned long long)last);
  free(scratch);
  return shmbus_topic_close(t);
}

static int run_sub(char** a) {
  const char* name = a[0];
  uint32_t pubs = (uint32_t)atoi(a[1]);
  long per_pub = atol(a[2]);
  uint64_t until = (uint64_t)atoll(a[3]);
  int oldest = strcmp(a[4], "oldest") == 0;
  int zc = strcmp(a[5], "zc") == 0;
  int hold = strcmp(a[6], "hold") == 0;
  if (pubs == 0 || pubs > 64) return 1;
  shmbus_sub* s = NULL;
  peer_check(shmbus_topic_subscribe(name, oldest ? SHMBUS_FROM_OLDEST : SHMBUS_FROM_LATEST, &s), "shmbus_topic_subscribe");
  peer_say("ready");
  if (hold) {
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL) return 1;
  }
  long next[64] = {0};
  uint64_t read = 0, first = 0, last = 0, gaps = 0;
  size_t cap = 1 << 24;
  uint8_t* buf = (uint8_t*)malloc(cap);
  for (;;) {
    shmbus_msg m;
    int rc = zc ? shmbus_sub_read(s, &m, 30000) : shmbus_sub_read_copy(s, buf, cap, &m, 30000);
    if (rc == SHMBUS_EEND && per_pub == 0 && until == 0) break;
    if (rc == SHMBUS_EEND) {
      fprintf(stderr, "the stream ended (no publisher left) before the last message\n");
      return 1;
    }
    peer_check(rc, "shmbus_sub_read");
    const uint8_t* d = (const uint8_t*)m.data;
    int ok = m.size >= 12 && peer_crc32(d + 12, m.size - 12) == peer_get32(d + 8);
    uint32_t pub = m.size >= 12 ? peer_get32(d) : 0, index = m.size >= 12 ? peer_get32(d + 4) : 0;
    /* a zero-copy view overwritten while it was checked may look torn: valid() says so, and it is skipped */
    if (zc && !shmbus_msg_valid(s, &m)) continue;
    if (!ok) {
      fprintf(stderr, "seq %llu: torn (crc mismatch, %zu bytes), pub %u index %u\n", (unsigned long long)m.seq, m.size, pub, index);
      return 1;
    }
    if (m.seq <= last) {
      fprintf(stderr, "seq went backwards: %llu after %llu\n", (unsigned long long)m.seq, (unsigned long long)last);
      return 1;
    }
    if (first == 0) first = m.seq;
    last = m.seq;
    if (pub >= pubs) {
      fprintf(stderr, "unknown publisher %u\n", pub);
      return 1;
    }
    if ((long)index != next[pub]) {
      if (per_pub > 0 || (long)index < next[pub]) {
        fprintf(stderr, "publisher %u: got index %u, expected %ld (lost %llu)\n", pub, index, next[pub], (unsigned long long)shmbus_sub_lost(s));
        return 1;
      }
      gaps++;
    }
    next[pub] = (long)index + 1;
    read++;
    if (per_pub > 0) {
      uint32_t done = 0;
      for (uint32_t p = 0; p < pubs; p++) done += next[p] >= per_pub;
      if (done == pubs) break;
    }
    if (until > 0 && m.seq >= until) break;
  }
  peer_say("done read=%llu lost=%llu first=%llu last=%llu gaps=%llu", (unsigned long long)read, (unsigned long long)shmbus_sub_lost(s),
           (unsigned long long)first, (unsigned long long)last, (unsigned long long)gaps);
  free(buf);
  return shmbus_sub_close(s);
}

static int run_loan(char** a) {
  shmbus_topic* t = NULL;
  peer_check(shmbus_topic_open(a[0], &t), "shmbus_topic_open");
  shmbus_loan l;
  peer_check(shmbus_topic_loan(t, 4000, 30000, &l), "shmbus_topic_loan");
  memset(l.data, 0xee, 2000);
  peer_say("loaned %llu", (unsigned long long)l.seq);
  for (;;) pause();
  return 0;
}

static int run_single(char** a) {
  shmbus_topic* t = NULL;
  peer_check(shmbus_topic_open(a[0], &t), "shmbus_topic_open");
  peer_check(shmbus_topic_publish(t, "alive", 5), "shmbus_topic_publish");
  peer_say("publishing");
  for (;;) pause();
  return 0;
}

static int run_flood(char** a) {
  shmbus_topic* t = NULL;
  peer_check(shmbus_topic_open(a[0], &t), "shmbus_topic_open");
  size_t size = shmbus_topic_max_message_size(t);
  if (size > (1u << 20)) size = 1u << 20;
  uint64_t rng = 12345;
  for (uint32_t k = 0;; k++) {
    shmbus_loan l;
    peer_check(shmbus_topic_loan(t, size, 30000, &l), "shmbus_topic_loan");
    fill_message((uint8_t*)l.data, size, 0, k, &rng);
    peer_check(shmbus_topic_commit(t, size, NULL), "shmbus_topic_commit");
    if (k == 2) peer_say("flooding");
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 9 && strcmp(argv[1], "pub") == 0) return run_pub(argv + 2);
  if (argc >= 9 && strcmp(argv[1], "sub") == 0) return run_sub(argv + 2);
  if (argc >= 3 && strcmp(argv[1], "loan") == 0) return run_loan(argv + 2);
  if (argc >= 3 && strcmp(argv[1], "flood") == 0) return run_flood(argv + 2);
  if (argc >= 3 && strcmp(argv[1], "single") == 0) return run_single(argv + 2);
  fprintf(stderr, "usage: topic-peer pub|sub|loan|flood ... (see the comment at the top of topic-peer.c)\n");
  return 2;
}
