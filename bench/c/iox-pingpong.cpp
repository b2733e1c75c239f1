/*
 * Round trip between two processes over iceoryx 2.x (Eclipse iceoryx, C++ posh API): the side-by-side row of
 * issue 12. Built by the bench (bench/suites/30-topic.ts, g++ -O2) against the installed headers; needs a running
 * iox-roudi (the bench starts and stops it).
 *
 * usage: iox-pingpong <copy|zc> <size> <iterations> <warmup> <cpuParent|-1> <cpuChild|-1>
 * prints one round-trip time in nanoseconds per line (after the warm-up), then "done" (as bench/c/pingpong.c).
 *
 * fork(); each process registers its own runtime, publishes on one service and subscribes to the other
 * ("shmbus-bench/<pid>/ping" and ".../pong"); both busy-poll take() (no WaitSet: the blocking mode costs the futex
 * wake, see limits.md). Both processes are pinned with sched_setaffinity, as pingpong.c does.
 * copy: the sender loans <size> bytes, copies a private buffer in and publishes; the receiver takes, reads the
 *       payload in place (an 8-byte stamp) and releases: 2 copies per round trip, as the shmbus Topic 64 B rows
 *       (publish copies in, tryRead({ copy: false }) reads in place).
 * zc:   zero-copy frame: the sender loans <size> bytes and writes only an 8-byte stamp (a producer renders in
 *       place); the receiver reads the stamp and releases: as the shmbus "zero-copy frame" rows (loan + copy: false).
 * Bounded: every wait gives up after 10 s (exit 2); the program dies with whoever started it, the child with it.
 */
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    perror("sched_setaffinity");
    exit(1);
  }
}

static void silent_for_too_long(uint64_t start, const char* what) {
  if (now_ns() - start > 10000000000ull) {
    fprintf(stderr, "iox-pingpong: %s: nothing for 10 s\n", what);
    _exit(2);
  }
}

struct Side {
  iox::popo::UntypedPublisher pub;
  iox::popo::UntypedSubscriber sub;
  Side(const std::string& group, const char* out, const char* in)
      : pub({iox::capro::IdString_t(iox::cxx::TruncateToCapacity, group), "bench", iox::capro::IdString_t(iox::cxx::TruncateToCapacity, out)}),
        sub({iox::capro::IdString_t(iox::cxx::TruncateToCapacity, group), "bench", iox::capro::IdString_t(iox::cxx::TruncateToCapacity, in)}) {}

  /* Waits until the other side has subscribed to us and we to it (RouDi connects ports asynchronously). */
  void connect() {
    uint64_t t0 = now_ns();
    while (!pub.hasSubscribers() || sub.getSubscriptionState() != iox::SubscribeState::SUBSCRIBED) {
      silent_for_too_long(t0, "connect");
      usleep(1000);
    }
  }

  void send(const uint8_t* priv, size_t size, bool zc, uint64_t stamp) {
    auto loaned = pub.loan(uint32_t(size), 8);
    if (loaned.has_error()) {
      fprintf(stderr, "iox-pingpong: loan of %zu bytes failed (RouDi mempool config?)\n", size);
      _exit(1);
    }
    void* p = loaned.value();
    if (zc) memcpy(p, &stamp, sizeof stamp);
    else memcpy(p, priv, size);
    pub.publish(p);
  }

  /* Busy-polls take(); reads the stamp in place (both modes, as a shmbus copy: false reader) and releases. */
  uint64_t receive() {
    uint64_t t0 = 0;
    for (unsigned n = 0;; n++) {
      auto taken = sub.take();
      if (!taken.has_error()) {
        const void* p = taken.value();
        uint64_t stamp;
        memcpy(&stamp, p, sizeof stamp);
        sub.release(p);
        return stamp;
      }
      if ((n & 4095) == 4095) {
        if (t0 == 0) t0 = now_ns();
        else silent_for_too_long(t0, "receive");
      }
    }
  }
};

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: iox-pingpong <copy|zc> <size> <iterations> <warmup> <cpuParent> <cpuChild>\n");
    return 1;
  }
  bool zc = strcmp(argv[1], "zc") == 0;
  size_t size = strtoull(argv[2], nullptr, 10);
  if (size < 8) size = 8;
  long iterations = atol(argv[3]);
  long warmup = atol(argv[4]);
  int cpu_parent = atoi(argv[5]);
  int cpu_child = atoi(argv[6]);
  long rounds = iterations + warmup;
  std::vector<uint8_t> priv(size, 0x5a);
  std::string group = "shmbus-bench-" + std::to_string(getpid());

  pid_t starter = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != starter) return 1;
  pid_t parent = getpid();
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    pin(cpu_child);
    std::string app = "iox-pong-" + std::to_string(getpid());
    iox::runtime::PoshRuntime::initRuntime(iox::RuntimeName_t(iox::cxx::TruncateToCapacity, app));
    {
      Side side(group, "pong", "ping");
      side.connect();
      for (long i = 0; i < rounds; i++) {
        uint64_t stamp = side.receive();
        side.send(priv.data(), size, zc, stamp);
      }
      side.receive();
    }
    /* Stay registered until the parent has taken the last pong; then leave through exit(), whose static
       destructors unregister this runtime from RouDi (_exit would leave RouDi a dead registration). */
    exit(0);
  }
  pin(cpu_parent);
  std::string app = "iox-ping-" + std::to_string(getpid());
  iox::runtime::PoshRuntime::initRuntime(iox::RuntimeName_t(iox::cxx::TruncateToCapacity, app));
  std::vector<uint64_t> samples(size_t(iterations > 0 ? iterations : 1));
  {
    Side side(group, "ping", "pong");
    side.connect();
    for (long i = 0; i < rounds; i++) {
      uint64_t t0 = now_ns();
      side.send(priv.data(), size, zc, t0);
      side.receive();
      uint64_t t1 = now_ns();
      if (i >= warmup) samples[size_t(i - warmup)] = t1 - t0;
    }
    side.send(priv.data(), size, zc, 0); /* lets the child go */
  }
  int status = 0;
  waitpid(child, &status, 0);
  for (long i = 0; i < iterations; i++) printf("%llu\n", (unsigned long long)samples[size_t(i)]);
  printf("done\n");
  return 0;
}
