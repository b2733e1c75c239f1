"""asyncio: many pending waits share O(1) waiter threads (futex_waitv groups of 127), wake from another process,
and a cancelled or timed-out wait leaves nothing behind."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest

import shmbus
from shmbus import _aio

N_TOPICS, N_QUEUES, N_MAILBOXES = 150, 25, 25



def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_200_waiters_on_different_channels_use_o1_threads_and_all_wake(unique_name) -> None:
    topics = [unique_name(f"t{i}") for i in range(N_TOPICS)]
    queues = [unique_name(f"q{i}") for i in range(N_QUEUES)]
    boxes = [unique_name(f"m{i}") for i in range(N_MAILBOXES)]
    pubs = [shmbus.Topic.create(n, capacity=1 << 12) for n in topics]
    subs = [shmbus.Topic.subscribe(n) for n in topics]
    qs = [shmbus.Queue.create(n, slots=4, max_message_size=16) for n in queues]
    mbs = [shmbus.Mailbox.create(n, max_message_size=16) for n in boxes]
    # Another process wakes every wait once it is told all 200 are parked.
    script = (
        "import sys, shmbus\n"
        "t, q, m = (a.split(',') for a in sys.argv[1:4])\n"
        "pubs = [shmbus.Topic.open(n) for n in t]\n"
        "qs = [shmbus.Queue.open(n) for n in q]\n"
        "mbs = [shmbus.Mailbox.open(n) for n in m]\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "for i, p in enumerate(pubs): p.publish(b't%d' % i)\n"
        "for i, x in enumerate(qs): x.send(b'q%d' % i)\n"
        "for i, x in enumerate(mbs): x.write(b'm%d' % i)\n"
        "print('done', flush=True)\n"
    )
    waker = subprocess.Popen([sys.executable, "-c", script, ",".join(topics), ",".join(queues), ",".join(boxes)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert waker.stdout is not None and waker.stdin is not None
        assert waker.stdout.readline().strip() == "ready"
        threads_before = threading.active_count()
        tasks_before = os_threads()

        async def main() -> tuple:
            tasks = [asyncio.ensure_future(s.read_async(timeout=60)) for s in subs]
            tasks += [asyncio.ensure_future(q.receive_async(timeout=60)) for q in qs]
            tasks += [asyncio.ensure_future(mb.changed_async(since=0, timeout=60)) for mb in mbs]
            # every wait reaches its waiter thread (a condition polled on the loop, not a timed sleep)
            while _aio.pending() < len(tasks):
                await asyncio.sleep(0.001)
            parked_threads = (threading.active_count(), os_threads(), _aio.threads())
            waker.stdin.write("go\n")
            waker.stdin.flush()
            got = await asyncio.gather(*tasks)
            return got, parked_threads

        got, (py_threads, os_tasks, groups) = asyncio.run(main())
        assert waker.stdout.readline().strip() == "done"
        # 200 waits: ceil(200 / 127) = 2 waiter threads, whatever the number of waits
        assert groups == 2
        assert py_threads - threads_before <= 2 and os_tasks - tasks_before <= 2
        assert [m.tobytes() for m in got[:N_TOPICS]] == [b"t%d" % i for i in range(N_TOPICS)]
        assert list(got[N_TOPICS : N_TOPICS + N_QUEUES]) == [b"q%d" % i for i in range(N_QUEUES)]
        assert list(got[N_TOPICS + N_QUEUES :]) == [1] * N_MAILBOXES
        assert _aio.pending() == 0
    finally:
        waker.kill()
        waker.wait()
        for h in subs + pubs + qs + mbs:
            h.close()


def test_a_cancelled_or_timed_out_wait_leaves_no_parked_word(unique_name) -> None:
    name = unique_name("cancel")
    pub = shmbus.Topic.create(name, capacity=1 << 12)
    sub = shmbus.Topic.subscribe(name)

    async def main() -> bytes:
        t = asyncio.ensure_future(sub.read_async())
        while _aio.pending() < 1:
            await asyncio.sleep(0.001)
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass
        assert _aio.pending() == 0
        assert await sub.read_async(timeout=0.05) is None  # a timeout: None, nothing left parked
        assert _aio.pending() == 0
        pub.publish(b"after")  # nothing was consumed by the cancelled read
        m = await sub.read_async(timeout=5)
        return m.tobytes()

    assert asyncio.run(main()) == b"after"
    sub.close()
    pub.close()


def test_async_locks_wait_without_blocking_the_loop(unique_name) -> None:
    m = shmbus.Mutex.create(unique_name("mx"))
    rw = shmbus.RwLock.create(unique_name("rw"))
    sem = shmbus.Semaphore.create(unique_name("sem"), 0)
    ev = shmbus.Event.create(unique_name("ev"))
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:  # another thread holds the mutex and the write lock until told
        m.lock()
        rw.write_lock()
        held.set()
        release.wait()
        rw.write_unlock()
        m.unlock()

    t = threading.Thread(target=holder)
    t.start()
    held.wait()

    async def main() -> list:
        ticks = 0
        order = []

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                if ticks == 20:
                    release.set()  # the loop kept running while every wait below was parked
                    sem.release()
                    ev.set()
                await asyncio.sleep(0.001)

        tk = asyncio.ensure_future(ticker())
        r1 = await m.lock_async(timeout=30)
        order.append(("mutex", r1.recovered, m.locked_by_me))
        m.unlock()
        r2 = await rw.write_lock_async(timeout=30)
        order.append(("rw", r2.recovered))
        rw.write_unlock()
        r3 = await rw.read_lock_async(timeout=30)
        rw.read_unlock()
        order.append(("read", r3.recovered))
        await sem.acquire_async(timeout=30)
        order.append(("sem",))
        await ev.wait_async(timeout=30)
        order.append(("event",))
        tk.cancel()
        assert ticks >= 20
        return order

    assert asyncio.run(main()) == [("mutex", False, True), ("rw", False), ("read", False), ("sem",), ("event",)]
    t.join()

    async def times_out() -> str:
        m.lock()  # this (the loop's) thread holds it: a second lock through this object is refused at once
        try:
            await m.lock_async(timeout=1)
        except shmbus.ShmbusError as e:
            return e.code
        finally:
            m.unlock()
        return "no error"

    assert asyncio.run(times_out()) == "ERR_INVALID_ARG"

    async def sem_timeout() -> bool:
        try:
            await sem.acquire_async(timeout=0.05)
        except TimeoutError:
            return True
        return False

    assert asyncio.run(sem_timeout())
    for x in (m, rw, sem, ev):
        x.close()


def test_async_rpc_client_and_async_handler(unique_name) -> None:
    name = unique_name("arpc")

    async def main() -> list:
        async def handler(req: shmbus.RpcRequest) -> bytes:
            await asyncio.sleep(0)  # a coroutine on this loop
            return req.data.upper()

        async with shmbus.Rpc.serve(name, handler, workers=2):
            c = shmbus.Rpc.connect(name)
            try:
                got = await asyncio.gather(*(c.request_async(b"req%d" % i, timeout=30) for i in range(6)))
            finally:
                c.close()
        return [bytes(g) for g in got]

    assert asyncio.run(main()) == [b"REQ%d" % i for i in range(6)]

    with pytest.raises(shmbus.ShmbusError) as e:
        async def h(req: shmbus.RpcRequest) -> bytes:
            return b""

        shmbus.Rpc.serve(name, h)  # no running loop for the async handler
    assert e.value.code == "ERR_INVALID_ARG"
