// Node >= 22 has node_api_create_external_sharedarraybuffer (experimental Node-API, ABI-stable, links with mingw).
// Node 20 lacks it: there V8's own API makes the buffer. The choice is made by the headers we compile against.
#include "sab.h"

#ifdef NODE_API_EXPERIMENTAL_HAS_CREATE_EXTERNAL_SHAREDARRAYBUFFER

#ifndef _WIN32
// Weak: the Node-API build is also loaded by runtimes without this function (Bun, Deno). There the symbol resolves
// to null instead of killing the process at the first call, and we report failure: the caller then makes an
// external (non-shared) ArrayBuffer over the mapping.
#pragma weak node_api_create_external_sharedarraybuffer
#endif

namespace shmbus {
namespace {
struct Release {
  ReleaseFn fn;
  void* hint;
};
void onFinalize(void* /*data*/, void* hint) {
  auto* r = static_cast<Release*>(hint);
  r->fn(r->hint);
  delete r;
}
}  // namespace

napi_status createSharedArrayBuffer(napi_env env, void* data, size_t length, ReleaseFn release, void* hint,
                                    napi_value* result) {
#ifndef _WIN32
  if (&node_api_create_external_sharedarraybuffer == nullptr) return napi_generic_failure;
#endif
  auto* r = new Release{release, hint};
  napi_status s = node_api_create_external_sharedarraybuffer(env, data, length, onFinalize, r, result);
  if (s != napi_ok) delete r;
  return s;
}
}  // namespace shmbus

#else  // Node 20: V8 API

#include <v8.h>

namespace shmbus {
namespace {
struct Release {
  ReleaseFn fn;
  void* hint;
};
// May run on any thread, after the isolate no longer references the memory.
void onDelete(void* /*data*/, size_t /*length*/, void* deleterData) {
  auto* r = static_cast<Release*>(deleterData);
  r->fn(r->hint);
  delete r;
}
}  // namespace

napi_status createSharedArrayBuffer(napi_env /*env*/, void* data, size_t length, ReleaseFn release, void* hint,
                                    napi_value* result) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  auto* r = new Release{release, hint};
  std::unique_ptr<v8::BackingStore> store = v8::SharedArrayBuffer::NewBackingStore(data, length, onDelete, r);
  v8::Local<v8::SharedArrayBuffer> sab = v8::SharedArrayBuffer::New(isolate, std::move(store));
  // Node's napi_value is a v8::Local's slot pointer (v8impl::JsValueFromV8LocalValue does the same cast).
  *result = reinterpret_cast<napi_value>(*sab);
  return napi_ok;
}
}  // namespace shmbus

#endif
