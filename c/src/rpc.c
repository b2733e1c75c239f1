/* Rpc (PROTOCOL.md §8): request/response between processes. Requests travel through the §6 ring embedded in the
 * rpc segment; each response goes to the asking client's own response queue "<service>.r<clientId>". A worker table
 * (pid + start time + namespace per worker) tells clients whether a server lives and which request a dead worker
 * held; a robust Mutex serialises joining, leaving and retiring. */
#include "queue_ring.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RPC_NEXT_CLIENT 0u
#define RPC_RETIRED 4u
#define RPC_INSTANCE 8u
#define RPC_LOCK 32u
#define RPC_WORKERS 64u
#define RPC_MAX_WORKERS 64u
#define RPC_WORKER_SIZE 32u
#define RPC_RING 2112u
#define RPC_W_PID 0u /* (pid, state) is one u64: pid low, state high */
#define RPC_W_START 8u
#define RPC_W_CLIENT 16u
#define RPC_W_REQUEST 20u
#define RPC_W_BUSY 24u
#define RPC_W_NS 28u
#define RPC_STARTING 1u
#define RPC_SERVING 2u
#define RPC_REQ_HEADER 32u
#define RPC_RES_HEADER 16u
#define RPC_STATUS_OK 0u
#define RPC_STATUS_ERROR 1u
#define RPC_STATUS_TOO_LARGE 2u
#define RPC_MAX_NAME 188u /* 200 - len(".r4294967295") */
#define RPC_DEFAULT_MAX_MESSAGE_SIZE 65536u
#define RPC_DEFAULT_REQUEST_SLOTS 16u
#define RPC_DEFAULT_RESPONSE_SLOTS 4u
/* How long a client trusts "a server is alive" before it reads the worker table again. */
#define RPC_ALIVE_CACHE_NS 20000000
/* A waiting worker looks at its stop flag at least this often (a stop also wakes it at once). */
#define RPC_WORKER_SLICE_MS 200
/* Response queues a worker keeps open. */
#define RPC_RESPONDERS 8

/* ---- the service segment ------------------------------------------------------------------------------------ */

typedef struct rpc_service {
  shmbus_segment* seg;
  sbi_ring ring;
  uint8_t* p; /* payload */
  uint32_t liveness_ms;
} rpc_service;

static uint8_t* rpc_entry(const rpc_service* s, uint32_t i) {
  return s->p + RPC_WORKERS + i * RPC_WORKER_SIZE;
}

static uint64_t* rpc_entry_pair(const rpc_service* s, uint32_t i) {
  return SBI_CAST(uint64_t*, (void*)rpc_entry(s, i));
}

static int rpc_check_name(const char* name) {
  int rc = sbi_check_name(name);
  if (rc != SHMBUS_OK) return rc;
  if (strlen(name) > RPC_MAX_NAME) {
    return sbi_fail(SHMBUS_EINVALID_NAME,
                    "rpc service name of %zu characters is too long: at most %u, so that the response queues' "
                    "names \"<name>.r<clientId>\" fit the 200-character name limit",
                    strlen(name), RPC_MAX_NAME);
  }
  return SHMBUS_OK;
}

static int rpc_wrap(shmbus_segment* seg, uint32_t spin_us, uint32_t liveness_ms, rpc_service* out) {
  const uint32_t* params = seg->params;
  int rc;
  if (params[2] != RPC_MAX_WORKERS || params[1] < RPC_REQ_HEADER) {
    rc = sbi_fail(SHMBUS_ESHM_CORRUPT, "rpc segment \"%s\" has an impossible layout; unlink it", seg->name);
  } else {
    rc = sbi_ring_validate(seg->name, RPC_RING, seg->payload_size, params[0], params[1]);
  }
  if (rc != SHMBUS_OK) {
    sbi_segment_close(seg);
    return rc;
  }
  out->seg = seg;
  out->p = seg->payload;
  out->liveness_ms = liveness_ms;
  sbi_ring_attach(&out->ring, seg->payload + RPC_RING, params[0], params[1], seg->name, spin_us, liveness_ms);
  return SHMBUS_OK;
}

static int rpc_service_open(const char* name, uint32_t spin_us, uint32_t liveness_ms, rpc_service* out) {
  shmbus_segment* seg = NULL;
  int rc = sbi_segment_open(name, SHMBUS_KIND_RPC, SHMBUS_DEFAULT_OPEN_TIMEOUT_MS, &seg);
  if (rc != SHMBUS_OK) return rc;
  return rpc_wrap(seg, spin_us, liveness_ms, out);
}

typedef struct rpc_init_ctx {
  uint32_t slots, slot_size, instance;
} rpc_init_ctx;

static int rpc_init_payload(uint8_t* payload, size_t size, void* ctx) {
  const rpc_init_ctx* c = SBI_CAST(const rpc_init_ctx*, ctx);
  (void)size;
  /* Plain stores: the segment is not published yet (SYNC READY follows). */
  *sbi_word(payload, RPC_INSTANCE) = c->instance;
  sbi_ring_init(payload + RPC_RING, c->slots, c->slot_size, 0);
  return SHMBUS_OK;
}

/* A random non-zero u32 (tells this segment from a successor under the same name). */
static uint32_t rpc_random(void) {
  static uint64_t counter;
  uint64_t x = (uint64_t)sbi_os_now_ns() ^ ((uint64_t)sbi_self()->pid << 32) ^ (uint64_t)(uintptr_t)&x ^
               __atomic_add_fetch(&counter, 0x9E3779B97F4A7C15ull, __ATOMIC_RELAXED);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return (uint32_t)x == 0 ? 1u : (uint32_t)x;
}

static int rpc_service_create(const char* name, uint32_t slots, uint32_t slot_size, unsigned mode, uint32_t spin_us,
                              uint32_t liveness_ms, rpc_service* out) {
  uint32_t params[16];
  rpc_init_ctx ctx;
  shmbus_segment* seg = NULL;
  int rc;
  memset(params, 0, sizeof params);
  params[0] = slots;
  params[1] = slot_size;
  params[2] = RPC_MAX_WORKERS;
  ctx.slots = slots;
  ctx.slot_size = slot_size;
  ctx.instance = rpc_random();
  rc = sbi_segment_create(name, SHMBUS_KIND_RPC, params, (size_t)(RPC_RING + sbi_ring_size(slots, slot_size)), mode,
                          rpc_init_payload, &ctx, &seg);
  if (rc != SHMBUS_OK) return rc;
  return rpc_wrap(seg, spin_us, liveness_ms, out);
}

static void rpc_service_close(rpc_service* s) {
  if (s->seg != NULL) sbi_segment_close(s->seg);
  s->seg = NULL;
}

static int rpc_retired(const rpc_service* s) {
  /* SYNC RPC-RETIRED (seq_cst load): pairs with the store under the lock in rpc_retire. */
  return sbi_load32(sbi_word(s->p, RPC_RETIRED), __ATOMIC_SEQ_CST) != 0;
}

/* Pid of entry `i` if it is held by a live process, else 0. */
static uint32_t rpc_live_pid(const rpc_service* s, uint32_t i) {
  uint8_t* e = rpc_entry(s, i);
  /* SYNC RPC-WORKER (seq_cst 64-bit load): pid and state change together, so they are read together. */
  uint64_t v = sbi_load64(rpc_entry_pair(s, i), __ATOMIC_SEQ_CST);
  uint32_t pid = (uint32_t)v, state = (uint32_t)(v >> 32);
  uint64_t start = 0;
  uint32_t ns = 0;
  if (pid == 0 || state == 0) return 0;
  if (state == RPC_SERVING) {
    /* start and ns were published by the release store of SERVING (the load above acquires it). Relaxed atomic
       loads: a reclaimer may be rewriting them. */
    start = (uint64_t)sbi_load32(sbi_word(e, RPC_W_START), __ATOMIC_RELAXED) |
            ((uint64_t)sbi_load32(sbi_word(e, RPC_W_START + 4), __ATOMIC_RELAXED) << 32);
    ns = sbi_load32(sbi_word(e, RPC_W_NS), __ATOMIC_RELAXED);
  }
  return sbi_holder_alive(pid, start, ns) ? pid : 0;
}

static int rpc_any_live(const rpc_service* s) {
  uint32_t i;
  for (i = 0; i < RPC_MAX_WORKERS; i++)
    if (rpc_live_pid(s, i) != 0) return 1;
  return 0;
}

/* A live, not retired service: some worker entry is held by a live process. */
static int rpc_any_alive(const rpc_service* s) {
  return !rpc_retired(s) && rpc_any_live(s);
}

/* Holding the lock: unlinks the name if it still names this segment (same size and instance word). */
static void rpc_unlink_if_named(rpc_service* s) {
  shmbus_segment* other = NULL;
  int same;
  if (sbi_segment_open(s->seg->name, SHMBUS_KIND_RPC, 0, &other) != SHMBUS_OK) {
    sbi_clear_error();
    return; /* gone, another kind, or a successor still being created: not ours */
  }
  /* Relaxed loads: the instance words never change after creation. */
  same = other->size == s->seg->size &&
         other->payload_size >= RPC_INSTANCE + 4 &&
         sbi_load32(sbi_word(other->payload, RPC_INSTANCE), __ATOMIC_RELAXED) ==
             sbi_load32(sbi_word(s->p, RPC_INSTANCE), __ATOMIC_RELAXED);
  sbi_segment_close(other);
  if (same) (void)shmbus_segment_unlink(s->seg->name);
}

