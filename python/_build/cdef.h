/* The part of c/shmbus.h that the Python package calls (cffi cdef syntax: no preprocessor). */
const char* shmbus_strerror(int err);
const char* shmbus_error_code(int err);
const char* shmbus_last_error_message(void);

/* COMMON */
#define SHMBUS_HEADER_SIZE ...
#define SHMBUS_NAME_MAX ...
#define SHMBUS_KIND_ANY ...
typedef struct shmbus_sync_options {
  size_t struct_size;
  unsigned mode;
  int64_t open_timeout_ms;
  uint32_t liveness_ms;
  int32_t spin_us;
  ...;
} shmbus_sync_options;

/* SEGMENT */
typedef struct shmbus_segment shmbus_segment;
typedef int (*shmbus_segment_init_fn)(shmbus_segment* seg, void* ctx);
typedef struct shmbus_segment_create_options {
  size_t struct_size;
  size_t size;
  unsigned mode;
  int kind;
  const uint32_t* params;
  shmbus_segment_init_fn init;
  void* init_ctx;
  ...;
} shmbus_segment_create_options;
typedef struct shmbus_segment_open_options {
  size_t struct_size;
  int kind;
  int64_t timeout_ms;
  ...;
} shmbus_segment_open_options;
typedef struct shmbus_segment_info {
  char name[];
  uint64_t size;
  int kind;
  uint32_t creator_pid;
  uint64_t created_at;
  int attached;
  int stale;
  ...;
} shmbus_segment_info;
int shmbus_segment_create_ex(const char* name, const shmbus_segment_create_options* opts, shmbus_segment** out);
int shmbus_segment_open_ex(const char* name, const shmbus_segment_open_options* opts, shmbus_segment** out);
int shmbus_segment_open_raw(const char* posix_name, size_t size, int read_only, shmbus_segment** out);
int shmbus_segment_map_file(const char* path, uint64_t offset, uint64_t length, int writable, shmbus_segment** out);
int shmbus_segment_flush(shmbus_segment* seg);
void shmbus_segment_close(shmbus_segment* seg);
int shmbus_segment_unlink(const char* name);
int shmbus_segment_list(shmbus_segment_info** out, size_t* count);
void shmbus_segment_list_free(shmbus_segment_info* list);
void* shmbus_segment_data(const shmbus_segment* seg);
size_t shmbus_segment_size(const shmbus_segment* seg);
const char* shmbus_segment_name(const shmbus_segment* seg);
int shmbus_segment_kind(const shmbus_segment* seg);
const uint32_t* shmbus_segment_params(const shmbus_segment* seg);
int shmbus_segment_wait(shmbus_segment* seg, size_t index, uint32_t expected, int64_t timeout_ms);
int shmbus_segment_wake(shmbus_segment* seg, size_t index, int count);
extern "Python" int _shmbus_segment_init(shmbus_segment* seg, void* ctx);

/* MUTEX */
typedef struct shmbus_mutex shmbus_mutex;
int shmbus_mutex_create_ex(const char* name, const shmbus_sync_options* opts, shmbus_mutex** out);
int shmbus_mutex_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_mutex** out);
int shmbus_mutex_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts, shmbus_mutex** out);
int shmbus_mutex_lock(shmbus_mutex* m, int64_t timeout_ms, int* recovered);
int shmbus_mutex_try_lock(shmbus_mutex* m, int* recovered);
int shmbus_mutex_unlock(shmbus_mutex* m);
int shmbus_mutex_is_locked_by_me(const shmbus_mutex* m);
void shmbus_mutex_close(shmbus_mutex* m);
int shmbus_mutex_unlink(const char* name);

