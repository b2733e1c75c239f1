/* test_core.c: segments and the robust mutex of the C peer, over real shared memory and real processes. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* ---- helpers ---------------------------------------------------------------------------------------------- */

/* The POSIX name of a shmbus name, for the tests that forge objects with the OS directly. */
static const char* os_name_of(const char* name) {
  static char buf[4][256];
  static unsigned next;
  char* out = buf[next++ % 4];
  snprintf(out, 256, "/shmbus.%s", name);
  return out;
}

/* A shm object with arbitrary bytes, as a foreign program (or a broken peer) would leave it. */
static int forge_object(const char* name, const void* bytes, size_t len) {
  int fd = shm_open(os_name_of(name), O_RDWR | O_CREAT | O_EXCL, 0600);
  int ok;
  if (fd < 0) return -1;
  ok = ftruncate(fd, (off_t)len) == 0 && (len == 0 || pwrite(fd, bytes, len, 0) == (ssize_t)len);
  close(fd);
  return ok ? 0 : -1;
}

static mode_t object_mode(const char* name) {
  char path[300];
  struct stat st;
  snprintf(path, sizeof path, "/dev/shm/shmbus.%s", name);
  if (stat(path, &st) != 0) return (mode_t)-1;
  return st.st_mode & 0777;
}

/* A valid header for a raw segment of `payload` bytes, created by `pid`. */
static void valid_header(uint8_t* out, size_t payload, uint32_t pid) {
  shmbus_header h;
  memset(&h, 0, sizeof h);
  h.version = SHMBUS_PROTOCOL_VERSION;
  h.kind = SHMBUS_KIND_RAW;
  h.state = 1;
  h.header_size = SHMBUS_HEADER_SIZE;
  h.total_size = payload + SHMBUS_HEADER_SIZE;
  h.payload_size = payload;
  h.creator_pid = pid;
  shmbus_header_encode(&h, out);
}

/* A pid that certainly names no live process: a child that has exited and been reaped. */
static uint32_t dead_pid(void) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, NULL, 0);
  return (uint32_t)child;
}

/* ---- segments --------------------------------------------------------------------------------------------- */

static void segment_lifecycle(void) {
  const char* name = test_name("life");
  shmbus_segment* a = NULL;
  shmbus_segment* b = NULL;
  uint8_t* bytes;
  size_t i;
  CHECK_OK(shmbus_segment_create(name, 4096, &a));
  bytes = (uint8_t*)shmbus_segment_data(a);
  CHECK(shmbus_segment_size(a) == 4096);
  CHECK(strcmp(shmbus_segment_name(a), name) == 0);
  CHECK(shmbus_segment_kind(a) == SHMBUS_KIND_RAW);
  for (i = 0; i < 4096; i++) CHECK(bytes[i] == 0);
  bytes[100] = 42;
  CHECK_RC(shmbus_segment_create(name, 64, &b), SHMBUS_ESHM_EXISTS);
  CHECK_OK(shmbus_segment_open(name, &b));
  CHECK(((uint8_t*)shmbus_segment_data(b))[100] == 42);
  CHECK(shmbus_segment_size(b) == 4096);
  shmbus_segment_close(b);
  shmbus_segment_close(a);
  CHECK_OK(shmbus_segment_unlink(name));
  CHECK_RC(shmbus_segment_open(name, &b), SHMBUS_ESHM_NOT_FOUND);
  CHECK_RC(shmbus_segment_unlink(name), SHMBUS_ESHM_NOT_FOUND);
  shmbus_segment_close(NULL);
}

static void segment_names_are_checked(void) {
  static const char* const bad[] = {"", ".", "..", "a/b", "a b", "caf\xc3\xa9", "x\n"};
  char long_name[202];
  shmbus_segment* s = NULL;
  size_t i;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_RC(shmbus_segment_create(bad[i], 64, &s), SHMBUS_EINVALID_NAME);
    CHECK_RC(shmbus_segment_open(bad[i], &s), SHMBUS_EINVALID_NAME);
    CHECK_RC(shmbus_segment_unlink(bad[i]), SHMBUS_EINVALID_NAME);
  }
  CHECK_RC(shmbus_segment_create(NULL, 64, &s), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_segment_unlink(NULL), SHMBUS_EINVALID_NAME);
  memset(long_name, 'n', 201);
  long_name[201] = '\0';
  CHECK_RC(shmbus_segment_create(long_name, 64, &s), SHMBUS_EINVALID_NAME);
  /* 200 characters is the longest valid name: it must work end to end. */
  snprintf(long_name, sizeof long_name, "%s", test_name("long"));
  memset(long_name + strlen(long_name), 'n', 200 - strlen(long_name));
  long_name[200] = '\0';
  CHECK_OK(shmbus_segment_create(long_name, 64, &s));
  shmbus_segment_close(s);
  CHECK_OK(shmbus_segment_unlink(long_name));
  CHECK_RC(shmbus_segment_create(test_name("nullout"), 64, NULL), SHMBUS_EINVAL_ARG);
}

