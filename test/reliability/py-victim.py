"""Python kill victims of the reliability suites (test/reliability): the Python peer in the roles the Node and C
victims play there, with the same message formats and lines. The tests kill these with SIGKILL at random instants;
a check that fails exits 1 with the reason on stderr (the suites count it as a violation).
Usage: python py-victim.py <role> <args...>
  topic-pub <topic> <pubId> <minSize> <maxSize> <seed> <publish|loan>
        publishes [u32 pub][u32 index][u32 crc32 of bytes 12..][random bytes] forever; "ready" first
  topic-sub <topic> <pubs> <copy|zc>
        reads from the latest message on, checks every message (crc, index order per publisher); "ready" first
  queue-produce <queue> <id> <count> <size>
        sends `count` messages [u32 id][u32 seq][u32 fnv1a][pattern] (test/fixtures/queue-msg.ts); "ready" first
  queue-consume <queue> <tally> <perProducer>
        receives until the end of the stream, checks each message and the order per producer, adds 1 to byte
        id * perProducer + seq of the tally segment; "ready" first
  mailbox-writer <mailbox>
        writes 64 KiB values [u32 crc32 of bytes 4..][u32 counter][random bytes] forever
  mailbox-reader <mailbox>
        reads in a loop checking every value's crc until it reads "STOP"; "ready" first
  rpc-serve <service> <workers> [zc]
        serves "ok:<text>" (bytes echoed) until "stop" on stdin; "serving" first
  rpc-client <service> <client> <count>
        requests "<client>:<i>" and checks each answer is "ok:<client>:<i>"; "ready" first
  lock-chaos <mutex|rwlock|semaphore> <writer|reader> <segment> <index>
        the journaled updates of test/fixtures/lock-chaos.ts (the state words of lock-chaos-state.ts)
"""
import os
import random
import struct
import sys
import time
import zlib

import shmbus