/* Holding the lock: marks the segment retired, then removes its name if it still names this segment. */
static void rpc_retire(rpc_service* s) {
  /* SYNC RPC-RETIRED (seq_cst store, under the lock, before the unlink): a joiner that opened this segment by the
     old name sees it retired once it holds the lock; clients see "no server". */
  sbi_store32(sbi_word(s->p, RPC_RETIRED), 1, __ATOMIC_SEQ_CST);
  rpc_unlink_if_named(s);
}

static int rpc_lock(rpc_service* s) {
  /* Held for a few instructions: a holder still alive after 100 liveness intervals is stopped or forged (as in
     Node): ETIMEDOUT rather than a serve/close that never returns. */
  return sbi_mutex_lock(s->p + RPC_LOCK, (int64_t)s->liveness_ms * 100, s->liveness_ms, NULL);
}

static void rpc_unlock(rpc_service* s) {
  (void)sbi_mutex_unlock(s->p + RPC_LOCK);
}

/* Claims entry `i` if it is free or (reclaim) if its holder is dead; reclaim 1 spares a dead entry still busy
   (its client has yet to learn that the request died with it), reclaim 2 takes it too. */
static int rpc_claim(rpc_service* s, uint32_t i, int reclaim) {
  const sbi_identity* me = sbi_self();
  uint8_t* e = rpc_entry(s, i);
  /* SYNC RPC-WORKER (seq_cst 64-bit load): the (pid, state) pair the CAS below expects. */
  uint64_t expected = sbi_load64(rpc_entry_pair(s, i), __ATOMIC_SEQ_CST);
  if (expected != 0 && (!reclaim || rpc_live_pid(s, i) != 0)) return 0;
  /* SYNC RPC-BUSY (acquire load): a dead holder's busy no longer changes. */
  if (expected != 0 && reclaim == 1 && sbi_load32(sbi_word(e, RPC_W_BUSY), __ATOMIC_ACQUIRE) != 0) return 0;
  /* SYNC RPC-WORKER (seq_cst 64-bit CAS): pid and state change together, so a live entry is never taken over. */
  if (!sbi_cas64(rpc_entry_pair(s, i), &expected, (uint64_t)me->pid | ((uint64_t)RPC_STARTING << 32))) return 0;
  /* Relaxed stores: clients may read these concurrently (they trust them only in state SERVING). */
  sbi_store32(sbi_word(e, RPC_W_START), (uint32_t)me->start, __ATOMIC_RELAXED);
  sbi_store32(sbi_word(e, RPC_W_START + 4), (uint32_t)(me->start >> 32), __ATOMIC_RELAXED);
  sbi_store32(sbi_word(e, RPC_W_NS), me->ns, __ATOMIC_RELAXED);
  sbi_store32(sbi_word(e, RPC_W_BUSY), 0, __ATOMIC_RELAXED);
  /* SYNC RPC-WORKER (release): start and ns are written before the entry says SERVING. The whole pair is stored
     (same pid) so the pair is only ever written 64 bits at a time; nobody else writes an entry a live process
     holds. */
  sbi_store64(rpc_entry_pair(s, i), (uint64_t)me->pid | ((uint64_t)RPC_SERVING << 32), __ATOMIC_RELEASE);
  return 1;
}

/* Frees entry `i` if it is still this process's (never an entry reclaimed since). */
static void rpc_free_entry(rpc_service* s, uint32_t i) {
  uint64_t mine = (uint64_t)sbi_self()->pid | ((uint64_t)RPC_SERVING << 32);
  /* SYNC RPC-WORKER (seq_cst 64-bit CAS): (own pid, SERVING) -> (0, FREE). */
  (void)sbi_cas64(rpc_entry_pair(s, i), &mine, 0);
}

#define RPC_JOIN_RETIRED 1

/* Joins with `count` entries under the lock: 0 (entries filled), RPC_JOIN_RETIRED (this segment no longer serves
   its name: open or create anew), or an error (SHMBUS_ETOO_MANY_WORKERS). */
static int rpc_join(rpc_service* s, uint32_t count, uint32_t slots, uint32_t slot_size, uint32_t* entries) {
  uint32_t got = 0, pass, i;
  int rc = rpc_lock(s);
  if (rc != SHMBUS_OK) return rc;
  if (rpc_retired(s)) {
    /* The previous holder retired it but may have died before unlinking the name. */
    rpc_unlink_if_named(s);
    rpc_unlock(s);
    return RPC_JOIN_RETIRED;
  }
  if ((s->ring.slots != slots || s->ring.slot_size != slot_size) && !rpc_any_live(s)) {
    rpc_retire(s);
    rpc_unlock(s);
    return RPC_JOIN_RETIRED;
  }
  /* FREE entries first, then dead idle ones: a dead worker's busy entry tells a waiting client which request died
     with it (reclaiming it first made that request wait for its timeout: found by the kill -9 suite). */
  for (pass = 0; pass < 3; pass++) {
    for (i = 0; i < RPC_MAX_WORKERS && got < count; i++)
      if (rpc_claim(s, i, (int)pass)) entries[got++] = i;
  }
  if (got < count) {
    for (i = 0; i < got; i++) rpc_free_entry(s, entries[i]);
    rpc_unlock(s);
    return sbi_fail(SHMBUS_ETOO_MANY_WORKERS,
                    "rpc \"%s\" has room for %u more workers, not %u: a service has at most 64 live workers across "
                    "its server processes",
                    s->seg->name, got, count);
  }
  rpc_unlock(s);
  return SHMBUS_OK;
}

/* Leaves: frees the entries and, if no live worker is left, retires the service. 1 when this was the last server. */
static int rpc_leave(rpc_service* s, const uint32_t* entries, uint32_t count) {
  uint32_t i;
  int last = 0;
  if (rpc_lock(s) != SHMBUS_OK) {
    for (i = 0; i < count; i++) rpc_free_entry(s, entries[i]);
    return 0;
  }
  for (i = 0; i < count; i++) rpc_free_entry(s, entries[i]);
  if (!rpc_retired(s) && !rpc_any_live(s)) {
    rpc_retire(s);
    last = 1;
  }
  rpc_unlock(s);
  return last;
}

static void rpc_set_busy(rpc_service* s, uint32_t i, uint32_t client, uint32_t request) {
  uint8_t* e = rpc_entry(s, i);
  /* Relaxed stores (a client may read them concurrently), published by the release store of busy. */
  sbi_store32(sbi_word(e, RPC_W_CLIENT), client, __ATOMIC_RELAXED);
  sbi_store32(sbi_word(e, RPC_W_REQUEST), request, __ATOMIC_RELAXED);
  /* SYNC RPC-BUSY (release): client and request are valid while busy is 1. */
  sbi_store32(sbi_word(e, RPC_W_BUSY), 1, __ATOMIC_RELEASE);
}

static void rpc_set_idle(rpc_service* s, uint32_t i) {
  /* SYNC RPC-BUSY (release): after the response's commit, so a client never sees "idle" without the response. */
  sbi_store32(sbi_word(rpc_entry(s, i), RPC_W_BUSY), 0, __ATOMIC_RELEASE);
}

/* Pid of a dead worker that had request (client, request) in hand, else 0. */
static uint32_t rpc_dead_worker_holding(const rpc_service* s, uint32_t client, uint32_t request) {
  uint32_t i;
  for (i = 0; i < RPC_MAX_WORKERS; i++) {
    uint8_t* e = rpc_entry(s, i);
    uint64_t v;
    /* SYNC RPC-BUSY (acquire), then the client and request it publishes. */
    if (sbi_load32(sbi_word(e, RPC_W_BUSY), __ATOMIC_ACQUIRE) != 1 ||
        sbi_load32(sbi_word(e, RPC_W_CLIENT), __ATOMIC_RELAXED) != client)
      continue;
    /* SYNC RPC-WORKER (seq_cst 64-bit load): the holder. */
    v = sbi_load64(rpc_entry_pair(s, i), __ATOMIC_SEQ_CST);
    if ((uint32_t)v == 0 || rpc_live_pid(s, i) != 0) continue;
    /* Dead: the entry no longer changes (until a new server reclaims it, which clears busy first). SYNC RPC-BUSY
       (acquire) again. */
    if (sbi_load32(sbi_word(e, RPC_W_BUSY), __ATOMIC_ACQUIRE) != 1 ||
        sbi_load32(sbi_word(e, RPC_W_CLIENT), __ATOMIC_RELAXED) != client ||
        sbi_load32(sbi_word(e, RPC_W_REQUEST), __ATOMIC_RELAXED) != request)
      continue;
    return (uint32_t)v;
  }
  return 0;
}

static uint32_t rpc_next_client_id(rpc_service* s) {
  /* SYNC RPC-CLIENT-ID (seq_cst RMW): unique ids per segment. */
  return sbi_add32(sbi_word(s->p, RPC_NEXT_CLIENT), 1, __ATOMIC_SEQ_CST) + 1;
}

