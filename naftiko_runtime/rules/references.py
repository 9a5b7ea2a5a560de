"""References: ``call``, ``ref``, ``forward``, ``with`` wiring and the values a consumed path needs.

The invariant these rules keep: nothing unresolved ever reaches an upstream. A ``with`` value that
is a reference to nothing, or a path placeholder with no source, is an error.
"""

from __future__ import annotations

import json
from typing import Any

from naftiko_runtime.model import Argument, Function, Route, Tool, Unit, Unresolved, WithEntry
from naftiko_runtime.model.invocations import unfed_placeholders
from naftiko_runtime.rules.context import CallSite, Context, call_sites, closest, describe, input_names, invocation
from naftiko_runtime.source import join


def _yaml(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def calls(ctx: Context) -> None:
    """Resolve every call site; wiring checks then run on the ones that resolve."""
    functions = ctx.cap.functions
    operations = [op.ref for c in ctx.cap.consumers.values() for op in c.operations.values()]
    for unit in ctx.units:
        for site in call_sites(unit):
            call = site.call
            if ctx.skip(call.target):
                continue
            if call.target in functions and isinstance(unit, Function):
                ctx.report("ref-chain", f"`call: {call.target}` names another aggregate function; ref chains "
                           "are not allowed", call.pointer, hint="call the consumed operation it calls instead")
            elif call.target in functions:
                ctx.report("unknown-call", f"`{call.target}` is an aggregate function, not a consumed operation",
                           call.pointer, hint=f"write `ref: {call.target}` instead of `call:`")
            elif call.operation is None:
                ctx.report("unknown-call", f"`{call.target}` is not a consumed operation", call.pointer,
                           hint=closest(call.target, operations))
            else:
                ctx.callers.setdefault(call.operation.ref, []).append(site)
                _with_keys(ctx, site)
        _path_sources(ctx, unit)


def _with_keys(ctx: Context, site: CallSite) -> None:
    op = site.call.operation
    assert op is not None
    consumer = ctx.cap.consumers.get(op.namespace)
    feeds = set(op.feeds())
    if consumer is not None:
        extra = [v for _, v in consumer.authentication.fields.items()] if consumer.authentication else []
        extra += [v for _, v in consumer.headers]
        feeds.update(n for value in extra for name in value.names for n in (name, name.split(".", 1)[0]))
    for entry in site.call.with_:
        if entry.key not in feeds:
            hint = closest(entry.key, feeds) or \
                f"`{op.ref}` has no parameter, placeholder or template named {entry.key}"
            ctx.report("with-key-unused", f"`with` key `{entry.key}` feeds nothing in `{op.ref}`",
                       join(site.call.with_pointer, entry.key), key=True, hint=hint)


def _path_sources(ctx: Context, unit: Unit) -> None:
    """A consumed path placeholder needs a value. One that no consumed parameter declares became a
    required string input of the unit (a warning); a declared path parameter that a unit with
    declared inputs leaves without a source is an error."""
    inv = invocation(unit)
    added = {i.name for i in unit.inputs if i.origin == "placeholder"}
    taken = {i.name for i in unit.inputs} - added
    for name, call in unfed_placeholders(inv, taken, ctx.cap.bind_names):
        op = call.operation
        assert op is not None
        if ctx.skip(call.target):
            continue
        if name in added:
            ctx.report("path-placeholder-undeclared",
                       f"`{{{name}}}` in the path of `{op.ref}` has no declared parameter; {describe(unit)} takes it "
                       f"as a required string input `{name}`", call.pointer,
                       related=[join(op.resource_pointer, "path")],
                       hint=f"declare it on `{op.ref}`: `inputParameters: [{{name: {name}, in: path}}]`")
        else:
            example = f"with: {{{name}: {inv.namespace}.{name}}}"
            ctx.report("path-placeholder-unbound",
                       f"`{{{name}}}` in the path of `{op.ref}` has no value when {describe(unit)} calls it",
                       call.pointer, related=[join(op.resource_pointer, "path")],
                       hint=f"add `{example}` or an input parameter named {name}")


def refs(ctx: Context) -> None:
    for unit in ctx.units:
        ref = invocation(unit).ref
        if ref is None:
            continue
        if isinstance(unit, Function):
            ctx.report("ref-chain", f"aggregate function `{unit.ref}` refers to `{ref.target}`; ref chains are not "
                       "allowed", ref.pointer, hint="give the function its own call or steps")
        elif ref.function is None:
            ctx.report("unknown-ref", f"`{ref.target}` is not an aggregate function", ref.pointer,
                       hint=closest(ref.target, ctx.cap.functions))
        else:
            _semantics_vs_unit(ctx, unit, ref.function)


def _semantics(fn: Function) -> tuple[bool | None, bool | None]:
    """(safe, idempotent) as declared; a safe function is idempotent unless it says otherwise."""
    safe = fn.semantics.get("safe") if isinstance(fn.semantics.get("safe"), bool) else None
    idem = fn.semantics.get("idempotent") if isinstance(fn.semantics.get("idempotent"), bool) else None
    return safe, (True if idem is None and safe else idem)


def _semantics_vs_unit(ctx: Context, unit: Unit, fn: Function) -> None:
    safe, idem = _semantics(fn)
    if isinstance(unit, Tool):
        hints = unit.hints
        base = join(unit.pointer, "hints")
        conflicts = [
            ("readOnly", safe is not None and hints.get("readOnly") is (not safe),
             f"hint readOnly: {_yaml(hints.get('readOnly'))} contradicts safe: {_yaml(safe)}"),
            ("destructive", safe is True and hints.get("destructive") is True,
             "hint destructive: true contradicts safe: true"),
            ("idempotent", idem is not None and hints.get("idempotent") is (not idem),
             f"hint idempotent: {_yaml(hints.get('idempotent'))} contradicts idempotent: {_yaml(idem)}"),
        ]
        for key, bad, message in conflicts:
            if bad:
                ctx.report("aggregate-semantics-consistency", f"{message} of `{fn.ref}`", join(base, key))
    elif isinstance(unit, Route):
        method, message = unit.method, None
        if safe is True and method not in ("GET", "HEAD"):
            message = f"`{fn.ref}` is safe but exposed with {method}; use GET"
        elif safe is False and method in ("GET", "HEAD"):
            message = f"`{fn.ref}` is not safe but exposed with {method}"
        elif idem is True and method in ("POST", "PATCH"):
            message = f"`{fn.ref}` is idempotent but exposed with {method}; use PUT or DELETE"
        elif idem is False and method in ("PUT", "DELETE"):
            message = f"`{fn.ref}` is not idempotent but exposed with {method}, which clients may retry"
        if message:
            ctx.report("aggregate-semantics-consistency", message, join(unit.pointer, "method"))


def forwards(ctx: Context) -> None:
    consumed = set(ctx.cap.consumers)
    for forward in ctx.cap.forwards():
        if forward.consumer is not None or not forward.target or forward.target in ctx.cap.unresolved_imports:
            continue
        ctx.report("unknown-forward-target", f"forward target `{forward.target}` is not a consumed namespace",
                   join(forward.pointer, "targetNamespace"), hint=closest(forward.target, consumed))


def own_with(unit: Unit) -> tuple[WithEntry, ...]:
    """The unit's own ``with`` (beside its ``call``, or applied before its ``ref`` or steps)."""
    inv = invocation(unit)
    return inv.call.with_ if inv.call is not None else inv.with_


def with_values(ctx: Context) -> None:
    """``with`` values: a reference must name an input (or an earlier step) of this unit; other text
    is a template whose variables must be known."""
    from naftiko_runtime.rules.templates import check_template

    for unit in ctx.units:
        inv = invocation(unit)
        inputs = input_names(unit)
        known = inputs | {s.name for s in inv.steps} | {e.key for e in own_with(unit)}
        entries = [*own_with(unit), *(e for s in inv.steps if s.call is not None for e in s.call.with_)]
        for entry in entries:
            value, source, pointer = entry.value, entry.source, entry.value.pointer
            if isinstance(source, Argument):
                if not unit.inputs_inferred and source.name not in inputs:
                    ctx.report("with-unknown-input", f"`{value.raw}` names no input of {describe(unit)}", pointer,
                               hint=closest(source.name, inputs) or "declare it in `inputParameters`")
            elif isinstance(source, Unresolved):
                _unresolved(ctx, unit, value.raw, source, pointer)
            elif source is None and value.template is not None:
                check_template(ctx, value, known, describe(unit))


def _unresolved(ctx: Context, unit: Unit, raw: Any, source: Unresolved, pointer: str) -> None:
    if source.why == "foreign":
        ctx.report("with-foreign-namespace",
                   f"`{raw}` names an input of adapter `{source.prefix}`, not of {describe(unit)}; it would be sent "
                   "as the literal text", pointer, hint=f"write `{invocation(unit).namespace}.{source.name}`")
    elif source.why == "consumed":
        ctx.report("with-foreign-namespace",
                   f"`{raw}` starts with consumed API `{source.prefix}`, not with {describe(unit)}'s namespace; it "
                   "would be sent as the literal text", pointer,
                   hint=f"an input of this unit is `{invocation(unit).namespace}.{source.name}`")
    elif source.why == "step":
        ctx.report("step-reference-unknown", f"`{raw}` reads step `{source.prefix}`, which runs later", pointer,
                   hint="a step can only read the steps before it")
    else:
        ctx.report("with-unknown-input", f"`{raw}` names no input of {describe(unit)}", pointer,
                   hint="an input reference is `<prefix>.<input-name>`, with no further dots")
