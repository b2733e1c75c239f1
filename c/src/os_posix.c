/*
 * os_posix.c: every OS call of the C peer (Linux: shm_open/mmap, futex, /proc). Nothing else in c/src includes
 * an OS header beyond libc and pthreads, so a Windows os_win32.c can provide the same sbi_os_* functions.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

/* ---- errno -> shmbus codes -------------------------------------------------------------------------------- */

static int os_code(int err) {
  switch (err) {
    case ENOENT: return SHMBUS_ESHM_NOT_FOUND;
    case EEXIST: return SHMBUS_ESHM_EXISTS;
    case EACCES:
    case EPERM:
    case EROFS: return SHMBUS_ESHM_PERMISSION;
    case ENOSPC:
    case ENOMEM:
    case EFBIG:
    case EDQUOT: return SHMBUS_ESHM_NO_SPACE;
    default: return SHMBUS_EOS;
  }
}

/* Fails with the code of `err`, naming the system call and the object (the caller's remedy depends on both). */
static int os_fail(int err, const char* syscall_name, const char* object) {
  return sbi_fail(os_code(err), "%s(\"%s\") failed: %s", syscall_name, object, strerror(err));
}

/* ---- time ------------------------------------------------------------------------------------------------- */

int64_t sbi_os_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* sched_yield() unless this thread may run on one CPU only and has spun less than SBI_PINNED_YIELD_AFTER_NS (see
   internal.h); the affinity is re-read every 1024 calls. The addon's yieldCpu(late) is the same. */
void sbi_os_yield(int64_t spun_ns) {
  static SBI_THREAD_LOCAL uint32_t calls = 0;
  static SBI_THREAD_LOCAL int pinned = 0;
  if ((calls++ & 1023u) == 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    pinned = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) == 1;
  }
  if (!pinned || spun_ns >= SBI_PINNED_YIELD_AFTER_NS) sched_yield();
}

uint64_t sbi_os_epoch_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t sbi_deadline(int64_t timeout_ms) {
  const int64_t now = sbi_os_now_ns();
  /* Anything that would overflow the nanosecond clock (about 292 years) is forever, never a wrapped past. */
  if (timeout_ms < 0 || timeout_ms > (INT64_MAX - now) / 1000000) return INT64_MAX;
  return now + timeout_ms * 1000000;
}

int64_t sbi_left_ms(int64_t deadline) {
  int64_t left;
  if (sbi_park_captured()) return 0; /* park capture: the call ends where it would have slept */
  if (deadline == INT64_MAX) return -1;
  left = deadline - sbi_os_now_ns();
  if (left <= 0) return 0;
  return (left + 999999) / 1000000; /* rounded up: a wait never ends before its deadline */
}

void sbi_os_sleep_ms(int64_t ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void sbi_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

/* ---- mappings --------------------------------------------------------------------------------------------- */

static size_t os_page_size(void) {
  static size_t page;
  /* Relaxed: every thread computes the same value; the atomics only keep the cache free of a data race. */
  size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);
  if (p == 0) {
    p = (size_t)sysconf(_SC_PAGESIZE);
    __atomic_store_n(&page, p, __ATOMIC_RELAXED);
  }
  return p;
}

/* Maps `length` bytes at file offset `offset` (any offset: the page part below it is mapped and skipped).
   Read-only mappings are private copy-on-write rather than PROT_READ, so a stray write changes this process's
   copy instead of raising SIGSEGV. */
static int os_map_fd(int fd, uint64_t offset, size_t length, int writable, const char* what, sbi_map* out) {
  const uint64_t aligned = offset - offset % os_page_size();
  const size_t delta = (size_t)(offset - aligned);
  /* A zero-length mmap is EINVAL: map one page so that an empty window still has an address (never touched). */
  const size_t map_len = length + delta == 0 ? os_page_size() : length + delta;
  void* p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, writable ? MAP_SHARED : MAP_PRIVATE, fd, (off_t)aligned);
  if (p == MAP_FAILED) return os_fail(errno, "mmap", what);
  out->base = SBI_CAST(uint8_t*, p);
  out->map_len = map_len;
  out->data = out->base + delta;
  out->len = length;
  return SHMBUS_OK;
}

