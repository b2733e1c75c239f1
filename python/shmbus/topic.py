"""Topic (PROTOCOL.md §5): a broadcast ring with overwrite. Publishers copy (publish) or write in place (loan);
every subscriber reads at its own pace with zero-copy views into the ring; a lapped subscriber counts `lost`."""
from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Iterator, Optional

from . import _aio
from ._lib import (
    EAGAIN, EEND, ETIMEDOUT, Handle, address, as_bytes, blocking, check, encode_name, fail, ffi, invalid, lib,
    liveness_ms, speed, spin_us, timeout_ms,
)
from .segment import check_mode

_STARTS = {"latest": 0, "oldest": 1}
_publish = speed.publish
DEFAULT_SPIN_US = 50  # the C library's default (topic.c DEFAULT_SPIN_US)


class Message(speed.MessageBase):  # type: ignore[misc, name-defined]
    """One message read from a topic (made by reads only). `data` is a memoryview into the ring (zero-copy):
    publishers may overwrite it at any time once the ring wraps, so use the bytes, then check `valid()`. With
    read(into=buf) it is a view of your buffer instead, and valid() is always True. The message itself is a
    buffer too: `pub.publish(msg)`, `np.frombuffer(msg, ...)`, `bytes(msg)` take its payload without a copy.

    Fields (C, python/_build/speed.c): size, seq, timestamp_us, data, valid()."""

    __slots__ = ()
    size: int
    seq: int
    timestamp_us: int
    data: memoryview

    @property
    def timestamp(self) -> float:
        """Commit time in seconds since the Unix epoch (µs resolution); 0.0 when the publisher skips the clock."""
        return self.timestamp_us / 1e6

    def tobytes(self) -> bytes:
        """A private copy of the payload, taken and then validated: raises LookupError if a publisher overwrote
        the message first (the subscriber was lapped)."""
        b = self.data.tobytes()
        if not self.valid():
            raise LookupError(f"message {self.seq} was overwritten before it was copied")
        return b

    def text(self) -> str:
        return self.tobytes().decode("utf-8")

    def numpy(self, dtype: Any = "uint8", shape: Any = None) -> Any:
        """A numpy array over the payload without a copy (np.frombuffer), optionally reshaped."""
        import numpy as np

        a = np.frombuffer(self.data, dtype=dtype)
        return a if shape is None else a.reshape(shape)

    def __repr__(self) -> str:
        return f"<shmbus.Message seq={self.seq} size={self.size}>"


class Loan:
    """Room for one message in the ring (zero-copy publish). `with topic.loan(n) as buf:` fills the memoryview
    and commits it on exit (aborts it on an exception); or call commit(size)/abort() yourself. The writers' lock
    is held until then: keep it short."""

    __slots__ = ("_topic", "buffer", "seq", "_open")

    def __init__(self, topic: "Topic", buffer: memoryview, seq: int) -> None:
        self._topic = topic
        self.buffer = buffer
        self.seq = seq
        self._open = True

    def commit(self, size: Optional[int] = None) -> int:
        """Publishes the first `size` bytes (default all); returns the seq."""
        cap = len(self.buffer) if self._open else 0
        self._end()
        n = cap if size is None else size
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= cap:
            self._topic._h.call(lib.shmbus_topic_abort)
            raise invalid(f"size must be an int in [0, {cap}], got {size!r} (the loan was aborted)")
        seq = ffi.new("uint64_t*")
        check(self._topic._h.call(lib.shmbus_topic_commit, n, seq))
        return int(seq[0])

    def abort(self) -> None:
        self._end()
        check(self._topic._h.call(lib.shmbus_topic_abort))

    def _end(self) -> None:
        if not self._open:
            raise fail(-11)
        self._open = False
        self._topic._loan = None
        try:
            self.buffer.release()  # writes after the commit would land in the ring: make them impossible
        except BufferError:
            pass  # exported (a numpy array over it): it stays valid memory

    def __enter__(self) -> memoryview:
        return self.buffer

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        if not self._open:
            return
        if et is None:
            self.commit()
        else:
            self.abort()


