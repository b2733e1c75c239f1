/*
 * queue-peer.c: the C side of the Queue cross tests (test/cross/queue.test.ts). One role per run, chosen by argv;
 * it prints "ready" once the queue is open, then its result line. Messages are those of the Node fixtures
 * (test/fixtures/queue-msg.ts): [u32 producer][u32 seq][u32 fnv1a checksum][pattern], or the text records of
 * test/fixtures/queue-stream.ts.
 *   produce <name> <id> <count> <size>         sends count checksummed messages; "done <id> <count>"
 *   consume <name> <tally> <perProducer>       receives until the end of the stream, checks each message and the
 *                                              order per producer, marks (id, seq) in the raw tally segment;
 *                                              "consumed <n>"
 *   stream <server|client> <name> <count>      the queue-stream fixture's roles: "sent <n>" / "got <n> end"
 *   stuck <name>                               sends "before", then claims a slot and stops halfway through
 *                                              writing it: "stuck" (the test kills it with -9)
 *   recv <name> <n>                            receives n text messages, printing "got <text>" for each, then
 *                                              "stats abandoned=<a> lost=<l>"
 * Zero-copy roles (loans and views, test/cross/queue-zero-copy.test.ts):
 *   zc-produce <name> <id> <count> <size>      sends count checksummed messages written in loaned slots; "done .."
 *   zc-consume <name> <count>                  receives count messages as views, checks each in place;
 *                                              "consumed <n> <sum of seqs>"
 *   zc-loan-stuck <name> <n>                   sends n messages (producer 9) through loans, then loans one more
 *                                              slot, writes half of it and prints "stuck" (the test kills it)
 *   zc-view-stuck <name>                       takes one message as a view, prints "holding <id> <seq>" and stays
 */
#include "src/queue_ring.h"
#include "../channel_peer.h"

#include <signal.h>
#include <unistd.h>

static uint32_t fnv1a(const uint8_t* p, size_t from, size_t to, uint32_t seed) {
  uint32_t h = seed;
  for (size_t i = from; i < to; i++) h = (h ^ p[i]) * 0x01000193u;
  return h;
}

static void fill_message(uint8_t* buf, size_t size, uint32_t id, uint32_t seq) {
  peer_put32(buf, id);
  peer_put32(buf + 4, seq);
  for (size_t i = 12; i < size; i++) buf[i] = (uint8_t)(id * 7 + seq + i);
  peer_put32(buf + 8, fnv1a(buf, 12, size, fnv1a(buf, 0, 8, 0x811c9dc5u)));
}

static int check_message(const uint8_t* buf, size_t size, uint32_t* id, uint32_t* seq) {
  if (size < 12) return 0;
  *id = peer_get32(buf);
  *seq = peer_get32(buf + 4);
  return fnv1a(buf, 12, size, fnv1a(buf, 0, 8, 0x811c9dc5u)) == peer_get32(buf + 8);
}

static void record(uint32_t i, char* out, size_t cap) {
  snprintf(out, cap, "/data/photos/2024/img-%06u.jpg\t%u\t%u", i, (unsigned)((i * 7919ull) % 5000000u),
           1700000000u + i);
}

static int produce(const char* name, uint32_t id, uint32_t count, size_t size) {
  shmbus_queue* q = NULL;
  uint8_t* buf = (uint8_t*)malloc(size);
  peer_check(shmbus_queue_open(name, &q), "open");
  peer_say("ready");
  for (uint32_t seq = 0; seq < count; seq++) {
    fill_message(buf, size, id, seq);
    peer_check(shmbus_queue_send(q, buf, size, 30000), "send");
  }
  peer_say("done %u %u", id, count);
  shmbus_queue_close(q);
  free(buf);
  return 0;
}