static void segment_mode_is_exact(void) {
  const char* a = test_name("mode");
  const char* b = test_name("mode");
  shmbus_segment_create_options opts;
  shmbus_segment* s = NULL;
  mode_t old = umask(0);
  int rc = shmbus_segment_create(a, 64, &s);
  umask(old);
  CHECK_OK(rc);
  shmbus_segment_close(s);
  CHECK(object_mode(a) == 0600);
  shmbus_segment_unlink(a);
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  opts.size = 64;
  opts.mode = 0660;
  old = umask(077); /* the umask must not narrow the requested mode */
  rc = shmbus_segment_create_ex(b, &opts, &s);
  umask(old);
  CHECK_OK(rc);
  shmbus_segment_close(s);
  CHECK(object_mode(b) == 0660);
  shmbus_segment_unlink(b);
  opts.mode = 0755;
  CHECK_RC(shmbus_segment_create_ex(test_name("mode"), &opts, &s), SHMBUS_EINVAL_ARG);
  opts.struct_size = 0;
  CHECK_RC(shmbus_segment_create_ex(test_name("mode"), &opts, &s), SHMBUS_EINVAL_ARG);
}

typedef struct init_probe {
  int called;
  uint32_t first_param;
  int fail_with;
} init_probe;

static int probe_init(shmbus_segment* seg, void* ctx) {
  init_probe* p = (init_probe*)ctx;
  p->called = 1;
  p->first_param = shmbus_segment_params(seg)[0];
  ((uint8_t*)shmbus_segment_data(seg))[0] = 0x5A;
  return p->fail_with;
}

