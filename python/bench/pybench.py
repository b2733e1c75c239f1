"""The Python side of bench/suites/60-python.ts. Every measuring command prints one JSON line.

rtt <ping> <pong> <poll|read|async> <iterations> <warmup>
    publishes 64 B on <ping> (f64 CLOCK_MONOTONIC ns at byte 0, as bench/children/topic-peer.js expects), waits
    for the echo on <pong> (poll: busy try_read; read: read() with its default spin, then park; async: `await
    sub.read_async()` in an asyncio loop); then sends a 1-byte message to stop the echo side.
    Prints {"samples": [µs, ...]}.
echo <ping> <pong> <poll|read>
    prints "ready"; echoes every message of <ping> on <pong> until a 1-byte message.
mp <pipe|queue> <iterations> <warmup>
    64 B round trips to a child process through multiprocessing.Pipe / multiprocessing.Queue: {"samples": [...]}.
frame-read <name-prefix> <rounds>
    the cost of read() + msg.numpy(...) of a 1280x720x3 frame vs a 64 B message (one process, rounds of 20
    messages already committed): {"frame": [µs...], "small": [µs...]}.
frame-publish <name> <count>
    publish of 1280x720x3 numpy frames into a 64 MiB ring: {"publish_gbps": x, "copyto_gbps": y} (copyto: numpy
    copy of the same frame into a preallocated array, the Python-side memcpy).
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


def rtt(ping: str, pong: str, mode: str, iterations: int, warmup: int) -> None:
    if mode == "async":
        import asyncio

        asyncio.run(rtt_async(ping, pong, iterations, warmup))
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
        for i in range(-warmup, iterations):
            t0 = now()
            stamp[0] = t0
            publish(buf)
            while try_read() is None:
                pass
            if i >= 0:
                samples[i] = (now() - t0) / 1000.0
    else:
        for i in range(-warmup, iterations):
            t0 = now()
            stamp[0] = t0
            publish(buf)
            if read(timeout=10.0) is None:
                raise SystemExit("echo timed out")
            if i >= 0:
                samples[i] = (now() - t0) / 1000.0
    pub.publish(b"x")
    print(json.dumps({"samples": samples}))


async def rtt_async(ping: str, pong: str, iterations: int, warmup: int) -> None:
    pub = shmbus.Topic.open(ping)
    sub = shmbus.Topic.subscribe(pong)
    buf, stamp = _stamp_buffer()
    samples = [0.0] * iterations
    now = time.monotonic_ns
    for i in range(-warmup, iterations):
        t0 = now()
        stamp[0] = t0
        pub.publish(buf)
        if await sub.read_async(timeout=10.0) is None:
            raise SystemExit("echo timed out")
        if i >= 0:
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


def mp_rtt(kind: str, iterations: int, warmup: int) -> None:
    payload = bytes(SMALL)
    samples = []
    now = time.perf_counter_ns
    if kind == "pipe":
        a, b = mp.Pipe()
        p = mp.Process(target=_pipe_child, args=(b,))
        p.start()
        for i in range(-warmup, iterations):
            t0 = now()
            a.send_bytes(payload)
            a.recv_bytes()
            if i >= 0:
                samples.append((now() - t0) / 1000.0)
        a.send_bytes(b"x")
    else:
        qin, qout = mp.Queue(), mp.Queue()
        p = mp.Process(target=_queue_child, args=(qin, qout))
        p.start()
        for i in range(-warmup, iterations):
            t0 = now()
            qin.put(payload)
            qout.get()
            if i >= 0:
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


def frame_publish(name: str, count: int) -> None:
    pub = shmbus.Topic.create(name, capacity=64 << 20, max_message_size=FRAME_BYTES)
    try:
        frame = np.random.default_rng(2).integers(0, 255, FRAME, dtype=np.uint8)
        for _ in range(30):  # every ring page touched once, as in a long-running publisher
            pub.publish(frame)
        t0 = time.perf_counter()
        for _ in range(count):
            pub.publish(frame)
        pub_s = time.perf_counter() - t0
        dst = np.empty_like(frame)
        dsts = [np.empty_like(frame) for _ in range(8)]  # a working set beyond the caches, like the ring
        for d in dsts:
            np.copyto(d, frame)
        t0 = time.perf_counter()
        for i in range(count):
            np.copyto(dsts[i % 8], frame)
        copy_s = time.perf_counter() - t0
        del dst
        print(json.dumps({"publish_gbps": count * FRAME_BYTES / pub_s / 1e9, "copyto_gbps": count * FRAME_BYTES / copy_s / 1e9}))
    finally:
        pub.close()
        shmbus.Topic.unlink(name)


def main() -> None:
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "rtt":
        rtt(a[0], a[1], a[2], int(a[3]), int(a[4]))
    elif cmd == "echo":
        echo(a[0], a[1], a[2])
    elif cmd == "mp":
        mp_rtt(a[0], int(a[1]), int(a[2]))
    elif cmd == "frame-read":
        frame_read(a[0], int(a[1]))
    elif cmd == "frame-publish":
        frame_publish(a[0], int(a[1]))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
