"""Topic across languages with real processes: Python <-> Node (and C where its peer program exists)."""
from __future__ import annotations

import random
import re

import shmbus
from peers.pypeer import check_topic, fill_topic

N = 10_000


def parse_done(line: str) -> dict:
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", line)}


def publish_checked(pub: shmbus.Topic, pub_id: int, count: int, seed: int = 1) -> int:
    rnd = random.Random(seed)
    scratch = memoryview(bytearray(200))
    last = 0
    for k in range(count):
        msg = scratch[: rnd.randint(12, 200)]
        fill_topic(msg, pub_id, k, rnd)
        last = pub.publish(msg)
    return last


def read_checked(sub: shmbus.Subscriber, pubs: int, per_pub: int) -> int:
    nxt = [0] * pubs
    last = 0
    n = 0
    while not all(x >= per_pub for x in nxt):
        m = sub.read(timeout=60)
        assert m is not None, f"stream ended or timed out after {n} messages (next {nxt})"
        pub, index = check_topic(m.data, f"seq {m.seq}")
        assert m.valid()
        assert m.seq > last
        last = m.seq
        assert index == nxt[pub], f"publisher {pub}: index {index}, expected {nxt[pub]}"
        nxt[pub] += 1
        n += 1
    return n


def test_python_publishes_10000_checksummed_messages_to_a_node_subscriber(unique_name, peers) -> None:
    name = unique_name("py2node")
    pub = shmbus.Topic.create(name, capacity=4 << 20, max_message_size=256)
    sub = peers.node("topic-subscriber", {"topic": name, "sub": 0, "pubs": 1, "perPub": N, "from": "oldest"})
    sub.line("ready")
    publish_checked(pub, 0, N)
    done = parse_done(sub.line("done"))
    assert done["read"] == N and done["lost"] == 0 and done["gaps"] == 0 and done["first"] == 1
    sub.wait_ok()
    pub.close()


def test_node_publishes_10000_checksummed_messages_to_a_python_subscriber(unique_name, peers) -> None:
    name = unique_name("node2py")
    shmbus.Topic.create(name, capacity=4 << 20, max_message_size=256).close()
    sub = shmbus.Topic.subscribe(name, start="oldest")
    pub = peers.node("topic-publisher", {"topic": name, "pub": 0, "count": N, "minSize": 12, "maxSize": 200})
    assert read_checked(sub, 1, N) == N
    assert sub.lost == 0
    pub.line("done")
    pub.wait_ok()
    sub.close()


def test_python_process_publishes_to_a_python_subscriber_with_loans(unique_name, peers) -> None:
    name = unique_name("py2py")
    shmbus.Topic.create(name, capacity=4 << 20, max_message_size=256).close()
    sub = shmbus.Topic.subscribe(name, start="oldest")
    pub = peers.py("topic-pub", {"topic": name, "pub": 0, "count": N, "minSize": 12, "maxSize": 200, "mode": "loan"})
    assert read_checked(sub, 1, N) == N
    pub.wait_ok()
    sub.close()


def test_mixed_language_publishers_into_one_topic(unique_name, peers) -> None:
    name = unique_name("mixed")
    per = 3000
    owner = shmbus.Topic.create(name, capacity=8 << 20, max_message_size=256)
    py_sub = shmbus.Topic.subscribe(name, start="oldest")
    node_sub = peers.node("topic-subscriber", {"topic": name, "sub": 0, "pubs": 3, "perPub": per, "from": "oldest"})
    node_sub.line("ready")
    node_pub = peers.node("topic-publisher", {"topic": name, "pub": 1, "count": per, "minSize": 12, "maxSize": 200})
    py_pub = peers.py("topic-pub", {"topic": name, "pub": 2, "count": per, "minSize": 12, "maxSize": 200})
    publish_checked(owner, 0, per, seed=5)  # this process is publisher 0
    assert read_checked(py_sub, 3, per) == 3 * per
    done = parse_done(node_sub.line("done"))
    assert done["read"] == 3 * per and done["lost"] == 0
    for p in (node_pub, py_pub, node_sub):
        p.wait_ok()
    assert owner.stats()["published"] == 3 * per
    py_sub.close()
    owner.close()


def test_lapping_is_counted_exactly_node_publisher_python_subscriber(unique_name, peers) -> None:
    name = unique_name("lapn")
    count = 2000
    shmbus.Topic.create(name, capacity=8192, max_message_size=200).close()
    sub = shmbus.Topic.subscribe(name, start="latest")
    pub = peers.node("topic-publisher", {"topic": name, "pub": 0, "count": count, "minSize": 12, "maxSize": 200})
    last = int(pub.line("done").split()[1])
    pub.wait_ok()
    indexes = []
    while True:
        m = sub.read(timeout=0)
        if m is None:
            break
        indexes.append(check_topic(m.data, f"seq {m.seq}")[1])
    assert last == count
    assert indexes == list(range(count - len(indexes), count)), "the newest messages, in order, none torn"
    assert sub.lost + len(indexes) == count
    sub.close()


