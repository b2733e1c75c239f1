"""Mailbox from Python."""
from __future__ import annotations

import asyncio
import threading

import pytest

import shmbus


def test_write_read_versions_and_wait_changed(unique_name) -> None:
    name = unique_name("mb")
    mb = shmbus.Mailbox.create(name, 1024)
    data, version = mb.read()
    assert (data, version) == (b"", 0)
    assert mb.write(b"v1") == 1
    other = shmbus.Mailbox.open(name)
    v = other.read()
    assert v.data == b"v1" and v.version == 1 and v.timestamp > 1.6e9
    assert other.version == 1
    with pytest.raises(TimeoutError):
        other.wait_changed(since=1, timeout=0.02)
    t = threading.Thread(target=lambda: mb.write("v2"))
    t.start()
    assert other.wait_changed(since=1, timeout=30) >= 2
    t.join()
    assert other.read() == (b"v2", 2)
    with pytest.raises(shmbus.ShmbusError) as e:
        mb.write(b"x" * 1025)
    assert e.value.code == "ERR_MESSAGE_TOO_LARGE"

    async def changed() -> int:
        w = asyncio.ensure_future(other.changed_async(since=2, timeout=30))
        await asyncio.sleep(0.01)
        mb.write(b"v3")
        return await w

    assert asyncio.run(changed()) == 3
    other.close()
    mb.close()
    with pytest.raises(shmbus.ShmbusError) as e2:
        mb.read()
    assert e2.value.code == "ERR_CLOSED"
