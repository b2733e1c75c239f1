// The one seam that differs by Node version: a SharedArrayBuffer over memory we mapped.
#pragma once
#include <cstddef>
#include <node_api.h>

namespace shmbus {
using ReleaseFn = void (*)(void* hint);
// Creates a SharedArrayBuffer over [data, data+length); release(hint) runs once the engine frees it (at GC).
napi_status createSharedArrayBuffer(napi_env env, void* data, size_t length, ReleaseFn release, void* hint,
                                    napi_value* result);
}  // namespace shmbus
