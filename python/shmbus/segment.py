"""Segment: a named piece of shared memory (PROTOCOL.md §2), a raw shm object or a window of a file."""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

from ._lib import Handle, check, encode_name, ffi, invalid, lib, timeout_ms
from .errors import EAGAIN

KINDS: Tuple[str, ...] = ("raw", "topic", "queue", "mailbox", "rpc", "mutex", "rwlock", "semaphore", "event")


def kind_code(kind: Optional[str]) -> int:
    if kind is None:
        return int(lib.SHMBUS_KIND_ANY)
    if kind not in KINDS:
        raise invalid(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return KINDS.index(kind)


def check_mode(mode: int) -> int:
    if isinstance(mode, bool) or not isinstance(mode, int) or mode & ~0o666:
        raise invalid(f"mode must hold read/write bits within 0o666, got {mode!r}")
    return mode


@dataclass(frozen=True)
class SegmentInfo:
    """One entry of Segment.list()."""

    name: str
    size: int
    kind: Optional[str]
    creator_pid: int
    created_at: int
    attached: bool
    stale: bool


_init_calls: dict = {}


@ffi.def_extern()
def _shmbus_segment_init(seg: Any, ctx: Any) -> int:
    fn = ffi.from_handle(ctx)
    try:
        fn(Segment._borrow(seg))
        return 0
    except BaseException as e:  # reported after the create returns (the C side unlinks the name)
        _init_calls[ctx] = e
        return -1


class Segment:
    """A mapped segment. `buffer` is a writable memoryview of the payload (np.frombuffer(seg.buffer, ...) shares
    it). close() detaches; the mapping itself goes away once no view of it is left."""

    __slots__ = ("_h", "_name", "_size", "_kind", "_params", "_borrowed")

    def __init__(self) -> None:  # use the factories
        raise TypeError("use Segment.create/open/open_raw/map_file")

    @classmethod
    def _wrap(cls, ptr: Any) -> "Segment":
        self = object.__new__(cls)
        size = int(lib.shmbus_segment_size(ptr))
        self._h = Handle(ptr, lib.shmbus_segment_close, lib.shmbus_segment_data(ptr), size)
        self._fill(ptr, size)
        self._borrowed = False
        return self

    @classmethod
    def _borrow(cls, ptr: Any) -> "Segment":
        """A view of a segment the C side owns (during an init callback): never closes it."""
        self = object.__new__(cls)
        size = int(lib.shmbus_segment_size(ptr))
        self._h = Handle(ptr, lambda _p: None, lib.shmbus_segment_data(ptr), size)
        self._fill(ptr, size)
        self._borrowed = True
        return self

    def _fill(self, ptr: Any, size: int) -> None:
        self._name = ffi.string(lib.shmbus_segment_name(ptr)).decode("utf-8", "replace")
        self._size = size
        k = int(lib.shmbus_segment_kind(ptr))
        self._kind = KINDS[k] if 0 <= k < len(KINDS) else None
        p = lib.shmbus_segment_params(ptr)
        self._params = tuple(int(p[i]) for i in range(16)) if p != ffi.NULL else (0,) * 16

    # -- factories -------------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        name: str,
        size: int,
        *,
        mode: int = 0o600,
        kind: str = "raw",
        params: Optional[Sequence[int]] = None,
        init: Optional[Callable[["Segment"], None]] = None,
    ) -> "Segment":
        """Creates /dev/shm/shmbus.<name> with `size` payload bytes, exclusively; `init(seg)` runs before the
        segment is published as ready."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise invalid(f"size must be an int >= 0, got {size!r}")
        opts = ffi.new("shmbus_segment_create_options*")
        opts.struct_size = ffi.sizeof("shmbus_segment_create_options")
        opts.size = size
        opts.mode = check_mode(mode)
        opts.kind = kind_code(kind)
        keep = []
        if params is not None:
            ps = list(params)
            if len(ps) > 16 or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**32 for v in ps):
                raise invalid("params must be at most 16 ints in [0, 2^32)")
            arr = ffi.new("uint32_t[16]", ps + [0] * (16 - len(ps)))
            keep.append(arr)
            opts.params = arr
        ctx = None
        if init is not None:
            ctx = ffi.new_handle(init)
            opts.init = lib._shmbus_segment_init
            opts.init_ctx = ctx
        out = ffi.new("shmbus_segment**")
        rc = lib.shmbus_segment_create_ex(encode_name(name), opts, out)
        if ctx is not None and ctx in _init_calls:
            raise _init_calls.pop(ctx)
        check(rc)
        return cls._wrap(out[0])

    @classmethod
    def open(cls, name: str, *, kind: Optional[str] = None, timeout: Optional[float] = 1.0) -> "Segment":
        """Opens a segment made by any process, waiting up to `timeout` s for a creator still initialising it."""
        opts = ffi.new("shmbus_segment_open_options*")
        opts.struct_size = ffi.sizeof("shmbus_segment_open_options")
        opts.kind = kind_code(kind)
        opts.timeout_ms = timeout_ms(timeout)
        out = ffi.new("shmbus_segment**")
        check(lib.shmbus_segment_open_ex(encode_name(name), opts, out))
        return cls._wrap(out[0])

    @classmethod
    def open_raw(cls, posix_name: str, *, size: int = 0, read_only: bool = False) -> "Segment":
        """Maps a shm object without a shmbus header ("/camera_frames"); read_only maps it copy-on-write."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise invalid(f"size must be an int >= 0, got {size!r}")
        out = ffi.new("shmbus_segment**")
        check(lib.shmbus_segment_open_raw(encode_name(posix_name, "posix_name"), size, 1 if read_only else 0, out))
        return cls._wrap(out[0])

    @classmethod
    def map_file(
        cls, path: "str | os.PathLike[str]", *, offset: int = 0, length: Optional[int] = None, writable: bool = False
    ) -> "Segment":
        """Maps the window [offset, offset + length) of a regular file (default: to its end)."""
        for n, v in (("offset", offset), ("length", 0 if length is None else length)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**63:
                raise invalid(f"{n} must be an int >= 0, got {v!r}")
        out = ffi.new("shmbus_segment**")
        ln = 0xFFFFFFFFFFFFFFFF if length is None else length
        check(lib.shmbus_segment_map_file(os.fsencode(path), offset, ln, 1 if writable else 0, out))
        return cls._wrap(out[0])

    @staticmethod
    def unlink(name: str) -> None:
        check(lib.shmbus_segment_unlink(encode_name(name)))

    @staticmethod
    def list() -> List[SegmentInfo]:
        out = ffi.new("shmbus_segment_info**")
        count = ffi.new("size_t*")
        check(lib.shmbus_segment_list(out, count))
        try:
            res = []
            for i in range(count[0]):
                e = out[0][i]
                res.append(
                    SegmentInfo(
                        name=ffi.string(e.name).decode("utf-8", "replace"),
                        size=int(e.size),
                        kind=KINDS[e.kind] if 0 <= e.kind < len(KINDS) else None,
                        creator_pid=int(e.creator_pid),
                        created_at=int(e.created_at),
                        attached=bool(e.attached),
                        stale=bool(e.stale),
                    )
                )
            return res
        finally:
            lib.shmbus_segment_list_free(out[0])

    # -- accessors -------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return self._size

    @property
    def kind(self) -> Optional[str]:
        """The header kind of a named segment; None for raw objects and file windows."""
        return self._kind

    @property
    def params(self) -> Tuple[int, ...]:
        return self._params

    @property
    def closed(self) -> bool:
        return self._h.closed

    @property
    def buffer(self) -> memoryview:
        """Writable memoryview of the payload (shares memory; keeps the mapping alive while referenced)."""
        return self._h.view(0, self._size)

    def wait(self, index: int, expected: int, timeout: Optional[float] = None) -> str:
        """Futex wait on payload word `index` while it holds `expected`: 'ok' (maybe spurious), 'not-equal' or
        'timed-out'."""
        self._check_index(index)
        keep = self._h.enter()
        # The C wait with timeout 0 reports a timeout without comparing; an aligned u32 load answers it here.
        if struct.unpack_from("<I", self._h.mem, index * 4)[0] != expected & 0xFFFFFFFF:
            return "not-equal"
        rc = lib.shmbus_segment_wait(self._h.ptr, index, expected & 0xFFFFFFFF, timeout_ms(timeout))
        del keep
        if rc == EAGAIN:
            return "not-equal"
        if rc == -10:
            return "timed-out"
        check(rc)
        return "ok"

    def wake(self, index: int, count: Optional[int] = None) -> int:
        self._check_index(index)
        n = 0x7FFFFFFF if count is None else count
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise invalid(f"count must be an int >= 0 or None, got {count!r}")
        keep = self._h.enter()
        rc = lib.shmbus_segment_wake(self._h.ptr, index, min(n, 0x7FFFFFFF))
        del keep
        return check(rc)

    def _check_index(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self._size // 4:
            raise invalid(f"index must be a word index in [0, {self._size // 4}), got {index!r}")

    def flush(self) -> None:
        keep = self._h.enter()
        check(lib.shmbus_segment_flush(self._h.ptr))
        del keep

    def close(self) -> None:
        """Detaches (idempotent). Views taken before stay valid memory until they are released."""
        self._h.close()

    def __enter__(self) -> "Segment":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<shmbus.Segment {self._name!r} kind={self._kind} size={self._size}{' closed' if self.closed else ''}>"


