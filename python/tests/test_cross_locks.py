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
