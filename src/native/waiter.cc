#include "waiter.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/io_uring.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
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

// ---------------------------------------------------------------------------------------------------------------
// UringWaiter

namespace {
// Opcodes and fields newer than some kernel headers (linux/io_uring.h of 6.1 stops at IORING_OP_SENDMSG_ZC).
constexpr uint8_t kOpFutexWait = 51;           // IORING_OP_FUTEX_WAIT (Linux 6.7)
constexpr uint64_t kFutexMatchAny = 0xffffffffu;  // FUTEX_BITSET_MATCH_ANY: the mask of a plain wait
constexpr uint64_t kCancelTag = 1ull << 63;     // user_data of our cancel requests (wait ids stay below 2^53)
constexpr unsigned kSqEntries = 64;   // every submission is entered at once, so a few slots are plenty
constexpr unsigned kCqEntries = 4096;  // completions queued before the loop reaps them (more go to the overflow list)

int uringSetup(unsigned entries, io_uring_params* p) { return static_cast<int>(syscall(__NR_io_uring_setup, entries, p)); }
int uringEnter(int fd, unsigned toSubmit, unsigned minComplete, unsigned flags) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, toSubmit, minComplete, flags, nullptr, 0));
}
int uringRegister(int fd, unsigned op, void* arg, unsigned n) {
  return static_cast<int>(syscall(__NR_io_uring_register, fd, op, arg, n));
}
}  // namespace

UringWaiter* UringWaiter::create() {
  const char* env = getenv("SHMBUS_WAITER");
  // The default; SHMBUS_WAITER=waitv or =threads picks a fallback (=io_uring, the opt-in of round 6, is accepted).
  if (env && (strcmp(env, "threads") == 0 || strcmp(env, "waitv") == 0)) return nullptr;
  auto* w = new UringWaiter();
  if (!w->setup()) {
    delete w;
    return nullptr;
  }
  return w;
}

bool UringWaiter::setup() {
  io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  p.cq_entries = kCqEntries;
  ringFd_ = uringSetup(kSqEntries, &p);
  if (ringFd_ < 0) return false;
  // NODROP: completions beyond the CQ wait in the kernel instead of being lost. SINGLE_MMAP: one mapping for both rings.
  if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_SINGLE_MMAP)) return false;
  ringLen_ = std::max<size_t>(p.sq_off.array + p.sq_entries * sizeof(uint32_t), p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe));
  ring_ = mmap(nullptr, ringLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ringFd_, IORING_OFF_SQ_RING);
  if (ring_ == MAP_FAILED) {
    ring_ = nullptr;
    return false;
  }
  sqesLen_ = p.sq_entries * sizeof(io_uring_sqe);
  sqes_ = mmap(nullptr, sqesLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ringFd_, IORING_OFF_SQES);
  if (sqes_ == MAP_FAILED) {
    sqes_ = nullptr;
    return false;
  }
  auto* base = static_cast<uint8_t*>(ring_);
  sqHead_ = reinterpret_cast<uint32_t*>(base + p.sq_off.head);
  sqTail_ = reinterpret_cast<uint32_t*>(base + p.sq_off.tail);
  sqArray_ = reinterpret_cast<uint32_t*>(base + p.sq_off.array);
  sqFlags_ = reinterpret_cast<uint32_t*>(base + p.sq_off.flags);
  sqMask_ = *reinterpret_cast<uint32_t*>(base + p.sq_off.ring_mask);
  sqEntries_ = p.sq_entries;
  cqHead_ = reinterpret_cast<uint32_t*>(base + p.cq_off.head);
  cqTail_ = reinterpret_cast<uint32_t*>(base + p.cq_off.tail);
  cqMask_ = *reinterpret_cast<uint32_t*>(base + p.cq_off.ring_mask);
  cqes_ = base + p.cq_off.cqes;
  eventFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (eventFd_ < 0 || uringRegister(ringFd_, IORING_REGISTER_EVENTFD, &eventFd_, 1) != 0) return false;
  // Probe: a wait whose word already differs must complete at once with -EAGAIN; a kernel without the op answers
  // -EINVAL (unknown opcode) and we fall back to the futex_waitv group.
  uint32_t word = 1;
  if (!submit(kOpFutexWait, 0, reinterpret_cast<uint64_t>(&word), 0, kFutexMatchAny, FUTEX2_SIZE_U32)) return false;
  if (uringEnter(ringFd_, 0, 1, IORING_ENTER_GETEVENTS) < 0) return false;
  int probe = INT32_MIN;
  reap([](void* ctx, uint64_t, int result) { *static_cast<int*>(ctx) = result; }, &probe);
  return probe == 1;
}

UringWaiter::~UringWaiter() {
  // Closing the ring cancels the waits still queued in the kernel.
  if (ringFd_ >= 0) close(ringFd_);
  if (eventFd_ >= 0) close(eventFd_);
  if (ring_) munmap(ring_, ringLen_);
  if (sqes_) munmap(sqes_, sqesLen_);
}

