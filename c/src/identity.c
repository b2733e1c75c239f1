/* identity.c: who this process is, and whether a recorded holder is alive (PROTOCOL §4.0). STUB. */
#include "internal.h"

const sbi_identity* sbi_self(void) {
  
  return NULL;
}

uint32_t sbi_thread(void) {
  
  return 0;
}

int sbi_holder_alive(uint32_t pid, uint64_t start, uint32_t ns) {
  (void)pid; (void)start; (void)ns;
  return SHMBUS_EOS;
}
