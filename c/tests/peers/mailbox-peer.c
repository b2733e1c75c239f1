/*
 * mailbox-peer: the C side of the Mailbox cross tests (test/cross/mailbox.test.ts), the counterpart of the Node
 * fixture test/fixtures/mailbox-peer.ts. Values are [u32 crc32 of bytes 4..][u32 counter][random bytes].
 *
 * usage: mailbox-peer <mode> <mailbox> [arg]
 *   writer <count>: writes <count> 1 MiB values as fast as it can, then "STOP"; prints "done writes=<n>".
 *   reader: prints "ready", reads in a loop checking every value's crc until it reads "STOP"; prints
 *           "done reads=<n> versions=<n>" (exit 1 on a torn value).
 *   watcher <since>: prints "waiting", waits for a version > since, prints "changed <version> <text>".
 *   hold: takes the writers' lock (payload offset 0), prints "holding", waits to be killed.
 */
#include <unistd.h>

#include "../channel_peer.h"

#define VALUE (1u << 20)

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mailbox-peer writer|reader|watcher|hold <mailbox> [arg]\n");
    return 2;
  }
  const char* mode = argv[1];
  const char* name = argv[2];
  if (strcmp(mode, "hold") == 0) {
    shmbus_segment* seg = NULL;
    shmbus_mutex* m = NULL;
    peer_check(shmbus_segment_open(name, &seg), "shmbus_segment_open");
    peer_check(shmbus_mutex_embed(seg, 0, NULL, &m), "shmbus_mutex_embed");
    peer_check(shmbus_mutex_lock(m, 30000, NULL), "shmbus_mutex_lock");
    peer_say("holding");
    for (;;) pause();
  }
  shmbus_mailbox* mb = NULL;
  peer_check(shmbus_mailbox_open(name, &mb), "shmbus_mailbox_open");
  uint8_t* buf = (uint8_t*)malloc(VALUE);
  if (strcmp(mode, "writer") == 0 && argc >= 4) {
    long count = atol(argv[3]);
    uint64_t rng = 99;
    for (long n = 0; n < count; n++) {
      for (size_t i = 8; i < VALUE; i += 8) {
        uint64_t r = peer_rand(&rng);
        memcpy(buf + i, &r, 8);
      }
      peer_put32(buf + 4, (uint32_t)n);
      peer_put32(buf, peer_crc32(buf + 4, VALUE - 4));
      peer_check(shmbus_mailbox_write_ex(mb, buf, VALUE, 30000, NULL), "shmbus_mailbox_write");
    }
    peer_check(shmbus_mailbox_write(mb, "STOP", 4), "shmbus_mailbox_write");
    peer_say("done writes=%ld", count);
  } else if (strcmp(mode, "reader") == 0) {
    peer_say("ready");
    uint64_t reads = 0, versions = 0, last = UINT64_MAX;
    int64_t deadline = peer_now_ns() + 60000000000ll;
    for (;;) {
      shmbus_mailbox_value v;
      peer_check(shmbus_mailbox_read(mb, buf, VALUE, &v), "shmbus_mailbox_read");
      reads++;
      if (v.version != last) versions++;
      last = v.version;
      if (v.size == 4 && memcmp(buf, "STOP", 4) == 0) break;
      if (v.size != 0 && (v.size < 8 || peer_crc32(buf + 4, v.size - 4) != peer_get32(buf))) {
        fprintf(stderr, "torn value at version %llu\n", (unsigned long long)v.version);
        return 1;
      }
      if (peer_now_ns() > deadline) {
        fprintf(stderr, "no STOP within 60 s\n");
        return 1;
      }
    }
    peer_say("done reads=%llu versions=%llu", (unsigned long long)reads, (unsigned long long)versions);
  } else if (strcmp(mode, "watcher") == 0 && argc >= 4) {
    peer_say("waiting");
    uint64_t version = 0;
    peer_check(shmbus_mailbox_wait_changed(mb, (uint64_t)atoll(argv[3]), 30000, &version), "shmbus_mailbox_wait_changed");
    shmbus_mailbox_value v;
    peer_check(shmbus_mailbox_read(mb, buf, VALUE, &v), "shmbus_mailbox_read");
    peer_say("changed %llu %.*s", (unsigned long long)version, (int)v.size, (const char*)buf);
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  free(buf);
  return shmbus_mailbox_close(mb);
}
