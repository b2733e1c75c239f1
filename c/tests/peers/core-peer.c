/*
 * core-peer: a C peer for the Node cross tests of segments and the mutex (test/cross/segment.test.ts).
 * Commands (one per line; see peer.h for the protocol):
 *   create NAME SIZE KIND P0,P1,..   -> created          open NAME [KIND] [TIMEOUT] -> opened SIZE KIND P0,P1,..
 *   byte I -> byte V                 setbyte I V -> ok    close -> closed             unlink NAME -> unlinked
 *   mutex-open NAME [LIVENESS_MS]    -> mutex            lock TIMEOUT -> locked R    unlock -> unlocked
 *   encode-header KIND PAYLOAD PID START CREATED NS STATE P0,P1,.. -> header HEX (128 bytes, lower-case hex)
 *   list NAME -> info SIZE KIND CREATOR_PID CREATED_AT ATTACHED STALE (or "info none")
 *   create-stalled NAME SIZE -> "initialising", then the create's init blocks until a "go" line (-> created)
 *   exit [CODE]
 */
#include <stdint.h>

#include "peer.h"

static shmbus_segment* seg;
static shmbus_mutex* mutex;

/* "a,b,c" into 16 u32 (missing ones 0). */
static void parse_params(const char* text, uint32_t* params) {
  int i;
  memset(params, 0, SHMBUS_PARAMS_COUNT * sizeof *params);
  for (i = 0; i < SHMBUS_PARAMS_COUNT && text != NULL && *text != '\0'; i++) {
    char* end;
    params[i] = (uint32_t)strtoul(text, &end, 0);
    text = *end == ',' ? end + 1 : end;
  }
}

static void say_params(const char* prefix, size_t size, int kind, const uint32_t* params) {
  char buf[256];
  int n = 0;
  int i;
  for (i = 0; i < SHMBUS_PARAMS_COUNT; i++) n += snprintf(buf + n, sizeof buf - (size_t)n, i ? ",%u" : "%u", params[i]);
  peer_say("%s %zu %d %s", prefix, size, kind, buf);
}

static int cmd_create(int argc, char** argv) {
  uint32_t params[SHMBUS_PARAMS_COUNT];
  shmbus_segment_create_options o;
  int rc;
  memset(&o, 0, sizeof o);
  parse_params(argc > 4 ? argv[4] : NULL, params);
  o.struct_size = sizeof o;
  o.size = (size_t)peer_int(argc, argv, 2);
  o.kind = (int)peer_int(argc, argv, 3);
  o.params = params;
  rc = shmbus_segment_create_ex(argv[1], &o, &seg);
  if (rc != SHMBUS_OK) return peer_error(rc);
  peer_say("created");
  return 0;
}

/* An init that holds the segment in its initialising state until "go" arrives on stdin. */
static int stall_until_go(shmbus_segment* s, void* ctx) {
  char line[64];
  (void)ctx;
  peer_say("initialising");
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strncmp(line, "go", 2) == 0) {
      ((uint8_t*)shmbus_segment_data(s))[0] = 99;
      return 0;
    }
  }
  return SHMBUS_ECLOSED; /* stdin ended: give up the create */
}

static int cmd_create_stalled(int argc, char** argv) {
  shmbus_segment_create_options o;
  int rc;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.size = (size_t)peer_int(argc, argv, 2);
  o.init = stall_until_go;
  rc = shmbus_segment_create_ex(argv[1], &o, &seg);
  if (rc != SHMBUS_OK) return peer_error(rc);
  peer_say("created");
  return 0;
}

static int cmd_open(int argc, char** argv) {
  shmbus_segment_open_options o;
  int rc;
  o.struct_size = sizeof o;
  o.kind = argc > 2 ? (int)peer_int(argc, argv, 2) : SHMBUS_KIND_ANY;
  o.timeout_ms = argc > 3 ? peer_int(argc, argv, 3) : SHMBUS_DEFAULT_OPEN_TIMEOUT_MS;
  rc = shmbus_segment_open_ex(argv[1], &o, &seg);
  if (rc != SHMBUS_OK) return peer_error(rc);
  say_params("opened", shmbus_segment_size(seg), shmbus_segment_kind(seg), shmbus_segment_params(seg));
  return 0;
}

static int cmd_byte(int argc, char** argv, int set) {
  const size_t i = (size_t)peer_int(argc, argv, 1);
  uint8_t* bytes = seg ? (uint8_t*)shmbus_segment_data(seg) : NULL;
  if (bytes == NULL || i >= shmbus_segment_size(seg)) {
    peer_say("error ERR_INVALID_ARG no segment, or index out of range");
    return 0;
  }
  if (set) {
    bytes[i] = (uint8_t)peer_int(argc, argv, 2);
    peer_say("ok");
  } else {
    peer_say("byte %u", bytes[i]);
  }
  return 0;
}

