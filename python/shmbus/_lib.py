"""The compiled C peer (`_native`, built by cffi at install time) and the glue every class uses: status checks,
timeouts in seconds, names, the bytes-like argument rules, and the handle guard that keeps C memory mapped while
Python still holds views of it."""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional, Union

import importlib.util

from . import _native  # type: ignore[attr-defined]
from ._native import ffi, lib  # type: ignore[import-not-found]
from .errors import EAGAIN, EEND, ShmbusError, code_of, make_error

__all__ = ["ffi", "lib", "check", "fail", "timeout_ms", "encode_name", "as_bytes", "Handle", "EAGAIN", "EEND"]

BytesLike = Union[bytes, bytearray, memoryview, str, Any]
FOREVER = -1
# Beyond this many seconds (31 700 years) a timeout means "forever", as in Node: no int64 overflow.
_FOREVER_S = 1e12


def fail(status: int) -> ShmbusError:
    """The exception for a negative C status, with the calling thread's last error message."""
    msg = ffi.string(lib.shmbus_last_error_message()).decode("utf-8", "replace")
    if not msg:
        msg = ffi.string(lib.shmbus_strerror(status)).decode("utf-8", "replace")
    return make_error(code_of(status), msg)


def _load_speed() -> Any:
    """shmbus._speed (python/_build/speed.c): the CPython-API hot path, compiled into the same shared object as
    _native (one copy of the C library), so it is loaded from that file under its own name."""
    spec = importlib.util.spec_from_file_location("shmbus._speed", _native.__file__)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.init(fail)
    return mod


speed = _load_speed()


def address(ptr: Any) -> int:
    """A C handle pointer as an int (what _speed takes)."""
    return int(ffi.cast("uintptr_t", ptr))


def check(status: int) -> int:
    if status < 0:
        raise fail(status)
    return status


def invalid(message: str) -> ShmbusError:
    return make_error("ERR_INVALID_ARG", message)


def timeout_ms(seconds: Optional[float], name: str = "timeout") -> int:
    """Seconds (None or inf = forever, 0 = try once) -> the C library's int64 milliseconds (-1 = forever).
    A positive timeout never rounds down to 0 ("try once"): 0.0001 s waits 1 ms."""
    if seconds is None:
        return FOREVER
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise invalid(f"{name} must be a number of seconds or None, got {type(seconds).__name__}")
    if math.isnan(seconds) or seconds < 0:
        raise invalid(f"{name} must be >= 0 seconds or None, got {seconds!r}")
    if seconds >= _FOREVER_S:
        return FOREVER
    return int(math.ceil(seconds * 1000.0))


def encode_name(name: str, what: str = "name") -> bytes:
    if not isinstance(name, str):
        raise make_error("ERR_INVALID_NAME", f"{what} must be a str, got {type(name).__name__}")
    if "\x00" in name:
        raise make_error("ERR_INVALID_NAME", f"{what} contains a NUL character")
    return name.encode("utf-8")


