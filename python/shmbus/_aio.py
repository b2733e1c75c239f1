"""asyncio support: how an `await` waits on shared memory without blocking the event loop.

Choice (measured, see docs/python.md): a waiting coroutine first tries once inline (no thread: a message that is
already there costs one C call), then waits in slices of ASYNC_SLICE_MS on one process-wide pool of at most
AIO_THREADS threads, each slice a blocking C wait that wakes at once on the futex. Slices make the pool fair:
with more pending waits than threads, waits take turns instead of starving (a wait is never pinned to a thread),
and cancellation or close() takes effect within one slice. A true multiplexer (one thread, futex_waitv over every
pending word, as the Node addon does) needs the C library to expose each wait's futex word and expected value;
it does not (yet), so this is the closest sound design over its public API.

A slice that succeeds after its awaiting task was cancelled hands its result to `on_orphan` (the channel keeps it
for the next read), so a cancelled receive never drops a message."""
from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from ._lib import ETIMEDOUT, Handle, timeout_ms

AIO_THREADS = 16
# Slice length: long while every pending wait has a thread (a slice then only bounds how long a cancelled wait
# keeps its thread), short once waits outnumber threads and must take turns.
ASYNC_SLICE_MS = 50
IDLE_SLICE_MS = 500

_pending = 0  # coroutines inside wait() past their first try (only touched from event-loop threads under _count)
_count = threading.Lock()

_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=AIO_THREADS, thread_name_prefix="shmbus-aio")
        return _pool


class _Token:
    __slots__ = ("cancelled", "finished", "result")

    def __init__(self) -> None:
        self.cancelled = False
        self.finished = False
        self.result: Any = None


# Decides, for a slice that finishes while its coroutine is being cancelled, who keeps the result: exactly one of
# the slice (token already cancelled) and the cancelled coroutine (slice already done) hands it to `on_orphan`.
_orphans = threading.Lock()


def _slice(h: Handle, step: Callable[[Any, int], Any], ms: int, token: Optional[_Token] = None,
           timed_out: Optional[Callable[[Any], bool]] = None, on_orphan: Optional[Callable[[Any], None]] = None) -> Any:
    keep = h.enter()
    try:
        res = step(h.ptr, ms)
    finally:
        del keep
    if token is not None and on_orphan is not None and timed_out is not None:
        with _orphans:
            if token.cancelled:
                if not timed_out(res):
                    on_orphan(res)
            else:
                token.finished = True
                token.result = res
    return res


def settle(owner: Any) -> None:
    """Blocks until a slice that `owner` still has in flight (an abandoned async wait) has finished, so two C
    calls never run on one handle at once. At most one slice long."""
    cf = getattr(owner, "_inflight", None)
    if cf is not None:
        try:
            cf.result()
        except BaseException:  # noqa: BLE001 (its outcome belonged to the cancelled caller)
            pass
        owner._inflight = None


async def settle_async(owner: Any) -> None:
    cf = getattr(owner, "_inflight", None)
    if cf is not None:
        try:
            await asyncio.wrap_future(cf)
        except BaseException:  # noqa: BLE001
            pass
        owner._inflight = None


async def wait(
    h: Handle,
    step: Callable[[Any, int], Any],
    timeout: Optional[float],
    timed_out: Callable[[Any], bool],
    on_orphan: Optional[Callable[[Any], None]] = None,
    owner: Any = None,
) -> Any:
    """Runs step(ptr, ms) (one C wait of at most ms, returning a result) until `timed_out(result)` is false or the
    timeout (seconds, None = forever) runs out; returns the last result. `owner._inflight` records the slice in
    flight (see settle)."""
    if owner is not None:
        await settle_async(owner)
    res = _slice(h, step, 0)
    total = timeout_ms(timeout)
    if not timed_out(res) or total == 0:
        return res
    deadline = None if total < 0 else time.monotonic() + total / 1000.0
    global _pending
    with _count:
        _pending += 1
    try:
        return await _wait_slices(h, step, deadline, timed_out, on_orphan, owner)
    finally:
        with _count:
            _pending -= 1


async def _wait_slices(h: Handle, step: Callable[[Any, int], Any], deadline: Optional[float],
                       timed_out: Callable[[Any], bool], on_orphan: Optional[Callable[[Any], None]], owner: Any) -> Any:
    while True:
        cap = ASYNC_SLICE_MS if _pending > AIO_THREADS else IDLE_SLICE_MS
        if deadline is None:
            ms = cap
        else:
            ms = max(0, min(cap, int(math.ceil((deadline - time.monotonic()) * 1000.0))))
        token = _Token()
        cf = pool().submit(_slice, h, step, ms, token, timed_out, on_orphan)
        if owner is not None:
            owner._inflight = cf
        try:
            res = await asyncio.shield(asyncio.wrap_future(cf))
        except asyncio.CancelledError:
            with _orphans:
                token.cancelled = True
                if token.finished and on_orphan is not None and not timed_out(token.result):
                    on_orphan(token.result)
            raise
        if owner is not None:
            owner._inflight = None
        if not timed_out(res) or ms == 0 or (deadline is not None and time.monotonic() >= deadline):
            return res
