"""The syntax of references, defined once for the model, the rules and the runtime.

* Path placeholders: ``{x}`` or ``{{x}}`` in consumed and exposed paths.
* ``with`` values that are references: ``<prefix>.<name>``, where the prefix is ``tools`` or
  ``rest`` (the published dialect's "this unit's input"), the unit's own adapter namespace, an
  earlier step's name (``<step>.<field>``), or another adapter's namespace (which names nothing
  here, so it is unresolved rather than sent as literal text).
* ``{{env.NAME}}``: the environment variable NAME when no bind declares it.
* ``{{tools.NAME}}`` / ``{{rest.NAME}}`` in a consumed template: the caller's value NAME (the
  published dialect writes them in request bodies).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from naftiko_runtime.model.units import Argument, Source, StepOutput, Unresolved

__all__ = [
    "ARGUMENT_PREFIXES",
    "ENV_PREFIX",
    "PATH_PLACEHOLDER",
    "caller_value",
    "classify",
    "env_variable",
    "placeholders",
    "substitute_placeholders",
]

# A path placeholder, `{x}` or `{{x}}`.
PATH_PLACEHOLDER = re.compile(r"\{\{?\s*([A-Za-z0-9_.\-]+)\s*\}?\}")
# `prefix.name` or `prefix.name.more`: the shape of a reference in a `with` value.
_REFERENCE = re.compile(r"^([A-Za-z0-9_-]+)\.([A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_*-]+)*)$")
ARGUMENT_PREFIXES = ("tools", "rest")
ENV_PREFIX = "env."


def placeholders(path: str) -> tuple[str, ...]:
    """Names of the placeholders of a path, in order, once each."""
    return tuple(dict.fromkeys(PATH_PLACEHOLDER.findall(path)))


def substitute_placeholders(path: str, replace: dict[str, str]) -> str:
    """``path`` with each placeholder replaced by ``replace[name]`` (kept as is when absent)."""
    return PATH_PLACEHOLDER.sub(lambda m: replace.get(m.group(1), m.group(0)), path)


def classify(value: object, *, namespace: str, steps_before: Collection[str] = (),
             steps_after: Collection[str] = (), foreign: Iterable[str] = (),
             consumed: Iterable[str] = ()) -> Source | None:
    """What a ``with`` value refers to, or None when it is a literal or a template.

    ``namespace`` is the unit's adapter namespace; ``steps_before``/``steps_after`` the unit's step
    names that run before/after the value is read; ``foreign`` other adapters' namespaces;
    ``consumed`` the consumed APIs' namespaces."""
    if not isinstance(value, str):
        return None
    prefix, dot, rest = value.partition(".")
    if dot and (prefix in ARGUMENT_PREFIXES or prefix == namespace) and "{" not in value:
        # Any name after the prefix: real APIs have inputs such as `filters.alertAction` or `JSON PUT body`.
        return Argument(rest) if rest.strip() else Unresolved(prefix, rest, "input")
    match = _REFERENCE.match(value)
    if match is None:
        return None
    prefix, rest = match.groups()
    if prefix in steps_before:
        return StepOutput(prefix, rest)
    if prefix in steps_after:
        return Unresolved(prefix, rest, "step")
    if prefix in set(foreign):
        return Unresolved(prefix, rest, "foreign")
    if prefix in set(consumed):
        return Unresolved(prefix, rest, "consumed")
    return None


def caller_value(name: str) -> str | None:
    """``tools.NAME`` / ``rest.NAME`` in a template -> ``NAME``; anything else None."""
    prefix, _, rest = name.partition(".")
    return rest if prefix in ARGUMENT_PREFIXES and rest else None


def env_variable(name: str) -> str | None:
    """``env.NAME`` -> ``NAME``; anything else None."""
    if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX) and "." not in name[len(ENV_PREFIX):]:
        return name[len(ENV_PREFIX):]
    return None
