"""Steps, step references, JSONPath, formats and aggregate semantics."""

from __future__ import annotations

import re

from naftiko_runtime.jsonpath import JsonPathError, compile_path
from naftiko_runtime.model import Route, Unit
from naftiko_runtime.rules.context import Context, closest, describe, input_names, invocation
from naftiko_runtime.rules.references import own_with
from naftiko_runtime.rules.templates import check_template
from naftiko_runtime.source import join

UNSUPPORTED_FORMATS = frozenset({"avro", "protobuf"})


def steps(ctx: Context) -> None:
    for unit in ctx.units:
        inv = invocation(unit)
        names = {s.name for s in inv.steps}
        earlier: list[str] = []
        for step in inv.steps:
            if step.kind == "script":
                ctx.report("unsupported-step", "script steps are not supported by this runtime yet",
                           join(step.pointer, "type"), hint="use call and lookup steps, or an aggregate function")
            elif step.kind == "lookup":
                _lookup(ctx, unit, step.pointer, step.index, step.lookup_value, earlier, names)
            if step.name not in earlier:
                earlier.append(step.name)
        readable = names | input_names(unit)  # mappings may also read the unit's inputs (our extension)
        for mapping in inv.mappings:
            _step_reference(ctx, unit, join(mapping.pointer, "value"), mapping.value, readable, names)


def _lookup(ctx: Context, unit: Unit, pointer: str, index: str | None, value: object, earlier: list[str],
            names: set[str]) -> None:
    from naftiko_runtime.model import Value

    if index is not None and index not in earlier:
        later = index in names
        ctx.report("lookup-index-unknown",
                   f"lookup index `{index}` names a later step" if later else
                   f"lookup index `{index}` names no step of {describe(unit)}", join(pointer, "index"),
                   hint="the index must be the name of an earlier call step" if later else closest(index, earlier))
    if not isinstance(value, Value) or not isinstance(value.raw, str):
        return
    if value.raw.startswith("$"):
        _step_reference(ctx, unit, value.pointer, value.raw, set(earlier), names)
    else:
        known = input_names(unit) | set(earlier) | {e.key for e in own_with(unit)}
        check_template(ctx, value, known, describe(unit))


def _step_reference(ctx: Context, unit: Unit, pointer: str, value: str, allowed: set[str], names: set[str]) -> None:
    """``$.<step>.field`` reads the step context: the first segment must be a (usable) step."""
    if not value.startswith("$.") or not invocation(unit).steps:
        return
    head = re.split(r"[.\[]", value[2:], maxsplit=1)[0]
    if not head or head in allowed:
        return
    later = head in names
    ctx.report("step-reference-unknown",
               f"`{value}` reads step `{head}`, which runs later" if later else
               f"`{value}` reads step `{head}`, which {describe(unit)} does not have", pointer,
               hint=None if later else closest(head, names))


def _jsonpath_problem(expression: str) -> str:
    try:
        compile_path(expression)
    except JsonPathError as exc:
        return str(exc).splitlines()[0][:200]
    return ""


def _invalid_jsonpath(ctx: Context, pointer: str, expression: str) -> None:
    problem = _jsonpath_problem(expression)
    ctx.report("jsonpath-invalid", f"`{expression}` is not a valid JSONPath expression: {problem}", pointer)


def jsonpaths(ctx: Context) -> None:
    for unit in ctx.units:
        for output in invocation(unit).outputs:
            for param in output.walk():
                if param.mapping is not None and param.mapping.strip() and param.path is None:
                    _invalid_jsonpath(ctx, join(param.pointer, "mapping"), param.mapping)
        if isinstance(unit, Route):
            for item in unit.inputs:
                raw = item.value.raw if item.value is not None else None
                if isinstance(raw, str) and raw.startswith("$") and item.path is None and item.origin == "declared":
                    _invalid_jsonpath(ctx, join(item.pointer, "value"), raw)
    for consumer in ctx.cap.consumers.values():
        for op in consumer.operations.values():
            for out in op.outputs:
                if out.expression is not None and out.path is None:
                    _invalid_jsonpath(ctx, join(out.pointer, "value"), out.expression)


def formats(ctx: Context) -> None:
    for consumer in ctx.cap.consumers.values():
        for op in consumer.operations.values():
            if op.output_raw_format in UNSUPPORTED_FORMATS:
                ctx.report("unsupported-format", f"outputRawFormat `{op.output_raw_format}` is not supported by "
                           "this runtime yet", join(op.pointer, "outputRawFormat"))


def semantics(ctx: Context) -> None:
    for function in ctx.cap.functions.values():
        if function.semantics.get("safe") is True and function.semantics.get("idempotent") is False:
            ctx.report("aggregate-semantics-consistency",
                       f"`{function.ref}` is declared safe but not idempotent; a safe function is always idempotent",
                       join(join(function.pointer, "semantics"), "idempotent"))
