#include "waiter.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>
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

// Starts fn on a new thread with every signal blocked: a waiter thread must never run a process's signal handlers
// (Node's SIGCHLD/SIGINT handling belongs to the main thread), nor turn a parked futex into EINTR loops.
template <typename Fn>
bool startBlocked(std::thread* out, Fn&& fn) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  bool ok = true;
  try {
    *out = std::thread(std::forward<Fn>(fn));
  } catch (...) {
    ok = false;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ok;
}

// Waiters alive in this process, for the atexit quiesce (leaked on purpose: never destroyed at exit).
std::mutex& registryMu() {
  static auto* mu = new std::mutex();
  return *mu;
}
std::set<AsyncWaiter*>& registry() {
  static auto* set = new std::set<AsyncWaiter*>();
  return *set;
}
void quiesceAll() {
  std::lock_guard<std::mutex> lock(registryMu());
  for (AsyncWaiter* w : registry()) w->quiesce();
}

// Thread-per-wait cancel: a real-time signal sent to the one waiting thread (pthread_sigqueue). A FUTEX_WAKE on the
// word would wake every other waiter of that shared word, in every process. The thread unblocks the signal only
// between sigsetjmp and the end of its futex wait; the handler siglongjmps out of that window, so a cancel that
// lands before the thread parks, while it is parked, or as it returns is never lost.
int cancelSignal() { return SIGRTMAX - 2; }

}  // namespace

struct AsyncWaiter::Group {
  uint32_t control = 0;  // bumped (then woken) whenever the set of waits changes or the group must stop
  bool stop = false;     // guarded by mu_
  std::vector<Entry> entries;
  std::thread thread;
};

struct AsyncWaiter::Single {
  uint64_t id;
  uint32_t* addr;
  uint32_t expected;
  pthread_t tid{};
  std::atomic<bool> cancelled{false};
  volatile sig_atomic_t inWindow = 0;
  sigjmp_buf jmp;
};

namespace {
void onCancelSignal(int, siginfo_t* si, void*) {
  // Only our own pthread_sigqueue carries a Single*; anything else (another process's sigqueue) is ignored.
  if (si->si_code != SI_QUEUE || si->si_pid != getpid()) return;
  auto* s = static_cast<AsyncWaiter::Single*>(si->si_value.sival_ptr);
  if (s != nullptr && s->inWindow) siglongjmp(s->jmp, 1);
}

void installCancelHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = onCancelSignal;
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: not needed, the handler never returns into the wait
    sigfillset(&sa.sa_mask);
    sigaction(cancelSignal(), &sa, nullptr);
  });
}
}  // namespace

AsyncWaiter::AsyncWaiter(Done done, void* ctx) : done_(done), ctx_(ctx), threadPerWait_(!probeWaitv()) {
  if (threadPerWait_) installCancelHandler();
  static std::once_flag once;
  std::call_once(once, [] { atexit(quiesceAll); });
  std::lock_guard<std::mutex> lock(registryMu());
  registry().insert(this);
}

AsyncWaiter::~AsyncWaiter() {
  shutdown();
  std::lock_guard<std::mutex> lock(registryMu());
  registry().erase(this);
}

bool AsyncWaiter::add(uint64_t id, uint32_t* addr, uint32_t expected) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  if (threadPerWait_) {
    if (liveSingles_ >= kMaxThreadWaits) return false;
    auto s = std::make_shared<Single>();
    s->id = id;
    s->addr = addr;
    s->expected = expected;
    std::thread t;
    if (!startBlocked(&t, [this, s] { runSingle(s); })) return false;
    // Set before mu_ is released: cancel (under mu_) may signal the thread at once.
    s->tid = t.native_handle();
    t.detach();  // it unregisters itself under mu_; shutdown waits for liveSingles_ == 0
    singles_.push_back(s);
    liveSingles_++;
    return true;
  }
  Group* target = nullptr;
  for (auto& g : groups_) {
    if (g->entries.size() < kGroupCapacity) {
      target = g.get();
      break;
    }
  }
  if (!target) {
    auto g = std::make_unique<Group>();
    Group* raw = g.get();
    if (!startBlocked(&g->thread, [this, raw] { runGroup(raw); })) return false;
    groups_.push_back(std::move(g));
    target = raw;
  }
  target->entries.push_back(Entry{id, addr, expected});
  // Seq-cst bump then wake: the group thread either sees the new value when it re-arms or is woken.
  __atomic_add_fetch(&target->control, 1, __ATOMIC_SEQ_CST);
  futexWake(&target->control, 1);
  return true;
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
    Single* s = it->get();
    if (s->id == id) {
      // Release: the thread's acquire load of `cancelled` after the jump sees it (it also re-checks under mu_).
      s->cancelled.store(true, std::memory_order_release);
      union sigval v;
      v.sival_ptr = s;
      pthread_sigqueue(s->tid, cancelSignal(), v);  // the thread is alive: it unregisters under mu_ before exiting
      singles_.erase(it);
      return;
    }
  }
}

