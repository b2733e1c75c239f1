#!/usr/bin/env bash
# Installs iceoryx 2.x (Debian packages) for the side-by-side rows of `npm run bench` (issue 12): RouDi
# (`iox-roudi`), the posh and hoofs headers and libraries, and g++ to build bench/c/iox-pingpong.cpp.
# Idempotent: a no-op when everything is there. Needs root and apt-get; otherwise says what is missing and
# exits 1 (the bench then skips the iceoryx rows with a note).
set -euo pipefail
pkgs=(iceoryx libiceoryx-posh-dev libiceoryx-hoofs-dev g++)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "iceoryx: missing ${need[*]}; install them with: apt-get install ${need[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
