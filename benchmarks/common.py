"""Process plumbing shared by the harness and its helpers: ports, /proc readings, child servers.

Everything here is stdlib only, so the load drivers and servers can import it cheaply.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TOOL = "get-live-stream"
STREAM_ID = "6565a5a2d5bd6d9d0a7e0f31"
MODERN = "2026-07-28"


def mcp_body(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> bytes:
    """A self-contained 2026-07-28 request: no session, the protocol data rides in ``_meta``."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "naftiko-bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**(params or {}), "_meta": meta}}
    return json.dumps(message, separators=(",", ":")).encode()


def mcp_headers(method: str, name: str | None = None) -> dict[str, str]:
    """The headers a 2026-07-28 POST must carry (``Mcp-Name`` for tools/call and friends)."""
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
    }
    if name is not None:
        headers["mcp-name"] = name
    return headers


def mcp_ok(status: int, body: bytes) -> bool:
    """A successful tool result: HTTP 200, structured content, no error flag (JSON or SSE framing)."""
    return status == 200 and b'"structuredContent"' in body and b'"isError":true' not in body


def free_port() -> int:
    """A port the kernel just handed out on loopback (free unless someone races us for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, from /proc/<pid>/stat (fields 14 and 15)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB, from /proc/<pid>/status (VmRSS)."""
    return _kib_field(f"/proc/{pid}/status", "VmRSS:") / 1024


def anon_mib(pid: int) -> float:
    """The anonymous part of ``pid``'s resident set in MiB (heap, stacks; not the pages of mapped
    files such as shared libraries), from /proc/<pid>/smaps_rollup; NaN where the kernel lacks it."""
    return _kib_field(f"/proc/{pid}/smaps_rollup", "Anonymous:") / 1024


def _kib_field(path: str, field: str) -> float:
    """A ``Field:   1234 kB`` line of a /proc file, in KiB; NaN when the file or the line is missing."""
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    return float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of unsorted ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    finite = [v for v in values if v == v]  # drop NaN
    return statistics.median(finite) if finite else float("nan")


def python_executable() -> str:
    """The interpreter running the harness: servers and drivers use the same environment."""
    return sys.executable


def naftiko_command() -> list[str]:
    """How a user runs naftiko: the console script next to the interpreter, else ``-m``."""
    script = Path(sys.executable).with_name("naftiko")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "naftiko_runtime.cli"]


class Server:
    """A child server process in its own process group, always stopped by ``close``."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        self._log.flush()
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def wait_ready(self, probe: Callable[[], bool], deadline: float = 20.0, interval: float = 0.01) -> float:
        """Seconds from process start until ``probe()`` first returns True; raises on timeout or exit."""
        limit = self.started + deadline
        while time.perf_counter() < limit:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                if probe():
                    return time.perf_counter() - self.started
            time.sleep(interval)
        raise RuntimeError(f"{self.name} not ready after {deadline:.0f} s:\n{self.log_tail()}")

    def close(self, timeout: float = 5.0) -> None:
        """SIGTERM the group, SIGKILL it if it lingers; idempotent."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self._log.close()


@contextlib.contextmanager
def running(name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = Server(name, argv, log_dir, env)
    try:
        yield server
    finally:
        server.close()


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Median and min-max of per-round values (NaN-free)."""
    finite = [v for v in values if v == v]
    if not finite:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite), "n": len(finite)}
