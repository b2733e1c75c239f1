"""Topic from Python: publish/loan/subscribe, zero-copy views and numpy, lapping, end of stream, asyncio."""
from __future__ import annotations

import asyncio
import threading

import pytest

import shmbus


def test_publish_and_read_in_order_with_zero_copy_views(unique_name) -> None:
    name = unique_name("t")
    pub = shmbus.Topic.create(name, capacity=1 << 16, max_message_size=1024)
    sub = shmbus.Topic.subscribe(name)
    assert sub.read(timeout=0) is None and not sub.ended
    seqs = [pub.publish(b"one"), pub.publish(bytearray(b"two")), pub.publish(memoryview(b"three")), pub.publish("four")]
    assert seqs == [1, 2, 3, 4]
    got = [sub.read(timeout=1) for _ in range(4)]
    assert [m.tobytes() for m in got] == [b"one", b"two", b"three", b"four"]
    assert [m.seq for m in got] == seqs
    assert all(m.valid() for m in got) and got[0].timestamp > 1.6e9
    assert isinstance(got[0].data, memoryview) and got[3].text() == "four"
    assert sub.lost == 0 and sub.stats()["read"] == 4
    stats = pub.stats()
    assert stats["published"] == 4 and stats["subscribers"] == 1
    sub.close()
    pub.close()


def test_numpy_publish_and_a_frame_read_as_an_array_without_a_copy(unique_name) -> None:
    np = pytest.importorskip("numpy")
    name = unique_name("np")
    frame = np.arange(480 * 640 * 3, dtype=np.uint8).reshape(480, 640, 3)
    pub = shmbus.Topic.create(name, capacity=4 << 20, max_message_size=frame.nbytes)
    sub = shmbus.Topic.subscribe(name)
    pub.publish(frame)
    m = sub.read(timeout=1)
    a = m.numpy(np.uint8, (480, 640, 3))
    assert np.array_equal(a, frame) and m.valid()
    assert not a.flags.owndata  # a view of the ring, not a copy
    with pytest.raises(shmbus.ShmbusError) as e:
        pub.publish(np.zeros(frame.nbytes + 1, np.uint8))
    assert e.value.code == "ERR_MESSAGE_TOO_LARGE"
    with pytest.raises(shmbus.ShmbusError) as e2:
        pub.publish(frame[:, ::2])  # not contiguous
    assert e2.value.code == "ERR_INVALID_ARG"
    sub.close()
    pub.close()
    del a, m  # the ring stays mapped until the last view goes


def test_loan_commits_on_exit_and_aborts_on_exception(unique_name) -> None:
    name = unique_name("loan")
    pub = shmbus.Topic.create(name, capacity=1 << 14, max_message_size=256)
    sub = shmbus.Topic.subscribe(name)
    with pub.loan(5) as buf:
        buf[:] = b"hello"
    with pytest.raises(ValueError):
        with pub.loan(5) as buf:
            buf[:] = b"xxxxx"
            raise ValueError("abort it")
    loan = pub.loan(100)
    loan.buffer[:3] = b"abc"
    seq = loan.commit(3)
    with pytest.raises(shmbus.ShmbusError) as e:
        loan.commit()
    assert e.value.code == "ERR_CLOSED"
    msgs = [sub.read(timeout=1) for _ in range(2)]
    assert [m.tobytes() for m in msgs] == [b"hello", b"abc"] and msgs[1].seq == seq
    assert sub.read(timeout=0) is None
    sub.close()
    pub.close()


def test_a_lapped_subscriber_counts_exactly_what_it_lost(unique_name) -> None:
    name = unique_name("lap")
    pub = shmbus.Topic.create(name, capacity=4096, max_message_size=64)
    sub = shmbus.Topic.subscribe(name, start="latest")
    n = 1000
    for i in range(n):
        pub.publish(i.to_bytes(4, "little") * 8)
    read = []
    while True:
        m = sub.read(timeout=0)
        if m is None:
            break
        b = m.tobytes()
        read.append(int.from_bytes(b[:4], "little"))
    assert read == list(range(n - len(read), n))  # the newest, in order
    assert sub.lost + len(read) == n
    sub.close()
    pub.close()


def test_read_into_a_buffer_and_oldest_start(unique_name) -> None:
    name = unique_name("into")
    pub = shmbus.Topic.create(name, capacity=1 << 14, max_message_size=512)
    for i in range(3):
        pub.publish(bytes([i]) * 10)
    sub = shmbus.Topic.subscribe(name, start="oldest")
    buf = bytearray(64)
    m = sub.read(timeout=1, into=buf)
    assert m.tobytes() == b"\x00" * 10 and m.valid() and bytes(buf[:10]) == b"\x00" * 10
    small = bytearray(4)
    with pytest.raises(shmbus.ShmbusError) as e:
        sub.read(timeout=1, into=small)
    assert e.value.code == "ERR_MESSAGE_TOO_LARGE"
    assert sub.read(timeout=1).tobytes() == b"\x01" * 10  # the big one stayed unread
    sub.close()
    pub.close()


def test_the_stream_ends_when_the_last_publisher_closes(unique_name) -> None:
    name = unique_name("end")
    pub = shmbus.Topic.create(name, capacity=1 << 12)
    sub = shmbus.Topic.subscribe(name)
    pub.publish(b"last")
    pub.close()
    assert [m.tobytes() for m in sub] == [b"last"]
    assert sub.ended
    sub.close()
    with pytest.raises(shmbus.ShmbusError) as e:
        sub.read(timeout=0)
    assert e.value.code == "ERR_CLOSED"


