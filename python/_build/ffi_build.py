"""cffi builder (API mode, out of line) for `shmbus._native`: the C peer compiled from ../c/shmbus.c.

CDEF declares the part of c/shmbus.h that Python calls. In API mode the generated C calls every function with
these exact types, so a declaration that drifts from the header fails the build instead of corrupting memory.
"""
from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

C_DIR = Path(os.environ.get("SHMBUS_C_DIR", Path(__file__).resolve().parents[2] / "c")).resolve()

CDEF = (Path(__file__).resolve().parent / "cdef.h").read_text()


def ffibuilder() -> FFI:
    unity = C_DIR / "shmbus.c"
    if not unity.is_file():
        raise RuntimeError(f"shmbus: the C peer is missing ({unity}); build from a checkout that has c/")
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        "shmbus._native",
        '#include "shmbus.h"\n',
        # speed.c: the CPython-API hot path (module shmbus._speed, loaded from this same file by _lib.py)
        sources=[str(unity), str(Path(__file__).resolve().parent / "speed.c")],
        include_dirs=[str(C_DIR)],
        extra_compile_args=["-O2", "-std=gnu11", "-pthread", "-D_GNU_SOURCE"],
        extra_link_args=["-pthread"],
    )
    return ffi


if __name__ == "__main__":  # python _build/ffi_build.py: compile into ./build-native for a quick check
    print(ffibuilder().compile(tmpdir="build-native", verbose=True))
