/*
 * rpc-peer.c: the C side of the Rpc cross tests (test/cross/rpc.test.ts), with the handler of the Node fixture
 * test/fixtures/rpc-server.ts and the checks of test/fixtures/rpc-client.ts.
 *   serve <name> <workers> [maxMessageSize]    serves until "stop" on stdin: "serving", then "stopped <served>".
 *                                             Handler: bytes are echoed; text "hang" never answers (prints
 *                                             "handling <id>"); "throw:<msg>" fails with msg; other text answers
 *                                             "ok:<text>".
 *   client <name> <client> <count> <lanes>     sends count requests "<client>:<i>" from `lanes` threads (one rpc
 *                                             client each) and checks each answer is "ok:<client>:<i>": "done <ok>"
 *   call <name> <text> [timeoutMs]             one text request: "ok <response text>" or "error <CODE> <message>"
 * Zero-copy roles (test/cross/rpc-zero-copy.test.ts):
 *   zc-serve <name> <workers> <maxMessageSize> serves with zero_copy = 1 until "stop" on stdin. Bytes: answered
 *                                             with every byte inverted (255 - b), written into a response loan;
 *                                             text "loan-hang": loans a response, prints "loaned <id>", never
 *                                             answers. "serving", then "stopped <served>".
 *   zc-client <name> <count> <size>            count requests written in request loans (byte i = (i * 7 + k)
 *                                             & 255 for request k), each response read as a view and checked
 *                                             (every byte inverted): "done <count>"
 */
#include "../channel_peer.h"

#include <pthread.h>
#include <unistd.h>

static shmbus_rpc_server* server;

static int handler(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply) {
  (void)ctx;
  if (!(req->flags & SHMBUS_MSG_TEXT)) {
    reply->data = req->data;
    reply->size = req->size;
    return 0;
  }
  const char* text = (const char*)req->data; /* NUL-terminated by the library */
  if (strcmp(text, "hang") == 0) {
    peer_say("handling %u", req->id);
    for (;;) pause();
  }
  if (strncmp(text, "throw:", 6) == 0) return shmbus_rpc_reply_error(reply, text + 6);
  int n = snprintf((char*)reply->buf, reply->cap, "ok:%s", text);
  reply->data = reply->buf;
  reply->size = (size_t)n < reply->cap ? (size_t)n : reply->cap;
  reply->flags = SHMBUS_MSG_TEXT;
  return 0;
}

static int zc_handler(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply) {
  uint8_t* out = NULL;
  (void)ctx;
  if (req->flags & SHMBUS_MSG_TEXT) {
    if (req->size == 9 && memcmp(req->data, "loan-hang", 9) == 0) {
      int rc = shmbus_rpc_reply_loan(reply, 16, (void**)&out);
      if (rc != 0) return rc;
      memset(out, 0xee, 8);
      peer_say("loaned %u", req->id);
      for (;;) pause();
    }
    return shmbus_rpc_reply_error(reply, "zc-serve answers bytes");
  }
  int rc = shmbus_rpc_reply_loan(reply, req->size, (void**)&out);
  if (rc != 0) return rc;
  const uint8_t* in = (const uint8_t*)req->data;
  for (size_t i = 0; i < req->size; i++) out[i] = (uint8_t)(255 - in[i]);
  reply->data = out;
  reply->size = req->size;
  return 0;
}

static int zc_client(const char* name, uint32_t count, size_t size) {
  shmbus_rpc_client* c = NULL;
  peer_check(shmbus_rpc_connect(name, &c), "connect");
  peer_say("ready");
  for (uint32_t k = 0; k < count; k++) {
    shmbus_rpc_loan loan;
    shmbus_rpc_view v;
    peer_check(shmbus_rpc_request_loan(c, size, 30000, &loan), "request_loan");
    uint8_t* p = (uint8_t*)loan.data;
    for (size_t i = 0; i < size; i++) p[i] = (uint8_t)(i * 7 + k);
    peer_check(shmbus_rpc_request_commit(c, &loan, size, 0, &v, 30000), "request_commit");
    const uint8_t* r = (const uint8_t*)v.data;
    if (v.size != size) {
      fprintf(stderr, "response %u: %zu bytes, want %zu\n", k, v.size, size);
      return 1;
    }
    for (size_t i = 0; i < size; i++) {
      if (r[i] != (uint8_t)(255 - (uint8_t)(i * 7 + k))) {
        fprintf(stderr, "response %u: byte %zu is %u\n", k, i, r[i]);
        return 1;
      }
    }
    peer_check(shmbus_rpc_view_release(c, &v), "view_release");
  }
  peer_say("done %u", count);
  shmbus_rpc_client_close(c);
  return 0;
}

/* Reads stdin until "stop" (or EOF), then stops the server. */
static void* watch_stdin(void* arg) {
  char line[256];
  (void)arg;
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strncmp(line, "stop", 4) == 0) break;
  }
  shmbus_rpc_server_stop(server);
  return NULL;
}

