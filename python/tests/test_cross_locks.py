"""Mutex across languages: exact count with one process per language, and kill -9 recovery both ways."""
from __future__ import annotations

import struct

import shmbus

ITER = 20_000


def test_mutex_exact_count_python_node_processes(unique_name, peers) -> None:
    name = unique_name("cnt")
    seg = shmbus.Segment.create(name, 128)
    ps = [peers.py("lock-counter", name, 0, 64, ITER), peers.node("lock-counter", "mutex", name, 0, 64, ITER, "sync")]
    for p in ps:
        p.line("ready")
    for p in ps:
        p.send("go")
    for p in ps:
        assert p.line("done") == "done overlaps=0"
        p.wait_ok()
    assert struct.unpack_from("<I", seg.buffer, 64)[0] == ITER * len(ps)
    seg.close()


def test_kill9_of_a_node_holder_is_recovered_by_python(unique_name, peers) -> None:
    name = unique_name("k9n")
    m = shmbus.Mutex.create(name)
    holder = peers.node("lock-peer", "mutex", "named", name)
    holder.send("lock")
    assert holder.line("locked").startswith("locked recovered=false")
    holder.kill9()
    assert m.lock(timeout=10).recovered is True
    m.unlock()
    m.close()


def test_kill9_of_a_python_holder_is_recovered_by_node(unique_name, peers) -> None:
    name = unique_name("k9p")
    shmbus.Mutex.create(name).close()
    holder = peers.py("mutex-hold", name)
    holder.line("holding")
    holder.kill9()
    taker = peers.node("lock-peer", "mutex", "named", name)
    taker.send("lock")
    assert taker.line("locked") == "locked recovered=true"


def test_mutex_exact_count_python_node_c_processes(unique_name, peers) -> None:
    name = unique_name("cnt3")
    seg = shmbus.Segment.create(name, 128)
    ps = [
        peers.py("lock-counter", name, 0, 64, ITER),
        peers.node("lock-counter", "mutex", name, 0, 64, ITER, "sync"),
        peers.c("sync-peer", "counter", "mutex", name, 0, 64, ITER),
    ]
    for p in ps:
        p.line("ready")
    for p in ps:
        p.send("go")
    for p in ps:
        assert p.line("done") == "done overlaps=0"
        p.wait_ok()
    assert struct.unpack_from("<I", seg.buffer, 64)[0] == ITER * 3
    seg.close()


def test_kill9_of_a_c_holder_is_recovered_by_python(unique_name, peers) -> None:
    name = unique_name("k9c")
    m = shmbus.Mutex.create(name)
    holder = peers.c("sync-peer", "mutex", "named", name)
    holder.line("ready")
    holder.send("lock")
    assert holder.line("locked") == "locked recovered=false"
    holder.kill9()
    assert m.lock(timeout=10).recovered is True
    m.unlock()
    m.close()


def test_kill9_of_a_python_holder_is_recovered_by_c(unique_name, peers) -> None:
    name = unique_name("k9pc")
    m = shmbus.Mutex.create(name)
    py_holder = peers.py("mutex-hold", name)
    py_holder.line("holding")
    py_holder.kill9()
    taker = peers.c("sync-peer", "mutex", "named", name)
    taker.line("ready")
    taker.send("lock")
    assert taker.line("locked") == "locked recovered=true"
    m.close()


def test_rwlock_semaphore_event_across_python_and_node(unique_name, peers) -> None:
    rw_name, sem_name, ev_name = unique_name("rwx"), unique_name("semx"), unique_name("evx")
    rw = shmbus.RwLock.create(rw_name)
    sem = shmbus.Semaphore.create(sem_name, 1)
    ev = shmbus.Event.create(ev_name, manual_reset=True)
    node_rw = peers.node("lock-peer", "rwlock", "named", rw_name)
    node_rw.send("write")
    assert node_rw.line("write") == "write recovered=false"
    assert rw.try_read_lock() is None
    node_rw.kill9()
    assert rw.write_lock(timeout=10).recovered is True  # the dead writer's lock is taken over
    rw.write_unlock()
    node_sem = peers.node("lock-peer", "semaphore", "named", sem_name)
    node_sem.send("acquire")
    assert node_sem.line("acquired") == "acquired recovered=false"
    assert sem.try_acquire() is None
    node_sem.kill9()
    assert sem.acquire(timeout=10).recovered is True  # its unit came back
    node_ev = peers.node("lock-peer", "event", "named", ev_name)
    node_ev.send("wait-async")
    node_ev.line("waiting")
    ev.set()
    node_ev.line("woke")
    for x in (rw, sem, ev):
        x.close()
