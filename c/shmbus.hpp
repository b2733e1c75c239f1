/*
 * shmbus.hpp: the C++17 layer over shmbus.h (RAII handles, exceptions carrying the code, spans, lock guards).
 * Sections are owned by different engineers: write only between your own markers.
 */
#ifndef SHMBUS_HPP
#define SHMBUS_HPP

#include "shmbus.h"

/* ==== SECTION: CORE ==== */

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace shmbus {

/* Every failed call throws shmbus::error: code() is the SHMBUS_E* value, node_code() the Node code string
   ("ERR_TIMEOUT"), what() the message of shmbus_last_error_message() at the time of the failure. */
class error : public std::runtime_error {
 public:
  error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }
  const char* node_code() const noexcept { return shmbus_error_code(code_); }

 private:
  int code_;
};

/* Throws shmbus::error for a negative status; returns it otherwise. */
inline int check(int rc) {
  if (rc < 0) {
    const char* msg = shmbus_last_error_message();
    throw error(rc, std::string(shmbus_error_code(rc)) + ": " + (msg != nullptr && *msg != '\0' ? msg : shmbus_strerror(rc)));
  }
  return rc;
}

/* Timeouts: std::chrono durations, shmbus::forever to wait without one. */
constexpr std::chrono::milliseconds forever{-1};

namespace detail {
inline int64_t ms(std::chrono::milliseconds d) { return d.count() < 0 ? SHMBUS_FOREVER : static_cast<int64_t>(d.count()); }

/* A move-only owner of a C handle, closed by `Close` on destruction. */
template <class T, void (*Close)(T*)>
class handle {
 public:
  handle() noexcept = default;
  explicit handle(T* p) noexcept : p_(p) {}
  handle(handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  handle& operator=(handle&& o) noexcept {
    if (this != &o) reset(std::exchange(o.p_, nullptr));
    return *this;
  }
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  ~handle() { reset(nullptr); }
  T* get() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  void reset(T* p) noexcept {
    if (p_ != nullptr) Close(p_);
    p_ = p;
  }

 private:
  T* p_ = nullptr;
};
}  // namespace detail

/* Options of the named sync primitives (0 = the default of each field, as in shmbus_sync_options). */
struct sync_options {
  unsigned mode = 0;                            /* create: permission bits within 0666 (0 = 0600) */
  std::chrono::milliseconds open_timeout{0};    /* open: wait for a creator still initialising (0 = 1000 ms) */
  std::chrono::milliseconds liveness{0};        /* liveness check interval while waiting (0 = 50 ms) */
  std::chrono::microseconds spin{0};            /* spin before sleeping (0 = 10 us, negative = none) */
  shmbus_sync_options c() const {
    shmbus_sync_options o{};
    o.struct_size = sizeof o;
    o.mode = mode;
    o.open_timeout_ms = open_timeout.count() < 0 ? -1 : static_cast<int64_t>(open_timeout.count());
    o.liveness_ms = static_cast<uint32_t>(liveness.count());
    o.spin_us = static_cast<int32_t>(spin.count());
    return o;
  }
};

/* What a lock call reports: the previous holder died holding it and this caller took it over. */
struct lock_result {
  bool recovered = false;
};

/* A mapped segment (RAII: unmapped on destruction; never unlinked). */
class Segment {
 public:
  Segment() = default;
  explicit Segment(shmbus_segment* s) noexcept : h_(s) {}
  static Segment create(const std::string& name, size_t size, unsigned mode = 0) {
    shmbus_segment_create_options o{};
    o.struct_size = sizeof o;
    o.size = size;
    o.mode = mode;
    shmbus_segment* s = nullptr;
    check(shmbus_segment_create_ex(name.c_str(), &o, &s));
    return Segment(s);
  }
  static Segment open(const std::string& name) {
    shmbus_segment* s = nullptr;
    check(shmbus_segment_open(name.c_str(), &s));
    return Segment(s);
  }
  static Segment open_raw(const std::string& posix_name, size_t size = 0, bool read_only = false) {
    shmbus_segment* s = nullptr;
    check(shmbus_segment_open_raw(posix_name.c_str(), size, read_only ? 1 : 0, &s));
    return Segment(s);
  }
  static Segment map_file(const std::string& path, uint64_t offset = 0, uint64_t length = SHMBUS_TO_END,
                          bool writable = false) {
    shmbus_segment* s = nullptr;
    check(shmbus_segment_map_file(path.c_str(), offset, length, writable ? 1 : 0, &s));
    return Segment(s);
  }
  static void unlink(const std::string& name) { check(shmbus_segment_unlink(name.c_str())); }

  void* data() const { return shmbus_segment_data(get_checked()); }
  std::byte* bytes() const { return static_cast<std::byte*>(data()); }
  size_t size() const { return shmbus_segment_size(get_checked()); }
  std::string name() const { return shmbus_segment_name(get_checked()); }
  int kind() const { return shmbus_segment_kind(get_checked()); }
  void flush() const { check(shmbus_segment_flush(get_checked())); }
  void close() noexcept { h_.reset(nullptr); }
  shmbus_segment* get() const noexcept { return h_.get(); }
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }

 private:
  shmbus_segment* get_checked() const {
    if (!h_) throw error(SHMBUS_ECLOSED, "ERR_CLOSED: the segment is closed");
    return h_.get();
  }
  detail::handle<shmbus_segment, shmbus_segment_close> h_;
};

namespace detail {
/* The named / embedded factories every sync primitive shares. */
template <class Self, class T, void (*Close)(T*)>
class sync_base {
 public:
  T* get() const noexcept { return h_.get(); }
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  void close() noexcept { h_.reset(nullptr); }

 protected:
  sync_base() = default;
  explicit sync_base(T* p) noexcept : h_(p) {}
  T* live() const {
    if (!h_) throw error(SHMBUS_ECLOSED, "ERR_CLOSED: the handle is closed");
    return h_.get();
  }
  /* p by reference: read only after the call that fills it (argument evaluation order is unspecified). */
  static Self made(int rc, T*& p) {
    check(rc);
    Self s;
    s.h_.reset(p);
    return s;
  }

 private:
  handle<T, Close> h_;
};
}  // namespace detail

/* Robust process-shared mutex. lock()/unlock()/try_lock() make it usable with std::lock_guard,
   std::unique_lock and std::scoped_lock; shmbus::guard tells whether a dead holder was recovered. */