static int os_ftruncate(int fd, uint64_t size) {
  int rc;
  do rc = ftruncate(fd, (off_t)size);
  while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : errno;
}

/* Reserves every page now, so a full /dev/shm fails the create instead of a later write with SIGBUS.
   posix_fallocate returns its error; EINTR (a signal arrived meanwhile) is retried; a file system that cannot
   reserve (EOPNOTSUPP, EINVAL) is accepted, as Node does. */
static int os_reserve(int fd, uint64_t size) {
  int rc;
  if (size == 0) return 0;
  do rc = posix_fallocate(fd, 0, (off_t)size);
  while (rc == EINTR);
  return rc == EOPNOTSUPP || rc == EINVAL ? 0 : rc;
}

int sbi_os_shm_create(const char* os_name, unsigned mode, size_t size, sbi_map* out) {
  int err = 0;
  const char* step = NULL;
  int rc;
  int fd = shm_open(os_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
  if (fd < 0) return os_fail(errno, "shm_open", os_name);
  /* shm_open applied the umask: fchmod makes the requested mode exact (0600 stays 0600, 0660 stays 0660). */
  if (fchmod(fd, (mode_t)mode) != 0) {
    err = errno;
    step = "fchmod";
  } else if ((err = os_ftruncate(fd, size)) != 0) {
    step = "ftruncate";
  } else if ((err = os_reserve(fd, size)) != 0) {
    step = "posix_fallocate";
  }
  if (step != NULL) {
    close(fd);
    shm_unlink(os_name);
    return os_fail(err, step, os_name);
  }
  rc = os_map_fd(fd, 0, size, 1, os_name, out);
  close(fd);
  if (rc != SHMBUS_OK) shm_unlink(os_name);
  return rc;
}

/* Opens an existing object and reads its size: the one place that decides how big a mapping may be. */
static int os_shm_open_sized(const char* os_name, int writable, int* fd_out, uint64_t* size) {
  struct stat st;
  int fd = shm_open(os_name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
  if (fd < 0) return os_fail(errno, "shm_open", os_name);
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return os_fail(err, "fstat", os_name);
  }
  *fd_out = fd;
  *size = (uint64_t)st.st_size;
  return SHMBUS_OK;
}

int sbi_os_shm_size(const char* os_name, uint64_t* size) {
  int fd = -1;
  int rc = os_shm_open_sized(os_name, 0, &fd, size);
  if (rc == SHMBUS_OK) close(fd);
  return rc;
}

int sbi_os_shm_map(const char* os_name, size_t len, int writable, sbi_map* out) {
  int fd = -1;
  uint64_t size = 0;
  int rc = os_shm_open_sized(os_name, writable, &fd, &size);
  if (rc != SHMBUS_OK) return rc;
  if (len > size) {
    close(fd);
    return sbi_fail(SHMBUS_EINVAL_ARG, "shm object \"%s\" has %llu bytes; cannot map %llu", os_name,
                    (unsigned long long)size, (unsigned long long)len);
  }
  if (size > SIZE_MAX) {
    close(fd);
    return sbi_fail(SHMBUS_ESHM_CORRUPT, "shm object \"%s\" is too large to map", os_name);
  }
  /* Always the fstat size (or less), never a size read from the object: mapping past the end would SIGBUS. */
  rc = os_map_fd(fd, 0, len == 0 ? (size_t)size : len, writable, os_name, out);
  close(fd);
  return rc;
}

int sbi_os_shm_unlink(const char* os_name) {
  if (shm_unlink(os_name) != 0) return os_fail(errno, "shm_unlink", os_name);
  return SHMBUS_OK;
}

int sbi_os_file_map(const char* path, uint64_t offset, uint64_t length, int writable, sbi_map* out) {
  struct stat st;
  uint64_t file_size;
  int rc;
  int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return os_fail(errno, "open", path);
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return os_fail(err, "fstat", path);
  }
  file_size = (uint64_t)st.st_size;
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return sbi_fail(SHMBUS_EINVAL_ARG, "\"%s\" is not a regular file", path);
  }
  if (length == UINT64_MAX) length = offset <= file_size ? file_size - offset : 0;
  /* The window must lie inside the file: a mapping past its end faults on access. */
  if (offset > file_size || length > file_size - offset || length > SIZE_MAX) {
    close(fd);
    return sbi_fail(SHMBUS_EINVAL_ARG, "window [%llu, +%llu) lies past the end of \"%s\" (%llu bytes)",
                    (unsigned long long)offset, (unsigned long long)length, path, (unsigned long long)file_size);
  }
  rc = os_map_fd(fd, offset, (size_t)length, writable, path, out);
  close(fd);
  return rc;
}

