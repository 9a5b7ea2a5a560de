"""Stage 6, bind: ``binds`` (environment or file) -> variable values, typed as secrets.

Every missing variable or key is reported at once, by name; values never appear in messages.
Each value is available to templates as ``VAR`` and as ``namespace.VAR``; an implicit bind (made
for ``{{env.X}}`` with no ``binds`` entry) only as ``env.X``, so it never shadows a declared one.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from naftiko_runtime.errors import BindingError, ConfigError
from naftiko_runtime.load import resolve_location
from naftiko_runtime.model import Bind
from naftiko_runtime.secrets import Secret
from naftiko_runtime.source import parse


def resolve_binds(binds: Iterable[Bind], env: Mapping[str, str], *,
                  defaults: Mapping[str, str] | None = None) -> dict[str, Secret]:
    """Resolve every bind. ``defaults`` fill variables that may stay unset (sandbox credentials)."""
    values: dict[str, Secret] = {}
    missing: list[str] = []
    problems: list[str] = []
    for bind in binds:
        source, problem = _source(bind, env)
        if problem:
            problems.append(problem)
            missing.extend(bind.keys)
            continue
        for var, key in bind.keys.items():
            value = source.get(key)
            if value is None and defaults and var in defaults:
                value = defaults[var]
            if value is None:
                missing.append(_describe_missing(bind, var, key))
                continue
            secret = Secret(_text(value))
            if not bind.implicit:
                values[var] = secret
            values[f"{bind.namespace}.{var}"] = secret
    if missing or problems:
        raise BindingError(sorted(dict.fromkeys(missing)), "; ".join(problems))
    return values


def _text(value: Any) -> str:
    """Bind values are text: numbers and booleans as JSON spells them, dates as written (ISO)."""
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value, default=str)


def _describe_missing(bind: Bind, var: str, key: str) -> str:
    """The variable, and what to set when that is another name: never a value."""
    if bind.location is not None:
        return f"{var} (key '{key}' in {bind.location})"
    return var if key == var else f"{var} (environment variable {key})"


def _source(bind: Bind, env: Mapping[str, str]) -> tuple[Mapping[str, Any], str | None]:
    """Where a bind's keys are looked up: the environment, or a JSON/YAML file."""
    if bind.location is None:
        return env, None
    if not bind.location.startswith("file://"):
        if "://" not in bind.location:
            return {}, f"bind '{bind.namespace}': location must be a URI such as file:///./secrets.yaml"
        scheme = bind.location.split("://", 1)[0]
        return {}, f"bind '{bind.namespace}': {scheme}:// locations are not supported (use file:// or env)"
    path = _find(bind.location, bind.base_dir)
    if path is None:
        return {}, f"bind '{bind.namespace}': file {bind.location} not found"
    try:
        text = path.read_text(encoding="utf-8")
        data = _yaml(text, str(path)) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError) as exc:
        return {}, f"bind '{bind.namespace}': cannot read {bind.location} ({type(exc).__name__})"
    if not isinstance(data, dict):
        return {}, f"bind '{bind.namespace}': {bind.location} must hold a mapping"
    return data, None


def _yaml(text: str, file: str) -> Any:
    source, problems = parse(text, file)
    if problems and source.data is None:
        raise ValueError("not valid YAML")
    return source.data


def _find(location: str, base_dir: Path) -> Path | None:
    """Relative file binds: the capability's folder first, then the working directory."""
    for base in (base_dir, Path.cwd()):
        path = resolve_location(location, base)
        if path.is_file():
            return path
    return None


def load_env_file(path: str | Path) -> dict[str, str]:
    """``KEY=VALUE`` lines: ``export`` prefix, single or double quotes, ``#`` comments (whole-line or
    after an unquoted value), blank lines. Later lines win. Malformed lines are skipped; a file that
    cannot be read as UTF-8 text is a ConfigError naming it."""
    result: dict[str, str] = {}
    for raw in _env_text(Path(path)).splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export") and line[6:7].isspace():
            line = line[6:].lstrip()
        key, _, value = line.partition("=")
        key = key.strip()
        if _ENV_NAME.match(key):
            result[key] = _env_value(value.strip())
    return result


def _env_text(path: Path) -> str:
    """The file as text, or a ConfigError naming it and why (never quoting what it holds)."""
    try:
        data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    except OSError as exc:
        raise ConfigError(f"cannot read env file {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The line only: the bytes around the bad one may be part of a secret.
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"cannot read env file {path}: not UTF-8 text (line {line})") from None


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def _env_value(value: str) -> str:
    if value[:1] == "'":
        end = value.find("'", 1)
        return value[1:end] if end > 0 else value  # single quotes are literal
    if value[:1] == '"':
        out: list[str] = []
        i = 1
        while i < len(value):
            char = value[i]
            if char == "\\" and i + 1 < len(value):
                out.append(_ESCAPES.get(value[i + 1], "\\" + value[i + 1]))
                i += 2
                continue
            if char == '"':
                return "".join(out)
            out.append(char)
            i += 1
        return value  # no closing quote: keep the text as written
    comment = re.search(r"\s#", value)
    return (value[: comment.start()] if comment else value).rstrip()
