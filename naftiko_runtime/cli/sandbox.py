"""``naftiko sandbox``: a bundled API simulator on its own."""

from __future__ import annotations

import sys

import click


@click.command(short_help="Run a bundled API simulator on its own (hms: 100ms).")
@click.argument("name", default="hms")
@click.option("--address", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
def sandbox(name: str, address: str, port: int) -> None:
    """Run a bundled API simulator standalone (hms: the 100ms live-streams API)."""
    from naftiko_runtime.sandbox import SANDBOXES  # here: `naftiko --help` imports no server module
    from naftiko_runtime.sandbox.__main__ import main as run_sandbox

    if name not in SANDBOXES:
        raise click.BadParameter(f"{name!r} is not a bundled simulator; choose from {', '.join(sorted(SANDBOXES))}",
                                 param_hint="NAME")
    sys.exit(run_sandbox([name, "--host", address, "--port", str(port)]))


COMMANDS = (sandbox,)