def test_lapping_is_counted_exactly_python_publisher_node_subscriber(unique_name, peers) -> None:
    name = unique_name("lapp")
    count = 2000
    pub = shmbus.Topic.create(name, capacity=8192, max_message_size=200)
    sub = peers.node("topic-subscriber", {"topic": name, "sub": 0, "pubs": 1, "untilSeq": count, "hold": True})
    sub.line("ready")
    assert publish_checked(pub, 0, count) == count
    sub.send("go")
    done = parse_done(sub.line("done"))
    assert done["last"] == count
    assert done["read"] + done["lost"] == count
    assert done["first"] == done["lost"] + 1
    sub.wait_ok()
    pub.close()


def test_c_publishes_10000_checksummed_messages_to_a_python_subscriber(unique_name, peers) -> None:
    name = unique_name("c2py")
    shmbus.Topic.create(name, capacity=4 << 20, max_message_size=256).close()
    sub = shmbus.Topic.subscribe(name, start="oldest")
    pub = peers.c("topic-peer", "pub", name, 0, N, 12, 200, 7, "publish")
    assert read_checked(sub, 1, N) == N and sub.lost == 0
    pub.line("done")
    pub.wait_ok()
    sub.close()


def test_python_publishes_10000_checksummed_messages_to_a_c_subscriber(unique_name, peers) -> None:
    name = unique_name("py2c")
    pub = shmbus.Topic.create(name, capacity=4 << 20, max_message_size=256)
    sub = peers.c("topic-peer", "sub", name, 1, N, 0, "oldest", "zc", "go")
    sub.line("ready")
    publish_checked(pub, 0, N)
    done = parse_done(sub.line("done"))
    assert done["read"] == N and done["lost"] == 0 and done["gaps"] == 0
    sub.wait_ok()
    pub.close()


def test_mixed_python_node_c_publishers_read_by_python_node_and_c(unique_name, peers) -> None:
    name = unique_name("mix3")
    per = 2000
    owner = shmbus.Topic.create(name, capacity=8 << 20, max_message_size=256)
    py_sub = shmbus.Topic.subscribe(name, start="oldest")
    node_sub = peers.node("topic-subscriber", {"topic": name, "sub": 0, "pubs": 3, "perPub": per, "from": "oldest"})
    c_sub = peers.c("topic-peer", "sub", name, 3, per, 0, "oldest", "copy", "go")
    node_sub.line("ready")
    c_sub.line("ready")
    node_pub = peers.node("topic-publisher", {"topic": name, "pub": 1, "count": per, "minSize": 12, "maxSize": 200})
    c_pub = peers.c("topic-peer", "pub", name, 2, per, 12, 200, 3, "loan")
    publish_checked(owner, 0, per, seed=9)
    assert read_checked(py_sub, 3, per) == 3 * per
    for s in (node_sub, c_sub):
        done = parse_done(s.line("done"))
        assert done["read"] == 3 * per and done["lost"] == 0
    for p in (node_pub, c_pub, node_sub, c_sub):
        p.wait_ok()
    py_sub.close()
    owner.close()


def test_lapping_is_counted_exactly_c_publisher_python_subscriber(unique_name, peers) -> None:
    name = unique_name("lapc")
    count = 2000
    shmbus.Topic.create(name, capacity=8192, max_message_size=200).close()
    sub = shmbus.Topic.subscribe(name, start="latest")
    pub = peers.c("topic-peer", "pub", name, 0, count, 12, 200, 11, "publish")
    assert int(pub.line("done").split()[1]) == count
    pub.wait_ok()
    indexes = []
    while True:
        m = sub.read(timeout=0)
        if m is None:
            break
        indexes.append(check_topic(m.data, f"seq {m.seq}")[1])
    assert indexes == list(range(count - len(indexes), count))
    assert sub.lost + len(indexes) == count
    sub.close()


def test_lapping_is_counted_exactly_python_publisher_c_subscriber(unique_name, peers) -> None:
    name = unique_name("lappc")
    count = 2000
    pub = shmbus.Topic.create(name, capacity=8192, max_message_size=200)
    sub = peers.c("topic-peer", "sub", name, 1, 0, count, "latest", "zc", "hold")
    sub.line("ready")
    assert publish_checked(pub, 0, count) == count
    sub.send("go")
    done = parse_done(sub.line("done"))
    assert done["last"] == count
    assert done["read"] + done["lost"] == count
    assert done["first"] == done["lost"] + 1
    sub.wait_ok()
    pub.close()
