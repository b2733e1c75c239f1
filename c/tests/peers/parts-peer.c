/*
 * parts-peer.c: the C side of test/cross/parts.test.ts (line protocol of peer.h).
 *   read <topic>    subscribes from the oldest message, reads one, checks it as a Parts record in place and answers
 *                   its digest line (the format every peer prints: see digest()), or "error ERR_PARTS_CORRUPT ..."
 *   write <topic>   publishes the C record through a loan: a 4x3 BGR uint8 Frame rendered straight into a reserved
 *                   bytes part (sample (y * 4 + x) * 3 + c), params JSON, a string, a float64 and an int64;
 *                   answers "wrote <seq> <size>"
 */
#include "peer.h"

#include <inttypes.h>

static uint32_t fnv1a(const void* data, size_t n) {
  const uint8_t* p = (const uint8_t*)data;
  uint32_t h = 0x811C9DC5u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x01000193u;
  return h;
}

/* "parts <count>" then " <name>=<type>:<digest>" per part in directory order (bytes <size>/<fnv1a>, string and
   json fnv1a of the text, float64 the 16 hex digits of its bits, int64 decimal), then " frame=<w>x<h>x<c>:<fnv1a of
   the stride-wide rows>" when a part named image holds a Frame. */
static int digest(const void* msg, size_t len) {
  static const char* types[] = {"?", "bytes", "string", "json", "float64", "int64"};
  shmbus_parts_reader r;
  int rc = shmbus_parts_reader_init(&r, msg, len);
  if (rc != SHMBUS_OK) return peer_error(rc);
  char line[4096];
  size_t at = (size_t)snprintf(line, sizeof line, "parts %u", shmbus_parts_count(&r));
  for (uint32_t i = 0; i < shmbus_parts_count(&r) && at < sizeof line; i++) {
    shmbus_part p;
    shmbus_parts_get(&r, i, &p);
    at += (size_t)snprintf(line + at, sizeof line - at, " %s=%s:", p.name, types[p.type]);
    if (at >= sizeof line) break;
    if (p.type == SHMBUS_PART_BYTES) {
      at += (size_t)snprintf(line + at, sizeof line - at, "%zu/%08x", p.size, fnv1a(p.data, p.size));
    } else if (p.type == SHMBUS_PART_F64) {
      uint64_t bits;
      memcpy(&bits, &p.f64, sizeof bits);
      at += (size_t)snprintf(line + at, sizeof line - at, "%016" PRIx64, bits);
    } else if (p.type == SHMBUS_PART_I64) {
      at += (size_t)snprintf(line + at, sizeof line - at, "%" PRId64, p.i64);
    } else {
      at += (size_t)snprintf(line + at, sizeof line - at, "%08x", fnv1a(p.data, p.size));
    }
  }
  shmbus_part image;
  shmbus_frame f;
  if (at < sizeof line && shmbus_parts_find(&r, "image", &image) == SHMBUS_OK &&
      shmbus_frame_decode(image.data, image.size, &f) == SHMBUS_OK)
    snprintf(line + at, sizeof line - at, " frame=%ux%ux%u:%08x", f.width, f.height, f.channels, fnv1a(f.data, f.data_size));
  peer_say("%s", line);
  return 0;
}

static int read_one(const char* name) {
  shmbus_sub* s = NULL;
  shmbus_msg m;
  int rc = shmbus_topic_subscribe(name, SHMBUS_FROM_OLDEST, &s);
  if (rc == SHMBUS_OK) rc = shmbus_sub_read(s, &m, 10000);
  if (rc != SHMBUS_OK) {
    peer_error(rc);
  } else {
    digest(m.data, m.size); /* in place, in the ring */
    if (shmbus_msg_valid(s, &m) != 1) peer_say("error overwritten while reading");
  }
  shmbus_sub_close(s);
  return 0;
}

/* Adds the C record's parts to b; *pixels = the Frame's rows to render (NULL when measuring). */
static int build(shmbus_parts_builder* b, uint8_t** pixels) {
  static const char params[] = "{\"op\":\"gray\",\"from\":\"c\",\"size\":[4,3]}";
  void* room = NULL;
  int rc = shmbus_parts_reserve_bytes(b, "image", shmbus_frame_size(4, 3, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT8, 0), &room);
  if (rc == SHMBUS_OK) rc = shmbus_parts_add_json(b, "params", params, sizeof params - 1);
  if (rc == SHMBUS_OK) rc = shmbus_parts_add_string(b, "note", "from C \xE2\x9C\x93", 10);
  if (rc == SHMBUS_OK) rc = shmbus_parts_add_f64(b, "scale", 0.5);
  if (rc == SHMBUS_OK) rc = shmbus_parts_add_i64(b, "status", -42);
  *pixels = (uint8_t*)room;
  return rc;
}

static int write_one(const char* name) {
  shmbus_topic* t = NULL;
  shmbus_parts_builder b;
  shmbus_loan loan;
  uint8_t* pixels = NULL;
  size_t size = 0;
  uint64_t seq = 0;
  /* Measure, loan exactly that, build in the ring. */
  int rc = shmbus_parts_builder_init(&b, NULL, 0);
  if (rc == SHMBUS_OK) rc = build(&b, &pixels);
  if (rc == SHMBUS_OK) rc = shmbus_parts_finish(&b, &size);
  if (rc == SHMBUS_OK) rc = shmbus_topic_open(name, &t);
  if (rc == SHMBUS_OK) rc = shmbus_topic_loan(t, size, 5000, &loan);
  if (rc == SHMBUS_OK) {
    rc = shmbus_parts_builder_init(&b, loan.data, loan.size);
    if (rc == SHMBUS_OK) rc = build(&b, &pixels);
    shmbus_frame f;
    memset(&f, 0, sizeof f);
    f.width = 4, f.height = 3, f.format = SHMBUS_FORMAT_BGR, f.dtype = SHMBUS_DTYPE_UINT8;
    if (rc == SHMBUS_OK) rc = shmbus_frame_write_header(pixels, shmbus_frame_size(4, 3, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT8, 0), &f);
    for (int i = 0; rc == SHMBUS_OK && i < 4 * 3 * 3; i++) pixels[SHMBUS_FRAME_HEADER_SIZE + i] = (uint8_t)i;
    if (rc == SHMBUS_OK) rc = shmbus_parts_finish(&b, &size);
    if (rc == SHMBUS_OK) rc = shmbus_topic_commit(t, size, &seq);
    else shmbus_topic_abort(t);
  }
  if (rc != SHMBUS_OK) peer_error(rc);
  else peer_say("wrote %" PRIu64 " %zu", seq, size);
  shmbus_topic_close(t);
  return 0;
}

static int on_command(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[0], "read") == 0) return read_one(argv[1]);
  if (argc >= 2 && strcmp(argv[0], "write") == 0) return write_one(argv[1]);
  peer_say("error ERR_INVALID_ARG unknown command %s", argv[0]);
  return 0;
}

int main(void) { return peer_run(on_command); }
