#!/usr/bin/env bash
# Builds the libFuzzer targets of the C peer (c/fuzz/fuzz_*.c, clang -fsanitize=fuzzer,address,undefined) and runs
# each for a while from its seed corpus: real segments of every kind (gen_seeds.c) and the Frame test vector.
#   bash c/fuzz/run.sh [seconds per target]   (default 4; SHMBUS_SLOW=1: 300)
# Prints one line per target and "N passed, M failed" last; a crash leaves its input in c/build/fuzz/crashes/
# (replay: c/build/fuzz/<target> <input>) and fails the run. Without clang's libFuzzer it says so and exits 0
# with "0 passed, 0 failed" (scripts/ci-deps.sh installs it).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
c="$(dirname "$here")"
root="$(dirname "$c")"
secs="${1:-$([ "${SHMBUS_SLOW:-}" = 1 ] && echo 300 || echo 4)}"
out="$c/build/fuzz"
mkdir -p "$out/crashes"
cc="${SHMBUS_FUZZ_CC:-clang}"
if ! echo 'int LLVMFuzzerTestOneInput(const unsigned char* d, unsigned long n) { (void)d; (void)n; return 0; }' \
  | "$cc" -x c -fsanitize=fuzzer,address -o "$out/.probe" - 2>/dev/null; then
  echo "c/fuzz: $cc with libFuzzer is not installed (scripts/ci-deps.sh installs clang and libclang-rt-dev): skipped"
  echo "0 passed, 0 failed"
  exit 0
fi
rm -f "$out/.probe"
san=(-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -pthread -I"$c")
passed=0
failed=0
# The library once (instrumented for coverage, not linked with libFuzzer's main), then each target against it.
lib="$out/shmbus.fuzz.o"
if [ ! -f "$lib" ] || [ -n "$(find "$c/src" "$c/shmbus.c" "$c/shmbus.h" -newer "$lib" 2>/dev/null | head -1)" ]; then
  "$cc" "${san[@]}" -fsanitize=fuzzer-no-link -c "$c/shmbus.c" -o "$lib" || { echo "FAIL: c/shmbus.c does not build with $cc"; echo "0 passed, 1 failed"; exit 1; }
fi
build() { # target
  if [ ! "$out/$1" -nt "$here/$1.c" ] || [ "$lib" -nt "$out/$1" ]; then
    "$cc" "${san[@]}" -fsanitize=fuzzer "$here/$1.c" "$lib" -o "$out/$1" || return 1
  fi
}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Seeds: real segments made by the library.
"$cc" -g -O1 -pthread -I"$c" "$here/gen_seeds.c" "$c/shmbus.c" -o "$out/gen_seeds" && mkdir -p "$work/segment" && "$out/gen_seeds" "$work/segment"
mkdir -p "$work/frame" "$work/parts"
cp "$root/test/vectors/frame.bin" "$work/frame/" 2>/dev/null || true
cp "$root/test/vectors/parts.bin" "$work/parts/" 2>/dev/null || true
targets=(fuzz_frame fuzz_segment)
grep -q shmbus_parts_reader_init "$c/shmbus.h" && targets+=(fuzz_parts) # the Parts codec, where it exists
for target in "${targets[@]}"; do
  corpus="$work/${target#fuzz_}"
  mkdir -p "$corpus"
  if ! build "$target"; then
    echo "FAIL $target: does not build"
    failed=$((failed + 1))
    continue
  fi
  # -timeout: an input that takes more than 10 s is a hang; -rss_limit_mb keeps two runners within a small machine.
  log="$work/$target.log"
  if (cd "$out/crashes" && ASAN_OPTIONS=detect_leaks=1 "$out/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
      -print_final_stats=1 "$corpus" >"$log" 2>&1); then
    echo "ok $target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') inputs in ${secs} s, corpus $(ls "$corpus" | wc -l)"
    passed=$((passed + 1))
  else
    echo "FAIL $target (input saved in $out/crashes):"
    grep -E 'ERROR|SUMMARY|returned|abort|Test unit written' "$log" | head -20
    tail -30 "$log"
    failed=$((failed + 1))
  fi
done
# Regression inputs (every crash found so far, kept as c/fuzz/regressions/<target>/*): each must run clean.
for dir in "$here"/regressions/*/; do
  [ -d "$dir" ] || continue
  target="$(basename "$dir")"
  [ -x "$out/$target" ] || continue
  if "$out/$target" "$dir"* >"$work/regress.log" 2>&1; then
    echo "ok $target regressions: $(ls "$dir" | wc -l) inputs"
    passed=$((passed + 1))
  else
    echo "FAIL $target regressions:"
    tail -30 "$work/regress.log"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
