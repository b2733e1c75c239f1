/*
 * test_rpc.c: Rpc (PROTOCOL §8) through the public API with a server in a forked process: echo and text
 * round trips, a handler error as SHMBUS_EREMOTE with its message, concurrent clients on several workers, no server
 * (at once), a server killed -9 while handling a request (SHMBUS_ENO_SERVER, not a timeout), the last server out
 * removing the name, the worker table's limit, sizes, and bad input as error codes.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "test.h"

static const char* made[8];
static int made_count;

static const char* fresh(const char* what) {
  const char* n = test_name(what);
  made[made_count++ % 8] = n;
  return n;
}

static void cleanup(void) {
  for (int i = 0; i < made_count && i < 8; i++) shmbus_rpc_unlink(made[i]);
  made_count = 0;
}

#define RUN(fn)   \
  do {            \
    TEST_RUN(fn); \
    cleanup();    \
  } while (0)

static int hang_pipe[2] = {-1, -1};

/* Bytes are echoed; text "hang" never answers (tells the parent through the pipe); "throw:<msg>" fails with msg;
   other text answers "ok:<text>". */
static int handler(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply) {
  (void)ctx;
  if (!(req->flags & SHMBUS_MSG_TEXT)) {
    reply->data = req->data;
    reply->size = req->size;
    return 0;
  }
  const char* text = (const char*)req->data;
  if (strcmp(text, "hang") == 0) {
    if (hang_pipe[1] >= 0 && write(hang_pipe[1], "h", 1) != 1) _exit(9);
    for (;;) pause();
  }
  if (strncmp(text, "throw:", 6) == 0) return shmbus_rpc_reply_error(reply, text + 6);
  int n = snprintf((char*)reply->buf, reply->cap, "ok:%s", text);
  reply->data = reply->buf;
  reply->size = (size_t)n;
  reply->flags = SHMBUS_MSG_TEXT;
  return 0;
}

/* A server process: serves `name` with `workers` until killed (SIGTERM stops it cleanly). */
static shmbus_rpc_server* child_server;
static void on_term(int sig) {
  (void)sig;
  shmbus_rpc_server_stop(child_server);
}

static pid_t spawn_server(const char* name, uint32_t workers) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    shmbus_rpc_serve_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.workers = workers;
    o.max_message_size = 1024;
    close(ready[0]);
    if (shmbus_rpc_serve(name, handler, NULL, &o, &child_server) != 0) _exit(2);
    signal(SIGTERM, on_term);
    if (write(ready[1], "r", 1) != 1) _exit(3);
    shmbus_rpc_server_run(child_server);
    shmbus_rpc_server_close(child_server);
    _exit(0);
  }
  close(ready[1]);
  char c;
  int ok = pid > 0 && read(ready[0], &c, 1) == 1;
  close(ready[0]);
  if (!ok && pid > 0) {
    waitpid(pid, NULL, 0);
    return -1;
  }
  return pid;
}

