"""Command line: ``naftiko serve | validate | call | list | schema | export | import | sandbox | convert``.

Click only: each command parses its options, calls the composition root (``app``) and prints.
Heavy modules (the MCP SDK, Starlette, httpx2, jsonschema) are imported inside the commands that
need them, so ``naftiko --help`` and ``naftiko validate`` stay fast.
"""

from __future__ import annotations

from typing import Any

import click

from naftiko_runtime import __version__
from naftiko_runtime.cli import call, convert, init, install, listing, openapi, sandbox, serve, validate
from naftiko_runtime.errors import ConfigError


class _Naftiko(click.Group):
    """The command group. A ``ConfigError`` that a command lets through (an env file that cannot be
    read, an unusable NAFTIKO_* setting: its message is safe to print) ends it with that message and
    exit 1, as the commands' own refusals do, never with a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"naftiko: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Naftiko, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(__version__, "-V", "--version", prog_name="naftiko")
def main() -> None:
    """Run declarative Naftiko capabilities: consume HTTP APIs, expose them as MCP tools and REST routes."""


for module in (serve, validate, call, listing, openapi, sandbox, convert, init, install):
    for command in module.COMMANDS:
        main.add_command(command)

__all__ = ["main"]
