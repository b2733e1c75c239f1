"""Rpc from Python, and across languages: a server in one language, clients in the others."""
from __future__ import annotations

import threading

import pytest

import shmbus


def handler(req: shmbus.RpcRequest):
    if not req.is_text:
        return req.data
    text = req.text()
    if text.startswith("throw:"):
        raise RuntimeError(text[6:])
    return "ok:" + text


def test_serve_request_text_bytes_errors_and_no_server(unique_name) -> None:
    name = unique_name("rpc")
    client = shmbus.Rpc.connect(name)
    with pytest.raises(shmbus.ShmbusError) as e0:
        client.request(b"x", timeout=1)
    assert e0.value.code == "ERR_NO_SERVER"
    with shmbus.Rpc.serve(name, handler, workers=2) as server:
        r = client.request("hello", timeout=5)
        assert r == b"ok:hello" and r.is_text and r.text() == "ok:hello"
        b = client.request(bytes(range(10)), timeout=5)
        assert b == bytes(range(10)) and not b.is_text
        with pytest.raises(shmbus.ShmbusError) as e:
            client.request("throw:bad input", timeout=5)
        assert e.value.code == "ERR_REMOTE" and "bad input" in str(e.value)
        with pytest.raises(shmbus.ShmbusError) as e2:
            client.request(b"x" * 70000, timeout=5)
        assert e2.value.code == "ERR_MESSAGE_TOO_LARGE"
        assert server.stats()["served"] >= 3
    with pytest.raises(shmbus.ShmbusError) as e3:
        client.request(b"x", timeout=1)
    assert e3.value.code == "ERR_NO_SERVER"
    client.close()


def test_many_threads_each_with_a_client(unique_name) -> None:
    name = unique_name("rpct")
    server = shmbus.Rpc.serve(name, handler, workers=2)
    errors = []

    def lane(k: int) -> None:
        c = shmbus.Rpc.connect(name)
        for i in range(200):
            if c.request(f"{k}:{i}", timeout=30).text() != f"ok:{k}:{i}":
                errors.append((k, i))
        c.close()

    ts = [threading.Thread(target=lane, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    server.close()


def test_python_server_node_and_c_clients(unique_name, peers) -> None:
    name = unique_name("rpcp")
    server = shmbus.Rpc.serve(name, handler, workers=2)
    node = peers.node("rpc-client", name, "n", 500, 4)
    assert node.line("done") == "done 500"
    node.wait_ok()
    c = peers.c("rpc-peer", "client", name, "c", 500, 2)
    assert c.line("done") == "done 500"
    c.wait_ok()
    server.close()


def test_node_server_python_client(unique_name, peers) -> None:
    name = unique_name("rpcn")
    srv = peers.node("rpc-server", name, 2)
    srv.line("serving")
    client = shmbus.Rpc.connect(name)
    for i in range(500):
        assert client.request(f"py:{i}", timeout=30) == f"ok:py:{i}".encode()
    with pytest.raises(shmbus.ShmbusError) as e:
        client.request("throw:from node", timeout=30)
    assert e.value.code == "ERR_REMOTE" and "from node" in str(e.value)
    client.close()
    srv.send("stop")
    srv.line("stopped")
    srv.wait_ok()


def test_c_server_python_client(unique_name, peers) -> None:
    name = unique_name("rpcc")
    srv = peers.c("rpc-peer", "serve", name, 2)
    srv.line("serving")
    client = shmbus.Rpc.connect(name)
    for i in range(500):
        assert client.request(f"py:{i}", timeout=30) == f"ok:py:{i}".encode()
    assert client.request(b"\x00\x01", timeout=30) == b"\x00\x01"
    client.close()
    srv.send("stop")
    srv.line("stopped")
    srv.wait_ok()


def test_python_server_process_python_client(unique_name, peers) -> None:
    name = unique_name("rpcpp")
    srv = peers.py("rpc-server", name, 2)
    srv.line("serving")
    cl = peers.py("rpc-client", name, "p", 500)
    assert cl.line("done") == "done 500"
    cl.wait_ok()
    srv.send("stop")
    srv.line("stopped")
    srv.wait_ok()
