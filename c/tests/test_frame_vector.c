/*
 * test_frame_vector.c: the Frame codec (PROTOCOL.md §9) against test/vectors/frame.{bin,json}: every `fields` entry,
 * the `decode` step (dimensions, names, timestamp, every sample of the stride-wide rows) and the `reencode` step
 * (encoding the decoded frame gives the same bytes); then corrupt and truncated frames are refused, never viewed.
 */
#include "vector.h"
#include "test.h"

VECTOR_TEST("frame")

static const char* dtype_name(int d) {
  return d == SHMBUS_DTYPE_UINT8 ? "uint8" : d == SHMBUS_DTYPE_UINT16 ? "uint16" : d == SHMBUS_DTYPE_FLOAT32 ? "float32" : "?";
}

static const char* format_name(int f) {
  static const char* names[] = {"?", "GRAY", "RGB", "BGR", "RGBA", "BGRA"};
  return f >= 1 && f <= 5 ? names[f] : "?";
}

/* A sample of the decoded rows as a double (the vector lists every sample of the stride-wide rows). */
static double sample(const shmbus_frame* f, size_t i) {
  const uint8_t* d = (const uint8_t*)f->data;
  if (f->dtype == SHMBUS_DTYPE_UINT8) return d[i];
  if (f->dtype == SHMBUS_DTYPE_UINT16) return (double)vector_read_le(d + 2 * i, 2);
  float v;
  memcpy(&v, d + 4 * i, 4);
  return v;
}

static void expect_steps_hold(void) {
  CHECK(vec != NULL && bin != NULL);
  const json* steps = json_get(vec, "expect");
  CHECK(steps != NULL && steps->n > 0);
  shmbus_frame f;
  int decoded = 0;
  for (size_t i = 0; i < steps->n; i++) {
    const char* op = json_get(steps->items[i], "op")->str;
    const json* want = json_get(steps->items[i], "result");
    if (strcmp(op, "decode") == 0) {
      CHECK_RC(shmbus_frame_decode(bin, bin_len, &f), SHMBUS_OK);
      decoded = 1;
      CHECK((double)f.width == json_get(want, "width")->num);
      CHECK((double)f.height == json_get(want, "height")->num);
      CHECK((double)f.channels == json_get(want, "channels")->num);
      CHECK(strcmp(dtype_name(f.dtype), json_get(want, "dtype")->str) == 0);
      CHECK(strcmp(format_name(f.format), json_get(want, "format")->str) == 0);
      CHECK((double)f.stride == json_get(want, "stride")->num);
      CHECK((double)f.timestamp_us == json_get(want, "timestampMicros")->num);
      const json* data = json_get(want, "data");
      CHECK(data->n * shmbus_frame_bytes_per_sample(f.dtype) == f.data_size);
      for (size_t k = 0; k < data->n; k++) CHECK(sample(&f, k) == data->items[k]->num);
    } else if (strcmp(op, "reencode") == 0) {
      CHECK(decoded);
      uint8_t out[512];
      size_t len = 0;
      CHECK(bin_len <= sizeof out);
      /* The decoded rows are stride-wide already: encode them with that stride as the source stride. */
      CHECK_RC(shmbus_frame_encode(out, sizeof out, &f, f.data, f.stride, &len), SHMBUS_OK);
      CHECK((len == bin_len && memcmp(out, bin, len) == 0) == (json_get(steps->items[i], "result")->type == JSON_BOOL &&
                                                              json_get(steps->items[i], "result")->num == 1));
    } else {
      CHECK(!"unknown op in frame.json");
    }
  }
}

static void corrupt_frames_are_refused(void) {
  CHECK(bin != NULL);
  shmbus_frame f;
  uint8_t copy[512];
  /* Every truncation is refused. */
  for (size_t n = 0; n < bin_len; n++) CHECK_RC(shmbus_frame_decode(bin, n, &f), SHMBUS_EINVAL_ARG);
  /* Each header field spoiled on its own is refused. */
  const struct { size_t off; int width; uint64_t value; } spoil[] = {
      {0, 4, 0x12345678}, {4, 2, 2}, {6, 2, 60}, {6, 2, 72}, {8, 4, 0}, {12, 4, 0}, {16, 4, 4}, {20, 2, 9},
      {22, 2, 0}, {24, 4, 16}, {24, 4, 25}, {28, 4, 1}, {40, 4, 47}, {8, 4, 0xFFFFFFFFu}, {12, 4, 0x80000000u},
  };
  for (size_t i = 0; i < sizeof spoil / sizeof spoil[0]; i++) {
    memcpy(copy, bin, bin_len);
    for (int b = 0; b < spoil[i].width; b++) copy[spoil[i].off + (size_t)b] = (uint8_t)(spoil[i].value >> (8 * b));
    CHECK_RC(shmbus_frame_decode(copy, bin_len, &f), SHMBUS_EINVAL_ARG);
  }
  CHECK_RC(shmbus_frame_decode(NULL, 64, &f), SHMBUS_EINVAL_ARG);
  /* Random bytes never decode into a view past the message. */
  srand(7);
  for (int round = 0; round < 20000; round++) {
    size_t n = (size_t)(rand() % (int)sizeof copy);
    for (size_t k = 0; k < n; k++) copy[k] = (uint8_t)rand();
    if (n >= 8) memcpy(copy, bin, 8); /* mostly valid magic/version, so the later checks are reached */
    if (shmbus_frame_decode(copy, n, &f) == SHMBUS_OK)
      CHECK((const uint8_t*)f.data + f.data_size <= copy + n && (const uint8_t*)f.data >= copy + 64);
  }
}

static void write_header_and_size(void) {
  CHECK(shmbus_frame_size(1280, 720, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT8, 0) == 64 + 1280 * 720 * 3);
  CHECK(shmbus_frame_size(0, 720, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT8, 0) == 0);
  CHECK(shmbus_frame_size(4, 4, SHMBUS_FORMAT_GRAY, SHMBUS_DTYPE_UINT16, 7) == 0); /* stride not a sample multiple */
  CHECK(shmbus_frame_size(4, 4, 9, SHMBUS_DTYPE_UINT8, 0) == 0);
  uint8_t msg[64 + 4 * 3 * 4];
  shmbus_frame f;
  memset(&f, 0, sizeof f);
  f.width = 4;
  f.height = 3;
  f.format = SHMBUS_FORMAT_RGBA;
  f.dtype = SHMBUS_DTYPE_UINT8;
  f.timestamp_us = 42;
  CHECK_RC(shmbus_frame_write_header(msg, sizeof msg - 1, &f), SHMBUS_EMESSAGE_TOO_LARGE);
  CHECK_RC(shmbus_frame_write_header(msg, sizeof msg, &f), SHMBUS_OK);
  for (size_t i = 64; i < sizeof msg; i++) msg[i] = (uint8_t)i;
  shmbus_frame d;
  CHECK_RC(shmbus_frame_decode(msg, sizeof msg, &d), SHMBUS_OK);
  CHECK(d.width == 4 && d.height == 3 && d.channels == 4 && d.stride == 16 && d.timestamp_us == 42);
  CHECK(d.data == msg + 64 && ((const uint8_t*)d.data)[5] == 69);
}

int main(void) {
  TEST_RUN(load);
  TEST_RUN(fields_read_as_their_values);
  TEST_RUN(expect_steps_hold);
  TEST_RUN(corrupt_frames_are_refused);
  TEST_RUN(write_header_and_size);
  vector_free(&V);
  return test_summary();
}
