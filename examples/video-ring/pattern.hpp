// What every producer of the video-ring example draws and every consumer checks (the Node side is pattern.ts,
// the Python side consumer.py: the same rules). A frame is a 1280x720 BGR Frame (PROTOCOL §9). The first 6 pixels
// of row 0 (18 bytes) are a stamp: u32 magic "VRNG", u32 producer, u32 frame number, u32 checksum, 2 zero bytes
// (little-endian). Every other pixel (x, y) of frame n of producer p is
//   B = x + 3n + 50p,  G = y + n + 100p,  R = x + y + 7n + 150p   (mod 256)
// and the checksum is the sum of the pixel bytes after the stamp, mod 2^32.
#ifndef VIDEO_RING_PATTERN_HPP
#define VIDEO_RING_PATTERN_HPP

#include <cstdint>
#include <cstring>

namespace video_ring {

constexpr std::uint32_t kWidth = 1280, kHeight = 720;
constexpr std::uint32_t kMagic = 0x474e5256u;  // "VRNG"
constexpr std::size_t kStampBytes = 18;

inline std::uint32_t load_u32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}
inline void store_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = std::uint8_t(v >> (8 * i));
}

// Draws frame n of producer p into packed rows (stride = width * 3); returns the checksum it stamped.
inline std::uint32_t draw(std::uint8_t* px, std::uint32_t p, std::uint32_t n) {
  std::uint32_t sum = 0;
  for (std::uint32_t y = 0; y < kHeight; y++) {
    std::uint8_t* row = px + std::size_t(y) * kWidth * 3;
    for (std::uint32_t x = 0; x < kWidth; x++) {
      row[3 * x] = std::uint8_t(x + 3 * n + 50 * p);
      row[3 * x + 1] = std::uint8_t(y + n + 100 * p);
      row[3 * x + 2] = std::uint8_t(x + y + 7 * n + 150 * p);
    }
  }
  std::memset(px, 0, kStampBytes);
  for (std::size_t i = kStampBytes; i < std::size_t(kWidth) * kHeight * 3; i++) sum += px[i];
  store_u32(px, kMagic);
  store_u32(px + 4, p);
  store_u32(px + 8, n);
  store_u32(px + 12, sum);
  return sum;
}

struct verdict {
  bool ok;             // stamp, every pixel and the checksum as the producer drew them
  std::uint32_t producer;
  std::uint32_t frame;
};

// Checks a frame's pixels (rows `stride` bytes apart) against the stamp it carries.
inline verdict verify(const std::uint8_t* px, std::size_t stride) {
  verdict v{false, load_u32(px + 4), load_u32(px + 8)};
  if (load_u32(px) != kMagic || v.producer > 1) return v;
  const std::uint32_t p = v.producer, n = v.frame;
  std::uint32_t sum = 0;
  bool same = true;
  for (std::uint32_t y = 0; y < kHeight; y++) {
    const std::uint8_t* row = px + std::size_t(y) * stride;
    for (std::uint32_t x = y == 0 ? kStampBytes / 3 : 0; x < kWidth; x++) {
      const std::uint8_t b = row[3 * x], g = row[3 * x + 1], r = row[3 * x + 2];
      same &= b == std::uint8_t(x + 3 * n + 50 * p) && g == std::uint8_t(y + n + 100 * p) &&
              r == std::uint8_t(x + y + 7 * n + 150 * p);
      sum += std::uint32_t(b) + g + r;
    }
  }
  v.ok = same && sum == load_u32(px + 12);
  return v;
}

}  // namespace video_ring

#endif
