/*
 * libFuzzer target: the Frame decoder (PROTOCOL §9) over arbitrary bytes. A decode either fails with
 * SHMBUS_EINVAL_ARG or returns views that lie inside the message (AddressSanitizer checks every byte touched; the
 * explicit checks catch a view that merely points outside without being read).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../shmbus.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  /* A heap copy of exactly `size` bytes, 8-byte aligned as a message in a channel is, so ASan sees any overrun. */
  uint8_t* msg = (uint8_t*)malloc(size ? size : 1);
  if (size) memcpy(msg, data, size);
  shmbus_frame f;
  int rc = shmbus_frame_decode(msg, size, &f);
  if (rc == 0) {
    const uint8_t* p = (const uint8_t*)f.data;
    if (p < msg + SHMBUS_FRAME_HEADER_SIZE || f.data_size > size || p + f.data_size > msg + size) abort();
    if (f.data_size != (size_t)f.stride * f.height) abort();
    volatile uint8_t sink = 0;
    if (f.data_size) sink ^= p[0], sink ^= p[f.data_size - 1]; /* the first and last byte are readable */
    (void)sink;
  } else if (rc != SHMBUS_EINVAL_ARG) {
    abort();
  }
  free(msg);
  return 0;
}
