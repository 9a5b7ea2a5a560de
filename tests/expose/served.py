"""A real ``naftiko serve`` in a subprocess (real sockets, real uvicorn, its own file limit), and raw
HTTP exchanges with it, for the tests of client limits."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVE = ["-c", "import sys; from naftiko_runtime.cli import main; sys.exit(main())", "serve"]
STARTUP_DEADLINE = 20.0

GREETER = """\
naftiko: "1.0.0-alpha2"
info: {{label: Greeter, description: Greets someone.}}
{binds}
capability:
  exposes:
    - type: mcp
      namespace: greeter
      port: 9399
      {auth}
      tools:
        - name: greet
          description: Greets someone.
          inputParameters:
            - {{name: who, type: string, description: Who to greet.}}
          outputParameters:
            - {{name: text, type: string, value: "Hello, {{{{who}}}}!"}}
"""


TOKEN = "inbound-token-123"
BEARER = 'authentication: {type: bearer, token: "{{MCP_TOKEN}}"}'  # the token comes from GREETER_TOKEN


def greeter(tmp_path: Path, auth: str = "") -> Path:
    binds = "binds: [{namespace: env, keys: {MCP_TOKEN: GREETER_TOKEN}}]" if auth else ""
    path = tmp_path / "greeter.yaml"
    path.write_text(GREETER.format(auth=auth, binds=binds), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    log: Path
    port: int

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def served(spec: Path, env: dict[str, str] | None = None, max_files: int | None = None) -> Iterator[Served]:
    """Serve ``spec`` on a free port with ``env`` (no other ``NAFTIKO_*``), under an open-file limit of
    ``max_files``; stopped with SIGTERM on exit, which must end it cleanly."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NAFTIKO_")} | (env or {})

    def limit() -> None:
        if max_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))

    log = spec.parent / f"serve-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, *SERVE, str(spec), "--port", str(port)], stdout=sink,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment, cwd=ROOT,
                                preexec_fn=limit)
    server = Served(proc, log, port)
    try:
        _wait_for_port(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, server.output()


def _wait_for_port(server: Served) -> None:
    end = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < end:
        if server.proc.poll() is not None:
            raise AssertionError(f"naftiko serve exited with {server.proc.returncode}:\n{server.output()}")
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=0.5).close()
            return
        except OSError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(timeout=0.05)  # the pause between attempts
    raise AssertionError(f"port {server.port} not ready within {STARTUP_DEADLINE}s:\n{server.output()}")


def exchange(port: int, data: bytes, deadline: float = 10.0) -> tuple[bytes, float]:
    """Send ``data`` on a new connection and read until the server closes it: (what it answered,
    seconds from the send to the close). Fails if the server has not closed it by ``deadline``."""
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        started = time.monotonic()
        sock.sendall(data)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            raise AssertionError(f"the server held the connection over {deadline} s; answered {answer[:80]!r}") \
                from None
        return answer, time.monotonic() - started


def get(url: str, timeout: float = 10.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        response.read()
        return int(response.status)


def post(url: str, message: dict[str, Any], headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, dict[str, str], Any]:
    """POST one JSON-RPC message the way a 2025-11-25 client does: (status, headers, the reply)."""
    request = urllib.request.Request(url, data=json.dumps(message).encode(), method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer, body = response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        status, answer, body = exc.code, dict(exc.headers), exc.read().decode()
        exc.close()
    messages = [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:") and line[5:].strip()]
    if not messages and body.strip().startswith("{"):
        messages = [json.loads(body)]
    reply = next((m for m in messages if "result" in m or "error" in m), None)  # not a progress notification
    return status, {k.lower(): v for k, v in answer.items()}, reply


def poll(predicate: Any, deadline: float = 10.0) -> bool:
    """Whether ``predicate()`` turns true within ``deadline`` seconds (checked every 50 ms)."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def metric(server: Served, name: str) -> float:
    with urllib.request.urlopen(server.url("/metrics"), timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no metric {name}")
