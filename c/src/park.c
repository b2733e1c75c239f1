/* park.c: sleeping on and waking futex words through sleepers words (PROTOCOL §3). STUB. */
#include "internal.h"

int sbi_park(uint32_t* word, uint32_t* sleepers, uint32_t expected, int64_t timeout_ms) {
  (void)word; (void)sleepers; (void)expected; (void)timeout_ms;
  return SHMBUS_EOS;
}

void sbi_wake_sleepers(uint32_t* word, uint32_t* sleepers) {
  (void)word; (void)sleepers;
  
}

int sbi_park_counter(uint32_t* word, uint32_t* sleepers, uint32_t seen, int64_t timeout_ms) {
  (void)word; (void)sleepers; (void)seen; (void)timeout_ms;
  return SHMBUS_EOS;
}

void sbi_wake_counter(uint32_t* word, uint32_t* sleepers, uint32_t old_value) {
  (void)word; (void)sleepers; (void)old_value;
  
}
