// Uses an installed shmbus (C++ layer, shared library): a named mutex and rwlock through std guards.
#include <shmbus.hpp>

#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unistd.h>

int main() {
  const std::string name = "consumer-cxx-" + std::to_string(getpid());
  try {
    auto m = shmbus::Mutex::create(name);
    { std::lock_guard<shmbus::Mutex> hold(m); }
    {
      shmbus::guard<shmbus::Mutex> hold(m);
      if (hold.recovered()) return 1;
    }
    shmbus::Mutex::unlink(name);
    auto rw = shmbus::RwLock::create(name);
    { std::shared_lock<shmbus::RwLock> a(rw), b(rw); }
    { shmbus::write_guard w(rw); }
    shmbus::RwLock::unlink(name);
    shmbus::Mutex::open(name);
    return 2;  // the name is gone: open must throw
  } catch (const shmbus::error& e) {
    if (e.code() != SHMBUS_ESHM_NOT_FOUND) return 3;
  }
  std::puts("consumer ok");
  return 0;
}
