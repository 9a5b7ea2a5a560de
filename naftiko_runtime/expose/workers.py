"""``naftiko serve --workers N``: one supervisor, N worker processes sharing every listener.

The supervisor binds every listening socket, then forks the workers; each one runs its own event
loop, runtime and upstream connection pools on the inherited sockets, and the kernel hands each new
connection to one of them. The supervisor restarts a worker that dies (with a backoff if it keeps
dying), forwards SIGTERM/SIGINT so that every worker drains, and reloads on SIGHUP (from a user, a
worker's control port, or the ``--reload`` file watcher): it checks the files itself first, keeps the
new version for the workers it starts from then on, and tells every worker to swap it in (each one
loads, checks and swaps the files itself).

Per worker, not shared: OAuth2 token caches, rate limits, circuit breakers, HTTP caches and the
sessions of the older, session-based MCP era (a session lives in the worker that created it, so
that era needs `stateless: true` or one worker). The 2026-07-28 era is stateless: any worker answers.
Shared: the listening sockets, the metrics (multiprocess files one scrape sums) and, with
``--sandbox``, one simulator process (``sandbox/shared.py``), so the sandbox acts as one API.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence

from naftiko_runtime.processes import cores, die_with_parent

__all__ = ["Supervisor", "cores", "die_with_parent"]

logger = logging.getLogger("naftiko.workers")

MAX_BACKOFF = 10.0


def _forget(pid: int) -> None:
    """Drop a dead worker's live gauges from the shared metrics (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from naftiko_runtime.telemetry.metrics import worker_exited

        worker_exited(pid)


class Supervisor:
    """Forks ``count`` workers that each call ``work(sockets)`` and exit with its return code."""

    def __init__(self, count: int, sockets: Sequence[socket.socket], work: Callable[[Sequence[socket.socket]], int],
                 grace_period: float, watch: Callable[[], bool] | None = None,
                 refresh: Callable[[], bool] | None = None, tick: float = 0.2) -> None:
        self.count = count
        self.sockets = list(sockets)
        self.work = work
        self.grace_period = grace_period
        self.watch = watch  # True when the watched files changed
        self.refresh = refresh  # load and check the files again: True when the workers should reload
        self.tick = tick
        self.workers: dict[int, float] = {}  # pid -> when it started
        self.stopping = False
        self._reload = False
        self._failures: list[float] = []

    def run(self) -> int:
        for sock in self.sockets:
            sock.set_inheritable(True)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            for _ in range(self.count):
                self._spawn()
            return self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sock in self.sockets:
                sock.close()

    def _spawn(self) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: default signal handling, then serve until told to stop
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            die_with_parent(signal.SIGTERM, parent)  # drain and stop if the supervisor is killed
            code = 1
            try:
                code = self.work(self.sockets)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.workers[pid] = time.monotonic()
        logger.info("worker %d started (%d of %d)", pid, len(self.workers), self.count)

    def _on_signal(self, signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:  # reloaded between rounds, not in a signal handler
            self._reload = True
            return
        if self.stopping:  # a second signal: stop now
            self._forward(signal.SIGKILL)
            return
        self.stopping = True
        logger.info("received %s: stopping %d worker(s)", signal.Signals(signum).name, len(self.workers))
        self._forward(signal.SIGTERM)

    def _forward(self, signum: int) -> None:
        for pid in list(self.workers):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                self.workers.pop(pid, None)

    def _supervise(self) -> int:
        """Reap workers, restart one that died unasked, reload when asked or when the files change;
        return once every worker has stopped after a signal (with the first non-zero exit code)."""
        code = 0
        while self.workers:
            code = self._reap(code)
            if not self.stopping and (self._reload or (self.watch is not None and self.watch())):
                self._reload = False
                if self.refresh is None or self.refresh():
                    logger.info("every worker reloads")
                    self._forward(signal.SIGHUP)
            time.sleep(self.tick)
        return code

    def _reap(self, code: int) -> int:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.workers.clear()
                return code
            if pid == 0:
                return code
            started = self.workers.pop(pid, None)
            if started is None:
                continue
            _forget(pid)
            exit_code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                code = code or max(exit_code, 0)
                continue
            logger.warning("worker %d exited with %s; starting another", pid, exit_code)
            self._backoff(started)
            if not self.stopping:
                self._spawn()
        return code

    def _backoff(self, started: float) -> None:
        """A worker that dies soon after starting, again and again, is restarted ever more slowly."""
        now = time.monotonic()
        self._failures = [t for t in self._failures if now - t < 60] + ([now] if now - started < 5 else [])
        if len(self._failures) > 1:
            time.sleep(min(MAX_BACKOFF, 0.5 * 2 ** (len(self._failures) - 2)))
