"""Hypothesis properties of the Python peer's readers: arbitrary bytes into Frame.decode, and real segments of every
kind with random words overwritten (before the open, and again while the handle is open), used with calls that never
wait. Only shmbus.ShmbusError may come out (never a crash, an IndexError/ValueError from a bad view, or a hang).
SHMBUS_SLOW=1 runs many more examples. Skipped when hypothesis is not installed."""
from __future__ import annotations

import os
import secrets
import struct
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import shmbus  # noqa: E402
from shmbus import ShmbusError  # noqa: E402

EXAMPLES = 2000 if os.environ.get("SHMBUS_SLOW") == "1" else 150
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
RUN = os.environ.get("SHMBUS_TEST_RUN", "py")


def fresh(label: str) -> str:
    return f"test-{RUN}-py{os.getpid()}x{secrets.token_hex(4)}-{label}"


def path(name: str) -> Path:
    return Path("/dev/shm") / f"shmbus.{name}"


def only_typed(fn):
    """Runs fn; a ShmbusError is an allowed outcome (returned), anything else fails the property."""
    try:
        return fn()
    except ShmbusError as e:
        return e


@given(st.binary(max_size=400))
@SETTINGS
def test_frame_decode_arbitrary_bytes(data: bytes) -> None:
    r = only_typed(lambda: shmbus.Frame.decode(data))
    if isinstance(r, ShmbusError):
        assert r.code == "ERR_INVALID_ARG"


PARTS_VECTOR = (Path(__file__).resolve().parents[2] / "test" / "vectors" / "parts.bin")


@pytest.mark.skipif(not hasattr(shmbus, "Parts") or not PARTS_VECTOR.exists(), reason="no Parts codec in this tree")
@given(st.one_of(st.binary(max_size=400),
                 st.tuples(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
                           st.integers(0, 10**6))))
@SETTINGS
def test_parts_decode_arbitrary_bytes(case) -> None:
    if isinstance(case, bytes):
        data = case
    else:
        vector = PARTS_VECTOR.read_bytes()
        writes, cut = case
        buf = bytearray(vector[: cut % (len(vector) + 17)])
        for at, v in writes:
            if buf:
                buf[at % len(buf)] = v
        data = bytes(buf)
    r = only_typed(lambda: shmbus.Parts.decode(data))
    if isinstance(r, ShmbusError):
        assert r.code in ("ERR_PARTS_CORRUPT", "ERR_INVALID_ARG")
        return
    for v in r.values():
        if isinstance(v, memoryview):
            bytes(v)  # readable, inside the buffer


def _make_templates() -> dict:
    """Real segments of every kind, made by the Python peer with some traffic, as raw bytes."""
    out = {}

    def grab(kind, make):
        name = fresh(f"tpl-{kind}")
        handle, extra = make(name)
        try:
            out[kind] = path(name).read_bytes()
        finally:
            for h in (extra, handle):
                if h is not None:
                    h.close()
            p = path(name)
            if p.exists():
                p.unlink()

    def topic(n):
        t = shmbus.Topic.create(n, capacity=2048, max_message_size=200)
        for i in range(30):
            t.publish(bytes([i]) * (5 + i % 40))
        return t, None

    def queue(n):
        q = shmbus.Queue.create(n, slots=4, max_message_size=64)
        q.try_send(b"one")
        q.try_send(b"x" * 40)
        return q, None

    def mailbox(n):
        m = shmbus.Mailbox.create(n, max_message_size=64)
        m.write(b"value")
        return m, None

    def mutex(n):
        m = shmbus.Mutex.create(n)
        return m, None

    def semaphore(n):
        s = shmbus.Semaphore.create(n, initial=2)
        s.try_acquire()
        return s, None

    def event(n):
        return shmbus.Event.create(n, set=True), None

    for kind, make in [("topic", topic), ("queue", queue), ("mailbox", mailbox), ("mutex", mutex),
                       ("semaphore", semaphore), ("event", event)]:
        grab(kind, make)
    return out


