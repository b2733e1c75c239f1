/*
 * test_options.c: every handle that judges other processes' liveness takes the same liveness_ms rule (Node's
 * livenessOption): whole milliseconds from 1 to 2^31-1, 0 = the default; 2^31 is SHMBUS_EINVAL_ARG everywhere and
 * creates nothing.
 */
#include "test.h"

#define TOO_LONG 0x80000000u

static int echo(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply) {
  (void)ctx;
  (void)req;
  (void)reply;
  return 0;
}

static void every_handle_refuses_the_same_liveness(void) {
  const char* name = test_name("opt");
  shmbus_sync_options so;
  memset(&so, 0, sizeof so);
  so.struct_size = sizeof so;
  so.liveness_ms = TOO_LONG;
  shmbus_mutex* m = NULL;
  CHECK_RC(shmbus_mutex_create_ex(name, &so, &m), SHMBUS_EINVAL_ARG);

  shmbus_topic_options to;
  memset(&to, 0, sizeof to);
  to.struct_size = sizeof to;
  to.capacity = 1 << 16;
  to.liveness_ms = TOO_LONG;
  shmbus_topic* t = NULL;
  CHECK_RC(shmbus_topic_create_ex(name, &to, &t), SHMBUS_EINVAL_ARG);

  shmbus_sub_options sub;
  memset(&sub, 0, sizeof sub);
  sub.struct_size = sizeof sub;
  sub.liveness_ms = TOO_LONG;
  shmbus_sub* s = NULL;
  CHECK_RC(shmbus_topic_subscribe_ex(name, &sub, &s), SHMBUS_EINVAL_ARG);

  shmbus_mailbox_options mo;
  memset(&mo, 0, sizeof mo);
  mo.struct_size = sizeof mo;
  mo.max_size = 64;
  mo.liveness_ms = TOO_LONG;
  shmbus_mailbox* mb = NULL;
  CHECK_RC(shmbus_mailbox_create_ex(name, &mo, &mb), SHMBUS_EINVAL_ARG);

  shmbus_queue_options qo;
  memset(&qo, 0, sizeof qo);
  qo.struct_size = sizeof qo;
  qo.liveness_ms = TOO_LONG;
  shmbus_queue* q = NULL;
  CHECK_RC(shmbus_queue_create_ex(name, &qo, &q), SHMBUS_EINVAL_ARG);

  shmbus_rpc_serve_options ro;
  memset(&ro, 0, sizeof ro);
  ro.struct_size = sizeof ro;
  ro.liveness_ms = TOO_LONG;
  shmbus_rpc_server* srv = NULL;
  CHECK_RC(shmbus_rpc_serve(name, echo, NULL, &ro, &srv), SHMBUS_EINVAL_ARG);

  shmbus_rpc_connect_options co;
  memset(&co, 0, sizeof co);
  co.struct_size = sizeof co;
  co.liveness_ms = TOO_LONG;
  shmbus_rpc_client* c = NULL;
  CHECK_RC(shmbus_rpc_connect_ex(name, &co, &c), SHMBUS_EINVAL_ARG);

  /* Nothing was created under the name. */
  shmbus_segment* seg = NULL;
  CHECK_RC(shmbus_segment_open(name, &seg), SHMBUS_ESHM_NOT_FOUND);
}

int main(void) {
  TEST_RUN(every_handle_refuses_the_same_liveness);
  return test_summary();
}
