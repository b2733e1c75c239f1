/* os_posix.c: every OS call of the C peer (Linux). STUB in this commit: bodies follow. */
#include "internal.h"

int sbi_os_name(const char* name, char* out) {
  (void)name; (void)out;
  return SHMBUS_EOS;
}

int64_t sbi_os_now_ns(void) {
  
  return 0;
}

uint64_t sbi_os_epoch_ms(void) {
  
  return 0;
}

int64_t sbi_deadline(int64_t timeout_ms) {
  (void)timeout_ms;
  return 0;
}

int64_t sbi_left_ms(int64_t deadline) {
  (void)deadline;
  return 0;
}

void sbi_cpu_relax(void) {
  
  
}

int sbi_os_shm_create(const char* os_name, unsigned mode, size_t size, sbi_map* out) {
  (void)os_name; (void)mode; (void)size; (void)out;
  return SHMBUS_EOS;
}

int sbi_os_shm_size(const char* os_name, uint64_t* size) {
  (void)os_name; (void)size;
  return SHMBUS_EOS;
}

int sbi_os_shm_map(const char* os_name, size_t len, int writable, sbi_map* out) {
  (void)os_name; (void)len; (void)writable; (void)out;
  return SHMBUS_EOS;
}

int sbi_os_shm_unlink(const char* os_name) {
  (void)os_name;
  return SHMBUS_EOS;
}

int sbi_os_file_map(const char* path, uint64_t offset, uint64_t length, int writable, sbi_map* out) {
  (void)path; (void)offset; (void)length; (void)writable; (void)out;
  return SHMBUS_EOS;
}

int sbi_os_flush(const sbi_map* m) {
  (void)m;
  return SHMBUS_EOS;
}

void sbi_os_unmap(sbi_map* m) {
  (void)m;
  
}

int sbi_os_shm_foreach(sbi_shm_entry_fn fn, void* ctx) {
  (void)fn; (void)ctx;
  return SHMBUS_EOS;
}

sbi_mapped_set* sbi_os_mapped_scan(void) {
  
  return NULL;
}

int sbi_os_mapped_has(const sbi_mapped_set* set, const char* entry) {
  (void)set; (void)entry;
  return SHMBUS_EOS;
}

void sbi_os_mapped_free(sbi_mapped_set* set) {
  (void)set;
  
}

int sbi_os_futex_wait(uint32_t* word, uint32_t expected, int64_t timeout_ms) {
  (void)word; (void)expected; (void)timeout_ms;
  return SHMBUS_EOS;
}

int sbi_os_futex_wake(uint32_t* word, int n) {
  (void)word; (void)n;
  return SHMBUS_EOS;
}

uint32_t sbi_os_getpid(void) {
  
  return 0;
}

uint32_t sbi_os_gettid(void) {
  
  return 0;
}

uint32_t sbi_os_proc_self_pid(void) {
  
  return 0;
}

uint32_t sbi_os_pid_ns(void) {
  
  return 0;
}

int sbi_os_proc_stat(uint32_t pid, char* state, uint64_t* start) {
  (void)pid; (void)state; (void)start;
  return SHMBUS_EOS;
}

int sbi_os_pid_exists(uint32_t pid) {
  (void)pid;
  return SHMBUS_EOS;
}

void sbi_os_atfork_child(void (*fn)(void)) {
  (void)fn;
  
}
