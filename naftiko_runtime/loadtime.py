"""Load-time templates ``<<env.X>>``: rendered once, before validation, with a sandboxed jinja2
environment whose delimiters are ``<< >>`` (variables), ``<% %>`` (blocks) and ``<# #>`` (comments).

Kept apart from ``templates`` so that jinja2 (about 15 ms and 2 MiB) is imported only when a file
uses load-time templates; ``naftiko_runtime.templates`` still re-exports these names.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes as jnodes
from jinja2.runtime import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

__all__ = ["LoadTimeProblem", "load_time_names", "render_load_time"]


# --------------------------------------------------------------------------------------------------
# Load-time templates (<<env.NAME>>)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadTimeProblem:
    pointer: str
    name: str | None
    message: str


class _MissingName(jinja2.UndefinedError):
    def __init__(self, message: str, owner: Any, name: Any) -> None:
        super().__init__(message)
        self.owner = owner
        self.name = name


class _Undefined(StrictUndefined):
    """StrictUndefined whose error says which name, and on which object, was missing."""

    __slots__ = ()

    def __init__(self, hint: str | None = None, obj: Any = missing, name: Any = None, exc: Any = None):
        if exc is not None and exc is not jinja2.UndefinedError:  # e.g. the sandbox's SecurityError
            super().__init__(hint, obj, name, exc)
            return

        def failure(message: str) -> _MissingName:
            return _MissingName(message, obj, name)

        super().__init__(hint, obj, name, failure)  # type: ignore[arg-type]


class _Env:
    """The ``env`` namespace: attribute and item access read variables; nothing else is exposed."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]


_LOAD_MARKER = re.compile(r"<<.*?>>|<%.*?%>", re.DOTALL)
_WHOLE_EXPRESSION = re.compile(r"^<<((?:(?!<<|>>).)*)>>$", re.DOTALL)
_CORE_INT = re.compile(r"^[-+]?[0-9]+$")
_CORE_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_CORE_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_MAX_MISSING_PER_STRING = 64
_ENV_REFERENCE = re.compile(r"""\benv(?:\.(\w+)|\[\s*['"]([^'"]+)['"]\s*\])""")


@functools.lru_cache(maxsize=1)
def _load_env() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        variable_start_string="<<",
        variable_end_string=">>",
        block_start_string="<%",
        block_end_string="%>",
        comment_start_string="<#",
        comment_end_string="#>",
        undefined=_Undefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


@functools.lru_cache(maxsize=1024)
def _compile_load(text: str) -> jinja2.Template:
    return _load_env().from_string(text)


def _pointer(parts: Sequence[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _core_scalar(text: str) -> Any:
    """YAML 1.2 core-schema reading of an int, float or bool; anything else stays text."""
    if _CORE_INT.match(text):
        return int(text)
    if re.match(r"^0o[0-7]+$", text):
        return int(text[2:], 8)
    if re.match(r"^0x[0-9a-fA-F]+$", text):
        return int(text[2:], 16)
    if _CORE_FLOAT.match(text):
        return float(text)
    return _CORE_BOOL.get(text, text)


def _render_string(text: str, env: Mapping[str, Any], pointer: str) -> tuple[str | None, list[LoadTimeProblem]]:
    """Render one string; on missing names, retry with placeholders so every missing name is reported."""
    try:
        template = _compile_load(text)
    except jinja2.TemplateSyntaxError as exc:
        return None, [LoadTimeProblem(pointer, None, f"invalid load-time template: {exc.message}")]
    problems: list[LoadTimeProblem] = []
    values: dict[str, Any] = dict(env)
    names: dict[str, Any] = {}
    for _ in range(_MAX_MISSING_PER_STRING):
        namespace = _Env(values)
        try:
            rendered = template.render({**names, "env": namespace})
        except _MissingName as exc:
            if exc.owner is namespace and isinstance(exc.name, str):
                message = f"environment variable {exc.name!r} is not set"
                problems.append(LoadTimeProblem(pointer, exc.name, message))
                values[exc.name] = ""
                continue
            if exc.owner is missing and isinstance(exc.name, str) and exc.name not in names:
                message = f"unknown name {exc.name!r}: load-time templates read variables as env.NAME"
                problems.append(LoadTimeProblem(pointer, None, message))
                names[exc.name] = ""
                continue
            problems.append(LoadTimeProblem(pointer, None, "load-time template uses an undefined value"))
        except Exception as exc:  # any other failure: report its kind, never the values involved
            problems.append(LoadTimeProblem(pointer, None, f"load-time template failed: {type(exc).__name__}"))
        else:
            return (None if problems else rendered), problems
        break
    return None, problems


def render_load_time(
    data: Any, env: Mapping[str, str], typed: Callable[[str], bool] | None = None
) -> tuple[Any, list[LoadTimeProblem]]:
    """Render every ``<<...>>`` string in a plain data tree; return the new tree and all problems.

    A string made of exactly one ``<<...>>`` expression, at a pointer where ``typed`` says the author
    wrote a plain (unquoted) scalar, becomes an int/float/bool when its text reads as one.
    Strings that fail keep their original text so later stages still see something.
    """
    problems: list[LoadTimeProblem] = []

    def walk(node: Any, path: list[str | int]) -> Any:
        if isinstance(node, Mapping):
            return {key: walk(value, [*path, str(key)]) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, [*path, index]) for index, value in enumerate(node)]
        if not isinstance(node, str) or not _LOAD_MARKER.search(node):
            return node
        pointer = _pointer(path)
        rendered, found = _render_string(node, env, pointer)
        problems.extend(found)
        if rendered is None:
            return node
        if _WHOLE_EXPRESSION.match(node) and (typed is None or typed(pointer)):
            return _core_scalar(rendered)
        return rendered

    return walk(data, []), problems


def load_time_names(text: str) -> list[str]:
    """Environment variable names a load-time template reads (``env.X`` and ``env['X']``)."""
    if not _LOAD_MARKER.search(text):
        return []
    try:
        tree = _load_env().parse(text)
    except jinja2.TemplateSyntaxError:  # best effort on broken text: scan each marker
        markers = " ".join(m.group(0) for m in _LOAD_MARKER.finditer(text))
        return list(dict.fromkeys(a or b for a, b in _ENV_REFERENCE.findall(markers)))
    found: dict[str, None] = {}
    for node in tree.find_all((jnodes.Getattr, jnodes.Getitem)):
        assert isinstance(node, jnodes.Getattr | jnodes.Getitem)
        owner = node.node
        if not (isinstance(owner, jnodes.Name) and owner.name == "env"):
            continue
        if isinstance(node, jnodes.Getattr):
            found[node.attr] = None
        elif isinstance(node.arg, jnodes.Const) and isinstance(node.arg.value, str):
            found[node.arg.value] = None
    return list(found)
