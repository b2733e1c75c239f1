"""The payload vectors' `expect` steps through the package's API: each vector's bytes become the payload of a
fresh segment of its kind (created with the vector's header params), which is then opened as that kind."""
from __future__ import annotations

from typing import Any, Dict

import pytest

import shmbus
from test_vectors import STEMS, load, matches

PAYLOAD = [s for s in STEMS if load(s)[0]["map"]["as"] == "payload"]


def message_result(m: Any) -> Any:
    if m is None:
        return None
    return {"text": m.decode()} if getattr(m, "is_text", False) else {"bytes": list(m)}


def make_segment(name: str, v: Dict[str, Any], b: bytes) -> None:
    def init(seg: shmbus.Segment) -> None:
        seg.buffer[: len(b)] = b

    shmbus.Segment.create(name, len(b), kind=v["map"]["kind"], params=v["map"]["params"], init=init).close()


def run_topic(name: str, steps: list) -> None:
    subs: Dict[str, shmbus.Subscriber] = {}
    try:
        for i, s in enumerate(steps):
            args = s.get("args", {})
            if s["op"] == "subscribe":
                subs[args["id"]] = shmbus.Topic.subscribe(name, start=args["from"])
                got: Any = None
            elif s["op"] == "tryRead":
                m = subs[args["id"]].try_read()
                got = None if m is None else {"seq": m.seq, "size": m.size, "timestampMicros": m.timestamp_us,
                                              "bytes": list(m.tobytes())}
            elif s["op"] == "lost":
                got = subs[args["id"]].lost
            elif s["op"] == "publish":
                with shmbus.Topic.open(name) as pub:
                    got = pub.publish(args["text"])
            else:
                pytest.fail(f"unknown topic op {s['op']}")
            matches(got, s["result"], f"step {i + 1} ({s['op']})")
    finally:
        for sub in subs.values():
            sub.close()


def run_queue(name: str, steps: list) -> None:
    q = shmbus.Queue.open(name)
    try:
        for i, s in enumerate(steps):
            if s["op"] == "tryReceive":
                got: Any = message_result(q.try_receive())
            elif s["op"] == "trySend":
                got = q.try_send(s["args"]["text"])
            elif s["op"] == "stats":
                got = q.stats()
            else:
                pytest.fail(f"unknown queue op {s['op']}")
            matches(got, s["result"], f"step {i + 1} ({s['op']})")
    finally:
        q.close()


@pytest.mark.parametrize("stem", PAYLOAD)
def test_every_expect_step_gives_its_result(stem: str, unique_name) -> None:
    v, b = load(stem)
    name = unique_name(f"vec-{stem}")
    make_segment(name, v, b)
    kind = v["map"]["kind"]
    if kind == "topic":
        run_topic(name, v["expect"])
    elif kind == "queue":
        run_queue(name, v["expect"])
    else:
        pytest.fail(f"no runner for kind {kind}")


def test_the_segment_header_vector_with_the_topic_ring_opens_as_a_topic(unique_name) -> None:
    from test_vectors import decode_header

    h = decode_header(load("segment-header")[1])
    v, ring = load("topic-ring")
    name = unique_name("vec-header")
    make_segment(name, {"map": {"kind": h["kind"], "params": h["params"][:4]}}, ring)
    shmbus.Topic.open(name).close()
