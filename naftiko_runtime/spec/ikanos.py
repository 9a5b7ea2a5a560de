"""The schema of capability files written the Ikanos way (``ikanos: "1.0.0-beta5"``), for editors.

Derived from ``SCHEMA`` rather than written twice, so both dialects describe the same fields and
this runtime's extensions: lists of named entries become maps keyed by the name (the entries lose
their ``name``), ``label`` is ``display``, ``targetName`` is ``target``, ``functions`` is ``flows``
and imports say ``from`` where Naftiko says ``location``. ``naftiko schema --dialect ikanos``
prints it. Validation does not use it: an Ikanos document is checked against ``SCHEMA`` once
loaded into the Naftiko shape, each problem located in the text as written (see ``load``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from naftiko_runtime import ikanos
from naftiko_runtime.spec import SCHEMA, Schema

SCHEMA_ID = "https://naftiko.dev/schemas/naftiko-runtime-ikanos.json"
# Definitions of entries that Ikanos keys by name (the entry has no `name` field there).
KEYED = frozenset({
    "ConsumedHttpResource", "ConsumedHttpOperation", "ConsumedInputParameter", "ConsumedOutputParameter",
    "ExposedResource", "ExposedOperation", "ExposedInputParameter", "McpTool", "McpToolInputParameter",
    "McpResource", "McpPrompt", "McpPromptArgument", "ExposedSkill", "SkillTool", "AggregateFunction",
    "OperationStep", "OperationStepCall", "OperationStepLookup", "OperationStepScript",
    "OrchestratedOutputParameter", "OrchestratedOutputParameterScalar", "OrchestratedOutputParameterArray",
    "OrchestratedOutputParameterObject", "MockOutputParameter",
})
_RENAMED = {naftiko: name for name, naftiko in ikanos.RENAMES.items()}  # Naftiko -> Ikanos
_IMPORTS = ("ImportedConsumesHttp", "ImportedEntry")


def _target(schema: Any) -> str | None:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _keyed_ref(schema: Any) -> bool:
    """A reference to a keyed entry, or a `when(has name)` choice between a keyed and a listed one."""
    if _target(schema) in KEYED:
        return True
    return isinstance(schema, dict) and _target(schema.get("then")) in KEYED


def _as_map(schema: Schema) -> Schema:
    """``array(ref(K))`` -> a map of K by name."""
    items = schema["items"]
    values = {"$ref": items["then"]["$ref"]} if "then" in items else items
    result: Schema = {"type": "object", "propertyNames": {"pattern": r"^[A-Za-z0-9_*.-]+$"},
                      "additionalProperties": values}
    if "description" in schema:
        result["description"] = schema["description"] + " A map: each entry under its name."
    if "minItems" in schema:
        result["minProperties"] = schema["minItems"]
    return result


def _walk(node: Any) -> Any:
    if isinstance(node, list):
        return [_walk(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _walk(value) for key, value in node.items()}
    if node.get("type") == "array" and _keyed_ref(node.get("items")):
        return _as_map(node)
    if "items" in node and "type" not in node and _keyed_ref(node["items"]):  # outputs(...) in a rule
        items = node.pop("items")
        if "then" in items:  # steps: named fields (a map in Ikanos) or mapped outputs (a list)
            node["items"], node["additionalProperties"] = items["else"], items["then"]
        else:
            node["additionalProperties"] = items
        if "minItems" in node:
            node["minProperties"] = node.pop("minItems")
    props = node.get("properties")
    if isinstance(props, dict):
        if isinstance(props.get("outputParameters"), dict) and props["outputParameters"].get("items") == {}:
            props["outputParameters"] = {"type": ["array", "object"],
                                         "description": props["outputParameters"].get("description", "")
                                         + " Named fields (steps, mock values) are a map by name."}
        node["properties"] = {_RENAMED.get(k, k): v for k, v in props.items()}
    if isinstance(node.get("required"), list):
        node["required"] = [_RENAMED.get(name, name) for name in node["required"]]
    return node


def _unname(schema: Schema) -> Schema:
    """A keyed entry's definition without its `name` (its key in the map)."""
    schema = copy.deepcopy(schema)
    schema.get("properties", {}).pop("name", None)
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("required"), list) and "name" in node["required"]:
                node["required"] = [n for n in node["required"] if n != "name"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return schema


def _imports_say_from(defs: dict[str, Schema]) -> None:
    for name in _IMPORTS:
        entry = defs[name]
        entry["properties"] = {("from" if k == "location" else k): v for k, v in entry["properties"].items()}
        entry["required"] = ["from" if n == "location" else n for n in entry["required"]]
    text = json.dumps(defs["ConsumesEntry"]).replace('"required": ["location"]', '"required": ["from"]')
    defs["ConsumesEntry"] = json.loads(text)


def ikanos_schema() -> Schema:
    defs = {name: _unname(schema) if name in KEYED else copy.deepcopy(schema)
            for name, schema in SCHEMA["$defs"].items() if not name.startswith("ExternalRef")}
    defs = _walk(defs)
    _imports_say_from(defs)
    properties = {k: copy.deepcopy(v) for k, v in SCHEMA["properties"].items() if k not in ("naftiko", "externalRefs")}
    return {
        "$schema": SCHEMA["$schema"],
        "$id": SCHEMA_ID,
        "title": "Ikanos capability",
        "description": f"A capability written the Ikanos way (ikanos {', '.join(ikanos.VERSIONS)}) as run by "
                       "naftiko-runtime: the same fields as its Naftiko schema, with maps keyed by name.",
        "type": "object",
        "required": ["ikanos"],
        "properties": {
            "ikanos": {"enum": list(ikanos.VERSIONS), "description": "Ikanos version of this document; keep it "
                       "the first key, quoted."},
            **_walk(properties),
        },
        "additionalProperties": False,
        "allOf": [rule for rule in _walk(SCHEMA["allOf"]) if "externalRefs" not in json.dumps(rule)],
        "$defs": defs,
    }


def ikanos_schema_json() -> str:
    return json.dumps(ikanos_schema(), indent=2, ensure_ascii=False) + "\n"
