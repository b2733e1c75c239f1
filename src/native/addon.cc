// Node-API entry points. Every function JS calls is prefixed Js. Arguments arrive validated by
// src/native/binding.ts; here we only convert types, call the OS layer and report errno.
#include <napi.h>
#include <uv.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include <atomic>
#include <memory>

#include "sab.h"
#include "shm_posix.h"
#include "waiter.h"

namespace shmbus {
namespace {

// Owned by the SharedArrayBuffer: freed (and munmapped) when the engine frees the buffer.
// Shared by every SharedArrayBuffer made over one mapping (the whole object and its payload slice):
// the last one the engine frees munmaps.
struct MappingState {
  Mapping m;
  std::atomic<int> refs{0};
  std::atomic<bool> released{false};
};

void releaseMapping(void* hint) {
  auto* st = static_cast<MappingState*>(hint);
  // acq_rel: the thread that drops the last reference must see every other holder's release.
  if (st->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  unmap(st->m.base, st->m.mapLength);
  delete st;
}

// SHMBUS_BUFFER=external forces the fallback (to test it where SharedArrayBuffers over the mapping work).
bool forceExternalBuffer() {
  static const bool forced = [] {
    const char* v = getenv("SHMBUS_BUFFER");
    return v != nullptr && strcmp(v, "external") == 0;
  }();
  return forced;
}

// A SharedArrayBuffer over [offset, offset+length) of the mapping; where the engine refuses one over external
// memory, an external (non-shared) ArrayBuffer over the same bytes: Atomics still work on it, only
// Atomics.wait (which shmbus never uses across processes) and sharing with worker_threads do not.
napi_value bufferOver(Napi::Env env, MappingState* st, size_t offset, size_t length) {
  napi_value buffer;
  st->refs.fetch_add(1, std::memory_order_relaxed);  // relaxed: a holder already keeps st alive here
  if (!forceExternalBuffer() &&
      createSharedArrayBuffer(env, st->m.data + offset, length, releaseMapping, st, &buffer) == napi_ok)
    return buffer;
  try {
    return Napi::ArrayBuffer::New(
        env, st->m.data + offset, length, [](Napi::Env, void*, MappingState* hint) { releaseMapping(hint); }, st);
  } catch (...) {
    releaseMapping(st);
    throw;
  }
}

Napi::Error osError(Napi::Env env, const OsError& e) {
  const char* name = strerrorname_np(e.err);
  Napi::Error err = Napi::Error::New(env, std::string(e.syscall) + ": " + strerror(e.err));
  err.Set("errno", Napi::Number::New(env, e.err));
  err.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  err.Set("syscall", Napi::String::New(env, e.syscall));
  return err;
}

Napi::Value wrapMapping(Napi::Env env, const Mapping& m) {
  auto* st = new MappingState();
  st->m = m;
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", Napi::Value(env, bufferOver(env, st, 0, m.length)));
  // The handle is only used while JS holds the buffer (Segment keeps both), so it never outlives st.
  out.Set("handle", Napi::External<MappingState>::New(env, st));
  return out;
}

uint8_t* viewAddress(const Napi::Value& v, size_t* byteLength) {
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  void* data = nullptr;
  size_t length = 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  NAPI_THROW_IF_FAILED(v.Env(), napi_get_typedarray_info(v.Env(), ta, &type, &length, &data, &ab, &offset), nullptr);
  *byteLength = ta.ByteLength();
  return static_cast<uint8_t*>(data);
}

uint32_t* wordAddress(const Napi::CallbackInfo& info) {
  size_t bytes = 0;
  uint8_t* base = viewAddress(info[0], &bytes);
  uint32_t index = info[1].As<Napi::Number>().Uint32Value();
  if ((static_cast<size_t>(index) + 1) * 4 > bytes) throw Napi::RangeError::New(info.Env(), "word index out of range");
  return reinterpret_cast<uint32_t*>(base) + index;
}

// The 64-bit CAS of the Queue/Rpc rings' (SEQ, PID) pairs (PROTOCOL.md §6) without BigInts: Atomics on a
// BigInt64Array allocate a BigInt for every operand and result (~10 per Queue round trip and side), and that garbage
// drove the scavenges in the round trip's tail (issue 12). A call costs about what the BigInt CAS cost (~90 ns here,
// mostly Node-API's own), with no garbage. Plain Node-API, no wrapper objects: it runs four times per message.
struct PairWords {
  uint32_t* base;
  size_t words;  // length of the Int32Array it was made from
};

// pairWords(words: Int32Array): an External naming the view's memory for cas64. The caller keeps `words` (and so the
// mapping) alive as long as it uses the External; made once per ring.
napi_value JsPairWords(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value out = nullptr;
  if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr) != napi_ok || argc != 1 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_int32_array) {
    napi_throw_type_error(env, nullptr, "pairWords: an Int32Array expected");
    return nullptr;
  }
  auto* p = new PairWords{static_cast<uint32_t*>(data), length};
  if (napi_create_external(
          env, p, [](node_api_basic_env, void* d, void*) { delete static_cast<PairWords*>(d); }, nullptr, &out) !=
      napi_ok) {
    delete p;
    return nullptr;
  }
  return out;
}

// The arguments (pairs, index, int32...) of cas64 and stampMicros: the PairWords and the index of a u64 whose two
// words lie inside its view (and, with `aligned`, start 8-byte aligned), plus `extra` int32s; null after throwing a
// RangeError naming `what`.
const PairWords* pairArgs(napi_env env, napi_callback_info cbinfo, size_t extra, bool aligned, const char* what,
                          uint32_t* index, int32_t* ints) {
  size_t argc = 2 + extra;
  napi_value argv[6];
  void* ext = nullptr;
  bool ok = extra <= 4 && napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr) == napi_ok &&
            argc == 2 + extra && napi_get_value_external(env, argv[0], &ext) == napi_ok && ext != nullptr &&
            napi_get_value_uint32(env, argv[1], index) == napi_ok;
  for (size_t i = 0; ok && i < extra; i++) ok = napi_get_value_int32(env, argv[2 + i], &ints[i]) == napi_ok;
  const PairWords* p = static_cast<const PairWords*>(ext);
  if (!ok || static_cast<size_t>(*index) + 2 > p->words ||
      (aligned && (reinterpret_cast<uintptr_t>(p->base + *index) & 7) != 0)) {
    napi_throw_range_error(env, nullptr, what);
    return nullptr;
  }
  return p;
}

