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
/* ==== END: TOPIC ==== */

/* ==== SECTION: MAILBOX ==== */
/* ==== END: MAILBOX ==== */

/* ==== SECTION: QUEUE ==== */
/* ==== END: QUEUE ==== */

/* ==== SECTION: RPC ==== */
/* ==== END: RPC ==== */

#endif /* SHMBUS_HPP */
