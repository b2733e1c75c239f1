"""The Frame codec (PROTOCOL.md §9) in Python: the frame vector decodes and re-encodes byte for byte, the numpy view
shares the message's memory, corrupt or truncated frames are refused, and a frame written by Python through a Topic
loan is read back in place."""
from __future__ import annotations

import json

import numpy as np
import pytest

import shmbus
from conftest import ROOT

VECTORS = ROOT / "test" / "vectors"


def load():
    return json.loads((VECTORS / "frame.json").read_text()), (VECTORS / "frame.bin").read_bytes()


def test_vector_decodes_and_reencodes_byte_for_byte():
    vec, data = load()
    for step in vec["expect"]:
        if step["op"] == "decode":
            f = shmbus.Frame.decode(data)
            want = step["result"]
            assert (f.width, f.height, f.channels, f.dtype, f.format, f.stride, f.timestamp_us) == (
                want["width"], want["height"], want["channels"], want["dtype"], want["format"], want["stride"],
                want["timestampMicros"],
            )
            rows = np.frombuffer(f.data, dtype="<u2")
            assert rows.tolist() == want["data"]
            assert f.array.shape == (2, 3, 3)
            assert f.array[1, 0, 0] == 10009
        elif step["op"] == "reencode":
            f = shmbus.Frame.decode(data)
            again = shmbus.Frame.encode(f.array, f.format, timestamp_us=f.timestamp_us, stride=f.stride)
            assert (again == data) is step["result"]
        else:
            pytest.fail(f"unknown op {step['op']}")


def test_the_array_shares_the_message_memory():
    buf = bytearray(shmbus.Frame.size(4, 2, "GRAY", "uint8"))
    pixels = shmbus.Frame.write_header(buf, 4, 2, "GRAY", "uint8", timestamp_us=5)
    pixels[1, 2] = 200
    f = shmbus.Frame.decode(buf)
    assert f.array[1, 2] == 200 and f.timestamp_us == 5 and f.timestamp == 5e-6
    buf[64 + 4 + 3] = 77  # row 1, column 3
    assert f.array[1, 3] == 77


def test_corrupt_and_truncated_frames_are_refused():
    _, data = load()
    for n in range(len(data)):
        with pytest.raises(shmbus.ShmbusError) as e:
            shmbus.Frame.decode(data[:n])
        assert e.value.code == "ERR_INVALID_ARG"
    for off, value in [(0, 1), (4, 2), (6, 60), (16, 4), (20, 9), (22, 0), (24, 16), (28, 1), (40, 47)]:
        bad = bytearray(data)
        bad[off] = value
        bad[off + 1] = 0
        with pytest.raises(shmbus.ShmbusError):
            shmbus.Frame.decode(bad)


def test_a_frame_through_a_topic_loan_is_read_in_place(unique_name):
    name = unique_name("frame")
    img = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    pub = shmbus.Topic.create(name, capacity=1 << 20, max_message_size=1 << 16)
    try:
        sub = shmbus.Topic.subscribe(name, start="latest")
        with pub.loan(shmbus.Frame.size(64, 48, "BGR")) as buf:
            shmbus.Frame.write_header(buf, 64, 48, "BGR")[...] = img
        msg = sub.read(timeout=5.0)
        f = shmbus.Frame.decode(msg.data)
        assert f.array.shape == (48, 64, 3) and np.array_equal(f.array, img)
        assert msg.valid()
        sub.close()
    finally:
        pub.close()
        shmbus.Topic.unlink(name)
