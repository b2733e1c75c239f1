"""The Python rows of the transports suite (bench/suites/90-transports.ts): both sides in Python, over
multiprocessing.Pipe, multiprocessing.Queue (the stdlib ways two Python processes talk) and the shmbus Python
Topic. It speaks the suite's protocol (bench/transports.ts KIND: byte 0 of a message says what it is, byte 1 of a
data message the stream window, 0 = echo it) and runs the suite's workloads with the counts and windows the suite
gives it, so these rows follow the same rules as every other row. Same command line and output as the C rows'
program (bench/c/transport-driver.c):

    python transport-driver.py <pipe|queue|topic> <name> <peers> <parent-cpu|-1> <peer-cpu|-1> <max-size> op...
      rtt:<iterations>:<warm>          64 B round trips to peer 0:
                                       {"op":"rtt","samples":[µs...],"cpuUs":<both processes, timed loop only>}
      stream:<size>:<count>:<window>[:<cap-ms>]
                                       one-way stream; every peer acks each window-th message, at most two windows
                                       in flight: {"op":"stream","size":s,"n":n,"seconds":x,"cpuUs":<all processes>};
                                       with cap-ms (the untimed warm-up) it stops at the first window boundary
                                       after that long

Peers are multiprocessing.Process children (pinned to <peer-cpu>); pipe: one duplex Pipe per peer; queue: one
Queue down per peer and one shared Queue up; topic: one down Topic for all peers and one up Topic (the layouts
transports.ts gives the Node rows; default read: spin, then park). Every wait is bounded (30 s).
"""
from __future__ import annotations

import json
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import sys
import time

PROBE, DATA, LAST, HELLO, ACK, BYE = 0, 1, 2, 3, 4, 255
WAIT_S = 30.0


def cpu_us() -> int:
    return time.process_time_ns() // 1000


def pin(cpu: int) -> None:
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})


class PipeLink:
    """A side's end over duplex Pipes (the parent holds one per peer)."""

    def __init__(self, conns: list) -> None:
        self.conns = conns
        self.ready: list = []

    def send(self, d) -> None:
        for c in self.conns:
            c.send_bytes(d)

    def receive(self):
        if len(self.conns) == 1:
            c = self.conns[0]
            if not c.poll(WAIT_S):
                raise TimeoutError("pipe: nothing within 30 s")
            return c.recv_bytes()
        while not self.ready:
            self.ready = mpc.wait(self.conns, WAIT_S)
            if not self.ready:
                raise TimeoutError("pipe: nothing within 30 s")
        return self.ready.pop().recv_bytes()

    def close(self) -> None:
        for c in self.conns:
            c.close()


class QueueLink:
    """A side's end over multiprocessing.Queue: `outs` (every peer's down, or the shared up) and `inq`."""

    def __init__(self, outs: list, inq) -> None:
        self.outs = outs
        self.inq = inq

    def send(self, d) -> None:
        for q in self.outs:
            q.put(d)

    def receive(self):
        return self.inq.get(timeout=WAIT_S)

    def close(self) -> None:
        for q in [*self.outs, self.inq]:
            q.close()
            q.cancel_join_thread()  # everything sent was consumed; never block exit on a feeder thread


class TopicLink:
    """A side's end over shmbus Topics: publish on `pub`, read `sub` (zero-copy views; the peer answers before the
    parent can lap it, as in transports.ts)."""

    def __init__(self, pub, sub, owned: tuple = ()) -> None:
        self.pub = pub
        self.sub = sub
        self.owned = owned

    def send(self, d) -> None:
        self.pub.publish(d)

    def receive(self):
        m = self.sub.read(WAIT_S)
        if m is None:
            raise TimeoutError("topic: nothing within 30 s (or the stream ended)")
        return m.data

    def close(self) -> None:
        self.sub.close()
        self.pub.close()
        for t in self.owned:
            t.close()


def run_peer(kind: str, name: str, index: int, cpu: int, link_args) -> None:
    pin(cpu)
    if kind == "topic":
        import shmbus

        link = TopicLink(shmbus.Topic.open(f"{name}-up"), shmbus.Topic.subscribe(f"{name}-down"))
    elif kind == "pipe":
        link = PipeLink([link_args])
    else:
        link = QueueLink([link_args[1]], link_args[0])
    hello = bytes([HELLO, index])
    ack = bytes([ACK, index])
    link.send(hello)  # subscribed before this: everything the parent sends from now on reaches us
    started = cpu_us()
    count = 0
    while True:
        m = link.receive()
        k = m[0] if len(m) > 0 else BYE
        window = m[1] if len(m) > 1 else 0
        if k == PROBE:
            link.send(hello)
        elif k == DATA and window == 0:
            link.send(m)  # echo
        elif k == DATA:
            count += 1
            if count % window == 0:
                link.send(ack)
        elif k == LAST:
            count = 0
            link.send(bytes([ACK, index]) + (cpu_us() - started).to_bytes(8, "little"))
            started = cpu_us()
        else:
            break
    link.close()


