/*
 * Frame codec (PROTOCOL.md §9): a 64-byte header and the pixels of one image, carried as one message. Plain bytes,
 * no atomics: a frame is read inside a message the channel already handed over (Topic's validity check, a Queue
 * slot taken). Every rule is checked before a pointer into the message is handed out.
 */
#include "internal.h"

#include <string.h>

#define FR_MAGIC 0u
#define FR_VERSION 4u
#define FR_HEADER_SIZE 6u
#define FR_WIDTH 8u
#define FR_HEIGHT 12u
#define FR_CHANNELS 16u
#define FR_DTYPE 20u
#define FR_FORMAT 22u
#define FR_STRIDE 24u
#define FR_FLAGS 28u
#define FR_TIMESTAMP 32u
#define FR_DATA_SIZE 40u

size_t shmbus_frame_bytes_per_sample(int dtype) {
  switch (dtype) {
    case SHMBUS_DTYPE_UINT8: return 1;
    case SHMBUS_DTYPE_UINT16: return 2;
    case SHMBUS_DTYPE_FLOAT32: return 4;
    default: return 0;
  }
}

uint32_t shmbus_frame_channels(int format) {
  switch (format) {
    case SHMBUS_FORMAT_GRAY: return 1;
    case SHMBUS_FORMAT_RGB:
    case SHMBUS_FORMAT_BGR: return 3;
    case SHMBUS_FORMAT_RGBA:
    case SHMBUS_FORMAT_BGRA: return 4;
    default: return 0;
  }
}

/* The row stride to use (0 = packed) and whether the dimensions are valid; data size in *data_size. */
static int frame_geometry(uint32_t width, uint32_t height, int format, int dtype, uint32_t stride, uint32_t* out_stride,
                          size_t* data_size) {
  const size_t bps = shmbus_frame_bytes_per_sample(dtype);
  const uint32_t channels = shmbus_frame_channels(format);
  if (width == 0 || height == 0 || bps == 0 || channels == 0) return 0;
  const uint64_t row = (uint64_t)width * channels * bps;
  const uint64_t s = stride == 0 ? row : stride;
  /* The stride is a u32 and stride x height must fit the u32 dataSize (§9). */
  if (s < row || s % bps != 0 || s > UINT32_MAX || s * height > UINT32_MAX) return 0;
  *out_stride = (uint32_t)s;
  *data_size = (size_t)(s * height);
  return 1;
}

size_t shmbus_frame_size(uint32_t width, uint32_t height, int format, int dtype, uint32_t stride) {
  uint32_t s;
  size_t data;
  if (!frame_geometry(width, height, format, dtype, stride, &s, &data)) return 0;
  return SHMBUS_FRAME_HEADER_SIZE + data;
}

int shmbus_frame_decode(const void* msg, size_t len, shmbus_frame* out) {
  if (msg == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "frame_decode: msg and out must not be NULL");
  const uint8_t* p = SBI_CAST(const uint8_t*, msg);
  if (len < SHMBUS_FRAME_HEADER_SIZE)
    return sbi_fail(SHMBUS_EINVAL_ARG, "not a valid frame: %zu bytes, shorter than the 64-byte header", len);
  if (sbi_get32(p + FR_MAGIC) != SHMBUS_FRAME_MAGIC) return sbi_fail(SHMBUS_EINVAL_ARG, "not a valid frame: bad magic");
  if (sbi_get16(p + FR_VERSION) != SHMBUS_FRAME_VERSION)
    return sbi_fail(SHMBUS_EINVAL_ARG, "not a valid frame: version %u (this reader knows 1)", sbi_get16(p + FR_VERSION));
  const uint32_t header = sbi_get16(p + FR_HEADER_SIZE);
  if (header < SHMBUS_FRAME_HEADER_SIZE || header % 8 != 0)
    return sbi_fail(SHMBUS_EINVAL_ARG, "not a valid frame: headerSize %u", header);
  if (sbi_get32(p + FR_FLAGS) != 0) return sbi_fail(SHMBUS_EINVAL_ARG, "not a valid frame: unknown flags");
  const uint32_t width = sbi_get32(p + FR_WIDTH);
  const uint32_t height = sbi_get32(p + FR_HEIGHT);
  const int dtype = sbi_get16(p + FR_DTYPE);
  const int format = sbi_get16(p + FR_FORMAT);
  const uint32_t stride = sbi_get32(p + FR_STRIDE);
  uint32_t s;
  size_t data;
  if (stride == 0 || !frame_geometry(width, height, format, dtype, stride, &s, &data))
    return sbi_fail(SHMBUS_EINVAL_ARG, "not a valid frame: %ux%u, dtype %d, format %d, stride %u", width, height, dtype,
                    format, stride);
  if (sbi_get32(p + FR_CHANNELS) != shmbus_frame_channels(format))
    return sbi_fail(SHMBUS_EINVAL_ARG, "not a valid frame: %u channels for format %d", sbi_get32(p + FR_CHANNELS), format);
  if (sbi_get32(p + FR_DATA_SIZE) != data)
    return sbi_fail(SHMBUS_EINVAL_ARG, "not a valid frame: dataSize %u, stride x height is %zu", sbi_get32(p + FR_DATA_SIZE),
                    data);
  if (len < (size_t)header + data)
    return sbi_fail(SHMBUS_EINVAL_ARG, "not a valid frame: %zu bytes, the frame needs %zu", len, (size_t)header + data);
  out->width = width;
  out->height = height;
  out->channels = shmbus_frame_channels(format);
  out->dtype = dtype;
  out->format = format;
  out->stride = s;
  out->timestamp_us = sbi_get64(p + FR_TIMESTAMP);
  out->data = p + header;
  out->data_size = data;
  return SHMBUS_OK;
}