static int cmd_mutex_open(int argc, char** argv) {
  shmbus_sync_options o;
  int rc;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.liveness_ms = (uint32_t)peer_int(argc, argv, 2);
  rc = shmbus_mutex_open_ex(argv[1], &o, &mutex);
  if (rc != SHMBUS_OK) return peer_error(rc);
  peer_say("mutex");
  return 0;
}

static int cmd_lock(int argc, char** argv) {
  int recovered = 0;
  int rc = shmbus_mutex_lock(mutex, argc > 1 ? peer_int(argc, argv, 1) : -1, &recovered);
  if (rc != SHMBUS_OK) return peer_error(rc);
  peer_say("locked %d", recovered);
  return 0;
}

static int cmd_encode_header(int argc, char** argv) {
  shmbus_header h;
  uint8_t bytes[SHMBUS_HEADER_SIZE];
  char hex[2 * SHMBUS_HEADER_SIZE + 1];
  int i;
  memset(&h, 0, sizeof h);
  h.version = SHMBUS_PROTOCOL_VERSION;
  h.kind = (uint16_t)peer_int(argc, argv, 1);
  h.header_size = SHMBUS_HEADER_SIZE;
  h.payload_size = (uint64_t)peer_int(argc, argv, 2);
  h.total_size = h.payload_size + SHMBUS_HEADER_SIZE;
  h.creator_pid = (uint32_t)peer_int(argc, argv, 3);
  h.creator_start_time = (uint64_t)peer_int(argc, argv, 4);
  h.created_at = (uint64_t)peer_int(argc, argv, 5);
  h.creator_ns = (uint32_t)peer_int(argc, argv, 6);
  h.state = (uint32_t)peer_int(argc, argv, 7);
  parse_params(argc > 8 ? argv[8] : NULL, h.params);
  shmbus_header_encode(&h, bytes);
  for (i = 0; i < SHMBUS_HEADER_SIZE; i++) snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
  peer_say("header %s", hex);
  return 0;
}

static int cmd_close(int argc, char** argv) {
  (void)argc;
  (void)argv;
  shmbus_segment_close(seg);
  seg = NULL;
  peer_say("closed");
  return 0;
}

static int cmd_unlink(int argc, char** argv) {
  int rc = shmbus_segment_unlink(argv[1]);
  (void)argc;
  if (rc != SHMBUS_OK) return peer_error(rc);
  peer_say("unlinked");
  return 0;
}

static int cmd_unlock(int argc, char** argv) {
  int rc = shmbus_mutex_unlock(mutex);
  (void)argc;
  (void)argv;
  if (rc != SHMBUS_OK) return peer_error(rc);
  peer_say("unlocked");
  return 0;
}

static int cmd_list(int argc, char** argv) {
  shmbus_segment_info* list = NULL;
  size_t n = 0;
  size_t i;
  int rc = shmbus_segment_list(&list, &n);
  (void)argc;
  if (rc != SHMBUS_OK) return peer_error(rc);
  for (i = 0; i < n && strcmp(list[i].name, argv[1]) != 0; i++) {
  }
  if (i == n) peer_say("info none");
  else peer_say("info %llu %d %u %llu %d %d", (unsigned long long)list[i].size, list[i].kind, list[i].creator_pid,
                (unsigned long long)list[i].created_at, list[i].attached, list[i].stale);
  shmbus_segment_list_free(list);
  return 0;
}

static int cmd_get_byte(int argc, char** argv) { return cmd_byte(argc, argv, 0); }
static int cmd_set_byte(int argc, char** argv) { return cmd_byte(argc, argv, 1); }

typedef struct command {
  const char* name;
  int min_args; /* including the command itself */
  int (*run)(int argc, char** argv);
} command;

static const command commands[] = {
    {"create", 3, cmd_create},        {"open", 2, cmd_open},         {"byte", 2, cmd_get_byte},
    {"setbyte", 3, cmd_set_byte},     {"close", 1, cmd_close},       {"unlink", 2, cmd_unlink},
    {"mutex-open", 2, cmd_mutex_open}, {"lock", 1, cmd_lock},         {"unlock", 1, cmd_unlock},
    {"encode-header", 8, cmd_encode_header}, {"list", 2, cmd_list},
    {"create-stalled", 3, cmd_create_stalled},
};

static int on_command(int argc, char** argv) {
  size_t i;
  if (strcmp(argv[0], "exit") == 0) exit((int)peer_int(argc, argv, 1));
  for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(argv[0], commands[i].name) != 0) continue;
    if (argc < commands[i].min_args) peer_say("error ERR_INVALID_ARG %s needs %d arguments", argv[0], commands[i].min_args - 1);
    else commands[i].run(argc, argv); /* failures were answered as "error ..." */
    return 0;
  }
  peer_say("error ERR_INVALID_ARG unknown command %s", argv[0]);
  return 0;
}

int main(void) { return peer_run(on_command); }