class Mutex : public detail::sync_base<Mutex, shmbus_mutex, shmbus_mutex_close> {
 public:
  Mutex() = default;
  static Mutex create(const std::string& name, const sync_options& o = {}) {
    shmbus_mutex* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_mutex_create_ex(name.c_str(), &c, &p), p);
  }
  static Mutex open(const std::string& name, const sync_options& o = {}) {
    shmbus_mutex* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_mutex_open_ex(name.c_str(), &c, &p), p);
  }
  /* The segment must outlive the Mutex. */
  static Mutex embed(const Segment& seg, size_t byte_offset, const sync_options& o = {}) {
    shmbus_mutex* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_mutex_embed(seg.get(), byte_offset, &c, &p), p);
  }
  static void unlink(const std::string& name) { check(shmbus_mutex_unlink(name.c_str())); }

  lock_result lock(std::chrono::milliseconds timeout) {
    int r = 0;
    check(shmbus_mutex_lock(live(), detail::ms(timeout), &r));
    return lock_result{r != 0};
  }
  void lock() { lock(forever); }
  /* std::try_lock semantics: true when taken (try_lock_result also tells `recovered`). */
  bool try_lock() { return try_lock_result().has_value(); }
  std::optional<lock_result> try_lock_result() {
    int r = 0;
    const int rc = shmbus_mutex_try_lock(live(), &r);
    if (rc == SHMBUS_EAGAIN) return std::nullopt;
    check(rc);
    return lock_result{r != 0};
  }
  void unlock() { check(shmbus_mutex_unlock(live())); }
  bool is_locked_by_me() const { return shmbus_mutex_is_locked_by_me(live()) == 1; }
};

/* Robust reader-writer lock: lock()/unlock()/try_lock() are the write side, lock_shared()/unlock_shared()/
   try_lock_shared() the read side (std::unique_lock and std::shared_lock work over it). */
class RwLock : public detail::sync_base<RwLock, shmbus_rwlock, shmbus_rwlock_close> {
 public:
  RwLock() = default;
  static RwLock create(const std::string& name, const sync_options& o = {}) {
    shmbus_rwlock* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_rwlock_create_ex(name.c_str(), &c, &p), p);
  }
  static RwLock open(const std::string& name, const sync_options& o = {}) {
    shmbus_rwlock* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_rwlock_open_ex(name.c_str(), &c, &p), p);
  }
  static RwLock embed(const Segment& seg, size_t byte_offset, const sync_options& o = {}) {
    shmbus_rwlock* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_rwlock_embed(seg.get(), byte_offset, &c, &p), p);
  }
  static void unlink(const std::string& name) { check(shmbus_rwlock_unlink(name.c_str())); }

  lock_result read_lock(std::chrono::milliseconds timeout = forever) {
    int r = 0;
    check(shmbus_rwlock_read_lock(live(), detail::ms(timeout), &r));
    return lock_result{r != 0};
  }
  lock_result write_lock(std::chrono::milliseconds timeout = forever) {
    int r = 0;
    check(shmbus_rwlock_write_lock(live(), detail::ms(timeout), &r));
    return lock_result{r != 0};
  }
  std::optional<lock_result> try_read_lock() { return attempt(shmbus_rwlock_try_read_lock); }
  std::optional<lock_result> try_write_lock() { return attempt(shmbus_rwlock_try_write_lock); }
  void read_unlock() { check(shmbus_rwlock_read_unlock(live())); }
  void write_unlock() { check(shmbus_rwlock_write_unlock(live())); }

  void lock() { write_lock(); }
  bool try_lock() { return try_write_lock().has_value(); }
  void unlock() { write_unlock(); }
  void lock_shared() { read_lock(); }
  bool try_lock_shared() { return try_read_lock().has_value(); }
  void unlock_shared() { read_unlock(); }

 private:
  std::optional<lock_result> attempt(int (*fn)(shmbus_rwlock*, int*)) {
    int r = 0;
    const int rc = fn(live(), &r);
    if (rc == SHMBUS_EAGAIN) return std::nullopt;
    check(rc);
    return lock_result{r != 0};
  }
};

/* Robust counting semaphore. lock()/unlock() take and return one unit, so shmbus::guard holds one unit. */
class Semaphore : public detail::sync_base<Semaphore, shmbus_semaphore, shmbus_semaphore_close> {
 public:
  Semaphore() = default;
  static Semaphore create(const std::string& name, uint32_t initial, bool track_holders = true,
                          const sync_options& o = {}) {
    shmbus_semaphore* p = nullptr;
    const shmbus_sync_options c = o.c();
    const unsigned flags = track_holders ? 0u : SHMBUS_SEMAPHORE_UNTRACKED;
    return made(shmbus_semaphore_create_ex(name.c_str(), initial, flags, &c, &p), p);
  }
  static Semaphore open(const std::string& name, const sync_options& o = {}) {
    shmbus_semaphore* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_semaphore_open_ex(name.c_str(), &c, &p), p);
  }
  /* Lay the semaphore out first with shmbus_semaphore_init (e.g. in the segment's init callback). */
  static Semaphore embed(const Segment& seg, size_t byte_offset, const sync_options& o = {}) {
    shmbus_semaphore* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_semaphore_embed(seg.get(), byte_offset, &c, &p), p);
  }
  static void unlink(const std::string& name) { check(shmbus_semaphore_unlink(name.c_str())); }

  lock_result acquire(std::chrono::milliseconds timeout = forever) {
    int r = 0;
    check(shmbus_semaphore_acquire(live(), detail::ms(timeout), &r));
    return lock_result{r != 0};
  }
  std::optional<lock_result> try_acquire() {
    int r = 0;
    const int rc = shmbus_semaphore_try_acquire(live(), &r);
    if (rc == SHMBUS_EAGAIN) return std::nullopt;
    check(rc);
    return lock_result{r != 0};
  }
  void release(uint32_t n = 1) { check(shmbus_semaphore_release(live(), n)); }
  uint32_t value() const { return static_cast<uint32_t>(check(shmbus_semaphore_value(live()))); }

  lock_result lock(std::chrono::milliseconds timeout) { return acquire(timeout); }
  void lock() { acquire(); }
  bool try_lock() { return try_acquire().has_value(); }
  void unlock() { release(1); }
};

/* Process-shared event, manual- or auto-reset. */
class Event : public detail::sync_base<Event, shmbus_event, shmbus_event_close> {
 public:
  Event() = default;
  static Event create(const std::string& name, bool manual_reset = false, bool initially_set = false,
                      const sync_options& o = {}) {
    shmbus_event* p = nullptr;
    const shmbus_sync_options c = o.c();
    const unsigned flags =
        (manual_reset ? SHMBUS_EVENT_MANUAL_RESET : 0u) | (initially_set ? SHMBUS_EVENT_SET : 0u);
    return made(shmbus_event_create_ex(name.c_str(), flags, &c, &p), p);
  }
  static Event open(const std::string& name, const sync_options& o = {}) {
    shmbus_event* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_event_open_ex(name.c_str(), &c, &p), p);
  }
  static Event embed(const Segment& seg, size_t byte_offset, const sync_options& o = {}) {
    shmbus_event* p = nullptr;
    const shmbus_sync_options c = o.c();
    return made(shmbus_event_embed(seg.get(), byte_offset, &c, &p), p);
  }
  static void unlink(const std::string& name) { check(shmbus_event_unlink(name.c_str())); }

  void set() { check(shmbus_event_set(live())); }
  void reset() { check(shmbus_event_reset(live())); }
  /* Throws shmbus::error (code SHMBUS_ETIMEDOUT) when the time runs out. */
  void wait(std::chrono::milliseconds timeout = forever) { check(shmbus_event_wait(live(), detail::ms(timeout))); }
  /* false when the time ran out (no exception). */
  bool wait_for(std::chrono::milliseconds timeout) {
    const int rc = shmbus_event_wait(live(), detail::ms(timeout));
    if (rc == SHMBUS_ETIMEDOUT) return false;
    check(rc);
    return true;
  }
  bool is_set() const { return check(shmbus_event_is_set(live())) == 1; }
  bool manual_reset() const { return check(shmbus_event_manual_reset(live())) == 1; }
};

