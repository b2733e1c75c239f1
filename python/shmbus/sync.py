"""Robust process-shared sync primitives (PROTOCOL.md §4): Mutex, RwLock, Semaphore, Event. Named (their own
segment) or embedded in a Segment at a byte offset. A holder that dies is taken over by a waiter, which is told
`recovered=True`. Ownership is per thread; liveness per process."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from . import _aio
from ._lib import EAGAIN, ETIMEDOUT, Handle, blocking, check, encode_name, ffi, invalid, lib, sync_options
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

    async def _wait_async(self, fn: Any, timeout: Optional[float], *args: Any) -> int:
        """fn(ptr, ms, *args) without blocking the event loop (shmbus/_aio.py); raises its error status."""
        return check(await _aio.wait(self._h, lambda p, ms: fn(p, ms, *args), timeout, lambda r: r == ETIMEDOUT))

    async def _lock_async(self, fn: Any, timeout: Optional[float]) -> LockResult:
        rec = ffi.new("int*")
        await self._wait_async(fn, timeout, rec)
        return LockResult(bool(rec[0]))


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

    async def lock_async(self, timeout: Optional[float] = None) -> LockResult:
        """lock() without blocking the event loop. Ownership is per thread: the event loop's thread holds it, so
        unlock() from the same loop; a second lock through this object while it is held is ERR_INVALID_ARG."""
        return await self._lock_async(lib.shmbus_mutex_lock, timeout)

    def try_lock(self) -> Optional[LockResult]:
        rec = ffi.new("int*")
        return _result(self._h.call(lib.shmbus_mutex_try_lock, rec), rec)

    def unlock(self) -> None:
        check(self._h.call(lib.shmbus_mutex_unlock))

    @property
    def locked_by_me(self) -> bool:
        return bool(self._h.call(lib.shmbus_mutex_is_locked_by_me))

    def __enter__(self) -> LockResult:
        return self.lock()

    def __exit__(self, *exc: Any) -> None:
        self.unlock()


class RwLock(_Primitive):
    """Readers overlap; a writer excludes everyone (writer preference). A dead writer is recovered by the next
    writer or the first waiting reader (recovered=True, holding it alone); a dead reader's hold is released.
    `with rw.read():` / `with rw.write():` hold it for a block."""

    _kind = "rwlock"
    __slots__ = ()

    @classmethod
    def create(cls, name: str, *, mode: int = 0o600, liveness_interval: Optional[float] = None,
               spin: Optional[int] = None) -> "RwLock":
        return cls._create(name, sync_options(mode, liveness_interval, spin))

    @classmethod
    def open(cls, name: str, *, timeout: Optional[float] = 1.0, liveness_interval: Optional[float] = None,
             spin: Optional[int] = None) -> "RwLock":
        return cls._open(name, sync_options(0o600, liveness_interval, spin, timeout))

    @classmethod
    def embed(cls, segment: Segment, byte_offset: int, *, liveness_interval: Optional[float] = None,
              spin: Optional[int] = None) -> "RwLock":
        out = ffi.new("shmbus_rwlock**")
        keep = segment._h.enter()
        check(lib.shmbus_rwlock_embed(segment._h.ptr, byte_offset, sync_options(0o600, liveness_interval, spin), out))
        del keep
        return cls._new(out[0], segment)

    def read_lock(self, timeout: Optional[float] = None) -> LockResult:
        rec = ffi.new("int*")
        check(blocking(self._h, lambda p, ms: lib.shmbus_rwlock_read_lock(p, ms, rec), timeout))
        return LockResult(bool(rec[0]))

    async def read_lock_async(self, timeout: Optional[float] = None) -> LockResult:
        """read_lock() without blocking the event loop (held by the loop's thread)."""
        return await self._lock_async(lib.shmbus_rwlock_read_lock, timeout)


    def try_read_lock(self) -> Optional[LockResult]:
        rec = ffi.new("int*")
        return _result(self._h.call(lib.shmbus_rwlock_try_read_lock, rec), rec)

    def read_unlock(self) -> None:
        check(self._h.call(lib.shmbus_rwlock_read_unlock))

    def write_lock(self, timeout: Optional[float] = None) -> LockResult:
        rec = ffi.new("int*")
        check(blocking(self._h, lambda p, ms: lib.shmbus_rwlock_write_lock(p, ms, rec), timeout))
        return LockResult(bool(rec[0]))

    async def write_lock_async(self, timeout: Optional[float] = None) -> LockResult:
        """write_lock() without blocking the event loop (held by the loop's thread)."""
        return await self._lock_async(lib.shmbus_rwlock_write_lock, timeout)


    def try_write_lock(self) -> Optional[LockResult]:
        rec = ffi.new("int*")
        return _result(self._h.call(lib.shmbus_rwlock_try_write_lock, rec), rec)

    def write_unlock(self) -> None:
        check(self._h.call(lib.shmbus_rwlock_write_unlock))

    @property
    def write_locked_by_me(self) -> bool:
        return bool(self._h.call(lib.shmbus_rwlock_is_write_locked_by_me))

    def read(self, timeout: Optional[float] = None) -> "_Held":
        """`with rw.read() as held:` a read hold for the block (held.recovered)."""
        return _Held(lambda: self.read_lock(timeout), self.read_unlock)

    def write(self, timeout: Optional[float] = None) -> "_Held":
        """`with rw.write() as held:` the write lock for the block."""
        return _Held(lambda: self.write_lock(timeout), self.write_unlock)


class _Held:
    __slots__ = ("_take", "_give")

    def __init__(self, take: Any, give: Any) -> None:
        self._take = take
        self._give = give

    def __enter__(self) -> LockResult:
        return self._take()

    def __exit__(self, *exc: Any) -> None:
        self._give()


class Semaphore(_Primitive):
    """A counting semaphore. Units a process holds are returned if it dies (the acquirer that returns them gets
    recovered=True), unless created with track_holders=False (signalling: units taken by one process and
    released by another). `with sem as held:` takes one unit for the block."""

    _kind = "semaphore"
    __slots__ = ()

    @classmethod
    def create(cls, name: str, initial: int = 0, *, track_holders: bool = True, mode: int = 0o600,
               liveness_interval: Optional[float] = None, spin: Optional[int] = None) -> "Semaphore":
        _check_units(initial, "initial", 0)
        out = ffi.new("shmbus_semaphore**")
        flags = 0 if track_holders else int(lib.SHMBUS_SEMAPHORE_UNTRACKED)
        check(lib.shmbus_semaphore_create_ex(encode_name(name), initial, flags, sync_options(mode, liveness_interval, spin), out))
        return cls._new(out[0])

    @classmethod
    def open(cls, name: str, *, timeout: Optional[float] = 1.0, liveness_interval: Optional[float] = None,
             spin: Optional[int] = None) -> "Semaphore":
        return cls._open(name, sync_options(0o600, liveness_interval, spin, timeout))

    @staticmethod
    def init(segment: Segment, byte_offset: int, initial: int = 0, *, track_holders: bool = True) -> None:
        """Lays out an embedded semaphore before anyone uses it (from Segment.create's init)."""
        _check_units(initial, "initial", 0)
        flags = 0 if track_holders else int(lib.SHMBUS_SEMAPHORE_UNTRACKED)
        keep = segment._h.enter()
        check(lib.shmbus_semaphore_init(segment._h.ptr, byte_offset, initial, flags))
        del keep

    @classmethod
    def embed(cls, segment: Segment, byte_offset: int, *, liveness_interval: Optional[float] = None,
              spin: Optional[int] = None) -> "Semaphore":
        out = ffi.new("shmbus_semaphore**")
        keep = segment._h.enter()
        check(lib.shmbus_semaphore_embed(segment._h.ptr, byte_offset, sync_options(0o600, liveness_interval, spin), out))
        del keep
        return cls._new(out[0], segment)

    def acquire(self, timeout: Optional[float] = None) -> LockResult:
        rec = ffi.new("int*")
        check(blocking(self._h, lambda p, ms: lib.shmbus_semaphore_acquire(p, ms, rec), timeout))
        return LockResult(bool(rec[0]))

    async def acquire_async(self, timeout: Optional[float] = None) -> LockResult:
        """acquire() without blocking the event loop."""
        return await self._lock_async(lib.shmbus_semaphore_acquire, timeout)


    def try_acquire(self) -> Optional[LockResult]:
        rec = ffi.new("int*")
        return _result(self._h.call(lib.shmbus_semaphore_try_acquire, rec), rec)

    def release(self, n: int = 1) -> None:
        _check_units(n, "n", 1)
        check(self._h.call(lib.shmbus_semaphore_release, n))

    @property
    def value(self) -> int:
        return check(self._h.call(lib.shmbus_semaphore_value))

    def __enter__(self) -> LockResult:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _check_units(n: int, what: str, low: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= 2**31 - 1:
        raise invalid(f"{what} must be an int from {low} to 2^31-1, got {n!r}")


class Event(_Primitive):
    """Manual reset: set() releases every waiter and stays set until reset(). Auto reset (default): set()
    releases exactly one waiter; with nobody waiting it stays set for the next one."""

    _kind = "event"
    __slots__ = ()

    @staticmethod
    def _flags(manual_reset: bool, set: bool) -> int:
        return (int(lib.SHMBUS_EVENT_MANUAL_RESET) if manual_reset else 0) | (int(lib.SHMBUS_EVENT_SET) if set else 0)

    @classmethod
    def create(cls, name: str, *, manual_reset: bool = False, set: bool = False, mode: int = 0o600,
               spin: Optional[int] = None) -> "Event":
        out = ffi.new("shmbus_event**")
        check(lib.shmbus_event_create_ex(encode_name(name), cls._flags(manual_reset, set), sync_options(mode, None, spin), out))
        return cls._new(out[0])

    @classmethod
    def open(cls, name: str, *, timeout: Optional[float] = 1.0, spin: Optional[int] = None) -> "Event":
        return cls._open(name, sync_options(0o600, None, spin, timeout))

    @staticmethod
    def init(segment: Segment, byte_offset: int, *, manual_reset: bool = False, set: bool = False) -> None:
        keep = segment._h.enter()
        check(lib.shmbus_event_init(segment._h.ptr, byte_offset, Event._flags(manual_reset, set)))
        del keep

    @classmethod
    def embed(cls, segment: Segment, byte_offset: int, *, spin: Optional[int] = None) -> "Event":
        out = ffi.new("shmbus_event**")
        keep = segment._h.enter()
        check(lib.shmbus_event_embed(segment._h.ptr, byte_offset, sync_options(0o600, None, spin), out))
        del keep
        return cls._new(out[0], segment)

    def set(self) -> None:
        check(self._h.call(lib.shmbus_event_set))

    def reset(self) -> None:
        check(self._h.call(lib.shmbus_event_reset))

    def wait(self, timeout: Optional[float] = None) -> None:
        """Waits until the event is set; ShmbusTimeoutError (a TimeoutError) after `timeout` seconds."""
        check(blocking(self._h, lambda p, ms: lib.shmbus_event_wait(p, ms), timeout))

    async def wait_async(self, timeout: Optional[float] = None) -> None:
        """wait() without blocking the event loop."""
        await self._wait_async(lib.shmbus_event_wait, timeout)

    @property
    def is_set(self) -> bool:
        return bool(check(self._h.call(lib.shmbus_event_is_set)))

    @property
    def manual_reset(self) -> bool:
        return bool(check(self._h.call(lib.shmbus_event_manual_reset)))
