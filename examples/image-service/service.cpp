// The image service in C++ (service.py is the same service in Python): an Rpc server whose requests are Parts
// records { image: a Frame, params: { "op": "gray" } | { "op": "resize", "width": w, "height": h } } and whose
// answers are { status, message, server, image? } (status 0 = done, 1 = bad request). The request's frame is read in
// place in its request slot (zero_copy serving; shmbus::frame_view over the part) and the answer's frame is rendered
// straight into the asking client's response slot (reply.loan, parts_builder::reserve, write_frame_header), with
// plain loops (imageops.hpp): no copy of either image.
// Built by `make -C c examples`; run by hand: c/build/examples/image-service/service [name]   (Ctrl-C or Ctrl-D stops it)
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>

#include "imageops.hpp"
#include "shmbus.hpp"

namespace {

// A request or an answer is one frame of up to 1 MiB minus the record's few hundred bytes; 4 requests in the ring.
constexpr std::uint32_t kMaxMessage = 1u << 20;
constexpr std::uint32_t kSlots = 4;

std::atomic<shmbus::RpcServer*> running{nullptr};
extern "C" void on_signal(int) {
  // Async-signal-safe (a lock-free atomic load; stop() only sets a flag): the workers stop after the request in hand.
  if (shmbus::RpcServer* s = running.load()) s->stop();
}

// The value of "key" in a JSON object written compactly by Node or Python (`{"op":"resize","width":301}`): enough
// for the three keys this service takes, without a JSON library. A string value comes back without its quotes.
std::optional<std::string> json_field(std::string_view json, std::string_view key) {
  const std::string quoted = "\"" + std::string(key) + "\":";
  const std::size_t at = json.find(quoted);
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t i = at + quoted.size();
  if (i < json.size() && json[i] == '"') {
    const std::size_t end = json.find('"', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(json.substr(i + 1, end - i - 1));
  }
  std::size_t end = i;
  while (end < json.size() && json[end] >= '0' && json[end] <= '9') end++;
  if (end == i) return std::nullopt;
  return std::string(json.substr(i, end - i));
}

// The answer, written straight into the asking client's response slot (reply.loan: zero-copy): the record is
// measured first (a parts_builder without a buffer), then built in the loan.
struct answer {
  shmbus::RpcReply& reply;
  const std::string& who;
  // Status 1 (bad request) with a message.
  void refuse(const std::string& message) {
    auto parts = [&](shmbus::parts_builder& b) { b.add_i64("status", 1).add_string("message", message).add_string("server", who); };
    shmbus::parts_builder measure;
    parts(measure);
    shmbus::parts_builder b(reply.loan(measure.finish()));
    parts(b);
    b.finish();
  }
  // Status 0 with a width x height frame of `format`, whose pixel rows `render(rows, stride)` fills in place.
  template <class Render>
  void image(std::uint32_t width, std::uint32_t height, int format, Render render) {
    const std::size_t frame = shmbus_frame_size(width, height, format, SHMBUS_DTYPE_UINT8, 0);
    auto parts = [&](shmbus::parts_builder& b) {
      b.add_i64("status", 0).add_string("message", "ok").add_string("server", who);
      return b.reserve("image", frame);
    };
    shmbus::parts_builder measure;
    parts(measure);
    shmbus::parts_builder b(reply.loan(measure.finish()));
    shmbus::mutable_bytes rows = shmbus::write_frame_header(parts(b), width, height, format);
    render(reinterpret_cast<std::uint8_t*>(rows.data()), std::size_t(width) * imageops::channels_of(format));
    b.finish();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "image-service";
  const std::string who = "cpp-" + std::to_string(getpid());
  try {
    shmbus::rpc_serve_options o;
    o.workers = 2;
    o.max_message_size = kMaxMessage;
    o.slots = kSlots;
    o.zero_copy = true;  // req.data() is the request's slot, held until the answer is sent
    auto server = shmbus::RpcServer::serve(
        name,
        [&who](const shmbus::RpcRequest& req, shmbus::RpcReply& reply) {
          answer out{reply, who};
          // req.data() is the request's slot (zero_copy): the record and its frame are read in place. A corrupt
          // record or frame throws shmbus::error: the client gets ERR_REMOTE with its message.
          shmbus::parts_view parts(req.data());
          shmbus::frame_view in(parts.at("image").data());
          const std::string_view params = parts.at("params").text();
          const std::string op = json_field(params, "op").value_or("");
          const auto* pixels = static_cast<const std::uint8_t*>(in.row(0));
          if (op == "gray") {
            if (imageops::red_index(in.format()) < 0 || in.dtype() != SHMBUS_DTYPE_UINT8) {
              return out.refuse("gray needs a uint8 colour image");
            }
            return out.image(in.width(), in.height(), SHMBUS_FORMAT_GRAY, [&](std::uint8_t* rows, std::size_t stride) {
              imageops::gray(pixels, in.stride(), in.width(), in.height(), in.format(), rows, stride);
            });
          }
          if (op == "resize") {
            const unsigned long w = std::stoul(json_field(params, "width").value_or("0"));
            const unsigned long h = std::stoul(json_field(params, "height").value_or("0"));
            if (in.dtype() != SHMBUS_DTYPE_UINT8 || w < 1 || h < 1 || w * h * in.channels() > kMaxMessage - 4096) {
              return out.refuse("resize needs a width and height >= 1 whose frame fits the answer");
            }
            return out.image(std::uint32_t(w), std::uint32_t(h), in.format(), [&](std::uint8_t* rows, std::size_t stride) {
              imageops::resize(pixels, in.stride(), in.width(), in.height(), int(in.channels()), rows, stride, std::uint32_t(w), std::uint32_t(h));
            });
          }
          out.refuse("unknown op '" + op + "' (gray, resize)");
        },
        o);
    running.store(&server);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    // The end of input (Ctrl-D, or the orchestrator gone) stops the service too: it never outlives its starter.
    std::thread([] {
      std::string line;
      while (std::getline(std::cin, line)) {
      }
      std::raise(SIGTERM);  // the same path as a signal
    }).detach();
    std::cout << "service (" << who << "): serving \"" << name << "\" with plain loops, 2 workers" << std::endl;
    server.run();  // this thread and one more, until a signal stops them
    const auto st = server.stats();
    running.store(nullptr);
    server.close();
    std::cout << "service (" << who << "): stopped after " << st.served << " requests" << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "service (" << who << "): " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