/* Scoped hold of a Mutex (or of one Semaphore unit) that tells whether the previous holder died:
     shmbus::guard g(m); if (g.recovered()) repair();
   Released on destruction. */
template <class Lockable>
class guard {
 public:
  explicit guard(Lockable& l, std::chrono::milliseconds timeout = forever) : l_(&l), r_(l.lock(timeout)) {}
  guard(const guard&) = delete;
  guard& operator=(const guard&) = delete;
  ~guard() { l_->unlock(); }
  bool recovered() const noexcept { return r_.recovered; }

 private:
  Lockable* l_;
  lock_result r_;
};

/* Scoped read hold of an RwLock; recovered() = the writer had died and this thread holds the lock alone. */
class read_guard {
 public:
  explicit read_guard(RwLock& l, std::chrono::milliseconds timeout = forever) : l_(&l), r_(l.read_lock(timeout)) {}
  read_guard(const read_guard&) = delete;
  read_guard& operator=(const read_guard&) = delete;
  ~read_guard() { l_->read_unlock(); }
  bool recovered() const noexcept { return r_.recovered; }

 private:
  RwLock* l_;
  lock_result r_;
};

/* Scoped write hold of an RwLock. */
class write_guard {
 public:
  explicit write_guard(RwLock& l, std::chrono::milliseconds timeout = forever) : l_(&l), r_(l.write_lock(timeout)) {}
  write_guard(const write_guard&) = delete;
  write_guard& operator=(const write_guard&) = delete;
  ~write_guard() { l_->write_unlock(); }
  bool recovered() const noexcept { return r_.recovered; }

 private:
  RwLock* l_;
  lock_result r_;
};

}  // namespace shmbus

/* ==== END: CORE ==== */

/* ==== SECTION: TOPIC ==== */

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#if __cplusplus > 201703L && defined(__has_include)
#if __has_include(<span>)
#include <span>
#endif
#endif

