// consumer (C++): one of the video-ring viewers (seed 002). Subscribes from the oldest frame and checks every frame
// it reads (pattern.hpp: stamp, every pixel, checksum; frame numbers going up per producer). Fast (no delay): reads
// in place (a view into the ring, no copy) and checks shmbus_msg_valid() afterwards: a frame lapped by the
// producers while it was checked is counted as "overwritten" and its verdict dropped. Slow (delay-ms > 0): copies
// each frame out (shmbus_sub_read_copy: never torn), then analyses it: at least delay-ms, and never done before
// the producers are more than a ring (ring-frames) ahead of it, so that it loses frames on any machine however
// loaded; the ring overwrites what it has not read and shmbus_sub_lost() counts exactly what it missed. Ends when
// no producer is left; prints "ready" once subscribed and "result {json}" last.
//   consumer <topic> [delay-ms ring-frames]
#include "pattern.hpp"
#include "shmbus.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

// The deliberately slow analysis of one frame: delay_ms, then on until the producers are more than a ring ahead
// (or gone), so that the ring overwrites frames this consumer has not read.
static void slow_analysis(shmbus_sub* sub, int delay_ms, std::uint64_t ring_frames) {
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  for (;;) {
    shmbus_sub_stats_t st;
    std::uint32_t producers = 0;
    if (shmbus_sub_stats(sub, &st) != SHMBUS_OK || shmbus_sub_publishers(sub, &producers) != SHMBUS_OK) return;
    if (st.lag > ring_frames || producers == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: consumer <topic> [delay-ms]\n");
    return 2;
  }
  using namespace video_ring;
  const int delay_ms = argc > 2 ? std::atoi(argv[2]) : 0;
  const std::uint64_t ring_frames = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 16;
  const bool copy = delay_ms > 0;
  try {
    auto sub = shmbus::Subscriber::subscribe(argv[1], shmbus::from::oldest);
    std::printf("ready\n");
    std::fflush(stdout);
    std::vector<std::uint8_t> buf(copy ? shmbus_frame_size(kWidth, kHeight, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT8, 0) : 0);
    std::uint64_t read = 0, overwritten = 0, bad = 0, first = 0, last = 0, per[2] = {0, 0};
    long long next[2] = {0, 0};  // the next frame number each producer may send (they only go up)
    std::chrono::steady_clock::time_point t0, t1;
    for (;;) {
      shmbus_msg m;
      const int rc = copy ? shmbus_sub_read_copy(sub.handle(), buf.data(), buf.size(), &m, SHMBUS_FOREVER)
                          : shmbus_sub_read(sub.handle(), &m, SHMBUS_FOREVER);
      if (rc == SHMBUS_EEND) break;  // no producer left and nothing unread
      shmbus::check(rc);
      shmbus_frame f;
      verdict v{false, 0, 0};
      if (shmbus_frame_decode(m.data, m.size, &f) == SHMBUS_OK && f.width == kWidth && f.height == kHeight &&
          f.format == SHMBUS_FORMAT_BGR && f.dtype == SHMBUS_DTYPE_UINT8) {
        v = verify(static_cast<const std::uint8_t*>(f.data), f.stride);
      }
      if (!copy && shmbus_msg_valid(sub.handle(), &m) != 1) {  // lapped while we looked: not about this frame
        overwritten++;
        continue;
      }
      const auto now = std::chrono::steady_clock::now();
      if (read == 0) {
        t0 = now;
        first = m.seq;
      }
      t1 = now;
      last = m.seq;
      read++;
      if (v.ok && static_cast<long long>(v.frame) >= next[v.producer]) {
        per[v.producer]++;
        next[v.producer] = static_cast<long long>(v.frame) + 1;
      } else {
        bad++;
      }
      if (copy) slow_analysis(sub.handle(), delay_ms, ring_frames);
    }
    const double secs = std::chrono::duration<double>(t1 - t0).count();
    std::printf("result {\"consumer\":\"cpp\",\"read\":%llu,\"overwritten\":%llu,\"bad\":%llu,\"lost\":%llu,"
                "\"first\":%llu,\"last\":%llu,\"perProducer\":[%llu,%llu],\"seconds\":%.4f}\n",
                (unsigned long long)read, (unsigned long long)overwritten, (unsigned long long)bad,
                (unsigned long long)sub.lost(), (unsigned long long)first, (unsigned long long)last,
                (unsigned long long)per[0], (unsigned long long)per[1], secs);
    return 0;
  } catch (const shmbus::error& e) {
    std::fprintf(stderr, "consumer (C++): %s\n", e.what());
    return 1;
  }
}