// cas64(pairs, index, expectedLo, expectedHi, desiredLo, desiredHi): seq_cst compare-and-swap of the u64 whose low
// half is words[index] and high half words[index + 1]; true when it swapped.
napi_value JsCas64(napi_env env, napi_callback_info cbinfo) {
  uint32_t index = 0;
  int32_t half[4];
  // The pair must be 8-byte aligned (the rings' SEQ words are): anything else is a bug.
  const PairWords* p = pairArgs(env, cbinfo, 4, true, "cas64: an aligned pair index inside the view expected", &index, half);
  if (p == nullptr) return nullptr;
  uint64_t* word = reinterpret_cast<uint64_t*>(p->base + index);
  uint64_t expected = (static_cast<uint64_t>(static_cast<uint32_t>(half[1])) << 32) | static_cast<uint32_t>(half[0]);
  uint64_t desired = (static_cast<uint64_t>(static_cast<uint32_t>(half[3])) << 32) | static_cast<uint32_t>(half[2]);
  // seq_cst 64-bit CAS, like the JS Atomics it pairs with: the caller names the SYNC point (QUEUE-CLAIM, -COMMIT,
  // -TAKE, -FREE).
  bool swapped = __atomic_compare_exchange_n(word, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  napi_value result = nullptr;
  napi_get_boolean(env, swapped, &result);
  return result;
}

// stampMicros(pairs, index): stores the wall clock (CLOCK_REALTIME, microseconds since the Unix epoch, the unit of
// record and slot timestamps) as a u64 into words[index] (low half) and words[index + 1], with plain stores (the
// caller's commit store publishes them). A Topic publish stamped its record with performance.now(), ~100-150 ns and
// a heap number per message on Node 20 (issue 12): this costs the Node-API call and allocates nothing.
napi_value JsStampMicros(napi_env env, napi_callback_info cbinfo) {
  uint32_t index = 0;
  const PairWords* p = pairArgs(env, cbinfo, 0, false, "stampMicros: a u64 index inside the view expected", &index, nullptr);
  if (p == nullptr) return nullptr;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t us = static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
  p->base[index] = static_cast<uint32_t>(us);
  p->base[index + 1] = static_cast<uint32_t>(us >> 32);
  return nullptr;
}

// yieldCpu(late): sched_yield(), unless this thread may run on one CPU only and `late` is false. A spinning wait
// calls it about once a microsecond: when the process it waits for is runnable on the same core (a loaded machine,
// processes left to the scheduler), a pure spin keeps that process off the CPU for the whole spin budget (round trips
// of 2 x 50 µs measured). A pinned thread does not yield early in a spin: its peer is usually placed elsewhere, and
// there a yield only hands the core to helper threads (Queue p99 36-138 -> 225-745 µs measured on two pinned cores).
// But a pinned thread whose peer shares its one CPU (both pinned there, or a container limited to one CPU) must
// yield, or every wait burns its whole budget (Topic await read() on one core: 130 µs round trips): so the caller
// passes `late` = true once its spin has run SPIN_PINNED_YIELD_AFTER (base/spin.ts, 10 µs), and a pinned thread
// yields from then on. The affinity is re-read every 1024 calls, since a process may be pinned after it started.
// C's sbi_os_yield(spun_ns) follows the same rule.
napi_value JsYieldCpu(napi_env env, napi_callback_info info) {
  static thread_local uint32_t calls = 0;
  static thread_local bool pinned = false;
  if ((calls++ & 1023u) == 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    pinned = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) == 1;
  }
  if (pinned) {
    size_t argc = 1;
    napi_value arg;
    bool late = false;
    if (napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr) != napi_ok || argc < 1 || napi_get_value_bool(env, arg, &late) != napi_ok) late = false;
    if (!late) return nullptr;
  }
  sched_yield();
  return nullptr;
}

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) : env_(env) {
    DefineAddon(exports, {
        InstanceMethod("shmCreate", &Addon::JsShmCreate),
        InstanceMethod("shmOpen", &Addon::JsShmOpen),
        InstanceMethod("shmSize", &Addon::JsShmSize),
        InstanceMethod("shmUnlink", &Addon::JsShmUnlink),
        InstanceMethod("fileMap", &Addon::JsFileMap),
        InstanceMethod("flush", &Addon::JsFlush),
        InstanceMethod("release", &Addon::JsRelease),
        InstanceMethod("slice", &Addon::JsSlice),
        InstanceMethod("wait", &Addon::JsWait),
        InstanceMethod("wake", &Addon::JsWake),
        InstanceMethod("waiterInit", &Addon::JsWaiterInit),
        InstanceMethod("waitAsyncStart", &Addon::JsWaitAsyncStart),
        InstanceMethod("waitAsyncCancel", &Addon::JsWaitAsyncCancel),
        InstanceMethod("waiterRef", &Addon::JsWaiterRef),
        InstanceMethod("processStartTime", &Addon::JsProcessStartTime),
        InstanceMethod("listShm", &Addon::JsListShm),
        InstanceMethod("mappedShm", &Addon::JsMappedShm),
        InstanceMethod("copy", &Addon::JsCopy),
        InstanceMethod("fence", &Addon::JsFence),
        InstanceMethod("waiterKind", &Addon::JsWaiterKind),
    });
    // The pair CAS is plain Node-API (no instance data, no wrapper): see JsCas64.
    napi_value fn;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "pairWords", NAPI_AUTO_LENGTH, JsPairWords, nullptr, &fn));
    exports.Set("pairWords", Napi::Value(env, fn));
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "cas64", NAPI_AUTO_LENGTH, JsCas64, nullptr, &fn));
    exports.Set("cas64", Napi::Value(env, fn));
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "stampMicros", NAPI_AUTO_LENGTH, JsStampMicros, nullptr, &fn));
    exports.Set("stampMicros", Napi::Value(env, fn));
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "yieldCpu", NAPI_AUTO_LENGTH, JsYieldCpu, nullptr, &fn));
    exports.Set("yieldCpu", Napi::Value(env, fn));
  }

 private:
  Napi::Value JsShmCreate(const Napi::CallbackInfo& info) {
    Mapping m;
    OsError e;
    std::string name = info[0].As<Napi::String>();
    size_t size = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
    unsigned mode = info[2].As<Napi::Number>().Uint32Value();
    if (!shmCreate(name, size, mode, &m, &e)) throw osError(info.Env(), e);
    return wrapMapping(info.Env(), m);
  }

  Napi::Value JsShmOpen(const Napi::CallbackInfo& info) {
    Mapping m;
    OsError e;
    if (!shmOpen(info[0].As<Napi::String>(), info[1].As<Napi::Boolean>(), &m, &e)) throw osError(info.Env(), e);
    return wrapMapping(info.Env(), m);
  }

  Napi::Value JsShmSize(const Napi::CallbackInfo& info) {
    OsError e;
    int64_t size = shmSize(info[0].As<Napi::String>(), &e);
    if (size < 0) throw osError(info.Env(), e);
    return Napi::Number::New(info.Env(), static_cast<double>(size));
  }

  Napi::Value JsShmUnlink(const Napi::CallbackInfo& info) {
    OsError e;
    if (!shmUnlink(info[0].As<Napi::String>(), &e)) throw osError(info.Env(), e);
    return info.Env().Undefined();
  }

  Napi::Value JsFileMap(const Napi::CallbackInfo& info) {
    Mapping m;
    OsError e;
    uint64_t offset = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    uint64_t length = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
    if (!fileMap(info[0].As<Napi::String>(), offset, length, info[3].As<Napi::Boolean>(), &m, &e))
      throw osError(info.Env(), e);
    return wrapMapping(info.Env(), m);
  }

  Napi::Value JsFlush(const Napi::CallbackInfo& info) {
    auto* st = info[0].As<Napi::External<MappingState>>().Data();
    OsError e;
    if (!st->released && !flush(st->m.data, st->m.length, &e)) throw osError(info.Env(), e);
    return info.Env().Undefined();
  }

  Napi::Value JsRelease(const Napi::CallbackInfo& info) {
    auto* st = info[0].As<Napi::External<MappingState>>().Data();
    OsError e;
    if (!st->released.exchange(true) && !releaseRange(st->m.base, st->m.mapLength, &e)) throw osError(info.Env(), e);
    return info.Env().Undefined();
  }

  // A second SharedArrayBuffer over [offset, offset+length) of the same mapping (e.g. the payload after the header).
  Napi::Value JsSlice(const Napi::CallbackInfo& info) {
    auto* st = info[0].As<Napi::External<MappingState>>().Data();
    size_t offset = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
    size_t length = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
    if (offset > st->m.length || length > st->m.length - offset)
      throw Napi::RangeError::New(info.Env(), "slice out of range");
    return Napi::Value(info.Env(), bufferOver(info.Env(), st, offset, length));
  }

  Napi::Value JsWait(const Napi::CallbackInfo& info) {
    uint32_t* addr = wordAddress(info);
    uint32_t expected = static_cast<uint32_t>(info[2].As<Napi::Number>().Int64Value());
    double timeout = info[3].As<Napi::Number>().DoubleValue();
    return Napi::Number::New(info.Env(), futexWait(addr, expected, timeout));
  }

  Napi::Value JsWake(const Napi::CallbackInfo& info) {
    uint32_t* addr = wordAddress(info);
    int count = info[2].As<Napi::Number>().Int32Value();
    return Napi::Number::New(info.Env(), futexWake(addr, count));
  }

  struct Completion {
    uint64_t id;
    int result;
  };

  static void onWaitDone(void* ctx, uint64_t id, int result) {
    auto* self = static_cast<Addon*>(ctx);
    // Non-blocking: the queue is unbounded; if the environment is closing the call fails and the data is dropped.
    auto* c = new Completion{id, result};
    if (self->tsfn_.NonBlockingCall(c, [](Napi::Env env, Napi::Function cb, Completion* data) {
          std::unique_ptr<Completion> owned(data);
          napi_env e = env;
          if (e == nullptr || cb.IsEmpty()) return;
          // Plain Node-API calls, no C++ exceptions: this runs from the event loop, where a throw would reach
          // std::terminate. While the environment shuts down (process.exit with waits in flight) calls fail with
          // napi_cannot_run_js and the completion is dropped; a throw in the JS callback stays a pending JS
          // exception and surfaces as an uncaught exception, like any callback's.
          napi_value args[2];
          napi_value undefined;
          napi_value ignored;
          if (napi_create_double(e, static_cast<double>(owned->id), &args[0]) != napi_ok ||
              napi_create_int32(e, owned->result, &args[1]) != napi_ok || napi_get_undefined(e, &undefined) != napi_ok)
            return;
          napi_call_function(e, undefined, cb, 2, args, &ignored);
        }) != napi_ok)
      delete c;
  }

  // Completions of the io_uring waiter, on the loop thread: each resolves its wait in JS. napi_make_callback runs
  // the microtasks (the awaiting code) after each call, as a TSFN call does.
  static void OnUringReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<Addon*>(handle->data);
    if (self->uring_ == nullptr) return;
    napi_env e = self->env_;
    napi_handle_scope scope;
    if (napi_open_handle_scope(e, &scope) != napi_ok) return;
    self->uring_->reap(&Addon::OnUringDone, self);
    napi_close_handle_scope(e, scope);
  }

  static void OnUringDone(void* ctx, uint64_t id, int result) {
    auto* self = static_cast<Addon*>(ctx);
    napi_env e = self->env_;
    napi_value cb, global, args[2], ignored;
    // Plain Node-API, no C++ exceptions (we are in a libuv callback): a failure drops this completion; a throw in the
    // JS callback becomes an uncaught exception, as from any callback.
    if (napi_get_reference_value(e, self->onDone_, &cb) != napi_ok || cb == nullptr ||
        napi_get_global(e, &global) != napi_ok || napi_create_double(e, static_cast<double>(id), &args[0]) != napi_ok ||
        napi_create_int32(e, result, &args[1]) != napi_ok)
      return;
    if (napi_make_callback(e, self->asyncContext_, global, cb, 2, args, &ignored) == napi_pending_exception) {
      napi_value err;
      if (napi_get_and_clear_last_exception(e, &err) == napi_ok) napi_fatal_exception(e, err);
    }
  }

  // True under Node itself. The io_uring completions reach JS through a uv_poll, and only Node's libuv has one: Bun
  // and Deno hand out a stand-in loop from napi_get_uv_event_loop (Bun aborts in uv_poll_init; Deno never polls the
  // fd and its waits end only by timeout). There the futex_waitv group's ThreadSafeFunction, which both implement.
  static bool NodeLoop(napi_env env) {
    napi_value global;
    if (napi_get_global(env, &global) != napi_ok) return false;
    for (const char* other : {"Bun", "Deno"}) {
      bool has = true;
      if (napi_has_named_property(env, global, other, &has) != napi_ok || has) return false;
    }
    return true;
  }

  // io_uring when the kernel has FUTEX_WAIT there (the loop thread sleeps on the futex itself: no thread hop), else
  // the futex_waitv group (or thread-per-wait) behind a ThreadSafeFunction.
  bool StartUring(Napi::Env env, Napi::Function onDone) {
    if (!NodeLoop(env)) return false;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return false;
    uring_ = UringWaiter::create();
    if (uring_ == nullptr) return false;
    auto* poll = new uv_poll_t();
    if (uv_poll_init(loop, poll, uring_->eventFd()) != 0) {
      delete poll;
      delete uring_;
      uring_ = nullptr;
      return false;
    }
    poll->data = this;
    uv_poll_start(poll, UV_READABLE, &Addon::OnUringReadable);
    uv_unref(reinterpret_cast<uv_handle_t*>(poll));  // binding.ts refs it only while waits are pending
    poll_ = poll;
    napi_create_reference(env, onDone, 1, &onDone_);
    // One async resource for every completion, as the TSFN had (async_hooks see the callbacks as its).
    napi_value resourceName;
    if (napi_create_string_utf8(env, "shmbus-waiter", NAPI_AUTO_LENGTH, &resourceName) == napi_ok)
      napi_async_init(env, nullptr, resourceName, &asyncContext_);
    return true;
  }

  Napi::Value JsWaiterInit(const Napi::CallbackInfo& info) {
    if (!waiter_ && !uring_ && !shutDown_) {
      if (!StartUring(info.Env(), info[0].As<Napi::Function>())) {
        tsfn_ = Napi::ThreadSafeFunction::New(info.Env(), info[0].As<Napi::Function>(), "shmbus-waiter", 0, 1);
        tsfn_.Unref(info.Env());  // binding.ts refs it only while waits are pending
        waiter_ = new AsyncWaiter(&Addon::onWaitDone, this);
      }
      // Registered after the TSFN, so it runs before the TSFN's own cleanup (hooks run last-in, first-out): the
      // waiter threads are stopped and joined while the TSFN they call is still alive (worker.terminate(), the
      // end of a worker or of the main thread). process.exit runs no hooks: the waiter's atexit quiesce covers it
      // (the io_uring waiter has no threads: the kernel drops its waits with the process).
      NAPI_THROW_IF_FAILED(info.Env(), napi_add_env_cleanup_hook(info.Env(), &Addon::OnEnvCleanup, this),
                           info.Env().Undefined());
      hooked_ = true;
    }
    return info.Env().Undefined();
  }

  Napi::Value JsWaitAsyncStart(const Napi::CallbackInfo& info) {
    uint32_t* addr = wordAddress(info);
    uint32_t expected = static_cast<uint32_t>(info[2].As<Napi::Number>().Int64Value());
    uint64_t id = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
    if (uring_) {
      if (!uring_->add(id, addr, expected)) {
        Napi::Error err = Napi::Error::New(info.Env(), "the kernel refused an io_uring futex wait");
        err.Set("code", Napi::String::New(info.Env(), "EAGAIN"));
        throw err;
      }
      return info.Env().Undefined();
    }
    if (!waiter_ || !waiter_->add(id, addr, expected)) {
      Napi::Error err = Napi::Error::New(
          info.Env(), waiter_ && waiter_->usesThreadPerWait()
                          ? "too many pending async waits: thread-per-wait mode (no futex_waitv) allows " +
                                std::to_string(AsyncWaiter::kMaxThreadWaits)
                          : std::string("could not start a waiter thread"));
      err.Set("code", Napi::String::New(info.Env(), "EAGAIN"));
      throw err;
    }
    return info.Env().Undefined();
  }

  Napi::Value JsWaitAsyncCancel(const Napi::CallbackInfo& info) {
    uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
    if (uring_) uring_->cancel(id);
    if (waiter_) waiter_->cancel(id);
    return info.Env().Undefined();
  }

  Napi::Value JsWaiterRef(const Napi::CallbackInfo& info) {
    if (poll_) {
      if (info[0].As<Napi::Boolean>())
        uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
      else
        uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
      return info.Env().Undefined();
    }
    if (!waiter_) return info.Env().Undefined();
    if (info[0].As<Napi::Boolean>())
      tsfn_.Ref(info.Env());
    else
      tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value JsWaiterKind(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), uring_                                    ? "io_uring"
                                          : waiter_ && waiter_->usesThreadPerWait() ? "thread-per-wait"
                                                                                    : "futex_waitv");
  }

  Napi::Value JsProcessStartTime(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(processStartTime(info[0].As<Napi::Number>().Int32Value())));
  }

  Napi::Value JsListShm(const Napi::CallbackInfo& info) {
    auto entries = listShm(info[0].As<Napi::String>(), info[1].As<Napi::Number>().Uint32Value());
    Napi::Array out = Napi::Array::New(info.Env(), entries.size());
    for (size_t i = 0; i < entries.size(); i++) {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("osName", entries[i].osName);
      o.Set("size", Napi::Number::New(info.Env(), static_cast<double>(entries[i].size)));
      o.Set("head", Napi::Buffer<uint8_t>::Copy(info.Env(), entries[i].head.data(), entries[i].head.size()));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

  Napi::Value JsMappedShm(const Napi::CallbackInfo& info) {
    auto names = mappedShm(info[0].As<Napi::String>());
    Napi::Array out = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); i++) out.Set(static_cast<uint32_t>(i), names[i]);
    return out;
  }

  // copy(dst, dstOffset, src, srcOffset, length): memcpy between two typed arrays (shared or not); offsets in bytes.
  // V8 copies into and out of a SharedArrayBuffer at about half memcpy speed, so bulk payloads come through here.
  Napi::Value JsCopy(const Napi::CallbackInfo& info) {
    size_t dstLen = 0, srcLen = 0;
    uint8_t* dst = viewAddress(info[0], &dstLen);
    size_t dstOff = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
    uint8_t* src = viewAddress(info[2], &srcLen);
    size_t srcOff = static_cast<size_t>(info[3].As<Napi::Number>().Int64Value());
    size_t n = static_cast<size_t>(info[4].As<Napi::Number>().Int64Value());
    if (dstOff > dstLen || n > dstLen - dstOff || srcOff > srcLen || n > srcLen - srcOff)
      throw Napi::RangeError::New(info.Env(), "copy out of range");
    memmove(dst + dstOff, src + srcOff, n);
    return info.Env().Undefined();
  }

  // fence(kind): 0 = acquire, 1 = release (C11 atomic_thread_fence). The seqlock paths call it on weakly ordered
  // CPUs only (src/base/fence.ts); x86-64 needs neither.
  Napi::Value JsFence(const Napi::CallbackInfo& info) {
    if (info[0].As<Napi::Number>().Int32Value() == 0) std::atomic_thread_fence(std::memory_order_acquire);
    else std::atomic_thread_fence(std::memory_order_release);
    return info.Env().Undefined();
  }

  // Stops and joins the waiter threads, then releases the TSFN: no thread can call it afterwards.
  void ShutdownWaiter() {
    if (poll_) {
      // uv_close stops polling at once (the fd may close right after); the handle is freed by the loop, or leaked
      // if the loop never turns again (environment teardown): a few bytes.
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (uring_) {
      delete uring_;
      uring_ = nullptr;
      shutDown_ = true;
    }
    if (asyncContext_ != nullptr) {
      napi_async_destroy(env_, asyncContext_);
      asyncContext_ = nullptr;
    }
    if (onDone_ != nullptr) {
      napi_delete_reference(env_, onDone_);
      onDone_ = nullptr;
    }
    if (!waiter_) return;
    waiter_->shutdown();
    delete waiter_;
    waiter_ = nullptr;
    shutDown_ = true;
    tsfn_.Release();
  }

  static void OnEnvCleanup(void* arg) {
    auto* self = static_cast<Addon*>(arg);
    self->hooked_ = false;
    self->ShutdownWaiter();
  }

 public:
  // The instance data finalizer (environment teardown). Normally the cleanup hook has already run.
  ~Addon() {
    if (hooked_) napi_remove_env_cleanup_hook(env_, &Addon::OnEnvCleanup, this);
    ShutdownWaiter();
  }

 private:
  Napi::ThreadSafeFunction tsfn_;
  AsyncWaiter* waiter_ = nullptr;  // one per environment (this addon instance); null before waiterInit
  UringWaiter* uring_ = nullptr;   // instead of waiter_ where io_uring has FUTEX_WAIT
  uv_poll_t* poll_ = nullptr;      // polls uring_'s eventfd on this environment's loop
  napi_ref onDone_ = nullptr;      // the JS completion callback (io_uring mode)
  napi_async_context asyncContext_ = nullptr;  // its async resource
  napi_env env_;
  bool hooked_ = false;
  bool shutDown_ = false;
};

}  // namespace
}  // namespace shmbus

using ShmbusAddon = shmbus::Addon;
NODE_API_ADDON(ShmbusAddon)
