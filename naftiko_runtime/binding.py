"""Stage 5, bind: ``binds`` (environment or file) -> variable values, typed as secrets.

Every missing variable or key is reported at once, by name; values never appear in messages.
Each value is available to templates as ``VAR`` and as ``namespace.VAR``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from naftiko_runtime.errors import BindingError
from naftiko_runtime.load import resolve_location
from naftiko_runtime.model import Bind
from naftiko_runtime.templates import Secret


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
                missing.append(var if bind.location is None else f"{var} (key '{key}' in {bind.location})")
                continue
            secret = Secret(value if isinstance(value, str) else json.dumps(value))
            values[var] = secret
            values[f"{bind.namespace}.{var}"] = secret
    if missing or problems:
        raise BindingError(sorted(dict.fromkeys(missing)), "; ".join(problems))
    return values


def _source(bind: Bind, env: Mapping[str, str]) -> tuple[Mapping[str, Any], str | None]:
    """Where a bind's keys are looked up: the environment, or a JSON/YAML file."""
    if bind.location is None:
        return env, None
    if not bind.location.startswith("file://"):
        scheme = bind.location.split("://", 1)[0]
        return {}, f"bind '{bind.namespace}': {scheme}:// locations are not supported (use file:// or env)"
    path = _find(bind.location, bind.base_dir)
    if path is None:
        return {}, f"bind '{bind.namespace}': file {bind.location} not found"
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return {}, f"bind '{bind.namespace}': cannot read {bind.location} ({type(exc).__name__})"
    if not isinstance(data, dict):
        return {}, f"bind '{bind.namespace}': {bind.location} must hold a mapping"
    return data, None


def _find(location: str, base_dir: Path) -> Path | None:
    """Relative file binds: the capability's folder first, then the working directory."""
    for base in (base_dir, Path.cwd()):
        path = resolve_location(location, base)
        if path.is_file():
            return path
    return None


def load_env_file(path: str | Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` prefix, quotes and ``#`` comments allowed)."""
    result: dict[str, str] = {}
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result[key.strip()] = value
    return result