void AsyncWaiter::quiesce() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
}

void AsyncWaiter::shutdown() {
  std::vector<std::thread> joins;
  {
    std::unique_lock<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& g : groups_) {
      g->stop = true;
      __atomic_add_fetch(&g->control, 1, __ATOMIC_SEQ_CST);
      futexWake(&g->control, 1);
      if (g->thread.joinable()) joins.push_back(std::move(g->thread));
    }
    for (auto& s : singles_) {
      s->cancelled.store(true, std::memory_order_release);
      union sigval v;
      v.sival_ptr = s.get();
      pthread_sigqueue(s->tid, cancelSignal(), v);
    }
    singles_.clear();
    singlesGone_.wait(lock, [this] { return liveSingles_ == 0; });
  }
  for (auto& t : joins) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  groups_.clear();
}

bool AsyncWaiter::finish(uint64_t id) {
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
    int err = errno;
    std::lock_guard<std::mutex> lock(mu_);
    if (g->stop) return;
    auto report = [this](uint64_t id) {
      if (finish(id) && !stopping_) done_(ctx_, id, 0);
    };
    if (r > 0) {
      // futex_waitv returns only the HIGHEST index woken: every futex woken between our wake-up and the kernel
      // unqueueing the others is reported through that one index (kernel futex_unqueue_multiple). A word below r
      // may have been woken too and already hold its old value again (A-B-A): re-arming it would lose that wake
      // for good (its waker already cleared the sleepers word). And every word is unqueued until we re-arm, so
      // a wake of a word above r in that window would be lost the same way. So after a wake of any user word,
      // every wait of the group completes ('ok' may be spurious: callers re-check and park again).
      // Index 0 is the control word: r == 0 means no user word was woken before the unqueue (it would have a
      // higher index); those waits are re-armed below, see the note there.
      for (uint64_t id : ids) report(id);
      continue;
    } else if (r < 0 && err != EAGAIN && err != EINTR && err != ETIMEDOUT) {
      // EFAULT/EINVAL/ENOMEM: re-arming would fail the same way and spin. End every wait of the group as a
      // (permitted) spurious wake-up; their callers re-check and wait again if they must.
      for (uint64_t id : ids) report(id);
      continue;
    }
    // Control wake (add/cancel), EAGAIN, EINTR, timeout: the waits whose word changed complete; the others are
    // re-armed with their expected value. On EAGAIN nothing was woken (the kernel reports a wake that raced with
    // the setup as an index). Known limit: a wake of a word in the microseconds between this return and the
    // re-arm, with the word back at its expected value by then (A-B-A), is missed; completing every wait on each
    // add/cancel instead would make every re-park wake the group again, forever.
    std::vector<uint64_t> changed;
    for (auto& e : g->entries) {
      // Acquire: the waiter's caller re-reads shared state after this wait resolves.
      if (__atomic_load_n(e.addr, __ATOMIC_ACQUIRE) != e.expected) changed.push_back(e.id);
    }
    for (uint64_t id : changed) report(id);
  }
}

void AsyncWaiter::runSingle(std::shared_ptr<Single> s) {
  Single* p = s.get();
  // Every signal is blocked here (startBlocked); savemask=1: a jump back restores that mask.
  if (sigsetjmp(p->jmp, 1) == 0) {
    p->inWindow = 1;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, cancelSignal());
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);  // a cancel already queued is delivered here and jumps
    // Acquire: pairs with cancel's release store (a cancel that came before the unblock is seen here or jumps).
    if (!p->cancelled.load(std::memory_order_acquire)) futexWait(p->addr, p->expected, -1);
    pthread_sigmask(SIG_BLOCK, &one, nullptr);
    p->inWindow = 0;
  } else {
    p->inWindow = 0;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find(singles_.begin(), singles_.end(), s);
  if (it != singles_.end()) {
    singles_.erase(it);
    if (!p->cancelled.load(std::memory_order_acquire) && !stopping_) done_(ctx_, p->id, 0);
  }
  liveSingles_--;
  singlesGone_.notify_all();  // under mu_: shutdown cannot return (and free this) before we unlock
}

}  // namespace shmbus