/* TOPIC */
typedef struct shmbus_topic shmbus_topic;
typedef struct shmbus_sub shmbus_sub;
typedef struct shmbus_topic_options {
  size_t struct_size;
  uint64_t capacity;
  uint32_t max_message_size;
  unsigned mode;
  int single_publisher;
  int no_timestamps;
  int64_t open_timeout_ms;
  uint32_t liveness_ms;
  ...;
} shmbus_topic_options;
typedef struct shmbus_sub_options {
  size_t struct_size;
  int from;
  int64_t wait_ms;
  int32_t spin_us;
  uint32_t liveness_ms;
  ...;
} shmbus_sub_options;
typedef struct shmbus_msg {
  const void* data;
  size_t size;
  uint64_t seq;
  uint64_t timestamp_us;
  ...;
} shmbus_msg;
typedef struct shmbus_loan {
  void* data;
  size_t size;
  uint64_t seq;
  ...;
} shmbus_loan;
typedef struct shmbus_topic_stats_t {
  uint64_t published;
  uint64_t oldest;
  uint32_t publishers;
  uint32_t subscribers;
  uint64_t max_lag;
  uint64_t lost;
  ...;
} shmbus_topic_stats_t;
typedef struct shmbus_sub_stats_t {
  uint64_t read;
  uint64_t lost;
  uint64_t lag;
  ...;
} shmbus_sub_stats_t;
int shmbus_topic_create_ex(const char* name, const shmbus_topic_options* opts, shmbus_topic** out);
int shmbus_topic_open_ex(const char* name, const shmbus_topic_options* opts, shmbus_topic** out);
int shmbus_topic_publish_ex(shmbus_topic* t, const void* data, size_t len, int64_t timeout_ms, uint64_t* seq);
int shmbus_topic_loan(shmbus_topic* t, size_t size, int64_t timeout_ms, shmbus_loan* loan);
int shmbus_topic_commit(shmbus_topic* t, size_t size, uint64_t* seq);
int shmbus_topic_abort(shmbus_topic* t);
int shmbus_topic_stats(shmbus_topic* t, shmbus_topic_stats_t* out);
int shmbus_topic_subscribers(shmbus_topic* t, uint32_t* n);
int shmbus_topic_wait_for_subscribers(shmbus_topic* t, uint32_t n, int64_t timeout_ms, uint32_t* have);
uint64_t shmbus_topic_capacity(const shmbus_topic* t);
uint32_t shmbus_topic_max_message_size(const shmbus_topic* t);
int shmbus_topic_close(shmbus_topic* t);
int shmbus_topic_unlink(const char* name);
int shmbus_topic_subscribe_ex(const char* name, const shmbus_sub_options* opts, shmbus_sub** out);
int shmbus_sub_read(shmbus_sub* s, shmbus_msg* m, int64_t timeout_ms);
int shmbus_sub_try_read(shmbus_sub* s, shmbus_msg* m);
int shmbus_sub_read_copy(shmbus_sub* s, void* buf, size_t cap, shmbus_msg* m, int64_t timeout_ms);
int shmbus_msg_valid(const shmbus_sub* s, const shmbus_msg* m);
uint64_t shmbus_sub_lost(const shmbus_sub* s);
int shmbus_sub_stats(const shmbus_sub* s, shmbus_sub_stats_t* out);
int shmbus_sub_publishers(shmbus_sub* s, uint32_t* n);
int shmbus_sub_close(shmbus_sub* s);

/* MAILBOX */
typedef struct shmbus_mailbox shmbus_mailbox;
typedef struct shmbus_mailbox_options {
  size_t struct_size;
  uint32_t max_size;
  unsigned mode;
  int64_t open_timeout_ms;
  uint32_t liveness_ms;
  ...;
} shmbus_mailbox_options;
typedef struct shmbus_mailbox_value {
  size_t size;
  uint64_t version;
  uint64_t timestamp_us;
  ...;
} shmbus_mailbox_value;
int shmbus_mailbox_create_ex(const char* name, const shmbus_mailbox_options* opts, shmbus_mailbox** out);
int shmbus_mailbox_open_ex(const char* name, const shmbus_mailbox_options* opts, shmbus_mailbox** out);
int shmbus_mailbox_write_ex(shmbus_mailbox* mb, const void* data, size_t len, int64_t timeout_ms, uint64_t* version);
int shmbus_mailbox_read(shmbus_mailbox* mb, void* buf, size_t cap, shmbus_mailbox_value* value);
int shmbus_mailbox_version(shmbus_mailbox* mb, uint64_t* version);
int shmbus_mailbox_wait_changed(shmbus_mailbox* mb, uint64_t since, int64_t timeout_ms, uint64_t* version);
size_t shmbus_mailbox_max_size(const shmbus_mailbox* mb);
int shmbus_mailbox_close(shmbus_mailbox* mb);
int shmbus_mailbox_unlink(const char* name);

