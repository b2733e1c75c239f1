// POSIX implementation of the OS layer (see shm_posix.h). Linux only for now: futex and /proc.
#include "shm_posix.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>

namespace shmbus {

namespace {

bool fail(OsError* err, const char* syscall) {
  err->err = errno;
  err->syscall = syscall;
  return false;
}

size_t pageSize() {
  static size_t ps = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return ps;
}

bool mapFd(int fd, size_t length, bool writable, uint64_t offset, Mapping* out, OsError* err) {
  const uint64_t aligned = offset - (offset % pageSize());
  const size_t delta = static_cast<size_t>(offset - aligned);
  const size_t mapLength = length + delta;
  // A zero-length mmap is EINVAL; map one page so that an empty payload still has an address.
  const size_t realLength = mapLength == 0 ? pageSize() : mapLength;
  // Read-only maps are private copy-on-write rather than PROT_READ: a JS write into a PROT_READ page would be a
  // SIGSEGV, a write into a private page only changes this process's copy.
  void* p = mmap(nullptr, realLength, PROT_READ | PROT_WRITE, writable ? MAP_SHARED : MAP_PRIVATE, fd,
                 static_cast<off_t>(aligned));
  if (p == MAP_FAILED) return fail(err, "mmap");
  out->base = static_cast<uint8_t*>(p);
  out->mapLength = realLength;
  out->data = out->base + delta;
  out->length = length;
  return true;
}

int truncateRetrying(int fd, size_t size) {
  int rc;
  do rc = ftruncate(fd, static_cast<off_t>(size));
  while (rc != 0 && errno == EINTR);
  return rc;
}

}  // namespace

bool shmCreate(const std::string& osName, size_t size, unsigned mode, Mapping* out, OsError* err) {
  int fd = shm_open(osName.c_str(), O_RDWR | O_CREAT | O_EXCL, mode);
  if (fd < 0) return fail(err, "shm_open");
  // shm_open applies the umask; fchmod makes the requested mode exact (0600 stays 0600, 0660 stays 0660).
  const char* failed = fchmod(fd, mode) != 0 ? "fchmod" : truncateRetrying(fd, size) != 0 ? "ftruncate" : nullptr;
  if (failed) {
    fail(err, failed);
    close(fd);
    shm_unlink(osName.c_str());
    return false;
  }
  if (size > 0) {
    // Reserve every page now: a full /dev/shm must fail here with ENOSPC, not with SIGBUS on first touch.
    // EINTR: a signal arrived while the pages were being reserved (SIGCHLD is common in Node): try again.
    int rc;
    do rc = posix_fallocate(fd, 0, static_cast<off_t>(size));
    while (rc == EINTR);
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
      err->err = rc;
      err->syscall = "posix_fallocate";
      close(fd);
      shm_unlink(osName.c_str());
      return false;
    }
  }
  bool ok = mapFd(fd, size, true, 0, out, err);
  close(fd);
  if (!ok) shm_unlink(osName.c_str());
  return ok;
}

bool shmOpen(const std::string& osName, bool writable, Mapping* out, OsError* err) {
  int fd = shm_open(osName.c_str(), writable ? O_RDWR : O_RDONLY, 0);
  if (fd < 0) return fail(err, "shm_open");
  struct stat st;
  if (fstat(fd, &st) != 0) {
    fail(err, "fstat");
    close(fd);
    return false;
  }
  bool ok = mapFd(fd, static_cast<size_t>(st.st_size), writable, 0, out, err);
  close(fd);
  return ok;
}

int64_t shmSize(const std::string& osName, OsError* err) {
  int fd = shm_open(osName.c_str(), O_RDONLY, 0);
  if (fd < 0) {
    fail(err, "shm_open");
    return -1;
  }
  struct stat st;
  int rc = fstat(fd, &st);
  if (rc != 0) fail(err, "fstat");
  close(fd);
  return rc == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

bool shmUnlink(const std::string& osName, OsError* err) {
  if (shm_unlink(osName.c_str()) != 0) return fail(err, "shm_unlink");
  return true;
}

bool fileMap(const std::string& path, uint64_t offset, uint64_t length, bool writable, Mapping* out, OsError* err) {
  int fd = open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return fail(err, "open");
  struct stat st;
  if (fstat(fd, &st) != 0) {
    fail(err, "fstat");
    close(fd);
    return false;
  }
  const uint64_t fileSize = static_cast<uint64_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || offset > fileSize || (length != 0 && length > fileSize - offset)) {
    close(fd);
    err->err = S_ISREG(st.st_mode) ? ERANGE : EINVAL;
    err->syscall = "bounds";
    return false;
  }
  if (length == 0) length = fileSize - offset;
  bool ok = mapFd(fd, static_cast<size_t>(length), writable, offset, out, err);
  close(fd);
  return ok;
}