static void segment_create_ex_params_kind_init(void) {
  const char* name = test_name("ex");
  uint32_t params[SHMBUS_PARAMS_COUNT] = {7, 8, 9};
  shmbus_segment_create_options c;
  shmbus_segment_open_options o;
  init_probe probe = {0, 0, 0};
  shmbus_segment* a = NULL;
  shmbus_segment* b = NULL;
  memset(&c, 0, sizeof c);
  c.struct_size = sizeof c;
  c.size = 256;
  c.kind = SHMBUS_KIND_EVENT;
  c.params = params;
  c.init = probe_init;
  c.init_ctx = &probe;
  CHECK_OK(shmbus_segment_create_ex(name, &c, &a));
  CHECK(probe.called && probe.first_param == 7);
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.kind = SHMBUS_KIND_MUTEX;
  CHECK_RC(shmbus_segment_open_ex(name, &o, &b), SHMBUS_ESHM_KIND);
  o.kind = SHMBUS_KIND_EVENT;
  CHECK_OK(shmbus_segment_open_ex(name, &o, &b));
  CHECK(shmbus_segment_kind(b) == SHMBUS_KIND_EVENT);
  CHECK(shmbus_segment_params(b)[1] == 8 && shmbus_segment_params(b)[2] == 9 && shmbus_segment_params(b)[3] == 0);
  CHECK(((uint8_t*)shmbus_segment_data(b))[0] == 0x5A);
  shmbus_segment_close(b);
  shmbus_segment_close(a);
  shmbus_segment_unlink(name);
  /* An init that fails aborts the create: its code comes back and the name is gone. */
  probe.fail_with = SHMBUS_EMESSAGE_TOO_LARGE;
  CHECK_RC(shmbus_segment_create_ex(name, &c, &a), SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_RC(shmbus_segment_open(name, &b), SHMBUS_ESHM_NOT_FOUND);
  c.kind = 9;
  CHECK_RC(shmbus_segment_create_ex(name, &c, &a), SHMBUS_EINVAL_ARG);
}

/* Opens a forged object and removes it, returning what open said. */
static int open_forged(const char* name, const void* bytes, size_t len, int64_t timeout_ms) {
  shmbus_segment_open_options o;
  shmbus_segment* s = NULL;
  int rc;
  if (forge_object(name, bytes, len) != 0) return 999;
  o.struct_size = sizeof o;
  o.kind = SHMBUS_KIND_ANY;
  o.timeout_ms = timeout_ms;
  rc = shmbus_segment_open_ex(name, &o, &s);
  shmbus_segment_close(s);
  shm_unlink(os_name_of(name));
  return rc;
}

static void segment_bad_headers_are_refused(void) {
  uint8_t obj[SHMBUS_HEADER_SIZE + 64];
  const uint32_t me = (uint32_t)getpid();
  memset(obj, 0, sizeof obj);
  valid_header(obj, 64, me);
  CHECK_OK(open_forged(test_name("hdr"), obj, sizeof obj, 0));
  /* Each field of §2.2 step 4, spoiled on its own. */
  obj[0] ^= 1;
  CHECK_RC(open_forged(test_name("hdr"), obj, sizeof obj, 0), SHMBUS_ESHM_CORRUPT);
  valid_header(obj, 64, me);
  obj[8] = 2; /* state */
  CHECK_RC(open_forged(test_name("hdr"), obj, sizeof obj, 0), SHMBUS_ESHM_CORRUPT);
  valid_header(obj, 64, me);
  obj[4] = 3; /* newer version */
  CHECK_RC(open_forged(test_name("hdr"), obj, sizeof obj, 0), SHMBUS_ESHM_VERSION);
  obj[4] = 1; /* older version */
  CHECK_RC(open_forged(test_name("hdr"), obj, sizeof obj, 0), SHMBUS_ESHM_CORRUPT);
  valid_header(obj, 64, me);
  obj[6] = 99; /* unknown kind */
  CHECK_RC(open_forged(test_name("hdr"), obj, sizeof obj, 0), SHMBUS_ESHM_CORRUPT);
  valid_header(obj, 64, me);
  obj[12] = 64; /* headerSize */
  CHECK_RC(open_forged(test_name("hdr"), obj, sizeof obj, 0), SHMBUS_ESHM_CORRUPT);
  valid_header(obj, 64, me);
  obj[16] = 0xFF; /* totalSize larger than the object: would read past its end if trusted */
  CHECK_RC(open_forged(test_name("hdr"), obj, sizeof obj, 0), SHMBUS_ESHM_CORRUPT);
  valid_header(obj, 64, me);
  obj[24] = 63; /* payloadSize */
  CHECK_RC(open_forged(test_name("hdr"), obj, sizeof obj, 0), SHMBUS_ESHM_CORRUPT);
  valid_header(obj, 64, me);
  obj[31] = 0x80; /* payloadSize high byte: a huge value */
  CHECK_RC(open_forged(test_name("hdr"), obj, sizeof obj, 0), SHMBUS_ESHM_CORRUPT);
}

static void segment_foreign_and_truncated_objects_are_refused(void) {
  uint8_t junk[4096];
  const char* name = test_name("trunc");
  shmbus_segment* s = NULL;
  int fd;
  size_t i;
  for (i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 131 + 7);
  CHECK_RC(open_forged(test_name("junk"), junk, sizeof junk, 0), SHMBUS_ESHM_CORRUPT);
  /* Shorter than a header: a creator between shm_open and ftruncate, until the timeout. */
  CHECK_RC(open_forged(test_name("short"), junk, 64, 20), SHMBUS_ESHM_CORRUPT);
  CHECK_RC(open_forged(test_name("empty"), junk, 0, 0), SHMBUS_ESHM_CORRUPT);
  /* A segment truncated after its creation: the header no longer fits the object. */
  CHECK_OK(shmbus_segment_create(name, 65536, &s));
  shmbus_segment_close(s);
  fd = shm_open(os_name_of(name), O_RDWR, 0);
  CHECK(fd >= 0);
  CHECK(ftruncate(fd, 1000) == 0);
  close(fd);
  CHECK_RC(shmbus_segment_open(name, &s), SHMBUS_ESHM_CORRUPT);
  shmbus_segment_unlink(name);
}

static void segment_creator_that_never_finished(void) {
  uint8_t obj[SHMBUS_HEADER_SIZE];
  /* Zeros: nobody ever identified itself as a creator. */
  memset(obj, 0, sizeof obj);
  CHECK_RC(open_forged(test_name("init"), obj, sizeof obj, 20), SHMBUS_ESHM_CORRUPT);
  /* A creator that is alive (this process) but has not published READY: ERR_TIMEOUT. */
  valid_header(obj, 0, (uint32_t)getpid());
  obj[8] = 0;
  CHECK_RC(open_forged(test_name("init"), obj, sizeof obj, 20), SHMBUS_ETIMEDOUT);
  /* A dead creator: ERR_SHM_CORRUPT at once, even with a long timeout. */
  valid_header(obj, 0, dead_pid());
  obj[8] = 0;
  CHECK_RC(open_forged(test_name("init"), obj, sizeof obj, 60000), SHMBUS_ESHM_CORRUPT);
}

typedef struct open_job {
  const char* name;
  int rc;
} open_job;

static void* open_in_thread(void* arg) {
  open_job* job = (open_job*)arg;
  shmbus_segment_open_options o;
  shmbus_segment* s = NULL;
  o.struct_size = sizeof o;
  o.kind = SHMBUS_KIND_ANY;
  o.timeout_ms = 60000;
  job->rc = shmbus_segment_open_ex(job->name, &o, &s);
  shmbus_segment_close(s);
  return NULL;
}

/* The opener sleeps on `state` while a live creator initialises, and opens once READY is published. */
static void segment_open_waits_for_a_live_creator(void) {
  const char* name = test_name("slow");
  uint8_t obj[SHMBUS_HEADER_SIZE + 64];
  shmbus_segment* raw = NULL;
  open_job job;
  pthread_t t;
  uint32_t* state;
  int woken = 0;
  int turns;
  memset(obj, 0, sizeof obj);
  valid_header(obj, 64, (uint32_t)getpid()); /* the creator is this process: alive */
  obj[8] = 0;
  CHECK(forge_object(name, obj, sizeof obj) == 0);
  CHECK_OK(shmbus_segment_open_raw(os_name_of(name), 0, 0, &raw));
  state = (uint32_t*)((uint8_t*)shmbus_segment_data(raw) + 8);
  job.name = name;
  job.rc = 999;
  pthread_create(&t, NULL, open_in_thread, &job);
  /* Wake until the kernel counts a sleeper on `state`: the opener is waiting (bounded: 20 s of 1 ms turns). */
  for (turns = 0; turns < 20000 && woken == 0; turns++) {
    woken = shmbus_segment_wake(raw, 2, 1);
    if (woken == 0) {
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
    }
  }
  __atomic_store_n(state, 1u, __ATOMIC_RELEASE); /* publish READY, as a creator does */
  shmbus_segment_wake(raw, 2, 0x7FFFFFFF);
  pthread_join(t, NULL);
  shmbus_segment_close(raw);
  CHECK(woken == 1);
  CHECK_RC(job.rc, SHMBUS_OK);
}

/* Creation is exclusive: of processes racing to create one name, exactly one wins. */
static void segment_create_race_has_one_winner(void) {
  enum { RACERS = 6 };
  const char* name = test_name("race");
  pid_t kids[RACERS];
  int wins = 0;
  int exists = 0;
  int i;
  for (i = 0; i < RACERS; i++) {
    kids[i] = fork();
    if (kids[i] == 0) {
      shmbus_segment* s = NULL;
      int rc = shmbus_segment_create(name, 4096, &s);
      _exit(rc == SHMBUS_OK ? 0 : rc == SHMBUS_ESHM_EXISTS ? 1 : 2);
    }
  }
  for (i = 0; i < RACERS; i++) {
    int status = 0;
    waitpid(kids[i], &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) wins++;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1) exists++;
  }
  CHECK(wins == 1);
  CHECK(exists == RACERS - 1);
}

