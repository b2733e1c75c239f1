/*
 * shmbus.hpp: the C++17 layer over shmbus.h (RAII handles, exceptions carrying the code, spans, lock guards).
 * Sections are owned by different engineers: write only between your own markers.
 */
#ifndef SHMBUS_HPP
#define SHMBUS_HPP

#include "shmbus.h"

/* ==== SECTION: CORE ==== */
/* ==== END: CORE ==== */

/* ==== SECTION: TOPIC ==== */

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
  /* Any contiguous container of 1-byte elements (std::vector<std::byte>, std::vector<uint8_t>, std::array ...). */
  template <class C, class = decltype(std::declval<const C&>().data()), class = decltype(std::declval<const C&>().size()),
            class = std::enable_if_t<sizeof(*std::declval<const C&>().data()) == 1 && !std::is_convertible_v<const C&, std::string_view>>>
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

namespace detail {
/* Throws shmbus::error for a negative status (the code and the thread's last message). */
inline void topic_check(int rc) {
  if (rc < 0) throw error(rc, shmbus_last_error_message());
}
}  // namespace detail

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
    detail::topic_check(shmbus_topic_subscribe(name.c_str(), static_cast<int>(start), &s));
    return Subscriber(s);
  }
  static Subscriber subscribe(const std::string& name, const shmbus_sub_options& opts) {
    shmbus_sub* s = nullptr;
    detail::topic_check(shmbus_topic_subscribe_ex(name.c_str(), &opts, &s));
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

  /* The next message (waits up to timeout_ms, -1 forever); std::nullopt at the end of the stream.
     Throws shmbus::error (SHMBUS_ETIMEDOUT when nothing came in time). */
  std::optional<Message> read(std::int64_t timeout_ms = -1) {
    shmbus_msg m;
    int rc = shmbus_sub_read(handle(), &m, timeout_ms);
    if (rc == SHMBUS_EEND) return std::nullopt;
    detail::topic_check(rc);
    return Message(s_, m);
  }
  /* The next message if one is there (never waits). */
  std::optional<Message> try_read() {
    shmbus_msg m;
    int rc = shmbus_sub_try_read(handle(), &m);
    if (rc == SHMBUS_EAGAIN) return std::nullopt;
    detail::topic_check(rc);
    return Message(s_, m);
  }
  std::uint64_t lost() const noexcept { return shmbus_sub_lost(s_); }
  shmbus_sub_stats_t stats() const {
    shmbus_sub_stats_t st;
    detail::topic_check(shmbus_sub_stats(handle(), &st));
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
      m_ = s_->read(-1);
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
      detail::topic_check(shmbus_topic_commit(std::exchange(t_, nullptr), size, &seq));
      return seq;
    }
    std::uint64_t commit() { return commit(l_.size); }
    void abort() { detail::topic_check(shmbus_topic_abort(std::exchange(t_, nullptr))); }

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
    detail::topic_check(shmbus_topic_create_ex(name.c_str(), &c, &t));
    return Topic(t);
  }
  static Topic open(const std::string& name) {
    shmbus_topic* t = nullptr;
    detail::topic_check(shmbus_topic_open(name.c_str(), &t));
    return Topic(t);
  }
  static Subscriber subscribe(const std::string& name, from start = from::latest) { return Subscriber::subscribe(name, start); }
  static void unlink(const std::string& name) { detail::topic_check(shmbus_topic_unlink(name.c_str())); }

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
  std::uint64_t publish(shmbus::bytes data, std::int64_t timeout_ms = -1) {
    std::uint64_t seq = 0;
    detail::topic_check(shmbus_topic_publish_ex(handle(), data.data(), data.size(), timeout_ms, &seq));
    return seq;
  }
  Loan loan(std::size_t size, std::int64_t timeout_ms = -1) {
    shmbus_loan l;
    detail::topic_check(shmbus_topic_loan(handle(), size, timeout_ms, &l));
    return Loan(t_, l);
  }
  shmbus_topic_stats_t stats() const {
    shmbus_topic_stats_t st;
    detail::topic_check(shmbus_topic_stats(handle(), &st));
    return st;
  }
  std::uint32_t subscribers() const {
    std::uint32_t n = 0;
    detail::topic_check(shmbus_topic_subscribers(handle(), &n));
    return n;
  }
  std::uint32_t wait_for_subscribers(std::uint32_t n, std::int64_t timeout_ms = -1) {
    std::uint32_t have = 0;
    detail::topic_check(shmbus_topic_wait_for_subscribers(handle(), n, timeout_ms, &have));
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
    detail::topic_check(shmbus_mailbox_create(name.c_str(), max_size, &m));
    return Mailbox(m);
  }
  static Mailbox open(const std::string& name) {
    shmbus_mailbox* m = nullptr;
    detail::topic_check(shmbus_mailbox_open(name.c_str(), &m));
    return Mailbox(m);
  }
  static void unlink(const std::string& name) { detail::topic_check(shmbus_mailbox_unlink(name.c_str())); }

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
  std::uint64_t write(shmbus::bytes data, std::int64_t timeout_ms = -1) {
    std::uint64_t v = 0;
    detail::topic_check(shmbus_mailbox_write_ex(handle(), data.data(), data.size(), timeout_ms, &v));
    return v;
  }
  /* The current value (a private copy). */
  value read() const {
    value out;
    out.data.resize(shmbus_mailbox_max_size(handle()));
    shmbus_mailbox_value v;
    detail::topic_check(shmbus_mailbox_read(handle(), out.data.data(), out.data.size(), &v));
    out.data.resize(v.size);
    out.version = v.version;
    out.timestamp_us = v.timestamp_us;
    return out;
  }
  /* Reads into `into` (resized to the value; reuse one vector to avoid allocating); returns the version. */
  std::uint64_t read(std::vector<std::byte>& into) const {
    into.resize(shmbus_mailbox_max_size(handle()));
    shmbus_mailbox_value v;
    detail::topic_check(shmbus_mailbox_read(handle(), into.data(), into.size(), &v));
    into.resize(v.size);
    return v.version;
  }
  std::uint64_t version() const {
    std::uint64_t v = 0;
    detail::topic_check(shmbus_mailbox_version(handle(), &v));
    return v;
  }
  /* Waits until the version is greater than `since`; returns it. Throws shmbus::error on timeout. */
  std::uint64_t wait_changed(std::uint64_t since, std::int64_t timeout_ms = -1) {
    std::uint64_t v = 0;
    detail::topic_check(shmbus_mailbox_wait_changed(handle(), since, timeout_ms, &v));
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
/* ==== END: QUEUE ==== */

/* ==== SECTION: RPC ==== */
/* ==== END: RPC ==== */

#endif /* SHMBUS_HPP */
