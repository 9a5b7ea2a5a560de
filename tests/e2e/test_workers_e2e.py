"""`naftiko serve --workers 2` end to end: two processes share the port, drain on one SIGTERM,
survive a killed worker, reload together and sum their metrics.

Which worker answers a new connection is the kernel's choice, so every "both workers" check loops
on fresh connections until it has seen both pids (``/health/ready`` reports the pid; JSON log lines
of a worker carry it), under a deadline: never a sleep standing in for an assertion.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from processes import ROOT, SERVE, Process, child_env, free_port, start, stop, wait_for_port
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.timeout(60)

HMS = ROOT / "capabilities" / "hms-live-streams.yaml"
ROOM = "64b7c1a2e3f4a5b6c7d8e9f0"
DEADLINE = 20.0
MODERN = "2026-07-28"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ------------------------------------------------------------------------------------- helpers


def fresh() -> httpx2.AsyncClient:
    """An HTTP client that opens a new connection for every request: the kernel picks a worker each time."""
    return httpx2.AsyncClient(limits=httpx2.Limits(max_keepalive_connections=0), timeout=httpx2.Timeout(20.0))


async def readiness(port: int) -> tuple[int, dict[str, Any]]:
    async with fresh() as http:
        response = await http.get(f"http://127.0.0.1:{port}/health/ready")
    return response.status_code, response.json()


async def until_pids(port: int, want: int = 2, status: int = 200, deadline: float = DEADLINE,
                     avoid: frozenset[int] = frozenset()) -> dict[int, dict[str, Any]]:
    """Probe readiness on fresh connections until ``want`` distinct pids (none in ``avoid``) have
    answered ``status``; their latest reports by pid."""
    seen: dict[int, dict[str, Any]] = {}
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            code, report = await readiness(port)
        except httpx2.TransportError:
            await anyio.sleep(0.02)
            continue
        if code == status and report["pid"] not in avoid:
            seen[report["pid"]] = report
            if len(seen) >= want:
                return seen
    raise AssertionError(f"{want} pids answering {status} not seen within {deadline}s; saw {sorted(seen)}")


def modern_call(name: str, arguments: dict[str, Any], request_id: int = 1) -> tuple[bytes, dict[str, str]]:
    """A self-contained 2026-07-28 tools/call POST: no session, the protocol data rides in ``_meta``."""
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "1"}}
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": meta}}
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": name}
    return json.dumps(body).encode(), headers


def result_of(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message answering the request, from a JSON or an SSE response."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
        return next(m for m in messages if "result" in m or "error" in m)
    return response.json()


def call_pids(process: Process, unit: str) -> Counter[int]:
    """How many calls of ``unit`` each worker logged (JSON log lines carry the worker's pid)."""
    counts: Counter[int] = Counter()
    for line in process.output().splitlines():
        if line.startswith("{") and f'"unit": "{unit}"' in line:
            record = json.loads(line)
            if record.get("event") == "call":
                counts[record["pid"]] += 1
    return counts


def serve(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Process, int]:
    port = free_port()
    process = start([*SERVE, *args, "--workers", "2", "--port", str(port)], tmp / "serve.log", env or child_env())
    wait_for_port(process, port)
    return process, port


# ------------------------------------------------------------------- one server, two workers

CONTROL = """\
    - type: control
      port: {port}
      management: {{reload: true}}
"""
PING_TOOL = """
        - name: hms-ping
          description: Answers pong, without calling 100ms.
          outputParameters:
            - {name: answer, type: string, value: pong}
"""
RELOADED = "Reloaded live streams"


@dataclass
class Served:
    process: Process
    port: int
    control: int
    spec: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The bundled capability plus a control port, served by two workers (in that order, the tests
    below reload it, kill a worker, then kill the supervisor)."""
    folder = tmp_path_factory.mktemp("workers")
    spec = folder / "capability.yaml"
    control = free_port()
    text = HMS.read_text(encoding="utf-8").replace("transport: http\n", "transport: http\n      stateless: true\n", 1)
    spec.write_text(text + CONTROL.format(port=control), encoding="utf-8")
    process, port = serve(folder, str(spec), "--sandbox", "--metrics", "--reload", "--log-format", "json")
    try:
        wait_for_port(process, control)
        yield Served(process, port, control, spec)
    finally:
        stop(process)


@pytest.mark.anyio
async def test_two_worker_pids_answer_on_every_listener(served: Served) -> None:
    on_mcp = await until_pids(served.port)
    on_control = await until_pids(served.control)
    assert set(on_mcp) == set(on_control)
    assert "stateless: true` on" not in served.process.output()  # no session to warn about
    assert served.process.proc.pid not in on_mcp  # the supervisor serves nothing itself
    assert all(r["status"] == "ready" for r in on_mcp.values())


@pytest.mark.anyio
async def test_the_modern_era_works_across_workers_without_affinity(served: Served) -> None:
    """Each request on a new connection: a stream one worker started is found by whichever answers
    next (``--sandbox`` with workers runs one simulator the workers share, like a real upstream)."""
    async with fresh() as http, Client(streamable_http_client(served.url, http_client=http)) as client:
        assert client.protocol_version == MODERN
        started = await client.call_tool("hms-start-live-stream", {"room_id": ROOM, "body": {}})
        assert started.is_error is False, started.content
        stream = started.structured_content["id"]
        end = time.monotonic() + DEADLINE
        calls = 0
        while calls < 6 or len(call_pids(served.process, "hms-get-live-stream")) < 2:
            assert time.monotonic() < end, "calls not served by two workers"
            got = await client.call_tool("hms-get-live-stream", {"stream_id": stream})
            assert got.is_error is False, got.content
            assert got.structured_content["id"] == stream
            calls += 1
    assert sum(call_pids(served.process, "hms-get-live-stream").values()) == calls


@pytest.mark.anyio
async def test_the_older_era_works_across_workers_when_the_exposure_is_stateless(served: Served) -> None:
    """2025-11-25 sessions live in one worker; ``stateless: true`` on the exposure drops them."""
    async with fresh() as http, Client(streamable_http_client(served.url, http_client=http), mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        end = time.monotonic() + DEADLINE
        calls = 0
        while calls < 6 or len(call_pids(served.process, "hms-list-live-streams")) < 2:
            assert time.monotonic() < end, "calls not served by two workers"
            listed = await client.call_tool("hms-list-live-streams", {})
            assert listed.is_error is False, listed.content
            calls += 1


def counted(text: str, unit: str) -> float:
    """Calls of ``unit`` in a Prometheus exposition."""
    return sum(sample.value for family in text_string_to_metric_families(text)
               if family.name == "naftiko_call_duration_seconds" for sample in family.samples
               if sample.name.endswith("_count") and sample.labels.get("unit") == unit)


@pytest.mark.anyio
async def test_metrics_sum_every_worker(served: Served) -> None:
    """Whichever worker answers the scrape, it counts the calls of both (multiprocess mode)."""
    unit = "hms-list-live-streams"
    body, headers = modern_call(unit, {})
    metrics = f"http://127.0.0.1:{served.control}/metrics"
    async with fresh() as http:
        before, logged = counted((await http.get(metrics)).text, unit), call_pids(served.process, unit)
        calls = 0
        end = time.monotonic() + DEADLINE
        while calls < 10 or len(call_pids(served.process, unit) - logged) < 2:
            assert time.monotonic() < end, "calls not served by two workers"
            response = await http.post(served.url, content=body, headers=headers)
            assert result_of(response)["result"]["isError"] is False
            calls += 1
        scrapes = [(await http.get(metrics)).text for _ in range(6)]
    assert [counted(text, unit) - before for text in scrapes] == [calls] * 6


async def until_label(port: int, label: str, pids: set[int]) -> None:
    """Until every one of ``pids`` reports ``label`` for the served capability."""
    end = time.monotonic() + DEADLINE
    done: set[int] = set()
    while done != pids:
        assert time.monotonic() < end, f"not every worker serves {label!r}: {sorted(done)} of {sorted(pids)}"
        code, report = await readiness(port)
        if code == 200 and report["capabilities"][0]["label"] == label:
            done.add(report["pid"])


@pytest.mark.anyio
async def test_reload_swaps_the_edited_file_into_every_worker(served: Served) -> None:
    before = await until_pids(served.port)
    label = next(iter(before.values()))["capabilities"][0]["label"]
    text = served.spec.read_text(encoding="utf-8")
    control = text.index("    - type: control")
    edited = text[:control].rstrip("\n") + "\n" + PING_TOOL + text[control:]
    served.spec.write_text(edited.replace(f"label: {label}", f"label: {RELOADED}", 1), encoding="utf-8")

    await until_label(served.port, RELOADED, set(before))  # the same workers, swapped in place
    async with fresh() as http:
        for _ in range(6):  # whichever answers lists the new tool
            async with Client(streamable_http_client(served.url, http_client=http)) as client:
                assert "hms-ping" in {t.name for t in (await client.list_tools()).tools}


def reloads(process: Process) -> Counter[int]:
    """Each worker's completed reloads, from its JSON log lines."""
    return Counter(json.loads(line)["pid"] for line in process.output().splitlines()
                   if line.startswith("{") and '"reload: reloaded"' in line)


@pytest.mark.anyio
async def test_the_control_port_reload_reloads_every_worker(served: Served) -> None:
    pids = set(await until_pids(served.port))
    before = reloads(served.process)
    async with fresh() as http:
        response = await http.post(f"http://127.0.0.1:{served.control}/config/reload")
    assert response.status_code == 200 and response.json()["result"].startswith("requested")
    end = time.monotonic() + DEADLINE
    while {pid for pid in pids if reloads(served.process)[pid] > before[pid]} != pids:
        assert time.monotonic() < end, f"not every worker reloaded: {reloads(served.process)} (before {before})"
        await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_a_killed_worker_is_replaced_with_the_current_version(served: Served) -> None:
    before = await until_pids(served.port)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    body, headers = modern_call("hms-list-live-streams", {})
    replacement = 0
    end = time.monotonic() + DEADLINE
    async with fresh() as http:
        while not replacement:  # calls keep succeeding meanwhile
            assert time.monotonic() < end, "no new worker within the deadline"
            response = await http.post(served.url, content=body, headers=headers)
            assert result_of(response)["result"]["isError"] is False
            code, report = await readiness(served.port)
            if code == 200 and report["pid"] not in before:
                replacement = report["pid"]
    now = await until_pids(served.port, avoid=frozenset({victim}))
    assert set(now) == (set(before) - {victim}) | {replacement}
    assert {r["capabilities"][0]["label"] for r in now.values()} == {RELOADED}  # not the version it started with
    assert "Traceback" not in served.process.output()


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"  # exited, not yet reaped by whoever adopted it


@pytest.mark.anyio
async def test_workers_and_the_shared_sandbox_stop_when_the_supervisor_is_killed(served: Served) -> None:
    workers = await until_pids(served.port)
    simulator = next(iter(workers.values()))["consumers"][0]["url"].removesuffix("/v2")
    served.process.proc.kill()
    served.process.proc.wait(timeout=10)
    end = time.monotonic() + DEADLINE
    while not all(gone(pid) for pid in workers):
        assert time.monotonic() < end, "workers outlived their supervisor"
        await anyio.sleep(0.05)
    with pytest.raises(httpx2.TransportError):
        async with fresh() as http:
            await http.get(simulator)


# ------------------------------------------------------------------------------------ drain


class SlowUpstream:
    """The live-streams API, except that getting a stream waits until ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.arrived = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = re.fullmatch(r"/v2/live-streams/([0-9a-f]{24})", self.path.split("?")[0])
                if found:
                    with lock:
                        outer.arrived += 1
                    outer.release.wait(30)
                body = json.dumps({"id": found.group(1) if found else "", "status": "running", "data": []}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow() -> Iterator[SlowUpstream]:
    upstream = SlowUpstream()
    try:
        yield upstream
    finally:
        upstream.close()


def busy(reports: dict[int, dict[str, Any]]) -> set[int]:
    return {pid for pid, r in reports.items() if any(c.get("in_flight") for c in r["consumers"])}


@pytest.mark.anyio
async def test_one_sigterm_drains_both_workers(tmp_path: Path, slow: SlowUpstream) -> None:
    shared_metrics = tmp_path / "metrics"  # an earlier run's values are not summed in
    shared_metrics.mkdir()
    (shared_metrics / "counter_1.db").write_bytes(b"stale")
    process, port = serve(tmp_path, str(HMS), "--upstream", f"live-streams={slow.url}",
                          env=child_env(HMS_MANAGEMENT_TOKEN="e2e-token", PROMETHEUS_MULTIPROC_DIR=str(shared_metrics)))
    assert not (shared_metrics / "counter_1.db").exists()
    url = f"http://127.0.0.1:{port}/mcp"
    results: list[dict[str, Any]] = []
    try:
        await until_pids(port)

        async def held(n: int) -> None:
            body, headers = modern_call("hms-get-live-stream", {"stream_id": f"{n:024x}"}, request_id=n)
            async with fresh() as http:
                results.append(result_of(await http.post(url, content=body, headers=headers)))

        async with anyio.create_task_group() as tg:
            held_calls = 0
            end = time.monotonic() + DEADLINE
            while True:  # hold calls open until both workers have one running
                assert time.monotonic() < end and held_calls < 24, "could not hold a call in each worker"
                tg.start_soon(held, held_calls + 1)
                held_calls += 1
                while slow.arrived < held_calls:
                    assert time.monotonic() < end, "the held call never reached the upstream"
                    await anyio.sleep(0.01)
                if len(busy(await until_pids(port))) == 2:
                    break
            process.proc.send_signal(signal.SIGTERM)
            draining = await until_pids(port, status=503)
            assert {r["status"] for r in draining.values()} == {"draining"}
            slow.release.set()
        assert len(results) == held_calls
        assert all(r["result"]["isError"] is False for r in results), results
        assert await anyio.to_thread.run_sync(lambda: process.proc.wait(timeout=15)) == 0
    finally:
        slow.release.set()
        stop(process)
    output = process.output()
    assert "Traceback" not in output
    assert "set `stateless: true` on live-streams-mcp" in output  # older-era sessions live in one worker
    assert output.count("still running after") == 0


# ----------------------------------------------------------------------------------- refusals


STDIO_SPEC = """\
naftiko: "1.0.0-alpha2"
info: {label: Stdio, description: One stdio exposure.}
capability:
  exposes:
    - type: mcp
      namespace: tools
      transport: stdio
      tools:
        - name: ping
          description: Answers pong.
          outputParameters:
            - {name: answer, type: string, value: pong}
"""


@pytest.mark.parametrize("how", ["--transport stdio", "transport: stdio in the spec"])
def test_stdio_with_workers_is_refused(tmp_path: Path, how: str) -> None:
    if how.startswith("--"):
        args = [str(HMS), "--sandbox", "--transport", "stdio"]
    else:
        spec = tmp_path / "stdio.yaml"
        spec.write_text(STDIO_SPEC, encoding="utf-8")
        args = [str(spec)]
    done = subprocess.run([sys.executable, *SERVE, *args, "--workers", "2"], capture_output=True, text=True,
                          cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "stdio" in done.stderr and "one worker" in done.stderr
    assert "Traceback" not in done.stderr
