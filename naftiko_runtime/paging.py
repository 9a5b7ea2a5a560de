"""Declarative pagination: fetch the pages of a consumed operation that declares ``pagination``.

In ``merge`` mode (the default) the pages are fetched one after another, within the declared caps
(``maxPages``, ``maxItems``), and their items merged into the last page's answer, so the caller sees
one answer with every item. When a cap stops it while the upstream has more, the call's context
says so (``CallContext.truncated``) and each adapter tells the caller: MCP adds a text note (and
``_meta``), REST and skill calls a ``Naftiko-Truncated`` header, ``naftiko call`` a line on stderr.
In ``page`` mode one page is fetched and an opaque ``continuation`` token is returned beside the
result; the unit takes it back as its ``continuation`` input.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from naftiko_runtime import jsontext
from naftiko_runtime.errors import InputError
from naftiko_runtime.model import Operation, Pagination

__all__ = ["CONTINUATION", "TRUNCATED_HEADER", "Pages", "fetch_pages", "truncation_header", "truncation_note"]

CONTINUATION = "continuation"
TRUNCATED_HEADER = "Naftiko-Truncated"
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)

Fetch = Callable[[Mapping[str, Any], "str | None"], Awaitable[tuple[Any, Any]]]


@dataclass(slots=True)
class Pages:
    """What was fetched: the answer to give (items merged), and where the next page would start."""

    tree: Any
    response: Any
    pages: int
    truncated: bool
    following: dict[str, Any] | None  # the next page's position, None when there is none
    items: int = 0  # how many items the answer holds

    def truncation(self, pagination: Pagination) -> dict[str, Any] | None:
        """What a caller is told when merged pages stopped at a cap while the upstream had more."""
        if not self.truncated:
            return None
        by_items = self.items >= pagination.max_items
        return {"reason": "maxItems" if by_items else "maxPages",
                "limit": pagination.max_items if by_items else pagination.max_pages,
                "pages": self.pages, "items": self.items}


def truncation_note(truncated: Mapping[str, Any]) -> str:
    """The sentence that tells a caller (a person or a model) the answer is incomplete."""
    return (f"This result may be incomplete: paging stopped at {truncated['reason']} ({truncated['limit']}) "
            f"after {truncated['pages']} page(s) and {truncated['items']} item(s) while the upstream offered "
            "another page. Narrow the request (filters), or raise the operation's pagination caps.")


def truncation_header(truncated: Mapping[str, Any]) -> str:
    """``Naftiko-Truncated`` header value: ``maxPages; limit=3; pages=3; items=30``."""
    return f"{truncated['reason']}; limit={truncated['limit']}; pages={truncated['pages']}; items={truncated['items']}"


def _size(pagination: Pagination, params: Mapping[str, Any]) -> int | None:
    """The page size asked for: the caller's own value of ``sizeParam`` wins over ``size``."""
    asked = params.get(pagination.size_param) if pagination.size_param else None
    try:
        return int(asked) if asked is not None else pagination.size
    except (TypeError, ValueError):
        return pagination.size


def _position(pagination: Pagination, page: int, offset: int, tree: Any, response: Any,
              items: list[Any], size: int | None) -> dict[str, Any] | None:
    """Where the page after this one starts, from what this one said."""
    if pagination.type == "link":
        match = _LINK_NEXT.search(response.headers.get("link", "") if response is not None else "")
        return {"url": match.group(1)} if match else None
    if not items or (size is not None and len(items) < size):
        return None  # an empty or short page is the last one
    if pagination.type == "cursor":
        token = pagination.next.find(tree) if pagination.next is not None else None
        return {"cursor": token} if token not in (None, "", [], {}) else None
    if pagination.type == "offset":
        return {"offset": offset + (size or len(items))}
    return {"page": page + 1}


def _params(pagination: Pagination, params: Mapping[str, Any], position: dict[str, Any]) -> dict[str, Any]:
    """The operation's parameters asking for the page at ``position``."""
    out = dict(params)
    value = position.get("cursor", position.get("offset", position.get("page")))
    if pagination.param and value is not None:
        out[pagination.param] = value
    if pagination.size_param and pagination.size is not None:
        out.setdefault(pagination.size_param, pagination.size)
    return out


def _items(pagination: Pagination, tree: Any) -> list[Any]:
    found = pagination.items.find(tree) if pagination.items is not None else tree
    return found if isinstance(found, list) else []


def _with_items(pagination: Pagination, tree: Any, items: list[Any]) -> Any:
    """``tree`` with its items replaced by ``items`` (a simple ``$.a.b`` path, or the whole answer)."""
    expression = (pagination.items_expression or "$").strip()
    if expression in ("$", "$."):
        return items
    keys = expression.removeprefix("$").lstrip(".").split(".")
    if not isinstance(tree, dict) or not all(re.fullmatch(r"[\w-]+", k) for k in keys):
        return tree
    merged = dict(tree)
    holder = merged
    for key in keys[:-1]:
        child = holder.get(key)
        if not isinstance(child, dict):
            return tree
        holder[key] = dict(child)
        holder = holder[key]
    holder[keys[-1]] = items
    return merged


def encode(op: Operation, position: dict[str, Any]) -> str:
    text = json.dumps({"op": op.ref, **position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(op: Operation, token: Any) -> dict[str, Any]:
    problem = [{"pointer": f"/{CONTINUATION}", "message": "is not a continuation this tool gave"}]
    try:
        data = jsontext.loads(base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)))
    except (ValueError, TypeError):
        raise InputError(problem, operation=op.ref) from None
    if not isinstance(data, dict) or data.pop("op", None) != op.ref:
        raise InputError(problem, operation=op.ref)
    return data


async def fetch_pages(op: Operation, params: Mapping[str, Any], fetch: Fetch) -> Pages:
    """Fetch ``op``'s pages as its ``pagination`` says, calling ``fetch(params, url)`` per page."""
    pagination = op.pagination
    assert pagination is not None
    start: dict[str, Any] = {"page": pagination.start} if pagination.type == "page" else \
        {"offset": pagination.start} if pagination.type == "offset" else {}
    position = decode(op, params[CONTINUATION]) if params.get(CONTINUATION) else start
    args = {k: v for k, v in params.items() if k != CONTINUATION}
    size = _size(pagination, args)
    limit = 1 if pagination.mode == "page" else pagination.max_pages
    merged: list[Any] = []
    tree = response = None
    pages, following = 0, None
    while pages < limit:
        tree, response = await fetch(_params(pagination, args, position), position.get("url"))
        pages += 1
        items = _items(pagination, tree)
        merged += items
        following = _position(pagination, position.get("page", 0), position.get("offset", 0), tree, response,
                              items, size)
        if following is None or len(merged) >= pagination.max_items:
            break
        position = following
    truncated = following is not None and pagination.mode == "merge"
    if len(merged) > pagination.max_items:
        merged, truncated = merged[: pagination.max_items], True
    answer = tree if pagination.mode == "page" else _with_items(pagination, tree, merged)
    return Pages(answer, response, pages, truncated, following, len(merged))
