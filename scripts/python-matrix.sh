#!/usr/bin/env bash
# The Python peer on every CPython from 3.9 to 3.13 this machine has (pyenv under /root/.pyenv/versions, or
# SHMBUS_PY_VERSIONS_DIR): per minor version, a venv under .cache/pyvenv-<x.y> with cffi + pytest from the local
# package index, `pip install ./python` as a user would, and a pytest subset. Where the interpreter or a wheel the
# package needs (cffi, a compiled module: nothing builds it offline) is missing, the version is skipped with the
# reason printed, after the checks that need no wheel: every module byte-compiles and the CPython-API part
# (python/_build/speed.c) compiles against that version's headers.
# Prints one "python-matrix: <version>: ok|skipped|FAILED ..." line per version; exits 1 if any FAILED.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
versions_dir="${SHMBUS_PY_VERSIONS_DIR:-/root/.pyenv/versions}"
index="${SHMBUS_PIP_INDEX:-file:///opt/pypi/simple}"
subset=(python/tests/test_basics.py python/tests/test_topic.py python/tests/test_queue.py python/tests/test_mailbox.py
  python/tests/test_aio.py python/tests/test_vectors.py)
# cffi's C library (libffi) headers are not needed: the package is cffi API mode, compiled by the C compiler.
pip_quiet=(--quiet --disable-pip-version-check --no-input --index-url "$index")
failed=0
main_version="$("${SHMBUS_PYTHON:-python3}" -c 'import platform; print(platform.python_version())' 2>/dev/null || true)"

for minor in 9 10 11 12 13; do
  want="3.$minor"
  py="$(ls -d "$versions_dir/$want".* 2>/dev/null | sort -V | tail -1)"
  if [ -z "$py" ] || [ ! -x "$py/bin/python3" ]; then
    echo "python-matrix: $want: skipped (no interpreter under $versions_dir)"
    continue
  fi
  py="$py/bin/python3"
  version="$("$py" -c 'import platform; print(platform.python_version())')"
  # Checks that need no wheel.
  # The byte code goes to a scratch prefix: nothing is written into the source tree (npm pack ships python/).
  if ! PYTHONPYCACHEPREFIX="$root/.cache/pycache-matrix" "$py" -m compileall -q -f -d shmbus "$root/python/shmbus" >/dev/null; then
    echo "python-matrix: $version: FAILED (a module does not byte-compile)"
    failed=1
    continue
  fi
  inc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  if ! cc -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -Werror -fsyntax-only -I"$inc" -I"$root/c" "$root/python/_build/speed.c"; then
    echo "python-matrix: $version: FAILED (python/_build/speed.c does not compile against its headers)"
    failed=1
    continue
  fi
  if [ "$version" = "$main_version" ] && [ -z "${SHMBUS_PY_MATRIX_ALL:-}" ]; then
    echo "python-matrix: $version: ok (the interpreter of the main pytest run, scripts/python-setup.sh)"
    continue
  fi
  venv="$root/.cache/pyvenv-$want"
  # A version found without a wheel stays skipped until its venv is removed (pip's offline misses are slow).
  if [ -f "$venv/.shmbus-missing" ]; then
    echo "python-matrix: $version: skipped after the compile checks ($(cat "$venv/.shmbus-missing"))"
    continue
  fi
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv" || { echo "python-matrix: $version: skipped (venv creation failed)"; continue; }
  fi
  missing=()
  for pkg in cffi pytest setuptools; do
    "$venv/bin/python" -c "import $pkg" 2>/dev/null && continue
    "$venv/bin/python" -m pip install "${pip_quiet[@]}" "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    reason="pip cannot install ${missing[*]} for cp3$minor from $index: no wheel for it or for a dependency"
    echo "$reason" > "$venv/.shmbus-missing"
    echo "python-matrix: $version: skipped after the compile checks ($reason)"
    continue
  fi
  "$venv/bin/python" -m pip install "${pip_quiet[@]}" numpy >/dev/null 2>&1 || echo "python-matrix: $version: (numpy has no wheel here: its tests skip)"
  if ! (cd "$root" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation \
      --no-index --no-deps --force-reinstall ./python >/dev/null); then
    echo "python-matrix: $version: FAILED (pip install ./python)"
    failed=1
    continue
  fi
  if (cd "$root" && SHMBUS_TEST_RUN="${SHMBUS_TEST_RUN:-py}" "$venv/bin/python" -m pytest -q -p no:cacheprovider "${subset[@]}" > "$venv/pytest.log" 2>&1); then
    echo "python-matrix: $version: ok ($(tail -1 "$venv/pytest.log"))"
  else
    echo "python-matrix: $version: FAILED (pytest; log: $venv/pytest.log)"
    tail -20 "$venv/pytest.log"
    failed=1
  fi
done
exit $failed
