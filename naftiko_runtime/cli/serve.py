"""``naftiko serve``. Every option can also come from the environment (``NAFTIKO_*``), for containers."""

from __future__ import annotations

import gc
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from naftiko_runtime.cli.common import ENV_FILE, EXISTING, SANDBOX, UPSTREAM, environment, load_or_none, upstreams
from naftiko_runtime.errors import BindingError, ConfigError, ServeError

if TYPE_CHECKING:
    import anyio

    from naftiko_runtime.errors import Diagnostic
    from naftiko_runtime.expose.serve import Server
    from naftiko_runtime.runtime import Runtime
    from naftiko_runtime.sandbox.shared import SharedSandbox
    from naftiko_runtime.telemetry import Telemetry

LEVELS = ("debug", "info", "warning", "error")


def _allowed_hosts(given: tuple[str, ...]) -> list[str]:
    """``--allowed-host`` values, then ``NAFTIKO_ALLOWED_HOSTS`` (comma- or space-separated)."""
    extra = os.environ.get("NAFTIKO_ALLOWED_HOSTS", "").replace(",", " ").split()
    return list(dict.fromkeys([*given, *extra]))


@click.command(short_help="Serve capabilities as MCP servers and REST routes.")
@click.argument("paths", nargs=-1, required=True, type=EXISTING)
@click.option("--address", envvar="NAFTIKO_ADDRESS", default=None,
              help="Bind address for every HTTP exposure (default: the spec's, else 127.0.0.1). [env NAFTIKO_ADDRESS]")
@click.option("--port", envvar="NAFTIKO_PORT", type=click.IntRange(0, 65535), default=None,
              help="Port for every HTTP exposure (default: the spec's). [env NAFTIKO_PORT]")
@click.option("--transport", type=click.Choice(["http", "stdio"]), default=None, help="Force the MCP transport.")
@UPSTREAM
@SANDBOX
@ENV_FILE
@click.option("--reload", "reload_", is_flag=True,
              help="Swap in a new version when a capability file changes (the old one finishes its calls).")
@click.option("--log-format", envvar="NAFTIKO_LOG_FORMAT", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Log lines as text for people or JSON objects for collectors. "
              "[env NAFTIKO_LOG_FORMAT]")
@click.option("--log-level", envvar="NAFTIKO_LOG_LEVEL", type=click.Choice(LEVELS, case_sensitive=False),
              default="info", show_default=True, help="Least severe log lines shown. [env NAFTIKO_LOG_LEVEL]")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="HOST",
              help="Another Host header value to accept (DNS-rebinding protection); `*` accepts any. "
              "[env NAFTIKO_ALLOWED_HOSTS, comma-separated]")
@click.option("--metrics", is_flag=True, envvar="NAFTIKO_METRICS",
              help="Serve Prometheus metrics at /metrics: on the control port when there is one, else on every "
              "listener. [env NAFTIKO_METRICS]")
@click.option("--workers", envvar="NAFTIKO_WORKERS", default="1", metavar="N|auto", show_default=True,
              help="Worker processes sharing every listener (`auto`: one per core). [env NAFTIKO_WORKERS]")
@click.option("--grace-period", envvar="NAFTIKO_GRACE_PERIOD", type=click.FloatRange(0, 3600), default=None,
              metavar="SECONDS", help="On SIGTERM or Ctrl-C, how long running calls may finish; calls still running "
              "then get a clean error (MCP: a JSON-RPC error, REST: 503 problem) and the server exits 0. A second "
              "signal stops at once. [default: 10; env NAFTIKO_GRACE_PERIOD]")