static void segment_raw_objects(void) {
  const char* name = test_name("raw");
  uint8_t bytes[100];
  shmbus_segment* rw = NULL;
  shmbus_segment* ro = NULL;
  memset(bytes, 3, sizeof bytes);
  CHECK(forge_object(name, bytes, sizeof bytes) == 0);
  CHECK_OK(shmbus_segment_open_raw(os_name_of(name), 0, 0, &rw));
  CHECK(shmbus_segment_size(rw) == 100 && shmbus_segment_kind(rw) == -1);
  CHECK_OK(shmbus_segment_open_raw(os_name_of(name), 10, 1, &ro));
  CHECK(shmbus_segment_size(ro) == 10);
  ((uint8_t*)shmbus_segment_data(ro))[0] = 9; /* copy-on-write: private */
  CHECK(((uint8_t*)shmbus_segment_data(rw))[0] == 3);
  ((uint8_t*)shmbus_segment_data(rw))[1] = 8;
  shmbus_segment_close(ro);
  shmbus_segment_close(rw);
  CHECK_RC(shmbus_segment_open_raw(os_name_of(name), 101, 0, &rw), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_segment_open_raw("no-slash", 0, 0, &rw), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_segment_open_raw("/a/b", 0, 0, &rw), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_segment_open_raw("/", 0, 0, &rw), SHMBUS_EINVALID_NAME);
  shm_unlink(os_name_of(name));
  CHECK_RC(shmbus_segment_open_raw(os_name_of(name), 0, 0, &rw), SHMBUS_ESHM_NOT_FOUND);
}

static void segment_file_windows(void) {
  char path[] = "/tmp/shmbus-ctest-XXXXXX";
  char content[10000];
  shmbus_segment* w = NULL;
  int fd = mkstemp(path);
  size_t i;
  CHECK(fd >= 0);
  for (i = 0; i < sizeof content; i++) content[i] = (char)('a' + i % 26);
  if (write(fd, content, sizeof content) != (ssize_t)sizeof content) {
    close(fd);
    unlink(path);
    CHECK(!"write");
  }
  close(fd);
  /* Any offset, not only page multiples. */
  if (shmbus_segment_map_file(path, 4099, 10, 0, &w) == SHMBUS_OK) {
    int same = memcmp(shmbus_segment_data(w), content + 4099, 10) == 0 && shmbus_segment_size(w) == 10;
    shmbus_segment_close(w);
    if (!same) unlink(path);
    CHECK(same);
  }
  /* Writable window + flush reaches the file. */
  if (shmbus_segment_map_file(path, 5000, SHMBUS_TO_END, 1, &w) == SHMBUS_OK) {
    char back = 0;
    ((char*)shmbus_segment_data(w))[0] = '#';
    shmbus_segment_flush(w);
    shmbus_segment_close(w);
    fd = open(path, O_RDONLY);
    if (pread(fd, &back, 1, 5000) != 1) back = 0;
    close(fd);
    if (back != '#') unlink(path);
    CHECK(back == '#');
  }
  i = shmbus_segment_map_file(path, 9990, 11, 0, &w) == SHMBUS_EINVAL_ARG &&
      shmbus_segment_map_file(path, 10001, SHMBUS_TO_END, 0, &w) == SHMBUS_EINVAL_ARG &&
      shmbus_segment_map_file(path, 0, 0, 0, &w) == SHMBUS_EINVAL_ARG &&
      shmbus_segment_map_file("/tmp", 0, 1, 0, &w) == SHMBUS_EINVAL_ARG;
  unlink(path);
  CHECK(i);
  CHECK_RC(shmbus_segment_map_file(path, 0, 1, 0, &w), SHMBUS_ESHM_NOT_FOUND);
  CHECK_RC(shmbus_segment_map_file(NULL, 0, 1, 0, &w), SHMBUS_EINVAL_ARG);
}

static void segment_wait_and_wake_words(void) {
  const char* name = test_name("wait");
  shmbus_segment* s = NULL;
  CHECK_OK(shmbus_segment_create(name, 64, &s));
  shmbus_segment_unlink(name);
  CHECK_RC(shmbus_segment_wait(s, 16, 0, 0), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_segment_wait(s, 3, 1, 10), SHMBUS_EAGAIN);
  CHECK_RC(shmbus_segment_wait(s, 3, 0, 10), SHMBUS_ETIMEDOUT);
  CHECK_RC(shmbus_segment_wait(s, 3, 0, -2), SHMBUS_EINVAL_ARG);
  CHECK(shmbus_segment_wake(s, 3, 1) == 0);
  CHECK_RC(shmbus_segment_wake(s, 99, 1), SHMBUS_EINVAL_ARG);
  shmbus_segment_close(s);
}

static const shmbus_segment_info* find_info(const shmbus_segment_info* list, size_t n, const char* name) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (strcmp(list[i].name, name) == 0) return &list[i];
  }
  return NULL;
}

