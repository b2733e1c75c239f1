// The file-listing server of the file-stream example (seed 004), in C++. It creates the request Queue "<name>";
// a client (client.ts, client.py) creates its own reply Queue and sends one request record naming it. For each
// request the server walks the directory tree (not following symlinks) and streams one Parts record per entry:
//   { path: "dir/file.txt", type: "file" | "dir" | "symlink" | "other", size, mtime_ns, mode }   (int64 numbers)
// then a trailer { count, checksum } and the end of the stream (Queue end()). The reply queue applies
// backpressure: a slow client makes the server wait, nothing is dropped. checksum: the sum (mod 2^64) over the
// records of FNV-1a-64("path\0size\0mtime_ns\0mode"), as 16 hex digits: order-independent, so a client can compare
// it with its own listing. Each record is built in place in a loaned slot of the reply queue (no copy).
// Built by `make -C c examples`; run by hand: c/build/examples/file-stream/server [name] [directory] [listings]
// (listings: serve that many requests, then exit; 0 = until Ctrl-C or Ctrl-D).
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shmbus.hpp"

namespace {

namespace fs = std::filesystem;
constexpr std::uint32_t kRequestSlots = 16;
constexpr std::uint32_t kMaxRecord = 8192;  // a path of up to PATH_MAX (4096) bytes and the rest of its record

std::atomic<bool> stopping{false};
extern "C" void on_signal(int) { stopping.store(true); }

std::mutex out_lock;  // one line printed at a time (listings are streamed on several threads)
template <class... T>
void say(const T&... parts) {
  std::lock_guard<std::mutex> held(out_lock);
  (std::cout << ... << parts) << std::endl;
}

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

const char* type_of(mode_t mode) {
  return S_ISREG(mode) ? "file" : S_ISDIR(mode) ? "dir" : S_ISLNK(mode) ? "symlink" : "other";
}

// Streams the listing of `root` into the reply queue `reply` and ends that stream.
void stream_listing(const std::string& root, const std::string& reply, const std::string& client) {
  try {
    auto q = shmbus::Queue::open(reply);
    std::uint64_t count = 0, checksum = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::none, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      struct stat st;
      if (lstat(it->path().c_str(), &st) != 0) continue;  // gone meanwhile
      const std::string path = it->path().lexically_relative(root).generic_string();
      const std::int64_t mtime_ns = std::int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      // Zero-copy: the record is built in a loaned slot of the reply queue (a whole slot: records are small, a
      // path is at most 4096 bytes); loan() waits while the client is behind (backpressure).
      auto loan = q.loan(kMaxRecord, std::chrono::seconds(30));
      shmbus::parts_builder b(loan.bytes());
      b.add_string("path", path)
          .add_string("type", type_of(st.st_mode))
          .add_i64("size", st.st_size)
          .add_i64("mtime_ns", mtime_ns)
          .add_i64("mode", st.st_mode);
      loan.commit(b.finish());
      count++;
      checksum += fnv1a64(path + '\0' + std::to_string(st.st_size) + '\0' + std::to_string(mtime_ns) + '\0' + std::to_string(st.st_mode));
    }
    if (ec) throw std::runtime_error("cannot list " + root + ": " + ec.message());
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(checksum));
    auto loan = q.loan(kMaxRecord, std::chrono::seconds(30));
    shmbus::parts_builder b(loan.bytes());
    b.add_i64("count", std::int64_t(count)).add_string("checksum", hex);
    loan.commit(b.finish());
    q.end();  // the end of this client's stream: it drains what is left, then its loop ends
    say("server: sent ", count, " records and the trailer to ", client, ", then ended its stream");
  } catch (const std::exception& e) {
    say("server: the listing for ", client, " failed: ", e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "file-stream";
  const std::string root = argc > 2 ? argv[2] : ".";
  const long listings = argc > 3 ? std::stol(argv[3]) : 0;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // The end of input (Ctrl-D, or the orchestrator gone) stops the server too: it never outlives its starter.
  std::thread([] {
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    stopping.store(true);
  }).detach();
  try {
    auto requests = shmbus::Queue::create(name, kRequestSlots, kMaxRecord);
    say("server (cpp ", getpid(), "): serving listings of ", root, " on \"", name, "\"");
    std::vector<std::thread> streams;
    shmbus::queue_message m;
    long served = 0;
    while (!stopping.load() && (listings == 0 || served < listings)) {
      try {
        // The timeout only lets the loop see a signal; a request wakes it at once.
        if (!requests.receive_into(m, std::chrono::milliseconds(200))) break;
      } catch (const shmbus::error& e) {
        if (e.code() == SHMBUS_ETIMEDOUT) continue;
        throw;
      }
      std::string reply, client;
      try {
        shmbus::parts_view hello(m.view());  // { reply, client }
        reply = hello.at("reply").text();
        client = hello.at("client").text();
      } catch (const shmbus::error& e) {
        say("server: ignored a request that is not { reply, client }: ", e.what());
        continue;
      }
      say("server: ", client, " asks for the listing on \"", reply, "\"");
      streams.emplace_back(stream_listing, root, reply, client);
      served++;
    }
    for (auto& t : streams) t.join();
    requests.end();
    requests.close();
    shmbus::Queue::unlink(name);
    say("server: served ", served, " listings");
  } catch (const std::exception& e) {
    say("server: ", e.what());
    return 1;
  }
  return 0;
}
