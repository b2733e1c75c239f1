"""test/vectors: every .bin reads as its .json says (fields), and the segment header decodes and re-encodes byte
for byte with a pure-Python codec (struct). The payload vectors' `expect` steps run through the package's API in
test_vectors_api.py."""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import ROOT

VECTORS = ROOT / "test" / "vectors"
STEMS = sorted(p.stem for p in VECTORS.glob("*.json"))
KINDS = ["raw", "topic", "queue", "mailbox", "rpc", "mutex", "rwlock", "semaphore", "event"]
FMT = {"u8": "<B", "u16": "<H", "u32": "<I", "i32": "<i", "u64": "<Q"}

# PROTOCOL.md §2: the 128-byte header. One struct for decode and encode (reserved words included, so a
# re-encode that drops a byte shows).
HEADER = struct.Struct("<IHHIIQQIIQQII16I")
HEADER_FIELDS = [
    "magic", "version", "kind", "state", "headerSize", "totalSize", "payloadSize", "creatorPid", "flags",
    "creatorStartTime", "createdAt", "creatorNs", "reserved",
]
assert HEADER.size == 128


def decode_header(b: bytes) -> Dict[str, Any]:
    if len(b) < HEADER.size:
        raise ValueError(f"a header is 128 bytes, got {len(b)}")
    v = HEADER.unpack_from(b, 0)
    h = dict(zip(HEADER_FIELDS, v[: len(HEADER_FIELDS)]))
    h["params"] = list(v[len(HEADER_FIELDS):])
    h["kind"] = KINDS[h["kind"]] if h["kind"] < len(KINDS) else h["kind"]
    return h


def encode_header(h: Dict[str, Any]) -> bytes:
    kind = KINDS.index(h["kind"]) if isinstance(h["kind"], str) else h["kind"]
    values = [h[f] if f != "kind" else kind for f in HEADER_FIELDS]
    return HEADER.pack(*values, *h["params"])


def load(stem: str) -> tuple:
    return json.loads((VECTORS / f"{stem}.json").read_text()), (VECTORS / f"{stem}.bin").read_bytes()


def matches(got: Any, want: Any, where: str) -> None:
    """Deep-equal, except that an object `want` checks only the keys it lists (test/vectors/README.md)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: got {got!r}, want {want!r}"
        for k, v in want.items():
            matches(got.get(k), v, f"{where}.{k}")
    else:
        assert got == want, f"{where}: got {got!r}, want {want!r}"


def test_there_are_vectors_each_a_json_beside_its_bin() -> None:
    assert len(STEMS) >= 3, STEMS
    for stem in STEMS:
        assert (VECTORS / f"{stem}.bin").is_file(), stem


@pytest.mark.parametrize("stem", STEMS)
def test_every_field_reads_as_its_value(stem: str) -> None:
    v, b = load(stem)
    assert len(b) == v["size"]
    title = (ROOT / "PROTOCOL.md").read_text().split("\n", 1)[0]
    assert title == f"# shmbus protocol, version {v['protocolVersion']}"
    fields: List[Dict[str, Any]] = v["fields"]
    assert fields, "a vector lists its fields"
    for f in fields:
        (got,) = struct.unpack_from(FMT[f["type"]], b, f["offset"])
        assert got == f["value"], f"{stem}: {f['name']} ({f['type']} at {f['offset']})"


def test_segment_header_decodes_and_reencodes_byte_for_byte() -> None:
    v, b = load("segment-header")
    assert v["map"] == {"as": "header"}
    decoded = None
    for i, s in enumerate(v["expect"]):
        if s["op"] == "decodeHeader":
            decoded = decode_header(b)
            matches(decoded, s["result"], f"step {i + 1} (decodeHeader)")
        elif s["op"] == "reencode":
            assert decoded is not None, "reencode after decodeHeader"
            assert (encode_header(decoded) == b) == s["result"]
        else:
            pytest.fail(f"unknown header op {s['op']}")


def test_the_header_vector_describes_the_topic_ring_vector() -> None:
    header = decode_header(load("segment-header")[1])
    ring, ring_bin = load("topic-ring")
    assert header["kind"] == ring["map"]["kind"] == "topic"
    assert header["payloadSize"] == len(ring_bin)
    assert header["totalSize"] == 128 + len(ring_bin)
    assert header["params"][: len(ring["map"]["params"])] == ring["map"]["params"]


def test_a_payload_vector_reencodes_its_fields_byte_for_byte() -> None:
    # Writing every listed field of a payload vector over its own bytes changes nothing: the offsets and widths
    # this reader uses are the ones the bytes were made with.
    for stem in STEMS:
        v, b = load(stem)
        again = bytearray(b)
        for f in v["fields"]:
            struct.pack_into(FMT[f["type"]], again, f["offset"], f["value"])
        assert bytes(again) == b, stem
