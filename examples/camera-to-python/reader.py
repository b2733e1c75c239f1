"""reader.py: the Python side of seed 000, on shmbus.

    python reader.py <topic>

Subscribes to the C++ writer's topic and gets every frame as a numpy array of shape (720, 1280, 3) that shares
memory with the ring (shmbus.Frame.decode(msg.data).array: no copy, no ctypes, no size guessed). Each frame is
checked pixel by pixel against what the writer draws, summed, and, when OpenCV is installed (pip install
opencv-python-headless), resized to 640x360 with cv2 and averaged. The ring never waits for a reader: a frame
overwritten while it was being read in place is counted ("overwritten", msg.valid() says so) and its result
dropped; frames the reader fell too far behind to see are counted by sub.lost. The last line is
"result {json}" for the orchestrator (main.ts).
"""
import json
import sys

import numpy as np

import shmbus

try:
    import cv2  # optional: the reader works without it and says so
except ImportError:
    cv2 = None


def main() -> int:
    name = sys.argv[1]
    sub = shmbus.Topic.subscribe(name, start="oldest", wait=10.0)
    # What the writer draws, as broadcastable planes: frame n is these plus (4n, 2n, n), modulo 256.
    x = np.arange(1280, dtype=np.uint8)[None, :]
    y = np.arange(720, dtype=np.uint8)[:, None]
    xy = (np.arange(1280)[None, :] + np.arange(720)[:, None]).astype(np.uint8)
    frames, overwritten, bad, checksum = [], 0, 0, 0
    first_seq = last_seq = None
    center = resized_mean = None
    for msg in sub:  # until the writer closes the topic and everything is read
        f = shmbus.Frame.decode(msg.data)  # checks the header against the message: never a view out of range
        img = f.array  # numpy (720, 1280, 3) uint8 over the ring
        n = msg.seq - 1  # one writer: its n-th frame has seq n + 1
        ok = (f.width, f.height, f.format, img.shape) == (1280, 720, "BGR", (720, 1280, 3))
        ok = ok and bool((img[:, :, 0] == x + np.uint8((4 * n) & 255)).all())  # broadcast: no frame-sized copy
        ok = ok and bool((img[:, :, 1] == y + np.uint8((2 * n) & 255)).all())
        ok = ok and bool((img[:, :, 2] == xy + np.uint8(n & 255)).all())
        total = int(img.sum(dtype=np.uint64))
        px = img[360, 640].tolist() if img.shape == (720, 1280, 3) else None
        mean = cv2.resize(img, (640, 360), interpolation=cv2.INTER_AREA).mean(axis=(0, 1)) if cv2 else None
        del img, f  # no view of the ring kept past this frame
        if not msg.valid():  # lapped by the writer while we read in place: what we computed is not this frame
            overwritten += 1
            continue
        if first_seq is None:
            first_seq = msg.seq
        last_seq = msg.seq
        frames.append(n)
        bad += 0 if ok else 1
        checksum += total
        center = px
        if mean is not None:
            resized_mean = [round(float(v), 2) for v in mean]
    result = {
        "reader": "python",
        "frames": frames,
        "lost": sub.lost,
        "overwritten": overwritten,
        "bad": bad,
        "checksum": checksum,
        "first": first_seq,
        "last": last_seq,
        "center": center,
        "cv2": cv2.__version__ if cv2 else None,
        "resizedMean": resized_mean,
    }
    sub.close()
    print("result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
