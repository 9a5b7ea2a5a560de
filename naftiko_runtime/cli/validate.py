"""``naftiko validate`` and ``naftiko schema``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from naftiko_runtime.cli.common import EXISTING, print_diagnostics


@click.command(short_help="Check capability files, offline and without secrets.")
@click.argument("paths", nargs=-1, required=True, type=EXISTING)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="text for people, json for tools, github for workflow annotations.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--together", is_flag=True,
              help="Also check the files as one `naftiko serve` would serve them (shared ports, tool names).")
def validate(paths: tuple[Path, ...], fmt: str, strict: bool, together: bool) -> None:
    """Check capability files (or every capability in folders) without network or secrets."""
    from naftiko_runtime.report import format_github, format_json, summary
    from naftiko_runtime.validate import has_errors, validate_paths

    checked, diagnostics = validate_paths(paths, together=together)
    if fmt == "json":
        click.echo(format_json(diagnostics, strict=strict))
    elif fmt == "github":
        if diagnostics:
            click.echo(format_github(diagnostics, strict=strict))
    else:
        print_diagnostics(diagnostics, [c.doc for c in checked], strict=strict, err=False)
        if checked:
            click.echo(summary(diagnostics, len(checked), strict=strict), err=True)
    if not checked and not diagnostics:  # a CI step pointed at the wrong folder must not pass
        click.echo("naftiko: no capability file (*.yaml, *.yml) in " + ", ".join(str(p) for p in paths), err=True)
    sys.exit(1 if has_errors(diagnostics, strict=strict) or not checked else 0)


@click.command(short_help="Print the JSON Schema of capability files, for editors.")
@click.option("--dialect", type=click.Choice(["naftiko", "ikanos"]), default="naftiko", show_default=True,
              help="ikanos: the schema of files written the Ikanos way (`ikanos: \"1.0.0-beta5\"`, maps by name).")
def schema(dialect: str) -> None:
    """Print the JSON Schema (2020-12) of capability files, for editors."""
    if dialect == "ikanos":
        from naftiko_runtime.spec.ikanos import ikanos_schema_json

        click.echo(ikanos_schema_json(), nl=False)
        return
    from naftiko_runtime.spec import schema_json

    click.echo(schema_json())


COMMANDS = (validate, schema)
