"""Names and namespaces: unique where clients or references need them to be, valid for LLM clients."""

from __future__ import annotations

import re

from naftiko_runtime.model import McpExposure, RestExposure
from naftiko_runtime.rules.context import Context, describe, invocation
from naftiko_runtime.source import join

LLM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def namespaces_unique(ctx: Context) -> None:
    seen: dict[str, str] = {}
    for namespace, pointer in ctx.cap.namespaces:
        if namespace in seen:
            ctx.report("namespaces-unique", f"namespace `{namespace}` is already declared", pointer,
                       related=[seen[namespace]], hint="namespaces route calls, forwards and templates: rename one")
        else:
            seen[namespace] = pointer


def tool_names(ctx: Context) -> None:
    """Names clients see: valid for LLM tool-calling and unique within one exposure."""
    for exposure in ctx.cap.exposures:
        if isinstance(exposure, McpExposure):
            items = [(join(t.pointer, "name"), t.name, "tool") for t in exposure.tools]
        elif isinstance(exposure, RestExposure):
            items = [(join(r.pointer, "name"), r.declared_name, "operation") for res in exposure.resources
                     for r in res.routes if r.declared_name is not None]
        else:
            continue
        seen: dict[str, str] = {}
        for pointer, name, what in items:
            assert name is not None
            if not LLM_NAME.match(name):
                ctx.report("tool-name-invalid",
                           f"{what} name `{name[:80]}` must be 1-64 letters, digits, `_` or `-` for LLM clients",
                           pointer)
            if name in seen:
                code = "tool-name-duplicate" if isinstance(exposure, McpExposure) else "operation-name-duplicate"
                ctx.report(code, f"{what} name `{name}` is used twice in exposure `{exposure.namespace}`", pointer,
                           related=[seen[name]])
            else:
                seen[name] = pointer


def duplicates(ctx: Context) -> None:
    """Consumed operations, aggregate functions and steps that share a name."""
    for consumer in ctx.cap.consumers.values():
        first: dict[str, str] = {}
        for op in consumer.declared:
            pointer = join(op.pointer, "name")
            if op.name in first:
                ctx.report("operation-name-duplicate",
                           f"consumed operation `{op.name}` is declared twice in `{consumer.namespace}`", pointer,
                           related=[first[op.name]], hint="`call: namespace.operation` must name exactly one operation")
            else:
                first[op.name] = pointer
    seen: dict[str, str] = {}
    for function in ctx.cap.declared_functions:
        pointer = join(function.pointer, "name")
        if function.ref in seen:
            ctx.report("aggregate-function-duplicate", f"aggregate function `{function.ref}` is declared twice",
                       pointer, related=[seen[function.ref]])
        else:
            seen[function.ref] = pointer
    for unit in ctx.units:
        steps: dict[str, str] = {}
        for step in invocation(unit).steps:
            pointer = join(step.pointer, "name")
            if step.name in steps:
                ctx.report("step-name-duplicate", f"step name `{step.name}` is used twice in {describe(unit)}",
                           pointer, related=[steps[step.name]])
            else:
                steps[step.name] = pointer
