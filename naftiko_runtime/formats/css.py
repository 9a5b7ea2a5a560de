"""The CSS selector subset that scopes html tables: type, ``*``, ``#id``, ``.class``, attribute
selectors, descendant and child combinators, and selector lists."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from naftiko_runtime.formats._text import excerpt

if TYPE_CHECKING:  # html imports this module at run time
    from naftiko_runtime.formats.html import Element

@dataclass(frozen=True, slots=True)
class _Compound:
    tag: str | None = None
    ids: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str | None, str], ...] = ()  # (name, operator or None, value)


@dataclass(frozen=True, slots=True)
class _Complex:
    compounds: tuple[_Compound, ...]
    combinators: tuple[str, ...]  # between compounds: " " (descendant) or ">" (child)


class SelectorError(ValueError):
    pass


_IDENT = r"-?[_a-zA-Z\u0080-\uffff][_a-zA-Z0-9\u0080-\uffff-]*"


@functools.cache
def _selector_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(tag, #id/.class, [attr]) patterns, compiled on first use: the non-ASCII ranges take about
    20 ms to compile, which every ``serve`` and ``validate`` start would otherwise pay."""
    return (
        re.compile(rf"\*|{_IDENT}"),
        re.compile(rf"([#.])({_IDENT})"),
        re.compile(rf"""\[\s*({_IDENT})\s*(?:([~|^$*]?=)\s*(?:"([^"]*)"|'([^']*)'|([^\s\]"']+))\s*)?\]"""),
    )


def check_css_selector(selector: str) -> str | None:
    """An error message when ``selector`` is outside the supported CSS subset, else None."""
    try:
        parse_selector(selector)
    except SelectorError as exc:
        return str(exc)
    return None


def parse_selector(selector: str) -> tuple[_Complex, ...]:
    groups: list[_Complex] = []
    for part in _split_groups(selector):
        groups.append(_parse_complex(part, selector))
    return tuple(groups)


def _split_groups(selector: str) -> list[str]:
    """Split on commas that are not inside an attribute selector's brackets or quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(selector):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'" and depth:
            quote = char
        elif char in "[]":
            depth += 1 if char == "[" else -1
        elif char == "," and not depth:
            parts.append(selector[start:index])
            start = index + 1
    parts.append(selector[start:])
    return parts


def _selector_error(selector: str, reason: str) -> SelectorError:
    return SelectorError(f"unsupported CSS selector {excerpt(selector)!r}: {reason}")


def _parse_complex(text: str, selector: str) -> _Complex:
    compounds: list[_Compound] = []
    combinators: list[str] = []
    pos, end = 0, len(text)
    pos = _skip_space(text, pos)
    if pos >= end:
        raise _selector_error(selector, "empty selector")
    while True:
        compound, pos = _parse_compound(text, pos, selector)
        compounds.append(compound)
        after = _skip_space(text, pos)
        if after >= end:
            break
        char = text[after]
        if char == ">":
            combinators.append(">")
            pos = _skip_space(text, after + 1)
        elif char in "+~":
            raise _selector_error(selector, f"the {char!r} combinator is not supported")
        elif after > pos:
            combinators.append(" ")
            pos = after
        else:
            raise _selector_error(selector, f"unexpected {char!r} at position {after + 1}")
        if pos >= end:
            raise _selector_error(selector, "a combinator must be followed by a selector")
    return _Complex(tuple(compounds), tuple(combinators))


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _parse_compound(text: str, pos: int, selector: str) -> tuple[_Compound, int]:
    tag_re, simple_re, attr_re = _selector_patterns()
    tag, has_type = None, False
    if match := tag_re.match(text, pos):
        tag, has_type = (None if match.group() == "*" else match.group().lower()), True
        pos = match.end()
    start_pos = pos
    ids: list[str] = []
    classes: list[str] = []
    attrs: list[tuple[str, str | None, str]] = []
    while pos < len(text):
        if match := simple_re.match(text, pos):
            (ids if match.group(1) == "#" else classes).append(match.group(2))
        elif match := attr_re.match(text, pos):
            name, operator, *values = match.groups()
            value = next((v for v in values if v is not None), "")
            attrs.append((name.lower(), operator, value))
        elif text[pos] == ":":
            raise _selector_error(selector, "pseudo-classes and pseudo-elements are not supported")
        else:
            break
        pos = match.end()
    if not has_type and pos == start_pos:
        raise _selector_error(selector, f"unexpected {text[pos]!r} at position {pos + 1}")
    return _Compound(tag, tuple(ids), tuple(classes), tuple(attrs)), pos


def _attr_matches(actual: str | None, operator: str | None, expected: str) -> bool:
    if actual is None:
        return False
    match operator:
        case None:
            return True
        case "=":
            return actual == expected
        case "~=":
            return expected in actual.split()
        case "|=":
            return actual == expected or actual.startswith(expected + "-")
        case "^=":
            return bool(expected) and actual.startswith(expected)
        case "$=":
            return bool(expected) and actual.endswith(expected)
        case _:  # "*="
            return bool(expected) and expected in actual


def _compound_matches(compound: _Compound, element: Element) -> bool:
    if compound.tag is not None and compound.tag != element.tag:
        return False
    if any(element.attrs.get("id") != ident for ident in compound.ids):
        return False
    classes = element.attrs.get("class", "").split()
    if any(name not in classes for name in compound.classes):
        return False
    return all(_attr_matches(element.attrs.get(n), op, v) for n, op, v in compound.attrs)


class Matcher:
    """Right-to-left selector matching, memoised so deep documents stay linear-ish."""

    def __init__(self, groups: tuple[_Complex, ...]) -> None:
        self._groups = groups
        self._memo: dict[tuple[int, int, int], bool] = {}

    def matches(self, element: Element) -> bool:
        return any(
            self._match(group_index, len(group.compounds) - 1, element)
            for group_index, group in enumerate(self._groups)
        )

    def _match(self, group_index: int, index: int, element: Element) -> bool:
        key = (group_index, index, id(element))
        if key not in self._memo:
            self._memo[key] = self._compute(group_index, index, element)
        return self._memo[key]

    def _compute(self, group_index: int, index: int, element: Element) -> bool:
        group = self._groups[group_index]
        if not _compound_matches(group.compounds[index], element):
            return False
        if index == 0:
            return True
        ancestor = element.parent
        if group.combinators[index - 1] == ">":
            return (
                ancestor is not None
                and ancestor.parent is not None
                and self._match(group_index, index - 1, ancestor)
            )
        while ancestor is not None and ancestor.parent is not None:  # the document node never matches
            if self._match(group_index, index - 1, ancestor):
                return True
            ancestor = ancestor.parent
        return False

