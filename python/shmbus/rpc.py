"""Rpc (PROTOCOL.md §8): request/response between processes. Rpc.serve runs a Python handler on the C library's
worker threads (each call takes the GIL); Rpc.connect makes a client whose request() waits for the answer."""
from __future__ import annotations

import asyncio
import inspect
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Dict, Optional, Union

from ._lib import Handle, as_bytes, check, encode_name, fail, ffi, invalid, lib, liveness_ms, spin_us, timeout_ms
from ._view import SlotView, TextBytes
from .errors import make_error
from .segment import Segment, check_mode

TEXT = 1  # SHMBUS_MSG_TEXT
_DEFAULT_MAX = 65536
Reply = Union[bytes, bytearray, memoryview, str, Any]


class RpcRequest:
    """What a handler gets: `data` (a private copy; with serve(copy=False) a read-only memoryview of the request's
    slot, valid during the handler call only), `is_text`, text(), `id`, `client_id`, `client_pid`, and loan(size)."""

    __slots__ = ("data", "is_text", "id", "client_id", "client_pid", "_reply", "_loan", "_loan_ptr")

    def __init__(self, data: Any, is_text: bool, id: int, client_id: int, client_pid: int, reply: Any = None) -> None:
        self.data = data
        self.is_text = is_text
        self.id = id
        self.client_id = client_id
        self.client_pid = client_pid
        self._reply = reply
        self._loan: Optional[memoryview] = None
        self._loan_ptr: Any = None

    def text(self) -> str:
        return bytes(self.data).decode("utf-8")

    def loan(self, size: int) -> memoryview:
        """Room for the response in the asking client's response queue (zero-copy answer): write it, then return
        this memoryview (or a slice buf[:n] of it) from the handler. Returning anything else answers that instead
        (the loan is given back). ERR_MESSAGE_TOO_LARGE above the client's response size, ERR_INVALID_ARG for a
        second loan, ERR_CLOSED when the client is gone; waits while the client's response queue is full."""
        if self._reply is None:
            raise make_error("ERR_CLOSED", "the handler call of this request has returned")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise invalid(f"size must be an int >= 0, got {size!r}")
        out = ffi.new("void**")
        check(lib.shmbus_rpc_reply_loan(self._reply, size, out))
        self._loan_ptr = out[0]
        self._loan = memoryview(ffi.buffer(out[0], size))
        return self._loan

    def __repr__(self) -> str:
        return f"<shmbus.RpcRequest id={self.id} client={self.client_id} size={len(self.data)}>"


class RpcResponse(TextBytes):
    """A response: the bytes (a private copy), plus `is_text` (the handler answered a string) and text()."""


@ffi.def_extern()
def _shmbus_rpc_handler(ctx: Any, req: Any, reply: Any) -> int:
    server: RpcServer = ffi.from_handle(ctx)
    view: Optional[memoryview] = None
    r: Optional[RpcRequest] = None
    try:
        if server._zero_copy:
            view = memoryview(ffi.buffer(req.data, req.size)).toreadonly()
            data: Any = view
        else:
            data = ffi.buffer(req.data, req.size)[:]
        r = RpcRequest(data, bool(req.flags & TEXT), req.id, req.client_id, req.client_pid, reply)
        out = server._handler(r)
        if inspect.isawaitable(out):
            # an async handler: it runs on the event loop Rpc.serve was called in; this worker waits for it
            out = asyncio.run_coroutine_threadsafe(_as_coroutine(out), server._loop).result()
        if r._loan is not None and _is_loan_prefix(out, r._loan, r._loan_ptr):
            # the answer is the loaned response slot (zero-copy): the worker commits the first len(out) bytes
            reply.data = r._loan_ptr
            reply.size = len(out)
            reply.flags = 0
            return 0
        flags = TEXT if isinstance(out, str) else 0
        b = as_bytes(out if out is not None else b"", "the handler's reply")
        n = len(memoryview(b).cast("B")) if not isinstance(b, (bytes, bytearray)) else len(b)
        if n > reply.cap:
            return lib.shmbus_rpc_reply_error(reply, f"ERR_MESSAGE_TOO_LARGE: reply of {n} bytes, the service takes at most {reply.cap}".encode())
        ffi.memmove(reply.buf, b, n)
        reply.data = reply.buf
        reply.size = n
        reply.flags = flags
        return 0
    except BaseException as e:  # noqa: BLE001 (any failure of the handler goes back to the client as ERR_REMOTE)
        if server._on_error is not None:
            try:
                server._on_error(e)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
        msg = str(e) or type(e).__name__
        return lib.shmbus_rpc_reply_error(reply, msg.encode("utf-8", "replace")[:255])
    finally:
        if r is not None:
            r._reply = None
            for mv in (r._loan, view):
                if mv is not None:
                    try:
                        mv.release()  # the slots belong to the library again: no use after the call
                    except BufferError:
                        pass