/* Removes the response queues "<name>.r<n>" of clients that died without closing (stale by §2.3, kind queue). */
static void rpc_remove_stale_response_queues(const char* name) {
  shmbus_segment_info* list = NULL;
  size_t count = 0, i, plen = strlen(name);
  if (shmbus_segment_list(&list, &count) != SHMBUS_OK) {
    sbi_clear_error();
    return;
  }
  for (i = 0; i < count; i++) {
    const char* n = list[i].name;
    const char* d = n + plen + 2;
    if (strncmp(n, name, plen) != 0 || n[plen] != '.' || n[plen + 1] != 'r' || *d == 0) continue;
    while (*d >= '0' && *d <= '9') d++;
    if (*d != 0 || list[i].kind != SHMBUS_KIND_QUEUE || !list[i].stale) continue;
    (void)shmbus_segment_unlink(n);
  }
  shmbus_segment_list_free(list);
  sbi_clear_error();
}

/* ---- JSON of a remote error: {"name","message"} ------------------------------------------------------------------ */

/* Writes `s` as a JSON string body (no quotes) into out (cap bytes); returns the length written. */
static size_t rpc_json_escape(const char* s, char* out, size_t cap) {
  size_t n = 0;
  for (; *s != 0; s++) {
    unsigned char c = (unsigned char)*s;
    char tmp[8];
    size_t k;
    if (c == '"' || c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)c;
      k = 2;
    } else if (c < 0x20) {
      k = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c);
    } else {
      tmp[0] = (char)c;
      k = 1;
    }
    if (n + k >= cap) break;
    memcpy(out + n, tmp, k);
    n += k;
  }
  return n;
}

/* The "message" member of a remote error's JSON (a flat object of strings, as Node writes it) into out; the whole
   text when it is not such an object. */
static void rpc_error_message(const uint8_t* body, size_t len, char* out, size_t cap) {
  static const char key[] = "\"message\"";
  size_t i, n = 0;
  for (i = 0; i + sizeof key - 1 <= len; i++) {
    size_t j = i + sizeof key - 1;
    if (memcmp(body + i, key, sizeof key - 1) != 0) continue;
    while (j < len && (body[j] == ' ' || body[j] == ':')) j++;
    if (j >= len || body[j] != '"') break;
    for (j++; j < len && body[j] != '"' && n + 1 < cap; j++) {
      char c = (char)body[j];
      if (c == '\\' && j + 1 < len) {
        char e = (char)body[++j];
        if (e == 'n') c = '\n';
        else if (e == 't') c = '\t';
        else if (e == 'r') c = '\r';
        else if (e == 'u' && j + 4 < len) {
          unsigned v = 0, k;
          for (k = 1; k <= 4; k++) {
            char h = (char)body[j + k];
            v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                                                   : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
          }
          j += 4;
          c = v < 0x80 ? (char)v : '?';
        } else c = e;
      }
      out[n++] = c;
    }
    out[n] = 0;
    return;
  }
  n = len < cap - 1 ? len : cap - 1;
  memcpy(out, body, n);
  out[n] = 0;
}

/* ==== server ====================================================================================================== */

typedef struct rpc_responder {
  uint32_t client;
  shmbus_segment* seg;
  sbi_ring ring;
} rpc_responder;

typedef struct rpc_worker {
  struct shmbus_rpc_server* server;
  uint32_t entry;
  uint8_t* req_buf; /* the request payload, copied out of the ring */
  uint8_t* rep_buf; /* scratch for the handler's reply */
  pthread_t thread;
  int started;
  rpc_responder responders[RPC_RESPONDERS];
  uint32_t next_evict;
  /* Publishes the request about to be taken in our entry before the TAKE (PROTOCOL §8 "Worker"). */
  sbi_take_intent intent;
  /* The request in hand (filled by the reader while the slot is still taken). */
  int valid;
  shmbus_rpc_req req;
  uint64_t client_start;
  uint32_t client_ns;
  /* Zero-copy: the request's slot while it is in hand, and the response loan of the handler, if any. */
  sbi_held req_slot;
  int req_held;
  sbi_held loan;
  rpc_responder* loan_to;
  size_t loan_size;
  int loan_open;
  int loan_too_large;
} rpc_worker;

struct shmbus_rpc_server {
  rpc_service svc;
  /* Test hook (SHMBUS_TEST_RPC_STOP, read once by shmbus_rpc_serve): RPC_STOP_TAKING or RPC_STOP_TAKEN, else 0. */
  int test_stop;
  char* name;
  shmbus_rpc_handler handler;
  void* ctx;
  uint32_t workers;
  uint32_t entries[RPC_MAX_WORKERS];
  rpc_worker* w;
  uint32_t max_payload;
  uint32_t spin_us;
  int zero_copy; /* requests are handed to the handler in their slots */
  int stop;      /* process-local flag: workers stop taking requests */
  int running;   /* a run or start is in progress */
  int background; /* started with shmbus_rpc_server_start: close joins the threads */
  uint64_t served, failed, in_flight;
};

/* Test hook of the reliability suite (test/reliability/rpc-take-window.test.ts): with SHMBUS_TEST_RPC_STOP=taking a
   worker stops itself (SIGSTOP, the whole process) once its intent is published but before its TAKE CAS; with
   =taken, right after the TAKE, where busy used to be stored. The test then kills it there with SIGKILL. */
#define RPC_STOP_TAKING 1
#define RPC_STOP_TAKEN 2
static void rpc_test_stop(const rpc_worker* w, int where) {
  if (w->server->test_stop == where) (void)raise(SIGSTOP);
}

/* SYNC RPC-BUSY, the intent (PROTOCOL §8 "Worker"): called by the ring before our TAKE CAS of a committed slot.
   client, request, busy = 1 are stored before the CAS, so at every instant from the take until the response is
   sent (or dropped) our entry names the request, and a client learns of our death. The header read is the
   committed one (the ring's acquire load of the pair); if the CAS then fails, `withdraw` clears busy. */
static void rpc_intent_before(void* ctx, const uint8_t* body, uint32_t length) {
  rpc_worker* w = SBI_CAST(rpc_worker*, ctx);
  if (length < RPC_REQ_HEADER) return; /* not a request: nobody to answer */
  /* Relaxed loads, not plain ones: if another consumer takes the slot first, a producer may be rewriting it now
     (the CAS then fails and this is withdrawn). The body is 32-byte aligned (slot + 32; slots are 64-byte aligned). */
  rpc_set_busy(&w->server->svc, w->entry, sbi_load32((const uint32_t*)(const void*)body, __ATOMIC_RELAXED),
               sbi_load32((const uint32_t*)(const void*)(body + 4), __ATOMIC_RELAXED));
  rpc_test_stop(w, RPC_STOP_TAKING);
}

/* The take was lost to another worker (or the slot given back): nothing in hand. */
static void rpc_intent_withdraw(void* ctx) {
  rpc_worker* w = SBI_CAST(rpc_worker*, ctx);
  rpc_set_idle(&w->server->svc, w->entry);
}


typedef struct rpc_serve_opts {
  uint32_t workers, slots, slot_size, liveness_ms, spin_us;
  unsigned mode;
  int zero_copy;
} rpc_serve_opts;

static int rpc_serve_options(const shmbus_rpc_serve_options* in, rpc_serve_opts* out) {
  shmbus_rpc_serve_options o;
  uint32_t size;
  memset(&o, 0, sizeof o);
  if (in != NULL) {
    if (in->struct_size < sizeof(size_t) || in->struct_size > sizeof o) {
      return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_serve: options.struct_size must be "
                                         "sizeof(shmbus_rpc_serve_options) (got %zu)",
                      in->struct_size);
    }
    memcpy(&o, in, in->struct_size);
  }
  if (o.workers > RPC_MAX_WORKERS) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_serve: workers must be from 1 to 64 (got %u)", o.workers);
  }
  out->workers = o.workers == 0 ? 1 : o.workers;
  if (o.max_message_size > SBI_Q_MAX_SLOT_SIZE - RPC_REQ_HEADER) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_serve: max_message_size must be from 1 to 2^30-32 (got %u)",
                    o.max_message_size);
  }
  size = o.max_message_size == 0 ? RPC_DEFAULT_MAX_MESSAGE_SIZE : o.max_message_size;
  out->slot_size = size + RPC_REQ_HEADER;
  out->slots = o.slots == 0 ? sbi_default_slots(size, RPC_DEFAULT_REQUEST_SLOTS) : o.slots;
  if (sbi_check_slots(out->slots, "shmbus_rpc_serve") != SHMBUS_OK) return SHMBUS_EINVAL_ARG;
  if (sbi_check_mode(o.mode, &out->mode) != 0) return SHMBUS_EINVAL_ARG;
  out->liveness_ms = SHMBUS_DEFAULT_LIVENESS_MS;
  if (sbi_liveness_option(o.liveness_ms, "shmbus_rpc_serve", &out->liveness_ms) != SHMBUS_OK) return SHMBUS_EINVAL_ARG;
  if (o.spin_us > 1000000) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_serve: spin_us must be at most 1000000");
  out->spin_us = o.spin_us == 0 ? SBI_Q_DEFAULT_SPIN_US : o.spin_us < 0 ? 0u : (uint32_t)o.spin_us;
  if (o.zero_copy != 0 && o.zero_copy != 1) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_serve: zero_copy must be 0 or 1 (got %d)", o.zero_copy);
  }
  out->zero_copy = o.zero_copy;
  return SHMBUS_OK;
}

