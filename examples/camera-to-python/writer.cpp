// writer: the C++ camera of seed 000, on shmbus. It publishes 1280x720 BGR frames (the Frame codec of PROTOCOL
// §9) into a Topic, rendering each frame straight into the ring (a zero-copy loan): no intermediate buffer, no
// memcpy, and readers in any language see width, height, format and stride in the frame's own header.
//
//   writer <topic> <frames> <fps> <readers>
//
// Creates the topic, prints "waiting for <readers> readers", waits until they subscribed, removes the topic's
// name (the readers are in: nothing is left in /dev/shm even if a process is killed), publishes <frames> frames
// at <fps> (0 = as fast as it can), closes the topic (the readers' streams end) and prints one line
// "sums <s0> <s1> ...": the sum of the pixel bytes of each frame, for the orchestrator to compare with what each
// reader computed. Frame n: pixel (x, y) = B (x + 4n) & 255, G (y + 2n) & 255, R (x + y + n) & 255.
#include "shmbus.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: writer <topic> <frames> <fps> <readers>\n");
    return 2;
  }
  const std::string name = argv[1];
  const int frames = std::atoi(argv[2]);
  const double fps = std::atof(argv[3]);
  const auto readers = static_cast<std::uint32_t>(std::atoi(argv[4]));
  constexpr std::uint32_t W = 1280, H = 720;
  const std::size_t size = shmbus_frame_size(W, H, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT8, 0);
  try {
    // About 12 frames of ring: a reader that falls further behind skips to the oldest frame and counts the loss.
    auto topic = shmbus::Topic::create(name, 12 * (size + 64), static_cast<std::uint32_t>(size));
    std::printf("waiting for %u readers\n", readers);
    std::fflush(stdout);
    topic.wait_for_subscribers(readers, std::chrono::seconds(30));
    shmbus::Topic::unlink(name);

    std::vector<std::uint64_t> sums;
    const auto period = std::chrono::duration<double>(fps > 0 ? 1.0 / fps : 0.0);
    const auto start = std::chrono::steady_clock::now();
    for (int n = 0; n < frames; n++) {
      if (fps > 0) std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(period * n));
      auto loan = topic.loan(size);
      const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
      shmbus::mutable_bytes px = shmbus::write_frame_header(loan.bytes(), W, H, SHMBUS_FORMAT_BGR, SHMBUS_DTYPE_UINT8,
                                                           static_cast<std::uint64_t>(now_us.count()));
      auto* p = reinterpret_cast<std::uint8_t*>(px.data());
      std::uint64_t sum = 0;
      for (std::uint32_t y = 0; y < H; y++) {
        for (std::uint32_t x = 0; x < W; x++, p += 3) {
          p[0] = static_cast<std::uint8_t>(x + 4u * n);
          p[1] = static_cast<std::uint8_t>(y + 2u * n);
          p[2] = static_cast<std::uint8_t>(x + y + n);
          sum += p[0] + p[1] + p[2];
        }
      }
      loan.commit();
      sums.push_back(sum);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    topic.close();
    std::printf("published %d frames in %.2f s\nsums", frames, secs);
    for (std::uint64_t s : sums) std::printf(" %llu", static_cast<unsigned long long>(s));
    std::printf("\n");
    return 0;
  } catch (const shmbus::error& e) {
    std::fprintf(stderr, "writer: %s\n", e.what());
    shmbus_topic_unlink(name.c_str());  // a failed wait left the name: remove it (an error if already gone: fine)
    return 1;
  }
}
