/* mutex.c: the robust mutex (PROTOCOL §4.1) and its public handle. STUB. */
#include "internal.h"

int sbi_mutex_lock(uint8_t* mutex, int64_t timeout_ms, uint32_t liveness_ms, int* recovered) {
  (void)mutex; (void)timeout_ms; (void)liveness_ms; (void)recovered;
  return SHMBUS_EOS;
}

int sbi_mutex_lock_spin(uint8_t* mutex, int64_t timeout_ms, uint32_t liveness_ms, int32_t spin_us, int* recovered) {
  (void)mutex; (void)timeout_ms; (void)liveness_ms; (void)spin_us; (void)recovered;
  return SHMBUS_EOS;
}

int sbi_mutex_try_lock(uint8_t* mutex, uint32_t liveness_ms, sbi_mutex_watch* watch, int* recovered) {
  (void)mutex; (void)liveness_ms; (void)watch; (void)recovered;
  return SHMBUS_EOS;
}

int sbi_mutex_unlock(uint8_t* mutex) {
  (void)mutex;
  return SHMBUS_EOS;
}

int sbi_mutex_held_by_me(const uint8_t* mutex) {
  (void)mutex;
  return SHMBUS_EOS;
}

int sbi_sync_options(const shmbus_sync_options* in, sbi_sync_opts* out) {
  (void)in; (void)out;
  return SHMBUS_EOS;
}

int shmbus_mutex_create(const char* name, shmbus_mutex** out) {
  (void)name; (void)out;
  return SHMBUS_EOS;
}

int shmbus_mutex_create_ex(const char* name, const shmbus_sync_options* opts, shmbus_mutex** out) {
  (void)name; (void)opts; (void)out;
  return SHMBUS_EOS;
}

int shmbus_mutex_open(const char* name, shmbus_mutex** out) {
  (void)name; (void)out;
  return SHMBUS_EOS;
}

int shmbus_mutex_open_ex(const char* name, const shmbus_sync_options* opts, shmbus_mutex** out) {
  (void)name; (void)opts; (void)out;
  return SHMBUS_EOS;
}

int shmbus_mutex_embed(shmbus_segment* seg, size_t byte_offset, const shmbus_sync_options* opts, shmbus_mutex** out) {
  (void)seg; (void)byte_offset; (void)opts; (void)out;
  return SHMBUS_EOS;
}

int shmbus_mutex_lock(shmbus_mutex* m, int64_t timeout_ms, int* recovered) {
  (void)m; (void)timeout_ms; (void)recovered;
  return SHMBUS_EOS;
}

int shmbus_mutex_try_lock(shmbus_mutex* m, int* recovered) {
  (void)m; (void)recovered;
  return SHMBUS_EOS;
}

int shmbus_mutex_unlock(shmbus_mutex* m) {
  (void)m;
  return SHMBUS_EOS;
}

int shmbus_mutex_is_locked_by_me(const shmbus_mutex* m) {
  (void)m;
  return SHMBUS_EOS;
}

void shmbus_mutex_close(shmbus_mutex* m) {
  (void)m;
  
}

int shmbus_mutex_unlink(const char* name) {
  (void)name;
  return SHMBUS_EOS;
}