static void segment_list_attached_and_stale(void) {
  const char* live = test_name("list");
  const char* orphan = test_name("orphan");
  shmbus_segment* s = NULL;
  shmbus_segment_info* list = NULL;
  const shmbus_segment_info* a;
  const shmbus_segment_info* b;
  size_t n = 0;
  pid_t child;
  int ok;
  CHECK_OK(shmbus_segment_create(live, 100, &s));
  /* A segment whose creator exited without unlinking, and that nobody maps: stale. */
  child = fork();
  if (child == 0) {
    shmbus_segment* c = NULL;
    _exit(shmbus_segment_create(orphan, 10, &c) == SHMBUS_OK ? 0 : 1);
  }
  waitpid(child, NULL, 0);
  ok = shmbus_segment_list(&list, &n) == SHMBUS_OK;
  shmbus_segment_close(s);
  shmbus_segment_unlink(live);
  shmbus_segment_unlink(orphan);
  CHECK(ok);
  a = find_info(list, n, live);
  b = find_info(list, n, orphan);
  ok = a != NULL && a->size == 100 && a->kind == SHMBUS_KIND_RAW && a->creator_pid == (uint32_t)getpid() &&
       a->attached && !a->stale && a->created_at > 0 && b != NULL && !b->attached && b->stale &&
       b->creator_pid == (uint32_t)child;
  shmbus_segment_list_free(list);
  CHECK(ok);
  CHECK_RC(shmbus_segment_list(NULL, &n), SHMBUS_EINVAL_ARG);
}

/* The stale flag list reports for a forged object (0/1), or -1 when it is not listed. */
static int listed_stale(const char* name) {
  shmbus_segment_info* list = NULL;
  const shmbus_segment_info* info;
  size_t n = 0;
  int stale = -1;
  if (shmbus_segment_list(&list, &n) != SHMBUS_OK) return -1;
  info = find_info(list, n, name);
  if (info != NULL) stale = info->stale;
  shmbus_segment_list_free(list);
  return stale;
}

static void segment_list_objects_still_being_created(void) {
  uint8_t obj[SHMBUS_HEADER_SIZE];
  const char* dead_creator = test_name("mkdead");
  const char* young = test_name("mkyoung");
  const char* old = test_name("mkold");
  const char* junk = test_name("mkjunk");
  struct timespec times[2];
  int fd;
  /* The header names a creator that is dead: stale at once. */
  valid_header(obj, 0, dead_pid());
  obj[8] = 0;
  CHECK(forge_object(dead_creator, obj, sizeof obj) == 0);
  CHECK(listed_stale(dead_creator) == 1);
  /* No creator named yet: a young object may have a live creator that has not mapped it yet. */
  memset(obj, 0, sizeof obj);
  CHECK(forge_object(young, obj, sizeof obj) == 0);
  CHECK(listed_stale(young) == 0);
  /* ... but one older than 60 s was abandoned. */
  CHECK(forge_object(old, obj, sizeof obj) == 0);
  fd = shm_open(os_name_of(old), O_RDWR, 0);
  CHECK(fd >= 0);
  times[0].tv_sec = times[1].tv_sec = time(NULL) - 120;
  times[0].tv_nsec = times[1].tv_nsec = 0;
  CHECK(futimens(fd, times) == 0);
  close(fd);
  CHECK(listed_stale(old) == 1);
  /* A damaged header (state neither 0 nor 1) that nobody maps: stale at once, whatever its age. */
  memset(obj, 0xA5, sizeof obj);
  CHECK(forge_object(junk, obj, sizeof obj) == 0);
  CHECK(listed_stale(junk) == 1);
}

static void segment_too_large_for_dev_shm(void) {
  const char* name = test_name("huge");
  shmbus_segment* s = NULL;
  /* 1 TiB: more than any /dev/shm of this kind of machine; tmpfs refuses the reservation without allocating. */
  CHECK_RC(shmbus_segment_create(name, (size_t)1 << 40, &s), SHMBUS_ESHM_NO_SPACE);
  CHECK_RC(shmbus_segment_open(name, &s), SHMBUS_ESHM_NOT_FOUND); /* the failed create left no name */
  CHECK_RC(shmbus_segment_create(name, ((size_t)1 << 46) + 1, &s), SHMBUS_EINVAL_ARG);
}

/* Random damage to a valid header: decode always answers with a code (never a crash, never an unknown code). */
static void header_fuzz_gives_codes(void) {
  uint8_t good[SHMBUS_HEADER_SIZE];
  uint8_t bad[SHMBUS_HEADER_SIZE];
  uint32_t seed = 12345;
  int round;
  int unexpected = 0;
  valid_header(good, 4096, 1);
  for (round = 0; round < 20000; round++) {
    shmbus_header h;
    int flips = 1 + round % 4;
    int rc;
    memcpy(bad, good, sizeof bad);
    while (flips-- > 0) {
      seed = seed * 1664525u + 1013904223u;
      bad[(seed >> 8) % SHMBUS_HEADER_SIZE] ^= (uint8_t)(1u << ((seed >> 20) % 8));
    }
    rc = shmbus_header_decode(bad, sizeof bad, 4096 + SHMBUS_HEADER_SIZE, &h);
    if (rc != SHMBUS_OK && rc != SHMBUS_ESHM_CORRUPT && rc != SHMBUS_ESHM_VERSION) unexpected++;
    if (rc == SHMBUS_OK && h.state != 0 && h.total_size != 4096 + SHMBUS_HEADER_SIZE) unexpected++;
  }
  CHECK(unexpected == 0);
}

static void header_decode_refuses_short_input(void) {
  uint8_t obj[SHMBUS_HEADER_SIZE];
  shmbus_header h;
  valid_header(obj, 0, 1);
  CHECK_OK(shmbus_header_decode(obj, sizeof obj, sizeof obj, &h));
  CHECK(h.state == 1 && h.total_size == SHMBUS_HEADER_SIZE);
  CHECK_RC(shmbus_header_decode(obj, 127, sizeof obj, &h), SHMBUS_ESHM_CORRUPT);
  CHECK_RC(shmbus_header_decode(obj, sizeof obj, 4096, &h), SHMBUS_ESHM_CORRUPT);
  CHECK_RC(shmbus_header_decode(NULL, sizeof obj, sizeof obj, &h), SHMBUS_EINVAL_ARG);
}

