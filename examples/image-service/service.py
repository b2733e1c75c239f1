"""The image service in Python (service.cpp is the same service in C++): an Rpc server whose requests are Parts
records { image: a Frame, params: { op: "gray" } | { op: "resize", width, height } } and whose answers are
{ status, message, server, image? } (status 0 = done, 1 = bad request). The pixels go through numpy
(imageops.py). Zero-copy Rpc: the request is read in place in its slot (copy=False: Frame.decode gives a numpy view
of the request's pixels there) and the answer is written into a loan of the client's response slot (req.loan).

Run by hand: .cache/pyvenv/bin/python examples/image-service/service.py [name]   (Ctrl-C or Ctrl-D stops it)
"""
import os
import signal
import sys
import threading

import shmbus
from imageops import gray, resize

name = sys.argv[1] if len(sys.argv) > 1 else "image-service"
who = f"python-{os.getpid()}"
# A request or an answer is one frame of up to 1 MiB minus the record's few hundred bytes (512x384 RGBA is 768 KiB);
# 4 requests in the ring at once: 4 MiB of /dev/shm.
MAX_MESSAGE = 1 << 20
SLOTS = 4


def answer(req: shmbus.RpcRequest, status: int, message: str, image: bytes = b"") -> memoryview:
    """The answer, written straight into the asking client's response slot (req.loan: zero-copy)."""
    record = {"status": status, "message": message, "server": who}
    if status == 0:
        record["image"] = image
    buf = req.loan(shmbus.Parts.size(record))
    shmbus.Parts.encode_into(buf, record)
    return buf


def handle(req: shmbus.RpcRequest) -> memoryview:
    # req.data is the request's slot (serve(copy=False)): the record and its frame are read in place, valid during
    # this call. A corrupt record raises: the client gets ERR_REMOTE with its message.
    parts = shmbus.Parts.decode(req.data)
    params = parts.get("params")
    frame = shmbus.Frame.decode(parts["image"])  # frame.array: a numpy view of the request's pixels
    op = params.get("op") if isinstance(params, dict) else None
    if op == "gray":
        if frame.format not in ("RGB", "BGR", "RGBA", "BGRA") or frame.dtype != "uint8":
            return answer(req, 1, f"gray needs a uint8 colour image, got {frame.format} {frame.dtype}")
        return answer(req, 0, "ok", shmbus.Frame.encode(gray(frame.array, frame.format), "GRAY"))
    if op == "resize":
        w, h = params.get("width"), params.get("height")
        if not (isinstance(w, int) and isinstance(h, int) and w >= 1 and h >= 1 and w * h * frame.channels <= MAX_MESSAGE - 4096):
            return answer(req, 1, f"resize needs a width and height >= 1 whose frame fits the answer, got {w!r} x {h!r}")
        return answer(req, 0, "ok", shmbus.Frame.encode(resize(frame.array, w, h), frame.format))
    return answer(req, 1, f"unknown op {op!r} (gray, resize)")


stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())


def watch_stdin() -> None:
    """The end of input (Ctrl-D, or the orchestrator gone) stops the service too: it never outlives its starter."""
    for _ in sys.stdin:
        pass
    stop.set()


threading.Thread(target=watch_stdin, daemon=True).start()
server = shmbus.Rpc.serve(name, handle, workers=2, max_message_size=MAX_MESSAGE, slots=SLOTS, copy=False)
print(f'service ({who}): serving "{name}" with numpy, 2 workers', flush=True)
while not stop.wait(1.0):
    pass
server.close()
print(f"service ({who}): stopped after {server.stats()['served']} requests", flush=True)
