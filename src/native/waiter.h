// Asynchronous futex waits that never touch libuv's thread pool.
// Waits are grouped: one thread per group of up to 127 waits parks in futex_waitv (Linux >= 5.16) on all of
// them plus a private control word that add/cancel/shutdown bump. Where futex_waitv is missing (ENOSYS) or
// SHMBUS_WAITER=threads is set, each wait gets its own thread instead (at most kMaxThreadWaits at once), cancelled
// privately by a thread-directed signal. No Node-API types in here.
#pragma once

#include <csetjmp>
#include <csignal>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <pthread.h>

namespace shmbus {

class AsyncWaiter {
 public:
  // Called on a waiter thread, with the waiter's lock held, when a wait ends: result 0 = woken (or the word
  // changed; may be spurious), 1 = value differed at start. It must not block or call back into the waiter.
  using Done = void (*)(void* ctx, uint64_t id, int result);

  // Thread-per-wait mode: more pending waits than this are refused (add returns false).
  static constexpr size_t kMaxThreadWaits = 2048;

  // One per Node environment (addon instance). shutdown() must run before it is destroyed.
  AsyncWaiter(Done done, void* ctx);
  ~AsyncWaiter();
  // False when the wait cannot be started (thread-per-wait limit, thread creation failed, shut down).
  bool add(uint64_t id, uint32_t* addr, uint32_t expected);
  // After cancel returns, `done` is never called for id (done runs under the same lock).
  void cancel(uint64_t id);
  // Stops and joins every waiter thread; after it returns `done` is never called again. Idempotent.
  void shutdown();
  bool usesThreadPerWait() const { return threadPerWait_; }
  // At process exit (atexit): no `done` after this returns, without joining (threads may be parked for good).
  void quiesce();

  struct Single;  // public for the signal handler in waiter.cc

 private:
  struct Entry {
    uint64_t id;
    uint32_t* addr;
    uint32_t expected;
  };
  struct Group;
  void runGroup(Group* g);
  void runSingle(std::shared_ptr<Single> s);
  bool finish(uint64_t id);  // removes id from its group if still pending; caller holds mu_

  Done done_;
  void* ctx_;
  bool threadPerWait_;
  bool stopping_ = false;  // guarded by mu_: once set, done_ is never called again
  std::mutex mu_;
  std::condition_variable singlesGone_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::vector<std::shared_ptr<Single>> singles_;  // pending thread-per-wait waits
  size_t liveSingles_ = 0;                        // their threads that have not finished yet (incl. cancelled)
};

}  // namespace shmbus
