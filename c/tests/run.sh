#!/usr/bin/env bash
# Builds the C peer (make -C c) and runs every test binary in c/build/tests. Prints each binary's output and, as
# its last line, "N passed, M failed" summed over all of them (a binary that crashes or prints no summary counts
# as one failure). Exit status 0 only when nothing failed.
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
passed=0
failed=0

# make with its output shown only on failure; a failed build counts as one failure.
build() {
  local log
  log="$(make -C "$here" -j2 "$@" 2>&1)" && return 0
  printf '%s\n' "$log"
  echo "make -C c $* failed"
  failed=$((failed + 1))
  return 1
}

# Runs every test_* binary of directory $1 (label $2) and adds its summary line to the totals.
run_dir() {
  local t out rc line
  for t in "$1"/test_*; do
    [ -x "$t" ] || continue
    echo "=== $2 $(basename "$t")"
    out="$("$t" 2>&1)"
    rc=$?
    printf '%s\n' "$out"
    line="$(printf '%s\n' "$out" | tail -n 1)"
    if [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
      passed=$((passed + BASH_REMATCH[1]))
      failed=$((failed + BASH_REMATCH[2]))
      if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then failed=$((failed + 1)); fi
    else
      echo "$2 $(basename "$t"): exit $rc without a summary line"
      failed=$((failed + 1))
    fi
  done
}

if build; then run_dir "$here/build/tests" "c"; fi

# ==== SECTION: SANITIZERS (c-sync) ====
# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer (all) and ThreadSanitizer (the concurrency
# tests: Makefile TSAN_NAMES). A sanitizer report fails the binary (non-zero exit), which counts as a failure.
# SHMBUS_C_SANITIZERS=0 skips them (e.g. a compiler without the sanitizer runtimes).
if [ "${SHMBUS_C_SANITIZERS:-1}" != "0" ]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
  if build asan; then run_dir "$here/build/asan/tests" "asan"; fi
  if build tsan; then run_dir "$here/build/tsan/tests" "tsan"; fi
fi
# The installed package: CMake build + install into a temporary prefix, then a C++ consumer through
# find_package(shmbus) and a C consumer through pkg-config (tests/consumer.sh, about 10 s). One test; skipped
# (with a line saying so) without cmake or pkg-config, or with SHMBUS_C_CONSUMER=0.
if [ "${SHMBUS_C_CONSUMER:-1}" != "0" ] && command -v cmake >/dev/null && command -v pkg-config >/dev/null; then
  echo "=== consumer (cmake install, find_package, pkg-config)"
  if bash "$here/tests/consumer.sh"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
else
  echo "=== consumer: skipped (SHMBUS_C_CONSUMER=0, or no cmake / pkg-config)"
fi
# ==== END: SANITIZERS ====

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
