// producer (C++): one of the video-ring cameras (seed 002). Opens the topic another process created, prints
// "open", and publishes <frames> 1280x720 BGR frames at <fps> (0 = as fast as it can), each rendered straight into
// the ring (a loan; the Frame header by shmbus::write_frame_header, the pixels and stamp by pattern.hpp). Many
// producers share the ring: they take turns through its robust lock (a producer killed mid-frame is taken over by
// the next one; its half frame is never seen). Prints "published <frames> frames in <s> s" and closes.
//   producer <topic> <producer-id> <frames> <fps>
#include "pattern.hpp"
#include "shmbus.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: producer <topic> <producer-id> <frames> <fps>\n");
    return 2;
  }
  using namespace video_ring;
  const std::string name = argv[1];
  const auto id = static_cast<std::uint32_t>(std::atoi(argv[2]));
  const int frames = std::atoi(argv[3]);
  const double fps = std::atof(argv[4]);
  const std::size_t size = shmbus_frame_size(kWidth, kHeight, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT8, 0);
  try {
    auto topic = shmbus::Topic::open(name);
    std::printf("open\n");
    std::fflush(stdout);
    const auto period = std::chrono::duration<double>(fps > 0 ? 1.0 / fps : 0.0);
    const auto start = std::chrono::steady_clock::now();
    for (int n = 0; n < frames; n++) {
      if (fps > 0) std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(period * n));
      auto loan = topic.loan(size);
      const auto now = std::chrono::system_clock::now().time_since_epoch();
      auto px = shmbus::write_frame_header(loan.bytes(), kWidth, kHeight, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT8,
                                           std::uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(now).count()));
      draw(reinterpret_cast<std::uint8_t*>(px.data()), id, std::uint32_t(n));
      loan.commit();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    topic.close();
    std::printf("published %d frames in %.2f s\n", frames, secs);
    return 0;
  } catch (const shmbus::error& e) {
    std::fprintf(stderr, "producer %u: %s\n", id, e.what());
    return 1;
  }
}
