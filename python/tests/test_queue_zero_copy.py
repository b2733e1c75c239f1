"""Zero-copy Queue from Python (/work/plan/zc-api.md): loans written in place, views read in place, with a C
process on the other side; the rules of ending loans and views twice, sizes, close."""
from __future__ import annotations

import pytest

import shmbus


def test_loan_and_view_round_trip_in_one_process(unique_name) -> None:
    name = unique_name("zcq")
    q = shmbus.Queue.create(name, slots=4, max_message_size=64)
    with q.loan(5) as buf:
        buf[:] = b"hello"
    loan = q.loan(10)
    loan.buffer[:4] = b"text"
    loan.commit(4, text=True)
    with q.receive_view(timeout=5) as v:
        assert v.tobytes() == b"hello" and not v.is_text and v.data.readonly
    v2 = q.receive_view(timeout=5)
    assert v2.text() == "text" and v2.is_text
    q.send(b"copied")
    assert q.receive(timeout=5) == b"copied"  # the next receive released v2
    with pytest.raises(shmbus.ShmbusError) as e:
        v2.data
    assert e.value.code == "ERR_CLOSED"
    v2.release()  # idempotent

    # the rules: twice, out of range, too large, full
    loan = q.loan(3)
    loan.abort()
    with pytest.raises(shmbus.ShmbusError) as e:
        loan.commit()
    assert e.value.code == "ERR_CLOSED"
    loan = q.loan(3)
    with pytest.raises(shmbus.ShmbusError) as e:
        loan.commit(4)
    assert e.value.code == "ERR_INVALID_ARG"
    with pytest.raises(shmbus.ShmbusError) as e:
        q.loan(65)
    assert e.value.code == "ERR_MESSAGE_TOO_LARGE"
    held = [q.try_loan(1) for _ in range(4)]
    assert all(h is not None for h in held) and q.try_loan(1) is None  # full
    with pytest.raises(TimeoutError):
        q.loan(1, timeout=0.05)
    for h in held:
        h.abort()
    assert q.try_receive_view() is None  # aborted loans sent nothing

    # close aborts open loans and releases the view
    q.send(b"x")
    view = q.try_receive_view()
    assert view is not None and view.tobytes() == b"x"
    q.loan(2)  # an open loan holds back every message behind it: it is aborted by close()
    q.close()
    with pytest.raises(shmbus.ShmbusError) as e:
        view.release()
    assert e.value.code == "ERR_CLOSED"
    q2 = shmbus.Queue.open(name)
    assert q2.try_receive() is None  # the loan was aborted, the viewed message was consumed
    q2.close()


def _fnv1a(b: bytes, h: int) -> int:
    for x in b:
        h = ((h ^ x) * 0x01000193) & 0xFFFFFFFF
    return h


def _fill(buf: memoryview, pid: int, seq: int) -> None:
    """The cross tests' message (c/tests/peers/queue-peer.c): [u32 producer][u32 seq][u32 fnv1a][pattern]."""
    size = len(buf)
    buf[0:4] = pid.to_bytes(4, "little")
    buf[4:8] = seq.to_bytes(4, "little")
    buf[12:] = bytes((pid * 7 + seq + i) & 0xFF for i in range(12, size))
    h = _fnv1a(bytes(buf[12:size]), _fnv1a(bytes(buf[0:8]), 0x811C9DC5))
    buf[8:12] = h.to_bytes(4, "little")


def _check(data: memoryview) -> tuple:
    b = bytes(data)
    pid, seq, h = (int.from_bytes(b[i : i + 4], "little") for i in (0, 4, 8))
    assert h == _fnv1a(b[12:], _fnv1a(b[0:8], 0x811C9DC5)), "checksum"
    return pid, seq


def test_python_loans_to_a_c_view_consumer_and_views_of_a_c_loan_producer(unique_name, peers) -> None:
    n = 300
    # Python writes in loaned slots, C reads them as views in place
    name = unique_name("zcqc")
    q = shmbus.Queue.create(name, slots=8, max_message_size=256)
    consumer = peers.c("queue-peer", "zc-consume", name, n)
    consumer.line("ready")
    for i in range(n):
        with q.loan(64) as buf:
            _fill(buf, 3, i)
    assert consumer.line("consumed").split()[1:] == [str(n), str(n * (n - 1) // 2)]
    consumer.wait_ok()
    q.close()
    # C writes in loaned slots, Python reads them as views in place
    name2 = unique_name("zcqc2")
    q2 = shmbus.Queue.create(name2, slots=8, max_message_size=256)
    producer = peers.c("queue-peer", "zc-produce", name2, 5, n, 48)
    seqs = []
    for _ in range(n):
        with q2.receive_view(timeout=30) as v:
            pid, seq = _check(v.data)
            assert pid == 5 and len(v.data) == 48
            seqs.append(seq)
    assert seqs == sorted(seqs) and len(set(seqs)) == n
    producer.line("done")
    producer.wait_ok()
    q2.close()
