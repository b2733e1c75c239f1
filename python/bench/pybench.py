"""The Python side of bench/suites/60-python.ts. Every measuring command prints one JSON line.

rtt <ping> <pong> <poll|read|async> <iterations> <warmup> [<warmup_ms>]
    publishes 64 B on <ping> (f64 CLOCK_MONOTONIC ns at byte 0, as bench/children/topic-peer.js expects), waits
    for the echo on <pong> (poll: busy try_read; read: read() with its default spin, then park; async: `await
    sub.read_async()` in an asyncio loop); then sends a 1-byte message to stop the echo side. The warm-up lasts
    <warmup> round trips and at least <warmup_ms> ms (default 0; see warm_up()). Prints {"samples": [µs, ...]}.
echo <ping> <pong> <poll|read>
    prints "ready"; echoes every message of <ping> on <pong> until a 1-byte message.
mp <pipe|queue> <iterations> <warmup> [<warmup_ms>]
    64 B round trips to a child process through multiprocessing.Pipe / multiprocessing.Queue: {"samples": [...]}.
frame-read <name-prefix> <rounds>
    the cost of read() + msg.numpy(...) of a 1280x720x3 frame vs a 64 B message (one process, rounds of 20
    messages already committed): {"frame": [µs...], "small": [µs...]}.
frame-publish <name> <count>
    publish of 1280x720x3 numpy frames into rings of 64 and 16 MiB beside libc memcpy of the same frame into the
    ring's footprint and into one hot destination (see frame_publish): {"rings": [{"capacity_mib", "frames",
    "publish_gbps", "memcpy_ring_gbps"}, ...], "memcpy_hot_gbps": x}.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import sys
import time

import numpy as np

import shmbus

SMALL = 64
FRAME = (720, 1280, 3)
FRAME_BYTES = 720 * 1280 * 3


def _stamp_buffer():
    """The 64 B ping and a float64 view of its first 8 bytes (the stamp: one item store, no struct call)."""
    buf = bytearray(SMALL)
    return buf, memoryview(buf).cast("d")


def warm_up(step, count: int, ms: float) -> None:
    """Runs step() count times and for at least ms milliseconds. Why a duration: two processes that start talking
    are often placed on one core by the kernel, and while their spins yield to each other (a round trip every few
    µs) the load balancer counts both as cache-hot and leaves them there for ~50 ms (measured on the 2-core VM:
    ~7 000-9 000 round trips) before it moves one; a count-based warm-up of a few hundred round trips measures that
    start, not the steady state. The bench reports the start separately (warmup_ms 0)."""
    until = time.monotonic() + ms / 1000.0
    i = 0
    while i < count or time.monotonic() < until:
        step()
        i += 1


def rtt(ping: str, pong: str, mode: str, iterations: int, warmup: int, warmup_ms: float = 0.0) -> None:
    if mode == "async":
        import asyncio

        asyncio.run(rtt_async(ping, pong, iterations, warmup, warmup_ms))
        return
    pub = shmbus.Topic.open(ping)
    sub = shmbus.Topic.subscribe(pong, spin=None if mode == "read" else 0)
    buf, stamp = _stamp_buffer()
    samples = [0.0] * iterations
    now = time.monotonic_ns
    publish, try_read, read = pub.publish, sub.try_read, sub.read
    # One loop per mode, with nothing in it but the round trip and its clock reads: the measuring side's own
    # bookkeeping is not part of the latency (the multiprocessing baselines do no more per round trip).
    if mode == "poll":

        def step() -> None:
            stamp[0] = now()
            publish(buf)
            while try_read() is None:
                pass

        warm_up(step, warmup, warmup_ms)
        for i in range(iterations):
            t0 = now()
            stamp[0] = t0
            publish(buf)
            while try_read() is None:
                pass
            samples[i] = (now() - t0) / 1000.0
    else:

        def step() -> None:
            stamp[0] = now()
            publish(buf)
            if read(timeout=10.0) is None:
                raise SystemExit("echo timed out")

        warm_up(step, warmup, warmup_ms)
        for i in range(iterations):
            t0 = now()
            stamp[0] = t0
            publish(buf)
            if read(timeout=10.0) is None:
                raise SystemExit("echo timed out")
            samples[i] = (now() - t0) / 1000.0
    pub.publish(b"x")
    print(json.dumps({"samples": samples}))


async def rtt_async(ping: str, pong: str, iterations: int, warmup: int, warmup_ms: float) -> None:
    pub = shmbus.Topic.open(ping)
    sub = shmbus.Topic.subscribe(pong)
    buf, stamp = _stamp_buffer()
    samples = [0.0] * iterations
    now = time.monotonic_ns
    until = time.monotonic() + warmup_ms / 1000.0
    while warmup > 0 or time.monotonic() < until:  # warm_up() with an await in the step
        warmup -= 1
        stamp[0] = now()
        pub.publish(buf)
        if await sub.read_async(timeout=10.0) is None:
            raise SystemExit("echo timed out")
    for i in range(iterations):
        t0 = now()
        stamp[0] = t0
        pub.publish(buf)
        if await sub.read_async(timeout=10.0) is None:
            raise SystemExit("echo timed out")
        samples[i] = (now() - t0) / 1000.0
    pub.publish(b"x")
    print(json.dumps({"samples": samples}))


def echo(ping: str, pong: str, mode: str) -> None:
    sub = shmbus.Topic.subscribe(ping, spin=0 if mode == "poll" else None)
    pub = shmbus.Topic.open(pong)
    publish, try_read, read = pub.publish, sub.try_read, sub.read
    print("ready", flush=True)
    while True:
        if mode == "poll":
            m = try_read()
            while m is None:
                m = try_read()
        else:
            m = read(timeout=60.0)  # "read" and "async" measuring sides: the echo reads blocking
            if m is None:
                raise SystemExit("ping timed out")
        if m.size == 1:
            break
        publish(m)  # a Message is a buffer over its payload in the ring: published without a memoryview


def _pipe_child(conn) -> None:
    while True:
        b = conn.recv_bytes()
        if len(b) == 1:
            return
        conn.send_bytes(b)


def _queue_child(qin, qout) -> None:
    while True:
        b = qin.get()
        if len(b) == 1:
            return
        qout.put(b)


def mp_rtt(kind: str, iterations: int, warmup: int, warmup_ms: float = 0.0) -> None:
    payload = bytes(SMALL)
    samples = []
    now = time.perf_counter_ns
    if kind == "pipe":
        a, b = mp.Pipe()
        p = mp.Process(target=_pipe_child, args=(b,))
        p.start()

        def step() -> None:
            a.send_bytes(payload)
            a.recv_bytes()

        warm_up(step, warmup, warmup_ms)
        for i in range(iterations):
            t0 = now()
            a.send_bytes(payload)
            a.recv_bytes()
            samples.append((now() - t0) / 1000.0)
        a.send_bytes(b"x")
    else:
        qin, qout = mp.Queue(), mp.Queue()
        p = mp.Process(target=_queue_child, args=(qin, qout))
        p.start()

        def step() -> None:
            qin.put(payload)
            qout.get()

        warm_up(step, warmup, warmup_ms)
        for i in range(iterations):
            t0 = now()
            qin.put(payload)
            qout.get()
            samples.append((now() - t0) / 1000.0)
        qin.put(b"x")
    p.join(30)
    print(json.dumps({"samples": samples}))


def frame_read(prefix: str, rounds: int) -> None:
    # Messages are published in batches of 20 (the 64 MiB ring holds 23 frames), then read: the publisher's
    # 2.7 MB copy would otherwise evict this process's caches right before each timed read, which a reader in
    # another process does not pay. Each timed read: read() + msg.numpy() + touching one byte + valid().
    out = {}
    batch = 20
    for label, size, shape in (("frame", FRAME_BYTES, FRAME), ("small", SMALL, (SMALL,))):
        name = f"{prefix}-{label}"
        pub = shmbus.Topic.create(name, capacity=64 << 20, max_message_size=size)
        try:
            sub = shmbus.Topic.subscribe(name)
            data = np.random.default_rng(1).integers(0, 255, size, dtype=np.uint8)
            mid = int(data[size // 2])
            samples = []
            for r in range(rounds + 1):
                for _ in range(batch):
                    pub.publish(data)
                for _ in range(batch):
                    t0 = time.perf_counter_ns()
                    m = sub.read(timeout=1.0)
                    a = m.numpy(np.uint8, shape)
                    x = int(a.flat[size // 2])
                    ok = m.valid()
                    t1 = time.perf_counter_ns()
                    if not ok or x != mid:
                        raise SystemExit("frame overwritten or wrong")
                    if r > 0:
                        samples.append((t1 - t0) / 1000.0)
                    del a, m
            out[label] = samples
            out[f"{label}_lost"] = sub.lost
            sub.close()
        finally:
            pub.close()
            shmbus.Topic.unlink(name)
    print(json.dumps(out))


RING_SIZES_MIB = (64, 16)  # the example ring (23 frames), and one of 5 frames (a reader that keeps up)


def _gbps(step, count: int) -> float:
    t0 = time.perf_counter()
    for i in range(count):
        step(i)
    return count * FRAME_BYTES / (time.perf_counter() - t0) / 1e9


def frame_publish(name: str, count: int, rounds: int = 5) -> None:
    """Topic.publish of a numpy frame against libc memcpy (ctypes.memmove: glibc's memcpy and memmove are one
    implementation on x86-64), in the same process, interleaved round by round (medians printed):
      - memcpy "ring footprint": into consecutive frame-sized slots of a shared mapping of the ring's capacity,
        wrapping like the ring: the same destination pages, the same page type (shmem) and the same cache footprint
        as the publish, so the same work;
      - memcpy "hot": into one destination (source and destination stay in L2/L3): the upper bound of a copy.
    Each ring size is measured with its own footprint."""
    import ctypes
    import mmap
    import statistics

    frame = np.random.default_rng(2).integers(0, 255, FRAME, dtype=np.uint8)
    src = frame.ctypes.data
    hot = np.empty_like(frame)
    hot_dst = hot.ctypes.data
    out: dict = {"rings": []}
    hot_runs = []
    for mib in RING_SIZES_MIB:
        cap = mib << 20
        pub = shmbus.Topic.create(f"{name}-{mib}", capacity=cap, max_message_size=FRAME_BYTES)
        arena = mmap.mmap(-1, cap)  # MAP_SHARED | MAP_ANONYMOUS: shmem pages, like the ring's /dev/shm file
        base = ctypes.addressof(ctypes.c_char.from_buffer(arena))
        slots = cap // FRAME_BYTES
        try:
            publish = pub.publish

            def do_publish(_i: int) -> None:
                publish(frame)

            def do_ring_copy(i: int) -> None:
                ctypes.memmove(base + (i % slots) * FRAME_BYTES, src, FRAME_BYTES)

            def do_hot_copy(_i: int) -> None:
                ctypes.memmove(hot_dst, src, FRAME_BYTES)

            # every page of the ring and of the arena touched before timing, as in a long-running publisher
            _gbps(do_publish, 2 * slots)
            _gbps(do_ring_copy, 2 * slots)
            _gbps(do_hot_copy, 10)
            runs: dict = {"publish": [], "ring": [], "hot": []}
            for _ in range(rounds):
                runs["publish"].append(_gbps(do_publish, count))
                runs["ring"].append(_gbps(do_ring_copy, count))
                runs["hot"].append(_gbps(do_hot_copy, count))
            hot_runs += runs["hot"]
            out["rings"].append({"capacity_mib": mib, "frames": slots,
                                 "publish_gbps": statistics.median(runs["publish"]),
                                 "memcpy_ring_gbps": statistics.median(runs["ring"])})
        finally:
            del base
            arena.close()
            pub.close()
            shmbus.Topic.unlink(f"{name}-{mib}")
    out["memcpy_hot_gbps"] = statistics.median(hot_runs)
    print(json.dumps(out))


def main() -> None:
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "rtt":
        rtt(a[0], a[1], a[2], int(a[3]), int(a[4]), float(a[5]) if len(a) > 5 else 0.0)
    elif cmd == "echo":
        echo(a[0], a[1], a[2])
    elif cmd == "mp":
        mp_rtt(a[0], int(a[1]), int(a[2]), float(a[3]) if len(a) > 3 else 0.0)
    elif cmd == "frame-read":
        frame_read(a[0], int(a[1]))
    elif cmd == "frame-publish":
        frame_publish(a[0], int(a[1]))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
