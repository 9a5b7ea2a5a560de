"""Stage 8, mapping: evaluate a unit's compiled output parameters against an upstream answer.

The reference engine's rules, which this matches:

* Only the first top-level output parameter that yields non-null is returned; ``value`` templates
  win over ``mapping``; object properties read from the same root; array items read from their
  element (objects nested in items give null); the undocumented map form (``values``) maps each
  entry of an object; ``maxLength`` truncates strings.
* Mock mode (no call): ``{name: rendered value}``, unnamed parameters under ``"value"``.
* Step outputs project the consumed operation's named outputs; ``mappings`` copy step outputs into
  the result by plain dot paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from naftiko_runtime.model import ConsumedOutput, OutputParam, StepMapping
from naftiko_runtime.templates import resolve_path

__all__ = ["apply_step_mappings", "build_mock", "map_outputs", "project_consumed_outputs"]


def _truncate(value: Any, max_length: int | None) -> Any:
    if max_length is not None and isinstance(value, str):
        return value[: max(max_length, 0)]
    return value


def _render(param: OutputParam, context: Mapping[str, Any]) -> str:
    assert param.value is not None
    return param.value.text(context)


def _eval(param: OutputParam, root: Any, context: Mapping[str, Any]) -> Any:
    """Evaluate a parameter against the response root (objects never change the root)."""
    if param.value is not None:
        return _render(param, context)
    if param.type == "array":
        return _array(param, root, context)
    if param.type == "object":
        if param.values is not None:  # the map form: keys kept, each value mapped relative to itself
            found = param.path.find(root) if param.path else None
            if not isinstance(found, Mapping):
                return None
            return {key: _item(param.values, value, context) for key, value in found.items()}
        if not param.properties:  # `{type: object, mapping: $.}`: the JSONPath result as is
            return param.path.find(root) if param.path else None
        return {name: _eval(prop, root, context) for name, prop in param.properties}
    return _truncate(param.path.find(root), param.max_length) if param.path else None


def _array(param: OutputParam, root: Any, context: Mapping[str, Any]) -> Any:
    found = param.path.find(root) if param.path else None
    if not isinstance(found, list):
        return None
    item = param.item
    if item is None:
        return list(found)
    return [_item(item, element, context) for element in found]


def _item(item: OutputParam, element: Any, context: Mapping[str, Any]) -> Any:
    """One array element: object items read their properties relative to the element."""
    if item.value is not None:
        return _render(item, context)
    if item.type == "object" and item.properties:
        return {name: _in_item(prop, element, context) for name, prop in item.properties}
    if item.type == "array":
        return _array(item, element, context)
    if item.path is None:
        return element
    return _truncate(item.path.find(element), item.max_length)


def _in_item(prop: OutputParam, element: Any, context: Mapping[str, Any]) -> Any:
    if prop.value is not None:
        return _render(prop, context)
    if prop.type == "object":  # the reference does not support objects nested in array items
        return None
    if prop.type == "array":  # ours: nested arrays follow the same rules, relative to the element
        return _array(prop, element, context)
    return _truncate(prop.path.find(element), prop.max_length) if prop.path else None


def map_outputs(outputs: Sequence[OutputParam], root: Any, context: Mapping[str, Any]) -> tuple[bool, Any]:
    """(True, value) for the first top-level output that yields non-null; (False, None) when
    nothing mapped, meaning the caller passes the raw body through."""
    for param in outputs:
        value = _eval(param, root, context)
        if value is not None:
            return True, value
    return False, None


# ------------------------------------------------------------------------------------------- mocks


def _mock(param: OutputParam, context: Mapping[str, Any]) -> Any:
    if param.value is not None:
        # Kept as text even for `type: number|boolean`: the reference returns the rendered string.
        return _render(param, context)
    if param.type == "object" and param.properties:
        return {name: _mock(p, context) for name, p in param.properties}
    if param.type == "array" and param.items:
        if param.items_listed and all(i.name for i in param.items):  # named item fields: one object
            return [build_mock(param.items, context)]
        return [_mock(param.items[0], context)]
    return None


def build_mock(outputs: Sequence[OutputParam], context: Mapping[str, Any]) -> dict[str, Any]:
    """Mock mode: ``{name: rendered value, ...}``; an unnamed parameter gets the key ``"value"``."""
    return {param.name or "value": _mock(param, context) for param in outputs}


# ------------------------------------------------------------------------------------------- steps


def _step_value(expr: str, steps: Mapping[str, Any]) -> Any:
    """``$.<step>.<a>.<b>``: plain dot traversal into step outputs (no JSONPath, no indices)."""
    if not expr.startswith("$.") or len(expr) == 2:
        return None
    return resolve_path(steps, expr[2:], indices=False)


def apply_step_mappings(mappings: Sequence[StepMapping], steps: Mapping[str, Any]) -> dict[str, Any] | None:
    """Build the orchestrated result; a dotted ``targetName`` nests; None when every value is null."""
    result: dict[str, Any] = {}
    for mapping in mappings:
        value = _step_value(mapping.value, steps)
        if value is None or not mapping.target:
            continue
        *parents, leaf = mapping.target.split(".")
        holder = result
        for key in parents:
            child = holder.get(key)
            if not isinstance(child, dict):
                child = holder[key] = {}
            holder = child
        holder[leaf] = value
    return result or None


def project_consumed_outputs(outputs: Sequence[ConsumedOutput], body: Any) -> Any:
    """Step output of a call: ``{name: JSONPath(value)}``; an array body gets each dict element
    augmented (as a copy) with the fields evaluated against that element. No named outputs: body."""
    if not outputs:
        return body

    def project(data: Any) -> dict[str, Any]:
        return {out.name: out.path.find(data) if out.path else None for out in outputs}

    if isinstance(body, list):
        return [{**el, **project(el)} if isinstance(el, Mapping) else el for el in body]
    return project(body)
