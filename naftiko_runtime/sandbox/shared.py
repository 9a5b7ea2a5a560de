"""The bundled simulators in one process of their own, shared by the workers of ``--sandbox --workers N``.

In one process, ``--sandbox`` runs each simulator in-process. With several workers that would give
every worker a private simulator: a live stream started through one worker would not be found
through the next, unlike any real API. So the supervisor forks one more process before the workers
that serves every simulator on a loopback port, and the workers' consumers call it over HTTP.

That process ignores the signals a terminal or an orchestrator sends (the workers may still call it
while they drain); it ends when the supervisor kills it after the workers stopped, or when the
supervisor itself dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["SharedSandbox"]


class SharedSandbox:
    """``start()`` forks the simulator process and answers ``{host: base URL}``; ``close()`` ends it."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.urls: dict[str, str] = {}

    def start(self, hosts: Iterable[str]) -> dict[str, str]:
        from naftiko_runtime.sandbox import SANDBOX_HOSTS

        sockets: dict[str, socket.socket] = {}
        try:
            for host in hosts:
                if host in SANDBOX_HOSTS and host not in sockets:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sockets[host] = sock
                    sock.bind(("127.0.0.1", 0))
                    sock.listen(1024)
            if not sockets:
                return {}
            parent = os.getpid()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = _serve(sockets, parent)
                finally:
                    os._exit(code)
            self.pid = pid
            self.urls = {host: f"http://127.0.0.1:{sock.getsockname()[1]}" for host, sock in sockets.items()}
            return self.urls
        finally:
            for sock in sockets.values():
                sock.close()

    def close(self) -> None:
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # nothing to flush: the state lives in memory only
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _serve(sockets: dict[str, socket.socket], parent: int) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    from naftiko_runtime.processes import die_with_parent

    die_with_parent(signal.SIGKILL, parent)

    import anyio
    import uvicorn

    from naftiko_runtime.sandbox import SANDBOX_HOSTS

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # keep ignoring them
            yield

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for host, sock in sockets.items():
                config: Any = uvicorn.Config(SANDBOX_HOSTS[host](), log_config=None, access_log=False,
                                             lifespan="off", log_level="warning")
                tg.start_soon(lambda server, s: server.serve(sockets=[s]), Quiet(config), sock)

    anyio.run(main)
    return 0