static char* rpc_strdup(const char* s) {
  size_t n = strlen(s) + 1;
  char* d = SBI_CAST(char*, malloc(n));
  if (d != NULL) memcpy(d, s, n);
  return d;
}

static void rpc_server_free(shmbus_rpc_server* s) {
  uint32_t i;
  if (s->w != NULL) {
    for (i = 0; i < s->workers; i++) {
      free(s->w[i].req_buf);
      free(s->w[i].rep_buf);
    }
    free(s->w);
  }
  rpc_service_close(&s->svc);
  free(s->name);
  free(s);
}

int shmbus_rpc_serve(const char* name, shmbus_rpc_handler handler, void* ctx, const shmbus_rpc_serve_options* opts,
                     shmbus_rpc_server** out) {
  rpc_serve_opts o;
  shmbus_rpc_server* s;
  uint32_t i;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_serve: out is NULL");
  *out = NULL;
  if (handler == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_serve: the handler is NULL");
  if ((rc = rpc_serve_options(opts, &o)) != SHMBUS_OK) return rc;
  if ((rc = rpc_check_name(name)) != SHMBUS_OK) return rc;
  s = SBI_CAST(shmbus_rpc_server*, calloc(1, sizeof *s));
  if (s == NULL || (s->name = rpc_strdup(name)) == NULL) {
    free(s);
    return sbi_fail(SHMBUS_EOS, "shmbus_rpc_serve: out of memory");
  }
  s->handler = handler;
  s->ctx = ctx;
  {
    const char* stop = getenv("SHMBUS_TEST_RPC_STOP");
    s->test_stop = stop == NULL ? 0 : strcmp(stop, "taking") == 0 ? RPC_STOP_TAKING : strcmp(stop, "taken") == 0 ? RPC_STOP_TAKEN : 0;
  }
  s->workers = o.workers;
  s->spin_us = o.spin_us;
  s->zero_copy = o.zero_copy;
  for (;;) {
    rc = rpc_service_open(name, o.spin_us, o.liveness_ms, &s->svc);
    if (rc == SHMBUS_ESHM_NOT_FOUND) {
      rc = rpc_service_create(name, o.slots, o.slot_size, o.mode, o.spin_us, o.liveness_ms, &s->svc);
      if (rc == SHMBUS_ESHM_EXISTS) continue; /* another server created it first: open that one */
    }
    if (rc != SHMBUS_OK) break;
    rc = rpc_join(&s->svc, o.workers, o.slots, o.slot_size, s->entries);
    if (rc == RPC_JOIN_RETIRED) {
      /* The last server of that segment left (or it was dead with other sizes): its name is gone; start over. */
      rpc_service_close(&s->svc);
      continue;
    }
    break;
  }
  if (rc != SHMBUS_OK) {
    rpc_service_close(&s->svc);
    free(s->name);
    free(s);
    return rc;
  }
  s->max_payload = s->svc.ring.slot_size - RPC_REQ_HEADER;
  s->w = SBI_CAST(rpc_worker*, calloc(o.workers, sizeof *s->w));
  for (i = 0; s->w != NULL && i < o.workers; i++) {
    s->w[i].server = s;
    s->w[i].entry = s->entries[i];
    s->w[i].intent.before = rpc_intent_before;
    s->w[i].intent.withdraw = rpc_intent_withdraw;
    s->w[i].intent.ctx = &s->w[i];
    s->w[i].req_buf = SBI_CAST(uint8_t*, malloc(s->max_payload + 1));
    s->w[i].rep_buf = SBI_CAST(uint8_t*, malloc(s->max_payload + 1));
    if (s->w[i].req_buf == NULL || s->w[i].rep_buf == NULL) break;
  }
  if (s->w == NULL || i < o.workers) {
    (void)rpc_leave(&s->svc, s->entries, s->workers);
    rpc_server_free(s);
    return sbi_fail(SHMBUS_EOS, "shmbus_rpc_serve: out of memory");
  }
  *out = s;
  return SHMBUS_OK;
}

/* Fills the request in hand from the header at `body` (`len` bytes in all, checked by the caller); the entry is
   busy with it already (the intent). `data` is where the payload is (a copy, or the slot). */
static void rpc_accept_request(rpc_worker* w, const uint8_t* body, uint32_t len, const uint8_t* data) {
  rpc_test_stop(w, RPC_STOP_TAKEN);
  w->req.data = data;
  w->req.size = len - RPC_REQ_HEADER;
  w->req.client_id = sbi_get32(body + 0);
  w->req.id = sbi_get32(body + 4);
  w->req.client_pid = sbi_get32(body + 8);
  w->req.flags = sbi_get32(body + 12) & SHMBUS_MSG_TEXT;
  w->client_start = sbi_get64(body + 16);
  w->client_ns = sbi_get32(body + 24);
  w->valid = 1;
}

static int rpc_read_request(void* ctx, const uint8_t* body, uint32_t len, uint32_t flags) {
  rpc_worker* w = SBI_CAST(rpc_worker*, ctx);
  uint32_t n;
  (void)flags;
  w->valid = 0;
  if (len < RPC_REQ_HEADER) return SHMBUS_OK; /* not a request: nobody to answer */
  n = len - RPC_REQ_HEADER;
  if (n > w->server->max_payload) return SHMBUS_OK;
  memcpy(w->req_buf, body + RPC_REQ_HEADER, n);
  w->req_buf[n] = 0; /* convenience for text handlers; not part of size */
  rpc_accept_request(w, body, len, w->req_buf);
  return SHMBUS_OK;
}

typedef struct rpc_response_out {
  uint32_t id, status, flags;
  const void* data;
  size_t size;
} rpc_response_out;

static int rpc_write_response(void* ctx, uint8_t* body, uint32_t cap, uint32_t* len) {
  const rpc_response_out* r = SBI_CAST(const rpc_response_out*, ctx);
  if (cap < RPC_RES_HEADER || r->size > cap - RPC_RES_HEADER) return SHMBUS_EMESSAGE_TOO_LARGE;
  sbi_put32(body + 0, r->id);
  sbi_put32(body + 4, r->status);
  sbi_put32(body + 8, r->flags);
  sbi_put32(body + 12, 0);
  if (r->size > 0) memcpy(body + RPC_RES_HEADER, r->data, r->size);
  *len = RPC_RES_HEADER + (uint32_t)r->size;
  return SHMBUS_OK;
}

static void rpc_evict(rpc_responder* r) {
  if (r->seg != NULL) sbi_segment_close(r->seg);
  r->seg = NULL;
  r->client = 0;
}

/* The worker's open response queue of `client`, opened now if needed; NULL when the client is gone. */
static rpc_responder* rpc_responder_for(rpc_worker* w, uint32_t client) {
  char qname[SHMBUS_NAME_MAX + 1];
  shmbus_segment* seg = NULL;
  rpc_responder* r;
  uint32_t i;
  for (i = 0; i < RPC_RESPONDERS; i++)
    if (w->responders[i].seg != NULL && w->responders[i].client == client) return &w->responders[i];
  snprintf(qname, sizeof qname, "%s.r%u", w->server->name, client);
  if (sbi_segment_open(qname, SHMBUS_KIND_QUEUE, 100, &seg) != SHMBUS_OK) return NULL;
  if (sbi_ring_validate(seg->name, 0, seg->payload_size, seg->params[0], seg->params[1]) != SHMBUS_OK) {
    sbi_segment_close(seg);
    return NULL;
  }
  for (i = 0; i < RPC_RESPONDERS && w->responders[i].seg != NULL; i++) {
  }
  if (i == RPC_RESPONDERS) {
    i = w->next_evict++ % RPC_RESPONDERS;
    rpc_evict(&w->responders[i]);
  }
  r = &w->responders[i];
  r->client = client;
  r->seg = seg;
  sbi_ring_attach(&r->ring, seg->payload, seg->params[0], seg->params[1], seg->name, w->server->spin_us,
                  w->server->svc.liveness_ms);
  return r;
}

/* Sends a response, waiting (while the client lives and the server is not stopped) for room in its queue. */
static void rpc_respond(rpc_worker* w, uint32_t status, const void* data, size_t size, uint32_t flags) {
  shmbus_rpc_server* s = w->server;
  rpc_responder* r = rpc_responder_for(w, w->req.client_id);
  rpc_response_out out;
  if (r == NULL) {
    sbi_clear_error();
    return; /* the client is gone (closed or never made its queue): nobody to answer */
  }
  out.id = w->req.id;
  out.status = status;
  out.flags = flags;
  out.data = data;
  out.size = size;
  for (;;) {
    uint32_t seen = sbi_ring_releases(&r->ring);
    int rc = sbi_ring_try_write(&r->ring, rpc_write_response, &out, 0);
    if (rc == SHMBUS_OK) return;
    if (rc == SHMBUS_EMESSAGE_TOO_LARGE && out.status != RPC_STATUS_TOO_LARGE) {
      /* Say so in a response that always fits (no payload). */
      out.status = RPC_STATUS_TOO_LARGE;
      out.flags = 0;
      out.size = 0;
      continue;
    }
    if (rc != SHMBUS_EAGAIN) break; /* ended by its client, or corrupt: that client cannot be answered */
    /* Process-local stop flag (seq_cst load; set by shmbus_rpc_server_stop). */
    if (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST) ||
        !sbi_holder_alive(w->req.client_pid, w->client_start, w->client_ns))
      break;
    sbi_ring_park(&r->ring, 0, seen, sbi_deadline(s->svc.liveness_ms));
  }
  sbi_clear_error();
  rpc_evict(r);
}

