"""The Ikanos dialect (``ikanos: "1.0.0-beta5"``): one table of how it differs from Naftiko, walked
both ways.

Ikanos is the renamed successor of Naftiko. Its documents say the same things in another shape:

* keyed maps instead of lists of objects with a ``name`` (tools, operations, resources, steps,
  parameters, prompts and their arguments, skills and their tools, orchestrated output fields,
  aggregate flows): ``tools: {get-ship: {...}}`` is ``tools: [{name: get-ship, ...}]``;
* ``display`` for ``label``, ``target`` for ``targetName`` (step mappings), ``flows`` for
  ``functions`` (aggregates);
* ``from`` + ``import`` entries in every section (``consumes``, ``exposes``, ``aggregates``,
  ``binds``) for Naftiko's ``location`` + ``import``.

``to_naftiko`` turns an Ikanos document into the Naftiko shape the rest of the runtime reads and
returns a ``PointerMap`` from every normalised JSON pointer back to the text the author wrote, so
that a diagnostic about ``/capability/exposes/0/tools/1/name`` points at the key ``get-ship:``.
``to_ikanos`` is the inverse, for ``naftiko convert``. Both are driven by ``ROOT`` below, so the
two directions cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from naftiko_runtime.source import join

VERSIONS = ("1.0.0-beta3", "1.0.0-beta4", "1.0.0-beta5")  # read with the beta5 rules (keyed maps since beta3)
CURRENT = "1.0.0-beta5"
NAFTIKO_VERSION = "1.0.0-alpha3"  # what a normalised Ikanos document declares
RENAMES = {"display": "label", "target": "targetName", "flows": "functions"}  # Ikanos -> Naftiko
SECTIONS = ("binds", "consumes", "exposes", "aggregates")


@dataclass(frozen=True, slots=True)
class Shape:
    """How one object differs between the dialects.

    ``fields`` maps a (Naftiko) field name to ``(kind, shape)``: ``obj`` an object in both,
    ``list`` a list in both, ``keyed`` an Ikanos map / Naftiko list with ``name``, ``map`` a map in
    both, ``outputs`` output parameters (a map of named fields in Ikanos when orchestrated or
    mocked, a list when mapped), ``named-map`` a map in both whose Naftiko values repeat their key
    as ``name`` (orchestrated object fields). ``renamed`` lists the Ikanos names this object uses for Naftiko
    fields; ``by_type`` picks a shape by the object's ``type`` (exposures).
    """

    fields: dict[str, tuple[str, Shape]] = field(default_factory=dict)
    renamed: tuple[str, ...] = ()
    by_type: dict[str, Shape] | None = None
    unnamed: str | None = None  # Naftiko lets this entry go without a name: its key comes from this field

    def variant(self, value: Any) -> Shape:
        if self.by_type is not None and isinstance(value, dict):
            return self.by_type.get(str(value.get("type")), LEAF)
        return self


LEAF = Shape()
_DISPLAY = ("display",)
# Orchestrated output fields nest: arrays list their element's fields (keyed), objects map theirs.
ORCHESTRATED = Shape()
object.__setattr__(ORCHESTRATED, "fields", {"items": ("keyed", ORCHESTRATED),
                                            "properties": ("named-map", ORCHESTRATED)})
_PARAM = LEAF
_STEP = LEAF
_MAPPING = Shape(renamed=("target",))


def _unit(unnamed: str | None = None) -> Shape:
    """A tool, REST operation, MCP resource or aggregate flow: parameters, steps, mappings, outputs."""
    return Shape({"inputParameters": ("keyed", _PARAM), "steps": ("keyed", _STEP), "mappings": ("list", _MAPPING),
                  "outputParameters": ("outputs", ORCHESTRATED)}, _DISPLAY, unnamed=unnamed)


_CONSUMED_OPERATION = Shape({"inputParameters": ("keyed", _PARAM), "outputParameters": ("keyed", LEAF)}, _DISPLAY)
_CONSUMED_RESOURCE = Shape({"inputParameters": ("keyed", _PARAM), "operations": ("keyed", _CONSUMED_OPERATION)},
                           _DISPLAY)
CONSUMES = Shape({"inputParameters": ("keyed", _PARAM), "resources": ("keyed", _CONSUMED_RESOURCE)})
_REST_RESOURCE = Shape({"inputParameters": ("keyed", _PARAM), "operations": ("keyed", _unit("method"))}, _DISPLAY,
                       unnamed="path")
_PROMPT = Shape({"arguments": ("keyed", Shape(renamed=_DISPLAY))}, _DISPLAY)
_SKILL = Shape({"tools": ("keyed", LEAF)})
EXPOSES = Shape(by_type={
    "rest": Shape({"resources": ("keyed", _REST_RESOURCE)}),
    "mcp": Shape({"tools": ("keyed", _unit()), "resources": ("keyed", _unit()), "prompts": ("keyed", _PROMPT)}),
    "skill": Shape({"skills": ("keyed", _SKILL)}),
})
AGGREGATES = Shape({"functions": ("keyed", _unit())}, ("display", "flows"))
_SECTION_SHAPES = {"binds": LEAF, "consumes": CONSUMES, "exposes": EXPOSES, "aggregates": AGGREGATES}
_CAPABILITY = Shape({name: ("list", shape) for name, shape in _SECTION_SHAPES.items()})
ROOT = Shape({"info": ("obj", Shape(renamed=_DISPLAY)), "capability": ("obj", _CAPABILITY),
              **{name: ("list", shape) for name, shape in _SECTION_SHAPES.items()}})


def naftiko_name(ikanos_field: str, shape: Shape) -> str:
    return RENAMES[ikanos_field] if ikanos_field in shape.renamed else ikanos_field


def ikanos_name(naftiko_field: str, shape: Shape) -> str:
    for ikanos_field in shape.renamed:
        if RENAMES[ikanos_field] == naftiko_field:
            return ikanos_field
    return naftiko_field


def is_import(value: Any) -> bool:
    """An Ikanos section entry that imports from another file (``from`` + ``import``)."""
    return isinstance(value, dict) and "import" in value and isinstance(value.get("from"), str)


def is_naftiko_import(value: Any) -> bool:
    return isinstance(value, dict) and "import" in value and isinstance(value.get("location"), str) \
        and "type" not in value


# --- Ikanos -> Naftiko ----------------------------------------------------------------------------


@dataclass(slots=True)
class PointerMap:
    """Normalised pointer -> pointer in the file as written (``key`` when it is a map key there)."""

    moved: dict[str, str] = field(default_factory=dict)  # prefix -> prefix
    keys: dict[str, str] = field(default_factory=dict)  # synthesised `name` -> the key it came from

    def to_source(self, pointer: str) -> tuple[str, bool]:
        if pointer in self.keys:
            return self.keys[pointer], True
        probe = pointer
        while probe:
            if probe in self.moved:
                return self.moved[probe] + pointer[len(probe):], False
            probe = probe.rsplit("/", 1)[0]
        return pointer, False


@dataclass(slots=True)
class Problem:
    """Something in the Ikanos text that has no Naftiko meaning (reported by the loader)."""

    code: str
    message: str
    pointer: str  # in the file as written
    key: bool = True


@dataclass(slots=True)
class _Normaliser:
    pointers: PointerMap = field(default_factory=PointerMap)
    problems: list[Problem] = field(default_factory=list)

    def value(self, value: Any, kind: str, shape: Shape, src: str, dst: str) -> Any:
        if src != dst:
            self.pointers.moved[dst] = src
        if kind == "obj":
            return self.object(value, shape, src, dst)
        if kind == "list":
            if not isinstance(value, list):
                return value
            return [self.object(item, shape, join(src, i), join(dst, i)) for i, item in enumerate(value)]
        if kind in ("map", "named-map"):
            if not isinstance(value, dict):
                return value
            result = {k: self.value(v, "obj", shape, join(src, k), join(dst, k)) for k, v in value.items()}
            if kind == "named-map":
                for k, v in result.items():
                    if isinstance(v, dict):
                        self.pointers.keys[join(join(dst, k), "name")] = join(src, k)
                        result[k] = {"name": k, **v}
            return result
        if kind == "outputs" and not isinstance(value, dict):
            return value  # mapped outputs: a list in both dialects
        return self.keyed(value, shape, src, dst)

    def keyed(self, value: Any, shape: Shape, src: str, dst: str) -> Any:
        if isinstance(value, list):
            self.problems.append(Problem("ikanos-shape", f"in an Ikanos document `{_last(src)}` is a map keyed "
                                         "by name, not a list", src, key=False))
            return value
        if not isinstance(value, dict):
            return value
        items = []
        for i, (name, item) in enumerate(value.items()):
            here, there = join(src, name), join(dst, i)
            self.pointers.moved[there] = here
            self.pointers.keys[join(there, "name")] = here
            body = self.object({} if item is None else item, shape, here, there)
            if isinstance(body, dict):
                if "name" in body:
                    self.problems.append(Problem("unknown-field", "an Ikanos entry takes its name from its key; "
                                                 "`name` is ignored", join(here, "name")))
                body = {"name": name, **{k: v for k, v in body.items() if k != "name"}}
            items.append(body)
        return items

    def object(self, value: Any, shape: Shape, src: str, dst: str) -> Any:
        if not isinstance(value, dict):
            return value
        if is_import(value):
            imported = {("location" if k == "from" else k): v for k, v in value.items()}
            if "from" in value:
                self.pointers.moved[join(dst, "location")] = join(src, "from")
            return imported
        shape = shape.variant(value)
        result: dict[str, Any] = {}
        for key, child in value.items():
            if key in RENAMES.values() and key not in RENAMES:  # a Naftiko name used in an Ikanos file
                wanted = next(k for k, v in RENAMES.items() if v == key)
                if wanted in shape.renamed:
                    self.problems.append(Problem("unknown-field", f"`{key}` is `{wanted}` in Ikanos; this one is "
                                                 "ignored", join(src, key)))
                    continue
            name = naftiko_name(key, shape)
            here, there = join(src, key), join(dst, name)
            if name in shape.fields:
                kind, sub = shape.fields[name]
                result[name] = self.value(child, kind, sub, here, there)
            else:
                if here != there:
                    self.pointers.moved[there] = here
                result[name] = child
        return result


def to_naftiko(data: dict[str, Any]) -> tuple[dict[str, Any], PointerMap, list[Problem]]:
    """An Ikanos document in the Naftiko shape, where each normalised pointer came from, and problems."""
    walker = _Normaliser()
    body = {k: v for k, v in data.items() if k != "ikanos"}
    result = walker.object(body, ROOT, "", "")
    walker.pointers.moved["/naftiko"] = "/ikanos"
    return {"naftiko": NAFTIKO_VERSION, **result}, walker.pointers, walker.problems


def _last(pointer: str) -> str:
    return pointer.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")


# --- Naftiko -> Ikanos ----------------------------------------------------------------------------


class NotConvertible(ValueError):
    """A Naftiko document that has no Ikanos form (e.g. a list entry without a name)."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer


