"""Command line: ``naftiko serve | validate | call | list | schema | export | import | sandbox | convert``.

Click only: each command parses its options, calls the composition root (``app``) and prints.
Heavy modules (the MCP SDK, Starlette, httpx2, jsonschema) are imported inside the commands that
need them, so ``naftiko --help`` and ``naftiko validate`` stay fast.
"""

from __future__ import annotations

import click

from naftiko_runtime import __version__
from naftiko_runtime.cli import call, convert, init, install, listing, openapi, sandbox, serve, validate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(__version__, "-V", "--version", prog_name="naftiko")
def main() -> None:
    """Run declarative Naftiko capabilities: consume HTTP APIs, expose them as MCP tools and REST routes."""


for module in (serve, validate, call, listing, openapi, sandbox, convert, init, install):
    for command in module.COMMANDS:
        main.add_command(command)

__all__ = ["main"]
