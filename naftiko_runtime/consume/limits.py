"""Bounded reading of upstream bodies: never more than the limit in memory, whatever the upstream sends.

The body is read raw and decompressed here, in steps of at most ``STEP`` bytes of output, so a
compression bomb (1 MiB of gzip that inflates to 1 GiB) is stopped once the decoded size passes the
limit, and one decoding step never makes more than ``STEP`` bytes. (The client's own decoders
inflate a whole network chunk at once: 64 KiB of gzip can become 64 MiB.) Only gzip and deflate are
asked for (``ACCEPT_ENCODING``); anything else an upstream sends unasked is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import httpx2

from naftiko_runtime.errors import DecodeError, ResponseTooLarge

__all__ = ["ACCEPT_ENCODING", "STEP", "limited_raw", "read_body", "too_large"]

ACCEPT_ENCODING = "gzip, deflate"
STEP = 64 * 1024


def too_large(ref: str, limit: int) -> ResponseTooLarge:
    return ResponseTooLarge(f"{ref}: the response is larger than the limit of {_size(limit)}", operation=ref)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def declared_length(response: httpx2.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


# ------------------------------------------------------------------------------------- decoders


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...
    def flush(self) -> Iterator[bytes]: ...


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Inflate:
    """gzip (members one after another, as the format allows) or deflate (zlib-wrapped, or raw as
    some servers send it), each step's output capped."""

    def __init__(self, gzip: bool) -> None:
        self.gzip = gzip
        self.wbits = zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS
        self.inflater = zlib.decompressobj(self.wbits)
        self.started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self.inflater.decompress(data, STEP)
            except zlib.error:
                if self.gzip or self.started:
                    raise
                self.wbits = -zlib.MAX_WBITS  # deflate without its zlib header
                self.inflater = zlib.decompressobj(self.wbits)
                out = self.inflater.decompress(data, STEP)
            self.started = True
            if out:
                yield out
            data = self.inflater.unconsumed_tail
            if not data and self.inflater.eof and self.inflater.unused_data:
                data = self.inflater.unused_data  # the next gzip member
                self.inflater = zlib.decompressobj(self.wbits)

    def flush(self) -> Iterator[bytes]:
        out = self.inflater.flush()
        if out:
            yield out


class _Chain:
    """Content-Encoding lists the codings in the order they were applied: undo them in reverse."""

    def __init__(self, decoders: list[_Decoder]) -> None:
        self.decoders = decoders

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._from(0, iter((data,)))

    def flush(self) -> Iterator[bytes]:
        for i, decoder in enumerate(self.decoders):
            yield from self._from(i + 1, decoder.flush())

    def _from(self, index: int, pieces: Iterator[bytes]) -> Iterator[bytes]:
        """``pieces`` through decoders ``index`` onwards."""
        if index == len(self.decoders):
            yield from pieces
            return
        for piece in pieces:
            yield from self._from(index + 1, self.decoders[index].feed(piece))


def decoder_for(content_encoding: str, ref: str) -> _Decoder:
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    decoders: list[_Decoder] = []
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            decoders.append(_Inflate(gzip=True))
        elif coding == "deflate":
            decoders.append(_Inflate(gzip=False))
        elif coding != "identity":
            raise DecodeError(f"{ref}: the response uses the unsupported Content-Encoding {coding!r}", operation=ref)
    return _Chain(decoders) if decoders else _Identity()


# --------------------------------------------------------------------------------------- readers


async def read_body(response: httpx2.Response, limit: int, ref: str) -> bytes:
    """The decoded body of a streamed ``response``, or ``ResponseTooLarge`` as soon as it passes
    ``limit`` bytes (the response is closed either way)."""
    try:
        if response.is_stream_consumed:  # an in-memory transport already read (and decoded) it
            if len(response.content) > limit:
                raise too_large(ref, limit)
            return response.content
        encoding = response.headers.get("content-encoding", "")
        declared = declared_length(response)
        if declared is not None and declared > limit and not encoding:
            raise too_large(ref, limit)  # said so up front: read nothing
        decoder = decoder_for(encoding, ref)
        body = bytearray()
        try:
            async for raw in response.aiter_raw():
                for piece in decoder.feed(raw):
                    if len(body) + len(piece) > limit:
                        raise too_large(ref, limit)
                    body += piece
            for piece in decoder.flush():
                if len(body) + len(piece) > limit:
                    raise too_large(ref, limit)
                body += piece
        except zlib.error:
            raise DecodeError(f"{ref}: the response body could not be decompressed", operation=ref) from None
        return bytes(body)
    finally:
        await response.aclose()


async def limited_raw(response: httpx2.Response, limit: int, ref: str) -> AsyncIterator[bytes]:
    """The body as received (still compressed if it was), ended with ``ResponseTooLarge`` once more
    than ``limit`` bytes have passed. Forwarded bodies are not decoded, so what passes is counted."""
    if response.is_stream_consumed:
        if len(response.content) > limit:
            raise too_large(ref, limit)
        yield response.content
        return
    passed = 0
    async for chunk in response.aiter_raw():
        passed += len(chunk)
        if passed > limit:
            await response.aclose()
            raise too_large(ref, limit)
        yield chunk
