"""What several commands share: failing cleanly, the environment, options, loading with diagnostics."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from naftiko_runtime.urls import http_url_problem

if TYPE_CHECKING:
    from naftiko_runtime.app import Loaded
    from naftiko_runtime.errors import Diagnostic
    from naftiko_runtime.load import Document
    from naftiko_runtime.model import Capability

EXISTING = click.Path(exists=True, path_type=Path)
UPSTREAM = click.option("--upstream", "upstream", multiple=True, metavar="NAMESPACE=URL",
                        help="Send a consumer's calls to another base URI.")
SANDBOX = click.option("--sandbox", is_flag=True,
                       help="Route consumers that have a bundled simulator to it: no token, no network.")
ENV_FILE = click.option("--env-file", type=EXISTING, default=None, help="Load KEY=VALUE variables first.")


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"naftiko: {message}", err=True)
    sys.exit(code)


def upstreams(values: Iterable[str]) -> dict[str, str]:
    """``--upstream NAMESPACE=URL`` values; a malformed one is a usage error."""
    result = {}
    for value in values:
        namespace, sep, url = value.partition("=")
        if not sep or not namespace or not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"expected NAMESPACE=http(s)://URL, got {value!r}", param_hint="--upstream")
        if problem := http_url_problem(url):
            raise click.BadParameter(f"{url!r} {problem}", param_hint="--upstream")
        result[namespace] = url.rstrip("/")
    return result


def environment(env_file: Path | None) -> dict[str, str]:
    """The process environment, with ``--env-file`` variables loaded first (the environment wins)."""
    if env_file is None:
        return dict(os.environ)
    from naftiko_runtime.binding import load_env_file

    return {**load_env_file(env_file), **os.environ}


def print_diagnostics(diagnostics: list[Diagnostic], docs: Iterable[Document] = (), *, strict: bool = False,
                      err: bool = True) -> None:
    """Every diagnostic, quoting the source lines of the capability files among ``docs``."""
    from naftiko_runtime.report import format_text, source_lines

    if diagnostics:
        click.echo(format_text(diagnostics, source_lines(docs), strict=strict), err=err)


def load_or_none(paths: Iterable[Path], env: Mapping[str, str], *, strict: bool = False,
                 quiet: bool = False, silent: bool = False, upstreams: Iterable[str] = ()) -> Loaded | None:
    """Load and check (as served together), print every diagnostic; None when it cannot be served
    (``quiet``: the caller says why, in its own words; ``silent``: print nothing)."""
    from naftiko_runtime.app import load

    loaded = load(paths, env, upstreams=upstreams)
    if not silent:
        print_diagnostics(loaded.diagnostics, [c.doc for c in loaded.checked], strict=strict)
    if quiet:
        return None if loaded.failed(strict=strict) or not loaded.capabilities else loaded
    problem = None
    if loaded.failed(strict=strict):
        problem = "refusing to start: the capability has errors (see above)"
    elif not loaded.capabilities:
        problem = "no capability found in " + ", ".join(str(p) for p in paths)
    if problem is None:
        return loaded
    click.echo(f"naftiko: {problem}", err=True)
    return None


def capabilities(paths: Iterable[Path], env: Mapping[str, str], *, strict: bool = False,
                 upstreams: Iterable[str] = ()) -> list[Capability]:
    """The models of ``paths``; on errors, every diagnostic is printed and the command exits 1."""
    loaded = load_or_none(list(paths), env, strict=strict, upstreams=upstreams)
    if loaded is None:
        sys.exit(1)
    return loaded.capabilities