def message(size: int, kind: int, window: int) -> bytes:
    m = bytearray(max(2, size))
    m[0] = kind
    m[1] = window
    return bytes(m)


def stream_end(link, peers: int) -> int:
    """Sends "last" and sums the CPU µs the peers report for the stream (late window acks are skipped)."""
    link.send(message(2, LAST, 0))
    cpu = 0
    got = 0
    while got < peers:
        m = link.receive()
        if len(m) >= 10 and m[0] == ACK:
            cpu += int.from_bytes(bytes(m[2:10]), "little")
            got += 1
    return cpu


def rtt(link, iterations: int, warm: int) -> None:
    m = message(64, DATA, 0)
    for _ in range(warm):
        link.send(m)
        link.receive()
    stream_end(link, 1)  # restarts the peer's CPU clock: the warm-up is not counted
    samples = [0.0] * iterations
    now = time.perf_counter_ns
    send, receive = link.send, link.receive
    c0 = cpu_us()
    for i in range(iterations):
        t0 = now()
        send(m)
        receive()
        samples[i] = (now() - t0) / 1000.0
    mine = cpu_us() - c0
    peer = stream_end(link, 1)
    print(json.dumps({"op": "rtt", "cpuUs": mine + peer, "samples": samples}), flush=True)


def stream(link, peers: int, size: int, count: int, window: int, cap_ms: int = 0) -> None:
    n = -(-count // window) * window
    m = message(size, DATA, window)

    def acks() -> None:
        got = 0
        while got < peers:
            if link.receive()[0] == ACK:
                got += 1

    in_flight = 0
    c0 = cpu_us()
    t0 = time.perf_counter()
    i = 0
    while i < n:
        i += 1
        link.send(m)
        if i % window == 0:
            in_flight += 1
            while in_flight > 2:
                acks()
                in_flight -= 1
            if cap_ms > 0 and (time.perf_counter() - t0) * 1000 > cap_ms:
                n = i
    while in_flight > 0:
        acks()
        in_flight -= 1
    seconds = time.perf_counter() - t0
    mine = cpu_us() - c0
    cpu = mine + stream_end(link, peers)
    print(json.dumps({"op": "stream", "size": size, "n": n, "seconds": seconds, "cpuUs": cpu}), flush=True)


def main(argv: list) -> int:
    if len(argv) < 7 or argv[0] not in ("pipe", "queue", "topic"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, name = argv[0], argv[1]
    peers, parent_cpu, peer_cpu, max_size = int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5])
    ops = []
    for op in argv[6:]:  # every op is checked before anything is created or started
        f = op.split(":")
        try:
            v = [int(x) for x in f[1:]]
        except ValueError:
            v = []
        if f[0] == "rtt" and len(v) == 2 and v[0] > 0 and v[1] >= 0:
            ops.append(("rtt", v))
        elif f[0] == "stream" and len(v) in (3, 4) and 0 < v[0] <= max_size and v[1] > 0 and 0 < v[2] < 256:
            ops.append(("stream", v))
        else:
            print(f"transport-driver.py: bad op {op}", file=sys.stderr)
            return 2
    pin(parent_cpu)
    procs = []
    if kind == "topic":
        import shmbus

        down = shmbus.Topic.create(f"{name}-down", max(1 << 20, 4 * (max_size + 64)), max(4096, max_size))
        up = shmbus.Topic.create(f"{name}-up", 1 << 20, 4096)  # stays open: with no publisher a read ends
        link = TopicLink(down, shmbus.Topic.subscribe(f"{name}-up"), (up,))
        per_peer = [None] * peers
    elif kind == "pipe":
        pairs = [mp.Pipe() for _ in range(peers)]
        link = PipeLink([a for a, _ in pairs])
        per_peer = [b for _, b in pairs]
    else:
        upq = mp.Queue()
        downs = [mp.Queue() for _ in range(peers)]
        link = QueueLink(downs, upq)
        per_peer = [(d, upq) for d in downs]
    try:
        for i in range(peers):
            p = mp.Process(target=run_peer, args=(kind, name, i, peer_cpu, per_peer[i]), daemon=True)
            p.start()
            procs.append(p)
        got = 0
        while got < peers:
            if link.receive()[0] == HELLO:
                got += 1
        for what, v in ops:
            if what == "rtt":
                rtt(link, v[0], v[1])
            else:
                stream(link, peers, *v)
        link.send(message(2, BYE, 0))
        failed = 0
        for p in procs:
            p.join(10)
            if p.exitcode != 0:
                failed = 1
        return failed
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        link.close()
        if kind == "topic":
            shmbus.Topic.unlink(f"{name}-down")
            shmbus.Topic.unlink(f"{name}-up")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
