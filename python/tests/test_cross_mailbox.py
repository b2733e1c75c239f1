"""Mailbox across languages: never torn, whoever writes."""
from __future__ import annotations

import re
import struct
import zlib

import shmbus


def test_node_writer_python_reader_never_torn(unique_name, peers) -> None:
    name = unique_name("mbn")
    mb = shmbus.Mailbox.create(name, 1 << 20)
    writer = peers.node("mailbox-peer", "writer", name, 1500)
    reads = torn = 0
    versions = set()
    while True:
        data, version = mb.read()
        reads += 1
        versions.add(version)
        if data == b"STOP":
            break
        if len(data) >= 8 and zlib.crc32(memoryview(data)[4:]) != struct.unpack_from("<I", data)[0]:
            torn += 1
    writes = int(re.search(r"writes=(\d+)", writer.line("done")).group(1))
    writer.wait_ok()
    assert torn == 0
    assert writes > 0 and len(versions) > 1
    mb.close()


def test_python_writer_node_reader_never_torn(unique_name, peers) -> None:
    name = unique_name("mbp")
    mb = shmbus.Mailbox.create(name, 1 << 20)
    reader = peers.node("mailbox-peer", "reader", name)
    reader.line("ready")
    writer = peers.py("mailbox-writer", name, 1.5)
    writer.line("done")
    writer.wait_ok()
    line = reader.line("done")
    reader.wait_ok()
    assert int(re.search(r"versions=(\d+)", line).group(1)) >= 1
    mb.close()


def test_a_node_watcher_wakes_on_a_python_write(unique_name, peers) -> None:
    name = unique_name("mbw")
    mb = shmbus.Mailbox.create(name, 64)
    w = peers.node("mailbox-peer", "watcher", name, 0)
    w.line("waiting")
    mb.write(b"hi")
    assert w.line("changed") == "changed 1 hi"
    w.wait_ok()
    mb.close()


def test_c_writer_python_reader_never_torn(unique_name, peers) -> None:
    name = unique_name("mbc")
    mb = shmbus.Mailbox.create(name, 1 << 20)
    writer = peers.c("mailbox-peer", "writer", name, 3000)
    torn = 0
    versions = set()
    while True:
        data, version = mb.read()
        versions.add(version)
        if data == b"STOP":
            break
        if len(data) >= 8 and zlib.crc32(memoryview(data)[4:]) != struct.unpack_from("<I", data)[0]:
            torn += 1
    writer.line("done")
    writer.wait_ok()
    assert torn == 0 and len(versions) > 1
    mb.close()


def test_python_writer_c_reader_never_torn(unique_name, peers) -> None:
    name = unique_name("mbpc")
    mb = shmbus.Mailbox.create(name, 1 << 20)
    reader = peers.c("mailbox-peer", "reader", name)
    reader.line("ready")
    writer = peers.py("mailbox-writer", name, 1.0)
    writer.line("done")
    writer.wait_ok()
    reader.line("done")
    reader.wait_ok()
    mb.close()