int shmbus_rpc_reply_error(shmbus_rpc_reply* reply, const char* message) {
  if (reply == NULL) return SHMBUS_EINVAL_ARG;
  snprintf(reply->error, sizeof reply->error, "%s", message == NULL ? "the handler failed" : message);
  return SHMBUS_EREMOTE;
}

int shmbus_rpc_reply_loan(shmbus_rpc_reply* reply, size_t size, void** data) {
  rpc_worker* w;
  rpc_responder* r;
  shmbus_rpc_server* s;
  if (reply == NULL || data == NULL || reply->internal_ == NULL) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_reply_loan: call it with the reply of a handler in progress");
  }
  w = SBI_CAST(rpc_worker*, reply->internal_);
  s = w->server;
  *data = NULL;
  if (w->loan_open) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_reply_loan: this request already has a loan");
  r = rpc_responder_for(w, w->req.client_id);
  if (r == NULL) return sbi_fail(SHMBUS_ECLOSED, "rpc \"%s\": the client of this request is gone", s->name);
  if (r->ring.slot_size < RPC_RES_HEADER || size > r->ring.slot_size - RPC_RES_HEADER) {
    w->loan_too_large = 1;
    return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE,
                    "rpc \"%s\": a %zu-byte response loan is larger than the client's response slots (%u bytes)",
                    s->name, size, r->ring.slot_size - RPC_RES_HEADER);
  }
  for (;;) {
    uint32_t seen = sbi_ring_releases(&r->ring);
    int rc = sbi_ring_try_claim(&r->ring, &w->loan.slot, &w->loan.seq);
    if (rc == SHMBUS_OK) break;
    if (rc != SHMBUS_EAGAIN) {
      rpc_evict(r); /* ended by its client (or corrupt): that client cannot be answered */
      return sbi_fail(SHMBUS_ECLOSED, "rpc \"%s\": the client of this request is gone", s->name);
    }
    /* Process-local stop flag (seq_cst load; set by shmbus_rpc_server_stop). */
    if (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST) ||
        !sbi_holder_alive(w->req.client_pid, w->client_start, w->client_ns)) {
      rpc_evict(r);
      return sbi_fail(SHMBUS_ECLOSED, "rpc \"%s\": the client of this request died (or the server stops)", s->name);
    }
    sbi_ring_park(&r->ring, 0, seen, sbi_deadline(s->svc.liveness_ms));
  }
  w->loan.body = w->loan.slot + SBI_Q_SLOT_HEADER;
  w->loan_to = r;
  w->loan_size = size;
  w->loan_open = 1;
  *data = w->loan.body + RPC_RES_HEADER;
  return SHMBUS_OK;
}

/* Ends the handler's response loan: commits it as the answer (1), or gives it back (0: answer otherwise). */
static int rpc_end_loan(rpc_worker* w, int rc, shmbus_rpc_reply* reply) {
  uint8_t* body = w->loan.body;
  if (!w->loan_open) return 0;
  w->loan_open = 0;
  if (rc != SHMBUS_OK || reply->data != body + RPC_RES_HEADER || reply->size > w->loan_size) {
    sbi_ring_give_back(&w->loan_to->ring, w->loan.slot, w->loan.seq);
    if (rc == SHMBUS_OK && reply->data == body + RPC_RES_HEADER) {
      /* More than loaned: the bytes are no longer ours to send. */
      (void)shmbus_rpc_reply_error(reply, "the handler's reply size is larger than its response loan");
      reply->data = NULL;
      reply->size = 0;
    }
    return 0;
  }
  sbi_put32(body + 0, w->req.id);
  sbi_put32(body + 4, RPC_STATUS_OK);
  sbi_put32(body + 8, reply->flags & SHMBUS_MSG_TEXT);
  sbi_put32(body + 12, 0);
  if (sbi_ring_commit_held(&w->loan_to->ring, w->loan.slot, w->loan.seq, RPC_RES_HEADER + (uint32_t)reply->size, 0) !=
      SHMBUS_OK) {
    rpc_evict(w->loan_to); /* its client ended the queue: dropped, as a copied reply would be */
    sbi_clear_error();
  }
  return 1;
}

/* Runs the handler on the request in hand and answers it. */
static void rpc_handle(rpc_worker* w) {
  shmbus_rpc_server* s = w->server;
  shmbus_rpc_reply reply;
  int rc;
  memset(&reply, 0, sizeof reply);
  reply.buf = w->rep_buf;
  reply.cap = s->max_payload;
  reply.internal_ = w;
  w->loan_open = 0;
  w->loan_too_large = 0;
  /* Statistics of this process (relaxed RMWs: several workers count at once). */
  __atomic_fetch_add(&s->in_flight, 1, __ATOMIC_RELAXED);
  rc = s->handler(s->ctx, &w->req, &reply);
  __atomic_fetch_add(&s->served, 1, __ATOMIC_RELAXED);
  if (rpc_end_loan(w, rc, &reply)) {
    __atomic_fetch_sub(&s->in_flight, 1, __ATOMIC_RELAXED);
    return;
  }
  if (rc == SHMBUS_OK && reply.error[0] != 0) rc = SHMBUS_EREMOTE; /* set by rpc_end_loan */
  if (rc == SHMBUS_EMESSAGE_TOO_LARGE && w->loan_too_large) {
    rpc_respond(w, RPC_STATUS_TOO_LARGE, NULL, 0, 0);
    __atomic_fetch_sub(&s->in_flight, 1, __ATOMIC_RELAXED);
    return;
  }
  if (rc == SHMBUS_OK && reply.data == NULL && reply.size > 0) {
    rc = shmbus_rpc_reply_error(&reply, "the handler set a reply size without reply data");
  }
  if (rc == SHMBUS_OK) {
    rpc_respond(w, RPC_STATUS_OK, reply.data, reply.size, reply.flags & SHMBUS_MSG_TEXT);
  } else {
    /* The remote error travels as UTF-8 JSON {"name","message"} (status ERROR), as Node's handlers' errors do. */
    char json[sizeof reply.error * 6 + 64];
    size_t n;
    __atomic_fetch_add(&s->failed, 1, __ATOMIC_RELAXED);
    if (reply.error[0] == 0) snprintf(reply.error, sizeof reply.error, "handler failed with %d (%s)", rc,
                                      shmbus_error_code(rc));
    n = (size_t)snprintf(json, sizeof json, "{\"name\":\"Error\",\"message\":\"");
    n += rpc_json_escape(reply.error, json + n, sizeof json - n - 3);
    memcpy(json + n, "\"}", 3);
    n += 2;
    rpc_respond(w, RPC_STATUS_ERROR, json, n, SHMBUS_MSG_TEXT);
  }
  __atomic_fetch_sub(&s->in_flight, 1, __ATOMIC_RELAXED);
}

static void* rpc_work(void* arg) {
  rpc_worker* w = SBI_CAST(rpc_worker*, arg);
  shmbus_rpc_server* s = w->server;
  uint32_t i;
  /* Process-local stop flag (seq_cst load), also checked by the ring read between its sleeps. */
  while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
    int rc;
    if (s->zero_copy) {
      /* The request stays in its slot (TAKEN by us) while the handler runs; freed once it is answered. */
      rc = sbi_ring_take_slot(&s->svc.ring, RPC_WORKER_SLICE_MS, &s->stop, &w->intent, &w->req_slot);
      w->valid = 0;
      if (rc == SHMBUS_OK) {
        w->req_held = 1;
        if (w->req_slot.length >= RPC_REQ_HEADER) {
          rpc_accept_request(w, w->req_slot.body, w->req_slot.length, w->req_slot.body + RPC_REQ_HEADER);
        }
      }
    } else {
      rc = sbi_ring_read(&s->svc.ring, UINT32_MAX, NULL, rpc_read_request, w, RPC_WORKER_SLICE_MS, &s->stop,
                         &w->intent);
    }
    if (rc == SHMBUS_ETIMEDOUT || rc == SHMBUS_ESHM_CORRUPT) continue; /* the bad slot was freed */
    if (rc == SHMBUS_EABORTED) break; /* stopped */
    if (rc != SHMBUS_OK) {
      /* Failed for good (the ring ended, or worse): this worker leaves the table alone, without the lock, so
         clients do not count it as a live server; the others go on. */
      rpc_free_entry(&s->svc, w->entry);
      break;
    }
    if (w->valid) rpc_handle(w);
    if (w->req_held) {
      /* The answer is in the client's queue (or was dropped): the request's slot is done with. */
      w->req_held = 0;
      (void)sbi_ring_free_held(&s->svc.ring, w->req_slot.slot, w->req_slot.seq);
    }
    /* Only now: the response is in the client's queue (or was dropped), so a death before this point is seen by
       the client as "busy with a dead holder" and fails its request instead of leaving it waiting. */
    if (rc == SHMBUS_OK) rpc_set_idle(&s->svc, w->entry);
  }
  for (i = 0; i < RPC_RESPONDERS; i++) rpc_evict(&w->responders[i]);
  sbi_clear_error();
  return NULL;
}