/* QUEUE */
typedef struct shmbus_queue shmbus_queue;
#define SHMBUS_MSG_TEXT ...
typedef struct shmbus_queue_options {
  size_t struct_size;
  uint32_t slots;
  uint32_t max_message_size;
  unsigned mode;
  int64_t open_timeout_ms;
  uint32_t liveness_ms;
  int32_t spin_us;
  ...;
} shmbus_queue_options;
typedef struct shmbus_queue_stats {
  uint32_t length;
  uint32_t slots;
  uint32_t max_message_size;
  uint32_t abandoned;
  uint32_t lost;
  uint64_t sent;
  uint64_t received;
  ...;
} shmbus_queue_stats;
int shmbus_queue_create_ex(const char* name, const shmbus_queue_options* opts, shmbus_queue** out);
int shmbus_queue_open_ex(const char* name, const shmbus_queue_options* opts, shmbus_queue** out);
int shmbus_queue_open_or_create_ex(const char* name, const shmbus_queue_options* opts, shmbus_queue** out);
int shmbus_queue_send_ex(shmbus_queue* q, const void* data, size_t len, uint32_t flags, int64_t timeout_ms);
int shmbus_queue_try_send_ex(shmbus_queue* q, const void* data, size_t len, uint32_t flags);
int shmbus_queue_receive_ex(shmbus_queue* q, void* buf, size_t cap, size_t* len, uint32_t* flags, int64_t timeout_ms);
int shmbus_queue_try_receive_ex(shmbus_queue* q, void* buf, size_t cap, size_t* len, uint32_t* flags);
int shmbus_queue_end(shmbus_queue* q);
int shmbus_queue_ended(const shmbus_queue* q);
int shmbus_queue_get_stats(const shmbus_queue* q, shmbus_queue_stats* out);
uint32_t shmbus_queue_slots(const shmbus_queue* q);
uint32_t shmbus_queue_max_message_size(const shmbus_queue* q);
void shmbus_queue_close(shmbus_queue* q);
int shmbus_queue_unlink(const char* name);

/* RWLOCK */
typedef struct shmbus_rwlock shmbus_rwlock;
int shmbus_rwlock_create_ex(const char* name, const shmbus_sync_options* opts, shmbus_rwlock** out);
int shmbus_rwlock_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_rwlock** out);
int shmbus_rwlock_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts, shmbus_rwlock** out);
int shmbus_rwlock_read_lock(shmbus_rwlock* rw, int64_t timeout_ms, int* recovered);
int shmbus_rwlock_try_read_lock(shmbus_rwlock* rw, int* recovered);
int shmbus_rwlock_read_unlock(shmbus_rwlock* rw);
int shmbus_rwlock_write_lock(shmbus_rwlock* rw, int64_t timeout_ms, int* recovered);
int shmbus_rwlock_try_write_lock(shmbus_rwlock* rw, int* recovered);
int shmbus_rwlock_write_unlock(shmbus_rwlock* rw);
int shmbus_rwlock_is_write_locked_by_me(const shmbus_rwlock* rw);
void shmbus_rwlock_close(shmbus_rwlock* rw);
int shmbus_rwlock_unlink(const char* name);

/* SEMAPHORE */
typedef struct shmbus_semaphore shmbus_semaphore;
#define SHMBUS_SEMAPHORE_UNTRACKED ...
int shmbus_semaphore_create_ex(const char* name, uint32_t initial, unsigned flags, const shmbus_sync_options* opts, shmbus_semaphore** out);
int shmbus_semaphore_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_semaphore** out);
int shmbus_semaphore_init(shmbus_segment* seg, size_t byte_offset, uint32_t initial, unsigned flags);
int shmbus_semaphore_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts, shmbus_semaphore** out);
int shmbus_semaphore_acquire(shmbus_semaphore* s, int64_t timeout_ms, int* recovered);
int shmbus_semaphore_try_acquire(shmbus_semaphore* s, int* recovered);
int shmbus_semaphore_release(shmbus_semaphore* s, uint32_t n);
int shmbus_semaphore_value(const shmbus_semaphore* s);
void shmbus_semaphore_close(shmbus_semaphore* s);
int shmbus_semaphore_unlink(const char* name);

/* EVENT */
typedef struct shmbus_event shmbus_event;
#define SHMBUS_EVENT_MANUAL_RESET ...
#define SHMBUS_EVENT_SET ...
int shmbus_event_create_ex(const char* name, unsigned flags, const shmbus_sync_options* opts, shmbus_event** out);
int shmbus_event_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_event** out);
int shmbus_event_init(shmbus_segment* seg, size_t byte_offset, unsigned flags);
int shmbus_event_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts, shmbus_event** out);
int shmbus_event_set(shmbus_event* e);
int shmbus_event_reset(shmbus_event* e);
int shmbus_event_wait(shmbus_event* e, int64_t timeout_ms);
int shmbus_event_is_set(const shmbus_event* e);
int shmbus_event_manual_reset(const shmbus_event* e);
void shmbus_event_close(shmbus_event* e);
int shmbus_event_unlink(const char* name);

