"""Building what a unit runs: call, steps, mappings, outputs, ``ref``; and inputs inferred from them.

The published dialect (APIs.io files, the bundled 100ms capability) often gives tools and routes no
``inputParameters``: their inputs are then read from the ``with`` references (``tools.X``,
``rest.X``) and typed by the consumed parameter each one feeds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from naftiko_runtime.jsonpath import compile_or_none, compile_path
from naftiko_runtime.model.nodes import EMPTY, Consumer, Operation, Param, Value, freeze
from naftiko_runtime.model.read import Reader
from naftiko_runtime.model.refs import classify
from naftiko_runtime.model.schemas import JSON_TYPES
from naftiko_runtime.model.units import (
    Argument,
    Call,
    Function,
    FunctionRef,
    Input,
    Invocation,
    OutputParam,
    Step,
    StepMapping,
    WithEntry,
)
from naftiko_runtime.source import join

ANY = "any"  # an input type that accepts any JSON value (the whole request body)
WHOLE_BODY = compile_path("$")


@dataclass
class Scope:
    """What the references of the units being built can name."""

    consumers: Mapping[str, Consumer]
    functions: Mapping[str, Function] = field(default_factory=dict)
    namespaces: frozenset[str] = frozenset()  # every exposure and aggregate namespace
    bind_names: frozenset[str] = frozenset()

    def operation(self, target: str) -> Operation | None:
        namespace, _, name = target.partition(".")
        consumer = self.consumers.get(namespace)
        return consumer.operations.get(name) if consumer is not None else None


def _with(r: Reader, node: dict[str, Any], pointer: str, namespace: str, scope: Scope,
          steps_before: Collection[str] = (), steps_after: Collection[str] = ()) -> tuple[tuple[WithEntry, ...], str]:
    raw, ptr = r.child(node, "with", pointer)
    if not isinstance(raw, dict):
        return (), ptr
    foreign = scope.namespaces - {namespace}
    entries = tuple(
        WithEntry(str(key), Value.of(value, join(ptr, key)),
                  classify(value, namespace=namespace, steps_before=steps_before, steps_after=steps_after,
                           foreign=foreign, consumed=scope.consumers))
        for key, value in raw.items() if isinstance(key, str) and r.ok(join(ptr, key))
    )
    return entries, ptr


def _call(r: Reader, node: dict[str, Any], pointer: str, namespace: str, scope: Scope,
          steps_before: Collection[str] = (), steps_after: Collection[str] = ()) -> Call | None:
    target = r.text(node, "call", pointer)
    if target is None:
        return None
    entries, with_ptr = _with(r, node, pointer, namespace, scope, steps_before, steps_after)
    return Call(target, scope.operation(target), join(pointer, "call"), entries, with_ptr,
                is_function=target in scope.functions)


def output_param(r: Reader, pointer: str, spec: dict[str, Any]) -> OutputParam:
    mapping = r.text(spec, "mapping", pointer)
    raw, value_ptr = r.child(spec, "value", pointer)
    props, props_ptr = r.child(spec, "properties", pointer)
    properties: list[tuple[str, OutputParam]] = []
    if isinstance(props, dict):
        properties = [(str(k), output_param(r, join(props_ptr, k), v)) for k, v in props.items()
                      if isinstance(v, dict) and r.ok(join(props_ptr, k))]
    elif isinstance(props, list):  # the older list form: named entries
        properties = [(name, output_param(r, ptr, item)) for ptr, item in r.entries(spec, "properties", pointer)
                      if (name := r.text(item, "name", ptr))]
    items_raw, items_ptr = r.child(spec, "items", pointer)
    items: tuple[OutputParam, ...] = ()
    if isinstance(items_raw, dict):
        items = (output_param(r, items_ptr, items_raw),)
    elif isinstance(items_raw, list):
        items = tuple(output_param(r, ptr, item) for ptr, item in r.entries(spec, "items", pointer))
    values_raw, values_ptr = r.child(spec, "values", pointer)
    max_length = r.integer(spec, "maxLength", pointer)
    schema, _ = r.child(spec, "schema", pointer)  # naftiko-runtime extension: JSON Schema of the value
    return OutputParam(
        pointer=pointer, name=r.text(spec, "name", pointer), type=r.text(spec, "type", pointer),
        description=r.text(spec, "description", pointer), mapping=mapping,
        path=compile_or_none(mapping) if mapping and mapping.strip() else None,
        value=Value.of(raw, value_ptr) if raw is not None else None, properties=tuple(properties),
        items=items, items_listed=isinstance(items_raw, list),
        values=output_param(r, values_ptr, values_raw) if isinstance(values_raw, dict) and mapping else None,
        max_length=max_length, schema=freeze(schema) if isinstance(schema, dict) else EMPTY,
    )


def _step(r: Reader, pointer: str, spec: dict[str, Any], namespace: str, scope: Scope,
          before: Collection[str], after: Collection[str]) -> Step | None:
    name = r.text(spec, "name", pointer)
    if name is None:
        return None
    kind = r.text(spec, "type", pointer) or "call"
    raw_value, value_ptr = r.child(spec, "lookupValue", pointer)
    return Step(
        kind=kind, name=name, pointer=pointer,
        call=_call(r, spec, pointer, namespace, scope, before, after) if kind == "call" else None,
        index=r.text(spec, "index", pointer), match=r.text(spec, "match", pointer),
        lookup_value=Value.of(raw_value, value_ptr) if raw_value is not None else None,
        fields=r.texts(spec, "outputParameters", pointer) if kind == "lookup" else (),
    )


def invocation(r: Reader, pointer: str, spec: dict[str, Any], namespace: str, scope: Scope) -> Invocation:
    """What ``spec`` (a tool, route operation, resource or function) runs."""
    step_specs = list(r.entries(spec, "steps", pointer))
    names = [r.text(s, "name", p) for p, s in step_specs]
    steps = tuple(
        step for i, (ptr, s) in enumerate(step_specs)
        if (step := _step(r, ptr, s, namespace, scope, [n for n in names[:i] if n],
                          [n for n in names[i + 1:] if n])) is not None
    )
    ref_target = r.text(spec, "ref", pointer)
    call = _call(r, spec, pointer, namespace, scope) if ref_target is None else None
    own_with = _with(r, spec, pointer, namespace, scope)[0] if call is None else ()
    mappings = tuple(
        StepMapping(target, value, ptr) for ptr, m in r.entries(spec, "mappings", pointer)
        if (target := r.text(m, "targetName", ptr)) is not None and (value := r.text(m, "value", ptr)) is not None
    )
    return Invocation(
        namespace=namespace, pointer=pointer, call=call, steps=steps, mappings=mappings,
        outputs=tuple(output_param(r, ptr, o) for ptr, o in r.entries(spec, "outputParameters", pointer)),
        ref=FunctionRef(ref_target, scope.functions.get(ref_target), join(pointer, "ref"))
        if ref_target is not None else None,
        with_=own_with,
    )


# ------------------------------------------------------------------------------------- inference


def _fed(op: Operation | None, key: str) -> Param | None:
    """The consumed parameter a ``with`` key feeds in ``op`` (a bare path placeholder is a required
    string), or None."""
    if op is None:
        return None
    param = op.param(key)
    if param is not None:
        return param
    if key in op.placeholders:
        return Param(key, "path", "", type="string", required=True)
    return None


def _inferred_type(declared: str | None) -> str:
    return declared if declared in JSON_TYPES else "string"


def inferred_inputs(inv: Invocation, taken: Collection[str], *, route: bool) -> list[Input]:
    """Inputs named by the unit's ``with`` references that are not already inputs, typed (and, for
    a route, located) by the consumed parameter each one feeds. For a route, ``rest.body`` is the
    whole request body, whatever its type."""
    found: dict[str, Input] = {}
    for call in inv.calls():
        for entry in call.with_:
            source = entry.source
            if not isinstance(source, Argument) or source.name in taken or source.name in found:
                continue
            fed = _fed(call.operation, entry.key) or Param(entry.key, None, "")
            if route and source.name == "body":
                found["body"] = Input("body", entry.value.pointer, in_="body", type=ANY, required=fed.required,
                                      description=fed.description, path=WHOLE_BODY, origin="reference",
                                      schema=fed.schema)
                continue
            location = None
            if route:
                location = fed.in_ if fed.in_ in ("query", "header", "cookie", "body") else "query"
            found[source.name] = Input(source.name, entry.value.pointer, in_=location,
                                       type=_inferred_type(fed.type), required=fed.required,
                                       description=fed.description, origin="reference", schema=fed.schema)
    return list(found.values())


def unfed_placeholders(inv: Invocation, inputs: Collection[str], bind_names: Collection[str]) -> list[tuple[str, Call]]:
    """Path placeholders of the called operations that nothing gives a value: no ``with`` key, no
    input of that name, no parameter with its own value, no earlier step, no bind variable."""
    found: list[tuple[str, Call]] = []
    prior: list[str] = []
    outer = {entry.key for entry in inv.with_}
    calls: list[tuple[Call, tuple[str, ...]]] = [(inv.call, ())] if inv.call is not None else []
    for step in inv.steps:
        if step.call is not None:
            calls.append((step.call, tuple(prior)))
        prior.append(step.name)
    for call, earlier in calls:
        op = call.operation
        if op is None:
            continue
        valued = {p.name for p in op.params if p.value is not None or p.in_ == "environment"}
        supplied = {e.key for e in call.with_} | set(inputs) | set(earlier) | outer | valued
        for name in op.placeholders:
            if name in supplied or name.split(".", 1)[0] in supplied or name in bind_names:
                continue
            found.append((name, call))
    return found
