"""An image-service client in Python (client.ts and client.cpp are the same client in Node and C++). It sends test
images (BGR) with parameters as Parts records over Rpc, until "stop" (or the end of input) on stdin, cycling through
gray, resize to half, resize to an odd size, and one unknown op (which the service refuses with status 1). Every
answer is checked pixel by pixel against the same operation computed here (imageops.py), in place in its response
slot (request(copy=False): a zero-copy view, released after the check). When the service is gone
(killed, restarting) a request fails at once with ERR_NO_SERVER (or within the liveness interval when the service
dies holding it); the client then retries the same request until the service is back.

Run by hand (with a service running): .cache/pyvenv/bin/python examples/image-service/client.py [name] [id]
"""
import os
import sys
import threading
import time
from collections import Counter

import numpy as np

import shmbus
from imageops import gray, pattern, resize

name = sys.argv[1] if len(sys.argv) > 1 else "image-service"
who = f"{sys.argv[2] if len(sys.argv) > 2 else f'python-{os.getpid()}'} (python)"
WIDTH, HEIGHT, FORMAT = 512, 384, "BGR"
OPS = [{"op": "gray"}, {"op": "resize", "width": WIDTH // 2, "height": HEIGHT // 2},
       {"op": "resize", "width": 301, "height": 97}, {"op": "sharpen"}]
RETRY_FOR = 30.0  # seconds a request may wait for the service to come back before the client gives up

stop = threading.Event()


def watch_stdin() -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


def expected(img: np.ndarray, params: dict):
    if params["op"] == "gray":
        return gray(img, FORMAT), "GRAY"
    if params["op"] == "resize":
        return resize(img, params["width"], params["height"]), FORMAT
    return None, None


threading.Thread(target=watch_stdin, daemon=True).start()
client = shmbus.Rpc.connect(name, max_message_size=1 << 20, slots=2)
print(f"{who}: sending {WIDTH}x{HEIGHT} {FORMAT} images to \"{name}\"", flush=True)
servers: Counter = Counter()
checked = refused = retries = bad_pixels = i = 0
while not stop.is_set():
    params = OPS[i % len(OPS)]
    img = pattern(WIDTH, HEIGHT, FORMAT, i)
    request = shmbus.Parts.encode({"image": shmbus.Frame.encode(img, FORMAT), "params": params})
    give_up = time.monotonic() + RETRY_FOR
    outage = False
    while True:
        try:
            res = client.request(request, timeout=10.0, copy=False)  # the answer read in its response slot
            break
        except shmbus.ShmbusError as e:
            if e.code != "ERR_NO_SERVER" or time.monotonic() > give_up:
                raise
            if not outage:
                print(f"{who}: #{i} ERR_NO_SERVER (the service is down), retrying", flush=True)
            outage = True
            retries += 1
            time.sleep(0.02)  # a retry policy, not synchronisation: the service may take a while to come back
    parts = shmbus.Parts.decode(res.data)  # views into the response slot, as is the frame below
    status, server = int(parts["status"]), parts["server"]
    servers[server] += 1
    if outage:
        print(f"{who}: #{i} the service is back ({server})", flush=True)
    want, want_format = expected(img, params)
    if want is None:
        if status != 1:
            raise SystemExit(f"{who}: #{i} {params} should have been refused, got status {status}")
        refused += 1
        print(f"{who}: #{i} {params['op']} refused by {server}: {parts['message']}", flush=True)
        del parts
        res.release()
    else:
        if status != 0:
            raise SystemExit(f"{who}: #{i} {params} failed: status {status}: {parts['message']}")
        got = shmbus.Frame.decode(parts["image"])
        if got.format != want_format or got.array.shape[:2] != want.shape[:2]:
            raise SystemExit(f"{who}: #{i} got a {got.width}x{got.height} {got.format} frame, wanted {want.shape} {want_format}")
        wrong = int(np.count_nonzero(got.array != want))
        del got, parts  # no view into the slot is kept past its release
        res.release()
        bad_pixels += wrong
        checked += 1
        print(f"{who}: #{i} {params['op']} -> {want.shape[1]}x{want.shape[0]} {want_format} by {server}: "
              f"{'pixels match' if wrong == 0 else f'{wrong} samples differ'}", flush=True)
    i += 1
client.close()
by = ", ".join(f"{s}: {n}" for s, n in sorted(servers.items()))
print(f"{who}: done: {i} answered ({by}), {checked} images checked pixel by pixel, {bad_pixels} samples differ, "
      f"{refused} refused with status 1, {retries} retries after ERR_NO_SERVER", flush=True)
