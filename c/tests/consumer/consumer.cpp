// Uses an installed shmbus through find_package (C++ layer over the shared library): every sync wrapper of
// shmbus.hpp once, with the std lock types and shmbus's guards. Prints "consumer ok"; any failure exits non-zero.
#include <shmbus.hpp>

#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unistd.h>

namespace {
int fail(int code, const char* what) {
  std::fprintf(stderr, "consumer: %s\n", what);
  return code;
}
}  // namespace

int main() {
  const std::string base = "consumer-cxx-" + std::to_string(getpid());
  const char* suffixes[] = {"-m", "-rw", "-s", "-e", "-seg"};
  int rc = 0;
  try {
    auto m = shmbus::Mutex::create(base + "-m");
    { std::lock_guard<shmbus::Mutex> hold(m); }
    {
      shmbus::guard<shmbus::Mutex> hold(m, std::chrono::milliseconds(100));
      if (hold.recovered() || !m.is_locked_by_me()) rc = fail(1, "mutex guard");
    }
    auto rw = shmbus::RwLock::create(base + "-rw");
    { std::shared_lock<shmbus::RwLock> a(rw), b(rw); }
    { std::unique_lock<shmbus::RwLock> w(rw); }
    { shmbus::write_guard w(rw); }
    { shmbus::read_guard r(rw); }
    auto s = shmbus::Semaphore::create(base + "-s", 1);
    {
      shmbus::guard<shmbus::Semaphore> unit(s);
      if (s.value() != 0 || s.try_acquire().has_value()) rc = fail(2, "semaphore guard");
    }
    if (s.value() != 1) rc = fail(3, "semaphore release");
    auto e = shmbus::Event::create(base + "-e", true);
    e.set();
    e.wait(std::chrono::milliseconds(0));
    e.reset();
    if (e.wait_for(std::chrono::milliseconds(1)) || !e.manual_reset()) rc = fail(4, "event");
    auto seg = shmbus::Segment::create(base + "-seg", 4096);
    auto embedded = shmbus::Mutex::embed(seg, 64);
    if (!embedded.try_lock()) rc = fail(5, "embedded mutex");
    embedded.unlock();
    try {
      shmbus::Mutex::open(base + "-none");
      rc = fail(6, "open of a missing name did not throw");
    } catch (const shmbus::error& x) {
      if (x.code() != SHMBUS_ESHM_NOT_FOUND || std::string(x.node_code()) != "ERR_SHM_NOT_FOUND") {
        rc = fail(7, x.what());
      }
    }
  } catch (const shmbus::error& x) {
    rc = fail(8, x.what());
  }
  for (const char* suffix : suffixes) shmbus_segment_unlink((base + suffix).c_str());  // leave /dev/shm as found
  if (rc == 0) std::puts("consumer ok");
  return rc;
}
