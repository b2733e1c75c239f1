/* test_core.c: segments and the robust mutex of the C peer (real shared memory, real processes). */
#include "test.h"

static void error_table_names_node_codes(void) {
  CHECK(strcmp(shmbus_error_code(SHMBUS_ESHM_NOT_FOUND), "ERR_SHM_NOT_FOUND") == 0);
  CHECK(strcmp(shmbus_error_code(SHMBUS_ETIMEDOUT), "ERR_TIMEOUT") == 0);
  CHECK(strcmp(shmbus_error_code(12345), "ERR_UNKNOWN") == 0);
  CHECK(shmbus_strerror(-999) != NULL);
}

int main(void) {
  TEST_RUN(error_table_names_node_codes);
  return test_summary();
}
