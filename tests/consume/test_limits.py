"""Response limits: a decoded size limit enforced while the body streams in, on calls and on forward,
against upstreams that answer too much (500 MB, endless, a gzip bomb) or too slowly."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from naftiko_runtime.consume import HttpConsumer
from naftiko_runtime.errors import DecodeError, ResponseTooLarge, UpstreamTimeout

from .hostile import MIB, Chunks, HostileServer, consumer, mock, rss_kib

pytestmark = pytest.mark.anyio


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


# ------------------------------------------------------------------------- hostile real upstreams


@pytest.mark.parametrize("path", ["huge", "huge-chunked", "endless", "bomb"])
async def test_an_oversized_answer_stops_at_the_limit_quickly_and_in_bounded_memory(
    hostile: HostileServer, path: str
) -> None:
    before = rss_kib()
    started = time.perf_counter()
    async with HttpConsumer(consumer(base=hostile.base, path=f"/{path}")) as api:
        with pytest.raises(ResponseTooLarge) as caught:
            await api.call(api.consumer.operations["get"], {})
    seconds = time.perf_counter() - started
    after = rss_kib()
    print(f"\n{path}: {seconds:.2f} s, VmRSS {before // 1024} -> {after // 1024} MiB, "
          f"server sent {hostile.sent[path] / MIB:.1f} MiB")
    assert caught.value.message == "api.get: the response is larger than the limit of 10 MiB"
    assert caught.value.operation == "api.get"
    assert after < 2 * before
    assert seconds < 10
    # reading stopped near the limit: what the server got out is the limit plus socket buffers
    assert hostile.sent[path] < 40 * MIB


async def test_a_body_that_stops_coming_ends_at_the_total_deadline(hostile: HostileServer) -> None:
    api_spec = {"resilience": {"timeout": {"total": 0.5}}}
    async with HttpConsumer(consumer(api_spec, base=hostile.base, path="/stall")) as api:
        with pytest.raises(UpstreamTimeout) as caught:
            await api.call(api.consumer.operations["get"], {})
    assert caught.value.message == "api.get did not answer within the total time limit of 0.5 s"


async def test_an_answer_within_the_limit_is_read_whole(hostile: HostileServer) -> None:
    async with HttpConsumer(consumer(base=hostile.base, path="/small")) as api:
        assert await api.call(api.consumer.operations["get"], {}) == {"ok": True}


# ----------------------------------------------------------------------------------- forward


async def test_forward_cuts_an_endless_body_past_the_limit(hostile: HostileServer) -> None:
    api = HttpConsumer(consumer({"resilience": {"maxResponseBytes": 2 * MIB}}, base=hostile.base))
    async with api:
        status, _, body, aclose = await api.forward("GET", "endless", query="", headers={}, body=None)
        assert status == 200
        passed = 0
        with pytest.raises(ResponseTooLarge) as caught:
            async for chunk in body:
                passed += len(chunk)
        await aclose()
    assert passed <= 2 * MIB
    assert caught.value.message == "api: the response is larger than the limit of 2 MiB"
    assert api.guards.in_flight == 0  # its bulkhead place was given back


async def test_forward_refuses_an_answer_said_to_be_too_large_before_streaming(hostile: HostileServer) -> None:
    async with HttpConsumer(consumer(base=hostile.base)) as api:
        with pytest.raises(ResponseTooLarge):
            await api.forward("GET", "huge", query="", headers={}, body=None)
        assert api.guards.in_flight == 0


async def test_forward_ends_a_stalled_body_at_the_total_deadline(hostile: HostileServer) -> None:
    async with HttpConsumer(consumer({"resilience": {"timeout": {"total": 0.5}}}, base=hostile.base)) as api:
        _, _, body, aclose = await api.forward("GET", "stall", query="", headers={}, body=None)
        with pytest.raises(UpstreamTimeout) as caught:
            async for _ in body:
                pass
        await aclose()
    assert "within the total time limit of 0.5 s" in caught.value.message


async def test_forward_passes_a_compressed_body_through_raw_and_counts_it(hostile: HostileServer) -> None:
    async with HttpConsumer(consumer({"resilience": {"maxResponseBytes": 2 * MIB}}, base=hostile.base)) as api:
        _, headers, body, aclose = await api.forward("GET", "bomb", query="", headers={}, body=None)
        received = b"".join([chunk async for chunk in body])
        await aclose()
    assert ("content-encoding", "gzip") in [(k.lower(), v) for k, v in headers]
    assert received == hostile.bomb  # 1 MiB as sent: the client decides whether to inflate it


# ----------------------------------------------------------------------- decoding, in memory


def _answer(*chunks: bytes, encoding: str | None = None) -> Any:
    headers = {"content-type": "application/json"}
    if encoding:
        headers["content-encoding"] = encoding
    return mock(lambda request: httpx2.Response(200, headers=headers, stream=Chunks(*chunks)))


async def _call(transport: httpx2.AsyncBaseTransport, spec: dict[str, Any] | None = None,
                name: str = "get", operations: list[dict[str, Any]] | None = None) -> Any:
    async with HttpConsumer(consumer(spec, operations=operations), transport=transport) as api:
        return await api.call(api.consumer.operations[name], {})


async def test_the_limit_is_on_decoded_bytes_exactly() -> None:
    spec = {"resilience": {"maxResponseBytes": 12}}
    assert await _call(_answer(b'"0123', b'456789"'), spec) == "0123456789"  # 12 bytes: allowed
    with pytest.raises(ResponseTooLarge):
        await _call(_answer(b'"0123', b'4567890"'), spec)  # 13 bytes


async def test_an_operation_level_limit_overrides_the_consumer_one() -> None:
    body = b'"' + b"x" * 100 + b'"'
    operations = [{"name": "get", "method": "GET"},
                  {"name": "big", "method": "GET", "resilience": {"maxResponseBytes": 1000}}]
    spec = {"resilience": {"maxResponseBytes": 50}}
    with pytest.raises(ResponseTooLarge):
        await _call(_answer(body), spec, "get", operations)
    assert await _call(_answer(body), spec, "big", operations) == "x" * 100


async def test_gzip_and_deflate_bodies_are_inflated_in_every_form_servers_send() -> None:
    data = b'{"n": [' + b",".join(b"%d" % i for i in range(5000)) + b"]}"
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    forms = {
        "gzip": gzip.compress(data),
        "deflate": zlib.compress(data),
        "x-gzip": gzip.compress(data),
    }
    for encoding, body in forms.items():
        assert (await _call(_answer(body[:10], body[10:], encoding=encoding)))["n"][-1] == 4999
    raw = raw_deflate.compress(data) + raw_deflate.flush()
    assert (await _call(_answer(raw, encoding="deflate")))["n"][-1] == 4999  # deflate without its zlib header
    two_members = gzip.compress(data[:100]) + gzip.compress(data[100:])
    assert (await _call(_answer(two_members, encoding="gzip")))["n"][-1] == 4999
    twice = gzip.compress(gzip.compress(data))
    assert (await _call(_answer(twice, encoding="gzip, gzip")))["n"][-1] == 4999


async def test_a_bomb_in_one_network_chunk_is_still_stopped_at_the_limit() -> None:
    bomb = gzip.compress(bytes(64 * MIB), compresslevel=9)  # 64 KiB that inflate to 64 MiB
    with pytest.raises(ResponseTooLarge):
        await _call(_answer(bomb, encoding="gzip"), {"resilience": {"maxResponseBytes": MIB}})


async def test_a_corrupt_or_unknown_encoding_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="could not be decompressed"):
        await _call(_answer(b"\x1f\x8b not gzip at all", encoding="gzip"))
    with pytest.raises(DecodeError, match="unsupported Content-Encoding 'br'"):
        await _call(_answer(b"\x0b\x00\x80", encoding="br"))


async def test_an_in_memory_answer_is_held_to_the_limit_too() -> None:
    transport = mock(lambda request: httpx2.Response(200, json="x" * 100))
    with pytest.raises(ResponseTooLarge):
        await _call(transport, {"resilience": {"maxResponseBytes": 50}})
