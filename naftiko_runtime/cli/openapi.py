"""``naftiko export openapi`` and ``naftiko import openapi``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from naftiko_runtime.cli.common import EXISTING, capabilities, fail
from naftiko_runtime.errors import ConfigError


@click.group(name="export", short_help="Export a capability (openapi).")
def export_group() -> None:
    """Export a capability to another format."""


@export_group.command(name="openapi", short_help="Write the OpenAPI 3.1 document of the REST routes.")
@click.argument("spec", type=EXISTING)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@click.option("--namespace", default=None, help="Only this REST exposure.")
def export_openapi(spec: Path, output: Path | None, namespace: str | None) -> None:
    """Write the OpenAPI 3.1 description of a capability's REST exposures."""
    from naftiko_runtime.openapi import export_openapi as build_document

    capability = capabilities((spec,), dict(os.environ))[0]
    try:
        document = build_document(capability, namespace)
    except ConfigError as exc:  # no REST exposure (of that namespace)
        fail(str(exc))
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


OPERATIONS = click.option("--operations", metavar="ID,...", default=None,
                          help="Only these operations (operationId as written or in kebab case), comma-separated.")
TAG = click.option("--tag", metavar="TAG", default=None, help="Only the operations with this tag.")


def imported(file: Path, *, namespace: str | None = None, operations: str | None = None,
             tag: str | None = None) -> dict[str, Any]:
    """The capability document imported from an OpenAPI file; a problem exits 1 with a message."""
    from naftiko_runtime.openapi import import_openapi as convert
    from naftiko_runtime.source import parse

    if operations is not None and tag is not None:
        raise click.UsageError("choose operations by --operations or by --tag, not both")
    chosen = [o.strip() for o in (operations or "").split(",") if o.strip()]
    if operations is not None and not chosen:
        raise click.BadParameter("name at least one operation", param_hint="--operations")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    source, problems = parse(text, str(file))
    if source.data is None:
        fail(f"{file} is not valid YAML or JSON: {problems[0].message if problems else 'empty'}")
    if not isinstance(source.data, dict):
        fail(f"{file} is not an OpenAPI document")
    try:
        return convert(source.data, namespace=namespace, operations=chosen, tag=tag)
    except (ConfigError, TypeError, KeyError, AttributeError) as exc:  # a malformed document, never a traceback
        fail(f"cannot import {file}: {exc}")


def check_made(text: str, target: Path | None) -> None:
    """The text must be a capability without errors; otherwise it is not written to ``target`` (None:
    standard output) and the command exits 1: a bug, or an OpenAPI document this runtime cannot
    express."""
    from naftiko_runtime.load import load_text
    from naftiko_runtime.report import format_text, source_lines
    from naftiko_runtime.validate import check_documents, has_errors

    doc = load_text(text, (target or Path("capability.yaml")).resolve())
    _, diagnostics = check_documents([doc])
    if diagnostics:
        click.echo(format_text(diagnostics, source_lines([doc])), err=True)
    if has_errors(diagnostics):
        fail(f"not {f'writing {target}' if target else 'printing the capability'}: the capability made has "
             "errors (above)")


@click.group(name="import", short_help="Start a capability from another format (openapi).")
def import_group() -> None:
    """Create a capability from another format."""


@import_group.command(name="openapi", short_help="Turn an OpenAPI document into a capability.")
@click.argument("file", type=EXISTING)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@click.option("--namespace", default=None, help="Namespace of the consumed API (default: from the title).")
@OPERATIONS
@TAG
def import_openapi(file: Path, output: Path | None, namespace: str | None, operations: str | None,
                   tag: str | None) -> None:
    """Turn an OpenAPI 3.x or Swagger 2 document into a capability (consumes + MCP tools), keeping
    parameter, request-body and response schemas."""
    from naftiko_runtime.formats.yaml import dump_yaml

    result = dump_yaml(imported(file, namespace=namespace, operations=operations, tag=tag))
    check_made(result, output)
    if output:
        output.write_text(result, encoding="utf-8")
    else:
        click.echo(result, nl=False)


COMMANDS = (export_group, import_group)