int sbi_os_flush(const sbi_map* m) {
  if (m->base == NULL) return SHMBUS_OK;
  if (msync(m->base, m->map_len, MS_SYNC) != 0) return os_fail(errno, "msync", "mapping");
  return SHMBUS_OK;
}

void sbi_os_unmap(sbi_map* m) {
  if (m->base != NULL) munmap(m->base, m->map_len);
  m->base = NULL;
  m->data = NULL;
  m->map_len = 0;
  m->len = 0;
}

/* ---- listing /dev/shm ------------------------------------------------------------------------------------- */

#define OS_SHM_DIR "/dev/shm"
#define OS_PREFIX "shmbus."

/* Size and the first bytes of one entry; an entry this process may not open is reported with size 0. */
static void os_read_entry(int dir_fd, const char* entry, sbi_shm_entry_fn fn, void* ctx) {
  uint8_t head[SHMBUS_HEADER_SIZE];
  ssize_t got = 0;
  uint64_t size = 0;
  uint64_t mtime_ms = 0;
  struct stat st;
  int fd;
  if (fstatat(dir_fd, entry, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return;
  mtime_ms = (uint64_t)st.st_mtim.tv_sec * 1000u + (uint64_t)st.st_mtim.tv_nsec / 1000000u;
  fd = openat(dir_fd, entry, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    if (fstat(fd, &st) == 0) size = (uint64_t)st.st_size;
    do got = pread(fd, head, sizeof head, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0) got = 0;
    close(fd);
  }
  fn(entry, size, head, (size_t)got, mtime_ms, ctx);
}

int sbi_os_shm_foreach(sbi_shm_entry_fn fn, void* ctx) {
  struct dirent* e;
  DIR* d = opendir(OS_SHM_DIR);
  if (d == NULL && errno == ENOENT) return SHMBUS_OK; /* no /dev/shm: no segments */
  if (d == NULL) return os_fail(errno, "opendir", OS_SHM_DIR);
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, OS_PREFIX, strlen(OS_PREFIX)) != 0) continue;
    os_read_entry(dirfd(d), e->d_name, fn, ctx);
  }
  closedir(d);
  return SHMBUS_OK;
}

/* The set of /dev/shm/shmbus.* entries some process maps: a sorted array of names. */
struct sbi_mapped_set {
  char** names;
  size_t count;
  size_t cap;
};

static int os_mapped_add(sbi_mapped_set* set, const char* name, size_t len) {
  char* copy;
  if (set->count == set->cap) {
    size_t cap = set->cap ? set->cap * 2 : 64;
    char** grown = SBI_CAST(char**, realloc(set->names, cap * sizeof *grown));
    if (grown == NULL) return -1;
    set->names = grown;
    set->cap = cap;
  }
  copy = SBI_CAST(char*, malloc(len + 1));
  if (copy == NULL) return -1;
  memcpy(copy, name, len);
  copy[len] = '\0';
  set->names[set->count++] = copy;
  return 0;
}

/* One line of /proc/<pid>/maps: "... /dev/shm/shmbus.x" (a mapping of an unlinked object ends "(deleted)"). */
static void os_scan_maps_line(sbi_mapped_set* set, const char* line) {
  static const char marker[] = OS_SHM_DIR "/" OS_PREFIX;
  static const char deleted[] = " (deleted)";
  const char* hit = strstr(line, marker);
  size_t len;
  if (hit == NULL) return;
  hit += strlen(OS_SHM_DIR "/");
  len = strcspn(hit, "\n");
  if (len >= sizeof deleted - 1 && strncmp(hit + len - (sizeof deleted - 1), deleted, sizeof deleted - 1) == 0) return;
  os_mapped_add(set, hit, len);
}

static int os_cmp_names(const void* a, const void* b) {
  return strcmp(*SBI_CAST(char* const*, a), *SBI_CAST(char* const*, b));
}