@click.option("--strict", is_flag=True, help="Refuse to start on warnings too.")
def serve(paths: tuple[Path, ...], address: str | None, port: int | None, transport: str | None,
          upstream: tuple[str, ...], sandbox: bool, env_file: Path | None, reload_: bool, log_format: str,
          log_level: str, allowed_hosts: tuple[str, ...], metrics: bool, workers: str, grace_period: float | None,
          strict: bool) -> None:
    """Serve the MCP and REST exposures of capability files."""
    # Start-up only adds to the heap: no cyclic collections until the server is ready
    # (``freeze_startup_heap``) or this command ends, whichever comes first.
    gc.disable()
    click.get_current_context().call_on_close(gc.enable)
    import anyio

    from naftiko_runtime.app import check_upstreams, runtime, simulated_hosts, wants_metrics
    from naftiko_runtime.expose.serve import GRACE_PERIOD
    from naftiko_runtime.expose.serve import serve as serve_exposures

    grace = GRACE_PERIOD if grace_period is None else grace_period

    count = _worker_count(workers)
    if count > 1 and transport == "stdio":
        raise click.BadParameter("stdio serves the one client that started the server: use one worker",
                                 param_hint="--workers")
    metrics_dir = _share_metrics() if count > 1 else None
    env = environment(env_file)
    routes = upstreams(upstream)
    hosts = _allowed_hosts(allowed_hosts)
    made: list[Telemetry] = []  # one for the process: metrics keep counting across reloads
    shared = _shared_sandbox() if sandbox and count > 1 else None  # one simulator the workers share

    def start(env: Mapping[str, str]) -> Runtime | None:
        """Load, check and bind once: every diagnostic and every missing bind variable is named
        before anything listens."""
        loaded = load_or_none(paths, env, strict=strict, upstreams=routes)
        if loaded is None:
            return None
        if not made:
            made.append(_telemetry(metrics or wants_metrics(loaded.capabilities)))
        if shared is not None and shared.pid is None:
            shared.start(simulated_hosts(loaded.capabilities))
        try:
            check_upstreams(routes, loaded.capabilities)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--upstream") from None
        try:  # a ConfigError now (binds that make a base URI unusable) ends the command: exit 1
            return runtime(loaded.capabilities, env, upstreams=routes, sandbox=sandbox, telemetry=made[0],
                           shared_sandbox=shared.urls if shared is not None else None)
        except BindingError as exc:
            click.echo(f"naftiko: {exc}; set them in the environment or with --env-file", err=True)
            return None

    def candidate() -> Runtime | str:
        """A reload's new version (loaded, checked and bound as at start), or why it is refused, in
        one line: a reload must not flood the log, and the running version keeps serving."""
        from naftiko_runtime.app import load

        try:
            env = environment(env_file)  # the env file may have changed too
        except ConfigError as exc:
            return str(exc)
        loaded = load(paths, env, upstreams=routes)
        if loaded.failed(strict=strict):
            return _refusal(loaded.diagnostics, strict)
        if not loaded.capabilities:
            return "no capability found in " + ", ".join(str(p) for p in paths)
        try:
            return runtime(loaded.capabilities, env, upstreams=routes, sandbox=sandbox, telemetry=made[0],
                           shared_sandbox=shared.urls if shared is not None else None)
        except ConfigError as exc:
            return str(exc)
        except BindingError as exc:
            return f"{exc}; set them in the environment or with --env-file"

    servers: list[Server] = []

    async def reload_now() -> str:
        """The control port's ``POST /config/reload`` (and SIGHUP with --workers): load, check and
        bind off the event loop, swap."""
        fresh = await anyio.to_thread.run_sync(candidate)
        if isinstance(fresh, str):
            return f"refused: {fresh}; still serving the previous version"
        try:
            if servers and await servers[0].swap(fresh):
                return "reloaded"
        except ServeError as exc:
            return f"refused: {exc}"
        return "refused: the new version needs other listeners; restart the server"

    async def run(built: Runtime, stop_when: anyio.Event | None = None,
                  server_ready: Callable[[Server], None] | None = None, sockets: Any = None) -> int:
        def ready(server: Server) -> None:
            servers[:] = [server]
            if server_ready is not None:
                server_ready(server)

        return await serve_exposures(built, address=address, port=port, transport=transport, log_format=log_format,
                                     log_level=log_level, allowed_hosts=hosts, stop_when=stop_when,
                                     server_ready=ready, reload=reload_now, sockets=sockets,
                                     quiet=sockets is not None, grace_period=grace)

    if count > 1:
        try:
            first = start(env)
            sys.exit(1 if first is None else _supervise(
                first, count, run, candidate, paths if reload_ else (), log_format, log_level, hosts, address, port,
                transport, grace))
        finally:
            if shared is not None:
                shared.close()
            if metrics_dir is not None:
                shutil.rmtree(metrics_dir, ignore_errors=True)
    first = start(env)
    if first is None:
        sys.exit(1)
    if not reload_:
        sys.exit(anyio.run(run, first) or 0)

    from naftiko_runtime.reload import serve_reloading

    sys.exit(anyio.run(lambda: serve_reloading(list(paths), first, candidate, run, log=_reload_log)) or 0)


def _shared_sandbox() -> SharedSandbox:
    from naftiko_runtime.sandbox.shared import SharedSandbox

    return SharedSandbox()


def _worker_count(value: str) -> int:
    if value.strip().lower() == "auto":
        from naftiko_runtime.expose.workers import cores

        return cores()
    if value.strip().isdigit() and 1 <= int(value) <= 256:
        return int(value)
    raise click.BadParameter(f"expected a number of workers from 1 to 256 or `auto`, got {value!r}",
                             param_hint="--workers")


def _share_metrics() -> str | None:
    """Workers write their metrics to files one /metrics sums (set before prometheus_client loads).
    A folder made here is returned (removed at exit); one the environment names is emptied of an
    earlier run's files first, as prometheus_client requires (else their values would be summed in)."""
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink(missing_ok=True)
        return None
    made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="naftiko-metrics-")
    return made


