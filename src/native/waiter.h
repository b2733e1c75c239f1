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
#include <set>
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

// Asynchronous futex waits with no thread hop (Linux >= 6.7): each wait is an io_uring FUTEX_WAIT submitted by the
// thread that owns the event loop; its completion signals an eventfd that the loop polls, so a wake from another
// process reaches the loop thread directly (one context switch, as a blocking futex wait) instead of waking a waiter
// thread that then wakes the loop (about 4 switches per wait on a pinned core). Single-threaded: every method runs on
// the loop thread that created it. No Node-API types in here.
class UringWaiter {
 public:
  // Null when io_uring or its FUTEX_WAIT op is unavailable (old kernel, seccomp, io_uring_disabled), or when
  // SHMBUS_WAITER names another waiter ("waitv" or "threads").
  static UringWaiter* create();
  ~UringWaiter();
  UringWaiter(const UringWaiter&) = delete;
  UringWaiter& operator=(const UringWaiter&) = delete;
  // Readable when completions may be waiting (the loop polls it).
  int eventFd() const { return eventFd_; }
  // Submits one wait on *addr while it holds `expected`. False when the kernel refused the submission.
  bool add(uint64_t id, uint32_t* addr, uint32_t expected);
  // Asks the kernel to cancel the wait; `id` is never reported by reap afterwards.
  void cancel(uint64_t id);
  // Drains the eventfd and calls done(ctx, id, result) for every wait completed before the call (0 = woken, or the
  // word changed; may be spurious, 1 = value differed at start). Cancelled waits are skipped. Completions that arrive
  // meanwhile are left for the next loop turn (the eventfd stays readable), so the loop's other handles get theirs.
  void reap(void (*done)(void* ctx, uint64_t id, int result), void* ctx);

 private:
  UringWaiter() = default;
  bool setup();
  bool submit(uint8_t op, uint64_t userData, uint64_t addr, uint64_t addr2, uint64_t addr3, int32_t fd);
  int ringFd_ = -1;
  int eventFd_ = -1;
  void* ring_ = nullptr;  // the SQ and CQ rings (IORING_FEAT_SINGLE_MMAP)
  size_t ringLen_ = 0;
  void* sqes_ = nullptr;
  size_t sqesLen_ = 0;
  uint32_t* sqHead_ = nullptr;
  uint32_t* sqTail_ = nullptr;
  uint32_t* sqArray_ = nullptr;
  uint32_t* sqFlags_ = nullptr;
  uint32_t sqMask_ = 0;
  uint32_t sqEntries_ = 0;
  uint32_t* cqHead_ = nullptr;
  uint32_t* cqTail_ = nullptr;
  uint32_t cqMask_ = 0;
  void* cqes_ = nullptr;
  std::set<uint64_t> cancelled_;  // ids cancelled whose completion has not been reaped yet
};

}  // namespace shmbus