def as_bytes(data: BytesLike, what: str = "data") -> Any:
    """A C-contiguous bytes-like view of `data` (bytes, bytearray, memoryview, numpy array, any buffer) or a str
    encoded as UTF-8. Raises ERR_INVALID_ARG otherwise."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray)):
        return data
    try:
        mv = memoryview(data)
    except TypeError:
        raise invalid(f"{what} must be bytes, bytearray, memoryview, a numpy array or str, got {type(data).__name__}") from None
    if not mv.c_contiguous:
        raise invalid(f"{what} must be C-contiguous (np.ascontiguousarray it first)")
    return mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv


class Handle:
    """Owns one C handle. close() detaches at once for Python (later calls raise ERR_CLOSED), but the C close
    runs only once no call is inside the C library on this handle (a blocking wait in another thread ends within
    one wait slice) and no memoryview into its mapping is left, so a stale view stays valid memory instead of
    faulting (Node gets the same from replacing the range with zero pages).

    `keep` is a cdata at the mapping's first byte whose destructor is the C close: in-flight calls hold it in a
    local, and views are slices of one memoryview over ffi.buffer(keep), which references it."""

    __slots__ = ("ptr", "keep", "mem", "_closed", "__weakref__")

    def __init__(self, ptr: Any, closer: Callable[[Any], None], base: Any = None, size: int = 0) -> None:
        self.ptr = ptr
        self._closed = False
        addr = ffi.cast("uint8_t*", base if base is not None else ptr)
        self.keep = ffi.gc(addr, lambda _p, c=closer, h=ptr: c(h))
        self.mem: Optional[memoryview] = memoryview(ffi.buffer(self.keep, size)) if size > 0 else None

    @property
    def closed(self) -> bool:
        return self._closed

    def enter(self) -> Any:
        """The handle pointer for one C call; raise ERR_CLOSED after close(). Hold the returned `keep` in a local
        for the duration of the call (see `use`)."""
        keep = self.keep
        if keep is None:
            raise make_error("ERR_CLOSED", "this handle is closed")
        return keep

    def call(self, fn: Any, *args: Any) -> Any:
        """fn(ptr, *args) with the handle held open for the call (ERR_CLOSED after close())."""
        keep = self.enter()
        try:
            return fn(self.ptr, *args)
        finally:
            del keep

    def close(self) -> None:
        self._closed = True
        self.keep = None
        self.mem = None

    def view_at(self, address: Any, size: int, keep: Any = None) -> memoryview:
        """Writable memoryview of `size` bytes at `address` (inside this handle's mapping) that keeps the mapping
        alive: the view's cdata has a no-op destructor whose closure references `keep` (this handle's, or one
        taken earlier, e.g. when a message was read before close())."""
        if keep is None:
            keep = self.enter()
        p = ffi.gc(ffi.cast("uint8_t*", address), lambda _p, k=keep: None)
        return memoryview(ffi.buffer(p, size))

    def view(self, offset: int, size: int) -> memoryview:
        """Writable memoryview of [offset, offset + size) of the mapping; keeps the mapping alive."""
        mem = self.mem
        if mem is None:
            raise make_error("ERR_CLOSED", "this handle is closed")
        return mem[offset : offset + size]


ETIMEDOUT = -10
# Blocking C calls run in slices of at most this long, so that Ctrl-C (Python runs signal handlers between
# bytecodes, never inside a C call), close() from another thread and asyncio cancellation take effect promptly.
# A slice that ends without an event costs one futex timeout: nothing measurable at 10 per second.
SLICE_MS = 100


def blocking(h: Handle, call: Callable[[Any, int], int], timeout: Optional[float], slice_ms: int = SLICE_MS) -> int:
    """Runs call(ptr, ms) until it returns anything but ETIMEDOUT or `timeout` (seconds, None = forever) runs out;
    returns the last status. Raises ERR_CLOSED if the handle is closed between slices."""
    total = timeout_ms(timeout)
    if total == 0:
        keep = h.enter()
        try:
            return call(h.ptr, 0)
        finally:
            del keep
    deadline = None if total < 0 else time.monotonic() + total / 1000.0
    while True:
        if deadline is None:
            ms = slice_ms
        else:
            left = deadline - time.monotonic()
            ms = max(0, min(slice_ms, int(math.ceil(left * 1000.0))))
        keep = h.enter()
        try:
            rc = call(h.ptr, ms)
        finally:
            del keep
        if rc != ETIMEDOUT or ms == 0 or (deadline is not None and time.monotonic() >= deadline):
            return rc


def sync_options(mode: int = 0o600, liveness_interval: Optional[float] = None, spin: Optional[int] = None,
                 open_timeout: Optional[float] = 1.0) -> Any:
    """shmbus_sync_options from Python arguments: liveness_interval in seconds (whole ms from 1 to 2^31-1),
    spin in microseconds (0 = sleep at once), open_timeout in seconds (None = forever)."""
    o = ffi.new("shmbus_sync_options*")
    o.struct_size = ffi.sizeof("shmbus_sync_options")
    if isinstance(mode, bool) or not isinstance(mode, int) or mode & ~0o666:
        raise invalid(f"mode must hold read/write bits within 0o666, got {mode!r}")
    o.mode = mode
    o.open_timeout_ms = timeout_ms(open_timeout, "timeout")
    if o.open_timeout_ms == 0:
        # 0 means "default" in the C options: a Python 0 means "try once"; 1 ms is the closest the C API offers.
        o.open_timeout_ms = 1
    if liveness_interval is not None:
        o.liveness_ms = liveness_ms(liveness_interval)
    if spin is not None:
        o.spin_us = spin_us(spin)
    return o


def liveness_ms(seconds: float) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds):
        raise invalid(f"liveness_interval must be a number of seconds, got {seconds!r}")
    ms = seconds * 1000.0
    if ms != int(ms) or not 1 <= ms <= 2**31 - 1:
        raise invalid(f"liveness_interval must be whole milliseconds from 0.001 to 2147483.647 s, got {seconds!r}")
    return int(ms)


def spin_us(us: int) -> int:
    if isinstance(us, bool) or not isinstance(us, int) or not 0 <= us <= 2**31 - 1:
        raise invalid(f"spin must be whole microseconds >= 0, got {us!r}")
    return us if us > 0 else -1  # C: 0 = default, negative = do not spin
