"""Helpers for the resilience tests: consumers built from spec data, hostile local upstreams, fake time.

``HostileServer`` is a real HTTP/1.1 server on 127.0.0.1 (asyncio streams) whose bodies are made
lazily as they are sent, so a 500 MB or endless answer costs the test process nothing.
"""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2

from naftiko_runtime.load import load_text
from naftiko_runtime.model import Consumer, build

MIB = 1024 * 1024


def consumer(spec: dict[str, Any] | None = None, *, operations: list[dict[str, Any]] | None = None,
             base: str = "https://api.example.com", path: str = "/items") -> Consumer:
    """One consumer (namespace ``api``) through the loader and the model builder, as a file would go.
    ``operations`` (on one resource at ``path``) default to ``get`` (GET) and ``post`` (POST)."""
    ops = operations if operations is not None else [{"name": "get", "method": "GET"},
                                                     {"name": "post", "method": "POST"}]
    entry = {"type": "http", "namespace": "api", "baseUri": base,
             "resources": [{"name": "items", "path": path, "operations": ops}], **(spec or {})}
    document = {"naftiko": "1.0.0-alpha2", "capability": {"consumes": [entry]}}
    return build(load_text(json.dumps(document), Path("/kit/capability.yaml"))).consumers["api"]


def rss_kib() -> int:
    """This process's resident set size (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


class Sleeps:
    """An injected sleep that records delays (and advances an optional clock) instead of waiting."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.delays: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.now += seconds


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Chunks(httpx2.AsyncByteStream):
    """A response body streamed in the given pieces (never read ahead by the client)."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def mock(handler: Callable[[httpx2.Request], httpx2.Response | Awaitable[httpx2.Response]]) -> httpx2.MockTransport:
    async def handle(request: httpx2.Request) -> httpx2.Response:
        answer = handler(request)
        return answer if isinstance(answer, httpx2.Response) else await answer

    return httpx2.MockTransport(handle)


# ---------------------------------------------------------------------------------------- bodies


def gzip_bomb(decoded: int = 1024 * MIB) -> bytes:
    """A valid gzip body of about 1 MiB that inflates to ``decoded`` zero bytes (a multiple of 1 MiB).

    Each 1 MiB of zeros compressed after a full flush gives the same bytes, so they are made once
    and repeated; the trailer's CRC-32 is computed over the zeros without holding them."""
    zeros = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()
    crc = 0
    for _ in range(decoded // MIB):
        crc = zlib.crc32(zeros, crc)
    return head + block * (decoded // MIB - 1) + tail[:-8] + struct.pack("<II", crc, decoded & 0xFFFFFFFF)


class HostileServer:
    """Answers ``GET /huge`` (500 MB, Content-Length said), ``/huge-chunked`` (500 MB, chunked),
    ``/endless`` (chunked, never ends), ``/bomb`` (a 1 MiB gzip body inflating to 1 GiB), ``/stall``
    (a few bytes, then nothing until the client goes) and ``/small`` (a JSON object)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.bomb = gzip_bomb()
        self.sent: dict[str, int] = {}
        self.handlers: set[asyncio.Task[Any]] = set()

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> HostileServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode().split("?")[0].rsplit("/", 1)[-1]
                self.sent[path] = 0
                await getattr(self, "_" + path.replace("-", "_"))(writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _write(self, writer: asyncio.StreamWriter, path: str, data: bytes) -> None:
        writer.write(data)
        self.sent[path] += len(data)
        await writer.drain()

    async def _huge(self, writer: asyncio.StreamWriter) -> None:
        total, chunk = 500 * 1000 * 1000, bytes(64 * 1024)
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {total}\r\n\r\n".encode())
        for _ in range(total // len(chunk)):
            await self._write(writer, "huge", chunk)

    async def _huge_chunked(self, writer: asyncio.StreamWriter) -> None:
        await self._chunked(writer, "huge-chunked", 500 * 1000 * 1000 // (64 * 1024))

    async def _endless(self, writer: asyncio.StreamWriter) -> None:
        await self._chunked(writer, "endless", None)

    async def _chunked(self, writer: asyncio.StreamWriter, path: str, chunks: int | None) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"%x\r\n" % (64 * 1024) + b"a" * (64 * 1024) + b"\r\n"
        sent = 0
        while chunks is None or sent < chunks:
            await self._write(writer, path, piece)
            sent += 1
        await self._write(writer, path, b"0\r\n\r\n")

    async def _bomb(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(self.bomb))
        for i in range(0, len(self.bomb), 16 * 1024):
            await self._write(writer, "bomb", self.bomb[i:i + 16 * 1024])

    async def _stall(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        await self._write(writer, "stall", b"4\r\nslow\r\n")
        await asyncio.Event().wait()  # never more: the client's deadline has to end it

    async def _small(self, writer: asyncio.StreamWriter) -> None:
        body = b'{"ok": true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        await self._write(writer, "small", body)