def _topic_options(**kw: Any) -> Any:
    o = ffi.new("shmbus_topic_options*")
    o.struct_size = ffi.sizeof("shmbus_topic_options")
    for k, v in kw.items():
        setattr(o, k, v)
    return o


class Topic(speed.TopicBase):
    """A publisher on a topic. Topic.subscribe(...) makes a Subscriber."""

    __slots__ = ("_h", "_name", "_loan", "_addr", "__weakref__")

    @classmethod
    def _wrap(cls, ptr: Any, name: str) -> "Topic":
        self = speed.TopicBase.__new__(cls)
        self._h = Handle(ptr, lib.shmbus_topic_close)
        self._name = name
        self._loan: Optional[Loan] = None
        self._addr = address(ptr)  # for _speed.publish
        self._bind(self._addr, self._h.keep)  # TopicBase.publish (C) publishes until close()
        return self

    @classmethod
    def create(
        cls,
        name: str,
        capacity: int,
        max_message_size: Optional[int] = None,
        *,
        mode: int = 0o600,
        single_publisher: bool = False,
        timestamps: bool = True,
        liveness_interval: Optional[float] = None,
    ) -> "Topic":
        """Creates a topic of `capacity` ring bytes (rounded up to 64) and returns a publisher on it.
        max_message_size: largest payload (default: the largest that fits twice)."""
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
            raise invalid(f"capacity must be an int > 0, got {capacity!r}")
        mms = 0 if max_message_size is None else max_message_size
        if isinstance(mms, bool) or not isinstance(mms, int) or not 0 <= mms < 2**32 or (max_message_size == 0):
            raise invalid(f"max_message_size must be an int in [1, 2^32) or None, got {max_message_size!r}")
        o = _topic_options(capacity=capacity, max_message_size=mms, mode=check_mode(mode),
                           single_publisher=1 if single_publisher else 0, no_timestamps=0 if timestamps else 1)
        if liveness_interval is not None:
            o.liveness_ms = liveness_ms(liveness_interval)
        out = ffi.new("shmbus_topic**")
        check(lib.shmbus_topic_create_ex(encode_name(name), o, out))
        return cls._wrap(out[0], name)

    @classmethod
    def open(cls, name: str, *, timeout: Optional[float] = 1.0, timestamps: bool = True,
             liveness_interval: Optional[float] = None) -> "Topic":
        """Another publisher on an existing topic (timeout: for a creator still initialising it)."""
        ms = timeout_ms(timeout)
        # C: 0 means the default (1 s); a Python 0 ("try once") becomes the shortest wait the C options can say.
        o = _topic_options(no_timestamps=0 if timestamps else 1, open_timeout_ms=ms if ms != 0 else 1)
        if liveness_interval is not None:
            o.liveness_ms = liveness_ms(liveness_interval)
        out = ffi.new("shmbus_topic**")
        check(lib.shmbus_topic_open_ex(encode_name(name), o, out))
        return cls._wrap(out[0], name)

    @staticmethod
    def subscribe(name: str, *, start: str = "latest", wait: Optional[float] = 0.0, spin: Optional[int] = None,
                  liveness_interval: Optional[float] = None) -> "Subscriber":
        """A subscriber. start: 'latest' (the next message published) or 'oldest' (what the ring still holds
        first). wait: seconds to wait for a topic that does not exist yet (0: it must exist; None: forever); a
        subscriber that waited starts at the oldest message. spin: microseconds a read re-reads the ring before
        it sleeps (default 50). liveness_interval: how often (s) a sleeping read checks its publishers live."""
        if start not in _STARTS:
            raise invalid(f"start must be 'latest' or 'oldest', got {start!r}")
        o = ffi.new("shmbus_sub_options*")
        o.struct_size = ffi.sizeof("shmbus_sub_options")
        o.__setattr__("from", _STARTS[start])
        o.wait_ms = timeout_ms(wait, "wait")
        spin = DEFAULT_SPIN_US if spin is None else spin
        spin_us(spin)  # checks it
        # The spin runs in _speed's read (GIL held, no thread switch); the C read itself parks at once, so a
        # blocking read spins once, not twice, and an asyncio wait (park capture) never spins on the loop.
        o.spin_us = -1
        if liveness_interval is not None:
            o.liveness_ms = liveness_ms(liveness_interval)
        out = ffi.new("shmbus_sub**")
        check(lib.shmbus_topic_subscribe_ex(encode_name(name), o, out))
        return Subscriber._wrap(out[0], name, spin)

    @staticmethod
    def unlink(name: str) -> None:
        check(lib.shmbus_topic_unlink(encode_name(name)))

    # publish(data, *, timeout=None) -> int is TopicBase.publish (python/_build/speed.c): the common call in C,
    # a timeout or a non-buffer argument through _publish below. Its documentation:
    def _publish(self, data: Any, *, timeout: Optional[float] = None) -> int:
        """Copies `data` (bytes, bytearray, memoryview, numpy array or str) into the ring; returns its seq.
        Waits only for another publisher's short critical section (timeout in seconds, None = forever; a dead
        holder is taken over within the lock's liveness interval, so this wait is not sliced)."""
        keep = self._h.keep  # held in this frame: a close() from another thread cannot free the handle mid-call
        if keep is None:
            raise fail(-11)
        try:
            seq = _publish(self._addr, data, -1 if timeout is None else timeout_ms(timeout))
        except (TypeError, BufferError, ValueError):
            as_bytes(data)  # not a C-contiguous buffer: raises ERR_INVALID_ARG with the reason
            raise
        if seq < 0:
            raise fail(seq)
        return seq

    def loan(self, size: int, *, timeout: Optional[float] = None) -> Loan:
        """Reserves `size` bytes in the ring: a Loan whose `buffer` you fill, then commit (or abort)."""
        if self._loan is not None:
            raise invalid("a loan of this Topic object is still open")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise invalid(f"size must be an int >= 0, got {size!r}")
        loan = ffi.new("shmbus_loan*")
        check(blocking(self._h, lambda p, ms: lib.shmbus_topic_loan(p, size, ms, loan), timeout))
        self._loan = Loan(self, self._h.view_at(loan.data, int(loan.size)), int(loan.seq))
        return self._loan

    @property
    def subscribers(self) -> int:
        n = ffi.new("uint32_t*")
        check(self._h.call(lib.shmbus_topic_subscribers, n))
        return int(n[0])

    def wait_for_subscribers(self, n: int = 1, *, timeout: Optional[float] = None) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 64:
            raise invalid(f"n must be an int in [0, 64], got {n!r}")
        have = ffi.new("uint32_t*")
        check(blocking(self._h, lambda p, ms: lib.shmbus_topic_wait_for_subscribers(p, n, ms, have), timeout))
        return int(have[0])

    def stats(self) -> Dict[str, int]:
        s = ffi.new("shmbus_topic_stats_t*")
        check(self._h.call(lib.shmbus_topic_stats, s))
        return {"published": int(s.published), "oldest": int(s.oldest), "publishers": int(s.publishers),
                "subscribers": int(s.subscribers), "max_lag": int(s.max_lag), "lost": int(s.lost)}

    @property
    def name(self) -> str:
        return self._name

    @property
    def capacity(self) -> int:
        return int(self._h.call(lib.shmbus_topic_capacity))

    @property
    def max_message_size(self) -> int:
        return int(self._h.call(lib.shmbus_topic_max_message_size))

    @property
    def closed(self) -> bool:
        return self._h.closed

    def close(self) -> None:
        """Detaches (idempotent); an open loan is aborted; the registration is removed."""
        self._loan = None
        self._unbind()
        self._h.close()

    def __enter__(self) -> "Topic":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Subscriber:
    """Reads a topic. read() -> Message | None; `for msg in sub` until the end of the stream; `async for` too."""

    __slots__ = ("_h", "_name", "_rd", "__weakref__")

    @classmethod
    def _wrap(cls, ptr: Any, name: str, spin: int) -> "Subscriber":
        self = object.__new__(cls)
        self._h = Handle(ptr, lib.shmbus_sub_close)
        self._name = name
        # The C side of reads (python/_build/speed.c); it holds `keep` until close() drops it.
        self._rd = speed.Reader(address(ptr), self._h.keep, Message, spin)
        return self

    def read(self, timeout: Optional[float] = None, *, into: Any = None) -> Optional[Message]:
        """The next message, waiting up to `timeout` seconds (None = forever, 0 = try once). None when nothing
        came in time, or at the end of the stream (then `ended` is True: a publisher was seen, none is left and
        nothing is unread). With `into` (a writable buffer) the payload is copied there (a message larger than it
        raises ERR_MESSAGE_TOO_LARGE and stays unread)."""
        if into is None:
            return self._rd.read(-1 if timeout is None else timeout_ms(timeout))
        return self._read_into(timeout, into)

    def _read_into(self, timeout: Optional[float], into: Any) -> Optional[Message]:
        mv = memoryview(into)
        if mv.readonly or not mv.c_contiguous:
            raise invalid("into must be a writable C-contiguous buffer")
        mv = mv.cast("B")
        buf, cap = ffi.from_buffer(mv), len(mv)
        m = ffi.new("shmbus_msg*")
        rc = blocking(self._h, lambda p, ms: lib.shmbus_sub_read_copy(p, buf, cap, m, ms), timeout)
        if rc == 0:
            return self._rd.message(int(ffi.cast("uintptr_t", m.data)), int(m.size), int(m.seq),
                                    int(m.timestamp_us), mv[: int(m.size)])
        if rc in (ETIMEDOUT, EAGAIN):
            return None
        if rc == EEND:
            self._rd.ended = True
            return None
        raise fail(rc)

    def try_read(self, *, into: Any = None) -> Optional[Message]:
        """The next message if one is there, else None; never waits (the busy-poll path: one C call)."""
        if into is not None:
            return self._read_into(0, into)
        return self._rd.try_read()

    async def read_async(self, timeout: Optional[float] = None) -> Optional[Message]:
        """read() without blocking the event loop (see docs/python.md: asyncio)."""
        rd = self._rd
        # try, then spin (as Node's await read does): a message that comes within the spin costs no thread switch
        m = rd.try_read() if timeout == 0 else rd.spin_read()
        if m is not None or timeout == 0:
            return m
        return await _aio.wait(self._h, lambda _p, ms: rd.park_read(ms), timeout,
                               lambda r: r is None and not rd.ended)

    def __iter__(self) -> Iterator[Message]:
        while True:
            m = self.read()
            if m is None:
                if self._rd.ended or self._h.closed:
                    return
                continue
            yield m

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[Message]:
        while True:
            m = await self.read_async()
            if m is None:
                if self._rd.ended or self._h.closed:
                    return
                continue
            yield m

    @property
    def lost(self) -> int:
        """Messages overwritten before this subscriber read them (exact)."""
        keep = self._h.enter()
        try:
            return int(lib.shmbus_sub_lost(self._h.ptr))
        finally:
            del keep

    @property
    def ended(self) -> bool:
        return bool(self._rd.ended)

    @property
    def publishers(self) -> int:
        n = ffi.new("uint32_t*")
        keep = self._h.enter()
        try:
            check(lib.shmbus_sub_publishers(self._h.ptr, n))
        finally:
            del keep
        return int(n[0])

    def stats(self) -> Dict[str, int]:
        s = ffi.new("shmbus_sub_stats_t*")
        keep = self._h.enter()
        try:
            check(lib.shmbus_sub_stats(self._h.ptr, s))
        finally:
            del keep
        return {"read": int(s.read), "lost": int(s.lost), "lag": int(s.lag)}

    @property
    def name(self) -> str:
        return self._name

    @property
    def closed(self) -> bool:
        return self._h.closed

    def close(self) -> None:
        """Detaches (idempotent). The registration is removed once no message view of it is left."""
        rd = self._rd
        rd.close()  # a read parked in another thread ends within one slice
        closed = speed.Reader(0, None, Message, 0)  # drops `keep`: the C close runs once no message is left
        closed.close()
        closed.ended = rd.ended
        self._rd = closed
        self._h.close()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
