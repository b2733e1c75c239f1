/*
 * Writes the seed corpus of fuzz_segment: one real segment of every kind, made by the C library with some traffic
 * in it (published messages, queued messages, a mailbox value, a served rpc table), as [kind][1][segment bytes].
 * usage: gen_seeds <dir>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../shmbus.h"

static char name[64];

static void save(const char* dir, int kind, const char* suffix) {
  char path[512], os[128];
  snprintf(os, sizeof os, "/dev/shm/shmbus.%s", name);
  FILE* in = fopen(os, "rb");
  if (!in) exit(1);
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, in);
  fclose(in);
  snprintf(path, sizeof path, "%s/seed-%d-%s", dir, kind, suffix);
  FILE* out = fopen(path, "wb");
  uint8_t head[2] = {(uint8_t)(kind - 1), 1};
  fwrite(head, 1, 2, out);
  fwrite(buf, 1, n, out);
  fclose(out);
}

static int echo(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply) {
  (void)ctx, (void)req, (void)reply;
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const char* dir = argv[1];
  snprintf(name, sizeof name, "fuzzseed-%ld", (long)getpid());
  shmbus_topic* t;
  if (shmbus_topic_create(name, 2048, 256, &t)) return 1;
  for (int i = 0; i < 20; i++) shmbus_topic_publish(t, "hello topic message", 5 + (size_t)i % 15);
  save(dir, SHMBUS_KIND_TOPIC, "a");
  shmbus_topic_close(t);
  shmbus_topic_unlink(name);
  shmbus_queue* q;
  if (shmbus_queue_create(name, 4, 64, &q)) return 1;
  shmbus_queue_send(q, "one", 3, 0);
  shmbus_queue_send(q, "two", 3, 0);
  save(dir, SHMBUS_KIND_QUEUE, "a");
  shmbus_queue_close(q);
  shmbus_queue_unlink(name);
  shmbus_mailbox* mb;
  if (shmbus_mailbox_create(name, 64, &mb)) return 1;
  shmbus_mailbox_write(mb, "value", 5);
  save(dir, SHMBUS_KIND_MAILBOX, "a");
  shmbus_mailbox_close(mb);
  shmbus_mailbox_unlink(name);
  shmbus_rpc_server* s;
  shmbus_rpc_serve_options so;
  memset(&so, 0, sizeof so);
  so.struct_size = sizeof so;
  so.max_message_size = 64;
  so.slots = 2;
  if (shmbus_rpc_serve(name, echo, NULL, &so, &s)) return 1;
  save(dir, SHMBUS_KIND_RPC, "a");
  shmbus_rpc_server_close(s);
  shmbus_rpc_unlink(name);
  shmbus_mutex* m;
  if (shmbus_mutex_create(name, &m)) return 1;
  save(dir, SHMBUS_KIND_MUTEX, "free");
  shmbus_mutex_lock(m, 0, NULL);
  save(dir, SHMBUS_KIND_MUTEX, "held");
  shmbus_mutex_close(m);
  shmbus_mutex_unlink(name);
  shmbus_rwlock* rw;
  if (shmbus_rwlock_create(name, &rw)) return 1;
  shmbus_rwlock_read_lock(rw, 0, NULL);
  save(dir, SHMBUS_KIND_RWLOCK, "read");
  shmbus_rwlock_close(rw);
  shmbus_rwlock_unlink(name);
  shmbus_semaphore* sem;
  if (shmbus_semaphore_create(name, 2, &sem)) return 1;
  shmbus_semaphore_acquire(sem, 0, NULL);
  save(dir, SHMBUS_KIND_SEMAPHORE, "a");
  shmbus_semaphore_close(sem);
  shmbus_semaphore_unlink(name);
  shmbus_event* e;
  if (shmbus_event_create(name, 0, &e)) return 1;
  save(dir, SHMBUS_KIND_EVENT, "a");
  shmbus_event_close(e);
  shmbus_event_unlink(name);
  return 0;
}
