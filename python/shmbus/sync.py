"""Robust process-shared sync primitives (PROTOCOL.md §4): Mutex, RwLock, Semaphore, Event. Named (their own
segment) or embedded in a Segment at a byte offset. A holder that dies is taken over by a waiter, which is told
`recovered=True`. Ownership is per thread; liveness per process."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ._lib import EAGAIN, Handle, blocking, check, encode_name, ffi, lib, sync_options
from .segment import Segment


@dataclass(frozen=True)
class LockResult:
    """What a successful lock/acquire tells: `recovered` when a dead holder's hold was taken over."""

    recovered: bool


def _result(rc: int, rec: Any) -> Optional[LockResult]:
    if rc == EAGAIN:
        return None
    check(rc)
    return LockResult(bool(rec[0]))


class _Primitive:
    """Shared lifecycle of the four classes: create/open by name, embed in a segment, close."""

    _kind = ""
    __slots__ = ("_h", "_segment", "__weakref__")

    @classmethod
    def _new(cls, ptr: Any, segment: Optional[Segment] = None) -> Any:
        self = object.__new__(cls)
        self._h = Handle(ptr, getattr(lib, f"shmbus_{cls._kind}_close"))
        self._segment = segment  # an embedding segment must outlive the handle
        return self

    @classmethod
    def _create(cls, name: str, opts: Any) -> Any:
        out = ffi.new(f"shmbus_{cls._kind}**")
        check(getattr(lib, f"shmbus_{cls._kind}_create_ex")(encode_name(name), opts, out))
        return cls._new(out[0])

    @classmethod
    def _open(cls, name: str, opts: Any) -> Any:
        out = ffi.new(f"shmbus_{cls._kind}**")
        check(getattr(lib, f"shmbus_{cls._kind}_open_ex")(encode_name(name), opts, out))
        return cls._new(out[0])

    @classmethod
    def unlink(cls, name: str) -> None:
        check(getattr(lib, f"shmbus_{cls._kind}_unlink")(encode_name(name)))

    @property
    def closed(self) -> bool:
        return self._h.closed

    def close(self) -> None:
        """Detaches (idempotent); never unlocks anything."""
        self._h.close()

    def _call(self, fn: Any, *args: Any) -> int:
        keep = self._h.enter()
        try:
            return fn(self._h.ptr, *args)
        finally:
            del keep


class Mutex(_Primitive):
    """A robust mutual-exclusion lock. `with m as held:` locks (held.recovered) and unlocks on exit."""

    _kind = "mutex"
    __slots__ = ()

    @classmethod
    def create(cls, name: str, *, mode: int = 0o600, liveness_interval: Optional[float] = None,
               spin: Optional[int] = None) -> "Mutex":
        return cls._create(name, sync_options(mode, liveness_interval, spin))

    @classmethod
    def open(cls, name: str, *, timeout: Optional[float] = 1.0, liveness_interval: Optional[float] = None,
             spin: Optional[int] = None) -> "Mutex":
        return cls._open(name, sync_options(0o600, liveness_interval, spin, timeout))

    @classmethod
    def embed(cls, segment: Segment, byte_offset: int, *, liveness_interval: Optional[float] = None,
              spin: Optional[int] = None) -> "Mutex":
        """A mutex at payload `byte_offset` (a multiple of 8) of `segment`."""
        out = ffi.new("shmbus_mutex**")
        keep = segment._h.enter()
        check(lib.shmbus_mutex_embed(segment._h.ptr, byte_offset, sync_options(0o600, liveness_interval, spin), out))
        del keep
        return cls._new(out[0], segment)

    def lock(self, timeout: Optional[float] = None) -> LockResult:
        """Takes the lock (timeout in seconds, None = forever). ERR_INVALID_ARG if this thread holds it."""
        rec = ffi.new("int*")
        rc = blocking(self._h, lambda p, ms: lib.shmbus_mutex_lock(p, ms, rec), timeout)
        check(rc)
        return LockResult(bool(rec[0]))

    def try_lock(self) -> Optional[LockResult]:
        rec = ffi.new("int*")
        return _result(self._call(lib.shmbus_mutex_try_lock, rec), rec)

    def unlock(self) -> None:
        check(self._call(lib.shmbus_mutex_unlock))

    @property
    def locked_by_me(self) -> bool:
        return bool(self._call(lib.shmbus_mutex_is_locked_by_me))

    def __enter__(self) -> LockResult:
        return self.lock()

    def __exit__(self, *exc: Any) -> None:
        self.unlock()
