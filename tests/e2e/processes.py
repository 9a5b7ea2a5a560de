"""Processes for end-to-end tests: free loopback ports, starting, readiness polling, stopping."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTUP_DEADLINE = 20.0
SERVE = ["-m", "naftiko_runtime.cli", "serve"]  # `naftiko serve`, with this interpreter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HMS_MANAGEMENT_TOKEN", "MCP_TOKEN")}
    env.update(extra)
    return env


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def start(args: list[str], log: Path, env: dict[str, str]) -> Process:
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, *args], stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=ROOT, stdin=subprocess.DEVNULL
        )
    return Process(proc, log)


def wait_for_port(process: Process, port: int, deadline: float = STARTUP_DEADLINE, host: str = "127.0.0.1") -> None:
    """Poll until ``port`` accepts connections; the pause between attempts waits on the process."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.proc.poll() is not None:
            raise AssertionError(f"process exited with {process.proc.returncode}:\n{process.output()}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.proc.wait(timeout=0.05)
    raise AssertionError(f"port {port} not ready within {deadline}s:\n{process.output()}")


def stop(process: Process) -> None:
    if process.proc.poll() is None:
        process.proc.terminate()
        try:
            process.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.proc.kill()
            process.proc.wait(timeout=10)
