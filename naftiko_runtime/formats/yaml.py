"""yaml (and markdown front matter): a safe load, then plain JSON values; and writing YAML.

With ``source`` (which composes capability files with positions), the only module of the package
that imports PyYAML: whatever writes YAML (``naftiko import openapi``, ``naftiko convert``) calls
``dump_yaml``.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

import yaml

from naftiko_runtime.formats._text import decode, excerpt, fail

# A YAML alias bomb stays small in memory but explodes once walked; cap the walk.
_MAX_NODES = 1_000_000
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def convert_yaml(body: bytes, _schema: str | None, content_type: str | None) -> Any:
    return load_yaml(decode(body, "yaml", content_type), "yaml")


def load_yaml(text: str, fmt: str) -> Any:
    """``text`` as JSON values; failures are a ``DecodeError`` naming ``fmt``."""
    try:
        data = yaml.load(text, Loader=_LOADER)  # the C or Python *safe* loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise fail(fmt, f"{exc.problem or exc.context or 'invalid YAML'}{where}") from None
    except yaml.YAMLError as exc:
        raise fail(fmt, excerpt(str(exc).splitlines()[0] if str(exc) else "invalid YAML")) from None
    except RecursionError:
        raise fail(fmt, "nesting is too deep") from None
    except (ValueError, TypeError) as exc:  # e.g. an integer longer than Python's digit limit
        raise fail(fmt, excerpt(str(exc))) from None
    try:
        return _jsonable(data, [_MAX_NODES])
    except RecursionError:
        raise fail(fmt, "nesting is too deep or aliases are recursive") from None
    except OverflowError:
        raise fail(fmt, f"document expands to more than {_MAX_NODES} values") from None


def dump_yaml(doc: Any) -> str:
    """A document (JSON values; mappings such as ``MappingProxyType`` too) as YAML text, keys in document
    order, strings that look like other types quoted, so the text loads back to the same values."""
    return yaml.safe_dump(_plain(doc), sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _jsonable(value: Any, budget: list[int]) -> Any:
    """Turn a PyYAML tree into JSON values: dates as ISO text, NaN/inf as null, keys as text."""
    budget[0] -= 1
    if budget[0] < 0:
        raise OverflowError
    if isinstance(value, dict):
        return {_json_key(key): _jsonable(item, budget) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item, budget) for item in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/Infinity; null is what JavaScript's JSON.stringify does
    if isinstance(value, bytes):
        return codecs.encode(value, "base64").decode("ascii").replace("\n", "")
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, dt.date | dt.datetime):
        return key.isoformat()
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return str(key)
