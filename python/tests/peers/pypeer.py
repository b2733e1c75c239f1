"""A Python peer process for the cross-language tests (the Python twin of test/fixtures/*.ts: same arguments,
same message formats, same stdout lines). Usage: python pypeer.py <role> <args...>

topic-pub JSON      {topic, pub, count, minSize, maxSize, seed?, mode?: publish|loan}: "ready", then "done <lastSeq>"
topic-sub JSON      {topic, sub, pubs, perPub?, untilSeq?, from?, wait?, hold?}: "subscribed", "ready", then
                    "done read=<n> lost=<n> first=<seq> last=<seq> gaps=<n>" (exit 1 on a torn or misordered one)
queue-producer name id count size      "ready", "done <id> <count>"
queue-consumer name tally per          "ready", "consumed <n>" (marks tally byte id*per+seq)
mailbox-writer name seconds            rewrites a 64 KiB checksummed value, then "STOP"; "done writes=<n>"
mailbox-reader name                    "ready", reads until "STOP" checking every value; "done reads=<n> versions=<n>"
rpc-server name workers                "serving"; answers "ok:<text>" (bytes echoed); stops on "stop": "stopped <n>"
rpc-client name client count           requests "<client>:<i>", checks "ok:<client>:<i>"; "done <ok>"
lock-counter segment lockOffset counterOffset iterations   "ready"; on "go": "done overlaps=<n>"
mutex-hold name                        takes the named mutex, "holding", then sleeps until killed
"""
from __future__ import annotations

import json
import os
import random
import struct
import sys
import zlib

import shmbus


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fill_topic(buf: memoryview, pub: int, index: int, rnd: random.Random) -> None:
    """[pub u32][index u32][crc32 of bytes 12..] + random bytes, as test/fixtures/topic-publisher.ts."""
    n = len(buf)
    buf[12:n] = rnd.randbytes(n - 12)
    struct.pack_into("<III", buf, 0, pub, index, zlib.crc32(buf[12:n]))


def check_topic(data: memoryview, what: str) -> tuple:
    if len(data) < 12:
        raise SystemExit(f"{what}: {len(data)} bytes, too short")
    pub, index, crc = struct.unpack_from("<III", data, 0)
    if zlib.crc32(data[12:]) != crc:
        raise ValueError(f"{what}: torn (crc mismatch), pub {pub} index {index}")
    return pub, index


def fnv1a(b: bytes, start: int, end: int, h: int = 0x811C9DC5) -> int:
    for i in range(start, end):
        h = ((h ^ b[i]) * 0x01000193) & 0xFFFFFFFF
    return h


def fill_queue(size: int, pid: int, seq: int) -> bytes:
    """As test/fixtures/queue-msg.ts fillMessage: [u32 id][u32 seq][u32 fnv1a][pattern]."""
    b = bytearray(size)
    struct.pack_into("<II", b, 0, pid, seq)
    for i in range(12, size):
        b[i] = (pid * 7 + seq + i) & 0xFF
    struct.pack_into("<I", b, 8, fnv1a(b, 12, size, fnv1a(b, 0, 8)))
    return bytes(b)


def check_queue(b: bytes) -> tuple:
    if len(b) < 12:
        raise ValueError(f"short message ({len(b)} bytes)")
    pid, seq, s = struct.unpack_from("<III", b, 0)
    if fnv1a(b, 12, len(b), fnv1a(b, 0, 8)) != s:
        raise ValueError(f"checksum mismatch in message {pid}/{seq}")
    return pid, seq


def topic_pub(a: dict) -> None:
    rnd = random.Random(a.get("seed", a["pub"] * 7919 + 17))
    topic = shmbus.Topic.open(a["topic"])
    scratch = memoryview(bytearray(a["maxSize"]))
    say("ready")
    last = 0
    for k in range(a["count"]):
        size = rnd.randint(a["minSize"], a["maxSize"])
        if a.get("mode") == "loan":
            with topic.loan(size) as buf:
                fill_topic(buf, a["pub"], k, rnd)
            last = topic.stats()["published"]
        else:
            msg = scratch[:size]
            fill_topic(msg, a["pub"], k, rnd)
            last = topic.publish(msg)
    say(f"done {last}")
    topic.close()


def topic_sub(a: dict) -> None:
    wait = a.get("wait")
    sub = shmbus.Topic.subscribe(a["topic"], start=a.get("from", "latest"), wait=None if wait is None else wait / 1000)
    say("subscribed")
    say("ready")
    if a.get("hold"):
        sys.stdin.readline()
    nxt = [0] * a["pubs"]
    read = gaps = last = 0
    first = -1
    per, until = a.get("perPub"), a.get("untilSeq")
    while True:
        m = sub.read(timeout=30.0)
        if m is None:
            raise SystemExit("the stream ended or timed out before the last message")
        try:
            pub, index = check_topic(m.data, f"seq {m.seq}")
        except ValueError:
            if not m.valid():
                continue  # overwritten while checked (lapped): not torn
            raise
        if not m.valid():
            continue
        if m.seq <= last:
            raise SystemExit(f"seq went backwards: {m.seq} after {last}")
        if first < 0:
            first = m.seq
        last = m.seq
        if pub >= a["pubs"]:
            raise SystemExit(f"unknown publisher {pub}")
        if index != nxt[pub]:
            if per is not None:
                raise SystemExit(f"publisher {pub}: got index {index}, expected {nxt[pub]} (lost {sub.lost})")
            if index < nxt[pub]:
                raise SystemExit(f"publisher {pub}: index {index} after {nxt[pub] - 1}")
            gaps += 1
        nxt[pub] = index + 1
        read += 1
        if per is not None and all(n >= per for n in nxt):
            break
        if until is not None and m.seq >= until:
            break
    say(f"done read={read} lost={sub.lost} first={first} last={last} gaps={gaps}")
    sub.close()