/* RPC */
typedef struct shmbus_rpc_server shmbus_rpc_server;
typedef struct shmbus_rpc_client shmbus_rpc_client;
typedef struct shmbus_rpc_req {
  const void* data;
  size_t size;
  uint32_t flags;
  uint32_t id;
  uint32_t client_id;
  uint32_t client_pid;
  ...;
} shmbus_rpc_req;
typedef struct shmbus_rpc_reply {
  void* buf;
  size_t cap;
  const void* data;
  size_t size;
  uint32_t flags;
  ...;
} shmbus_rpc_reply;
typedef int (*shmbus_rpc_handler)(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply);
int shmbus_rpc_reply_error(shmbus_rpc_reply* reply, const char* message);
typedef struct shmbus_rpc_serve_options {
  size_t struct_size;
  uint32_t workers;
  uint32_t max_message_size;
  uint32_t slots;
  unsigned mode;
  uint32_t liveness_ms;
  int32_t spin_us;
  int zero_copy;
  ...;
} shmbus_rpc_serve_options;
typedef struct shmbus_rpc_connect_options {
  size_t struct_size;
  uint32_t max_message_size;
  uint32_t slots;
  unsigned mode;
  uint32_t liveness_ms;
  int32_t spin_us;
  ...;
} shmbus_rpc_connect_options;
typedef struct shmbus_rpc_server_stats {
  uint64_t served;
  uint64_t failed;
  uint64_t in_flight;
  ...;
} shmbus_rpc_server_stats;
int shmbus_rpc_serve(const char* name, shmbus_rpc_handler handler, void* ctx, const shmbus_rpc_serve_options* opts, shmbus_rpc_server** out);
int shmbus_rpc_server_start(shmbus_rpc_server* s);
void shmbus_rpc_server_stop(shmbus_rpc_server* s);
int shmbus_rpc_server_get_stats(const shmbus_rpc_server* s, shmbus_rpc_server_stats* out);
void shmbus_rpc_server_close(shmbus_rpc_server* s);
int shmbus_rpc_connect_ex(const char* name, const shmbus_rpc_connect_options* opts, shmbus_rpc_client** out);
int shmbus_rpc_request_ex(shmbus_rpc_client* c, const void* req, size_t len, uint32_t flags, void* resp_buf, size_t cap, size_t* resp_len, uint32_t* resp_flags, int64_t timeout_ms);
uint32_t shmbus_rpc_client_id(const shmbus_rpc_client* c);
void shmbus_rpc_client_close(shmbus_rpc_client* c);
int shmbus_rpc_unlink(const char* name);
extern "Python" int _shmbus_rpc_handler(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply);
/* ASYNC (park capture + futex_waitv: shmbus/_aio.py) */
typedef struct shmbus_park {
  const uint32_t* word;
  uint32_t expected;
  int64_t timeout_ms;
} shmbus_park;
void shmbus_park_capture_begin(int skip);
int shmbus_park_capture_end(shmbus_park* out);
int shmbus_futex_waitv(const uint32_t* const* words, const uint32_t* expected, uint32_t n, int64_t deadline_ns);
int shmbus_futex_wake_all(uint32_t* word);
/* QUEUE zero-copy (wip/zc) */
typedef struct shmbus_qloan { void* data; size_t size; ...; } shmbus_qloan;
typedef struct shmbus_qview { const void* data; size_t size; uint32_t flags; ...; } shmbus_qview;
int shmbus_queue_loan(shmbus_queue* q, size_t size, int64_t timeout_ms, shmbus_qloan* loan);
int shmbus_queue_try_loan(shmbus_queue* q, size_t size, shmbus_qloan* loan);
int shmbus_queue_commit(shmbus_queue* q, shmbus_qloan* loan, size_t size, uint32_t flags);
int shmbus_queue_abort(shmbus_queue* q, shmbus_qloan* loan);
int shmbus_queue_receive_view(shmbus_queue* q, shmbus_qview* view, int64_t timeout_ms);
int shmbus_queue_try_receive_view(shmbus_queue* q, shmbus_qview* view);
int shmbus_queue_release(shmbus_queue* q, shmbus_qview* view);
/* RPC zero-copy (wip/zc) */
typedef struct shmbus_rpc_loan { void* data; size_t size; ...; } shmbus_rpc_loan;
typedef struct shmbus_rpc_view { const void* data; size_t size; uint32_t flags; ...; } shmbus_rpc_view;
int shmbus_rpc_reply_loan(shmbus_rpc_reply* reply, size_t size, void** data);
int shmbus_rpc_request_loan(shmbus_rpc_client* c, size_t size, int64_t timeout_ms, shmbus_rpc_loan* loan);
int shmbus_rpc_request_abort(shmbus_rpc_client* c, shmbus_rpc_loan* loan);
int shmbus_rpc_request_commit(shmbus_rpc_client* c, shmbus_rpc_loan* loan, size_t size, uint32_t flags, shmbus_rpc_view* resp, int64_t timeout_ms);
int shmbus_rpc_request_view(shmbus_rpc_client* c, const void* req, size_t len, uint32_t flags, shmbus_rpc_view* resp, int64_t timeout_ms);
int shmbus_rpc_view_release(shmbus_rpc_client* c, shmbus_rpc_view* resp);
