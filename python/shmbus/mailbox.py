"""Mailbox (PROTOCOL.md §7): the latest value of something. Writers take turns through a robust lock; readers
take no lock and never see a torn value."""
from __future__ import annotations

from typing import Any, Optional, Tuple

from . import _aio
from ._lib import ETIMEDOUT, Handle, as_bytes, blocking, check, encode_name, fail, ffi, invalid, lib, liveness_ms, timeout_ms
from .segment import check_mode


class MailboxValue(Tuple[bytes, int]):
    """(data, version) with the write time as `.timestamp` (seconds since the epoch; 0.0 before the first
    write): `data, version = mb.read()`."""

    timestamp: float

    def __new__(cls, data: bytes, version: int, timestamp: float = 0.0) -> "MailboxValue":
        self = tuple.__new__(cls, (data, version))
        self.timestamp = timestamp
        return self

    @property
    def data(self) -> bytes:
        return self[0]

    @property
    def version(self) -> int:
        return self[1]


def _options(**kw: Any) -> Any:
    o = ffi.new("shmbus_mailbox_options*")
    o.struct_size = ffi.sizeof("shmbus_mailbox_options")
    for k, v in kw.items():
        setattr(o, k, v)
    return o


class Mailbox:
    __slots__ = ("_h", "_name", "_buf", "_max", "__weakref__")

    @classmethod
    def _wrap(cls, ptr: Any, name: str) -> "Mailbox":
        self = object.__new__(cls)
        self._h = Handle(ptr, lib.shmbus_mailbox_close)
        self._name = name
        self._max = int(lib.shmbus_mailbox_max_size(ptr))
        self._buf = ffi.new("uint8_t[]", max(1, self._max))
        return self

    @classmethod
    def create(cls, name: str, max_message_size: int = 65536, *, mode: int = 0o600,
               liveness_interval: Optional[float] = None) -> "Mailbox":
        """A mailbox holding an empty value at version 0; values up to max_message_size bytes (1..2^30)."""
        if isinstance(max_message_size, bool) or not isinstance(max_message_size, int) or not 1 <= max_message_size <= 2**30:
            raise invalid(f"max_message_size must be an int in [1, 2^30], got {max_message_size!r}")
        o = _options(max_size=max_message_size, mode=check_mode(mode))
        if liveness_interval is not None:
            o.liveness_ms = liveness_ms(liveness_interval)
        out = ffi.new("shmbus_mailbox**")
        check(lib.shmbus_mailbox_create_ex(encode_name(name), o, out))
        return cls._wrap(out[0], name)

    @classmethod
    def open(cls, name: str, *, timeout: Optional[float] = 1.0, liveness_interval: Optional[float] = None) -> "Mailbox":
        ms = timeout_ms(timeout)
        o = _options(open_timeout_ms=ms if ms != 0 else 1)
        if liveness_interval is not None:
            o.liveness_ms = liveness_ms(liveness_interval)
        out = ffi.new("shmbus_mailbox**")
        check(lib.shmbus_mailbox_open_ex(encode_name(name), o, out))
        return cls._wrap(out[0], name)

    @staticmethod
    def unlink(name: str) -> None:
        check(lib.shmbus_mailbox_unlink(encode_name(name)))

    def write(self, data: Any, *, timeout: Optional[float] = None) -> int:
        """Replaces the value (bytes-like, numpy array or str); returns the new version."""
        src = ffi.from_buffer(as_bytes(data))
        n = len(src)
        ver = ffi.new("uint64_t*")
        check(blocking(self._h, lambda p, ms: lib.shmbus_mailbox_write_ex(p, src, n, ms, ver), timeout))
        return int(ver[0])

    def read(self) -> MailboxValue:
        """A private copy of the current value and its version (never blocks, never torn)."""
        v = ffi.new("shmbus_mailbox_value*")
        keep = self._h.enter()
        try:
            check(lib.shmbus_mailbox_read(self._h.ptr, self._buf, self._max, v))
        finally:
            del keep
        return MailboxValue(ffi.buffer(self._buf, v.size)[:], int(v.version), v.timestamp_us / 1e6)

    @property
    def version(self) -> int:
        ver = ffi.new("uint64_t*")
        keep = self._h.enter()
        try:
            check(lib.shmbus_mailbox_version(self._h.ptr, ver))
        finally:
            del keep
        return int(ver[0])

    def _since(self, since: Optional[int]) -> int:
        if since is None:
            return self.version
        if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since < 2**64:
            raise invalid(f"since must be a version (int >= 0) or None, got {since!r}")
        return since

    def wait_changed(self, since: Optional[int] = None, timeout: Optional[float] = None) -> int:
        """Waits (sleeping) until the version is greater than `since` (default: the current one); returns it.
        Raises ShmbusTimeoutError (a TimeoutError) when `timeout` seconds pass first."""
        s = self._since(since)
        ver = ffi.new("uint64_t*")
        check(blocking(self._h, lambda p, ms: lib.shmbus_mailbox_wait_changed(p, s, ms, ver), timeout))
        return int(ver[0])

    async def changed_async(self, since: Optional[int] = None, timeout: Optional[float] = None) -> int:
        """wait_changed() without blocking the event loop."""
        s = self._since(since)

        def step(p: Any, ms: int) -> Any:
            ver = ffi.new("uint64_t*")
            rc = lib.shmbus_mailbox_wait_changed(p, s, ms, ver)
            return int(ver[0]) if rc == 0 else rc

        res = await _aio.wait(self._h, step, timeout, lambda r: r == ETIMEDOUT)
        if res < 0:  # a version is >= 1 here: a negative result is a status
            raise fail(res)
        return res

    @property
    def name(self) -> str:
        return self._name

    @property
    def max_message_size(self) -> int:
        return self._max

    @property
    def closed(self) -> bool:
        return self._h.closed

    def close(self) -> None:
        self._h.close()

    def __enter__(self) -> "Mailbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