int shmbus_frame_write_header(void* msg, size_t cap, const shmbus_frame* f) {
  if (msg == NULL || f == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "frame_write_header: msg and f must not be NULL");
  uint32_t s;
  size_t data;
  if (!frame_geometry(f->width, f->height, f->format, f->dtype, f->stride, &s, &data))
    return sbi_fail(SHMBUS_EINVAL_ARG, "frame: invalid dimensions %ux%u, dtype %d, format %d, stride %u", f->width,
                    f->height, f->dtype, f->format, f->stride);
  if (cap < SHMBUS_FRAME_HEADER_SIZE + data)
    return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE, "frame: needs %zu bytes, the buffer holds %zu",
                    SHMBUS_FRAME_HEADER_SIZE + data, cap);
  uint8_t* p = SBI_CAST(uint8_t*, msg);
  memset(p, 0, SHMBUS_FRAME_HEADER_SIZE); /* reserved bytes and flags are 0 */
  sbi_put32(p + FR_MAGIC, SHMBUS_FRAME_MAGIC);
  sbi_put16(p + FR_VERSION, SHMBUS_FRAME_VERSION);
  sbi_put16(p + FR_HEADER_SIZE, SHMBUS_FRAME_HEADER_SIZE);
  sbi_put32(p + FR_WIDTH, f->width);
  sbi_put32(p + FR_HEIGHT, f->height);
  sbi_put32(p + FR_CHANNELS, shmbus_frame_channels(f->format));
  sbi_put16(p + FR_DTYPE, (uint16_t)f->dtype);
  sbi_put16(p + FR_FORMAT, (uint16_t)f->format);
  sbi_put32(p + FR_STRIDE, s);
  sbi_put64(p + FR_TIMESTAMP, f->timestamp_us);
  sbi_put32(p + FR_DATA_SIZE, (uint32_t)data);
  return SHMBUS_OK;
}

int shmbus_frame_encode(void* msg, size_t cap, const shmbus_frame* f, const void* pixels, size_t src_stride,
                        size_t* out_len) {
  int rc = shmbus_frame_write_header(msg, cap, f);
  if (rc != SHMBUS_OK) return rc;
  if (pixels == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "frame_encode: pixels must not be NULL");
  uint8_t* p = SBI_CAST(uint8_t*, msg);
  const uint32_t stride = sbi_get32(p + FR_STRIDE);
  const size_t row = (size_t)f->width * shmbus_frame_channels(f->format) * shmbus_frame_bytes_per_sample(f->dtype);
  const size_t from = src_stride == 0 ? row : src_stride;
  if (from < row) return sbi_fail(SHMBUS_EINVAL_ARG, "frame_encode: src_stride %zu is shorter than a row (%zu)", from, row);
  const uint8_t* src = SBI_CAST(const uint8_t*, pixels);
  for (uint32_t y = 0; y < f->height; y++) {
    uint8_t* dst = p + SHMBUS_FRAME_HEADER_SIZE + (size_t)y * stride;
    memcpy(dst, src + (size_t)y * from, row);
    memset(dst + row, 0, stride - row); /* padding carries no meaning: writers zero it (§9) */
  }
  if (out_len != NULL) *out_len = SHMBUS_FRAME_HEADER_SIZE + (size_t)stride * f->height;
  return SHMBUS_OK;
}