bool UringWaiter::submit(uint8_t op, uint64_t userData, uint64_t addr, uint64_t addr2, uint64_t addr3, int32_t fd) {
  // Only this thread writes the SQ tail and the kernel consumes the SQ only inside our io_uring_enter (no SQPOLL).
  uint32_t tail = *sqTail_;
  // Acquire: the kernel's release of the head after it consumed the earlier entries.
  if (tail - __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE) >= sqEntries_) return false;
  uint32_t idx = tail & sqMask_;
  auto* sqe = static_cast<io_uring_sqe*>(sqes_) + idx;
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = op;
  sqe->fd = fd;
  sqe->addr = addr;
  sqe->off = addr2;  // addr2 shares the union with off
  sqe->user_data = userData;
  sqe->addr3 = addr3;
  sqArray_[idx] = idx;
  // Release: the entry's fields are visible to the kernel before the new tail (its acquire in io_uring_enter).
  __atomic_store_n(sqTail_, tail + 1, __ATOMIC_RELEASE);
  for (;;) {
    int r = uringEnter(ringFd_, 1, 0, 0);
    if (r == 1) return true;
    if (r < 0 && errno == EINTR) continue;
    // Refused (EBUSY with a full CQ backlog, ENOMEM...): withdraw the entry; the kernel never read it.
    __atomic_store_n(sqTail_, tail, __ATOMIC_RELEASE);  // release: same pairing as above
    return false;
  }
}

bool UringWaiter::add(uint64_t id, uint32_t* addr, uint32_t expected) {
  return submit(kOpFutexWait, id, reinterpret_cast<uint64_t>(addr), expected, kFutexMatchAny, FUTEX2_SIZE_U32);
}

void UringWaiter::cancel(uint64_t id) {
  cancelled_.insert(id);
  // IORING_ASYNC_CANCEL_USERDATA is the default key; the cancel's own completion is skipped by its tag.
  if (!submit(IORING_OP_ASYNC_CANCEL, kCancelTag | id, id, 0, 0, -1)) {
    // Not submitted: the wait stays queued until its word is woken or the ring closes; its completion is ignored.
  }
}

void UringWaiter::reap(void (*done)(void* ctx, uint64_t id, int result), void* ctx) {
  uint64_t count;
  if (read(eventFd_, &count, sizeof count) < 0) {
    // EAGAIN: nothing signalled since the last read; the CQ is checked anyway.
  }
  // Overflowed completions move into the CQ only when asked (IORING_SQ_CQ_OVERFLOW; relaxed: a hint).
  if (__atomic_load_n(sqFlags_, __ATOMIC_RELAXED) & IORING_SQ_CQ_OVERFLOW) uringEnter(ringFd_, 0, 0, IORING_ENTER_GETEVENTS);
  // One batch: the completions present now, never the ones that arrive while the callbacks run. Each callback runs
  // JS (and its microtasks) that often submits the next wait, and a wait of this process woken by this process (an
  // Rpc client and its server in one process, Queue ping-pong...) completes during that very call: a loop until the
  // CQ is empty never returned to libuv while such traffic flowed, starving every other handle (timers, child
  // stdout, SIGCHLD: the kills-request-reply hang of seed 3401647885). Later completions wait for the next loop turn.
  uint32_t head = *cqHead_;
  // Acquire: pairs with the kernel's release of the tail after it wrote the entries.
  const uint32_t end = __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE);
  while (head != end) {
    const auto* cqe = static_cast<const io_uring_cqe*>(cqes_) + (head & cqMask_);
    uint64_t id = cqe->user_data;
    int res = cqe->res;
    head++;
    // Release: the kernel may reuse the slot only after this store; freed before the callback, whose submissions
    // may complete at once and need room in the CQ.
    __atomic_store_n(cqHead_, head, __ATOMIC_RELEASE);
    if (id & kCancelTag) continue;
    auto c = cancelled_.find(id);
    if (c != cancelled_.end()) {
      cancelled_.erase(c);
      continue;
    }
    // -EAGAIN: the word differed at submission. 0: woken. Anything else (-EINTR...): a spurious wake, callers re-check.
    done(ctx, id, res == -EAGAIN ? 1 : 0);
  }
  // Completions left for the next turn: the kernel signalled the eventfd for those posted after our read, but not
  // for overflowed ones it moves into the CQ later; signal it ourselves so the (level-triggered) poll fires again.
  // Acquire: as above.
  if (__atomic_load_n(cqTail_, __ATOMIC_ACQUIRE) != head ||
      (__atomic_load_n(sqFlags_, __ATOMIC_RELAXED) & IORING_SQ_CQ_OVERFLOW)) {
    uint64_t one = 1;
    if (write(eventFd_, &one, sizeof one) < 0) {
      // EAGAIN only at a counter of 2^64-2: it is readable then anyway.
    }
  }
}

}  // namespace shmbus
