// The image operations of the image-service example in plain C++ loops (imageops.py has them in numpy, client.ts
// in Node loops). All integer arithmetic, so every language computes the same pixels, bit for bit:
// - gray: (77 R + 150 G + 29 B + 128) >> 8 of each pixel (alpha ignored), a GRAY frame;
// - resize to w x h, nearest neighbour: output (x, y) is input ((x * W) / w, (y * H) / h), same format.
// Also the test pattern the clients send: sample (x, y, c) = (x (c + 1) + 2 y (3 - c) + 31 seed + 85 c) & 255.
// Images are uint8 rows `stride` bytes apart (a Frame's layout: shmbus::frame_view gives row(y) and stride()).
#pragma once
#include <cstddef>
#include <cstdint>

#include "shmbus.h"

namespace imageops {

// Where R, G and B sit in a pixel of a colour format (-1 for GRAY).
inline int red_index(int format) {
  switch (format) {
    case SHMBUS_FORMAT_RGB:
    case SHMBUS_FORMAT_RGBA: return 0;
    case SHMBUS_FORMAT_BGR:
    case SHMBUS_FORMAT_BGRA: return 2;
    default: return -1;
  }
}

inline int channels_of(int format) {
  return format == SHMBUS_FORMAT_GRAY ? 1 : (format == SHMBUS_FORMAT_RGBA || format == SHMBUS_FORMAT_BGRA) ? 4 : 3;
}

// in: width x height pixels of a colour format; out: width x height gray bytes, rows out_stride apart.
inline void gray(const std::uint8_t* in, std::size_t in_stride, std::uint32_t width, std::uint32_t height, int format,
                 std::uint8_t* out, std::size_t out_stride) {
  const int c = channels_of(format);
  const int r = red_index(format);
  const int b = 2 - r;
  for (std::uint32_t y = 0; y < height; y++) {
    const std::uint8_t* p = in + y * in_stride;
    std::uint8_t* q = out + y * out_stride;
    for (std::uint32_t x = 0; x < width; x++, p += c) q[x] = static_cast<std::uint8_t>((77u * p[r] + 150u * p[1] + 29u * p[b] + 128u) >> 8);
  }
}

// Nearest neighbour from width x height to out_width x out_height, `channels` bytes per pixel.
inline void resize(const std::uint8_t* in, std::size_t in_stride, std::uint32_t width, std::uint32_t height, int channels,
                   std::uint8_t* out, std::size_t out_stride, std::uint32_t out_width, std::uint32_t out_height) {
  for (std::uint32_t y = 0; y < out_height; y++) {
    const std::uint8_t* row = in + std::size_t(std::uint64_t(y) * height / out_height) * in_stride;
    std::uint8_t* q = out + y * out_stride;
    for (std::uint32_t x = 0; x < out_width; x++) {
      const std::uint8_t* p = row + std::size_t(std::uint64_t(x) * width / out_width) * channels;
      for (int k = 0; k < channels; k++) *q++ = p[k];
    }
  }
}

// The clients' test image, packed rows.
inline void pattern(std::uint8_t* out, std::uint32_t width, std::uint32_t height, int channels, std::uint32_t seed) {
  for (std::uint32_t y = 0; y < height; y++) {
    for (std::uint32_t x = 0; x < width; x++) {
      for (int c = 0; c < channels; c++) *out++ = static_cast<std::uint8_t>((x * (c + 1) + 2 * y * (3 - c) + 31 * seed + 85u * c) & 255u);
    }
  }
}

}  // namespace imageops
