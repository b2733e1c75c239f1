/*
 * shmbus.c: the whole C library in one translation unit. Build a program with
 *   cc app.c path/to/c/shmbus.c -pthread
 * Compiles as C11 and as C++17. Every module is listed here (order: foundations first).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* syscall(), gettid, O_CLOEXEC, posix_fallocate, strnlen in os_posix.c */
#endif

#include "src/errors.c"
#include "src/os_posix.c"
#include "src/identity.c"
#include "src/park.c"
#include "src/segment.c"
#include "src/mutex.c"
#include "src/rwlock.c"
#include "src/semaphore.c"
#include "src/event.c"
#include "src/topic.c"
#include "src/mailbox.c"
#include "src/queue.c"
#include "src/rpc.c"
#include "src/frame.c"
#include "src/parts.c"
