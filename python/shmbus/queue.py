"""Queue (PROTOCOL.md §6): lossless, bounded, many senders and receivers; every message is received exactly once.
end() ends the stream for everyone; close() detaches this handle."""
from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Iterator, List, Optional, Set

from . import _aio
from ._lib import (
    EAGAIN, EEND, ETIMEDOUT, Handle, as_bytes, blocking, check, encode_name, fail, ffi, invalid, lib, liveness_ms,
    spin_us, timeout_ms,
)
from ._view import SlotView, TextBytes, release_memoryview
from .errors import make_error
from .segment import check_mode

TEXT = 1  # SHMBUS_MSG_TEXT: the message was sent as a string


class QueueMessage(TextBytes):
    """A received message: the bytes themselves (a private copy), plus `is_text` (sent as a string) and text()."""


def _options(slots: int = 0, max_message_size: int = 0, mode: int = 0o600, timeout: Optional[float] = 0.0,
             spin: Optional[int] = None, liveness_interval: Optional[float] = None) -> Any:
    o = ffi.new("shmbus_queue_options*")
    o.struct_size = ffi.sizeof("shmbus_queue_options")
    if isinstance(slots, bool) or not isinstance(slots, int) or not 0 <= slots <= 1 << 24 or (slots & (slots - 1)):
        raise invalid(f"slots must be a power of two from 1 to 2^24, got {slots!r}")
    mms = max_message_size
    if isinstance(mms, bool) or not isinstance(mms, int) or not 0 <= mms <= 1 << 30:
        raise invalid(f"max_message_size must be an int from 1 to 2^30, got {max_message_size!r}")
    o.slots = slots
    o.max_message_size = mms
    o.mode = check_mode(mode)
    o.open_timeout_ms = timeout_ms(timeout)
    if spin is not None:
        o.spin_us = spin_us(spin)
    if liveness_interval is not None:
        o.liveness_ms = liveness_ms(liveness_interval)
    return o


class QueueLoan:
    """A claimed slot (zero-copy send): fill `buffer` (exactly the loaned size), then commit(size=None, text=False)
    or abort(). `with q.loan(n) as buf:` commits on exit and aborts on an exception. An open loan holds back every
    message behind it (receivers take messages in order): fill it promptly."""

    __slots__ = ("_q", "_c", "buffer", "_open")

    def __init__(self, q: "Queue", c: Any, buffer: memoryview) -> None:
        self._q = q
        self._c = c
        self.buffer = buffer
        self._open = True

    def commit(self, size: Optional[int] = None, *, text: bool = False) -> None:
        """Sends the first `size` bytes (default all). ERR_INVALID_ARG (and the loan aborted) for a size outside
        0..loaned; ERR_CLOSED if it ended already or the stream ended (the slot is given back)."""
        cap = len(self.buffer) if self._open else 0
        self._end()
        n = cap if size is None else size
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= cap:
            self._q._h.call(lib.shmbus_queue_abort, self._c)
            raise invalid(f"size must be an int in [0, {cap}], got {size!r} (the loan was aborted)")
        check(self._q._h.call(lib.shmbus_queue_commit, self._c, n, TEXT if text else 0))

    def abort(self) -> None:
        """Gives the slot back unsent."""
        self._end()
        check(self._q._h.call(lib.shmbus_queue_abort, self._c))

    def _end(self) -> None:
        if not self._open:
            raise make_error("ERR_CLOSED", "this loan was already committed or aborted")
        self._open = False
        self._q._loans.discard(self)
        release_memoryview(self.buffer)

    def __enter__(self) -> memoryview:
        return self.buffer

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        if self._open:
            self.commit() if et is None else self.abort()


class QueueView(SlotView):
    """A received message read in place (zero-copy): `data` is a read-only memoryview of the slot, valid until
    release() (or the next receive of this Queue object, or its close, which release it). A held view stops
    producers once they come round the ring to its slot: release it promptly. A context manager (release on exit)."""

    __slots__ = ()

    def release(self) -> None:
        """Gives the slot back (idempotent); ERR_CLOSED once the Queue is closed (close() released it)."""
        q = self._owner
        if q._h.closed:
            raise make_error("ERR_CLOSED", "the queue is closed (its close released this view)")
        if self._end():
            check(q._h.call(lib.shmbus_queue_release, self._c))

    def __exit__(self, *exc: Any) -> None:
        if self._open and not self._owner._h.closed:
            self.release()


