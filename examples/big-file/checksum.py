"""checksum.py: the CRC-32 of a file of any size through windows of shmbus.Segment.map_file, with a progress bar
and the peak RSS (the Python twin of checksum.c).

    python checksum.py <file> <window-bytes> [bar|lines]

One window is mapped at a time (any offset), checksummed by zlib.crc32 straight from the mapping (a memoryview:
no copy, no read() into a bytes object) and released before the next: the memory this process touches is bounded
by the window, not by the file. bar: a progress bar on stderr (the default when stderr is a terminal); lines:
"progress <done> <total>" on stdout after each window. Prints "result {json}" last.
"""
import json
import os
import sys
import time
import zlib

import shmbus


def peak_rss_kib() -> int:
    """This process's peak RSS (VmHWM of /proc/self/status) in KiB. Not resource.getrusage's ru_maxrss: that one
    survives exec, so a program started by a big parent would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def main() -> int:
    path, window = sys.argv[1], int(sys.argv[2])
    lines = sys.argv[3] == "lines" if len(sys.argv) > 3 else not sys.stderr.isatty()
    total = os.stat(path).st_size
    start_rss = peak_rss_kib()
    t0 = time.monotonic()
    crc, windows = 0, 0
    for off in range(0, total, window):
        length = min(window, total - off)
        seg = shmbus.Segment.map_file(path, offset=off, length=length)
        view = seg.buffer
        crc = zlib.crc32(view, crc)
        view.release()  # no view left: close() unmaps at once, its pages leave this process's RSS
        seg.close()
        windows += 1
        done = off + length
        if lines:
            print(f"progress {done} {total}", flush=True)
        else:
            fill = 30 * done // total
            sys.stderr.write(f"\r[{'#' * fill}{' ' * (30 - fill)}] {100 * done // total:3d}% {done >> 20}/{total >> 20} MiB")
    if not lines:
        sys.stderr.write("\n")
    peak = peak_rss_kib()
    print("result " + json.dumps({"crc": crc, "bytes": total, "windows": windows, "seconds": round(time.monotonic() - t0, 3),
                                  "startRssKiB": start_rss, "peakRssKiB": peak}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
