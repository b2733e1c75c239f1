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