def queue_producer(name: str, pid: int, count: int, size: int) -> None:
    q = shmbus.Queue.open(name)
    say("ready")
    for seq in range(count):
        q.send(fill_queue(size, pid, seq), timeout=30.0)
    say(f"done {pid} {count}")
    q.close()


def queue_consumer(name: str, tally_name: str, per: int) -> None:
    q = shmbus.Queue.open(name)
    tally = shmbus.Segment.open(tally_name)
    marks = tally.buffer
    last: dict = {}
    n = 0
    say("ready")
    while True:
        m = q.receive(timeout=30.0)
        if m is None:
            break
        pid, seq = check_queue(m)
        if seq <= last.get(pid, -1):
            raise SystemExit(f"producer {pid}: seq {seq} after {last.get(pid)}")
        if seq >= per:
            raise SystemExit(f"producer {pid}: seq {seq} out of range")
        last[pid] = seq
        marks[pid * per + seq] += 1  # only this process writes these bytes; the parent reads after exit
        n += 1
    say(f"consumed {n}")
    del marks
    tally.close()
    q.close()


def mailbox_value(counter: int) -> bytes:
    b = bytearray(os.urandom(1 << 16))
    struct.pack_into("<I", b, 4, counter)
    struct.pack_into("<I", b, 0, zlib.crc32(memoryview(b)[4:]))
    return bytes(b)


def mailbox_writer(name: str, seconds: float) -> None:
    import time

    mb = shmbus.Mailbox.open(name)
    end = time.monotonic() + seconds
    n = 0
    values = [mailbox_value(i) for i in range(16)]
    while time.monotonic() < end:
        mb.write(values[n % 16])
        n += 1
    mb.write(b"STOP")
    say(f"done writes={n}")


def mailbox_reader(name: str) -> None:
    mb = shmbus.Mailbox.open(name)
    say("ready")
    reads = 0
    versions = set()
    while True:
        data, version = mb.read()
        reads += 1
        versions.add(version)
        if data == b"STOP":
            break
        if len(data) >= 8:
            (crc,) = struct.unpack_from("<I", data, 0)
            if zlib.crc32(memoryview(data)[4:]) != crc:
                raise SystemExit(f"torn value at version {version}")
        elif version != 0:
            raise SystemExit(f"short value at version {version}: {data!r}")
    say(f"done reads={reads} versions={len(versions)}")


def rpc_server(name: str, workers: int) -> None:
    def handler(req: "shmbus.RpcRequest") -> bytes:
        if not req.is_text:
            return bytes(req.data)
        text = req.text()
        if text.startswith("throw:"):
            raise RuntimeError(text[6:])
        return ("ok:" + text).encode()

    server = shmbus.Rpc.serve(name, handler, workers=workers)
    say("serving")
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    server.close()
    say(f"stopped {server.stats()['served']}")


def rpc_client(name: str, client: str, count: int) -> None:
    c = shmbus.Rpc.connect(name)
    say("ready")
    ok = 0
    for i in range(count):
        text = f"{client}:{i}"
        res = c.request(text, timeout=30.0)
        if res.text() != f"ok:{text}":
            raise SystemExit(f"request {text}: got {res.text()!r}")
        ok += 1
    say(f"done {ok}")
    c.close()


def lock_counter(seg_name: str, lock_offset: int, counter_offset: int, iterations: int) -> None:
    seg = shmbus.Segment.open(seg_name)
    m = shmbus.Mutex.embed(seg, lock_offset)
    view = seg.buffer
    inside = counter_offset + 4
    overlaps = 0
    say("ready")
    sys.stdin.readline()
    for _ in range(iterations):
        m.lock(timeout=30.0)
        if struct.unpack_from("<I", view, inside)[0] != 0:
            overlaps += 1
        struct.pack_into("<I", view, inside, 1)
        (c,) = struct.unpack_from("<I", view, counter_offset)
        struct.pack_into("<I", view, counter_offset, c + 1)
        struct.pack_into("<I", view, inside, 0)
        m.unlock()
    say(f"done overlaps={overlaps}")


def mutex_hold(name: str) -> None:
    import time

    m = shmbus.Mutex.open(name)
    m.lock(timeout=10.0)
    say("holding")
    while True:
        time.sleep(3600)


def main() -> None:
    role, args = sys.argv[1], sys.argv[2:]
    try:
        if role == "topic-pub":
            topic_pub(json.loads(args[0]))
        elif role == "topic-sub":
            topic_sub(json.loads(args[0]))
        elif role == "queue-producer":
            queue_producer(args[0], int(args[1]), int(args[2]), int(args[3]))
        elif role == "queue-consumer":
            queue_consumer(args[0], args[1], int(args[2]))
        elif role == "mailbox-writer":
            mailbox_writer(args[0], float(args[1]))
        elif role == "mailbox-reader":
            mailbox_reader(args[0])
        elif role == "rpc-server":
            rpc_server(args[0], int(args[1]))
        elif role == "rpc-client":
            rpc_client(args[0], args[1], int(args[2]))
        elif role == "lock-counter":
            lock_counter(args[0], int(args[1]), int(args[2]), int(args[3]))
        elif role == "mutex-hold":
            mutex_hold(args[0])
        else:
            raise SystemExit(f"unknown role {role}")
    except shmbus.ShmbusError as e:
        sys.stderr.write(f"{role}: {e.code}: {e}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
