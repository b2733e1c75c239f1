"""The Python side of test/cross/parts.test.ts (the line protocol of c/tests/peers/peer.h: "ready <pid>", then one
answer line per stdin command).
  read <topic>    subscribes from the oldest message, reads one, decodes it as a Parts record in place and answers its
                  digest line (the format of c/tests/peers/parts-peer.c), or "error ERR_PARTS_CORRUPT ..."
  write <topic>   publishes the Python record through a loan: a 4x3 RGBA uint16 Frame (sample y*16+x*4+c), params
                  JSON, a string, a float64 and an int64; answers "wrote <seq> <size>"
"""
from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np

import shmbus


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fnv1a(data) -> str:
    h = 0x811C9DC5
    for b in bytes(data):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def digest(buf) -> str:
    rec = shmbus.Parts.decode(buf)
    dir_at = struct.unpack_from("<I", buf, 16)[0]
    out = [f"parts {len(rec)}"]
    for i, (name, v) in enumerate(rec.items()):
        kind = shmbus.parts.TYPES[buf[dir_at + 16 * i + 6]]
        if kind == "bytes":
            d = f"{len(v)}/{fnv1a(v)}"
        elif kind == "string":
            d = fnv1a(v.encode())
        elif kind == "json":
            d = fnv1a(json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode())
        elif kind == "float64":
            d = struct.pack(">d", v).hex()
        else:
            d = str(v)
        out.append(f"{name}={kind}:{d}")
    if isinstance(rec.get("image"), memoryview):
        try:
            f = shmbus.Frame.decode(rec["image"])
            out.append(f"frame={f.width}x{f.height}x{f.channels}:{fnv1a(f.data)}")
        except shmbus.ShmbusError:
            pass
    return " ".join(out)


def read_one(name: str) -> None:
    sub = shmbus.Topic.subscribe(name, start="oldest")
    try:
        msg = sub.read(timeout=10)
        if msg is None:
            say("error ERR_TIMEOUT nothing to read")
            return
        try:
            say(digest(msg.data))  # msg.data is a memoryview into the ring: decoded in place
        except shmbus.ShmbusError as e:
            say(f"error {e.code} {e.message}")
    finally:
        sub.close()


def write_one(name: str) -> None:
    pixels = (np.arange(3)[:, None, None] * 16 + np.arange(4)[None, :, None] * 4 + np.arange(4)[None, None, :]).astype(np.uint16)
    rec = {
        "image": shmbus.Frame.encode(pixels, "RGBA"),
        "params": {"op": "resize", "from": "python", "size": [2, 1]},
        "note": "from Python ✓",
        "scale": 2.5,
        "status": 1 << 40,
    }
    pub = shmbus.Topic.open(name)
    try:
        loan = pub.loan(shmbus.Parts.size(rec))
        size = shmbus.Parts.encode_into(loan.buffer, rec)  # written straight into the ring
        say(f"wrote {loan.commit(size)} {size}")
    finally:
        pub.close()


def main() -> None:
    say(f"ready {os.getpid()}")
    for line in sys.stdin:
        words = line.split()
        if len(words) >= 2 and words[0] == "read":
            read_one(words[1])
        elif len(words) >= 2 and words[0] == "write":
            write_one(words[1])
        elif words:
            say(f"error ERR_INVALID_ARG unknown command {words[0]}")


if __name__ == "__main__":
    main()
