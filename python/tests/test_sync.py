"""RwLock, Semaphore and Event from Python (threads of one process, and across processes)."""
from __future__ import annotations

import threading

import pytest

import shmbus


def test_rwlock_readers_overlap_and_a_writer_excludes(unique_name) -> None:
    name = unique_name("rw")
    rw = shmbus.RwLock.create(name)
    assert rw.read_lock().recovered is False
    other = shmbus.RwLock.open(name)
    res = []

    def second() -> None:
        res.append((other.try_read_lock(), other.try_write_lock()))
        other.read_unlock()  # ownership is per thread: the thread that took it releases it

    t = threading.Thread(target=second)
    t.start()
    t.join()
    assert res[0][0] is not None and res[0][1] is None  # a second reader enters, a writer may not
    rw.read_unlock()
    with pytest.raises(shmbus.ShmbusError) as e:
        rw.read_unlock()
    assert e.value.code == "ERR_NOT_OWNER"
    with rw.write(timeout=10) as held:
        assert not held.recovered and rw.write_locked_by_me
    with rw.read(timeout=10):
        pass
    other.close()
    rw.close()


def test_semaphore_units_and_timeout(unique_name) -> None:
    name = unique_name("sem")
    s = shmbus.Semaphore.create(name, 2)
    assert s.value == 2
    with s as held:  # one unit for the block
        assert held.recovered is False and s.value == 1
    assert s.try_acquire() is not None and s.try_acquire() is not None and s.try_acquire() is None
    with pytest.raises(TimeoutError):
        s.acquire(timeout=0.02)
    s.release(2)
    assert s.value == 2
    with pytest.raises(shmbus.ShmbusError) as e:
        s.release(0)
    assert e.value.code == "ERR_INVALID_ARG"
    s.close()


def test_embedded_semaphore_and_event_in_a_segment(unique_name) -> None:
    def init(seg: shmbus.Segment) -> None:
        shmbus.Semaphore.init(seg, 0, 1, track_holders=False)
        shmbus.Event.init(seg, 1088, manual_reset=True)

    seg = shmbus.Segment.create(unique_name("emb"), 2048, init=init)
    sem = shmbus.Semaphore.embed(seg, 0)
    ev = shmbus.Event.embed(seg, 1088)
    assert sem.value == 1 and ev.manual_reset and not ev.is_set
    with pytest.raises(shmbus.ShmbusError) as e:
        shmbus.Event.embed(seg, 3)  # misaligned
    assert e.value.code == "ERR_INVALID_ARG"
    sem.close()
    ev.close()
    seg.close()


def test_event_auto_and_manual_reset(unique_name) -> None:
    auto = shmbus.Event.create(unique_name("ev"))
    with pytest.raises(TimeoutError):
        auto.wait(timeout=0.01)
    auto.set()
    auto.wait(timeout=1)  # consumes the set
    assert not auto.is_set
    manual = shmbus.Event.create(unique_name("evm"), manual_reset=True)
    woke = []
    ts = [threading.Thread(target=lambda: woke.append(manual.wait(timeout=30))) for _ in range(3)]
    for t in ts:
        t.start()
    manual.set()
    for t in ts:
        t.join()
    assert len(woke) == 3 and manual.is_set
    manual.reset()
    assert not manual.is_set
    auto.close()
    manual.close()
