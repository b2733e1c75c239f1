#!/usr/bin/env bash
# Builds the C peer with CMake, installs it into a temporary prefix, then builds and runs two consumers of the
# installed package: a C++17 program through find_package(shmbus) (shmbus::shmbus) and a C program through
# pkg-config; then the same two against a `make install` of the plain Makefile. Prints "consumer: ok" or what
# failed; exit status 0 only on success. Temporary files are removed.
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/shmbus-consumer.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log="$tmp/log"
step() {
  if ! "$@" >>"$log" 2>&1; then
    cat "$log"
    echo "consumer: failed: $*"
    exit 1
  fi
}
step cmake -S "$here" -B "$tmp/build" -DSHMBUS_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$tmp/prefix"
step cmake --build "$tmp/build" -j2 --target shmbus_shared shmbus_static
step cmake --install "$tmp/build"
# Both consumers against one installed prefix: find_package (C++) and pkg-config (C).
consumers() {
  local prefix="$1" tag="$2"
  step cmake -S "$here/tests/consumer" -B "$tmp/consumer-$tag" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
  step cmake --build "$tmp/consumer-$tag"
  step env LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64" "$tmp/consumer-$tag/consumer"
  # shellcheck disable=SC2046
  step cc -std=c11 -Wall -Wextra -Werror -pedantic "$here/tests/consumer/consumer.c" -o "$tmp/consumer-c-$tag" \
    $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib64/pkgconfig" pkg-config --cflags --libs shmbus)
  step env LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64" "$tmp/consumer-c-$tag"
}
consumers "$tmp/prefix" cmake
# The same package from the plain Makefile: make install.
step make -C "$here" install BUILD="$tmp/make-build" PREFIX="$tmp/make-prefix"
consumers "$tmp/make-prefix" make
echo "consumer: ok"
