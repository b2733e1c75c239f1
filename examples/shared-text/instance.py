"""One instance of the shared text, in Python (instance.ts and instance.cpp are the same program in Node and C++).

It opens the text's Mailbox (or creates it when it is the first), shows the current text, then:
- every line typed on stdin becomes the new text (written for everyone);
- whenever another instance, in any language, writes, it shows the new text at once: wait_changed() sleeps on a
  futex until the version moves (no polling).
End of input (Ctrl-D) ends it. Run by hand: .cache/pyvenv/bin/python examples/shared-text/instance.py [name] [id]
"""
import json
import os
import sys
import threading

import shmbus

name = sys.argv[1] if len(sys.argv) > 1 else "shared-text"
ident = f"{sys.argv[2] if len(sys.argv) > 2 else f'python-{os.getpid()}'} (python)"
MAX_TEXT = 4096


def open_or_create():
    """The first instance creates the mailbox; the others open it (a racing pair: the loser opens)."""
    try:
        return shmbus.Mailbox.create(name, MAX_TEXT), True
    except FileExistsError:
        return shmbus.Mailbox.open(name), False


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


mb, created = open_or_create()
data, version = mb.read()
print(f'{ident} {"created" if created else "opened"} "{name}": version {version}: {quote(data.decode())}', flush=True)

lock = threading.Lock()  # one line printed at a time; a write and its version recorded together
written = -1  # the version this instance wrote last: its own change is not news to it
stop = threading.Event()


def watch(seen: int) -> None:
    while not stop.is_set():
        try:
            mb.wait_changed(seen, timeout=0.2)  # sleeps on the futex; the timeout only lets us see `stop`
        except shmbus.ShmbusTimeoutError:
            continue
        with lock:
            data, seen = mb.read()  # the newest text (edits faster than we look: we show the latest one)
            if seen != written:
                print(f"{ident} sees version {seen}: {quote(data.decode())}", flush=True)


watcher = threading.Thread(target=watch, args=(version,))
watcher.start()
for line in sys.stdin:
    text = line.rstrip("\n")
    with lock:
        try:
            written = mb.write(text)
            print(f"{ident} wrote version {written}: {quote(text)}", flush=True)
        except shmbus.ShmbusError as e:
            if e.code != "ERR_MESSAGE_TOO_LARGE":
                raise
            print(f"{ident}: not written, the text is longer than {MAX_TEXT} bytes", flush=True)
stop.set()
watcher.join()
print(f"{ident}: bye", flush=True)
mb.close()
