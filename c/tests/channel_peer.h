/*
 * channel_peer.h: what the C peer programs of the Topic and Mailbox cross tests share (c/tests/peers/topic-peer.c,
 * mailbox-peer.c): the line protocol on stdout, crc32 (zlib's, as node:zlib crc32 computes it), a seeded random
 * generator and a monotonic clock. Test programs only: they may call the OS directly.
 */
#ifndef SHMBUS_CHANNEL_PEER_H
#define SHMBUS_CHANNEL_PEER_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmbus.h"

/* One line on stdout, flushed at once (the Node side waits for it). */
__attribute__((format(printf, 1, 2), unused)) static void peer_say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* Exits 1 with the call, its code and the library's message on stderr. */
__attribute__((unused)) static void peer_check(int rc, const char* what) {
  if (rc == 0) return;
  fprintf(stderr, "%s: %d %s: %s\n", what, rc, shmbus_error_code(rc), shmbus_last_error_message());
  exit(1);
}

__attribute__((unused)) static uint32_t peer_crc32(const uint8_t* p, size_t n) {
  static uint32_t table[256];
  if (table[1] == 0) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
  }
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

/* xorshift64*: a seeded generator (sizes, filler bytes). */
__attribute__((unused)) static uint64_t peer_rand(uint64_t* state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

__attribute__((unused)) static int64_t peer_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void peer_put32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }
static inline uint32_t peer_get32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

#endif
