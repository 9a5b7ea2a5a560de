"""xml, folded the way Jackson's XmlMapper reads a tree: the root element is dropped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from naftiko_runtime.formats._text import decode, fail

_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


def convert_xml(body: bytes, _schema: str | None, content_type: str | None) -> Any:
    declared = _DECL_ENCODING.match(bytes(body[:256])) if not isinstance(body, str) else None
    text = decode(body, "xml", content_type, declared.group(1).decode("ascii") if declared else None)
    if not text.strip():
        return None
    try:
        # Any DTD is refused, and with it every entity declaration: no expansion bombs, no
        # external lookups. defusedxml's own messages may quote a system id, so they are not echoed.
        root = fromstring(text, forbid_dtd=True)
    except DefusedXmlException:
        raise fail("xml", "DTDs and entity declarations are not allowed") from None
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
