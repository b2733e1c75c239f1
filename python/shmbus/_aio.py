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
ASYNC_SLICE_MS = 50

_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=AIO_THREADS, thread_name_prefix="shmbus-aio")
        return _pool


def _slice(h: Handle, step: Callable[[Any, int], Any], ms: int) -> Any:
    keep = h.enter()
    try:
        return step(h.ptr, ms)
    finally:
        del keep


async def wait(
    h: Handle,
    step: Callable[[Any, int], Any],
    timeout: Optional[float],
    timed_out: Callable[[Any], bool],
    on_orphan: Optional[Callable[[Any], None]] = None,
) -> Any:
    """Runs step(ptr, ms) (one C wait of at most ms, returning a result) until `timed_out(result)` is false or the
    timeout (seconds, None = forever) runs out; returns the last result."""
    res = _slice(h, step, 0)
    total = timeout_ms(timeout)
    if not timed_out(res) or total == 0:
        return res
    loop = asyncio.get_running_loop()
    deadline = None if total < 0 else time.monotonic() + total / 1000.0
    while True:
        if deadline is None:
            ms = ASYNC_SLICE_MS
        else:
            ms = max(0, min(ASYNC_SLICE_MS, int(math.ceil((deadline - time.monotonic()) * 1000.0))))
        fut = loop.run_in_executor(pool(), _slice, h, step, ms)
        try:
            res = await asyncio.shield(fut)
        except asyncio.CancelledError:
            if on_orphan is not None:
                fut.add_done_callback(lambda f: _orphan(f, timed_out, on_orphan))
            raise
        if not timed_out(res) or ms == 0 or (deadline is not None and time.monotonic() >= deadline):
            return res


def _orphan(f: "asyncio.Future[Any]", timed_out: Callable[[Any], bool], keep: Callable[[Any], None]) -> None:
    if f.cancelled() or f.exception() is not None:
        return
    res = f.result()
    if not timed_out(res):
        keep(res)


def is_timeout_status(rc: Any) -> bool:
    return rc == ETIMEDOUT