def test_subscribe_waits_for_a_topic_to_appear(unique_name) -> None:
    name = unique_name("appear")
    with pytest.raises(FileNotFoundError):
        shmbus.Topic.subscribe(name)
    box = []
    t = threading.Thread(target=lambda: box.append(shmbus.Topic.subscribe(name, wait=30.0)))
    t.start()
    pub = shmbus.Topic.create(name, capacity=1 << 12)
    t.join()
    sub = box[0]
    pub.publish(b"x")
    assert sub.read(timeout=5).tobytes() == b"x"
    sub.close()
    pub.close()


def test_a_read_blocked_in_another_thread_wakes_on_publish(unique_name) -> None:
    name = unique_name("wake")
    pub = shmbus.Topic.create(name, capacity=1 << 12)
    sub = shmbus.Topic.subscribe(name)
    got = []
    t = threading.Thread(target=lambda: got.append(sub.read(timeout=30).tobytes()))
    t.start()
    pub.publish(b"ping")
    t.join()
    assert got == [b"ping"]
    sub.close()
    pub.close()


def test_asyncio_reads_many_subscribers_without_blocking_the_loop(unique_name) -> None:
    names = [unique_name(f"as{i}") for i in range(40)]  # more pending reads than the pool has threads
    pubs = [shmbus.Topic.create(n, capacity=1 << 12) for n in names]
    subs = [shmbus.Topic.subscribe(n) for n in names]

    async def main() -> list:
        tasks = [asyncio.ensure_future(s.read_async(timeout=30)) for s in subs]
        ticks = 0
        await asyncio.sleep(0)
        for i, p in enumerate(pubs):
            p.publish(f"m{i}".encode())
            ticks += 1
            await asyncio.sleep(0)
        got = await asyncio.gather(*tasks)
        return [m.tobytes() for m in got]

    assert asyncio.run(main()) == [f"m{i}".encode() for i in range(40)]

    async def cancelled_keeps_the_message() -> bytes:
        t = asyncio.ensure_future(subs[0].read_async())
        await asyncio.sleep(0.01)
        t.cancel()
        pubs[0].publish(b"kept")
        with pytest.raises(asyncio.CancelledError):
            await t
        m = await subs[0].read_async(timeout=5)
        return m.tobytes()

    assert asyncio.run(cancelled_keeps_the_message()) == b"kept"

    async def iterate() -> list:
        for i in range(3):
            pubs[1].publish(bytes([i]))
        pubs[1].close()
        return [m.tobytes() async for m in subs[1]]

    assert asyncio.run(iterate()) == [b"\x00", b"\x01", b"\x02"]
    for s in subs:
        s.close()
    for p in pubs:
        p.close()


def test_a_message_read_before_close_stays_readable(unique_name) -> None:
    name = unique_name("afterclose")
    pub = shmbus.Topic.create(name, capacity=1 << 12)
    sub = shmbus.Topic.subscribe(name)
    pub.publish(b"kept")
    m = sub.read(timeout=1)
    sub.close()
    assert sub.closed
    assert m.tobytes() == b"kept" and m.valid()  # the mapping lives while the message does
    del m
    with pytest.raises(shmbus.ShmbusError) as e:
        sub.try_read()
    assert e.value.code == "ERR_CLOSED"
    pub.close()


def test_bad_arguments_are_invalid_arg_never_a_crash(unique_name) -> None:
    name = unique_name("bad")
    with pytest.raises(shmbus.ShmbusError) as e:
        shmbus.Topic.create(name, capacity=0)
    assert e.value.code == "ERR_INVALID_ARG"
    pub = shmbus.Topic.create(name, capacity=1 << 12, max_message_size=100)
    for bad in [None, 12, object(), [1, 2]]:
        with pytest.raises(shmbus.ShmbusError) as e2:
            pub.publish(bad)  # type: ignore[arg-type]
        assert e2.value.code == "ERR_INVALID_ARG", bad
    with pytest.raises(shmbus.ShmbusError) as e3:
        shmbus.Topic.subscribe(name, start="middle")
    assert e3.value.code == "ERR_INVALID_ARG"
    with pytest.raises(shmbus.ShmbusError) as e4:
        pub.loan(101)
    assert e4.value.code == "ERR_MESSAGE_TOO_LARGE"
    with pytest.raises(shmbus.ShmbusError) as e5:
        shmbus.Queue.open(name)  # a topic is not a queue
    assert e5.value.code == "ERR_SHM_KIND"
    pub.close()


def test_the_c_handle_closes_once_no_message_or_view_is_left(unique_name) -> None:
    """A message's views keep the mapping; once they and the message are gone, close() really detaches (the
    registration disappears): no reference cycle between a message and its memoryview keeps the handle open."""
    name = unique_name("views")
    pub = shmbus.Topic.create(name, capacity=1 << 12)
    sub = shmbus.Topic.subscribe(name)
    pub.publish(b"abc")
    m = sub.read(timeout=1)
    d = m.data
    arr = m.numpy()
    assert bytes(d) == b"abc" and bytes(m) == b"abc" and arr[0] == ord("a")
    sub.close()
    assert pub.subscribers == 1  # the views still hold the mapping (and so the registration)
    del d, m, arr
    assert pub.subscribers == 0
    pub.close()
