/* segment.c: names (§1), the segment header (§2), raw objects and file windows (§2.4). STUB. */
#include "internal.h"

uint16_t sbi_get16(const uint8_t* p) {
  (void)p;
  return 0;
}

uint32_t sbi_get32(const uint8_t* p) {
  (void)p;
  return 0;
}

uint64_t sbi_get64(const uint8_t* p) {
  (void)p;
  return 0;
}

void sbi_put16(uint8_t* p, uint16_t v) {
  (void)p; (void)v;
  
}

void sbi_put32(uint8_t* p, uint32_t v) {
  (void)p; (void)v;
  
}

void sbi_put64(uint8_t* p, uint64_t v) {
  (void)p; (void)v;
  
}

int sbi_check_name(const char* name) {
  (void)name;
  return SHMBUS_EOS;
}

int sbi_segment_create(const char* name, uint16_t kind, const uint32_t params[16], size_t payload_size, unsigned mode, int (*init)(uint8_t* payload, size_t size, void* ctx), void* ctx, shmbus_segment** out) {
  (void)name; (void)kind; (void)params; (void)payload_size; (void)mode; (void)init; (void)ctx; (void)out;
  return SHMBUS_EOS;
}

int sbi_segment_open(const char* name, uint16_t kind, int64_t timeout_ms, shmbus_segment** out) {
  (void)name; (void)kind; (void)timeout_ms; (void)out;
  return SHMBUS_EOS;
}

void sbi_segment_close(shmbus_segment* seg) {
  (void)seg;
  
}

int sbi_check_mode(unsigned mode, unsigned* out) {
  (void)mode; (void)out;
  return SHMBUS_EOS;
}

int shmbus_segment_create(const char* name, size_t size, shmbus_segment** out) {
  (void)name; (void)size; (void)out;
  return SHMBUS_EOS;
}

int shmbus_segment_create_ex(const char* name, const shmbus_segment_create_options* opts, shmbus_segment** out) {
  (void)name; (void)opts; (void)out;
  return SHMBUS_EOS;
}

int shmbus_segment_open(const char* name, shmbus_segment** out) {
  (void)name; (void)out;
  return SHMBUS_EOS;
}

int shmbus_segment_open_ex(const char* name, const shmbus_segment_open_options* opts, shmbus_segment** out) {
  (void)name; (void)opts; (void)out;
  return SHMBUS_EOS;
}

int shmbus_segment_open_raw(const char* posix_name, size_t size, int read_only, shmbus_segment** out) {
  (void)posix_name; (void)size; (void)read_only; (void)out;
  return SHMBUS_EOS;
}

int shmbus_segment_map_file(const char* path, uint64_t offset, uint64_t length, int writable, shmbus_segment** out) {
  (void)path; (void)offset; (void)length; (void)writable; (void)out;
  return SHMBUS_EOS;
}

int shmbus_segment_flush(shmbus_segment* seg) {
  (void)seg;
  return SHMBUS_EOS;
}

void shmbus_segment_close(shmbus_segment* seg) {
  (void)seg;
  
}

int shmbus_segment_unlink(const char* name) {
  (void)name;
  return SHMBUS_EOS;
}

int shmbus_segment_list(shmbus_segment_info** out, size_t* count) {
  (void)out; (void)count;
  return SHMBUS_EOS;
}

void shmbus_segment_list_free(shmbus_segment_info* list) {
  (void)list;
  
}

void* shmbus_segment_data(const shmbus_segment* seg) {
  (void)seg;
  return NULL;
}

size_t shmbus_segment_size(const shmbus_segment* seg) {
  (void)seg;
  return 0;
}

const char* shmbus_segment_name(const shmbus_segment* seg) {
  (void)seg;
  return NULL;
}

int shmbus_segment_kind(const shmbus_segment* seg) {
  (void)seg;
  return SHMBUS_EOS;
}

const uint32_t* shmbus_segment_params(const shmbus_segment* seg) {
  (void)seg;
  return NULL;
}

int shmbus_segment_wait(shmbus_segment* seg, size_t index, uint32_t expected, int64_t timeout_ms) {
  (void)seg; (void)index; (void)expected; (void)timeout_ms;
  return SHMBUS_EOS;
}

int shmbus_segment_wake(shmbus_segment* seg, size_t index, int count) {
  (void)seg; (void)index; (void)count;
  return SHMBUS_EOS;
}
