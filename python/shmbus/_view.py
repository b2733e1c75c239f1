"""What Queue and Rpc results share: a copied message (TextBytes: QueueMessage, RpcResponse) and a view in place
(SlotView: QueueView, RpcView), a read-only memoryview of a slot in a segment, valid until released.

Their release rules differ and stay in the subclasses: a QueueView's release() raises ERR_CLOSED once its Queue is
closed (close() already gave the slot back), an RpcView's never raises (the client's close released it)."""
from __future__ import annotations

from typing import Any, Optional, Type, TypeVar

from .errors import make_error


T = TypeVar("T", bound="TextBytes")


class TextBytes(bytes):
    """A received message copied out of its slot: the bytes themselves, plus `is_text` (sent as a string), text()
    and `data` (the same bytes, for code written against the view types)."""

    is_text: bool

    def __new__(cls: Type[T], data: bytes, is_text: bool = False) -> T:
        self = bytes.__new__(cls, data)
        self.is_text = is_text
        return self

    @property
    def data(self) -> bytes:
        return bytes(self)

    def text(self) -> str:
        return self.decode("utf-8")


def release_memoryview(mv: Optional[memoryview]) -> None:
    """Ends our use of a slot's memoryview (no access through it after the slot is given back)."""
    if mv is not None:
        try:
            mv.release()
        except BufferError:
            pass  # exported (a numpy array over it): it stays valid memory, its bytes may change


class SlotView:
    """`data` (read-only memoryview), tobytes(), text(), is_text, and a context manager; `owner._view` is the one
    view its owner holds (released by the owner's next receive/request and by its close)."""

    __slots__ = ("_owner", "_c", "_mv", "is_text", "_open")

    def __init__(self, owner: Any, c: Any, mv: memoryview, is_text: bool) -> None:
        self._owner = owner
        self._c = c
        self._mv = mv
        self.is_text = is_text
        self._open = True

    @property
    def data(self) -> memoryview:
        if not self._open:
            raise make_error("ERR_CLOSED", "this view was released")
        return self._mv

    def tobytes(self) -> bytes:
        return self.data.tobytes()

    def text(self) -> str:
        return self.tobytes().decode("utf-8")

    def _end(self) -> bool:
        """Marks the view released and drops its memoryview: True if it was open (the caller gives the slot back)."""
        if not self._open:
            return False
        self._open = False
        if self._owner._view is self:
            self._owner._view = None
        release_memoryview(self._mv)
        return True

    def release(self) -> None:  # pragma: no cover - every subclass defines its rule
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self
