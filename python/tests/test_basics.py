"""Segment, errors and Mutex from Python, in one process and across processes."""
from __future__ import annotations

import os
import pickle
import struct
import threading

import pytest

import shmbus
from conftest import shm_path


def test_errors_carry_the_node_codes_and_the_python_classes_users_expect(unique_name) -> None:
    name = unique_name("err")
    with pytest.raises(FileNotFoundError) as e:
        shmbus.Segment.open(name)
    assert isinstance(e.value, shmbus.ShmbusError) and e.value.code == "ERR_SHM_NOT_FOUND"
    seg = shmbus.Segment.create(name, 64)
    with pytest.raises(FileExistsError) as e2:
        shmbus.Segment.create(name, 64)
    assert e2.value.code == "ERR_SHM_EXISTS"
    again = pickle.loads(pickle.dumps(e2.value))
    assert type(again) is type(e2.value) and again.code == "ERR_SHM_EXISTS"
    with pytest.raises(shmbus.ShmbusError) as e3:
        shmbus.Segment.open(name, kind="topic")
    assert e3.value.code == "ERR_SHM_KIND"
    for bad in ["", "a/b", ".", "..", "x" * 201]:
        with pytest.raises(shmbus.ShmbusError) as e4:
            shmbus.Segment.create(bad, 8)
        assert e4.value.code == "ERR_INVALID_NAME", bad
    with pytest.raises(shmbus.ShmbusError) as e5:
        shmbus.Segment.create(unique_name("neg"), -1)
    assert e5.value.code == "ERR_INVALID_ARG"
    seg.close()


def test_segment_create_open_share_bytes_and_unlink(unique_name) -> None:
    name = unique_name("seg")
    a = shmbus.Segment.create(name, 4096, params=[7, 8])
    assert a.size == 4096 and a.kind == "raw" and a.params[:3] == (7, 8, 0)
    b = shmbus.Segment.open(name)
    a.buffer[100:105] = b"hello"
    assert bytes(b.buffer[100:105]) == b"hello"
    assert any(i.name == name for i in shmbus.Segment.list())
    view = a.buffer
    a.close()
    assert a.closed
    view[0] = 1  # a view taken before close stays valid memory
    del view
    with pytest.raises(shmbus.ShmbusError) as e:
        a.buffer
    assert e.value.code == "ERR_CLOSED"
    b.close()
    shmbus.Segment.unlink(name)
    assert not shm_path(name).exists()


def test_segment_init_runs_before_ready_and_its_exception_fails_the_create(unique_name) -> None:
    name = unique_name("init")
    seg = shmbus.Segment.create(name, 16, init=lambda s: s.buffer.__setitem__(slice(0, 4), b"abcd"))
    assert bytes(shmbus.Segment.open(name).buffer[:4]) == b"abcd"
    seg.close()
    name2 = unique_name("initfail")

    def boom(_s: shmbus.Segment) -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        shmbus.Segment.create(name2, 16, init=boom)
    assert not shm_path(name2).exists()


def test_segment_wait_and_wake_across_threads(unique_name) -> None:
    seg = shmbus.Segment.create(unique_name("wait"), 64)
    assert seg.wait(0, 1, timeout=0) == "not-equal"
    assert seg.wait(0, 0, timeout=0.01) == "timed-out"
    got = []
    t = threading.Thread(target=lambda: got.append(seg.wait(1, 0, timeout=30)))
    t.start()
    while True:  # wake until the waiter is gone: a wake before it sleeps would be lost, so the word changes first
        struct.pack_into("<I", seg.buffer, 4, 1)
        seg.wake(1)
        t.join(0.01)
        if not t.is_alive():
            break
    assert got == ["ok"] or got == ["not-equal"]
    seg.close()


def test_map_file_and_open_raw(tmp_path, unique_name) -> None:
    f = tmp_path / "data.bin"
    f.write_bytes(bytes(range(256)) * 4)
    w = shmbus.Segment.map_file(f, offset=256, length=16)
    assert bytes(w.buffer) == bytes(range(16))
    with pytest.raises(shmbus.ShmbusError) as e:
        shmbus.Segment.map_file(f, offset=1000, length=100)
    assert e.value.code == "ERR_INVALID_ARG"
    w.close()
    name = unique_name("raw")
    seg = shmbus.Segment.create(name, 32)
    raw = shmbus.Segment.open_raw(f"/shmbus.{name}")
    assert raw.size == 128 + 32 and raw.kind is None
    assert bytes(raw.buffer[:4]) == b"SHMB"
    raw.close()
    seg.close()


def test_mutex_excludes_threads_and_reports_ownership(unique_name) -> None:
    name = unique_name("mx")
    m = shmbus.Mutex.create(name)
    counter = [0]

    def work() -> None:
        mine = shmbus.Mutex.open(name)
        for _ in range(2000):
            with mine as held:
                assert held.recovered is False
                c = counter[0]
                counter[0] = c + 1
        mine.close()

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert counter[0] == 8000
    assert m.lock().recovered is False
    assert m.locked_by_me
    with pytest.raises(shmbus.ShmbusError) as e:
        m.lock(timeout=0)
    assert e.value.code == "ERR_INVALID_ARG"  # a re-lock by the holder would deadlock
    m.unlock()
    with pytest.raises(shmbus.ShmbusError) as e2:
        m.unlock()
    assert e2.value.code == "ERR_NOT_OWNER"
    m.close()


def test_mutex_lock_times_out_as_a_timeout_error(unique_name) -> None:
    name = unique_name("mxt")
    m = shmbus.Mutex.create(name)
    m.lock()
    res = []

    def other() -> None:
        o = shmbus.Mutex.open(name)
        try:
            o.lock(timeout=0.05)
        except TimeoutError as e:
            res.append(getattr(e, "code", None))
        assert o.try_lock() is None
        o.close()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert res == ["ERR_TIMEOUT"]
    m.unlock()
    m.close()


def test_timeouts_are_seconds_and_bad_ones_are_invalid_arg(unique_name) -> None:
    m = shmbus.Mutex.create(unique_name("to"))
    for bad in [-1, float("nan"), "1", True]:
        with pytest.raises(shmbus.ShmbusError) as e:
            m.lock(timeout=bad)  # type: ignore[arg-type]
        assert e.value.code == "ERR_INVALID_ARG", bad
    assert m.lock(timeout=float("inf")).recovered is False
    m.unlock()
    m.close()


def test_kill9_of_a_python_holder_is_recovered_by_python(unique_name, peers) -> None:
    name = unique_name("mxk")
    m = shmbus.Mutex.create(name)
    holder = peers.py("mutex-hold", name)
    holder.line("holding")
    holder.kill9()
    assert m.lock(timeout=10).recovered is True
    m.unlock()
    m.close()