sbi_mapped_set* sbi_os_mapped_scan(void) {
  char path[64];
  char line[4096];
  struct dirent* e;
  DIR* d;
  sbi_mapped_set* set = SBI_CAST(sbi_mapped_set*, calloc(1, sizeof *set));
  if (set == NULL) return NULL;
  d = opendir("/proc");
  if (d == NULL) return set;
  while ((e = readdir(d)) != NULL) {
    FILE* f;
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%.20s/maps", e->d_name);
    f = fopen(path, "re");
    if (f == NULL) continue; /* gone meanwhile, or another user's process */
    while (fgets(line, sizeof line, f) != NULL) os_scan_maps_line(set, line);
    fclose(f);
  }
  closedir(d);
  if (set->count > 1) qsort(set->names, set->count, sizeof set->names[0], os_cmp_names);
  return set;
}

int sbi_os_mapped_has(const sbi_mapped_set* set, const char* entry) {
  if (set == NULL || set->count == 0) return 0;
  return bsearch(&entry, set->names, set->count, sizeof set->names[0], os_cmp_names) != NULL;
}

void sbi_os_mapped_free(sbi_mapped_set* set) {
  size_t i;
  if (set == NULL) return;
  for (i = 0; i < set->count; i++) free(set->names[i]);
  free(set->names);
  free(set);
}

/* ---- futex ------------------------------------------------------------------------------------------------ */

int sbi_os_futex_wait(uint32_t* word, uint32_t expected, int64_t timeout_ms) {
  const int64_t deadline = sbi_deadline(timeout_ms);
  for (;;) {
    struct timespec rel;
    struct timespec* relp = NULL;
    long rc;
    if (deadline != INT64_MAX) {
      const int64_t left = deadline - sbi_os_now_ns();
      /* Out of time: still report a word that moved (as Node's wait with timeout 0 does), else time out.
         Acquire: the caller re-reads what the changer published. */
      if (left <= 0) return __atomic_load_n(word, __ATOMIC_ACQUIRE) != expected ? SHMBUS_EAGAIN : SHMBUS_ETIMEDOUT;
      rel.tv_sec = (time_t)(left / 1000000000);
      rel.tv_nsec = (long)(left % 1000000000);
      relp = &rel;
    }
    /* FUTEX_WAIT without FUTEX_PRIVATE_FLAG: the word is shared between processes. Its timeout is relative and
       measured on CLOCK_MONOTONIC, so after EINTR it is recomputed from the deadline. */
    rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, relp, NULL, 0);
    if (rc == 0) return SHMBUS_OK;
    if (errno == EINTR) continue;
    if (errno == ETIMEDOUT) return SHMBUS_ETIMEDOUT;
    /* EAGAIN: the word no longer held `expected`. Anything else is treated the same: the caller re-checks. */
    return SHMBUS_EAGAIN;
  }
}

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

int shmbus_futex_waitv(const uint32_t* const* words, const uint32_t* expected, uint32_t n, int64_t deadline_ns) {
  struct { /* struct futex_waitv, spelled out so that old kernel headers still build */
    uint64_t val;
    uint64_t uaddr;
    uint32_t flags;
    uint32_t reserved;
  } v[128];
  struct timespec abs;
  long rc;
  uint32_t i;
  if (words == NULL || expected == NULL || n == 0 || n > 128) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_futex_waitv: 1..128 words");
  for (i = 0; i < n; i++) {
    v[i].val = expected[i];
    v[i].uaddr = (uint64_t)(uintptr_t)words[i];
    v[i].flags = 2; /* FUTEX2_SIZE_U32, shared (no FUTEX2_PRIVATE): the words are in shared memory */
    v[i].reserved = 0;
  }
  for (;;) {
    if (deadline_ns >= 0) {
      abs.tv_sec = (time_t)(deadline_ns / 1000000000);
      abs.tv_nsec = (long)(deadline_ns % 1000000000);
    }
    rc = syscall(SYS_futex_waitv, v, n, 0, deadline_ns >= 0 ? &abs : NULL, CLOCK_MONOTONIC);
    if (rc >= 0) return (int)rc;
    if (errno == EINTR) continue; /* the deadline is absolute: retry as it is */
    if (errno == ETIMEDOUT) return SHMBUS_ETIMEDOUT;
    if (errno == EAGAIN) return SHMBUS_EAGAIN;
    if (errno == ENOSYS) return sbi_fail(SHMBUS_EOS, "futex_waitv: not supported by this kernel (Linux >= 5.16)");
    /* EFAULT (a word not mapped), EINVAL, ENOMEM: the caller's words are at fault, not the kernel */
    return sbi_fail(SHMBUS_EINVAL_ARG, "futex_waitv: %s", strerror(errno));
  }
}