bool flush(void* addr, size_t length, OsError* err) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  const uintptr_t aligned = a - (a % pageSize());
  if (msync(reinterpret_cast<void*>(aligned), length + (a - aligned), MS_SYNC) != 0) return fail(err, "msync");
  return true;
}

bool releaseRange(void* base, size_t length, OsError* err) {
  void* p = mmap(base, length, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return fail(err, "mmap");
  return true;
}

void unmap(void* base, size_t length) { munmap(base, length); }

int futexWait(uint32_t* addr, uint32_t expected, double timeoutMs) {
  struct timespec deadline;
  // Longer than kForeverMs (~31 700 years) is forever: converting a huge double to time_t would be undefined.
  constexpr double kForeverMs = 1e15;
  const bool bounded = timeoutMs >= 0 && timeoutMs < kForeverMs;
  if (bounded) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    const int64_t sec = static_cast<int64_t>(timeoutMs / 1000);  // < 1e12: exact and in range
    long nsec = static_cast<long>((timeoutMs - static_cast<double>(sec) * 1000) * 1e6);
    if (nsec < 0) nsec = 0;
    if (nsec > 999999999L) nsec = 999999999L;
    deadline.tv_sec += static_cast<time_t>(sec);
    deadline.tv_nsec += nsec;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  for (;;) {
    struct timespec rel;
    struct timespec* relp = nullptr;
    if (bounded) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      rel.tv_sec = deadline.tv_sec - now.tv_sec;
      rel.tv_nsec = deadline.tv_nsec - now.tv_nsec;
      if (rel.tv_nsec < 0) {
        rel.tv_sec -= 1;
        rel.tv_nsec += 1000000000L;
      }
      if (rel.tv_sec < 0) return 2;
      relp = &rel;
    }
    // FUTEX_WAIT (not _PRIVATE): the word lives in memory that other processes map. Its timeout is RELATIVE and
    // measured on CLOCK_MONOTONIC; we recompute it from the absolute deadline after each EINTR.
    long rc = syscall(SYS_futex, addr, FUTEX_WAIT, expected, relp, nullptr, 0);
    if (rc == 0) return 0;
    if (errno == EAGAIN) return 1;
    if (errno == ETIMEDOUT) return 2;
    if (errno != EINTR) return 1;
  }
}

int futexWake(uint32_t* addr, int count) {
  long rc = syscall(SYS_futex, addr, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return rc < 0 ? 0 : static_cast<int>(rc);
}

uint64_t processStartTime(int pid) {
  if (pid <= 0) return 0;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "re");
  if (!f) return 0;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  // comm (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
  char* p = strrchr(buf, ')');
  if (!p) return 0;
  p += 2;  // now at field 3 (state)
  // A zombie has exited: it holds nothing, so it counts as dead.
  if (*p == 'Z' || *p == 'X') return 0;
  int field = 3;
  while (*p && field < 22) {
    if (*p == ' ') field++;
    p++;
  }
  return field == 22 ? strtoull(p, nullptr, 10) : 0;
}

std::vector<ShmEntry> listShm(const std::string& prefix, size_t headLength) {
  std::vector<ShmEntry> out;
  DIR* d = opendir("/dev/shm");
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    ShmEntry entry;
    entry.osName = name;
    entry.size = 0;
    int fd = shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd >= 0) {
      struct stat st;
      if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        entry.size = static_cast<uint64_t>(st.st_size);
        size_t want = headLength < entry.size ? headLength : static_cast<size_t>(entry.size);
        entry.head.resize(want);
        ssize_t got = pread(fd, entry.head.data(), want, 0);
        entry.head.resize(got > 0 ? static_cast<size_t>(got) : 0);
      }
      close(fd);
    }
    out.push_back(std::move(entry));
  }
  closedir(d);
  return out;
}

std::vector<std::string> mappedShm(const std::string& prefix) {
  std::set<std::string> found;
  const std::string marker = "/dev/shm/" + prefix;
  DIR* d = opendir("/proc");
  if (!d) return {};
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string path = std::string("/proc/") + e->d_name + "/maps";
    FILE* f = fopen(path.c_str(), "re");
    if (!f) continue;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
      char* hit = strstr(line, marker.c_str());
      if (!hit) continue;
      std::string name(hit + 9);
      while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
      const std::string deleted = " (deleted)";
      if (name.size() > deleted.size() && name.compare(name.size() - deleted.size(), deleted.size(), deleted) == 0)
        continue;
      found.insert(name);
    }
    fclose(f);
  }
  closedir(d);
  return std::vector<std::string>(found.begin(), found.end());
}

}  // namespace shmbus