/* ---- mutex ------------------------------------------------------------------------------------------------ */

static void mutex_basics(void) {
  const char* name = test_name("mx");
  shmbus_mutex* a = NULL;
  shmbus_mutex* b = NULL;
  int recovered = -1;
  CHECK_OK(shmbus_mutex_create(name, &a));
  CHECK_RC(shmbus_mutex_create(name, &b), SHMBUS_ESHM_EXISTS);
  CHECK_OK(shmbus_mutex_open(name, &b));
  CHECK_OK(shmbus_mutex_lock(a, -1, &recovered));
  CHECK(recovered == 0 && shmbus_mutex_is_locked_by_me(a) && shmbus_mutex_is_locked_by_me(b));
  /* Re-locking from the holding thread would deadlock: refused at once, through either handle. */
  CHECK_RC(shmbus_mutex_lock(a, 1000, &recovered), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_mutex_lock(b, 1000, &recovered), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_mutex_try_lock(b, &recovered), SHMBUS_EAGAIN);
  CHECK_OK(shmbus_mutex_unlock(b));
  CHECK_RC(shmbus_mutex_unlock(a), SHMBUS_ENOT_OWNER);
  CHECK_OK(shmbus_mutex_try_lock(b, NULL));
  CHECK_OK(shmbus_mutex_unlock(a));
  shmbus_mutex_close(b);
  shmbus_mutex_close(a);
  CHECK_OK(shmbus_mutex_unlink(name));
  CHECK_RC(shmbus_mutex_open(name, &a), SHMBUS_ESHM_NOT_FOUND);
  CHECK_RC(shmbus_mutex_lock(NULL, 0, NULL), SHMBUS_EINVAL_ARG);
  shmbus_mutex_close(NULL);
}

static void mutex_open_refuses_other_kinds(void) {
  const char* name = test_name("mxkind");
  shmbus_segment* s = NULL;
  shmbus_mutex* m = NULL;
  CHECK_OK(shmbus_segment_create(name, 64, &s));
  shmbus_segment_close(s);
  CHECK_RC(shmbus_mutex_open(name, &m), SHMBUS_ESHM_KIND);
  shmbus_segment_unlink(name);
}

static void mutex_embedded_placement_is_checked(void) {
  const char* name = test_name("mxemb");
  shmbus_segment* s = NULL;
  shmbus_mutex* m = NULL;
  CHECK_OK(shmbus_segment_create(name, 64, &s));
  shmbus_segment_unlink(name);
  CHECK_RC(shmbus_mutex_embed(s, 4, NULL, &m), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_mutex_embed(s, 40, NULL, &m), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_mutex_embed(s, (size_t)-8, NULL, &m), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_mutex_embed(NULL, 0, NULL, &m), SHMBUS_EINVAL_ARG);
  CHECK_OK(shmbus_mutex_embed(s, 32, NULL, &m));
  CHECK_OK(shmbus_mutex_lock(m, 0, NULL));
  CHECK_OK(shmbus_mutex_unlock(m));
  shmbus_mutex_close(m);
  shmbus_segment_close(s);
}

typedef struct counter_job {
  shmbus_mutex* m;
  volatile uint64_t* counter;
  int rounds;
  int errors;
} counter_job;

/* Increments a plain (non-atomic) counter under the mutex: only exclusion keeps the total exact. */
static void* count_under_lock(void* arg) {
  counter_job* job = (counter_job*)arg;
  int i;
  for (i = 0; i < job->rounds; i++) {
    if (shmbus_mutex_lock(job->m, -1, NULL) != SHMBUS_OK) {
      job->errors++;
      continue;
    }
    *job->counter = *job->counter + 1;
    if (shmbus_mutex_unlock(job->m) != SHMBUS_OK) job->errors++;
  }
  return NULL;
}

static void mutex_excludes_threads(void) {
  const char* name = test_name("mxthr");
  enum { THREADS = 4, ROUNDS = 20000 };
  shmbus_segment* s = NULL;
  shmbus_mutex* m = NULL;
  pthread_t tid[THREADS];
  counter_job jobs[THREADS];
  int i;
  int errors = 0;
  CHECK_OK(shmbus_segment_create(name, 64, &s));
  shmbus_segment_unlink(name);
  CHECK_OK(shmbus_mutex_embed(s, 0, NULL, &m));
  for (i = 0; i < THREADS; i++) {
    jobs[i].m = m;
    jobs[i].counter = (volatile uint64_t*)((uint8_t*)shmbus_segment_data(s) + 32);
    jobs[i].rounds = ROUNDS;
    jobs[i].errors = 0;
    pthread_create(&tid[i], NULL, count_under_lock, &jobs[i]);
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(tid[i], NULL);
    errors += jobs[i].errors;
  }
  CHECK(errors == 0);
  CHECK(*jobs[0].counter == (uint64_t)THREADS * ROUNDS);
  shmbus_mutex_close(m);
  shmbus_segment_close(s);
}

