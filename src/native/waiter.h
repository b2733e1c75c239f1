// Asynchronous futex waits that never touch libuv's thread pool.
// Waits are grouped: one thread per group of up to 127 waits parks in futex_waitv (Linux >= 5.16) on all of
// them plus a private control word that add/cancel bump. Where futex_waitv is missing (ENOSYS) or
// SHMBUS_WAITER=threads is set, each wait gets its own thread instead. No Node-API types in here.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace shmbus {

class AsyncWaiter {
 public:
  // Called on a waiter thread when a wait ends: result 0 = woken (or the word changed), 1 = value differed at start.
  using Done = void (*)(void* ctx, uint64_t id, int result);

  // One per Node environment, never destroyed: its threads park in the kernel until the process exits.
  AsyncWaiter(Done done, void* ctx);
  void add(uint64_t id, uint32_t* addr, uint32_t expected);
  // After cancel returns, `done` is never called for id.
  void cancel(uint64_t id);
  bool usesThreadPerWait() const { return threadPerWait_; }

 private:
  struct Entry {
    uint64_t id;
    uint32_t* addr;
    uint32_t expected;
    bool cancelled;
  };
  struct Group;
  void runGroup(Group* g);
  void runSingle(std::shared_ptr<Entry> e);
  bool finish(uint64_t id);  // removes id if still pending; true if the caller should report it

  Done done_;
  void* ctx_;
  bool threadPerWait_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::vector<std::shared_ptr<Entry>> singles_;
};

}  // namespace shmbus
