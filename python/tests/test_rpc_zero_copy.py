"""Zero-copy Rpc from Python (/work/plan/zc-api.md): a copy=False server reading requests in place and answering
into response loans, a client writing requests in loans and reading responses as views; against C processes
(c/tests/peers/rpc-peer.c zc-serve / zc-client) and in one process."""
from __future__ import annotations

import pytest

import shmbus


def _invert(data: memoryview, out: memoryview) -> None:
    out[:] = bytes(255 - b for b in data)


def test_python_zero_copy_server_for_a_c_loaning_client(unique_name, peers) -> None:
    name = unique_name("zcrs")

    def handler(req: shmbus.RpcRequest) -> memoryview:
        assert isinstance(req.data, memoryview) and req.data.readonly  # the request slot, read in place
        buf = req.loan(len(req.data))
        _invert(req.data, buf)
        return buf

    with shmbus.Rpc.serve(name, handler, workers=2, max_message_size=4096, copy=False) as server:
        client = peers.c("rpc-peer", "zc-client", name, 200, 256)
        assert client.line("done").split() == ["done", "200"]
        client.wait_ok()
        assert server.stats()["served"] == 200
    shmbus.Rpc.unlink(name)


def test_python_loaning_client_of_a_c_zero_copy_server(unique_name, peers) -> None:
    name = unique_name("zcrc")
    server = peers.c("rpc-peer", "zc-serve", name, 1, 4096)
    server.line("serving")
    c = shmbus.Rpc.connect(name)
    for k in range(100):
        loan = c.loan(300)
        loan.buffer[:] = bytes((i * 7 + k) & 255 for i in range(300))
        with loan.commit(200, copy=False, timeout=30) as v:  # the first 200 bytes sent; the answer read in place
            assert v.data.readonly and v.tobytes() == bytes(255 - ((i * 7 + k) & 255) for i in range(200))
    v = c.request(b"\x00\x01", copy=False, timeout=30)
    assert v.tobytes() == b"\xff\xfe"
    r = c.request(b"\x10", timeout=30)  # a copied request releases the previous view
    assert bytes(r) == b"\xef"
    with pytest.raises(shmbus.ShmbusError) as e:
        v.data
    assert e.value.code == "ERR_CLOSED"
    loan = c.loan(4)
    loan.abort()
    with pytest.raises(shmbus.ShmbusError) as e:
        loan.commit()
    assert e.value.code == "ERR_CLOSED"
    c.loan(4)
    c.close()  # aborts the open loan
    server.send("stop")
    assert server.line("stopped").split()[1] == "102"
    server.wait_ok()
    shmbus.Rpc.unlink(name)