static int stop_server(pid_t pid) {
  int st = 0;
  kill(pid, SIGTERM);
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

static void echo_text_and_remote_error(void) {
  const char* n = fresh("rpc-echo");
  pid_t srv = spawn_server(n, 1);
  CHECK(srv > 0);
  shmbus_rpc_client* c = NULL;
  int rc = shmbus_rpc_connect(n, &c);
  char buf[256];
  size_t len = 0;
  uint32_t flags = 9;
  int ok = rc == 0 && shmbus_rpc_request_ex(c, "\x00\x01\x02", 3, 0, buf, sizeof buf, &len, &flags, 5000) == 0 &&
           len == 3 && flags == 0 && memcmp(buf, "\x00\x01\x02", 3) == 0;
  ok = ok && shmbus_rpc_request_ex(c, "hi", 2, SHMBUS_MSG_TEXT, buf, sizeof buf, &len, &flags, 5000) == 0 &&
       len == 5 && flags == SHMBUS_MSG_TEXT && memcmp(buf, "ok:hi", 5) == 0;
  int remote = shmbus_rpc_request_ex(c, "throw:boom \"quoted\"", 19, SHMBUS_MSG_TEXT, buf, sizeof buf, &len, NULL,
                                     5000);
  int message_ok = strcmp(shmbus_last_error_message(), "boom \"quoted\"") == 0;
  /* The server goes on after a handler error. */
  ok = ok && shmbus_rpc_request_ex(c, "again", 5, SHMBUS_MSG_TEXT, buf, sizeof buf, &len, NULL, 5000) == 0 &&
       len == 8;
  /* A response larger than the buffer: refused with its size. */
  int small = shmbus_rpc_request_ex(c, "again", 5, SHMBUS_MSG_TEXT, buf, 2, &len, NULL, 5000);
  size_t small_len = len;
  shmbus_rpc_client_close(c);
  int exit_code = stop_server(srv);
  CHECK(ok);
  CHECK_RC(remote, SHMBUS_EREMOTE);
  CHECK(message_ok);
  CHECK_RC(small, SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK(small_len == 8);
  CHECK(exit_code == 0);
  /* The last server out removed the name: no server at once. */
  shmbus_segment* seg = NULL;
  CHECK_RC(shmbus_segment_open(n, &seg), SHMBUS_ESHM_NOT_FOUND);
}

static void no_server_fails_at_once(void) {
  const char* n = fresh("rpc-none");
  shmbus_rpc_client* c = NULL;
  CHECK_OK(shmbus_rpc_connect(n, &c));
  char buf[16];
  size_t len;
  int rc = shmbus_rpc_request(c, "x", 1, buf, sizeof buf, &len, -1);
  shmbus_rpc_client_close(c);
  CHECK_RC(rc, SHMBUS_ENO_SERVER);
}

typedef struct lane {
  const char* name;
  int id;
  int count;
  int ok;
} lane;

static void* lane_run(void* p) {
  lane* l = (lane*)p;
  shmbus_rpc_client* c = NULL;
  if (shmbus_rpc_connect(l->name, &c) != 0) return NULL;
  for (int i = 0; i < l->count; i++) {
    char req[64], want[80], got[80];
    size_t len = 0;
    int n = snprintf(req, sizeof req, "%d:%d", l->id, i);
    snprintf(want, sizeof want, "ok:%s", req);
    if (shmbus_rpc_request_ex(c, req, (size_t)n, SHMBUS_MSG_TEXT, got, sizeof got, &len, NULL, 10000) != 0) break;
    if (len != strlen(want) || memcmp(got, want, len) != 0) break;
    l->ok++;
  }
  shmbus_rpc_client_close(c);
  return NULL;
}

static void concurrent_clients_on_two_server_processes(void) {
  const char* n = fresh("rpc-many");
  pid_t a = spawn_server(n, 2);
  pid_t b = spawn_server(n, 1);
  CHECK(a > 0 && b > 0);
  lane lanes[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    lanes[i] = (lane){n, i, 500, 0};
    pthread_create(&t[i], NULL, lane_run, &lanes[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  int ea = stop_server(a), eb = stop_server(b);
  for (int i = 0; i < 4; i++) CHECK(lanes[i].ok == 500);
  CHECK(ea == 0 && eb == 0);
}

static void killed_server_is_no_server_not_a_timeout(void) {
  const char* n = fresh("rpc-kill");
  CHECK(pipe(hang_pipe) == 0);
  pid_t srv = spawn_server(n, 1);
  close(hang_pipe[1]);
  hang_pipe[1] = -1;
  CHECK(srv > 0);
  pid_t client = fork();
  if (client == 0) {
    shmbus_rpc_client* c = NULL;
    char buf[16];
    size_t len;
    if (shmbus_rpc_connect(n, &c) != 0) _exit(2);
    int rc = shmbus_rpc_request_ex(c, "hang", 4, SHMBUS_MSG_TEXT, buf, sizeof buf, &len, NULL, 30000);
    shmbus_rpc_client_close(c);
    _exit(rc == SHMBUS_ENO_SERVER ? 0 : rc == SHMBUS_ETIMEDOUT ? 4 : 5);
  }
  char h;
  int handling = read(hang_pipe[0], &h, 1) == 1;
  close(hang_pipe[0]);
  hang_pipe[0] = -1;
  kill(srv, SIGKILL);
  waitpid(srv, NULL, 0);
  int st = 0;
  waitpid(client, &st, 0);
  CHECK(handling);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void worker_table_limit(void) {
  const char* n = fresh("rpc-limit");
  shmbus_rpc_serve_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.workers = 64;
  shmbus_rpc_server* full = NULL;
  shmbus_rpc_server* more = NULL;
  CHECK_OK(shmbus_rpc_serve(n, handler, NULL, &o, &full));
  o.workers = 1;
  int rc = shmbus_rpc_serve(n, handler, NULL, &o, &more);
  shmbus_rpc_server_close(full);
  CHECK_RC(rc, SHMBUS_ETOO_MANY_WORKERS);
  CHECK(more == NULL);
}

static void sizes_and_bad_input(void) {
  const char* n = fresh("rpc-bad");
  char longname[200];
  memset(longname, 'a', 189);
  longname[189] = 0;
  shmbus_rpc_server* s = NULL;
  shmbus_rpc_client* c = NULL;
  CHECK_RC(shmbus_rpc_connect(longname, &c), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_rpc_serve(longname, handler, NULL, NULL, &s), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_rpc_serve(n, NULL, NULL, NULL, &s), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_rpc_serve(n, handler, NULL, NULL, NULL), SHMBUS_EINVAL_ARG);
  shmbus_rpc_serve_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.workers = 65;
  CHECK_RC(shmbus_rpc_serve(n, handler, NULL, &o, &s), SHMBUS_EINVAL_ARG);
  o.workers = 1;
  o.slots = 3;
  CHECK_RC(shmbus_rpc_serve(n, handler, NULL, &o, &s), SHMBUS_EINVAL_ARG);
  CHECK_RC(shmbus_rpc_connect(NULL, &c), SHMBUS_EINVALID_NAME);
  CHECK_RC(shmbus_rpc_request(NULL, "x", 1, NULL, 0, NULL, 0), SHMBUS_EINVAL_ARG);
  /* A request larger than the service's max_message_size (1024 in spawn_server). */
  pid_t srv = spawn_server(n, 1);
  CHECK(srv > 0);
  static char big[2000];
  char buf[16];
  size_t len;
  int rc = shmbus_rpc_connect(n, &c);
  int too_large = rc == 0 ? shmbus_rpc_request(c, big, sizeof big, buf, sizeof buf, &len, 5000) : rc;
  /* A client whose response slots are too small for the answer: TOO_LARGE status from the server. */
  shmbus_rpc_connect_options co;
  memset(&co, 0, sizeof co);
  co.struct_size = sizeof co;
  co.max_message_size = 4;
  shmbus_rpc_client* tiny = NULL;
  int rc2 = shmbus_rpc_connect_ex(n, &co, &tiny);
  int tiny_rc = rc2 == 0 ? shmbus_rpc_request(tiny, big, 100, buf, sizeof buf, &len, 5000) : rc2;
  int tiny_ok = rc2 == 0 ? shmbus_rpc_request(tiny, big, 4, buf, sizeof buf, &len, 5000) : rc2;
  shmbus_rpc_client_close(tiny);
  shmbus_rpc_client_close(c);
  int exit_code = stop_server(srv);
  CHECK_RC(too_large, SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_RC(tiny_rc, SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_OK(tiny_ok);
  CHECK(exit_code == 0);
}

static void corrupt_service_segments_are_refused(void) {
  /* An rpc segment whose params are impossible: too many workers, a slot smaller than a request header, a ring
     that does not fit. Servers and clients refuse it with ERR_SHM_CORRUPT, never touch it out of bounds. */
  static const uint32_t bad[][3] = {{16, 1056, 63}, {16, 16, 64}, {16, 1 << 20, 64}, {3, 1056, 64}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char* n = fresh("rpc-corrupt");
    uint32_t p[16] = {0};
    memcpy(p, bad[i], sizeof bad[i]);
    shmbus_segment_create_options co;
    memset(&co, 0, sizeof co);
    co.struct_size = sizeof co;
    co.size = 2112 + 320 + 16 * 1088;
    co.kind = SHMBUS_KIND_RPC;
    co.params = p;
    shmbus_segment* seg = NULL;
    CHECK_OK(shmbus_segment_create_ex(n, &co, &seg));
    shmbus_segment_close(seg);
    shmbus_rpc_server* s = NULL;
    shmbus_rpc_client* c = NULL;
    char buf[8];
    size_t len;
    CHECK_RC(shmbus_rpc_serve(n, handler, NULL, NULL, &s), SHMBUS_ESHM_CORRUPT);
    CHECK_OK(shmbus_rpc_connect(n, &c));
    int rc = shmbus_rpc_request(c, "x", 1, buf, sizeof buf, &len, 1000);
    shmbus_rpc_client_close(c);
    CHECK_RC(rc, SHMBUS_ESHM_CORRUPT);
  }
  /* Another kind under the name. */
  const char* q = fresh("rpc-kind");
  shmbus_queue* other = NULL;
  CHECK_OK(shmbus_queue_create(q, 4, 16, &other));
  shmbus_queue_close(other);
  shmbus_rpc_server* s = NULL;
  CHECK_RC(shmbus_rpc_serve(q, handler, NULL, NULL, &s), SHMBUS_ESHM_KIND);
}

/* Segments named "<name>.r<digits>" that exist now. */
static int response_queues(const char* name) {
  shmbus_segment_info* list = NULL;
  size_t count = 0, plen = strlen(name);
  int n = 0;
  if (shmbus_segment_list(&list, &count) != 0) return -1;
  for (size_t i = 0; i < count; i++)
    if (strncmp(list[i].name, name, plen) == 0 && strncmp(list[i].name + plen, ".r", 2) == 0) n++;
  shmbus_segment_list_free(list);
  return n;
}

static void last_server_out_removes_dead_clients_queues(void) {
  const char* n = fresh("rpc-stale");
  pid_t srv = spawn_server(n, 1);
  CHECK(srv > 0);
  /* A client that gets its answer and dies without closing: its response queue stays behind. */
  pid_t client = fork();
  if (client == 0) {
    shmbus_rpc_client* c = NULL;
    char buf[16];
    size_t len;
    if (shmbus_rpc_connect(n, &c) != 0 || shmbus_rpc_request(c, "x", 1, buf, sizeof buf, &len, 5000) != 0) _exit(2);
    kill(getpid(), SIGKILL);
    _exit(3);
  }
  int st = 0;
  waitpid(client, &st, 0);
  int left_by_the_dead = response_queues(n);
  /* A live client's queue is not stale: it stays. */
  shmbus_rpc_client* live = NULL;
  char buf[16];
  size_t len;
  int rc = shmbus_rpc_connect(n, &live);
  if (rc == 0) rc = shmbus_rpc_request(live, "y", 1, buf, sizeof buf, &len, 5000);
  int exit_code = stop_server(srv);
  int after = response_queues(n);
  shmbus_rpc_client_close(live);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  CHECK(left_by_the_dead == 1);
  CHECK_OK(rc);
  CHECK(exit_code == 0);
  CHECK(after == 1); /* only the live client's */
  CHECK(response_queues(n) == 0);
}

/* Zero-copy handler: bytes answered inverted in a response loan; "big" loans more than the client takes;
   "twice" checks that a second loan is refused; "elsewhere" loans, then answers from its own buffer. */
static int zc_handler(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply) {
  uint8_t* out = NULL;
  (void)ctx;
  if ((req->flags & SHMBUS_MSG_TEXT) && req->size == 3 && memcmp(req->data, "big", 3) == 0) {
    return shmbus_rpc_reply_loan(reply, 1u << 20, (void**)&out); /* SHMBUS_EMESSAGE_TOO_LARGE, returned as is */
  }
  int rc = shmbus_rpc_reply_loan(reply, req->size, (void**)&out);
  if (rc != 0) return rc;
  if ((req->flags & SHMBUS_MSG_TEXT) && req->size == 5 && memcmp(req->data, "twice", 5) == 0) {
    void* again = NULL;
    rc = shmbus_rpc_reply_loan(reply, 1, &again);
    return shmbus_rpc_reply_error(reply, rc == SHMBUS_EINVAL_ARG ? "second loan refused" : "second loan allowed");
  }
  if ((req->flags & SHMBUS_MSG_TEXT) && req->size == 4 && memcmp(req->data, "over", 4) == 0) {
    reply->data = out;
    reply->size = 5; /* one more byte than loaned */
    return 0;
  }
  if ((req->flags & SHMBUS_MSG_TEXT) && req->size == 9 && memcmp(req->data, "elsewhere", 9) == 0) {
    reply->data = "other";
    reply->size = 5;
    return 0;
  }
  for (size_t i = 0; i < req->size; i++) out[i] = (uint8_t)(255 - ((const uint8_t*)req->data)[i]);
  reply->data = out;
  reply->size = req->size;
  return 0;
}

static void zero_copy_requests_and_responses(void) {
  const char* n = fresh("rpc-zc");
  shmbus_rpc_serve_options o;
  shmbus_rpc_connect_options co;
  shmbus_rpc_server* srv = NULL;
  shmbus_rpc_client* c = NULL;
  shmbus_rpc_loan loan;
  shmbus_rpc_view v;
  char buf[64];
  size_t len = 0;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.workers = 2;
  o.max_message_size = 4096;
  o.zero_copy = 1;
  CHECK_OK(shmbus_rpc_serve(n, zc_handler, NULL, &o, &srv));
  CHECK_OK(shmbus_rpc_server_start(srv));
  memset(&co, 0, sizeof co);
  co.struct_size = sizeof co;
  co.max_message_size = 4096;
  CHECK_OK(shmbus_rpc_connect_ex(n, &co, &c));
  for (int k = 0; k < 20; k++) {
    CHECK_OK(shmbus_rpc_request_loan(c, 100, 1000, &loan));
    for (int i = 0; i < 100; i++) ((uint8_t*)loan.data)[i] = (uint8_t)(i + k);
    CHECK_OK(shmbus_rpc_request_commit(c, &loan, 100, 0, &v, 5000));
    CHECK(v.size == 100);
    for (int i = 0; i < 100; i++) CHECK(((const uint8_t*)v.data)[i] == (uint8_t)(255 - (uint8_t)(i + k)));
    if (k % 2 == 0) CHECK_OK(shmbus_rpc_view_release(c, &v)); /* else: the next request releases it */
  }
  CHECK(shmbus_rpc_request_commit(c, &loan, 100, 0, &v, 5000) == SHMBUS_ECLOSED); /* committed twice */
  CHECK_OK(shmbus_rpc_request_view(c, "\x01\x02", 2, 0, &v, 5000));
  CHECK(v.size == 2 && ((const uint8_t*)v.data)[0] == 254 && ((const uint8_t*)v.data)[1] == 253);
  CHECK_OK(shmbus_rpc_view_release(c, &v));
  CHECK_OK(shmbus_rpc_view_release(c, &v)); /* idempotent */
  CHECK(shmbus_rpc_request_ex(c, "big", 3, SHMBUS_MSG_TEXT, buf, sizeof buf, &len, NULL, 5000) == SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK(shmbus_rpc_request_ex(c, "twice", 5, SHMBUS_MSG_TEXT, buf, sizeof buf, &len, NULL, 5000) == SHMBUS_EREMOTE);
  CHECK(strstr(shmbus_last_error_message(), "second loan refused") != NULL);
  CHECK(shmbus_rpc_request_ex(c, "over", 4, SHMBUS_MSG_TEXT, buf, sizeof buf, &len, NULL, 5000) == SHMBUS_EREMOTE);
  CHECK(strstr(shmbus_last_error_message(), "larger than its response loan") != NULL);
  CHECK_OK(shmbus_rpc_request_ex(c, "elsewhere", 9, SHMBUS_MSG_TEXT, buf, sizeof buf, &len, NULL, 5000));
  CHECK(len == 5 && memcmp(buf, "other", 5) == 0);
  CHECK(shmbus_rpc_request_loan(c, 4097, 0, &loan) == SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_OK(shmbus_rpc_request_loan(c, 4, 0, &loan));
  CHECK_OK(shmbus_rpc_request_abort(c, &loan));
  CHECK(shmbus_rpc_request_abort(c, &loan) == SHMBUS_ECLOSED);
  CHECK(shmbus_rpc_request_commit(c, &loan, 5, 0, &v, 0) == SHMBUS_ECLOSED);
  /* Still serving after all that: a plain request. */
  CHECK_OK(shmbus_rpc_request(c, "\x10", 1, buf, sizeof buf, &len, 5000));
  CHECK(len == 1 && (uint8_t)buf[0] == 0xef);
  shmbus_rpc_client_close(c);
  shmbus_rpc_server_close(srv);
}

int main(void) {
  RUN(echo_text_and_remote_error);
  RUN(zero_copy_requests_and_responses);
  RUN(no_server_fails_at_once);
  RUN(concurrent_clients_on_two_server_processes);
  RUN(killed_server_is_no_server_not_a_timeout);
  RUN(worker_table_limit);
  RUN(sizes_and_bad_input);
  RUN(last_server_out_removes_dead_clients_queues);
  RUN(corrupt_service_segments_are_refused);
  return test_summary();
}
