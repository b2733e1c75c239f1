// An image-service client in C++ (client.ts and client.py are the same client in Node and Python). It sends test
// images (RGBA) with parameters as Parts records over Rpc, until "stop" (or the end of input) on stdin, cycling
// through gray, resize to half, resize to an odd size, and one unknown op (which the service refuses with status
// 1). Every answer is checked pixel by pixel against the same operation computed here (imageops.hpp). Zero-copy
// Rpc both ways: the request record is built in a loaned request slot, the answer read in its response slot. When the
// service is gone (killed, restarting) a request fails at once with SHMBUS_ENO_SERVER (or within the liveness
// interval when the service dies holding it); the client then retries the same request until the service is back.
// Built by `make -C c examples`; run by hand (with a service running):
//   c/build/examples/image-service/client [name] [id]
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "imageops.hpp"
#include "shmbus.hpp"

namespace {

constexpr std::uint32_t kWidth = 512, kHeight = 384;
constexpr int kFormat = SHMBUS_FORMAT_RGBA, kChannels = 4;
constexpr auto kRetryFor = std::chrono::seconds(30);  // how long a request may wait for the service to come back

struct op {
  const char* name;
  const char* json;
  std::uint32_t width, height;  // resize: the size asked for
};
const op kOps[] = {
    {"gray", R"({"op":"gray"})", 0, 0},
    {"resize", R"({"op":"resize","width":256,"height":192})", 256, 192},
    {"resize", R"({"op":"resize","width":301,"height":97})", 301, 97},
    {"sharpen", R"({"op":"sharpen"})", 0, 0},
};

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "image-service";
  const std::string who = (argc > 2 ? std::string(argv[2]) : "cpp-" + std::to_string(getpid())) + " (cpp)";
  std::atomic<bool> stop{false};
  std::thread([&stop] {
    std::string line;
    while (std::getline(std::cin, line) && line != "stop") {
    }
    stop.store(true);
  }).detach();
  try {
    shmbus::rpc_connect_options co;
    co.max_message_size = 1u << 20;
    co.slots = 2;
    auto client = shmbus::RpcClient::connect(name, co);
    std::cout << who << ": sending " << kWidth << "x" << kHeight << " RGBA images to \"" << name << "\"" << std::endl;

    std::vector<std::uint8_t> want;
    std::map<std::string, int> servers;
    unsigned long checked = 0, refused = 0, retries = 0, bad_samples = 0, i = 0;
    const std::size_t frame_size = shmbus_frame_size(kWidth, kHeight, kFormat, SHMBUS_DTYPE_UINT8, 0);
    for (; !stop.load(); i++) {
      const op& o = kOps[i % 4];
      auto parts_of = [&](shmbus::parts_builder& b) {
        b.add_json("params", o.json);
        return b.reserve("image", frame_size);
      };
      shmbus::parts_builder measure;
      parts_of(measure);
      const std::size_t size = measure.finish();

      // What the service must answer, computed here (from the request's pixels).
      const bool gray = o.width == 0;
      const std::uint32_t w = gray ? kWidth : o.width, h = gray ? kHeight : o.height;
      const int want_format = gray ? SHMBUS_FORMAT_GRAY : kFormat;
      const std::size_t row = std::size_t(w) * imageops::channels_of(want_format);
      auto expect = [&](const std::uint8_t* img) {
        want.resize(row * h);
        if (gray) imageops::gray(img, std::size_t(kWidth) * kChannels, kWidth, kHeight, kFormat, want.data(), row);
        else imageops::resize(img, std::size_t(kWidth) * kChannels, kWidth, kHeight, kChannels, want.data(), row, w, h);
      };
      const auto give_up = std::chrono::steady_clock::now() + kRetryFor;
      bool outage = false;
      std::optional<shmbus::RpcClient::View> res;
      for (;;) {
        try {
          // Zero-copy both ways: the record is built in a loaned request slot (the image rendered into its bytes
          // part, and what the answer must be computed from it there), and the answer is read in place in this
          // client's response slot (a View).
          auto loan = client.loan(size, std::chrono::seconds(10));
          shmbus::parts_builder b(loan.bytes());
          auto* img = reinterpret_cast<std::uint8_t*>(shmbus::write_frame_header(parts_of(b), kWidth, kHeight, kFormat).data());
          imageops::pattern(img, kWidth, kHeight, kChannels, std::uint32_t(i));
          b.finish();
          if (&o != &kOps[3]) expect(img);
          res.emplace(loan.commit(size, std::chrono::seconds(10)));
          break;
        } catch (const shmbus::error& e) {
          if (e.code() != SHMBUS_ENO_SERVER || std::chrono::steady_clock::now() > give_up) throw;
          if (!outage) std::cout << who << ": #" << i << " ERR_NO_SERVER (the service is down), retrying" << std::endl;
          outage = true;
          retries++;
          // A retry policy, not synchronisation: the service may take a while to come back.
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
      shmbus::parts_view parts(res->bytes());
      const std::int64_t status = parts.at("status").i64();
      const std::string server(parts.at("server").text());
      servers[server]++;
      if (outage) std::cout << who << ": #" << i << " the service is back (" << server << ")" << std::endl;
      if (&o == &kOps[3]) {
        if (status != 1) throw std::runtime_error("#" + std::to_string(i) + " sharpen should have been refused");
        refused++;
        std::cout << who << ": #" << i << " sharpen refused by " << server << ": " << parts.at("message").text() << std::endl;
        res->release();
        continue;
      }
      if (status != 0) throw std::runtime_error("#" + std::to_string(i) + " failed: " + std::string(parts.at("message").text()));
      shmbus::frame_view got(parts.at("image").data());  // a view into the response: no copy
      if (got.width() != w || got.height() != h || got.format() != want_format) {
        throw std::runtime_error("#" + std::to_string(i) + " got a frame of the wrong shape");
      }
      unsigned long wrong = 0;
      for (std::uint32_t y = 0; y < h; y++) {
        const auto* g = static_cast<const std::uint8_t*>(got.row(y));
        for (std::size_t k = 0; k < row; k++) wrong += g[k] != want[y * row + k];
      }
      res->release();  // the response slot goes back (the next request would release it too)
      bad_samples += wrong;
      checked++;
      std::cout << who << ": #" << i << " " << o.name << " -> " << w << "x" << h << (gray ? " GRAY" : " RGBA") << " by " << server
                << ": " << (wrong == 0 ? std::string("pixels match") : std::to_string(wrong) + " samples differ") << std::endl;
    }
    std::ostringstream by;
    for (const auto& [s, n] : servers) by << (by.tellp() > 0 ? ", " : "") << s << ": " << n;
    std::cout << who << ": done: " << i << " answered (" << by.str() << "), " << checked << " images checked pixel by pixel, "
              << bad_samples << " samples differ, " << refused << " refused with status 1, " << retries
              << " retries after ERR_NO_SERVER" << std::endl;
  } catch (const std::exception& e) {
    std::cerr << who << ": " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
