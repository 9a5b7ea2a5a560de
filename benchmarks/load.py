"""Python load drivers; each prints one JSON object on stdout.

    python benchmarks/load.py http URL [--mcp] [--connections 16] [--warmup S] [--duration S] [--pid PID]...
    python benchmarks/load.py sdk URL --mode auto|legacy [--sessions 16] [--warmup S] [--duration S] [--pid PID]...

``http`` keeps ``--connections`` requests in flight over as many keep-alive connections of one
``httpx2.AsyncClient``: plain GETs, or with ``--mcp`` self-contained 2026-07-28 ``tools/call``
POSTs (the same bytes the wrk script sends). It is the fallback when wrk is not installed.
``sdk`` runs ``--sessions`` concurrent ``mcp.Client`` sessions, each on its own connection, each
calling the tool in a loop: ``auto`` negotiates 2026-07-28, ``legacy`` forces the 2025-11-25
handshake (session id, GET stream).

Only calls that start and end inside the measurement window (after the warm-up) count. The CPU
time of each ``--pid`` over the window is read from /proc, so the harness gets CPU per call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from common import STREAM_ID, TOOL, cpu_seconds, mcp_body, mcp_headers, mcp_ok, percentile

Call = Callable[[int], Awaitable[bool]]


def stream_id(n: int) -> str:
    """Varied, valid-looking ids (24 hex characters) so no layer can cache one answer."""
    return f"{STREAM_ID[:16]}{n % 0xFFFFFFFF:08x}"


def call_body(n: int) -> bytes:
    return mcp_body("tools/call", {"name": TOOL, "arguments": {"id": stream_id(n)}}, request_id=n + 1)


async def measure(
    workers: int, call: Call, warmup: float, duration: float, pids: list[int]
) -> dict[str, Any]:
    """Run ``workers`` loops of ``call`` for warm-up + window; statistics of the window only."""
    start = time.perf_counter()
    t0, t1 = start + warmup, start + warmup + duration
    spans: list[tuple[float, float, bool]] = []
    cpu: dict[str, list[float]] = {}

    async def worker(index: int) -> None:
        n = index
        while time.perf_counter() < t1:
            begin = time.perf_counter()
            ok = await call(n)
            spans.append((begin, time.perf_counter(), ok))
            n += workers

    async def sampler() -> None:
        for moment in (t0, t1):
            await anyio.sleep(max(0.0, moment - time.perf_counter()))
            for pid in pids:
                cpu.setdefault(str(pid), []).append(cpu_seconds(pid))

    own = os.times()
    async with anyio.create_task_group() as tg:
        tg.start_soon(sampler)
        for index in range(workers):
            tg.start_soon(worker, index)
    own_end = os.times()
    inside = [(b, e, ok) for b, e, ok in spans if b >= t0 and e <= t1]
    latencies = [(e - b) * 1000 for b, e, ok in inside if ok]
    total_time = own_end.user + own_end.system - own.user - own.system
    return {
        "calls": len(latencies),
        "errors": sum(1 for *_, ok in inside if not ok),
        "window_s": duration,
        "throughput": len(latencies) / duration,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "server_cpu_s": {pid: values[1] - values[0] for pid, values in cpu.items() if len(values) == 2},
        "driver_cpu_share": total_time / (time.perf_counter() - start),
    }


async def run_http(args: argparse.Namespace) -> dict[str, Any]:
    import httpx2

    headers = mcp_headers("tools/call", TOOL)
    limits = httpx2.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    async with httpx2.AsyncClient(limits=limits, timeout=30) as client:

        async def get(n: int) -> bool:
            try:
                response = await client.get(f"{args.url.rstrip('/')}/{stream_id(n)}")
            except httpx2.HTTPError:
                return False
            return response.status_code == 200

        async def post(n: int) -> bool:
            try:
                response = await client.post(args.url, content=call_body(n), headers=headers)
            except httpx2.HTTPError:
                return False
            return mcp_ok(response.status_code, response.content)

        return await measure(args.connections, post if args.mcp else get, args.warmup, args.duration, args.pid)


async def run_sdk(args: argparse.Namespace) -> dict[str, Any]:
    from contextlib import AsyncExitStack

    from mcp import Client

    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(args.sessions):  # sequential connects: the handshake is not what we measure
            clients.append(await stack.enter_async_context(Client(args.url, mode=args.mode, read_timeout_seconds=30)))

        async def call(n: int) -> bool:
            client = clients[n % args.sessions]
            try:
                result = await client.call_tool(TOOL, {"id": stream_id(n)})
            except Exception:  # any failure is an error of the system under test, counted not raised
                return False
            return not result.is_error and result.structured_content is not None

        return await measure(args.sessions, call, args.warmup, args.duration, args.pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    for kind in ("http", "sdk"):
        p = sub.add_parser(kind)
        p.add_argument("url")
        p.add_argument("--warmup", type=float, default=1.0)
        p.add_argument("--duration", type=float, default=3.0)
        p.add_argument("--pid", type=int, action="append", default=[], help="process to charge CPU to")
    sub.choices["http"].add_argument("--mcp", action="store_true", help="send 2026-07-28 tools/call POSTs")
    sub.choices["http"].add_argument("--connections", type=int, default=16)
    sub.choices["sdk"].add_argument("--mode", choices=["auto", "legacy"], default="auto")
    sub.choices["sdk"].add_argument("--sessions", type=int, default=16)
    args = parser.parse_args(argv)
    runner = run_http if args.kind == "http" else run_sdk
    result = anyio.run(runner, args)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
