"""Templates: every ``{{NAME}}`` must name something known where it is rendered.

An unknown name renders as an empty string. In a credential, a header or a base URI that sends an
empty value upstream (an error, ``unbound-credential``); elsewhere it is a warning.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from naftiko_runtime.model import Consumer, ControlExposure, Value
from naftiko_runtime.model.build import template_values
from naftiko_runtime.model.refs import env_variable
from naftiko_runtime.rules.context import Context, closest, describe, input_names, invocation
from naftiko_runtime.rules.references import own_with
from naftiko_runtime.source import join


def check_template(ctx: Context, value: Value, known: Collection[str], where: str, *,
                   code: str = "unknown-template-variable") -> None:
    binds = ctx.cap.bind_names
    for name in value.names:
        if name in known or name.split(".", 1)[0] in known or name in binds:
            continue
        ctx.report(code, f"`{{{{{name}}}}}` names nothing known in {where}", value.pointer,
                   hint=closest(name, set(known) | binds, "did you mean `{{{{{}}}}}`?"))


def _supplied(ctx: Context, ref: str) -> set[str]:
    return set().union(*(site.supplied() for site in ctx.callers.get(ref, [])))


def consumed(ctx: Context) -> None:
    """Templates on the consumed side resolve against parameters, binds and what callers supply."""
    if ctx.cap.kind != "capability":
        return  # a shared consumes file: its callers live in other files
    for consumer in ctx.cap.consumers.values():
        _consumer(ctx, consumer)


def _consumer(ctx: Context, consumer: Consumer) -> None:
    where = f"consumed adapter `{consumer.namespace}`"
    operations = list(consumer.operations.values())
    known = {p.name for p in consumer.parameters}.union(*(_supplied(ctx, op.ref) for op in operations))
    if consumer.base_uri is not None and consumer.base_uri.template is not None:
        check_template(ctx, consumer.base_uri, (), f"the base URI of {where} (bind variables only)",
                       code="unbound-credential")
    if consumer.authentication is not None:
        for field_name, value in consumer.authentication.fields.items():
            if field_name != "placement":
                check_template(ctx, value, known, where, code="unbound-credential")
    for _, value in consumer.headers:
        check_template(ctx, value, known, where, code="unbound-credential")
    shared = set(consumer.parameters)
    for param in consumer.parameters:
        if param.value is not None:
            check_template(ctx, param.value, known, where, code=_code(param.in_))
    for op in operations:
        if op.ref not in ctx.callers:
            continue  # an operation nobody calls: its templates have nothing to resolve against
        op_known = {p.name for p in op.params} | _supplied(ctx, op.ref)
        for param in op.params:
            if param.value is not None and param not in shared:
                check_template(ctx, param.value, op_known, f"`{op.ref}`", code=_code(param.in_))
        if op.body is not None:
            for value in _body_values(op.body.data):
                check_template(ctx, value, op_known, f"`{op.ref}`")


def _code(location: str | None) -> str:
    return "unbound-credential" if location == "header" else "unknown-template-variable"


def _body_values(data: Value) -> Iterable[Value]:
    """A structured body's strings, each located at its own pointer."""
    raw = data.raw
    if isinstance(raw, str) or not isinstance(raw, Collection):
        yield data
        return
    stack = [(raw, data.pointer)]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, str):
            if "{{" in node:
                yield Value.of(node, pointer)
        elif isinstance(node, dict | tuple) or hasattr(node, "items"):
            items = node.items() if hasattr(node, "items") else enumerate(node)
            stack.extend((child, join(pointer, key)) for key, child in reversed(list(items)))


def exposed(ctx: Context) -> None:
    """Server-side secrets and the OTLP endpoint see bind variables only."""
    for exposure in ctx.cap.exposures:
        if exposure.authentication is not None:
            for value in exposure.authentication.fields.values():
                check_template(ctx, value, (), "server authentication (bind variables only)",
                               code="unbound-credential")
        if isinstance(exposure, ControlExposure) and exposure.otlp_endpoint is not None:
            check_template(ctx, exposure.otlp_endpoint, (), "the OTLP endpoint (bind variables only)")


def outputs(ctx: Context) -> None:
    """Mock and static output ``value``s render against the inputs, ``with`` keys and step outputs."""
    for unit in ctx.units:
        inv = invocation(unit)
        known = input_names(unit) | {e.key for e in own_with(unit)} | {s.name for s in inv.steps}
        for output in inv.outputs:
            for param in output.walk():
                value = param.value
                if value is not None and isinstance(value.raw, str) and not value.raw.lstrip().startswith("$"):
                    check_template(ctx, value, known, describe(unit))


def env_variables(ctx: Context) -> None:
    """``{{env.X}}`` with no ``binds`` entry reads the environment variable X: say so where it is used."""
    implicit = {var for bind in ctx.cap.binds if bind.implicit for var in bind.keys}
    if not implicit:
        return
    seen: set[tuple[str, str]] = set()
    for value in template_values(ctx.cap):
        for name in value.names:
            variable = env_variable(name)
            if variable in implicit and (value.pointer, variable) not in seen:
                seen.add((value.pointer, variable))
                ctx.report("undeclared-env-variable",
                           f"`{{{{{name}}}}}` has no `binds` entry: the environment variable {variable} is read "
                           "(serving without it is an error)", value.pointer,
                           hint=f"declare it: `binds: [{{namespace: env, keys: {{{variable}: {variable}}}}}]`")


def bare_bind_names(ctx: Context) -> None:
    """A value that is exactly a bind variable's name was probably meant as ``{{NAME}}``."""
    variables = {var for bind in ctx.cap.binds if not bind.implicit for var in bind.keys}
    if not variables:
        return
    for value in template_values(ctx.cap):
        text = value.raw
        if isinstance(text, str) and text in variables:
            ctx.report("bare-bind-name", f"`{text}` is sent as the literal text `{text}`, not the value of "
                       f"bind variable {text}", value.pointer, hint=f"did you mean `{{{{{text}}}}}`?")
