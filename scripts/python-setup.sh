#!/usr/bin/env bash
# The Python peer as a user installs it: a venv under .cache/pyvenv (system site-packages, so numpy, cffi and
# pytest come from the machine: no index is reached) and `pip install ./python`, which compiles c/shmbus.c.
# A no-op (no pip run) while the sources it installs from are unchanged. Prints the venv's python on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.cache/pyvenv"
py="${SHMBUS_PYTHON:-python3}"
stamp="$venv/.shmbus-sources"

if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv --system-site-packages "$venv"
fi
# What the installed package is made of: the package, its build backend, and the C peer (not tests, not c/build).
sources="$(cd "$root" && find python/shmbus python/_build python/pyproject.toml c -type f \
  \( -name '*.py' -o -name '*.pyi' -o -name 'py.typed' -o -name '*.toml' -o -name '*.c' -o -name '*.h' \) \
  -not -path 'c/build/*' -not -path 'c/tests/*' -not -path '*/__pycache__/*' 2>/dev/null | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-64)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sources" ] && (cd / && "$venv/bin/python" -c 'import shmbus._native') 2>/dev/null; then
  echo "python-setup: shmbus in $venv is up to date"
else
  (cd "$root" && "$venv/bin/python" -m pip install --quiet --no-build-isolation --no-index --no-deps --force-reinstall ./python)
  echo "$sources" > "$stamp"
  echo "python-setup: installed shmbus into $venv"
fi
echo "$venv/bin/python"
