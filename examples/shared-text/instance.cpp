// One instance of the shared text, in C++ (instance.ts and instance.py are the same program in Node and Python).
// It opens the text's Mailbox (or creates it when it is the first), shows the current text, then:
// - every line typed on stdin becomes the new text (written for everyone);
// - whenever another instance, in any language, writes, it shows the new text at once: wait_changed() sleeps on
//   a futex until the version moves (no polling).
// End of input (Ctrl-D) ends it. Built by `make -C c examples`; run by hand:
//   c/build/examples/shared-text/instance [name] [id]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>

#include "shmbus.hpp"

namespace {

constexpr std::size_t kMaxText = 4096;

// The text as JSON quotes it (as the Node and Python instances print it: the same line for the same text).
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "shared-text";
  const std::string id = (argc > 2 ? std::string(argv[2]) : "cpp-" + std::to_string(getpid())) + " (cpp)";
  try {
    // The first instance creates the mailbox; the others open it (a racing pair: the loser opens).
    bool created = true;
    auto mb = [&] {
      try {
        return shmbus::Mailbox::create(name, kMaxText);
      } catch (const shmbus::error& e) {
        if (e.code() != SHMBUS_ESHM_EXISTS) throw;
        created = false;
        return shmbus::Mailbox::open(name);
      }
    }();
    auto first = mb.read();
    std::cout << id << (created ? " created \"" : " opened \"") << name << "\": version " << first.version << ": "
              << quote(first.text()) << std::endl;

    std::mutex lock;                 // one line printed at a time; a write and its version recorded together
    std::uint64_t written = 0;       // the version this instance wrote last: its own change is not news to it
    std::atomic<bool> stop{false};
    std::atomic<bool> failed{false};
    std::thread watcher([&] {
      std::uint64_t seen = first.version;
      try {
        while (!stop.load()) {
          try {
            // Sleeps on the futex; the timeout only lets the thread see `stop`.
            mb.wait_changed(seen, std::chrono::milliseconds(200));
          } catch (const shmbus::error& e) {
            if (e.code() == SHMBUS_ETIMEDOUT) continue;
            throw;
          }
          std::lock_guard<std::mutex> held(lock);
          auto now = mb.read();  // the newest text (edits faster than we look: we show the latest one)
          seen = now.version;
          if (now.version != written) std::cout << id << " sees version " << now.version << ": " << quote(now.text()) << std::endl;
        }
      } catch (const shmbus::error& e) {
        std::cerr << id << ": " << e.what() << std::endl;
        failed.store(true);
      }
    });

    std::string line;
    while (std::getline(std::cin, line)) {
      std::lock_guard<std::mutex> held(lock);
      if (line.size() > kMaxText) {
        std::cout << id << ": not written, the text is longer than " << kMaxText << " bytes" << std::endl;
        continue;
      }
      written = mb.write(shmbus::bytes(std::string_view(line)));
      std::cout << id << " wrote version " << written << ": " << quote(line) << std::endl;
    }
    stop.store(true);
    watcher.join();
    if (failed.load()) return 1;
    std::cout << id << ": bye" << std::endl;
  } catch (const shmbus::error& e) {
    std::cerr << id << ": " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