static int consume(const char* name, const char* tally_name, uint32_t per) {
  shmbus_queue* q = NULL;
  shmbus_segment* tally = NULL;
  uint32_t last[256];
  uint8_t buf[65536];
  uint64_t n = 0;
  peer_check(shmbus_queue_open(name, &q), "open");
  peer_check(shmbus_segment_open(tally_name, &tally), "open tally");
  uint8_t* marks = (uint8_t*)shmbus_segment_data(tally);
  size_t marks_len = shmbus_segment_size(tally);
  for (int i = 0; i < 256; i++) last[i] = UINT32_MAX;
  peer_say("ready");
  for (;;) {
    size_t len = 0;
    uint32_t id = 0, seq = 0;
    int rc = shmbus_queue_receive(q, buf, sizeof buf, &len, 30000);
    if (rc == SHMBUS_EEND) break;
    peer_check(rc, "receive");
    if (!check_message(buf, len, &id, &seq)) {
      fprintf(stderr, "checksum mismatch in message %u/%u\n", id, seq);
      return 1;
    }
    if (id >= 256 || seq >= per || (size_t)id * per + seq >= marks_len) {
      fprintf(stderr, "message %u/%u out of range\n", id, seq);
      return 1;
    }
    if (last[id] != UINT32_MAX && seq <= last[id]) {
      fprintf(stderr, "producer %u: seq %u after %u\n", id, seq, last[id]);
      return 1;
    }
    last[id] = seq;
    /* Relaxed is enough: the test reads the tally after every consumer exited. */
    __atomic_fetch_add(&marks[(size_t)id * per + seq], 1, __ATOMIC_RELAXED);
    n++;
  }
  peer_say("consumed %llu", (unsigned long long)n);
  shmbus_segment_close(tally);
  shmbus_queue_close(q);
  return 0;
}

static int stream(const char* role, const char* name, uint32_t count) {
  shmbus_queue* q = NULL;
  char want[256], got[257];
  peer_check(shmbus_queue_open_or_create(name, 256, 256, &q), "open_or_create");
  peer_say("ready");
  if (strcmp(role, "server") == 0) {
    for (uint32_t i = 0; i < count; i++) {
      record(i, want, sizeof want);
      peer_check(shmbus_queue_send_ex(q, want, strlen(want), SHMBUS_MSG_TEXT, 30000), "send");
    }
    peer_check(shmbus_queue_end(q), "end");
    peer_say("sent %u", count);
  } else {
    uint32_t n = 0;
    for (;;) {
      size_t len = 0;
      uint32_t flags = 0;
      int rc = shmbus_queue_receive_ex(q, got, sizeof got - 1, &len, &flags, 30000);
      if (rc == SHMBUS_EEND) break;
      peer_check(rc, "receive");
      got[len] = 0;
      record(n, want, sizeof want);
      if (strcmp(got, want) != 0 || flags != SHMBUS_MSG_TEXT) {
        fprintf(stderr, "record %u: got \"%s\" (flags %u), want \"%s\"\n", n, got, flags, want);
        return 1;
      }
      n++;
    }
    peer_say("got %u end", n);
  }
  shmbus_queue_close(q);
  return 0;
}

static int stuck_writer(void* ctx, uint8_t* body, uint32_t cap, uint32_t* len) {
  (void)ctx;
  (void)cap;
  (void)len;
  body[0] = 0xde;
  body[1] = 0xad;
  peer_say("stuck");
  for (;;) {
    if (pause() == 12345) break; /* never: pause returns only -1 */
  }
  return 1;
}

static int stuck(const char* name) {
  shmbus_queue* q = NULL;
  shmbus_segment* seg = NULL;
  sbi_ring r;
  peer_check(shmbus_queue_open(name, &q), "open");
  peer_check(shmbus_queue_send_ex(q, "before", 6, SHMBUS_MSG_TEXT, 5000), "send");
  peer_check(shmbus_segment_open(name, &seg), "open segment");
  const uint32_t* p = shmbus_segment_params(seg);
  sbi_ring_attach(&r, (uint8_t*)shmbus_segment_data(seg), p[0], p[1], name, 0, 50);
  peer_check(sbi_ring_try_write(&r, stuck_writer, NULL, 0), "claim");
  return 1; /* the writer never returns */
}

static int recv_n(const char* name, uint32_t n) {
  shmbus_queue* q = NULL;
  char buf[4097];
  shmbus_queue_stats st;
  peer_check(shmbus_queue_open(name, &q), "open");
  peer_say("ready");
  for (uint32_t i = 0; i < n; i++) {
    size_t len = 0;
    peer_check(shmbus_queue_receive(q, buf, sizeof buf - 1, &len, 20000), "receive");
    buf[len] = 0;
    peer_say("got %s", buf);
  }
  peer_check(shmbus_queue_get_stats(q, &st), "stats");
  peer_say("stats abandoned=%u lost=%u", st.abandoned, st.lost);
  shmbus_queue_close(q);
  return 0;
}

