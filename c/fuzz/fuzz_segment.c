/*
 * libFuzzer target: every reader of shared memory in the C peer, over arbitrary segment contents. The input is laid
 * into a real shm object as a segment of the kind its first byte picks (the header's magic, version, state and
 * sizes fixed up unless the second byte says otherwise, so that most inputs get past the header into the kind's
 * own checks), then opened as that kind and used with calls that never wait (try-read, try-receive, read, try
 * locks, timeouts of 0). Every call must return 0 or a negative SHMBUS_E* code: ASan/UBSan catch an out-of-range
 * access, the libFuzzer timeout a hang. The object is unlinked after each input.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../shmbus.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static char name[64];
static char os_name[80];

static void put32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); } /* little-endian hosts only (as the protocol) */
static void put16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }
static void put64(uint8_t* p, uint64_t v) { memcpy(p, &v, 8); }

static int ok(int rc) { return rc == 0 || (rc < 0 && rc >= SHMBUS_EEND); }

#define CHECK(call)                                                                   \
  do {                                                                                \
    int rc_ = (call);                                                                 \
    if (!ok(rc_)) {                                                                   \
      fprintf(stderr, "%s returned %d (not an SHMBUS_E* code)\n", #call, rc_);        \
      abort();                                                                        \
    }                                                                                 \
  } while (0)

static void use_topic(void) {
  shmbus_sub* s = NULL;
  shmbus_sub_options so;
  memset(&so, 0, sizeof so);
  so.struct_size = sizeof so;
  so.from = SHMBUS_FROM_OLDEST;
  if (shmbus_topic_subscribe_ex(name, &so, &s) == 0) {
    uint8_t buf[256];
    shmbus_msg m;
    for (int i = 0; i < 4; i++) {
      int rc = shmbus_sub_try_read(s, &m);
      CHECK(rc);
      if (rc == 0 && m.size) (void)((volatile const uint8_t*)m.data)[m.size - 1];
      CHECK(shmbus_sub_read_copy(s, buf, sizeof buf, &m, 0));
    }
    uint32_t n;
    CHECK(shmbus_sub_publishers(s, &n));
    shmbus_sub_close(s);
  }
  shmbus_topic* t = NULL;
  if (shmbus_topic_open(name, &t) == 0) {
    CHECK(shmbus_topic_publish_ex(t, "fuzz", 4, 0, NULL));
    shmbus_topic_stats_t st;
    CHECK(shmbus_topic_stats(t, &st));
    shmbus_topic_close(t);
  }
}

static void use_queue(void) {
  shmbus_queue* q = NULL;
  if (shmbus_queue_open(name, &q) != 0) return;
  uint8_t buf[512];
  size_t len = 0;
  for (int i = 0; i < 2; i++) CHECK(shmbus_queue_try_receive(q, buf, sizeof buf, &len));
  CHECK(shmbus_queue_try_send(q, "fuzz", 4));
  shmbus_queue_stats st;
  CHECK(shmbus_queue_get_stats(q, &st));
  shmbus_queue_close(q);
}

static void use_mailbox(void) {
  shmbus_mailbox* mb = NULL;
  if (shmbus_mailbox_open(name, &mb) != 0) return;
  uint8_t buf[512];
  shmbus_mailbox_value v;
  CHECK(shmbus_mailbox_read(mb, buf, sizeof buf, &v));
  CHECK(shmbus_mailbox_write_ex(mb, "fuzz", 4, 0, NULL));
  CHECK(shmbus_mailbox_read(mb, buf, sizeof buf, &v));
  shmbus_mailbox_close(mb);
}

static void use_rpc(void) {
  shmbus_rpc_client* c = NULL;
  if (shmbus_rpc_connect(name, &c) != 0) return;
  uint8_t buf[256];
  size_t len = 0;
  CHECK(shmbus_rpc_request(c, "fuzz", 4, buf, sizeof buf, &len, 0));
  shmbus_rpc_client_close(c);
}

static void use_sync(int kind) {
  int rec = 0;
  if (kind == SHMBUS_KIND_MUTEX) {
    shmbus_mutex* m = NULL;
    if (shmbus_mutex_open(name, &m) != 0) return;
    if (shmbus_mutex_try_lock(m, &rec) == 0) CHECK(shmbus_mutex_unlock(m));
    shmbus_mutex_close(m);
  } else if (kind == SHMBUS_KIND_RWLOCK) {
    shmbus_rwlock* rw = NULL;
    if (shmbus_rwlock_open(name, &rw) != 0) return;
    if (shmbus_rwlock_try_read_lock(rw, &rec) == 0) CHECK(shmbus_rwlock_read_unlock(rw));
    if (shmbus_rwlock_try_write_lock(rw, &rec) == 0) CHECK(shmbus_rwlock_write_unlock(rw));
    shmbus_rwlock_close(rw);
  } else if (kind == SHMBUS_KIND_SEMAPHORE) {
    shmbus_semaphore* s = NULL;
    if (shmbus_semaphore_open(name, &s) != 0) return;
    if (shmbus_semaphore_try_acquire(s, &rec) == 0) CHECK(shmbus_semaphore_release(s, 1));
    (void)shmbus_semaphore_value(s);
    shmbus_semaphore_close(s);
  } else if (kind == SHMBUS_KIND_EVENT) {
    shmbus_event* e = NULL;
    if (shmbus_event_open(name, &e) != 0) return;
    CHECK(shmbus_event_wait(e, 0));
    CHECK(shmbus_event_set(e));
    CHECK(shmbus_event_wait(e, 0));
    shmbus_event_close(e);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  if (!name[0]) {
    snprintf(name, sizeof name, "fuzz-%ld", (long)getpid());
    snprintf(os_name, sizeof os_name, "/dev/shm/shmbus.%s", name);
  }
  int kind = 1 + data[0] % 8;
  int raw = (data[1] & 7) == 0; /* one input in 8 keeps its header as it is */
  data += 2;
  size -= 2;
  size_t total = size < SHMBUS_HEADER_SIZE ? SHMBUS_HEADER_SIZE : size;
  if (total > (1u << 20)) total = 1u << 20;
  uint8_t* img = (uint8_t*)calloc(1, total);
  memcpy(img, data, size < total ? size : total);
  if (!raw) {
    put32(img, SHMBUS_SEGMENT_MAGIC);
    put16(img + 4, SHMBUS_PROTOCOL_VERSION);
    put16(img + 6, (uint16_t)kind);
    put32(img + 8, 1); /* ready */
    put32(img + 12, SHMBUS_HEADER_SIZE);
    put64(img + 16, total);
    put64(img + 24, total - SHMBUS_HEADER_SIZE);
    put32(img + 32, (uint32_t)getpid()); /* a live creator: never judged stale or dying */
  } else if (img[8] == 0 && img[9] == 0 && img[10] == 0 && img[11] == 0) {
    img[8] = 1; /* "still initialising" would make every open wait its timeout (1 s): not a parser path */
  }
  int fd = open(os_name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) abort();
  if (write(fd, img, total) != (ssize_t)total) abort();
  close(fd);
  free(img);
  switch (kind) {
    case SHMBUS_KIND_TOPIC: use_topic(); break;
    case SHMBUS_KIND_QUEUE: use_queue(); break;
    case SHMBUS_KIND_MAILBOX: use_mailbox(); break;
    case SHMBUS_KIND_RPC: use_rpc(); break;
    default: use_sync(kind); break;
  }
  unlink(os_name);
  return 0;
}