int shmbus_futex_wake_all(uint32_t* word) {
  if (word == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_futex_wake_all: word is NULL");
  return sbi_os_futex_wake(word, SBI_WAKE_ALL);
}

int sbi_os_futex_wake(uint32_t* word, int n) {
  long rc = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
  return rc < 0 ? 0 : (int)rc;
}

/* ---- processes -------------------------------------------------------------------------------------------- */

uint32_t sbi_os_getpid(void) { return (uint32_t)getpid(); }

uint32_t sbi_os_gettid(void) { return (uint32_t)syscall(SYS_gettid); }

/* Reads a whole small /proc file into buf (NUL-terminated); returns its length, or -1 when unreadable. */
static ssize_t os_read_small(const char* path, char* buf, size_t cap) {
  size_t n = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  while (n < cap - 1) {
    ssize_t got = read(fd, buf + n, cap - 1 - n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    n += (size_t)got;
  }
  close(fd);
  buf[n] = '\0';
  return (ssize_t)n;
}

/* Parses a /proc/<pid>/stat line: comm (field 2) may hold spaces and ')', so fields are counted after the LAST
   ')'; field 3 (the state) starts two characters after it and field 22 (starttime) is the 20th token. */
static int os_parse_stat(const char* text, uint32_t* pid, char* state, uint64_t* start) {
  const char* p = strrchr(text, ')');
  char* end;
  int field;
  unsigned long long v;
  if (p == NULL || p[1] != ' ' || p[2] == '\0') return -1;
  *pid = (uint32_t)strtoul(text, NULL, 10);
  p += 2;
  *state = *p;
  for (field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (p == NULL) return -1;
    p++;
  }
  if (*p < '0' || *p > '9') return -1;
  errno = 0;
  v = strtoull(p, &end, 10);
  if (errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0')) return -1;
  *start = (uint64_t)v;
  return 0;
}

int sbi_os_proc_stat(uint32_t pid, char* state, uint64_t* start) {
  char path[48];
  char buf[2048];
  uint32_t seen_pid;
  if (pid == 0) snprintf(path, sizeof path, "/proc/self/stat");
  else snprintf(path, sizeof path, "/proc/%u/stat", (unsigned)pid);
  if (os_read_small(path, buf, sizeof buf) <= 0) return -1;
  return os_parse_stat(buf, &seen_pid, state, start);
}

uint32_t sbi_os_proc_self_pid(void) {
  char buf[2048];
  uint32_t pid = 0;
  char state;
  uint64_t start;
  if (os_read_small("/proc/self/stat", buf, sizeof buf) <= 0) return 0;
  if (os_parse_stat(buf, &pid, &state, &start) != 0) return 0;
  return pid;
}

uint32_t sbi_os_pid_ns(void) {
  char link[64];
  const char* open_bracket;
  ssize_t n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
  if (n <= 0) return 0;
  link[n] = '\0';
  /* "pid:[4026531836]": the namespace's inode, stored mod 2^32. */
  open_bracket = strchr(link, '[');
  if (open_bracket == NULL) return 0;
  return (uint32_t)strtoull(open_bracket + 1, NULL, 10);
}

int sbi_os_pid_exists(uint32_t pid) {
  /* A value that is no positive pid_t would make kill() address a process group: no such process. */
  if (pid == 0 || pid > (uint32_t)INT_MAX) return 0;
  if (kill((pid_t)pid, 0) == 0) return 1;
  return errno == ESRCH ? 0 : 1; /* EPERM: it exists, owned by another user */
}

void sbi_os_atfork_child(void (*fn)(void)) { pthread_atfork(NULL, NULL, fn); }