static int zc_produce(const char* name, uint32_t id, uint32_t count, size_t size) {
  shmbus_queue* q = NULL;
  peer_check(shmbus_queue_open(name, &q), "open");
  peer_say("ready");
  for (uint32_t seq = 0; seq < count; seq++) {
    shmbus_qloan loan;
    peer_check(shmbus_queue_loan(q, size, 30000, &loan), "loan");
    fill_message((uint8_t*)loan.data, size, id, seq);
    peer_check(shmbus_queue_commit(q, &loan, size, 0), "commit");
  }
  peer_say("done %u %u", id, count);
  shmbus_queue_close(q);
  return 0;
}

static int zc_consume(const char* name, uint32_t count) {
  shmbus_queue* q = NULL;
  uint64_t sum = 0;
  uint32_t n = 0;
  peer_check(shmbus_queue_open(name, &q), "open");
  peer_say("ready");
  for (; n < count; n++) {
    shmbus_qview v;
    uint32_t id = 0, seq = 0;
    int rc = shmbus_queue_receive_view(q, &v, 30000);
    if (rc == SHMBUS_EEND) break;
    peer_check(rc, "receive_view");
    if (!check_message((const uint8_t*)v.data, v.size, &id, &seq)) {
      fprintf(stderr, "checksum mismatch in message %u/%u\n", id, seq);
      return 1;
    }
    sum += seq;
    peer_check(shmbus_queue_release(q, &v), "release");
  }
  peer_say("consumed %u %llu", n, (unsigned long long)sum);
  shmbus_queue_close(q);
  return 0;
}

static int zc_loan_stuck(const char* name, uint32_t n) {
  shmbus_queue* q = NULL;
  shmbus_qloan loan;
  peer_check(shmbus_queue_open(name, &q), "open");
  for (uint32_t seq = 0; seq < n; seq++) {
    peer_check(shmbus_queue_loan(q, 64, 5000, &loan), "loan");
    fill_message((uint8_t*)loan.data, 64, 9, seq);
    peer_check(shmbus_queue_commit(q, &loan, 64, 0), "commit");
  }
  peer_check(shmbus_queue_loan(q, 64, 5000, &loan), "loan");
  memset(loan.data, 0xee, 32);
  peer_say("stuck");
  for (;;) {
    if (pause() == 12345) break; /* never: pause returns only -1 */
  }
  return 1;
}

static int zc_view_stuck(const char* name) {
  shmbus_queue* q = NULL;
  shmbus_qview v;
  uint32_t id = 0, seq = 0;
  peer_check(shmbus_queue_open(name, &q), "open");
  peer_check(shmbus_queue_receive_view(q, &v, 20000), "receive_view");
  if (!check_message((const uint8_t*)v.data, v.size, &id, &seq)) return 1;
  peer_say("holding %u %u", id, seq);
  for (;;) {
    if (pause() == 12345) break;
  }
  return 1;
}

int main(int argc, char** argv) {
  const char* role = argc > 1 ? argv[1] : "";
  if (strcmp(role, "produce") == 0 && argc == 6) {
    return produce(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), (size_t)atoi(argv[5]));
  }
  if (strcmp(role, "consume") == 0 && argc == 5) return consume(argv[2], argv[3], (uint32_t)atoi(argv[4]));
  if (strcmp(role, "stream") == 0 && argc == 5) return stream(argv[2], argv[3], (uint32_t)atoi(argv[4]));
  if (strcmp(role, "stuck") == 0 && argc == 3) return stuck(argv[2]);
  if (strcmp(role, "recv") == 0 && argc == 4) return recv_n(argv[2], (uint32_t)atoi(argv[3]));
  if (strcmp(role, "zc-produce") == 0 && argc == 6) {
    return zc_produce(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), (size_t)atoi(argv[5]));
  }
  if (strcmp(role, "zc-consume") == 0 && argc == 4) return zc_consume(argv[2], (uint32_t)atoi(argv[3]));
  if (strcmp(role, "zc-loan-stuck") == 0 && argc == 4) return zc_loan_stuck(argv[2], (uint32_t)atoi(argv[3]));
  if (strcmp(role, "zc-view-stuck") == 0 && argc == 3) return zc_view_stuck(argv[2]);
  fprintf(stderr, "usage: queue-peer produce|consume|stream|stuck|recv ... (see the source)\n");
  return 2;
}