class Queue:
    __slots__ = ("_h", "_name", "_max", "_bufs", "_loans", "_view", "__weakref__")

    @classmethod
    def _wrap(cls, ptr: Any, name: str) -> "Queue":
        self = object.__new__(cls)
        self._h = Handle(ptr, lib.shmbus_queue_close)
        self._name = name
        self._max = int(lib.shmbus_queue_max_message_size(ptr))
        self._bufs: List[Any] = []  # receive buffers; a handle may receive in several threads at once
        self._loans: Set[QueueLoan] = set()  # open loans, aborted by close()
        self._view: Optional[QueueView] = None  # the one view this object holds (released by the next receive)
        return self

    @classmethod
    def create(cls, name: str, slots: int = 64, max_message_size: int = 4096, *, mode: int = 0o600,
               spin: Optional[int] = None, liveness_interval: Optional[float] = None) -> "Queue":
        """slots: a power of two (1..2^24); max_message_size: 1..2^30 bytes."""
        if slots == 0 or max_message_size == 0:
            raise invalid("slots and max_message_size must be >= 1")
        out = ffi.new("shmbus_queue**")
        check(lib.shmbus_queue_create_ex(encode_name(name), _options(slots, max_message_size, mode, 0.0, spin, liveness_interval), out))
        return cls._wrap(out[0], name)

    @classmethod
    def open(cls, name: str, *, timeout: Optional[float] = 0.0, spin: Optional[int] = None,
             liveness_interval: Optional[float] = None) -> "Queue":
        """Opens an existing queue; `timeout`: seconds to wait for it to appear (0: it must exist now)."""
        out = ffi.new("shmbus_queue**")
        check(lib.shmbus_queue_open_ex(encode_name(name), _options(0, 0, 0o600, timeout, spin, liveness_interval), out))
        return cls._wrap(out[0], name)

    @classmethod
    def open_or_create(cls, name: str, slots: int = 64, max_message_size: int = 4096, *, mode: int = 0o600,
                       spin: Optional[int] = None, liveness_interval: Optional[float] = None) -> "Queue":
        out = ffi.new("shmbus_queue**")
        o = _options(slots, max_message_size, mode, 0.0, spin, liveness_interval)
        check(lib.shmbus_queue_open_or_create_ex(encode_name(name), o, out))
        return cls._wrap(out[0], name)

    @staticmethod
    def unlink(name: str) -> None:
        check(lib.shmbus_queue_unlink(encode_name(name)))

    # -- sending ---------------------------------------------------------------------------------------------
    def send(self, data: Any, *, timeout: Optional[float] = None) -> None:
        """Sends bytes-like data or a str (received as text), waiting while the queue is full (timeout seconds,
        None = forever). ERR_CLOSED once the stream has ended; ERR_MESSAGE_TOO_LARGE above max_message_size."""
        flags = TEXT if isinstance(data, str) else 0
        src = ffi.from_buffer(as_bytes(data))
        n = len(src)
        check(blocking(self._h, lambda p, ms: lib.shmbus_queue_send_ex(p, src, n, flags, ms), timeout))

    def try_send(self, data: Any) -> bool:
        """False when the queue is full."""
        flags = TEXT if isinstance(data, str) else 0
        src = ffi.from_buffer(as_bytes(data))
        rc = self._h.call(lib.shmbus_queue_try_send_ex, src, len(src), flags)
        if rc == EAGAIN:
            return False
        check(rc)
        return True

    # -- receiving -------------------------------------------------------------------------------------------
    def _buf(self) -> Any:
        try:
            return self._bufs.pop()
        except IndexError:
            return ffi.new("uint8_t[]", max(1, self._max))

    def _step(self, ptr: Any, ms: int) -> Any:
        """One C receive of at most ms (0: try once): a QueueMessage or a status."""
        buf = self._buf()
        n = ffi.new("size_t*")
        fl = ffi.new("uint32_t*")
        try:
            if ms == 0:
                rc = lib.shmbus_queue_try_receive_ex(ptr, buf, self._max, n, fl)
            else:
                rc = lib.shmbus_queue_receive_ex(ptr, buf, self._max, n, fl, ms)
            if rc == 0:
                return QueueMessage(ffi.buffer(buf, n[0])[:], bool(fl[0] & TEXT))
            return rc
        finally:
            self._bufs.append(buf)

    def _finish(self, res: Any, raise_timeout: bool) -> Optional[QueueMessage]:
        if isinstance(res, QueueMessage):
            return res
        if res == EEND or res == EAGAIN:
            return None
        if res == ETIMEDOUT and not raise_timeout:
            return None
        raise fail(res)

    def receive(self, timeout: Optional[float] = None) -> Optional[QueueMessage]:
        """The next message (bytes with .is_text), waiting while the queue is empty; None once the stream has
        ended and the queue is drained. Raises ShmbusTimeoutError (a TimeoutError) when `timeout` seconds pass."""
        if self._view is not None:
            self._drop_view()
        box: list = [ETIMEDOUT]

        def call(p: Any, ms: int) -> int:
            r = self._step(p, ms)
            box[0] = r
            if r == EAGAIN:
                return ETIMEDOUT  # try once found nothing: a timeout, to the slicing loop
            return 0 if isinstance(r, QueueMessage) else r

        blocking(self._h, call, timeout)
        res = box[0]
        return self._finish(ETIMEDOUT if res == EAGAIN else res, True)

    def try_receive(self) -> Optional[QueueMessage]:
        """Never waits: None when nothing is there (check `ended` to tell the end of the stream)."""
        if self._view is not None:
            self._drop_view()
        return self._finish(self._h.call(self._step, 0), False)

    async def receive_async(self, timeout: Optional[float] = None) -> Optional[QueueMessage]:
        """receive() without blocking the event loop."""
        if self._view is not None:
            self._drop_view()
        res = await _aio.wait(self._h, self._step, timeout, lambda r: r in (ETIMEDOUT, EAGAIN))
        return self._finish(ETIMEDOUT if res == EAGAIN else res, True)

    def __iter__(self) -> Iterator[QueueMessage]:
        while True:
            m = self.receive()
            if m is None:
                return
            yield m

    def __aiter__(self) -> AsyncIterator[QueueMessage]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[QueueMessage]:
        while True:
            m = await self.receive_async()
            if m is None:
                return
            yield m

    # -- lifecycle -------------------------------------------------------------------------------------------
    def end(self) -> None:
        """Ends the stream for every process (idempotent); this handle stays open."""
        check(self._h.call(lib.shmbus_queue_end))

    @property
    def ended(self) -> bool:
        return bool(check(self._h.call(lib.shmbus_queue_ended)))

    def stats(self) -> Dict[str, int]:
        s = ffi.new("shmbus_queue_stats*")
        check(self._h.call(lib.shmbus_queue_get_stats, s))
        return {"length": int(s.length), "slots": int(s.slots), "max_message_size": int(s.max_message_size),
                "abandoned": int(s.abandoned), "lost": int(s.lost), "sent": int(s.sent), "received": int(s.received)}

    @property
    def length(self) -> int:
        return self.stats()["length"]

    @property
    def name(self) -> str:
        return self._name

    @property
    def slots(self) -> int:
        return int(self._h.call(lib.shmbus_queue_slots))

    @property
    def max_message_size(self) -> int:
        return self._max

    @property
    def closed(self) -> bool:
        return self._h.closed

    def close(self) -> None:
        """Detaches this handle (idempotent) without ending the stream; aborts its open loans and releases its view
        first (the C handle does not)."""
        if self._h.closed:
            return
        for loan in list(self._loans):
            loan.abort()
        self._drop_view()
        self._h.close()

    # -- zero-copy (see /work/plan/zc-api.md; C: shmbus_queue_loan / receive_view) ----------------------------
    def loan(self, size: int, *, timeout: Optional[float] = None) -> QueueLoan:
        """Claims a slot for a message of `size` bytes, waiting while the queue is full (ShmbusTimeoutError after
        `timeout` seconds); ERR_MESSAGE_TOO_LARGE above max_message_size."""
        c = self._loan_struct(size)
        check(blocking(self._h, lambda p, ms: lib.shmbus_queue_loan(p, size, ms, c), timeout))
        return self._new_loan(c)

    def try_loan(self, size: int) -> Optional[QueueLoan]:
        """loan() that never waits: None when the queue is full."""
        c = self._loan_struct(size)
        rc = self._h.call(lib.shmbus_queue_try_loan, size, c)
        if rc == EAGAIN:
            return None
        check(rc)
        return self._new_loan(c)

    def _loan_struct(self, size: int) -> Any:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise invalid(f"size must be an int >= 0, got {size!r}")
        return ffi.new("shmbus_qloan*")

    def _new_loan(self, c: Any) -> QueueLoan:
        loan = QueueLoan(self, c, self._h.view_at(c.data, int(c.size)))
        self._loans.add(loan)
        return loan

    def receive_view(self, timeout: Optional[float] = None) -> Optional[QueueView]:
        """receive(), zero-copy: a QueueView of the slot; None once the stream has ended and the queue is drained;
        ShmbusTimeoutError after `timeout` seconds. Releases this object's previous view first."""
        self._drop_view()
        c = ffi.new("shmbus_qview*")
        rc = blocking(self._h, lambda p, ms: lib.shmbus_queue_receive_view(p, c, ms), timeout)
        return self._new_view(rc, c)

    def try_receive_view(self) -> Optional[QueueView]:
        """Never waits: None when nothing is there (or the stream ended: see `ended`)."""
        self._drop_view()
        c = ffi.new("shmbus_qview*")
        rc = self._h.call(lib.shmbus_queue_try_receive_view, c)
        return None if rc == EAGAIN else self._new_view(rc, c)

    def _new_view(self, rc: int, c: Any) -> Optional[QueueView]:
        if rc == EEND:
            return None
        check(rc)
        v = QueueView(self, c, self._h.view_at(c.data, int(c.size)).toreadonly(), bool(c.flags & TEXT))
        self._view = v
        return v

    def _drop_view(self) -> None:
        v = self._view
        if v is not None:
            v.release()

    def __enter__(self) -> "Queue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
