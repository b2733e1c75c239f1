#!/usr/bin/env bash
# System packages the test suites need beyond a fresh machine (Debian). Idempotent; a no-op when all are there.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
command -v setpriv >/dev/null || need+=(util-linux)
command -v taskset >/dev/null || need+=(util-linux)
command -v strace >/dev/null || need+=(strace)
# The C peer: make (c/Makefile), cmake and pkg-config (c/tests/consumer.sh checks the installed package).
command -v make >/dev/null || need+=(make)
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
# The Python peer (scripts/python-setup.sh): python3 with venv, cffi, numpy and pytest. A python3 that lacks them
# (Debian's own, on a bare PATH) gets Debian's packages; a python3 from elsewhere (pyenv) brings its own.
if ! python3 -c 'import cffi, numpy, pytest, hypothesis, venv' >/dev/null 2>&1 && [ "$(command -v python3 || true)" = /usr/bin/python3 ]; then
  need+=(python3-venv python3-cffi python3-numpy python3-pytest python3-hypothesis python3-dev)
fi
# The NATS bridge tests (test/bridge) start a real nats-server with JetStream.
command -v nats-server >/dev/null || need+=(nats-server)
# The C fuzz targets (c/fuzz/run.sh): clang with libFuzzer and the sanitizers' runtimes (libclang-rt-dev).
[ -n "$(find /usr/lib/llvm-*/lib/clang -name 'libclang_rt.fuzzer-*.a' 2>/dev/null | head -1)" ] || need+=(clang libclang-rt-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
  else
    echo "missing: ${need[*]} (install them with apt-get)" >&2
  fi
fi

# The viewer tests (test/cli/viewer.test.ts) drive Debian's chromium headless through playwright-core.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  else
    echo "missing: chromium (apt-get install chromium; the viewer tests are skipped without it)" >&2
  fi
fi