def _is_loan_prefix(out: Any, loan: memoryview, ptr: Any) -> bool:
    """True when `out` is the loan's memoryview or a slice of it that starts at its first byte."""
    if not isinstance(out, memoryview) or out.obj is not loan.obj or not out.c_contiguous:
        return False
    if len(out) == 0:
        return True
    return int(ffi.cast("uintptr_t", ffi.from_buffer(out))) == int(ffi.cast("uintptr_t", ptr))


class RpcView(SlotView):
    """A response read in place (request(copy=False), loan commit(copy=False)): `data` is a read-only memoryview of
    the client's response slot, valid until release(), the client's next request or loan, or its close. A context
    manager (release on exit)."""

    __slots__ = ()

    def __init__(self, client: "RpcClient", c: Any) -> None:
        super().__init__(client, c, client._h.view_at(c.data, int(c.size)).toreadonly(), bool(c.flags & TEXT))

    def release(self) -> None:
        """Gives the slot back (idempotent; also done by the client's next request and by its close)."""
        client = self._owner
        if self._end() and not client._h.closed:
            check(client._h.call(lib.shmbus_rpc_view_release, self._c))

    def __exit__(self, *exc: Any) -> None:
        self.release()


class RpcRequestLoan:
    """A request written in place: fill `buffer`, then commit(size=None, *, timeout=None, copy=True, text=False)
    sends it and returns the response (RpcResponse, or an RpcView with copy=False); or abort()."""

    __slots__ = ("_client", "_c", "buffer", "_open")

    def __init__(self, client: "RpcClient", c: Any) -> None:
        self._client = client
        self._c = c
        self.buffer = client._h.view_at(c.data, int(c.size))
        self._open = True

    def _end(self) -> int:
        if not self._open:
            raise make_error("ERR_CLOSED", "this loan was already committed or aborted")
        self._open = False
        self._client._loan = None
        cap = len(self.buffer)
        try:
            self.buffer.release()
        except BufferError:
            pass
        return cap

    def commit(self, size: Optional[int] = None, *, timeout: Optional[float] = None, copy: bool = True,
               text: bool = False) -> Union["RpcResponse", RpcView]:
        cap = self._end()
        n = cap if size is None else size
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= cap:
            self._client._h.call(lib.shmbus_rpc_request_abort, self._c)
            raise invalid(f"size must be an int in [0, {cap}], got {size!r} (the loan was aborted)")
        v = ffi.new("shmbus_rpc_view*")
        check(self._client._h.call(lib.shmbus_rpc_request_commit, self._c, n, TEXT if text else 0, v, timeout_ms(timeout)))
        return self._client._response(v, copy)

    def abort(self) -> None:
        self._end()
        check(self._client._h.call(lib.shmbus_rpc_request_abort, self._c))


async def _as_coroutine(aw: Awaitable[Any]) -> Any:
    return await aw