static void mutex_excludes_processes(void) {
  const char* name = test_name("mxproc");
  enum { CHILDREN = 3, ROUNDS = 20000 };
  shmbus_segment* s = NULL;
  shmbus_mutex* m = NULL;
  pid_t kids[CHILDREN];
  volatile uint64_t* counter;
  int i;
  int clean = 1;
  CHECK_OK(shmbus_segment_create(name, 64, &s));
  CHECK_OK(shmbus_mutex_embed(s, 0, NULL, &m));
  counter = (volatile uint64_t*)((uint8_t*)shmbus_segment_data(s) + 32);
  for (i = 0; i < CHILDREN; i++) {
    kids[i] = fork();
    if (kids[i] == 0) {
      /* A fresh process: its own mapping of the name, its own identity. */
      shmbus_segment* cs = NULL;
      shmbus_mutex* cm = NULL;
      counter_job job;
      if (shmbus_segment_open(name, &cs) != SHMBUS_OK || shmbus_mutex_embed(cs, 0, NULL, &cm) != SHMBUS_OK) _exit(2);
      job.m = cm;
      job.counter = (volatile uint64_t*)((uint8_t*)shmbus_segment_data(cs) + 32);
      job.rounds = ROUNDS;
      job.errors = 0;
      count_under_lock(&job);
      _exit(job.errors == 0 ? 0 : 1);
    }
  }
  for (i = 0; i < CHILDREN; i++) {
    int status = 0;
    waitpid(kids[i], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) clean = 0;
  }
  shmbus_segment_unlink(name);
  CHECK(clean);
  CHECK(*counter == (uint64_t)CHILDREN * ROUNDS);
  shmbus_mutex_close(m);
  shmbus_segment_close(s);
}

static void mutex_dead_holder_is_recovered(void) {
  const char* name = test_name("mxkill");
  shmbus_mutex* m = NULL;
  shmbus_sync_options opts;
  int ready[2];
  char byte = 0;
  int recovered = 0;
  int rc;
  pid_t child;
  uint32_t recoveries_before;
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  opts.liveness_ms = 20;
  CHECK(pipe(ready) == 0);
  CHECK_OK(shmbus_mutex_create_ex(name, &opts, &m));
  child = fork();
  if (child == 0) {
    shmbus_mutex* cm = NULL;
    close(ready[0]);
    if (shmbus_mutex_open(name, &cm) != SHMBUS_OK || shmbus_mutex_lock(cm, -1, NULL) != SHMBUS_OK) _exit(2);
    if (write(ready[1], "L", 1) != 1) _exit(3);
    for (;;) pause(); /* holds the lock until SIGKILL */
  }
  close(ready[1]);
  rc = read(ready[0], &byte, 1) == 1 && byte == 'L';
  close(ready[0]);
  if (!rc) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    shmbus_mutex_unlink(name);
    CHECK(!"the child never locked");
  }
  CHECK_RC(shmbus_mutex_try_lock(m, &recovered), SHMBUS_EAGAIN);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  {
    shmbus_segment* raw = NULL;
    shmbus_segment_open(name, &raw);
    recoveries_before = raw ? ((uint32_t*)shmbus_segment_data(raw))[5] : 99;
    rc = shmbus_mutex_lock(m, 10000, &recovered);
    CHECK_OK(rc);
    CHECK(recovered == 1);
    CHECK(raw != NULL && ((uint32_t*)shmbus_segment_data(raw))[5] == recoveries_before + 1);
    shmbus_segment_close(raw);
  }
  CHECK_OK(shmbus_mutex_unlock(m));
  CHECK_OK(shmbus_mutex_lock(m, 0, &recovered));
  CHECK(recovered == 0);
  CHECK_OK(shmbus_mutex_unlock(m));
  shmbus_mutex_close(m);
  shmbus_mutex_unlink(name);
}

/* A mutex block forged as a holder would leave it: word = pid (+ WAITERS), identity record as given. */
typedef struct forged_holder {
  uint32_t word;
  uint32_t owner_pid;
  uint64_t start;
  uint32_t ns;
} forged_holder;

/* Locks (liveness 10 ms) a mutex forged with `h`; returns the lock's code and sets *recovered. */
static int lock_forged(const forged_holder* h, int64_t timeout_ms, int* recovered) {
  const char* name = test_name("mxforge");
  shmbus_segment* s = NULL;
  shmbus_mutex* m = NULL;
  shmbus_sync_options o;
  uint32_t* w;
  int rc;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.liveness_ms = 10;
  if (shmbus_segment_create(name, 64, &s) != SHMBUS_OK) return 999;
  w = (uint32_t*)shmbus_segment_data(s);
  w[0] = h->word;
  w[1] = h->owner_pid;
  w[2] = (uint32_t)h->start;
  w[3] = (uint32_t)(h->start >> 32);
  w[6] = h->ns;
  rc = shmbus_mutex_embed(s, 0, &o, &m);
  if (rc == SHMBUS_OK) rc = shmbus_mutex_lock(m, timeout_ms, recovered);
  shmbus_mutex_close(m);
  shmbus_segment_close(s);
  return rc;
}

/* A child that lives until killed (a live pid that is not ours), and its start time. */
static pid_t live_child(uint64_t* start) {
  char path[64];
  char buf[1024];
  FILE* f;
  pid_t child = fork();
  if (child == 0) {
    for (;;) pause();
  }
  snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
  *start = 0;
  f = fopen(path, "r");
  if (f != NULL) {
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    char* p;
    int field;
    buf[n] = '\0';
    fclose(f);
    p = strrchr(buf, ')');
    for (field = 2; p != NULL && field < 22; field++) p = strchr(p + 1, ' ');
    if (p != NULL) *start = strtoull(p + 1, NULL, 10);
  }
  return child;
}

