"""The consumers' pool streams: they remember their socket, answer the pool's liveness question
with one poll, and a keep-alive connection the server closed is still noticed and replaced."""

from __future__ import annotations

import asyncio
import select
import socket

import httpcore2
import httpx2
import pytest

from naftiko_runtime.consume.network import _Backend, _Stream, readable, remember_sockets

pytestmark = pytest.mark.anyio


def test_every_pool_of_a_client_gets_the_remembering_backend() -> None:
    client = httpx2.AsyncClient(proxy="http://proxy.invalid:3128")
    remember_sockets(client)
    pools = [t._pool for t in [client._transport, *client._mounts.values()] if t is not None]  # type: ignore[attr-defined]
    assert len(pools) >= 2  # the direct pool and the proxy's
    assert all(isinstance(pool._network_backend, _Backend) for pool in pools)
    remember_sockets(client)  # twice is once: no backend wrapped in another
    assert all(not isinstance(pool._network_backend._inner, _Backend) for pool in pools)


def test_readable_tells_a_quiet_socket_from_one_with_data_or_closed() -> None:
    a, b = socket.socketpair()
    try:
        assert not readable(a)
        b.sendall(b"x")
        assert readable(a)
        a.recv(1)
        b.close()
        assert readable(a)  # the peer's close reads as b""
    finally:
        a.close()
    assert readable(a)  # a closed socket (fileno -1) counts as readable: the pool drops it
    assert readable(None)


async def _until_readable(sock: socket.socket) -> None:
    """Wait (at most 5 s) until the peer's close has reached ``sock`` (or the pool closed it)."""
    if sock.fileno() < 0:
        return
    ready, _, _ = await asyncio.get_running_loop().run_in_executor(None, select.select, [sock], [], [], 5)
    assert ready, "the peer's close never arrived"


async def test_streams_pass_everything_through_and_answer_liveness_from_the_socket() -> None:
    closed = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        await reader.read(5)
        writer.close()
        closed.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stream = await _Backend(httpcore2.AnyIOBackend()).connect_tcp("127.0.0.1", port)
    try:
        assert await stream.read(5) == b"hello"
        assert stream.get_extra_info("is_readable") is False
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
        await stream.write(b"bye!!")
        await closed.wait()
        await _until_readable(stream.get_extra_info("socket"))  # the FIN arrives after close() returns
        assert stream.get_extra_info("is_readable") is True
    finally:
        await stream.aclose()
        server.close()
        await server.wait_closed()


async def test_a_keep_alive_connection_the_server_closed_is_replaced_not_reused() -> None:
    """The server answers one request per connection, then closes it while the client keeps it
    pooled: the next request must notice (the liveness check) and open a new connection."""
    connections = 0
    gone = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        gone.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    async with httpx2.AsyncClient() as client:
        remember_sockets(client)
        try:
            first = await client.get(url)
            assert first.text == "ok"
            assert isinstance(first.extensions["network_stream"], _Stream)
            await gone.wait()
            await _until_readable(first.extensions["network_stream"].get_extra_info("socket"))
            assert (await client.get(url)).text == "ok"
        finally:
            server.close()
            await server.wait_closed()
    assert connections == 2