T = 30.0  # every wait is bounded: a broken run fails instead of hanging


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def die(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()
    os._exit(1)


def wait_stop():
    for line in sys.stdin:
        if line.strip() == "stop":
            return


def fnv1a(b, start, end, seed=0x811C9DC5):
    h = seed
    for i in range(start, end):
        h = ((h ^ b[i]) * 0x01000193) & 0xFFFFFFFF
    return h


# ---- Topic ------------------------------------------------------------------------------------------------------

def topic_fill(buf, n, pub, index, rnd):
    buf[12:n] = rnd.randbytes(n - 12)
    struct.pack_into("<III", buf, 0, pub, index, zlib.crc32(buf[12:n]))


def topic_pub(name, pub, min_size, max_size, seed, mode):
    pub, lo, hi = int(pub), int(min_size), int(max_size)
    rnd = random.Random(int(seed))
    t = shmbus.Topic.open(name)
    scratch = bytearray(hi)
    say("ready")
    index = 0
    while True:
        n = rnd.randint(lo, hi)
        if mode == "loan":
            loan = t.loan(n, timeout=T)
            topic_fill(loan.buffer, n, pub, index, rnd)
            loan.commit(n)
        else:
            topic_fill(scratch, n, pub, index, rnd)
            t.publish(memoryview(scratch)[:n], timeout=T)
        index += 1


def topic_sub(name, pubs, mode):
    pubs = int(pubs)
    sub = shmbus.Topic.subscribe(name, start="latest")
    into = bytearray(1 << 24) if mode == "copy" else None
    nxt = {}
    say("ready")
    while True:
        m = sub.read(T, into=into)
        if m is None:
            if sub.ended:
                return
            die("no message for 30 s")
        d = m.data
        if m.size < 12:
            die(f"seq {m.seq}: short message ({m.size} bytes)")
        pub, index, crc = struct.unpack_from("<III", d, 0)
        ok = zlib.crc32(d[12:m.size]) == crc
        if into is None and not m.valid():
            continue  # a zero-copy view overwritten while it was checked (the subscriber was lapped): skipped
        if not ok:
            die(f"seq {m.seq}: torn (crc mismatch, {m.size} bytes), pub {pub} index {index}")
        if pub >= pubs:
            die(f"unknown publisher {pub}")
        if pub != 0 and index < nxt.get(pub, 0):
            die(f"publisher {pub}: index {index} after {nxt[pub] - 1}")
        if pub == 0:
            nxt.clear()  # a marker of the test: the ids of dead publishers may be reused from here on
        else:
            nxt[pub] = index + 1


# ---- Queue ------------------------------------------------------------------------------------------------------

def queue_produce(name, pid, count, size):
    pid, count, size = int(pid), int(count), int(size)
    q = shmbus.Queue.open(name)
    buf = bytearray(size)
    say("ready")
    for seq in range(count):
        struct.pack_into("<II", buf, 0, pid, seq)
        for i in range(12, size):
            buf[i] = (pid * 7 + seq + i) & 0xFF
        struct.pack_into("<I", buf, 8, fnv1a(buf, 12, size, fnv1a(buf, 0, 8)))
        q.send(buf, timeout=T)
    say(f"done {pid} {count}")


def queue_consume(name, tally_name, per):
    per = int(per)
    q = shmbus.Queue.open(name)
    tally = shmbus.Segment.open(tally_name)
    marks = tally.buffer
    last = {}
    say("ready")
    while True:
        m = q.receive(timeout=T)
        if m is None:
            if q.ended:
                return
            die("no message for 30 s")
        d = m.data
        if len(d) < 12:
            die(f"short message ({len(d)} bytes)")
        pid, seq, crc = struct.unpack_from("<III", d, 0)
        if fnv1a(d, 12, len(d), fnv1a(d, 0, 8)) != crc:
            die(f"checksum mismatch in message {pid}/{seq}")
        if seq >= per or pid * per + seq >= len(marks):
            die(f"message {pid}/{seq} out of range")
        if pid in last and seq <= last[pid]:
            die(f"producer {pid}: seq {seq} after {last[pid]}")
        last[pid] = seq
        # Not atomic (Python has no atomic add on shared memory): each message has its own byte, and the test
        # reads the tally after every consumer is gone.
        marks[pid * per + seq] += 1


# ---- Mailbox ----------------------------------------------------------------------------------------------------

def mailbox_writer(name):
    mb = shmbus.Mailbox.open(name)
    rnd = random.Random()
    value = bytearray(64 << 10)
    counter = 0
    while True:
        value[8:] = rnd.randbytes(len(value) - 8)
        struct.pack_into("<I", value, 4, counter)
        struct.pack_into("<I", value, 0, zlib.crc32(memoryview(value)[4:]))
        mb.write(value, timeout=T)
        counter += 1


def mailbox_reader(name):
    mb = shmbus.Mailbox.open(name)
    say("ready")
    while True:
        d = mb.read().data
        if d == b"STOP":
            say("done")
            return
        if len(d) >= 8 and zlib.crc32(d[4:]) != struct.unpack_from("<I", d, 0)[0]:
            die(f"torn value ({len(d)} bytes)")


# ---- Rpc --------------------------------------------------------------------------------------------------------

def rpc_serve(name, workers, zc=None):
    def handler(req):
        return f"ok:{req.text()}" if req.is_text else bytes(req.data)

    server = shmbus.Rpc.serve(name, handler, workers=int(workers), copy=zc != "zc")
    say("serving")
    wait_stop()
    server.close()
    say("stopped")


def rpc_client(name, client, count):
    c = shmbus.Rpc.connect(name)
    say("ready")
    for i in range(int(count)):
        text = f"{client}:{i}"
        try:
            got = c.request(text, timeout=T).text()
        except shmbus.ShmbusError as e:
            if e.code == "ERR_NO_SERVER":
                continue  # its server was killed: the suite's own answer too
            raise
        if got != f"ok:{text}":
            die(f"request {text} got {got}")
    say("done")


# ---- locks (test/fixtures/lock-chaos.ts, word indexes of test/fixtures/lock-chaos-state.ts) -----------------------

COUNTER, INSIDE, OVERLAPS, PEND_INDEX, PEND_COUNTER, PEND_MINE, STOP, RECOVERIES, INCONSISTENT, HOLD = range(512, 522)
COUNTS, MAX_CHILDREN = 528, 16


def lock_chaos(kind, role, name, index):
    index = int(index)
    seg = shmbus.Segment.open(name)
    w = seg.buffer.cast("i")
    if kind == "mutex":
        m = shmbus.Mutex.embed(seg, 0, liveness_interval=0.01)
        lock, unlock = (lambda: m.lock(T)), m.unlock
    elif kind == "semaphore":
        s = shmbus.Semaphore.embed(seg, 0, liveness_interval=0.01)
        lock, unlock = (lambda: s.acquire(T)), s.release
    else:
        rw = shmbus.RwLock.embed(seg, 0, liveness_interval=0.01)
        if role == "reader":
            lock, unlock = (lambda: rw.read_lock(T)), rw.read_unlock
        else:
            lock, unlock = (lambda: rw.write_lock(T)), rw.write_unlock

    def repair():
        pending = w[PEND_INDEX]
        if pending != 0:
            w[COUNTER] = w[PEND_COUNTER]
            w[COUNTS + pending - 1] = w[PEND_MINE]
            w[PEND_INDEX] = 0
        w[INSIDE] = 0

    def write():
        # One aligned 32-bit store each, in program order (x86 keeps stores in order): what a kill leaves behind.
        if w[INSIDE] != 0:
            w[OVERLAPS] += 1
        w[INSIDE] = 1
        c = w[COUNTER]
        mine = w[COUNTS + index]
        w[PEND_COUNTER] = c + 1
        w[PEND_MINE] = mine + 1
        w[PEND_INDEX] = index + 1  # the journal commits here
        if w[HOLD] == index + 1:
            say("holding")
            while True:
                time.sleep(1)  # killed here, holding the lock in the middle of an update
        w[COUNTER] = c + 1
        w[COUNTS + index] = mine + 1
        w[PEND_INDEX] = 0
        w[INSIDE] = 0

    def read():
        total = sum(w[COUNTS + i] for i in range(MAX_CHILDREN))
        if w[PEND_INDEX] != 0 or w[INSIDE] != 0 or total != w[COUNTER]:
            w[INCONSISTENT] += 1

    say("ready")
    rounds = 0
    while w[STOP] == 0:
        rounds += 1
        if lock().recovered:
            repair()
            w[RECOVERIES] += 1
        if role == "reader":
            read()
        else:
            write()
        unlock()
        if rounds % 500 == 0:
            say("progress")
    say("done")
    del w
    seg.close()


ROLES = {
    "topic-pub": topic_pub,
    "topic-sub": topic_sub,
    "queue-produce": queue_produce,
    "queue-consume": queue_consume,
    "mailbox-writer": mailbox_writer,
    "mailbox-reader": mailbox_reader,
    "rpc-serve": rpc_serve,
    "rpc-client": rpc_client,
    "lock-chaos": lock_chaos,
}

if __name__ == "__main__":
    ROLES[sys.argv[1]](*sys.argv[2:])
