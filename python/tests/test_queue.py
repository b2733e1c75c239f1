"""Queue from Python, and across languages with real processes."""
from __future__ import annotations

import asyncio
import re
import threading

import pytest

import shmbus
from peers.pypeer import check_queue, fill_queue

N = 100_000


def test_send_receive_text_flag_full_end_of_stream(unique_name) -> None:
    name = unique_name("q")
    q = shmbus.Queue.create(name, slots=4, max_message_size=64)
    assert q.slots == 4 and q.max_message_size == 64 and not q.ended
    q.send(b"bytes")
    q.send("text")
    m1, m2 = q.receive(timeout=1), q.receive(timeout=1)
    assert m1 == b"bytes" and not m1.is_text
    assert m2 == b"text" and m2.is_text and m2.text() == "text"
    assert all(q.try_send(bytes([i])) for i in range(4))
    assert q.try_send(b"full") is False
    with pytest.raises(TimeoutError):
        q.send(b"full", timeout=0.02)
    with pytest.raises(shmbus.ShmbusError) as e:
        q.send(b"x" * 65)
    assert e.value.code == "ERR_MESSAGE_TOO_LARGE"
    other = shmbus.Queue.open(name)
    other.end()
    assert q.ended
    with pytest.raises(shmbus.ShmbusError) as e2:
        q.send(b"late")
    assert e2.value.code == "ERR_CLOSED"
    assert [bytes(m) for m in q] == [bytes([i]) for i in range(4)]  # drained, then the end of the stream
    assert q.receive(timeout=1) is None and q.try_receive() is None
    other.close()
    q.close()


def test_receive_times_out_as_a_timeout_error_and_wakes_on_send(unique_name) -> None:
    name = unique_name("qt")
    q = shmbus.Queue.create(name, slots=8, max_message_size=16)
    with pytest.raises(shmbus.ShmbusTimeoutError):
        q.receive(timeout=0.02)
    assert q.try_receive() is None
    got = []
    t = threading.Thread(target=lambda: got.append(q.receive(timeout=30)))
    t.start()
    shmbus.Queue.open(name).send(b"wake")
    t.join()
    assert got == [b"wake"]
    q.close()


def test_asyncio_receive_and_iteration(unique_name) -> None:
    name = unique_name("qa")
    q = shmbus.Queue.create(name, slots=16, max_message_size=16)

    async def main() -> list:
        r = asyncio.ensure_future(q.receive_async(timeout=30))
        await asyncio.sleep(0.01)
        q.send(b"first")
        first = await r
        for i in range(3):
            q.send(bytes([i]))
        q.end()
        return [first] + [m async for m in q]

    assert asyncio.run(main()) == [b"first", b"\x00", b"\x01", b"\x02"]
    q.close()


def test_node_producer_100000_messages_python_consumer_end_of_stream(unique_name, peers) -> None:
    name = unique_name("qn2p")
    q = shmbus.Queue.create(name, slots=256, max_message_size=64)
    prod = peers.node("queue-producer", name, 3, N, 16)
    nxt = 0
    ended_at = None
    while True:
        m = q.receive(timeout=60)
        if m is None:
            ended_at = nxt
            break
        pid, seq = check_queue(m)
        assert (pid, seq) == (3, nxt)
        nxt += 1
        if nxt == N:
            prod.line("done")
            q.end()
    prod.wait_ok()
    assert ended_at == N
    q.close()


def test_python_producer_100000_messages_node_consumer_end_of_stream(unique_name, peers) -> None:
    name = unique_name("qp2n")
    tally_name = unique_name("tally")
    q = shmbus.Queue.create(name, slots=256, max_message_size=64)
    tally = shmbus.Segment.create(tally_name, N)
    cons = peers.node("queue-consumer", name, tally_name, N)
    cons.line("ready")
    prod = peers.py("queue-producer", name, 0, N, 16)
    prod.line("done")
    prod.wait_ok()
    q.end()
    assert cons.line("consumed") == f"consumed {N}"
    cons.wait_ok()
    assert bytes(tally.buffer) == b"\x01" * N  # every message exactly once
    tally.close()
    q.close()


def test_python_and_node_producers_python_and_node_consumers_exactly_once(unique_name, peers) -> None:
    name = unique_name("qmix")
    tally_name = unique_name("tally")
    per = 20_000
    q = shmbus.Queue.create(name, slots=64, max_message_size=64)
    tally = shmbus.Segment.create(tally_name, 2 * per)
    consumers = [peers.node("queue-consumer", name, tally_name, per), peers.py("queue-consumer", name, tally_name, per)]
    for c in consumers:
        c.line("ready")
    producers = [peers.node("queue-producer", name, 0, per, 24), peers.py("queue-producer", name, 1, per, 24)]
    for p in producers:
        p.line("done")
        p.wait_ok()
    q.end()
    total = 0
    for c in consumers:
        total += int(re.search(r"consumed (\d+)", c.line("consumed")).group(1))
        c.wait_ok()
    assert total == 2 * per
    assert bytes(tally.buffer) == b"\x01" * (2 * per)
    tally.close()
    q.close()


def test_c_producer_100000_messages_python_consumer_and_back(unique_name, peers) -> None:
    name = unique_name("qc2p")
    q = shmbus.Queue.create(name, slots=256, max_message_size=64)
    prod = peers.c("queue-peer", "produce", name, 5, N, 16)
    nxt = 0
    while nxt < N:
        m = q.receive(timeout=60)
        assert m is not None
        assert check_queue(m) == (5, nxt)
        nxt += 1
    prod.line("done")
    prod.wait_ok()
    q.end()
    assert q.receive(timeout=1) is None
    q.close()

    name2 = unique_name("qp2c")
    tally_name = unique_name("tally")
    q2 = shmbus.Queue.create(name2, slots=256, max_message_size=64)
    tally = shmbus.Segment.create(tally_name, N)
    cons = peers.c("queue-peer", "consume", name2, tally_name, N)
    cons.line("ready")
    for seq in range(N):
        q2.send(fill_queue(16, 0, seq), timeout=30)
    q2.end()
    assert cons.line("consumed") == f"consumed {N}"
    cons.wait_ok()
    assert bytes(tally.buffer) == b"\x01" * N
    tally.close()
    q2.close()
