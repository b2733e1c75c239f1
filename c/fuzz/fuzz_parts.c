/*
 * libFuzzer target: the Parts reader (PROTOCOL §10) over arbitrary bytes. Init either fails with
 * SHMBUS_EPARTS_CORRUPT / SHMBUS_EINVAL_ARG or accepts the record; then every part (by index and by name) must
 * point inside the message, names and text NUL-terminated inside it (ASan checks every byte touched).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../shmbus.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static void inside(const uint8_t* msg, size_t size, const void* p, size_t n) {
  const uint8_t* b = (const uint8_t*)p;
  if (n == 0) return;
  if (b < msg || n > size || b + n > msg + size) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t* msg = (uint8_t*)malloc(size ? size : 1);
  if (size) memcpy(msg, data, size);
  shmbus_parts_reader r;
  int rc = shmbus_parts_reader_init(&r, msg, size);
  if (rc == 0) {
    uint32_t n = shmbus_parts_count(&r);
    for (uint32_t i = 0; i < n; i++) {
      shmbus_part p;
      if (shmbus_parts_get(&r, i, &p) != 0) abort(); /* init checked every part */
      inside(msg, size, p.name, p.name_size + 1);
      if (p.name[p.name_size] != 0) abort();
      inside(msg, size, p.data, p.size);
      shmbus_part q;
      rc = shmbus_parts_find(&r, p.name, &q);
      if (rc != 0 && rc != SHMBUS_ESHM_NOT_FOUND && rc != SHMBUS_EINVAL_ARG && rc != SHMBUS_EPARTS_CORRUPT) abort();
    }
    shmbus_part none;
    (void)shmbus_parts_get(&r, n, &none);
  } else if (rc != SHMBUS_EPARTS_CORRUPT && rc != SHMBUS_EINVAL_ARG) {
    abort();
  }
  free(msg);
  return 0;
}