static void mutex_liveness_rules(void) {
  forged_holder h;
  uint64_t start = 0;
  int recovered = 0;
  const uint32_t dead = dead_pid();
  pid_t child;
  /* A dead holder with a complete identity: recovered. */
  h.word = dead | 0x80000000u;
  h.owner_pid = dead;
  h.start = 0;
  h.ns = 0;
  CHECK_OK(lock_forged(&h, 10000, &recovered));
  CHECK(recovered == 1);
  /* A holder that died between its CAS and its identity stores (ownerPid 0): judged by its pid alone, after two
     sightings. */
  h.owner_pid = 0;
  recovered = 0;
  CHECK_OK(lock_forged(&h, 10000, &recovered));
  CHECK(recovered == 1);
  {
    /* Against a live child; every outcome is collected first so that the child is killed on every path. */
    int live_rc;
    int reused_rc;
    int reused_recovered = 0;
    int incomplete_rc;
    child = live_child(&start);
    h.word = (uint32_t)child;
    h.owner_pid = (uint32_t)child;
    h.start = start;
    live_rc = lock_forged(&h, 60, &recovered); /* a live holder, right start time: never taken */
    h.start = start + 1;
    reused_rc = lock_forged(&h, 10000, &reused_recovered); /* another start time: the pid was reused */
    h.owner_pid = 0;
    h.start = 0;
    incomplete_rc = lock_forged(&h, 60, &recovered); /* incomplete identity, live pid: alive */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(start != 0);
    CHECK_RC(live_rc, SHMBUS_ETIMEDOUT);
    CHECK_RC(reused_rc, SHMBUS_OK);
    CHECK(reused_recovered == 1);
    CHECK_RC(incomplete_rc, SHMBUS_ETIMEDOUT);
  }
  /* A dead pid recorded in another pid namespace is never judged here. */
  h.word = dead;
  h.owner_pid = dead;
  h.ns = 12345;
  CHECK_RC(lock_forged(&h, 60, &recovered), SHMBUS_ETIMEDOUT);
}

static void* unlock_from_other_thread(void* arg) {
  return (void*)(intptr_t)shmbus_mutex_unlock((shmbus_mutex*)arg);
}

static void* lock_with_timeout(void* arg) {
  return (void*)(intptr_t)shmbus_mutex_lock((shmbus_mutex*)arg, 30, NULL);
}

static void mutex_ownership_is_per_thread(void) {
  const char* name = test_name("mxown");
  shmbus_mutex* m = NULL;
  pthread_t t;
  void* result = NULL;
  CHECK_OK(shmbus_mutex_create(name, &m));
  shmbus_mutex_unlink(name);
  CHECK_OK(shmbus_mutex_lock(m, -1, NULL));
  pthread_create(&t, NULL, unlock_from_other_thread, m);
  pthread_join(t, &result);
  CHECK((intptr_t)result == SHMBUS_ENOT_OWNER);
  /* Another thread of the holder's process is a waiter like any other: it times out. */
  pthread_create(&t, NULL, lock_with_timeout, m);
  pthread_join(t, &result);
  CHECK((intptr_t)result == SHMBUS_ETIMEDOUT);
  CHECK_OK(shmbus_mutex_unlock(m));
  shmbus_mutex_close(m);
}

static void mutex_options_are_checked(void) {
  shmbus_sync_options o;
  shmbus_mutex* m = NULL;
  memset(&o, 0, sizeof o);
  CHECK_RC(shmbus_mutex_create_ex(test_name("mxopt"), &o, &m), SHMBUS_EINVAL_ARG);
  o.struct_size = sizeof o;
  o.mode = 01600;
  CHECK_RC(shmbus_mutex_create_ex(test_name("mxopt"), &o, &m), SHMBUS_EINVAL_ARG);
  o.mode = 0;
  o.liveness_ms = 0x80000000u;
  CHECK_RC(shmbus_mutex_create_ex(test_name("mxopt"), &o, &m), SHMBUS_EINVAL_ARG);
}

int main(void) {
  TEST_RUN(segment_lifecycle);
  TEST_RUN(segment_names_are_checked);
  TEST_RUN(segment_mode_is_exact);
  TEST_RUN(segment_create_ex_params_kind_init);
  TEST_RUN(segment_bad_headers_are_refused);
  TEST_RUN(segment_foreign_and_truncated_objects_are_refused);
  TEST_RUN(segment_creator_that_never_finished);
  TEST_RUN(segment_open_waits_for_a_live_creator);
  TEST_RUN(segment_create_race_has_one_winner);
  TEST_RUN(segment_raw_objects);
  TEST_RUN(segment_file_windows);
  TEST_RUN(segment_wait_and_wake_words);
  TEST_RUN(segment_list_attached_and_stale);
  TEST_RUN(segment_list_objects_still_being_created);
  TEST_RUN(header_decode_refuses_short_input);
  TEST_RUN(segment_too_large_for_dev_shm);
  TEST_RUN(header_fuzz_gives_codes);
  TEST_RUN(mutex_basics);
  TEST_RUN(mutex_open_refuses_other_kinds);
  TEST_RUN(mutex_embedded_placement_is_checked);
  TEST_RUN(mutex_excludes_threads);
  TEST_RUN(mutex_excludes_processes);
  TEST_RUN(mutex_dead_holder_is_recovered);
  TEST_RUN(mutex_liveness_rules);
  TEST_RUN(mutex_ownership_is_per_thread);
  TEST_RUN(mutex_options_are_checked);
  return test_summary();
}
