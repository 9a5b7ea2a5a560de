"""``schema`` (naftiko-runtime extension) on inputs, consumed parameters and outputs: valid JSON Schema."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from naftiko_runtime.model import plain
from naftiko_runtime.rules.context import Context, invocation
from naftiko_runtime.source import join


def _schemas(ctx: Context) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """(pointer of the owner, schema, is an output) for every ``schema`` written in the document."""
    seen: set[str] = set()
    for consumer in ctx.cap.consumers.values():
        for param in [*consumer.parameters, *(p for op in consumer.declared for p in op.params)]:
            if param.schema and param.pointer not in seen:
                seen.add(param.pointer)
                yield param.pointer, param.schema, False
    for unit in ctx.units:
        for item in unit.inputs:
            if item.schema and item.origin == "declared" and item.pointer not in seen:
                seen.add(item.pointer)
                yield item.pointer, item.schema, False
        for output in invocation(unit).outputs:
            for walked in output.walk():
                if walked.schema and walked.pointer not in seen:
                    seen.add(walked.pointer)
                    yield walked.pointer, walked.schema, walked is output


def schemas(ctx: Context) -> None:
    from naftiko_runtime.jsonschemas import schema_problem

    for pointer, schema, top_output in _schemas(ctx):
        at = join(pointer, "schema")
        problem = schema_problem(plain(schema))
        if problem is not None:
            message, inside = problem
            ctx.report("json-schema-invalid", f"`schema` is not a valid JSON Schema: {message}", at + inside)
        elif top_output and schema.get("type", "object") != "object":
            ctx.report("json-schema-invalid", "an output `schema` describes the object the output returns: "
                       "its `type` must be `object`", join(at, "type"))
