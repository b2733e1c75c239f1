"""A file-stream client in Python (client.ts is the same client in Node; server.cpp is the server). The handshake:
1. create my reply Queue; 2. wait for the server's request Queue to appear (Queue.open with a timeout: this client
may start before the server); 3. send one request record { reply, client }; 4. receive the listing, one Parts record
per entry, until the end of the stream (the server's end()); 5. check it: the count and checksum of what came must
equal the server's trailer and this machine's own listing of the directory (read here with os.lstat).
Exit code 1 when anything differs. Run by hand (server running or not yet):
  .cache/pyvenv/bin/python examples/file-stream/client.py [name] [directory] [id]
"""
import os
import stat
import sys
from collections import Counter

import shmbus

name = sys.argv[1] if len(sys.argv) > 1 else "file-stream"
root = sys.argv[2] if len(sys.argv) > 2 else "."
ident = sys.argv[3] if len(sys.argv) > 3 else f"python-{os.getpid()}"
who = f"{ident} (python)"
MASK = (1 << 64) - 1


def record_hash(path: str, size: int, mtime_ns: int, mode: int) -> int:
    """FNV-1a-64 of path\\0size\\0mtime_ns\\0mode (what server.cpp sums): the checksum is the sum mod 2^64."""
    h = 0xCBF29CE484222325
    for c in f"{path}\0{size}\0{mtime_ns}\0{mode}".encode():
        h = ((h ^ c) * 0x100000001B3) & MASK
    return h


def local_listing(top: str):
    """This machine's own listing of the tree (the entries the server walks: lstat, symlinks not followed)."""
    count = total = 0
    stack = [top]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                st = os.lstat(entry.path)
                count += 1
                total = (total + record_hash(os.path.relpath(entry.path, root), st.st_size, st.st_mtime_ns, st.st_mode)) & MASK
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
    return count, total


reply_name = f"{name}.{ident}-{os.getpid()}"
reply = shmbus.Queue.create(reply_name, slots=64, max_message_size=8192)  # backpressure: 64 records in flight
try:
    print(f'{who}: waiting for the server\'s queue "{name}"', flush=True)
    with shmbus.Queue.open(name, timeout=60.0) as requests:  # waits for the server to create it
        requests.send(shmbus.Parts.encode({"reply": reply_name, "client": who}), timeout=10.0)
    print(f'{who}: asked for the listing on "{reply_name}"', flush=True)

    types: Counter = Counter()
    count = total = size_of_files = 0
    trailer = None
    # Until the end of the stream; 30 s without a record means the server is gone (ShmbusTimeoutError), not a hang.
    # receive_view: each record is decoded in place in its slot (the strings and numbers come out as Python values),
    # then the slot is released.
    while (m := reply.receive_view(timeout=30.0)) is not None:
        r = shmbus.Parts.decode(m.data)
        m.release()
        if "count" in r:
            trailer = (int(r["count"]), r["checksum"])
            continue
        count += 1
        total = (total + record_hash(r["path"], r["size"], r["mtime_ns"], r["mode"])) & MASK
        types[r["type"]] += 1
        if r["type"] == "file":
            size_of_files += r["size"]
    local_count, local_total = local_listing(root)
    kinds = ", ".join(f"{n} {t}" for t, n in sorted(types.items()))
    print(f"{who}: got {count} records ({kinds}; {size_of_files} bytes of files), checksum {total:016x}, then the end of the stream", flush=True)
    print(f"{who}: the server's trailer says {trailer[0] if trailer else None} records, checksum {trailer[1] if trailer else None}", flush=True)
    print(f"{who}: this machine's own listing: {local_count} records, checksum {local_total:016x}", flush=True)
    agree = trailer == (count, f"{total:016x}") and (local_count, local_total) == (count, total)
    print(f"{who}: {'all three agree: nothing lost, nothing changed' if agree else 'MISMATCH'}", flush=True)
    sys.exit(0 if agree else 1)
finally:
    reply.close()
    shmbus.Queue.unlink(reply_name)