def _supervise(first: Runtime, count: int, run: Callable[..., Any], reload: Callable[[], Runtime | str],
               watched: tuple[Path, ...], log_format: str, log_level: str, hosts: list[str], address: str | None,
               port: int | None, transport: str | None, grace: float) -> int:
    """Bind every listener here, then fork the workers (each serves on the same sockets)."""
    import anyio

    from naftiko_runtime.errors import ServeError
    from naftiko_runtime.expose.serve import Server, announce, bind_sockets, configure_logging
    from naftiko_runtime.expose.workers import Supervisor

    configure_logging(log_format, log_level, pid=True)
    emit = _emitter(log_format)
    try:
        planned = Server(first, emit, address=address, port=port, transport=transport, allowed_hosts=hosts)
        if planned.stdio:  # the spec asks for stdio: every worker would read the one stdin
            names = ", ".join(repr(exposure.namespace) for exposure, _ in planned.stdio)
            raise click.BadParameter(f"the MCP exposure {names} uses stdio, which serves the one client that "
                                     "started the server: use one worker (or --transport http)",
                                     param_hint="--workers")
        sockets = bind_sockets(planned)
    except ServeError as exc:
        click.echo(f"naftiko: {exc}", err=True)
        return 1
    announce(emit, planned.listeners, planned.stdio, first, hosts)
    emit(f"{count} workers", {"event": "workers", "count": count})
    sessions = [e.namespace for c in first.capabilities for e in c.mcp if not e.stateless]
    if sessions:
        text = (f"a session of the older MCP era (2025-11-25) lives in the worker that opened it: set `stateless: "
                f"true` on {', '.join(sessions)} or keep each such client on one worker (2026-07-28 clients need "
                "neither)")
        emit(f"warning: {text}", {"event": "warning", "message": text, "namespaces": sessions})

    latest = [first]  # the version a worker started from now on serves

    def work(inherited: Any) -> int:
        return anyio.run(lambda: run(latest[0], None, None, inherited)) or 0

    def refresh() -> bool:
        """Check the files here once (each worker's own reload is then quiet); keep a valid version."""
        fresh = reload()
        if isinstance(fresh, str):
            _reload_log(f"reload refused: {fresh}; still serving the previous version")
            return False
        latest[0] = fresh
        return True

    watch = _watcher(watched, lambda: latest[0])
    gc.enable()  # the supervisor's start-up is over; each worker's own ends with freeze_startup_heap
    return Supervisor(count, sockets, work, grace, watch=watch, refresh=refresh).run()


def _watcher(paths: tuple[Path, ...], version: Callable[[], Runtime]) -> Callable[[], bool] | None:
    """With --reload: a check the supervisor runs between its rounds; True when the watched files
    (the paths, and the files the served version imports or binds) changed."""
    if not paths:
        return None
    from naftiko_runtime.reload import snapshot, watched_files

    served = version()
    state = {"served": served, "snapshot": snapshot(watched_files(paths, served.capabilities))}

    def changed() -> bool:
        served = version()
        now = snapshot(watched_files(paths, served.capabilities))
        if served is not state["served"]:  # a new version was loaded: its files are the new baseline
            state.update(served=served, snapshot=now)
            return False
        if now == state["snapshot"]:
            return False
        state["snapshot"] = now
        return True

    return changed


def _refusal(diagnostics: Sequence[Diagnostic], strict: bool, shown: int = 2) -> str:
    """The errors that refuse a reload, in one line: the first ``shown``, then how many more."""
    from naftiko_runtime.errors import Severity

    errors = [d for d in diagnostics if d.severity is Severity.ERROR or strict]
    text = " | ".join(str(d) for d in errors[:shown])
    return text + (f" (and {len(errors) - shown} more)" if len(errors) > shown else "")


def _reload_log(text: str) -> None:
    """Reload outcomes go to the log (text or JSON lines, as configured) under ``naftiko.reload``."""
    import logging

    refused = text.startswith("reload refused")
    event = "reload-refused" if refused else "reloaded" if text.startswith("reloaded") else "reload-restart"
    logging.getLogger("naftiko.reload").log(logging.WARNING if refused else logging.INFO, text,
                                            extra={"fields": {"event": event}})


def _emitter(log_format: str) -> Callable[[str, dict[str, Any]], None]:
    import json

    def emit(text: str, data: dict[str, Any]) -> None:
        click.echo(json.dumps(data) if log_format == "json" else text, err=True)

    return emit


def _telemetry(metrics: bool) -> Telemetry:
    """Call logs always; metrics when asked; OTLP traces when the ``OTEL_*`` variables ask."""
    from naftiko_runtime.telemetry import Telemetry
    from naftiko_runtime.telemetry.traces import configure_from_environment

    warning = configure_from_environment()
    if warning:
        click.echo(f"naftiko: warning: {warning}", err=True)
    if not metrics:
        return Telemetry()
    from naftiko_runtime.telemetry.metrics import Metrics

    return Telemetry(metrics=Metrics())


COMMANDS = (serve,)