def to_ikanos(data: dict[str, Any], version: str = CURRENT) -> dict[str, Any]:
    """A (normalised) Naftiko document written the Ikanos way. Raises ``NotConvertible``."""
    body = {k: v for k, v in data.items() if k != "naftiko"}
    return {"ikanos": version, **_obj_out(body, ROOT, "")}


def _obj_out(value: Any, shape: Shape, pointer: str) -> Any:
    if not isinstance(value, dict):
        return value
    if is_naftiko_import(value):
        return {("from" if k == "location" else k): v for k, v in value.items()}
    shape = shape.variant(value)
    result: dict[str, Any] = {}
    for key, child in value.items():
        here = join(pointer, key)
        if key in shape.fields:
            kind, sub = shape.fields[key]
            child = _value_out(child, kind, sub, here)
        result[ikanos_name(key, shape)] = child
    return result


def _value_out(value: Any, kind: str, shape: Shape, pointer: str) -> Any:
    if kind == "obj":
        return _obj_out(value, shape, pointer)
    if kind == "list":
        return [_obj_out(v, shape, join(pointer, i)) for i, v in enumerate(value)] if isinstance(value, list) \
            else value
    if kind in ("map", "named-map"):
        if not isinstance(value, dict):
            return value
        out = {k: _obj_out(v, shape, join(pointer, k)) for k, v in value.items()}
        if kind == "named-map":
            out = {k: {f: x for f, x in v.items() if f != "name"} if isinstance(v, dict) else v for k, v in out.items()}
        return out
    if not isinstance(value, list):
        return value
    named = [isinstance(v, dict) and isinstance(v.get("name"), str) for v in value]
    if kind == "outputs" and not any(named):
        return [_obj_out(v, LEAF, join(pointer, i)) for i, v in enumerate(value)]  # mapped outputs
    result: dict[str, Any] = {}
    for i, item in enumerate(value):
        here = join(pointer, i)
        key = item["name"] if named[i] else _default_key(item, shape, result)
        if key is None:
            raise NotConvertible(here, "an entry without a `name` cannot become an Ikanos map entry")
        if key in result:
            raise NotConvertible(join(here, "name"), f"the name '{key}' is used twice; Ikanos keys must be unique")
        body = {k: v for k, v in item.items() if k != "name"}
        result[key] = _obj_out(body, shape, here)
    return result


def _default_key(item: Any, shape: Shape, taken: dict[str, Any]) -> str | None:
    """A key for an entry Naftiko lets go unnamed (REST resources by path, operations by method)."""
    if shape.unnamed is None or not isinstance(item, dict) or not isinstance(item.get(shape.unnamed), str):
        return None
    words = re.findall(r"[A-Za-z0-9]+", item[shape.unnamed].lower())
    base = "-".join(words) or "root"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


__all__ = ["CURRENT", "NAFTIKO_VERSION", "VERSIONS", "NotConvertible", "PointerMap", "Problem", "to_ikanos",
           "to_naftiko"]
