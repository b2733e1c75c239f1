#include "waiter.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "shm_posix.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif

namespace shmbus {

namespace {

struct WaitV {  // struct futex_waitv, spelled out so that old kernel headers still build
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};

constexpr size_t kGroupCapacity = 127;  // FUTEX_WAITV_MAX (128) minus the control word

long futexWaitv(WaitV* v, unsigned n) { return syscall(SYS_futex_waitv, v, n, 0, nullptr, CLOCK_MONOTONIC); }

bool probeWaitv() {
  const char* env = getenv("SHMBUS_WAITER");
  if (env && strcmp(env, "threads") == 0) return false;
  uint32_t word = 1;
  WaitV v{0, reinterpret_cast<uint64_t>(&word), FUTEX2_SIZE_U32, 0};
  // Expected 0 but the word is 1: a kernel with futex_waitv answers EAGAIN at once.
  return futexWaitv(&v, 1) < 0 && errno == EAGAIN;
}

}  // namespace

struct AsyncWaiter::Group {
  uint32_t control = 0;  // bumped (then woken) whenever the set of waits changes or the group must stop
  bool stop = false;
  std::vector<Entry> entries;
  std::thread thread;
};

AsyncWaiter::AsyncWaiter(Done done, void* ctx) : done_(done), ctx_(ctx), threadPerWait_(!probeWaitv()) {}

void AsyncWaiter::add(uint64_t id, uint32_t* addr, uint32_t expected) {
  std::lock_guard<std::mutex> lock(mu_);
  if (threadPerWait_) {
    auto e = std::make_shared<Entry>(Entry{id, addr, expected, false});
    singles_.push_back(e);
    std::thread(&AsyncWaiter::runSingle, this, e).detach();
    return;
  }
  Group* target = nullptr;
  for (auto& g : groups_) {
    if (g->entries.size() < kGroupCapacity) {
      target = g.get();
      break;
    }
  }
  if (!target) {
    groups_.push_back(std::make_unique<Group>());
    target = groups_.back().get();
    target->thread = std::thread(&AsyncWaiter::runGroup, this, target);
  }
  target->entries.push_back(Entry{id, addr, expected, false});
  // Seq-cst bump then wake: the group thread either sees the new value when it re-arms or is woken.
  __atomic_add_fetch(&target->control, 1, __ATOMIC_SEQ_CST);
  futexWake(&target->control, 1);
}

void AsyncWaiter::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& g : groups_) {
    auto it = std::find_if(g->entries.begin(), g->entries.end(), [id](const Entry& e) { return e.id == id; });
    if (it != g->entries.end()) {
      g->entries.erase(it);
      __atomic_add_fetch(&g->control, 1, __ATOMIC_SEQ_CST);
      futexWake(&g->control, 1);
      return;
    }
  }
  for (auto it = singles_.begin(); it != singles_.end(); ++it) {
    if ((*it)->id == id) {
      (*it)->cancelled = true;
      // A spurious wake for other waiters on the same word is harmless: every waiter re-checks its condition.
      futexWake((*it)->addr, INT_MAX);
      singles_.erase(it);
      return;
    }
  }
}

bool AsyncWaiter::finish(uint64_t id) {
  // Caller holds mu_.
  for (auto& g : groups_) {
    auto it = std::find_if(g->entries.begin(), g->entries.end(), [id](const Entry& e) { return e.id == id; });
    if (it != g->entries.end()) {
      g->entries.erase(it);
      return true;
    }
  }
  return false;
}

void AsyncWaiter::runGroup(Group* g) {
  std::vector<WaitV> vec;
  std::vector<uint64_t> ids;
  std::vector<uint64_t> ready;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (g->stop) return;
      vec.clear();
      ids.clear();
      // Acquire: pairs with the seq-cst bump in add/cancel; a later bump makes futex_waitv return EAGAIN.
      uint32_t ctl = __atomic_load_n(&g->control, __ATOMIC_ACQUIRE);
      vec.push_back(WaitV{ctl, reinterpret_cast<uint64_t>(&g->control), FUTEX2_SIZE_U32, 0});
      for (auto& e : g->entries) {
        vec.push_back(WaitV{e.expected, reinterpret_cast<uint64_t>(e.addr), FUTEX2_SIZE_U32, 0});
        ids.push_back(e.id);
      }
    }
    long r = futexWaitv(vec.data(), static_cast<unsigned>(vec.size()));
    ready.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (g->stop) return;
      if (r > 0) {
        if (finish(ids[r - 1])) ready.push_back(ids[r - 1]);
      } else if (r < 0 && errno == EAGAIN) {
        // Some word no longer holds its expected value: its writer changed it and woke (or will wake) it.
        std::vector<uint64_t> changed;
        for (auto& e : g->entries) {
          // Acquire: the waiter's caller re-reads shared state after this wait resolves.
          if (__atomic_load_n(e.addr, __ATOMIC_ACQUIRE) != e.expected) changed.push_back(e.id);
        }
        for (uint64_t id : changed)
          if (finish(id)) ready.push_back(id);
      } else if (r < 0 && errno != EINTR && errno != ETIMEDOUT) {
        // EFAULT/EINVAL/ENOMEM: re-arming would fail the same way and spin. End every wait of the group as a
        // (permitted) spurious wake-up; their callers re-check and wait again if they must.
        for (uint64_t id : ids)
          if (finish(id)) ready.push_back(id);
      }
    }
    for (uint64_t id : ready) done_(ctx_, id, 0);
  }
}

void AsyncWaiter::runSingle(std::shared_ptr<Entry> e) {
  futexWait(e->addr, e->expected, -1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (e->cancelled) return;
    auto it = std::find(singles_.begin(), singles_.end(), e);
    if (it != singles_.end()) singles_.erase(it);
  }
  done_(ctx_, e->id, 0);
}

}  // namespace shmbus