static int serve(const char* name, uint32_t workers, uint32_t max_size, int zero_copy) {
  shmbus_rpc_serve_options o;
  shmbus_rpc_server_stats st;
  pthread_t t;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.workers = workers;
  o.max_message_size = max_size;
  o.zero_copy = zero_copy;
  peer_check(shmbus_rpc_serve(name, zero_copy ? zc_handler : handler, NULL, &o, &server), "serve");
  peer_say("serving");
  pthread_create(&t, NULL, watch_stdin, NULL);
  peer_check(shmbus_rpc_server_run(server), "run");
  pthread_join(t, NULL);
  peer_check(shmbus_rpc_server_get_stats(server, &st), "stats");
  shmbus_rpc_server_close(server);
  peer_say("stopped %llu", (unsigned long long)st.served);
  return 0;
}

typedef struct lane {
  const char* name;
  const char* client;
  uint32_t count;
  uint32_t* next;
  uint32_t ok;
  int failed;
} lane;

static void* lane_run(void* arg) {
  lane* l = (lane*)arg;
  shmbus_rpc_client* c = NULL;
  char req[256], want[300], got[300];
  peer_check(shmbus_rpc_connect(l->name, &c), "connect");
  for (;;) {
    uint32_t i = __atomic_fetch_add(l->next, 1, __ATOMIC_RELAXED);
    size_t len = 0;
    uint32_t flags = 0;
    if (i >= l->count) break;
    int n = snprintf(req, sizeof req, "%s:%u", l->client, i);
    snprintf(want, sizeof want, "ok:%s", req);
    int rc = shmbus_rpc_request_ex(c, req, (size_t)n, SHMBUS_MSG_TEXT, got, sizeof got, &len, &flags, 30000);
    if (rc != 0) {
      fprintf(stderr, "request %s: %s %s\n", req, shmbus_error_code(rc), shmbus_last_error_message());
      l->failed = 1;
      break;
    }
    if (len != strlen(want) || memcmp(got, want, len) != 0 || flags != SHMBUS_MSG_TEXT) {
      fprintf(stderr, "request %s got %.*s\n", req, (int)len, got);
      l->failed = 1;
      break;
    }
    l->ok++;
  }
  shmbus_rpc_client_close(c);
  return NULL;
}

static int client(const char* name, const char* id, uint32_t count, uint32_t lanes) {
  lane l[16];
  pthread_t t[16];
  uint32_t next = 0, ok = 0;
  int failed = 0;
  if (lanes < 1) lanes = 1;
  if (lanes > 16) lanes = 16;
  peer_say("ready");
  for (uint32_t i = 0; i < lanes; i++) {
    l[i] = (lane){name, id, count, &next, 0, 0};
    pthread_create(&t[i], NULL, lane_run, &l[i]);
  }
  for (uint32_t i = 0; i < lanes; i++) {
    pthread_join(t[i], NULL);
    ok += l[i].ok;
    failed |= l[i].failed;
  }
  peer_say("done %u", ok);
  return failed;
}

static int call(const char* name, const char* text, int64_t timeout_ms) {
  shmbus_rpc_client* c = NULL;
  char got[4097];
  size_t len = 0;
  peer_check(shmbus_rpc_connect(name, &c), "connect");
  int rc = shmbus_rpc_request_ex(c, text, strlen(text), SHMBUS_MSG_TEXT, got, sizeof got - 1, &len, NULL, timeout_ms);
  if (rc == 0) {
    got[len] = 0;
    peer_say("ok %s", got);
  } else {
    peer_say("error %s %s", shmbus_error_code(rc), shmbus_last_error_message());
  }
  shmbus_rpc_client_close(c);
  return 0;
}

int main(int argc, char** argv) {
  const char* role = argc > 1 ? argv[1] : "";
  if (strcmp(role, "serve") == 0 && (argc == 4 || argc == 5)) {
    return serve(argv[2], (uint32_t)atoi(argv[3]), argc == 5 ? (uint32_t)atoi(argv[4]) : 0, 0);
  }
  if (strcmp(role, "zc-serve") == 0 && argc == 5) return serve(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), 1);
  if (strcmp(role, "zc-client") == 0 && argc == 5) {
    return zc_client(argv[2], (uint32_t)atoi(argv[3]), (size_t)atoll(argv[4]));
  }
  if (strcmp(role, "client") == 0 && argc == 6) {
    return client(argv[2], argv[3], (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]));
  }
  if (strcmp(role, "call") == 0 && (argc == 4 || argc == 5)) {
    return call(argv[2], argv[3], argc == 5 ? atoll(argv[4]) : 10000);
  }
  fprintf(stderr, "usage: rpc-peer serve|client|call ... (see the source)\n");
  return 2;
}
