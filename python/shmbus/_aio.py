"""asyncio support: how an `await` waits on shared memory without blocking the event loop and without a thread
per waiter.

1. The coroutine runs the channel's ordinary C call on the event-loop thread in *park capture* mode
   (shmbus_park_capture_begin, c/src/park.c): the call does everything it would do (read, spin, liveness and
   end-of-stream checks, announce itself in the sleepers word, PROTOCOL §3) but, where it would sleep, it records
   the futex word and the value it would sleep on and returns at once.
2. The coroutine hands (word, expected) to a **group thread**: one thread sleeps in futex_waitv (Linux >= 5.16) on
   up to 127 such words of any channels and processes plus its control word (index 0), so 200 waiters use 2
   threads. When a word is woken the thread completes the waits (loop.call_soon_threadsafe) and each coroutine
   calls again (step 1): the C library, not this module, decides what the wake meant.
3. A captured sleep has a length (the liveness slice of the call: a dead publisher or lock holder is noticed that
   way): a loop timer ends the wait then, and the next call skips that one sleep (skip=1) so its liveness check
   runs. The caller's own timeout is a loop timer too.

The group thread follows the Node addon's rules (src/native/waiter.cc): futex_waitv reports only the highest woken
index, so after a wake of any user word every wait of the group completes (a spurious completion costs one re-call);
after a control wake (a wait added or cancelled) only the waits whose word moved complete.

Without futex_waitv (Linux < 5.16: shmbus_futex_waitv says ERR_OS) the group thread re-checks its words every
POLL_MS instead (still O(1) threads; wakes are up to POLL_MS late)."""
from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from ._lib import Handle, ffi, lib, timeout_ms

GROUP_CAPACITY = 127  # futex_waitv takes 128 words; index 0 is the group's control word
POLL_MS = 2  # the polling fallback's period (kernels without futex_waitv)
_EAGAIN = -20
_ETIMEDOUT = -10


