"""legacy-reader.py: reads the image of a writer that knows nothing of shmbus (legacy-writer.c, seed 000's layout:
three native int32 width, height, channels, then the pixels) from its plain POSIX shm object.

    python legacy-reader.py <posix-name>

shmbus.Segment.open_raw maps the object read-only (copy-on-write: a bug here cannot scribble on the writer's
image) and says how big it really is, so the three ints are checked before any pixel is looked at: a header that
claims more pixels than the object holds is refused with a message, never read past the end (the seed's readers
trusted it). Prints "result {json}" or "refused {json}".
"""
import json
import struct
import sys

import numpy as np

import shmbus

HEADER = struct.Struct("=iii")  # native int32, as the C writer stores them


def main() -> int:
    seg = shmbus.Segment.open_raw(sys.argv[1], read_only=True)
    buf = seg.buffer
    try:
        if len(buf) < HEADER.size:
            return refuse(f"the object has {len(buf)} bytes, less than the {HEADER.size}-byte header")
        width, height, channels = HEADER.unpack_from(buf, 0)
        if not (0 < width <= 65535 and 0 < height <= 65535 and channels in (1, 3, 4)):
            return refuse(f"impossible header {width}x{height}x{channels}")
        need = HEADER.size + width * height * channels
        if need > len(buf):
            return refuse(f"header says {width}x{height}x{channels} = {need} bytes, the object holds {len(buf)}")
        img = np.frombuffer(buf, np.uint8, count=width * height * channels, offset=HEADER.size)
        img = img.reshape(height, width, channels)  # a view of the shared memory: no copy
        x = np.arange(width)[None, :]
        y = np.arange(height)[:, None]
        ok = channels == 3 and bool(
            np.array_equal(img[:, :, 0], (x & 255) + 0 * y)
            and np.array_equal(img[:, :, 1], (y & 255) + 0 * x)
            and np.array_equal(img[:, :, 2], (x + y) & 255)
        )
        result = {
            "reader": "python",
            "width": width,
            "height": height,
            "channels": channels,
            "ok": ok,
            "checksum": int(img.sum(dtype=np.uint64)),
            "center": img[height // 2, width // 2].tolist(),
        }
        del img
        print("result " + json.dumps(result), flush=True)
        return 0
    finally:
        del buf
        seg.close()


def refuse(why: str) -> int:
    print("refused " + json.dumps({"reader": "python", "why": why}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