namespace shmbus {

/* A read-only view of bytes (C++17 has no std::span); converts to std::span<const std::byte> under C++20. */
class bytes {
 public:
  constexpr bytes() noexcept = default;
  constexpr bytes(const std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  bytes(const void* data, std::size_t size) noexcept : data_(static_cast<const std::byte*>(data)), size_(size) {}
  bytes(std::string_view s) noexcept : data_(reinterpret_cast<const std::byte*>(s.data())), size_(s.size()) {}
  /* A NUL-terminated string, without its NUL. */
  bytes(const char* s) noexcept : bytes(std::string_view(s)) {}
  /* Any contiguous container of 1-byte elements (std::string, std::vector<std::byte>, std::vector<uint8_t>,
     std::array ...). */
  template <class C, class = decltype(std::declval<const C&>().data()), class = decltype(std::declval<const C&>().size()),
            class = std::enable_if_t<sizeof(*std::declval<const C&>().data()) == 1>>
  bytes(const C& c) noexcept : data_(reinterpret_cast<const std::byte*>(c.data())), size_(c.size()) {}
  constexpr const std::byte* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr const std::byte* begin() const noexcept { return data_; }
  constexpr const std::byte* end() const noexcept { return data_ + size_; }
  constexpr std::byte operator[](std::size_t i) const noexcept { return data_[i]; }
  /* The bytes as text (no copy). */
  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }
#if defined(__cpp_lib_span)
  operator std::span<const std::byte>() const noexcept { return {data_, size_}; }
#endif

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/* A writable view (a loan's room in the ring). */
class mutable_bytes {
 public:
  constexpr mutable_bytes() noexcept = default;
  constexpr mutable_bytes(std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  constexpr std::byte* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr std::byte* begin() const noexcept { return data_; }
  constexpr std::byte* end() const noexcept { return data_ + size_; }
  constexpr std::byte& operator[](std::size_t i) const noexcept { return data_[i]; }
  operator bytes() const noexcept { return {data_, size_}; }
#if defined(__cpp_lib_span)
  operator std::span<std::byte>() const noexcept { return {data_, size_}; }
#endif

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

enum class from { latest = SHMBUS_FROM_LATEST, oldest = SHMBUS_FROM_OLDEST };

/* Options of Topic::create (defaults as Node's). */
struct topic_options {
  std::uint64_t capacity = 0;           /* ring bytes; required */
  std::uint32_t max_message_size = 0;   /* 0 = the largest that fits twice */
  unsigned mode = 0;                    /* 0 = 0600 */
  bool single_publisher = false;
  bool timestamps = true;
};

class Subscriber;

/* One message a Subscriber read: a zero-copy view into the ring. Use it, then check valid(). */
class Message {
 public:
  bytes data() const noexcept { return {msg_.data, msg_.size}; }
  std::size_t size() const noexcept { return msg_.size; }
  std::uint64_t seq() const noexcept { return msg_.seq; }
  /* Commit time, microseconds since the Unix epoch (0 = not recorded). */
  std::uint64_t timestamp_us() const noexcept { return msg_.timestamp_us; }
  std::string_view text() const noexcept { return data().text(); }
  /* True while the bytes were not overwritten by publishers (check after using them). */
  bool valid() const noexcept { return shmbus_msg_valid(sub_, &msg_) == 1; }
  const shmbus_msg& c_msg() const noexcept { return msg_; }
#if defined(OPENCV_CORE_HPP)
  /* A cv::Mat header over the message bytes (no copy; read-only by contract). Check valid() after using it.
     Throws shmbus::error(SHMBUS_EINVAL_ARG) when rows x cols of `type` does not fit the message. */
  cv::Mat mat(int rows, int cols, int type) const {
    cv::Mat header(rows, cols, type, const_cast<void*>(msg_.data));
    if (rows < 0 || cols < 0 || header.total() * header.elemSize() > msg_.size) {
      throw error(SHMBUS_EINVAL_ARG, "the message is smaller than the cv::Mat asked for");
    }
    return header;
  }
#endif

 private:
  friend class Subscriber;
  Message(const shmbus_sub* sub, const shmbus_msg& m) noexcept : sub_(sub), msg_(m) {}
  const shmbus_sub* sub_;
  shmbus_msg msg_;
};

/* A subscriber (RAII: closed by the destructor). Range-for reads until the end of the stream. */
class Subscriber {
 public:
  static Subscriber subscribe(const std::string& name, from start = from::latest) {
    shmbus_sub* s = nullptr;
    check(shmbus_topic_subscribe(name.c_str(), static_cast<int>(start), &s));
    return Subscriber(s);
  }
  static Subscriber subscribe(const std::string& name, const shmbus_sub_options& opts) {
    shmbus_sub* s = nullptr;
    check(shmbus_topic_subscribe_ex(name.c_str(), &opts, &s));
    return Subscriber(s);
  }
  Subscriber(Subscriber&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Subscriber& operator=(Subscriber&& o) noexcept {
    if (this != &o) {
      close();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;
  ~Subscriber() { close(); }

  /* The next message (waits up to `timeout`, shmbus::forever by default); std::nullopt at the end of the stream.
     Throws shmbus::error (SHMBUS_ETIMEDOUT when nothing came in time). */
  std::optional<Message> read(std::chrono::milliseconds timeout = forever) {
    shmbus_msg m;
    int rc = shmbus_sub_read(handle(), &m, detail::ms(timeout));
    if (rc == SHMBUS_EEND) return std::nullopt;
    check(rc);
    return Message(s_, m);
  }
  /* The next message if one is there (never waits). */
  std::optional<Message> try_read() {
    shmbus_msg m;
    int rc = shmbus_sub_try_read(handle(), &m);
    if (rc == SHMBUS_EAGAIN) return std::nullopt;
    check(rc);
    return Message(s_, m);
  }
  std::uint64_t lost() const noexcept { return shmbus_sub_lost(s_); }
  shmbus_sub_stats_t stats() const {
    shmbus_sub_stats_t st;
    check(shmbus_sub_stats(handle(), &st));
    return st;
  }
  void close() noexcept {
    if (s_ != nullptr) shmbus_sub_close(std::exchange(s_, nullptr));
  }
  shmbus_sub* handle() const {
    if (s_ == nullptr) throw error(SHMBUS_ECLOSED, "subscriber is closed");
    return s_;
  }

  /* Input iterator: each step is a blocking read(); the end of the stream ends the loop. */
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Message;
    using difference_type = std::ptrdiff_t;
    using pointer = const Message*;
    using reference = const Message&;
    iterator() = default;
    explicit iterator(Subscriber* s) : s_(s) { ++*this; }
    reference operator*() const { return *m_; }
    pointer operator->() const { return &*m_; }
    iterator& operator++() {
      m_ = s_->read(forever);
      if (!m_) s_ = nullptr;
      return *this;
    }
    bool operator==(const iterator& o) const noexcept { return s_ == o.s_; }
    bool operator!=(const iterator& o) const noexcept { return s_ != o.s_; }

   private:
    Subscriber* s_ = nullptr;
    std::optional<Message> m_;
  };
  iterator begin() { return iterator(this); }
  iterator end() noexcept { return iterator(); }

 private:
  explicit Subscriber(shmbus_sub* s) noexcept : s_(s) {}
  shmbus_sub* s_;
};

/* A publisher (RAII: closed by the destructor). */
class Topic {
 public:
  /* A zero-copy publication: write into bytes(), then commit() (or abort(); the destructor aborts). */
  class Loan {
   public:
    Loan(Loan&& o) noexcept : t_(std::exchange(o.t_, nullptr)), l_(o.l_) {}
    Loan& operator=(Loan&&) = delete;
    Loan(const Loan&) = delete;
    ~Loan() {
      if (t_ != nullptr) shmbus_topic_abort(t_);
    }
    mutable_bytes bytes() const noexcept { return {static_cast<std::byte*>(l_.data), l_.size}; }
    std::uint64_t seq() const noexcept { return l_.seq; }
    /* Publishes the first `size` bytes (default all); returns the seq. */
    std::uint64_t commit(std::size_t size) {
      std::uint64_t seq = 0;
      check(shmbus_topic_commit(std::exchange(t_, nullptr), size, &seq));
      return seq;
    }
    std::uint64_t commit() { return commit(l_.size); }
    void abort() { check(shmbus_topic_abort(std::exchange(t_, nullptr))); }

   private:
    friend class Topic;
    Loan(shmbus_topic* t, const shmbus_loan& l) noexcept : t_(t), l_(l) {}
    shmbus_topic* t_;
    shmbus_loan l_;
  };

  static Topic create(const std::string& name, std::uint64_t capacity, std::uint32_t max_message_size = 0) {
    topic_options o;
    o.capacity = capacity;
    o.max_message_size = max_message_size;
    return create(name, o);
  }
  static Topic create(const std::string& name, const topic_options& o) {
    shmbus_topic_options c;
    std::memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.capacity = o.capacity;
    c.max_message_size = o.max_message_size;
    c.mode = o.mode;
    c.single_publisher = o.single_publisher ? 1 : 0;
    c.no_timestamps = o.timestamps ? 0 : 1;
    shmbus_topic* t = nullptr;
    check(shmbus_topic_create_ex(name.c_str(), &c, &t));
    return Topic(t);
  }
  static Topic open(const std::string& name) {
    shmbus_topic* t = nullptr;
    check(shmbus_topic_open(name.c_str(), &t));
    return Topic(t);
  }
  static Subscriber subscribe(const std::string& name, from start = from::latest) { return Subscriber::subscribe(name, start); }
  static void unlink(const std::string& name) { check(shmbus_topic_unlink(name.c_str())); }

  Topic(Topic&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  Topic& operator=(Topic&& o) noexcept {
    if (this != &o) {
      close();
      t_ = std::exchange(o.t_, nullptr);
    }
    return *this;
  }
  Topic(const Topic&) = delete;
  Topic& operator=(const Topic&) = delete;
  ~Topic() { close(); }

  /* Publishes a copy of `data`; returns its seq. */
  std::uint64_t publish(shmbus::bytes data, std::chrono::milliseconds timeout = forever) {
    std::uint64_t seq = 0;
    check(shmbus_topic_publish_ex(handle(), data.data(), data.size(), detail::ms(timeout), &seq));
    return seq;
  }
  Loan loan(std::size_t size, std::chrono::milliseconds timeout = forever) {
    shmbus_loan l;
    check(shmbus_topic_loan(handle(), size, detail::ms(timeout), &l));
    return Loan(t_, l);
  }
  shmbus_topic_stats_t stats() const {
    shmbus_topic_stats_t st;
    check(shmbus_topic_stats(handle(), &st));
    return st;
  }
  std::uint32_t subscribers() const {
    std::uint32_t n = 0;
    check(shmbus_topic_subscribers(handle(), &n));
    return n;
  }
  std::uint32_t wait_for_subscribers(std::uint32_t n, std::chrono::milliseconds timeout = forever) {
    std::uint32_t have = 0;
    check(shmbus_topic_wait_for_subscribers(handle(), n, detail::ms(timeout), &have));
    return have;
  }
  std::uint64_t capacity() const noexcept { return shmbus_topic_capacity(t_); }
  std::uint32_t max_message_size() const noexcept { return shmbus_topic_max_message_size(t_); }
  void close() noexcept {
    if (t_ != nullptr) shmbus_topic_close(std::exchange(t_, nullptr));
  }
  shmbus_topic* handle() const {
    if (t_ == nullptr) throw error(SHMBUS_ECLOSED, "topic is closed");
    return t_;
  }

 private:
  explicit Topic(shmbus_topic* t) noexcept : t_(t) {}
  shmbus_topic* t_;
};

}  // namespace shmbus

/* ==== END: TOPIC ==== */

/* ==== SECTION: MAILBOX ==== */

#include <vector>

namespace shmbus {

/* A mailbox (RAII: closed by the destructor): the latest value of something, never torn. */
class Mailbox {
 public:
  /* What read() returns: a private copy. */
  struct value {
    std::vector<std::byte> data;
    std::uint64_t version = 0;
    std::uint64_t timestamp_us = 0;
    std::string_view text() const noexcept { return {reinterpret_cast<const char*>(data.data()), data.size()}; }
  };

  static Mailbox create(const std::string& name, std::size_t max_size = 65536) {
    shmbus_mailbox* m = nullptr;
    check(shmbus_mailbox_create(name.c_str(), max_size, &m));
    return Mailbox(m);
  }
  static Mailbox open(const std::string& name) {
    shmbus_mailbox* m = nullptr;
    check(shmbus_mailbox_open(name.c_str(), &m));
    return Mailbox(m);
  }
  static void unlink(const std::string& name) { check(shmbus_mailbox_unlink(name.c_str())); }

  Mailbox(Mailbox&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  Mailbox& operator=(Mailbox&& o) noexcept {
    if (this != &o) {
      close();
      m_ = std::exchange(o.m_, nullptr);
    }
    return *this;
  }
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;
  ~Mailbox() { close(); }

  /* Replaces the value; returns the new version. */
  std::uint64_t write(shmbus::bytes data, std::chrono::milliseconds timeout = forever) {
    std::uint64_t v = 0;
    check(shmbus_mailbox_write_ex(handle(), data.data(), data.size(), detail::ms(timeout), &v));
    return v;
  }
  /* The current value (a private copy). */
  value read() const {
    value out;
    out.data.resize(shmbus_mailbox_max_size(handle()));
    shmbus_mailbox_value v;
    check(shmbus_mailbox_read(handle(), out.data.data(), out.data.size(), &v));
    out.data.resize(v.size);
    out.version = v.version;
    out.timestamp_us = v.timestamp_us;
    return out;
  }
  /* Reads into `into` (resized to the value; reuse one vector to avoid allocating); returns the version. */
  std::uint64_t read(std::vector<std::byte>& into) const {
    into.resize(shmbus_mailbox_max_size(handle()));
    shmbus_mailbox_value v;
    check(shmbus_mailbox_read(handle(), into.data(), into.size(), &v));
    into.resize(v.size);
    return v.version;
  }
  std::uint64_t version() const {
    std::uint64_t v = 0;
    check(shmbus_mailbox_version(handle(), &v));
    return v;
  }
  /* Waits until the version is greater than `since`; returns it. Throws shmbus::error on timeout. */
  std::uint64_t wait_changed(std::uint64_t since, std::chrono::milliseconds timeout = forever) {
    std::uint64_t v = 0;
    check(shmbus_mailbox_wait_changed(handle(), since, detail::ms(timeout), &v));
    return v;
  }
  std::size_t max_size() const noexcept { return shmbus_mailbox_max_size(m_); }
  void close() noexcept {
    if (m_ != nullptr) shmbus_mailbox_close(std::exchange(m_, nullptr));
  }
  shmbus_mailbox* handle() const {
    if (m_ == nullptr) throw error(SHMBUS_ECLOSED, "mailbox is closed");
    return m_;
  }

 private:
  explicit Mailbox(shmbus_mailbox* m) noexcept : m_(m) {}
  shmbus_mailbox* m_;
};

}  // namespace shmbus

/* ==== END: MAILBOX ==== */

/* ==== SECTION: QUEUE ==== */

#include <functional>
#include <memory>
#include <vector>

namespace shmbus {


/* Options of Queue::create / open / open_or_create (0 = the default, as in shmbus_queue_options). */
struct queue_options {
  std::uint32_t slots = 0;
  std::uint32_t max_message_size = 0;
  unsigned mode = 0;
  std::chrono::milliseconds open_timeout{0}; /* wait for the queue to appear (0 = not at all; forever) */
  std::chrono::milliseconds liveness{0};  /* 0 = 50 ms */
  std::chrono::microseconds spin{0};      /* 0 = 50 us, negative = none */
};

/* A message received from a Queue (its own copy of the bytes). */
struct queue_message {
  std::vector<std::byte> data;
  bool is_text = false;
  bytes view() const noexcept { return {data.data(), data.size()}; }
  std::string_view text() const noexcept { return view().text(); }
};

/* A lossless bounded queue (RAII: the destructor detaches this handle; end() ends the stream for everyone). */
class Queue {
 public:
  static Queue create(const std::string& name, std::uint32_t slots = 0, std::uint32_t max_message_size = 0) {
    shmbus_queue* q = nullptr;
    check(shmbus_queue_create(name.c_str(), slots, max_message_size, &q));
    return Queue(q);
  }
  static Queue create(const std::string& name, const queue_options& o) {
    shmbus_queue_options c = to_c(o);
    shmbus_queue* q = nullptr;
    check(shmbus_queue_create_ex(name.c_str(), &c, &q));
    return Queue(q);
  }
  static Queue open(const std::string& name, const queue_options& o = {}) {
    shmbus_queue_options c = to_c(o);
    shmbus_queue* q = nullptr;
    check(shmbus_queue_open_ex(name.c_str(), &c, &q));
    return Queue(q);
  }
  static Queue open_or_create(const std::string& name, const queue_options& o = {}) {
    shmbus_queue_options c = to_c(o);
    shmbus_queue* q = nullptr;
    check(shmbus_queue_open_or_create_ex(name.c_str(), &c, &q));
    return Queue(q);
  }
  static void unlink(const std::string& name) { check(shmbus_queue_unlink(name.c_str())); }

  Queue(Queue&& o) noexcept : q_(std::exchange(o.q_, nullptr)) {}
  Queue& operator=(Queue&& o) noexcept {
    if (this != &o) {
      close();
      q_ = std::exchange(o.q_, nullptr);
    }
    return *this;
  }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue() { close(); }

  /* Sends, waiting while the queue is full (at most `timeout`). Throws shmbus::error: SHMBUS_ECLOSED after
     the end of the stream, SHMBUS_ETIMEDOUT, SHMBUS_EMESSAGE_TOO_LARGE. */
  void send(bytes data, std::chrono::milliseconds timeout = forever) {
    check(shmbus_queue_send(handle(), data.data(), data.size(), detail::ms(timeout)));
  }
  /* Sends text (flagged as text: a Node receiver sees m.isText). */
  void send_text(std::string_view text, std::chrono::milliseconds timeout = forever) {
    check(shmbus_queue_send_ex(handle(), text.data(), text.size(), SHMBUS_MSG_TEXT, detail::ms(timeout)));
  }
  /* Sends if there is room: false when the queue is full. */
  bool try_send(bytes data, bool is_text = false) {
    int rc = shmbus_queue_try_send_ex(handle(), data.data(), data.size(), is_text ? SHMBUS_MSG_TEXT : 0u);
    if (rc == SHMBUS_EAGAIN) return false;
    check(rc);
    return true;
  }

  /* The next message (waits up to `timeout`, forever by default); std::nullopt at the end of the stream. Throws
     shmbus::error (SHMBUS_ETIMEDOUT when nothing came in time). */
  std::optional<queue_message> receive(std::chrono::milliseconds timeout = forever) {
    queue_message m;
    if (!receive_into(m, timeout)) return std::nullopt;
    return m;
  }
  /* The same into a message whose buffer is reused (no allocation once it has grown): false at the end. */
  bool receive_into(queue_message& m, std::chrono::milliseconds timeout = forever) {
    m.data.resize(shmbus_queue_max_message_size(handle()));
    std::size_t len = 0;
    std::uint32_t flags = 0;
    int rc = shmbus_queue_receive_ex(q_, m.data.data(), m.data.size(), &len, &flags, detail::ms(timeout));
    if (rc == SHMBUS_EEND) return false;
    check(rc);
    m.data.resize(len);
    m.is_text = (flags & SHMBUS_MSG_TEXT) != 0;
    return true;
  }
  /* The next message if one is there (never waits); std::nullopt when empty or ended (see ended()). */
  std::optional<queue_message> try_receive() {
    queue_message m;
    m.data.resize(shmbus_queue_max_message_size(handle()));
    std::size_t len = 0;
    std::uint32_t flags = 0;
    int rc = shmbus_queue_try_receive_ex(q_, m.data.data(), m.data.size(), &len, &flags);
    if (rc == SHMBUS_EAGAIN || rc == SHMBUS_EEND) return std::nullopt;
    check(rc);
    m.data.resize(len);
    m.is_text = (flags & SHMBUS_MSG_TEXT) != 0;
    return m;
  }

  /* Ends the stream for everyone (idempotent). */
  void end() { check(shmbus_queue_end(handle())); }
  bool ended() const {
    int rc = shmbus_queue_ended(handle());
    check(rc);
    return rc == 1;
  }
  shmbus_queue_stats stats() const {
    shmbus_queue_stats st;
    check(shmbus_queue_get_stats(handle(), &st));
    return st;
  }
  std::uint32_t slots() const { return shmbus_queue_slots(handle()); }
  std::uint32_t max_message_size() const { return shmbus_queue_max_message_size(handle()); }
  /* Detaches this handle (the stream goes on for others). */
  void close() noexcept {
    if (q_ != nullptr) shmbus_queue_close(std::exchange(q_, nullptr));
  }
  shmbus_queue* handle() const {
    if (q_ == nullptr) throw error(SHMBUS_ECLOSED, "queue handle is closed");
    return q_;
  }

  /* Input iterator: each step is a blocking receive(); the end of the stream ends the loop. */
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = queue_message;
    using difference_type = std::ptrdiff_t;
    using pointer = const queue_message*;
    using reference = const queue_message&;
    iterator() = default;
    explicit iterator(Queue* q) : q_(q) { ++*this; }
    reference operator*() const { return m_; }
    pointer operator->() const { return &m_; }
    iterator& operator++() {
      if (!q_->receive_into(m_, forever)) q_ = nullptr;
      return *this;
    }
    bool operator==(const iterator& o) const noexcept { return q_ == o.q_; }
    bool operator!=(const iterator& o) const noexcept { return q_ != o.q_; }

   private:
    Queue* q_ = nullptr;
    queue_message m_;
  };
  /* for (const auto& m : q.messages()) ...: receives until the end of the stream (end() names the stream's end). */
  struct range {
    Queue* q;
    iterator begin() { return iterator(q); }
    iterator end() noexcept { return iterator(); }
  };
  range messages() noexcept { return range{this}; }

 private:
  explicit Queue(shmbus_queue* q) noexcept : q_(q) {}
  static shmbus_queue_options to_c(const queue_options& o) {
    shmbus_queue_options c;
    std::memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.slots = o.slots;
    c.max_message_size = o.max_message_size;
    c.mode = o.mode;
    c.open_timeout_ms = detail::ms(o.open_timeout);
    c.liveness_ms = static_cast<std::uint32_t>(o.liveness.count());
    c.spin_us = static_cast<std::int32_t>(o.spin.count());
    return c;
  }
  shmbus_queue* q_;
};

}  // namespace shmbus

/* ==== END: QUEUE ==== */

/* ==== SECTION: RPC ==== */

namespace shmbus {

/* A request as a handler sees it (valid during the handler call). */
class RpcRequest {
 public:
  explicit RpcRequest(const shmbus_rpc_req* r) noexcept : r_(r) {}
  bytes data() const noexcept { return {r_->data, r_->size}; }
  std::string_view text() const noexcept { return data().text(); }
  bool is_text() const noexcept { return (r_->flags & SHMBUS_MSG_TEXT) != 0; }
  std::uint32_t id() const noexcept { return r_->id; }
  std::uint32_t client_id() const noexcept { return r_->client_id; }
  std::uint32_t client_pid() const noexcept { return r_->client_pid; }

 private:
  const shmbus_rpc_req* r_;
};

/* The handler's answer: set() / set_text() copy it into the worker's reply buffer (up to the service's
   max_message_size; more throws, which the client sees as ERR_REMOTE). */
class RpcReply {
 public:
  explicit RpcReply(shmbus_rpc_reply* r) noexcept : r_(r) {}
  void set(bytes data) { put(data, 0); }
  void set_text(std::string_view text) { put(bytes(text), SHMBUS_MSG_TEXT); }

 private:
  void put(bytes data, std::uint32_t flags) {
    if (data.size() > r_->cap) throw error(SHMBUS_EMESSAGE_TOO_LARGE, "the reply is larger than the service's max_message_size");
    if (!data.empty()) std::memcpy(r_->buf, data.data(), data.size());
    r_->data = r_->buf;
    r_->size = data.size();
    r_->flags = flags;
  }
  shmbus_rpc_reply* r_;
};

/* Options of RpcServer::serve (0 = the default, as in shmbus_rpc_serve_options). */
struct rpc_serve_options {
  std::uint32_t workers = 0;
  std::uint32_t max_message_size = 0;
  std::uint32_t slots = 0;
  unsigned mode = 0;
  std::chrono::milliseconds liveness{0};
  std::chrono::microseconds spin{0};
};

/* A server (RAII: the destructor stops it, waits for its workers and leaves the service). The handler runs on up
   to `workers` threads at once; an exception it throws reaches the client as ERR_REMOTE with what(). */
class RpcServer {
 public:
  using handler = std::function<void(const RpcRequest&, RpcReply&)>;

  static RpcServer serve(const std::string& name, handler h, const rpc_serve_options& o = {}) {
    shmbus_rpc_serve_options c;
    std::memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.workers = o.workers;
    c.max_message_size = o.max_message_size;
    c.slots = o.slots;
    c.mode = o.mode;
    c.liveness_ms = static_cast<std::uint32_t>(o.liveness.count());
    c.spin_us = static_cast<std::int32_t>(o.spin.count());
    auto state = std::make_unique<handler>(std::move(h));
    shmbus_rpc_server* s = nullptr;
    check(shmbus_rpc_serve(name.c_str(), &RpcServer::trampoline, state.get(), &c, &s));
    return RpcServer(s, std::move(state));
  }

  RpcServer(RpcServer&& o) noexcept : s_(std::exchange(o.s_, nullptr)), h_(std::move(o.h_)) {}
  RpcServer& operator=(RpcServer&& o) noexcept {
    if (this != &o) {
      close();
      s_ = std::exchange(o.s_, nullptr);
      h_ = std::move(o.h_);
    }
    return *this;
  }
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;
  ~RpcServer() { close(); }

  /* Serves on this thread (plus workers - 1 threads) until stop(). */
  void run() { check(shmbus_rpc_server_run(handle())); }
  /* Serves on background threads; returns at once. */
  void start() { check(shmbus_rpc_server_start(handle())); }
  void stop() noexcept { shmbus_rpc_server_stop(s_); }
  shmbus_rpc_server_stats stats() const {
    shmbus_rpc_server_stats st;
    check(shmbus_rpc_server_get_stats(handle(), &st));
    return st;
  }
  /* Stops, waits for background workers, leaves the service (after run() returned, or for a started server). */
  void close() noexcept {
    if (s_ != nullptr) shmbus_rpc_server_close(std::exchange(s_, nullptr));
  }
  shmbus_rpc_server* handle() const {
    if (s_ == nullptr) throw error(SHMBUS_ECLOSED, "rpc server is closed");
    return s_;
  }

 private:
  RpcServer(shmbus_rpc_server* s, std::unique_ptr<handler> h) noexcept : s_(s), h_(std::move(h)) {}
  static int trampoline(void* ctx, const shmbus_rpc_req* req, shmbus_rpc_reply* reply) {
    try {
      RpcRequest in(req);
      RpcReply out(reply);
      (*static_cast<handler*>(ctx))(in, out);
      return 0;
    } catch (const std::exception& e) {
      return shmbus_rpc_reply_error(reply, e.what());
    } catch (...) {
      return shmbus_rpc_reply_error(reply, "the handler threw a non-standard exception");
    }
  }
  shmbus_rpc_server* s_;
  std::unique_ptr<handler> h_;
};

/* Options of RpcClient::connect (0 = the default, as in shmbus_rpc_connect_options). */
struct rpc_connect_options {
  std::uint32_t max_message_size = 0;
  std::uint32_t slots = 0;
  unsigned mode = 0;
  std::chrono::milliseconds liveness{0};
  std::chrono::microseconds spin{0};
};

/* A response (its own copy of the bytes). */
struct rpc_response {
  std::vector<std::byte> data;
  bool is_text = false;
  bytes view() const noexcept { return {data.data(), data.size()}; }
  std::string_view text() const noexcept { return view().text(); }
};

/* A client (RAII: the destructor removes its response queue). One thread at a time. */
class RpcClient {
 public:
  static RpcClient connect(const std::string& name, const rpc_connect_options& o = {}) {
    shmbus_rpc_connect_options c;
    std::memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.max_message_size = o.max_message_size;
    c.slots = o.slots;
    c.mode = o.mode;
    c.liveness_ms = static_cast<std::uint32_t>(o.liveness.count());
    c.spin_us = static_cast<std::int32_t>(o.spin.count());
    shmbus_rpc_client* p = nullptr;
    check(shmbus_rpc_connect_ex(name.c_str(), &c, &p));
    return RpcClient(p, o.max_message_size != 0 ? o.max_message_size : SHMBUS_RPC_DEFAULT_MAX_MESSAGE_SIZE);
  }
  RpcClient(RpcClient&& o) noexcept : c_(std::exchange(o.c_, nullptr)), cap_(o.cap_) {}
  RpcClient& operator=(RpcClient&& o) noexcept {
    if (this != &o) {
      close();
      c_ = std::exchange(o.c_, nullptr);
      cap_ = o.cap_;
    }
    return *this;
  }
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;
  ~RpcClient() { close(); }

  /* Sends a request and waits for its response. Throws shmbus::error: SHMBUS_ENO_SERVER, SHMBUS_EREMOTE (what() is
     the handler's message), SHMBUS_ETIMEDOUT, SHMBUS_EMESSAGE_TOO_LARGE (responses above the connect option
     max_message_size, default 65536). */
  rpc_response request(bytes data, std::chrono::milliseconds timeout = forever, bool is_text = false) {
    rpc_response r;
    r.data.resize(cap_);
    std::size_t len = 0;
    std::uint32_t flags = 0;
    check(shmbus_rpc_request_ex(handle(), data.data(), data.size(), is_text ? SHMBUS_MSG_TEXT : 0u,
                                              r.data.data(), r.data.size(), &len, &flags, detail::ms(timeout)));
    r.data.resize(len);
    r.is_text = (flags & SHMBUS_MSG_TEXT) != 0;
    return r;
  }
  rpc_response request_text(std::string_view text, std::chrono::milliseconds timeout = forever) {
    return request(bytes(text), timeout, true);
  }
  void close() noexcept {
    if (c_ != nullptr) shmbus_rpc_client_close(std::exchange(c_, nullptr));
  }
  shmbus_rpc_client* handle() const {
    if (c_ == nullptr) throw error(SHMBUS_ECLOSED, "rpc client is closed");
    return c_;
  }
  static void unlink(const std::string& name) { check(shmbus_rpc_unlink(name.c_str())); }

 private:
  RpcClient(shmbus_rpc_client* c, std::size_t cap) noexcept : c_(c), cap_(cap) {}
  shmbus_rpc_client* c_;
  std::size_t cap_;
};

}  // namespace shmbus

/* ==== END: RPC ==== */

/* ==== SECTION: FRAME ==== */
namespace shmbus {

/* A decoded Frame (PROTOCOL.md §9) over a message's bytes: no copy. Throws shmbus::error(SHMBUS_EINVAL_ARG) for a
   corrupt or truncated frame. With <opencv2/core.hpp> included first, mat() is a cv::Mat header over the pixels
   (row stride honoured). */
class frame_view {
 public:
  explicit frame_view(bytes message) { check(shmbus_frame_decode(message.data(), message.size(), &f_)); }
  std::uint32_t width() const noexcept { return f_.width; }
  std::uint32_t height() const noexcept { return f_.height; }
  std::uint32_t channels() const noexcept { return f_.channels; }
  int dtype() const noexcept { return f_.dtype; }
  int format() const noexcept { return f_.format; }
  std::uint32_t stride() const noexcept { return f_.stride; }
  std::uint64_t timestamp_us() const noexcept { return f_.timestamp_us; }
  /* The stride-wide rows, padding included. */
  bytes pixels() const noexcept { return {f_.data, f_.data_size}; }
  /* Row y (its first sample). */
  const void* row(std::uint32_t y) const noexcept { return static_cast<const std::byte*>(f_.data) + std::size_t(y) * f_.stride; }
  const shmbus_frame& c_frame() const noexcept { return f_; }
#if defined(OPENCV_CORE_HPP)
  cv::Mat mat() const {
    const int depth = f_.dtype == SHMBUS_DTYPE_UINT8 ? CV_8U : f_.dtype == SHMBUS_DTYPE_UINT16 ? CV_16U : CV_32F;
    return cv::Mat(int(f_.height), int(f_.width), CV_MAKETYPE(depth, int(f_.channels)), const_cast<void*>(f_.data),
                   std::size_t(f_.stride));
  }
#endif

 private:
  shmbus_frame f_{};
};

/* Writes a frame header into `room` (a loan of shmbus_frame_size() bytes) and returns the pixel rows to fill. */
inline mutable_bytes write_frame_header(mutable_bytes room, std::uint32_t width, std::uint32_t height, int format,
                                       int dtype = SHMBUS_DTYPE_UINT8, std::uint64_t timestamp_us = 0,
                                       std::uint32_t stride = 0) {
  shmbus_frame f{};
  f.width = width;
  f.height = height;
  f.format = format;
  f.dtype = dtype;
  f.stride = stride;
  f.timestamp_us = timestamp_us;
  check(shmbus_frame_write_header(room.data(), room.size(), &f));
  const std::size_t size = shmbus_frame_size(width, height, format, dtype, stride);
  return {room.data() + SHMBUS_FRAME_HEADER_SIZE, size - SHMBUS_FRAME_HEADER_SIZE};
}

}  // namespace shmbus
/* ==== END: FRAME ==== */

/* ==== SECTION: PARTS ==== */
#include <iterator>
#include <string>
#include <string_view>

namespace shmbus {

/* One part of a parts_view (PROTOCOL.md §10): views into the record, valid while the record's bytes are. */
class part {
 public:
  explicit part(const shmbus_part& p) noexcept : p_(p) {}
  std::string_view name() const noexcept { return {p_.name, p_.name_size}; }
  int type() const noexcept { return p_.type; }
  /* The value's bytes, whatever the type (a bytes part: 8-aligned when the record is; a Frame: frame_view(p.data())). */
  bytes data() const noexcept { return {p_.data, p_.size}; }
  /* A string or json part's text; throws error(SHMBUS_EINVAL_ARG) for another type. */
  std::string_view text() const {
    want(p_.type == SHMBUS_PART_STRING || p_.type == SHMBUS_PART_JSON, "string or json");
    return {static_cast<const char*>(p_.data), p_.size};
  }
  double f64() const {
    want(p_.type == SHMBUS_PART_F64, "float64");
    return p_.f64;
  }
  std::int64_t i64() const {
    want(p_.type == SHMBUS_PART_I64, "int64");
    return p_.i64;
  }
  const shmbus_part& c_part() const noexcept { return p_; }

 private:
  void want(bool ok, const char* what) const {
    if (!ok) throw error(SHMBUS_EINVAL_ARG, "ERR_INVALID_ARG: part \"" + std::string(name()) + "\" is not " + what);
  }
  shmbus_part p_;
};

/* A checked Parts record over a message's bytes (no copy): throws shmbus::error(SHMBUS_EPARTS_CORRUPT) for a corrupt,
   truncated or foreign record. Iterate it (directory order), index it, or find a part by name. */
class parts_view {
 public:
  explicit parts_view(bytes record) { check(shmbus_parts_reader_init(&r_, record.data(), record.size())); }
  std::size_t size() const noexcept { return r_.count; }
  part operator[](std::size_t i) const {
    shmbus_part p;
    check(shmbus_parts_get(&r_, static_cast<std::uint32_t>(i < r_.count ? i : r_.count), &p));
    return part(p);
  }
  std::optional<part> find(std::string_view name) const {
    for (std::size_t i = 0; i < r_.count; i++) {
      part p = (*this)[i];
      if (p.name() == name) return p;
    }
    return std::nullopt;
  }
  /* The part named `name`; throws error(SHMBUS_EINVAL_ARG) when there is none. */
  part at(std::string_view name) const {
    if (auto p = find(name)) return *p;
    throw error(SHMBUS_EINVAL_ARG, "ERR_INVALID_ARG: no part named \"" + std::string(name) + "\"");
  }
  /* The record's own size (the message may be longer). */
  std::size_t record_size() const noexcept { return r_.size; }

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = part;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = part;
    iterator(const parts_view* v, std::size_t i) noexcept : v_(v), i_(i) {}
    part operator*() const { return (*v_)[i_]; }
    iterator& operator++() noexcept {
      ++i_;
      return *this;
    }
    bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }
    bool operator!=(const iterator& o) const noexcept { return i_ != o.i_; }

   private:
    const parts_view* v_;
    std::size_t i_;
  };
  iterator begin() const noexcept { return {this, 0}; }
  iterator end() const noexcept { return {this, r_.count}; }
  const shmbus_parts_reader& c_reader() const noexcept { return r_; }

 private:
  shmbus_parts_reader r_{};
};

/* Builds a Parts record into `room` (a loan's bytes, a vector...): add parts, then finish() gives the size to
   commit. Default-constructed, it only measures (finish() = the size to loan). Throws shmbus::error. */
class parts_builder {
 public:
  parts_builder() { check(shmbus_parts_builder_init(&b_, nullptr, 0)); }
  explicit parts_builder(mutable_bytes room) { check(shmbus_parts_builder_init(&b_, room.data(), room.size())); }
  parts_builder& add_bytes(std::string_view name, bytes data) {
    check(shmbus_parts_add_bytes(&b_, std::string(name).c_str(), data.data(), data.size()));
    return *this;
  }
  parts_builder& add_string(std::string_view name, std::string_view text) {
    check(shmbus_parts_add_string(&b_, std::string(name).c_str(), text.data(), text.size()));
    return *this;
  }
  parts_builder& add_json(std::string_view name, std::string_view json) {
    check(shmbus_parts_add_json(&b_, std::string(name).c_str(), json.data(), json.size()));
    return *this;
  }
  parts_builder& add_f64(std::string_view name, double v) {
    check(shmbus_parts_add_f64(&b_, std::string(name).c_str(), v));
    return *this;
  }
  parts_builder& add_i64(std::string_view name, std::int64_t v) {
    check(shmbus_parts_add_i64(&b_, std::string(name).c_str(), v));
    return *this;
  }
  /* A bytes part to fill in place (64-byte aligned in the record; empty when measuring). */
  mutable_bytes reserve(std::string_view name, std::size_t size) {
    void* p = nullptr;
    check(shmbus_parts_reserve_bytes(&b_, std::string(name).c_str(), size, &p));
    return {static_cast<std::byte*>(p), p != nullptr ? size : 0};
  }
  /* Writes the header and directory; returns the record's size. */
  std::size_t finish() {
    std::size_t n = 0;
    check(shmbus_parts_finish(&b_, &n));
    return n;
  }

 private:
  shmbus_parts_builder b_{};
};

}  // namespace shmbus
/* ==== END: PARTS ==== */

#endif /* SHMBUS_HPP */