class RpcServer:
    """A running server (its workers are C threads calling the handler). close() stops taking requests, lets the
    running handlers answer, and leaves the service."""

    __slots__ = ("_ptr", "_handler", "_on_error", "_self_handle", "_name", "_final", "_loop", "_zero_copy")

    def stats(self) -> Dict[str, int]:
        """served, failed, in_flight (after close: the final figures)."""
        if self._ptr is None:
            return dict(self._final)
        s = ffi.new("shmbus_rpc_server_stats*")
        check(lib.shmbus_rpc_server_get_stats(self._ptr, s))
        return {"served": int(s.served), "failed": int(s.failed), "in_flight": int(s.in_flight)}

    @property
    def name(self) -> str:
        return self._name

    def close(self) -> None:
        """Idempotent. stats() then keeps the figures read when the workers were told to stop."""
        ptr = self._ptr
        if ptr is not None:
            lib.shmbus_rpc_server_stop(ptr)
            self._final = self.stats()
            self._ptr = None
            lib.shmbus_rpc_server_close(ptr)  # joins the workers (the GIL is released meanwhile) and frees
            self._self_handle = None

    async def close_async(self) -> None:
        """close() without blocking the event loop: needed with an async handler, whose running calls need the
        loop to finish while close() waits for them."""
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    async def __aenter__(self) -> "RpcServer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close_async()

    def __enter__(self) -> "RpcServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class RpcClient:
    """A client of one service. request() sends and waits for the answer; one thread at a time per client."""

    __slots__ = ("_h", "_name", "_cap", "_buf", "_one", "_view", "_loan", "__weakref__")

    def _response(self, v: Any, copy: bool) -> Union["RpcResponse", RpcView]:
        view = RpcView(self, v)
        if not copy:
            self._view = view
            return view
        res = RpcResponse(view.tobytes(), view.is_text)
        view.release()
        return res

    def _drop(self) -> None:
        """The client's next request/loan ends its previous view (as the C library does)."""
        if self._view is not None:
            self._view.release()
        if self._loan is not None:
            raise invalid("a request loan of this client is still open: commit or abort it first")

    def loan(self, size: int, *, timeout: Optional[float] = None) -> RpcRequestLoan:
        """Room for a request in the service's request queue (zero-copy request; waits while it is full).
        ERR_NO_SERVER at once when no server lives, ERR_MESSAGE_TOO_LARGE above the service's size."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise invalid(f"size must be an int >= 0, got {size!r}")
        self._drop()
        c = ffi.new("shmbus_rpc_loan*")
        check(self._h.call(lib.shmbus_rpc_request_loan, size, timeout_ms(timeout), c))
        self._loan = RpcRequestLoan(self, c)
        return self._loan

    def request(self, data: Any, *, timeout: Optional[float] = None, copy: bool = True) -> Union[RpcResponse, RpcView]:
        """Sends `data` (bytes-like, numpy, or str: a text request) and returns the response. Raises
        ShmbusError ERR_NO_SERVER (no live server, or it died holding the request), ERR_REMOTE (the handler
        failed: its message), ShmbusTimeoutError, ERR_MESSAGE_TOO_LARGE. copy=False: the response as an RpcView of
        the response slot (zero-copy), valid until its release(), the next request or loan, or close()."""
        flags = TEXT if isinstance(data, str) else 0
        src = ffi.from_buffer(as_bytes(data))
        if self._view is not None or self._loan is not None:
            self._drop()
        if not copy:
            v = ffi.new("shmbus_rpc_view*")
            check(self._h.call(lib.shmbus_rpc_request_view, src, len(src), flags, v, timeout_ms(timeout)))
            return self._response(v, False)
        if self._buf is None:
            self._cap = self._cap or _service_max(self._name)
            self._buf = ffi.new("uint8_t[]", self._cap)
        n = ffi.new("size_t*")
        rf = ffi.new("uint32_t*")
        keep = self._h.enter()
        try:
            # Not sliced: a request is sent once; the C call bounds its own wait (timeout, server liveness).
            rc = lib.shmbus_rpc_request_ex(self._h.ptr, src, len(src), flags, self._buf, self._cap, n, rf, timeout_ms(timeout))
        finally:
            del keep
        if rc != 0:
            raise fail(rc)
        return RpcResponse(ffi.buffer(self._buf, n[0])[:], bool(rf[0] & TEXT))

    async def request_async(self, data: Any, *, timeout: Optional[float] = None) -> RpcResponse:
        """request() without blocking the event loop. The C request is one call that sends and then waits, so it
        runs on a small shared pool (RPC_THREADS threads for every client of the process; requests of one client
        take turns). A cancelled request_async still completes its request in the background (its response is
        dropped), as a request cannot be taken back once sent."""
        self._h.enter()
        one = self._one

        def run() -> RpcResponse:
            with one:
                return self.request(data, timeout=timeout)

        return await asyncio.get_running_loop().run_in_executor(_pool(), run)

    @property
    def name(self) -> str:
        return self._name

    @property
    def client_id(self) -> int:
        keep = self._h.enter()
        try:
            return int(lib.shmbus_rpc_client_id(self._h.ptr))
        finally:
            del keep

    @property
    def closed(self) -> bool:
        return self._h.closed

    def close(self) -> None:
        """Removes this client's response queue (idempotent); aborts an open request loan and releases the
        response view first (the C handle does not)."""
        if self._h.closed:
            return
        if self._loan is not None:
            self._loan.abort()
        if self._view is not None:
            self._view.release()
        self._h.close()

    def __enter__(self) -> "RpcClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


RPC_THREADS = 8
_rpc_pool: Optional[ThreadPoolExecutor] = None
_rpc_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _rpc_pool
    with _rpc_pool_lock:
        if _rpc_pool is None:
            _rpc_pool = ThreadPoolExecutor(max_workers=RPC_THREADS, thread_name_prefix="shmbus-rpc")
        return _rpc_pool


def _service_max(name: str) -> int:
    """The service's largest message (its request ring's slotSize - 32, §8 params[1]); the default when the
    service does not exist (the request then fails with ERR_NO_SERVER anyway)."""
    try:
        with Segment.open(name, kind="rpc", timeout=0) as seg:
            slot = seg.params[1]
        return max(1, slot - 32)
    except Exception:  # noqa: BLE001 (missing or unreadable: the request reports it)
        return _DEFAULT_MAX


def _u32(v: Optional[int], what: str, low: int, high: int) -> int:
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise invalid(f"{what} must be an int from {low} to {high}, got {v!r}")
    return v


class Rpc:
    """Rpc.serve(name, handler, workers=...) / Rpc.connect(name) / Rpc.unlink(name)."""

    @staticmethod
    def serve(name: str, handler: Callable[[RpcRequest], Reply], *, workers: int = 1, max_message_size: int = 65536,
              slots: int = 16, mode: int = 0o600, liveness_interval: Optional[float] = None, spin: Optional[int] = None,
              on_error: Optional[Callable[[BaseException], None]] = None, copy: bool = True) -> RpcServer:
        """Creates the service (or joins its servers) and runs `workers` handler threads in this process.
        handler(req) returns bytes-like or str (a text reply); an exception goes back as ERR_REMOTE. An async
        handler (`async def`) runs on the event loop serve() is called in (each of the `workers` threads waits for
        one call); stop such a server with `await server.close_async()` (or `async with`)."""
        if not callable(handler):
            raise invalid("handler must be callable")
        o = ffi.new("shmbus_rpc_serve_options*")
        o.struct_size = ffi.sizeof("shmbus_rpc_serve_options")
        o.workers = _u32(workers, "workers", 1, 64)
        o.max_message_size = _u32(max_message_size, "max_message_size", 1, 1 << 30)
        o.slots = _u32(slots, "slots", 1, 1 << 24)
        o.mode = check_mode(mode)
        if liveness_interval is not None:
            o.liveness_ms = liveness_ms(liveness_interval)
        if spin is not None:
            o.spin_us = spin_us(spin)
        server = object.__new__(RpcServer)
        server._handler = handler
        server._on_error = on_error
        server._name = name
        server._loop = None
        server._zero_copy = not copy
        o.zero_copy = 0 if copy else 1
        if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None)):
            try:
                server._loop = asyncio.get_running_loop()
            except RuntimeError:
                raise invalid("an async handler needs Rpc.serve to be called inside a running event loop") from None
        server._self_handle = ffi.new_handle(server)  # the C side's ctx: alive as long as the server runs
        out = ffi.new("shmbus_rpc_server**")
        check(lib.shmbus_rpc_serve(encode_name(name), lib._shmbus_rpc_handler, server._self_handle, o, out))
        server._ptr = out[0]
        rc = lib.shmbus_rpc_server_start(server._ptr)
        if rc != 0:
            lib.shmbus_rpc_server_close(server._ptr)
            server._ptr = None
            raise fail(rc)
        return server

    @staticmethod
    def connect(name: str, *, max_message_size: Optional[int] = None, slots: int = 4, mode: int = 0o600,
                liveness_interval: Optional[float] = None, spin: Optional[int] = None) -> RpcClient:
        """A client; never waits and never fails for a missing server (each request reports it).
        max_message_size: the largest response accepted (default: the service's)."""
        o = ffi.new("shmbus_rpc_connect_options*")
        o.struct_size = ffi.sizeof("shmbus_rpc_connect_options")
        o.max_message_size = _u32(max_message_size, "max_message_size", 1, 1 << 30)
        o.slots = _u32(slots, "slots", 1, 1 << 24)
        o.mode = check_mode(mode)
        if liveness_interval is not None:
            o.liveness_ms = liveness_ms(liveness_interval)
        if spin is not None:
            o.spin_us = spin_us(spin)
        out = ffi.new("shmbus_rpc_client**")
        check(lib.shmbus_rpc_connect_ex(encode_name(name), o, out))
        c = object.__new__(RpcClient)
        c._h = Handle(out[0], lib.shmbus_rpc_client_close)
        c._name = name
        c._cap = max_message_size or 0
        c._buf = None
        c._view = None
        c._loan = None
        c._one = threading.Lock()  # one request at a time per client (request_async runs them on pool threads)
        return c

    @staticmethod
    def unlink(name: str) -> None:
        check(lib.shmbus_rpc_unlink(encode_name(name)))