class _Wait:
    __slots__ = ("word", "expected", "keep", "loop", "fut", "group")

    def __init__(self, word: Any, expected: int, keep: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.word = word  # const uint32_t* into a mapping that `keep` holds open
        self.expected = expected
        self.keep = keep
        self.loop = loop
        self.fut: asyncio.Future = loop.create_future()
        self.group: Optional[_Group] = None


def _fire(waits: List[_Wait]) -> None:
    for w in waits:
        if not w.fut.done():
            w.fut.set_result(True)


class _Group:
    """One thread sleeping on up to GROUP_CAPACITY words at once."""

    def __init__(self, mux: "_Mux") -> None:
        self.mux = mux
        self.waits: List[_Wait] = []
        self.control = ffi.new("uint32_t*")  # bumped (under mux.lock) on every add/cancel, then woken
        self.thread = threading.Thread(target=self._run, name="shmbus-aio", daemon=True)
        self.thread.start()

    def poke(self) -> None:
        """Called under mux.lock after a change of `waits`: the thread rebuilds its word list."""
        self.control[0] = (self.control[0] + 1) & 0xFFFFFFFF  # the futex_waitv compare sees it (EAGAIN) or the wake
        lib.shmbus_futex_wake_all(self.control)

    def _run(self) -> None:
        mux = self.mux
        n_max = GROUP_CAPACITY + 1
        words = ffi.new("const uint32_t*[]", n_max)
        expected = ffi.new("uint32_t[]", n_max)
        words[0] = self.control
        while True:
            with mux.lock:
                snap = list(self.waits)
                expected[0] = self.control[0]
                for i, w in enumerate(snap):
                    words[i + 1] = w.word
                    expected[i + 1] = w.expected
            n = len(snap) + 1
            rc = lib.shmbus_futex_waitv(words, expected, n, -1 if mux.waitv else time.monotonic_ns() + POLL_MS * 1_000_000)
            if rc == -18 and mux.waitv:  # ERR_OS: no futex_waitv in this kernel: poll from now on
                mux.waitv = False
                continue
            with mux.lock:
                if rc > 0 or (rc < 0 and rc not in (_EAGAIN, _ETIMEDOUT)):
                    # A user word was woken (or an unexpected error): every wait of the group completes (see above).
                    done = [w for w in snap if w.group is self]
                else:
                    # Control wake, EAGAIN, poll tick: only the waits whose word moved. The word is read with a
                    # plain aligned 32-bit load (acquire on x86-64; the caller re-reads everything through the C
                    # library, whose loads are acquire, before it acts: SYNC PARK).
                    done = [w for w in snap if w.group is self and w.word[0] != w.expected]
                for w in done:
                    mux.remove(w)
            if done:
                mux.complete(done)


class _Mux:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.groups: List[_Group] = []
        self.waitv = True

    def add(self, w: _Wait) -> None:
        with self.lock:
            g = next((g for g in self.groups if len(g.waits) < GROUP_CAPACITY), None)
            if g is None:
                g = _Group(self)
                self.groups.append(g)
            g.waits.append(w)
            w.group = g
            g.poke()

    def remove(self, w: _Wait) -> None:
        """Under self.lock."""
        g = w.group
        if g is not None:
            w.group = None
            g.waits.remove(w)
            g.poke()

    def cancel(self, w: _Wait) -> None:
        with self.lock:
            self.remove(w)

    def complete(self, waits: List[_Wait]) -> None:
        by_loop: Dict[Any, List[_Wait]] = {}
        for w in waits:
            by_loop.setdefault(w.loop, []).append(w)
        for loop, ws in by_loop.items():
            try:
                loop.call_soon_threadsafe(_fire, ws)
            except RuntimeError:
                pass  # that loop is closed: nobody awaits these any more

    def threads(self) -> int:
        with self.lock:
            return len(self.groups)


_mux = _Mux()


def _after_fork_in_child() -> None:
    # A forked child has none of the parent's waiter threads: start from an empty multiplexer.
    global _mux
    _mux = _Mux()


os.register_at_fork(after_in_child=_after_fork_in_child)


def threads() -> int:
    """How many waiter threads exist (each serves up to 127 pending waits)."""
    return _mux.threads()


def pending() -> int:
    """How many waits are parked on a waiter thread now."""
    with _mux.lock:
        return sum(len(g.waits) for g in _mux.groups)


async def _park(word: Any, expected: int, keep: Any, seconds: Optional[float]) -> bool:
    """Waits until the word may have moved (True) or `seconds` passed (False)."""
    loop = asyncio.get_running_loop()
    w = _Wait(word, expected, keep, loop)
    _mux.add(w)
    timer = None if seconds is None else loop.call_later(seconds, lambda: w.fut.done() or w.fut.set_result(False))
    try:
        return await w.fut
    finally:
        if timer is not None:
            timer.cancel()
        if w.group is not None:
            _mux.cancel(w)


_park_out = threading.local()


async def wait(h: Handle, step: Callable[[Any, int], Any], timeout: Optional[float],
               timed_out: Callable[[Any], bool]) -> Any:
    """Runs step(ptr, ms) (one blocking C call of this handle, with a timeout of ms: -1 forever) until
    `timed_out(result)` is false or `timeout` (seconds, None = forever) ran out; returns the last result. Every call
    runs on this (the event loop's) thread in park capture, so it never sleeps (see the module docstring)."""
    total = timeout_ms(timeout)
    deadline = None if total < 0 else time.monotonic() + total / 1000.0
    park = getattr(_park_out, "park", None)
    if park is None:
        park = _park_out.park = ffi.new("shmbus_park*")
    skip = 0
    while True:
        if deadline is None:
            ms = -1
        else:
            left = deadline - time.monotonic()
            ms = 0 if left <= 0 else max(1, int(left * 1000.0 + 0.999))
        keep = h.enter()
        lib.shmbus_park_capture_begin(skip)
        try:
            res = step(h.ptr, ms)
        finally:
            captured = lib.shmbus_park_capture_end(park)
        if not timed_out(res) or ms == 0 or not captured:
            return res
        word, expected, slice_ms = park.word, int(park.expected), int(park.timeout_ms)
        seconds: Optional[float] = None if slice_ms < 0 else slice_ms / 1000.0
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            seconds = left if seconds is None else min(seconds, left)
        woken = await _park(word, expected, keep, seconds)
        del keep
        # A slice that ran out counts as the sleep the call wanted: the next call skips it (its liveness check runs).
        skip = 0 if woken else 1
