/*
 * identity.c: who this process is, and whether a recorded holder is alive (PROTOCOL §4.0). Every checker in the
 * C peer (locks, queue slots, rpc workers, the segment creator) judges a holder with sbi_holder_alive.
 */
#include "internal.h"

#include <pthread.h>

typedef struct identity_self {
  sbi_identity id;
  /* /proc numbers processes as our pid namespace does (false after `unshare --pid` without a new /proc). */
  int proc_is_ours;
} identity_self;

static identity_self identity_me;
static pthread_once_t identity_once = PTHREAD_ONCE_INIT;
/* The calling thread's gettid(), 0 until first asked. */
static SBI_THREAD_LOCAL uint32_t identity_tid;

static void identity_read(void) {
  char state;
  uint64_t start = 0;
  identity_me.id.pid = sbi_os_getpid();
  identity_me.id.start = sbi_os_proc_stat(0, &state, &start) == 0 ? start : 0;
  identity_me.id.ns = sbi_os_pid_ns();
  identity_me.proc_is_ours = sbi_os_proc_self_pid() == identity_me.id.pid;
}

/* A fork()ed child is another process: new pid and start time (the child has one thread, the forking one). */
static void identity_after_fork(void) {
  identity_read();
  identity_tid = 0;
}

static void identity_init(void) {
  identity_read();
  sbi_os_atfork_child(identity_after_fork);
}

const sbi_identity* sbi_self(void) {
  pthread_once(&identity_once, identity_init);
  return &identity_me.id;
}

uint32_t sbi_thread(void) {
  if (identity_tid == 0) identity_tid = sbi_os_gettid();
  return identity_tid;
}

int sbi_holder_alive(uint32_t pid, uint64_t start, uint32_t ns) {
  const sbi_identity* me = sbi_self();
  char state;
  uint64_t now_start = 0;
  /* 1. Nothing recorded. */
  if (pid == 0) return 0;
  /* 2. Another pid namespace: the number means nothing here; only that namespace can judge it. */
  if (ns != 0 && me->ns != 0 && ns != me->ns) return 1;
  /* 3. Our own pid: another thread of ours, unless the record is a dead process whose pid we now have. */
  if (pid == me->pid) return start == 0 || me->start == 0 || start == me->start;
  /* 4. No such process. */
  if (!sbi_os_pid_exists(pid)) return 0;
  /* 5. /proc of another namespace cannot judge our pids. */
  if (!identity_me.proc_is_ours) return 1;
  /* 6. Unreadable (hidepid, gone meanwhile): cannot judge, so alive. A zombie holds nothing. */
  if (sbi_os_proc_stat(pid, &state, &now_start) != 0) return 1;
  if (state == 'Z' || state == 'X') return 0;
  return start == 0 || now_start == start;
}

int sbi_liveness_option(uint32_t given, const char* what, uint32_t* out) {
  if (given > 0x7FFFFFFFu) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "%s: liveness_ms must be whole ms from 1 to 2^31-1 (got %u)", what, given);
  }
  if (given != 0) *out = given;
  return SHMBUS_OK;
}
