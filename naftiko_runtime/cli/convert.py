"""``naftiko convert``: write a capability in the other dialect (Naftiko <-> Ikanos)."""

from __future__ import annotations

from pathlib import Path

import click

from naftiko_runtime.cli.common import EXISTING, fail, print_diagnostics


@click.command()
@click.argument("file", type=EXISTING)
@click.option("--to", "to", type=click.Choice(["ikanos", "naftiko"]), required=True,
              help="The dialect to write: ikanos (`ikanos: \"1.0.0-beta5\"`, maps by name) or naftiko.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
def convert(file: Path, to: str, output: Path | None) -> None:
    """Write FILE in the other dialect. Imports and <<env.X>> templates stay as written; comments are lost."""
    from naftiko_runtime.convert import convert_file
    from naftiko_runtime.errors import ConversionError

    try:
        text = convert_file(file, to)
    except ConversionError as exc:
        if exc.diagnostics:
            print_diagnostics(exc.diagnostics, [], strict=False, err=True)
        fail(str(exc))
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
    else:
        click.echo(text, nl=False)


COMMANDS = (convert,)
