"""The Parts codec (PROTOCOL.md §10) in Python: the parts vector decodes (a Frame inside viewed in place) and
re-encodes byte for byte; bytes parts are memoryview slices sharing the buffer; encode refuses what it cannot write
(ERR_INVALID_ARG); decode refuses every truncation, each spoiled field and seeded mutations with ERR_PARTS_CORRUPT and
never hands out a view past the buffer; a record written into a Topic loan is read back in place."""
from __future__ import annotations

import json
import math
import random
import struct

import numpy as np
import pytest

import shmbus
from conftest import ROOT

VECTORS = ROOT / "test" / "vectors"


def load():
    return json.loads((VECTORS / "parts.json").read_text()), (VECTORS / "parts.bin").read_bytes()


def code_of(fn) -> str:
    with pytest.raises(shmbus.ShmbusError) as e:
        fn()
    return e.value.code


def spoil(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def test_vector_decodes_views_the_frame_in_place_and_reencodes_byte_for_byte():
    vec, data = load()
    for step in vec["expect"]:
        rec = shmbus.Parts.decode(data)
        want = step["result"]
        if step["op"] == "decode":
            dir_at = struct.unpack_from("<I", data, 16)[0]
            assert len(rec) == want["count"]
            for i, ((name, value), w) in enumerate(zip(rec.items(), want["parts"])):
                name_at, _, code, _, value_at, size = struct.unpack_from("<IHBBII", data, dir_at + 16 * i)
                assert (name, shmbus.parts.TYPES[code], name_at, value_at, size) == (
                    w["name"], w["type"], w["nameOffset"], w["valueOffset"], w["size"])
                if w["type"] == "bytes":
                    assert isinstance(value, memoryview) and value.obj is data  # a slice of the buffer, no copy
                    assert list(value) == w["value"]
                elif w["type"] == "int64":
                    assert value == int(w["value"])
                else:
                    assert value == w["value"]
        elif step["op"] == "decodeFrame":
            f = shmbus.Frame.decode(rec[step["args"]["part"]])
            assert (f.width, f.height, f.channels, f.dtype, f.format, f.stride) == (
                want["width"], want["height"], want["channels"], want["dtype"], want["format"], want["stride"])
            assert f.array.ravel().tolist() == want["data"]
            assert np.shares_memory(f.array, np.frombuffer(data, dtype=np.uint8))
        elif step["op"] == "reencode":
            assert (shmbus.Parts.encode(rec) == data) is want
        else:
            pytest.fail(f"unknown op {step['op']}")


def test_round_trip_of_every_value_type():
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    rec = {
        "image": shmbus.Frame.encode(np.zeros((2, 3, 3), dtype=np.uint8)),
        "params": {"op": "gray", "size": [640, 480], "deep": {"x": [None, False]}},
        "tuple": (1, 2),
        "note": "héllo ✓",
        "scale": 0.25,
        "status": -(1 << 63),
        "big": (1 << 63) - 1,
        "nan": float("nan"),
        "none": None,
        "flag": False,
        "raw": bytearray(b"\x00\x01"),
        "array": arr,
        "numpy-int": np.int64(5),
        "empty": b"",
    }
    data = shmbus.Parts.encode(rec)
    assert len(data) == shmbus.Parts.size(rec)
    got = shmbus.Parts.decode(data)
    assert list(got) == list(rec)
    assert got["params"] == rec["params"] and got["tuple"] == [1, 2] and got["note"] == "héllo ✓"
    assert got["scale"] == 0.25 and got["status"] == -(1 << 63) and got["big"] == (1 << 63) - 1
    assert math.isnan(got["nan"]) and got["none"] is None and got["flag"] is False and got["numpy-int"] == 5
    assert bytes(got["raw"]) == b"\x00\x01" and bytes(got["empty"]) == b""
    assert np.array_equal(np.frombuffer(got["array"], dtype=np.float32).reshape(3, 4), arr)
    assert shmbus.Frame.decode(got["image"]).array.shape == (2, 3, 3)
    base = np.frombuffer(data, dtype=np.uint8)
    for name in ("image", "raw", "array"):
        offset = np.frombuffer(got[name], dtype=np.uint8).__array_interface__["data"][0] - base.__array_interface__["data"][0]
        assert offset % 64 == 0, name  # bytes values 64-byte aligned in the record
    assert shmbus.Parts.decode(shmbus.Parts.encode({})) == {}
    assert len(shmbus.Parts.encode({})) == 32


def test_python_and_node_write_the_same_bytes_for_the_same_parts():
    # The layout of PROTOCOL §10 "Writers", byte by byte (the same record as the Node unit test's).
    data = shmbus.Parts.encode({"ab": "xy", "n": 7})
    assert struct.unpack_from("<IHHIIII", data, 0) == (0x54504253, 1, 32, 2, 0, 56, 88)
    assert data[32:35] == b"ab\0" and data[40:43] == b"xy\0" and data[43:45] == b"n\0"
    assert struct.unpack_from("<q", data, 48)[0] == 7
    assert struct.unpack_from("<IHBBII", data, 56) == (32, 2, 2, 0, 40, 2)
    assert struct.unpack_from("<IHBBII", data, 72) == (43, 1, 5, 0, 48, 8)


def test_encode_into_a_larger_buffer_and_refusals():
    rec = {"a": b"\x01" * 10, "b": "x"}
    size = shmbus.Parts.size(rec)
    buf = bytearray(b"\xee" * (size + 50))
    assert shmbus.Parts.encode_into(buf, rec) == size
    assert bytes(buf[:size]) == shmbus.Parts.encode(rec)
    got = shmbus.Parts.decode(buf)  # trailing bytes are ignored
    got["a"][0] = 9  # a writable view of the buffer
    assert buf[64] == 9
    small = bytearray(b"\x07" * (size - 1))
    assert code_of(lambda: shmbus.Parts.encode_into(small, rec)) == "ERR_INVALID_ARG"
    assert small == bytearray(b"\x07" * (size - 1))  # nothing written
    assert code_of(lambda: shmbus.Parts.encode_into(bytes(size), rec)) == "ERR_INVALID_ARG"  # read-only
    bad = [
        {"": 1}, {"x" * 256: 1}, {"é" * 128: 1}, {"a\0b": 1}, {"\ud800": 1}, {"s": "lone \udc00"},
        {"big": 1 << 63}, {"small": -(1 << 63) - 1}, {"obj": object()}, {"f": {"nan": float("nan")}},
        {"set": {1, 2}}, {1: "x"}, {f"p{i}": i for i in range(1025)}, [("a", 1)], "text",
    ]
    for rec in bad:
        assert code_of(lambda rec=rec: shmbus.Parts.encode(rec)) == "ERR_INVALID_ARG", repr(rec)[:60]
    assert len(shmbus.Parts.decode(shmbus.Parts.encode({"x" * 255: 1}))) == 1
    assert len(shmbus.Parts.decode(shmbus.Parts.encode({f"p{i}": i for i in range(1024)}))) == 1024
    assert code_of(lambda: shmbus.Parts.decode(12)) == "ERR_INVALID_ARG"


def test_every_truncation_and_each_spoiled_field_is_refused():
    _, data = load()
    for n in range(len(data)):
        assert code_of(lambda n=n: shmbus.Parts.decode(data[:n])) == "ERR_PARTS_CORRUPT", n
    dir_at, total = struct.unpack_from("<II", data, 16)
    header = [(0, "<I", 0x54504254), (4, "<H", 2), (6, "<H", 24), (6, "<H", 36), (6, "<H", 512), (8, "<I", 1025),
              (8, "<I", 6), (12, "<I", 1), (16, "<I", dir_at + 4), (16, "<I", dir_at - 8), (16, "<I", 0xFFFFFFF8),
              (20, "<I", total - 16), (20, "<I", total + 16), (20, "<I", 0)]
    e1, e3 = dir_at + 16, dir_at + 48
    name1, _, _, _, value1, size1 = struct.unpack_from("<IHBBII", data, e1)
    entries = [(e1 + 7, "<B", 1), (e1 + 6, "<B", 0), (e1 + 6, "<B", 6), (e1 + 4, "<H", 0), (e1 + 4, "<H", 256),
               (e1 + 4, "<H", value1 - name1), (e1, "<I", 8), (e1 + 8, "<I", value1 + 4), (e1 + 12, "<I", 0xFFFFFFFF),
               (e1 + 8, "<I", 0xFFFFFFF8), (e1 + 12, "<I", dir_at), (e3 + 12, "<I", 4), (e3 + 6, "<B", 2),
               (name1, "<B", 0x80), (name1 + 6, "<B", ord("x")), (name1, "<B", 0xFF), (value1 + size1, "<B", ord("x")),
               (value1, "<B", ord("[")), (dir_at + 32 + 6, "<B", 3)]  # json not JSON; a string claimed to be JSON
    for off, fmt, value in header + entries:
        assert code_of(lambda: shmbus.Parts.decode(spoil(data, off, fmt, value))) == "ERR_PARTS_CORRUPT", (off, value)
    # A duplicate name ("empty" renamed "image"); invalid UTF-8 in the string part; JSON text NaN.
    b = bytearray(data)
    empty_name = struct.unpack_from("<I", data, dir_at + 5 * 16)[0]
    b[empty_name : empty_name + 5] = b"image"
    assert code_of(lambda: shmbus.Parts.decode(bytes(b))) == "ERR_PARTS_CORRUPT"
    string_at = struct.unpack_from("<I", data, dir_at + 2 * 16 + 8)[0]
    for bad in (b"\xc0\x80", b"\xed\xa0\x80"):
        b = bytearray(data)
        b[string_at : string_at + len(bad)] = bad
        assert code_of(lambda: shmbus.Parts.decode(bytes(b))) == "ERR_PARTS_CORRUPT", bad
    nan = bytearray(shmbus.Parts.encode({"j": "NaN"}))
    nan[struct.unpack_from("<I", nan, 16)[0] + 6] = 3  # the string "NaN" claimed to be JSON
    assert code_of(lambda: shmbus.Parts.decode(bytes(nan))) == "ERR_PARTS_CORRUPT"
    deep = bytearray(shmbus.Parts.encode({"j": "[" * 100000 + "]" * 100000}))
    deep[struct.unpack_from("<I", deep, 16)[0] + 6] = 3
    assert code_of(lambda: shmbus.Parts.decode(bytes(deep))) == "ERR_PARTS_CORRUPT"


JSON_OK = ["0", "-0.5e+10", "1E-2", '"a\\u00e9\\n\\"\\\\\\/"', "[]", "{}", ' {"a":[1,true,false,null,{"b":"c"}]} \n', '"\\ud800"',
           '"é"', "[[[[[[[[[[1]]]]]]]]]]"]
JSON_BAD = ["", " ", "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "-", "1e", "[1,]", '{"a"}', '{"a":1,}', "{a:1}",
            '"x', '"\\x"', '"\\u12"', '"tab\t"', "[1] x", "tru", "\ufeff1", "'a'", "[1 2]", '{"a" 1}', "nul"]


def test_json_text_is_judged_as_the_c_and_node_readers_do():
    # The same lists as c/tests/test_parts.c and test/unit/codecs/parts.test.ts.
    def as_json(text: str) -> bytes:
        b = bytearray(shmbus.Parts.encode({"j": text}))
        b[struct.unpack_from("<I", b, 16)[0] + 6] = 3  # the string part turned into a json part
        return bytes(b)

    for t in JSON_OK:
        assert shmbus.Parts.decode(as_json(t))["j"] == json.loads(t), t
    for t in JSON_BAD:
        assert code_of(lambda t=t: shmbus.Parts.decode(as_json(t))) == "ERR_PARTS_CORRUPT", repr(t)


def test_seeded_mutations_are_refused_or_give_views_inside_the_buffer():
    _, data = load()
    dir_at = struct.unpack_from("<I", data, 16)[0]
    rnd = random.Random(5)
    refused = 0
    for round_ in range(5000):
        n = len(data) - (rnd.randrange(len(data)) if round_ % 7 == 0 else 0)
        b = bytearray(data[:n])
        for _ in range(rnd.randint(1, 3)):
            r = rnd.random()
            pos = rnd.randrange(32) if r < 0.25 else dir_at + rnd.randrange(len(data) - dir_at) if r < 0.5 else rnd.randrange(len(data))
            if pos < n:
                b[pos] = b[pos] ^ (1 << rnd.randrange(8)) if rnd.random() < 0.3 else rnd.randrange(256)
        buf = bytes(b)
        try:
            rec = shmbus.Parts.decode(buf)
        except shmbus.ShmbusError as e:
            assert e.code == "ERR_PARTS_CORRUPT", e
            refused += 1
            continue
        for v in rec.values():
            if isinstance(v, memoryview):
                assert v.obj is buf  # a slice of this buffer: slicing never reaches past it
    assert refused > 500


def test_a_record_written_into_a_topic_loan_is_read_in_place(unique_name):
    name = unique_name("parts")
    pub = shmbus.Topic.create(name, capacity=1 << 16)
    sub = shmbus.Topic.subscribe(name)
    try:
        frame = shmbus.Frame.encode(np.full((2, 2), 7, dtype=np.uint16), "GRAY")
        rec = {"image": frame, "params": {"op": "gray"}, "status": 0}
        with pub.loan(shmbus.Parts.size(rec)) as buf:
            shmbus.Parts.encode_into(buf, rec)
        msg = sub.read(timeout=5)
        got = shmbus.Parts.decode(msg.data)
        f = shmbus.Frame.decode(got["image"])
        assert f.array.tolist() == [[7, 7], [7, 7]] and got["params"] == {"op": "gray"} and got["status"] == 0
        assert got["image"].obj is msg.data.obj  # the same ring memory
    finally:
        sub.close()
        pub.close()
