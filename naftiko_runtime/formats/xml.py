"""xml, folded the way Jackson's XmlMapper reads a tree: the root element is dropped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from naftiko_runtime.formats._text import decode, fail

_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_UNSAFE = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def convert_xml(body: bytes, _schema: str | None, content_type: str | None) -> Any:
    declared = _DECL_ENCODING.match(bytes(body[:256])) if not isinstance(body, str) else None
    text = decode(body, "xml", content_type, declared.group(1).decode("ascii") if declared else None)
    if not text.strip():
        return None
    unsafe = _UNSAFE.search(text)
    if unsafe:
        # DTDs are refused outright: no entity expansion, no external lookups.
        raise fail("xml", f"<!{unsafe.group(1).upper()} declarations are not allowed")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise fail("xml", str(exc)) from None
    try:
        return _fold_element(root)
    except RecursionError:
        raise fail("xml", "nesting is too deep") from None


def _local_name(name: str) -> str:
    return name.rpartition("}")[2] if name.startswith("{") else name


def _fold_element(elem: ET.Element) -> Any:
    """Attributes and children become fields, repeats become arrays, text-only elements strings."""
    children = list(elem)
    if not children and not elem.attrib:
        return elem.text if elem.text and elem.text.strip() else ""
    fields: dict[str, list[Any]] = {}
    for name, value in elem.attrib.items():
        fields.setdefault(_local_name(name), []).append(value)
    for child in children:
        fields.setdefault(_local_name(child.tag), []).append(_fold_element(child))
    text = "".join(piece for piece in [elem.text, *(c.tail for c in children)] if piece)
    if text.strip():
        fields.setdefault("", []).append(text)
    return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}