static int rpc_start_threads(shmbus_rpc_server* s, uint32_t first) {
  uint32_t i;
  for (i = first; i < s->workers; i++) {
    if (pthread_create(&s->w[i].thread, NULL, rpc_work, &s->w[i]) != 0) {
      /* Process-local stop flag (seq_cst store): the threads already started end. */
      __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
      return sbi_fail(SHMBUS_EOS, "rpc \"%s\": could not start worker thread %u", s->name, i);
    }
    s->w[i].started = 1;
  }
  return SHMBUS_OK;
}

static void rpc_join_threads(shmbus_rpc_server* s) {
  uint32_t i;
  for (i = 0; i < s->workers; i++) {
    if (s->w[i].started) pthread_join(s->w[i].thread, NULL);
    s->w[i].started = 0;
  }
}

int shmbus_rpc_server_run(shmbus_rpc_server* s) {
  int rc;
  if (s == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_server_run: the server is NULL");
  /* Process-local "running" flag (seq_cst exchange): one run or start at a time. */
  if (__atomic_exchange_n(&s->running, 1, __ATOMIC_SEQ_CST)) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "rpc \"%s\": the server is already running", s->name);
  }
  rc = rpc_start_threads(s, 1);
  if (rc == SHMBUS_OK) (void)rpc_work(&s->w[0]);
  rpc_join_threads(s);
  __atomic_store_n(&s->running, 0, __ATOMIC_SEQ_CST);
  return rc;
}

int shmbus_rpc_server_start(shmbus_rpc_server* s) {
  int rc;
  if (s == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_server_start: the server is NULL");
  /* Process-local "running" flag (seq_cst exchange): one run or start at a time. */
  if (__atomic_exchange_n(&s->running, 1, __ATOMIC_SEQ_CST)) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "rpc \"%s\": the server is already running", s->name);
  }
  s->background = 1;
  rc = rpc_start_threads(s, 0);
  if (rc != SHMBUS_OK) {
    rpc_join_threads(s);
    s->background = 0;
    __atomic_store_n(&s->running, 0, __ATOMIC_SEQ_CST);
  }
  return rc;
}

void shmbus_rpc_server_stop(shmbus_rpc_server* s) {
  if (s == NULL) return;
  /* Process-local stop flag (seq_cst store), read by the workers between requests and sleeps. */
  __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
  /* SYNC PARK (§3, a waker that did not move the counter word: wake without clearing the tag): this process's
     workers parked on the request ring see the stop flag at once; other sleepers re-check and sleep again. */
  sbi_wake_counter_keep(sbi_word(s->svc.ring.base, SBI_Q_COMMITS), sbi_word(s->svc.ring.base, SBI_Q_CONSUMER_WAITERS));
}

int shmbus_rpc_server_get_stats(const shmbus_rpc_server* s, shmbus_rpc_server_stats* out) {
  if (s == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_server_get_stats: NULL argument");
  /* Statistics (relaxed loads, reporting only). */
  out->served = __atomic_load_n(&s->served, __ATOMIC_RELAXED);
  out->failed = __atomic_load_n(&s->failed, __ATOMIC_RELAXED);
  out->in_flight = __atomic_load_n(&s->in_flight, __ATOMIC_RELAXED);
  return SHMBUS_OK;
}

void shmbus_rpc_server_close(shmbus_rpc_server* s) {
  int last;
  if (s == NULL) return;
  shmbus_rpc_server_stop(s);
  if (s->background) rpc_join_threads(s);
  last = rpc_leave(&s->svc, s->entries, s->workers);
  if (last) rpc_remove_stale_response_queues(s->name);
  rpc_server_free(s);
}

/* ==== client ====================================================================================================== */

struct shmbus_rpc_client {
  char* name;
  rpc_service svc; /* svc.seg == NULL: not open */
  int64_t alive_until;
  shmbus_segment* rseg; /* this client's response queue, NULL until the first request */
  sbi_ring responses;
  uint8_t rhead[32];    /* bytes 32..63 of its header (creator identity, createdAt): who made the object */
  uint32_t client_id;
  uint32_t next_id;
  uint32_t max_message_size, slots, liveness_ms, spin_us;
  unsigned mode;
  sbi_held view;  /* the response slot a zero-copy response holds (view_open) */
  int view_open;
};

/* Frees the slot of the zero-copy response this client holds, if any. */
static void rpc_drop_view(shmbus_rpc_client* c) {
  if (!c->view_open) return;
  c->view_open = 0;
  if (c->rseg != NULL) (void)sbi_ring_free_held(&c->responses, c->view.slot, c->view.seq);
}

int shmbus_rpc_connect_ex(const char* name, const shmbus_rpc_connect_options* opts, shmbus_rpc_client** out) {
  shmbus_rpc_connect_options o;
  shmbus_rpc_client* c;
  unsigned mode;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_connect: out is NULL");
  *out = NULL;
  memset(&o, 0, sizeof o);
  if (opts != NULL) {
    if (opts->struct_size < sizeof(size_t) || opts->struct_size > sizeof o) {
      return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_connect: options.struct_size must be "
                                         "sizeof(shmbus_rpc_connect_options) (got %zu)",
                      opts->struct_size);
    }
    memcpy(&o, opts, opts->struct_size);
  }
  if (o.max_message_size > SBI_Q_MAX_SLOT_SIZE - RPC_RES_HEADER) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_connect: max_message_size must be at most 2^30-16 (got %u)",
                    o.max_message_size);
  }
  if (o.slots != 0 && sbi_check_slots(o.slots, "shmbus_rpc_connect") != SHMBUS_OK) return SHMBUS_EINVAL_ARG;
  if (sbi_check_mode(o.mode, &mode) != 0) return SHMBUS_EINVAL_ARG;
  uint32_t liveness = SHMBUS_DEFAULT_LIVENESS_MS;
  if ((rc = sbi_liveness_option(o.liveness_ms, "shmbus_rpc_connect", &liveness)) != SHMBUS_OK) return rc;
  if (o.spin_us > 1000000) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_connect: spin_us must be at most 1000000");
  if ((rc = rpc_check_name(name)) != SHMBUS_OK) return rc;
  c = SBI_CAST(shmbus_rpc_client*, calloc(1, sizeof *c));
  if (c == NULL || (c->name = rpc_strdup(name)) == NULL) {
    free(c);
    return sbi_fail(SHMBUS_EOS, "shmbus_rpc_connect: out of memory");
  }
  c->max_message_size = o.max_message_size;
  c->slots = o.slots;
  c->mode = mode;
  c->liveness_ms = liveness;
  c->spin_us = o.spin_us == 0 ? SBI_Q_DEFAULT_SPIN_US : o.spin_us < 0 ? 0u : (uint32_t)o.spin_us;
  *out = c;
  return SHMBUS_OK;
}

int shmbus_rpc_connect(const char* name, shmbus_rpc_client** out) {
  return shmbus_rpc_connect_ex(name, NULL, out);
}

static int rpc_no_server(const char* name, const char* why) {
  return sbi_fail(SHMBUS_ENO_SERVER, "rpc \"%s\": %s; start a server with shmbus_rpc_serve(\"%s\", ...)", name, why,
                  name);
}

static void rpc_drop_responses(shmbus_rpc_client* c, int unlink) {
  rpc_drop_view(c);
  if (c->rseg == NULL) return;
  sbi_ring_end(&c->responses);
  if (unlink) (void)shmbus_segment_unlink(c->rseg->name);
  sbi_segment_close(c->rseg);
  c->rseg = NULL;
  sbi_clear_error();
}

/* 1 while the response queue's name still leads to this client's own queue object (workers open it by name). */
static int rpc_responses_named(shmbus_rpc_client* c) {
  shmbus_segment* other = NULL;
  int same;
  if (sbi_segment_open(c->rseg->name, SHMBUS_KIND_QUEUE, 0, &other) != SHMBUS_OK) {
    sbi_clear_error();
    return 0;
  }
  same = other->size == c->rseg->size && memcmp(other->base + 32, c->rhead, sizeof c->rhead) == 0;
  sbi_segment_close(other);
  return same;
}

