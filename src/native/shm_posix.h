// The OS layer of the addon: POSIX shared memory, file windows, futexes, process identity.
// No Node-API types in here, so this file can be read (and tested) as plain C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace shmbus {

// An OS failure: errno plus the syscall that produced it. The TypeScript layer turns it into a ShmbusError.
struct OsError {
  int err;
  const char* syscall;
};

struct Mapping {
  uint8_t* base;      // what mmap returned (page aligned); munmap(base, mapLength)
  size_t mapLength;
  uint8_t* data;      // first byte the caller asked for (base + window delta)
  size_t length;      // bytes the caller may use from data
};

// Creates /name exclusively (EEXIST if taken), sizes it, reserves its pages (ENOSPC now, never SIGBUS later)
// and maps it shared read/write. On failure the half-made object is unlinked.
bool shmCreate(const std::string& osName, size_t size, unsigned mode, Mapping* out, OsError* err);
// Opens an existing object and maps all of it (its size comes from fstat). minSize: refuse smaller objects.
bool shmOpen(const std::string& osName, bool writable, Mapping* out, OsError* err);
// Size of an existing object, without mapping it (-1 + err when it cannot be opened).
int64_t shmSize(const std::string& osName, OsError* err);
bool shmUnlink(const std::string& osName, OsError* err);
// Maps [offset, offset+length) of a regular file. length 0 = to the end of the file. The window must lie
// inside the file (a mapping past EOF faults with SIGBUS on access), else EINVAL-like error with syscall "bounds".
bool fileMap(const std::string& path, uint64_t offset, uint64_t length, bool writable, Mapping* out, OsError* err);
bool flush(void* addr, size_t length, OsError* err);
// Replaces the range with private anonymous zero pages: the shared object is released at once,
// while JS views that still point here read zeros instead of faulting.
bool releaseRange(void* base, size_t length, OsError* err);
void unmap(void* base, size_t length);

// Futex on a 32-bit word shared between processes (never FUTEX_PRIVATE_FLAG).
// Returns 0 woken, 1 value differed, 2 timed out. timeoutMs < 0 (or >= 1e15, NaN) = forever.
int futexWait(uint32_t* addr, uint32_t expected, double timeoutMs);
int futexWake(uint32_t* addr, int count);

// Start time of a process in clock ticks since boot (/proc/<pid>/stat field 22); 0 if it does not exist.
uint64_t processStartTime(int pid);

struct ShmEntry {
  std::string osName;  // without the leading '/'
  uint64_t size;
  std::vector<uint8_t> head;  // first bytes of the object (up to headLength)
};
std::vector<ShmEntry> listShm(const std::string& prefix, size_t headLength);
// Names (without '/') of /dev/shm objects that some process we can inspect has mapped.
std::vector<std::string> mappedShm(const std::string& prefix);

}  // namespace shmbus