TEMPLATES = None


def templates() -> dict:
    global TEMPLATES
    if TEMPLATES is None:
        TEMPLATES = _make_templates()
    return TEMPLATES


def _use(kind: str, name: str) -> None:
    """Opens `name` as `kind` and makes calls that never wait; only ShmbusError may come out."""
    if kind == "topic":
        sub = only_typed(lambda: shmbus.Topic.subscribe(name, start="oldest"))
        if not isinstance(sub, ShmbusError):
            for _ in range(3):
                m = only_typed(sub.try_read)
                if m is not None and not isinstance(m, ShmbusError):
                    bytes(m.data)
            sub.close()
        pub = only_typed(lambda: shmbus.Topic.open(name, timeout=0.001))
        if not isinstance(pub, ShmbusError):
            only_typed(lambda: pub.publish(b"x" * 16, timeout=0))
            pub.close()
    elif kind == "queue":
        q = only_typed(lambda: shmbus.Queue.open(name, liveness_interval=0.001))
        if not isinstance(q, ShmbusError):
            m = only_typed(q.try_receive)
            if m is not None and not isinstance(m, ShmbusError):
                bytes(m.data)
            only_typed(lambda: q.try_send(b"12345678"))
            q.close()
    elif kind == "mailbox":
        mb = only_typed(lambda: shmbus.Mailbox.open(name, timeout=0.001, liveness_interval=0.001))
        if not isinstance(mb, ShmbusError):
            v = only_typed(mb.read)
            if not isinstance(v, ShmbusError):
                bytes(v.data)
            only_typed(lambda: mb.write(b"fuzz", timeout=0))
            mb.close()
    elif kind == "mutex":
        m = only_typed(lambda: shmbus.Mutex.open(name, timeout=0.001, liveness_interval=0.001))
        if not isinstance(m, ShmbusError):
            r = only_typed(m.try_lock)
            if r is not None and not isinstance(r, ShmbusError):
                only_typed(m.unlock)
            m.close()
    elif kind == "semaphore":
        s = only_typed(lambda: shmbus.Semaphore.open(name, timeout=0.001, liveness_interval=0.001))
        if not isinstance(s, ShmbusError):
            r = only_typed(s.try_acquire)
            if r is not None and not isinstance(r, ShmbusError):
                only_typed(s.release)
            s.close()
    elif kind == "event":
        e = only_typed(lambda: shmbus.Event.open(name, timeout=0.001))
        if not isinstance(e, ShmbusError):
            only_typed(lambda: e.is_set)
            only_typed(lambda: e.wait(timeout=0))
            only_typed(e.set)
            e.close()


corruption = st.tuples(
    st.integers(min_value=0, max_value=2**31),
    st.one_of(st.sampled_from([0, 1, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 64, 4096, 1 << 20]),
              st.integers(min_value=0, max_value=0xFFFFFFFF)),
)


@pytest.mark.parametrize("kind", ["topic", "queue", "mailbox", "mutex", "semaphore", "event"])
def test_readers_over_corrupted_segments(kind: str) -> None:
    tpl = templates()[kind]

    @given(st.lists(corruption, min_size=1, max_size=6), st.booleans())
    @settings(max_examples=EXAMPLES // 3 if kind == "queue" else EXAMPLES, deadline=None,
              suppress_health_check=list(HealthCheck), database=None)
    def prop(writes, params_too):
        img = bytearray(tpl)
        # Words of the payload (and with params_too of the header's params, offset 64..127) overwritten.
        lo = 64 if params_too else 128
        words = (len(img) - lo) // 4
        for at, value in writes:
            struct.pack_into("<I", img, lo + (at % words) * 4, value)
        struct.pack_into("<I", img, 32, os.getpid())  # a live creator (the header's identity is not the subject)
        name = fresh(f"hyp-{kind}")
        p = path(name)
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, bytes(img))
        finally:
            os.close(fd)
        try:
            _use(kind, name)
        finally:
            if p.exists():
                p.unlink()

    prop()