/* Opens the service (again, if its servers are gone and it may have been replaced) and the response queue. */
static int rpc_connect_now(shmbus_rpc_client* c) {
  int64_t now = sbi_os_now_ns();
  int rc;
  if (c->svc.seg != NULL && now < c->alive_until) return SHMBUS_OK;
  if (c->svc.seg == NULL || !rpc_any_alive(&c->svc)) {
    rpc_service_close(&c->svc);
    rc = rpc_service_open(c->name, c->spin_us, c->liveness_ms, &c->svc);
    if (rc == SHMBUS_ESHM_NOT_FOUND) return rpc_no_server(c->name, "no such service");
    if (rc != SHMBUS_OK) return rc;
    if (!rpc_any_alive(&c->svc)) return rpc_no_server(c->name, "no server is alive");
  }
  if (c->rseg == NULL) {
    uint32_t size = c->max_message_size != 0 ? c->max_message_size : c->svc.ring.slot_size - RPC_REQ_HEADER;
    shmbus_queue_options qo;
    int attempt;
    memset(&qo, 0, sizeof qo);
    qo.struct_size = sizeof qo;
    qo.slots = c->slots != 0 ? c->slots : sbi_default_slots(size, RPC_DEFAULT_RESPONSE_SLOTS);
    qo.max_message_size = size + RPC_RES_HEADER;
    qo.mode = c->mode;
    for (attempt = 0; c->rseg == NULL; attempt++) {
      char qname[SHMBUS_NAME_MAX + 1];
      uint32_t id = rpc_next_client_id(&c->svc);
      shmbus_queue* q = NULL;
      snprintf(qname, sizeof qname, "%s.r%u", c->name, id);
      rc = shmbus_queue_create_ex(qname, &qo, &q);
      /* A stale queue of a dead client of an earlier service generation holds that name: take the next id. */
      if (rc == SHMBUS_ESHM_EXISTS && attempt < 1000) continue;
      if (rc != SHMBUS_OK) return rc;
      /* Keep the segment and the ring; the queue handle's shell goes. */
      c->rseg = q->seg;
      c->responses = q->ring;
      free(q);
      memcpy(c->rhead, c->rseg->base + 32, sizeof c->rhead);
      c->client_id = id;
    }
  }
  c->alive_until = now + RPC_ALIVE_CACHE_NS;
  return SHMBUS_OK;
}

typedef struct rpc_request_out {
  const shmbus_rpc_client* c;
  uint32_t id, flags;
  const void* data;
  size_t size;
} rpc_request_out;

static int rpc_write_request(void* ctx, uint8_t* body, uint32_t cap, uint32_t* len) {
  const rpc_request_out* r = SBI_CAST(const rpc_request_out*, ctx);
  const sbi_identity* me = sbi_self();
  if (r->size > cap - RPC_REQ_HEADER) return SHMBUS_EMESSAGE_TOO_LARGE;
  sbi_put32(body + 0, r->c->client_id);
  sbi_put32(body + 4, r->id);
  sbi_put32(body + 8, me->pid);
  sbi_put32(body + 12, r->flags);
  sbi_put64(body + 16, me->start);
  sbi_put32(body + 24, me->ns);
  sbi_put32(body + 28, 0);
  if (r->size > 0) memcpy(body + RPC_REQ_HEADER, r->data, r->size);
  *len = RPC_REQ_HEADER + (uint32_t)r->size;
  return SHMBUS_OK;
}

/* What the response reader found. */
typedef struct rpc_response_in {
  uint32_t id;
  int matched;
  uint32_t status, flags;
  void* buf;
  size_t cap;
  size_t len;
  int view;          /* keep an OK response in its slot (c->view) instead of copying it */
  const uint8_t* data;
  char error[512];
} rpc_response_in;

/* Reads one taken response: ours (matched) or one of an earlier timed-out id. 1 when its slot is kept as a view. */
static int rpc_read_response(rpc_response_in* in, const sbi_held* h) {
  const uint8_t* body = h->body;
  size_t n;
  if (h->length < RPC_RES_HEADER || sbi_get32(body) != in->id) return 0; /* not ours: an earlier timed-out id */
  in->matched = 1;
  in->status = sbi_get32(body + 4);
  in->flags = sbi_get32(body + 8) & SHMBUS_MSG_TEXT;
  n = h->length - RPC_RES_HEADER;
  in->len = n;
  if (in->status == RPC_STATUS_ERROR) {
    rpc_error_message(body + RPC_RES_HEADER, n, in->error, sizeof in->error);
    if (in->cap > 0) memcpy(in->buf, body + RPC_RES_HEADER, n < in->cap ? n : in->cap);
  } else if (in->status == RPC_STATUS_OK && in->view) {
    in->data = body + RPC_RES_HEADER;
    return 1;
  } else if (in->status == RPC_STATUS_OK && n <= in->cap && n > 0) {
    memcpy(in->buf, body + RPC_RES_HEADER, n);
  }
  return 0;
}

/* Waits for the response to request in->id (sent already): 0 with `in` filled, or an error. */
static int rpc_await(shmbus_rpc_client* c, rpc_response_in* in, int64_t deadline, int64_t timeout_ms) {
  int64_t next_check = sbi_os_now_ns() + (int64_t)c->liveness_ms * 1000000;
  for (;;) {
    uint32_t seen = sbi_ring_commits(&c->responses);
    int64_t now, wake;
    sbi_held h;
    int rc = sbi_ring_try_take_slot(&c->responses, UINT32_MAX, NULL, &h);
    if (rc == SHMBUS_OK) {
      if (rpc_read_response(in, &h)) {
        c->view = h;
        c->view_open = 1;
      } else {
        (void)sbi_ring_free_held(&c->responses, h.slot, h.seq);
      }
      if (in->matched) return SHMBUS_OK;
      continue;
    }
    if (rc == SHMBUS_ESHM_CORRUPT) continue;
    if (rc != SHMBUS_EAGAIN) return rc;
    now = sbi_os_now_ns();
    if (now >= next_check) {
      uint32_t pid;
      /* Every liveness interval, also while other responses arrive: the servers, then our queue's name. */
      if (!rpc_any_alive(&c->svc)) {
        c->alive_until = 0;
        return rpc_no_server(c->name, "the server stopped or died while the request was pending");
      }
      if (!rpc_responses_named(c)) {
        rpc_drop_responses(c, 0);
        return rpc_no_server(c->name, "this client's response queue was removed, so no response can reach it");
      }
      pid = rpc_dead_worker_holding(&c->svc, c->client_id, in->id);
      if (pid != 0) {
        return sbi_fail(SHMBUS_ENO_SERVER, "rpc \"%s\": the server process %u died while handling the request",
                        c->name, pid);
      }
      next_check = now + (int64_t)c->liveness_ms * 1000000;
      continue;
    }
    if (deadline != INT64_MAX && now >= deadline) {
      return sbi_fail(SHMBUS_ETIMEDOUT, "request to rpc \"%s\" timed out after %lld ms", c->name,
                      (long long)timeout_ms);
    }
    wake = deadline < next_check ? deadline : next_check;
    sbi_ring_park(&c->responses, 1, seen, wake);
  }
}

/* The result of a matched response that is not OK (or a copy that did not fit): the error to return. */
static int rpc_response_error(shmbus_rpc_client* c, const rpc_response_in* in) {
  if (in->status == RPC_STATUS_OK) {
    return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE,
                    "rpc \"%s\": the %zu-byte response is larger than the %zu-byte buffer (the response is dropped)",
                    c->name, in->len, in->cap);
  }
  if (in->status == RPC_STATUS_TOO_LARGE) {
    return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE,
                    "rpc \"%s\": the response did not fit this client's response slots; connect with a larger "
                    "max_message_size",
                    c->name);
  }
  /* ERROR: the handler's message; the JSON body ({"name","message","code"?}) is in the buffer as far as it fits. */
  return sbi_fail(SHMBUS_EREMOTE, "%s", in->error);
}

