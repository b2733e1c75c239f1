"""consumer.py: one of the video-ring viewers (seed 002), the Python twin of consumer.cpp.

    python consumer.py <topic> [delay-ms ring-frames]

Fast (no delay): each frame is a numpy (720, 1280, 3) array over the ring (shmbus.Frame.decode(msg.data).array,
no copy); it is checked (the rules of pattern.hpp, with numpy broadcasting), then msg.valid() (lapped while
checked: counted as "overwritten", verdict dropped). Slow (delay-ms > 0): each frame is copied out into one reused
buffer (read(into=...): never torn), then analysed: at least delay-ms, and never done before the producers are more
than a ring (ring-frames) ahead, so it loses frames on any machine however loaded; sub.lost counts exactly what it
missed. Prints "ready" once subscribed and "result {json}" last.
"""
import json
import sys
import time

import numpy as np

import shmbus

W, H, MAGIC = 1280, 720, 0x474E5256
# The pattern's planes for frame 0 of producer 0, as uint8 (adding a uint8 wraps mod 256, as the rules say).
B0 = np.broadcast_to(np.arange(W).astype(np.uint8)[None, :], (H, W))
G0 = np.broadcast_to(np.arange(H).astype(np.uint8)[:, None], (H, W))
R0 = (np.arange(W)[None, :] + np.arange(H)[:, None]).astype(np.uint8)


def verify(img: np.ndarray) -> tuple:
    """(ok, producer, frame) of a (720, 1280, 3) uint8 frame, per pattern.hpp."""
    magic, p, n, checksum = (int(v) for v in np.frombuffer(img[0, :6].tobytes(), "<u4", count=4))  # the stamp
    if magic != MAGIC or p > 1:
        return False, p, n
    same = True
    for c, plane, k in ((0, B0, 3 * n + 50 * p), (1, G0, n + 100 * p), (2, R0, 7 * n + 150 * p)):
        expect = plane + np.uint8(k & 255)
        # Every row but the first in full, then row 0 after the stamp's 6 pixels.
        same = same and bool((img[1:, :, c] == expect[1:]).all()) and bool((img[0, 6:, c] == expect[0, 6:]).all())
    total = int(img.sum(dtype=np.uint64)) - int(img[0, :6].sum(dtype=np.uint64))
    return same and (total & 0xFFFFFFFF) == checksum, p, n


def main() -> int:
    name = sys.argv[1]
    delay = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    ring_frames = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    sub = shmbus.Topic.subscribe(name, start="oldest")
    print("ready", flush=True)
    into = bytearray(shmbus.Frame.size(W, H, "BGR")) if delay > 0 else None
    read = overwritten = bad = first = last = 0
    per, nxt = [0, 0], [0, 0]
    t0 = t1 = 0.0
    while True:
        msg = sub.read(60.0, into=into) if into is not None else sub.read(60.0)
        if msg is None:
            if not sub.ended:
                raise SystemExit("consumer (Python): no frame for 60 s")
            break  # no producer left and nothing unread
        try:
            f = shmbus.Frame.decode(msg.data)  # checks the Frame header against the message
            ok = (f.width, f.height, f.format, f.dtype) == (W, H, "BGR", "uint8")
            ok, p, n = verify(f.array) if ok else (False, 0, 0)
            del f
        except shmbus.ShmbusError:
            ok, p, n = False, 0, 0
        if not msg.valid():  # lapped while we looked: whatever we concluded is not about this frame
            overwritten += 1
            continue
        now = time.monotonic()
        if read == 0:
            t0, first = now, msg.seq
        t1, last = now, msg.seq
        read += 1
        if ok and n >= nxt[p]:
            per[p] += 1
            nxt[p] = n + 1
        else:
            bad += 1
        del msg
        if delay > 0:  # the slow analysis: delay, then on until the producers are more than a ring ahead (or gone)
            time.sleep(delay)
            while sub.stats()["lag"] <= ring_frames and sub.publishers > 0:
                time.sleep(0.01)
    result = {"consumer": "python", "read": read, "overwritten": overwritten, "bad": bad, "lost": sub.lost,
              "first": first, "last": last, "perProducer": per, "seconds": round(t1 - t0, 4)}
    sub.close()
    print("result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
