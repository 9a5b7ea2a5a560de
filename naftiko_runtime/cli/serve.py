"""``naftiko serve``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from naftiko_runtime.cli.common import ENV_FILE, EXISTING, SANDBOX, UPSTREAM, environment, load_or_none, upstreams
from naftiko_runtime.errors import BindingError, ConfigError

if TYPE_CHECKING:
    from naftiko_runtime.runtime import Runtime


@click.command()
@click.argument("paths", nargs=-1, required=True, type=EXISTING)
@click.option("--address", default=None, help="Bind address for every HTTP exposure (default: the spec's).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port for every HTTP exposure.")
@click.option("--transport", type=click.Choice(["http", "stdio"]), default=None, help="Force the MCP transport.")
@UPSTREAM
@SANDBOX
@ENV_FILE
@click.option("--reload", "reload_", is_flag=True, help="Restart when a capability file changes.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines as text for people or as JSON objects for log collectors.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="HOST",
              help="Extra Host header values to accept (DNS-rebinding protection); `*` accepts any.")
@click.option("--strict", is_flag=True, help="Refuse to start on warnings too.")
def serve(paths: tuple[Path, ...], address: str | None, port: int | None, transport: str | None,
          upstream: tuple[str, ...], sandbox: bool, env_file: Path | None, reload_: bool, log_format: str,
          allowed_hosts: tuple[str, ...], strict: bool) -> None:
    """Serve the MCP and REST exposures of capability files."""
    import anyio

    from naftiko_runtime.app import runtime
    from naftiko_runtime.expose.serve import serve as serve_exposures

    env = environment(env_file)
    routes = upstreams(upstream)

    def start(env: Mapping[str, str]) -> Runtime | None:
        """Load, check and bind once: every diagnostic and every missing bind variable is named
        before anything listens."""
        loaded = load_or_none(paths, env, strict=strict)
        if loaded is None:
            return None
        try:
            return runtime(loaded.capabilities, env, upstreams=routes, sandbox=sandbox)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--upstream") from None
        except BindingError as exc:
            click.echo(f"naftiko: {exc}; set them in the environment or with --env-file", err=True)
            return None

    async def run(built: Runtime, stop_when: anyio.Event | None = None) -> int:
        return await serve_exposures(built, address=address, port=port, transport=transport, log_format=log_format,
                                     allowed_hosts=list(allowed_hosts), stop_when=stop_when)

    first = start(env)
    if first is None:
        sys.exit(1)
    if not reload_:
        sys.exit(anyio.run(run, first) or 0)

    from naftiko_runtime.reload import serve_reloading

    def log(text: str) -> None:
        click.echo(f"naftiko: {text}", err=True)

    sys.exit(anyio.run(lambda: serve_reloading(list(paths), first, lambda: start(environment(env_file)), run,
                                               log=log)) or 0)


COMMANDS = (serve,)