/* Checks shared by the request functions; connects. */
static int rpc_request_start(shmbus_rpc_client* c, const void* req, size_t len, uint32_t flags, int64_t timeout_ms,
                             const char* what) {
  int rc;
  if (c == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: the client is NULL", what);
  if (req == NULL && len > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: req is NULL", what);
  if ((flags & ~SHMBUS_MSG_TEXT) != 0) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: unknown flags", what);
  if (timeout_ms < -1) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: timeout_ms must be -1 or >= 0", what);
  rpc_drop_view(c);
  if ((rc = rpc_connect_now(c)) != SHMBUS_OK) return rc;
  if (len > c->svc.ring.slot_size - RPC_REQ_HEADER) {
    return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE,
                    "request to rpc \"%s\": a %zu-byte request is larger than the service's max_message_size %u",
                    c->name, len, c->svc.ring.slot_size - RPC_REQ_HEADER);
  }
  return SHMBUS_OK;
}

/* Sends a copied request; *id gets its id. */
static int rpc_send(shmbus_rpc_client* c, const void* req, size_t len, uint32_t flags, int64_t deadline,
                    int64_t timeout_ms, uint32_t* id) {
  rpc_request_out out;
  int rc;
  out.c = c;
  out.id = ++c->next_id;
  out.flags = flags;
  out.data = req;
  out.size = len;
  *id = out.id;
  rc = sbi_ring_write(&c->svc.ring, rpc_write_request, &out, 0, timeout_ms < 0 ? -1 : sbi_left_ms(deadline));
  if (rc == SHMBUS_ETIMEDOUT) {
    return sbi_fail(SHMBUS_ETIMEDOUT, "request to rpc \"%s\" timed out after %lld ms (the request queue stayed full)",
                    c->name, (long long)timeout_ms);
  }
  return rc;
}

int shmbus_rpc_request_ex(shmbus_rpc_client* c, const void* req, size_t len, uint32_t flags, void* resp_buf,
                          size_t cap, size_t* resp_len, uint32_t* resp_flags, int64_t timeout_ms) {
  rpc_response_in in;
  int64_t deadline = sbi_deadline(timeout_ms);
  int rc;
  if (c != NULL && resp_buf == NULL && cap > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_request: resp_buf is NULL");
  if ((rc = rpc_request_start(c, req, len, flags, timeout_ms, "shmbus_rpc_request")) != SHMBUS_OK) return rc;
  memset(&in, 0, sizeof in);
  if ((rc = rpc_send(c, req, len, flags, deadline, timeout_ms, &in.id)) != SHMBUS_OK) return rc;
  in.buf = resp_buf;
  in.cap = cap;
  if ((rc = rpc_await(c, &in, deadline, timeout_ms)) != SHMBUS_OK) return rc;
  if (resp_flags != NULL) *resp_flags = in.flags;
  if (in.status == RPC_STATUS_OK) {
    if (resp_len != NULL) *resp_len = in.len;
    if (in.len > cap) return rpc_response_error(c, &in);
    return SHMBUS_OK;
  }
  if (in.status == RPC_STATUS_ERROR && resp_len != NULL) *resp_len = in.len < cap ? in.len : cap;
  return rpc_response_error(c, &in);
}

/* Waits for request `id`'s response as a view into *resp. */
static int rpc_await_view(shmbus_rpc_client* c, uint32_t id, shmbus_rpc_view* resp, int64_t deadline,
                          int64_t timeout_ms) {
  rpc_response_in in;
  int rc;
  memset(&in, 0, sizeof in);
  in.id = id;
  in.view = 1;
  if ((rc = rpc_await(c, &in, deadline, timeout_ms)) != SHMBUS_OK) return rc;
  if (in.status != RPC_STATUS_OK) return rpc_response_error(c, &in);
  resp->data = in.data;
  resp->size = in.len;
  resp->flags = in.flags;
  return SHMBUS_OK;
}

int shmbus_rpc_request_view(shmbus_rpc_client* c, const void* req, size_t len, uint32_t flags, shmbus_rpc_view* resp,
                            int64_t timeout_ms) {
  int64_t deadline = sbi_deadline(timeout_ms);
  uint32_t id = 0;
  int rc;
  if (resp == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_request_view: resp is NULL");
  memset(resp, 0, sizeof *resp);
  if ((rc = rpc_request_start(c, req, len, flags, timeout_ms, "shmbus_rpc_request_view")) != SHMBUS_OK) return rc;
  if ((rc = rpc_send(c, req, len, flags, deadline, timeout_ms, &id)) != SHMBUS_OK) return rc;
  return rpc_await_view(c, id, resp, deadline, timeout_ms);
}

int shmbus_rpc_request_loan(shmbus_rpc_client* c, size_t size, int64_t timeout_ms, shmbus_rpc_loan* loan) {
  sbi_held h;
  int rc;
  if (loan == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_request_loan: loan is NULL");
  loan->open_ = 0;
  if ((rc = rpc_request_start(c, "", size, 0, timeout_ms, "shmbus_rpc_request_loan")) != SHMBUS_OK) return rc;
  rc = sbi_ring_claim(&c->svc.ring, timeout_ms, &h);
  if (rc != SHMBUS_OK) return rc;
  loan->data = h.body + RPC_REQ_HEADER;
  loan->size = size;
  loan->slot_ = h.slot;
  loan->seq_ = h.seq;
  loan->open_ = 1;
  return SHMBUS_OK;
}

/* The loan's slot once it is checked to lie in this client's request ring (the struct is caller memory). */
static int rpc_loan_slot(shmbus_rpc_client* c, const shmbus_rpc_loan* loan, const char* what, uint8_t** out) {
  const sbi_ring* r = &c->svc.ring;
  const uint8_t* first;
  uint64_t at;
  if (!loan->open_) return sbi_fail(SHMBUS_ECLOSED, "%s: the loan was already committed or aborted", what);
  if (c->svc.seg == NULL) return sbi_fail(SHMBUS_ECLOSED, "%s: the service was closed since the loan", what);
  first = r->base + SBI_Q_SLOTS;
  at = (uint64_t)((const uint8_t*)loan->slot_ - first);
  if ((const uint8_t*)loan->slot_ < first || at % r->stride != 0 || at / r->stride >= r->slots) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "%s: the loan does not belong to this client's service", what);
  }
  *out = r->base + SBI_Q_SLOTS + at;
  return SHMBUS_OK;
}

int shmbus_rpc_request_abort(shmbus_rpc_client* c, shmbus_rpc_loan* loan) {
  uint8_t* slot = NULL;
  int rc;
  if (c == NULL || loan == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_request_abort: NULL argument");
  if ((rc = rpc_loan_slot(c, loan, "shmbus_rpc_request_abort", &slot)) != SHMBUS_OK) return rc;
  loan->open_ = 0;
  sbi_ring_give_back(&c->svc.ring, slot, loan->seq_);
  return SHMBUS_OK;
}

int shmbus_rpc_request_commit(shmbus_rpc_client* c, shmbus_rpc_loan* loan, size_t size, uint32_t flags,
                              shmbus_rpc_view* resp, int64_t timeout_ms) {
  int64_t deadline = sbi_deadline(timeout_ms);
  const sbi_identity* me = sbi_self();
  uint8_t* slot = NULL;
  uint8_t* body;
  uint32_t id;
  int rc;
  if (c == NULL || loan == NULL || resp == NULL) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_request_commit: NULL argument");
  }
  memset(resp, 0, sizeof *resp);
  if ((rc = rpc_loan_slot(c, loan, "shmbus_rpc_request_commit", &slot)) != SHMBUS_OK) return rc;
  loan->open_ = 0;
  if (size > loan->size || (flags & ~SHMBUS_MSG_TEXT) != 0 || timeout_ms < -1) {
    sbi_ring_give_back(&c->svc.ring, slot, loan->seq_);
    return sbi_fail(SHMBUS_EINVAL_ARG,
                    "shmbus_rpc_request_commit: size %zu above the %zu bytes loaned, unknown flags or a bad timeout "
                    "(the loan was aborted)",
                    size, loan->size);
  }
  rpc_drop_view(c);
  id = ++c->next_id;
  body = slot + SBI_Q_SLOT_HEADER;
  sbi_put32(body + 0, c->client_id);
  sbi_put32(body + 4, id);
  sbi_put32(body + 8, me->pid);
  sbi_put32(body + 12, flags);
  sbi_put64(body + 16, me->start);
  sbi_put32(body + 24, me->ns);
  sbi_put32(body + 28, 0);
  rc = sbi_ring_commit_held(&c->svc.ring, slot, loan->seq_, RPC_REQ_HEADER + (uint32_t)size, 0);
  if (rc != SHMBUS_OK) return rc;
  return rpc_await_view(c, id, resp, deadline, timeout_ms);
}

int shmbus_rpc_view_release(shmbus_rpc_client* c, shmbus_rpc_view* resp) {
  if (c == NULL || resp == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_rpc_view_release: NULL argument");
  if (c->view_open && resp->data == c->view.body + RPC_RES_HEADER) rpc_drop_view(c);
  resp->data = NULL;
  resp->size = 0;
  return SHMBUS_OK;
}

int shmbus_rpc_request(shmbus_rpc_client* c, const void* req, size_t len, void* resp_buf, size_t cap,
                       size_t* resp_len, int64_t timeout_ms) {
  return shmbus_rpc_request_ex(c, req, len, 0, resp_buf, cap, resp_len, NULL, timeout_ms);
}

uint32_t shmbus_rpc_client_id(const shmbus_rpc_client* c) {
  return c == NULL ? 0 : c->client_id;
}

void shmbus_rpc_client_close(shmbus_rpc_client* c) {
  if (c == NULL) return;
  rpc_drop_responses(c, 1);
  rpc_service_close(&c->svc);
  free(c->name);
  free(c);
}

int shmbus_rpc_unlink(const char* name) {
  rpc_service svc;
  int rc = rpc_check_name(name);
  if (rc != SHMBUS_OK) return rc;
  memset(&svc, 0, sizeof svc);
  rc = rpc_service_open(name, 0, SHMBUS_DEFAULT_LIVENESS_MS, &svc);
  if (rc == SHMBUS_OK) {
    if (rpc_lock(&svc) == SHMBUS_OK) {
      if (!rpc_retired(&svc)) rpc_retire(&svc);
      else rpc_unlink_if_named(&svc);
      rpc_unlock(&svc);
    }
    rpc_service_close(&svc);
  } else {
    (void)shmbus_segment_unlink(name); /* missing, or not a usable rpc segment: just the name */
  }
  rpc_remove_stale_response_queues(name);
  sbi_clear_error();
  return SHMBUS_OK;
}
