"""Building the exposed side: aggregate functions, then each exposure and its units."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from naftiko_runtime.jsonpath import compile_or_none, is_path
from naftiko_runtime.load import resolve_location
from naftiko_runtime.model.build import auth, params
from naftiko_runtime.model.invocations import Scope, inferred_inputs, invocation, unfed_placeholders
from naftiko_runtime.model.nodes import Consumer, Param, Value, freeze
from naftiko_runtime.model.read import Reader
from naftiko_runtime.model.refs import placeholders, substitute_placeholders
from naftiko_runtime.model.schemas import hints, hints_from_semantics, input_schema, json_type, output_schema
from naftiko_runtime.model.units import (
    Argument,
    ControlExposure,
    Exposure,
    Forward,
    Function,
    Input,
    Invocation,
    McpExposure,
    Prompt,
    PromptMessage,
    Resource,
    RestExposure,
    RestResource,
    Route,
    Skill,
    SkillExposure,
    SkillTool,
    Tool,
    Unit,
    WithEntry,
)
from naftiko_runtime.source import join
from naftiko_runtime.templates import compile_template

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
GREEDY_VARIABLE = "path"  # `{path}` matches several segments (forward resources)
_URI_PARAM = placeholders


def _namespaces(r: Reader, cap: dict[str, Any]) -> frozenset[str]:
    found = [r.text(e, "namespace", p) for p, e in [*r.entries(cap, "exposes", "/capability"),
                                                     *r.entries(cap, "aggregates", "/capability")]]
    return frozenset(n for n in found if n)


def _declared(items: Iterable[Param], *, location: bool) -> list[Input]:
    """Declared parameters as inputs; a ``value`` is a constant unless it is a JSONPath."""
    inputs = []
    for p in items:
        path = compile_or_none(p.value.raw) if p.value is not None and is_path(p.value.raw) else None
        inputs.append(Input(p.name, p.pointer, in_=p.in_ if location else None, type=json_type(p.type),
                            description=p.description, required=p.required, pattern=p.pattern,
                            value=p.value, path=path, schema=p.schema))
    return inputs


def _with_placeholders(inv: Invocation, inputs: list[Input], scope: Scope, *, declared: bool,
                       location: str | None = None) -> list[Input]:
    """Every path placeholder nothing feeds becomes a required input, typed by the consumed parameter
    when there is one: what the author of ``/stats/{tableName}`` meant (rules warn that it is
    undeclared). A unit that declares its inputs and leaves out a declared path parameter is left
    as is: rules report it as an error."""
    names = {i.name for i in inputs}
    for name, call in unfed_placeholders(inv, names, scope.bind_names):
        param = call.operation.param(name) if call.operation is not None else None
        if name in names or (declared and param is not None):
            continue
        names.add(name)
        inputs.append(Input(name, call.pointer, in_=location, type=json_type(param.type if param else None),
                            required=True, description=param.description if param else None,
                            origin="placeholder"))
    return inputs


def _paging(inv: Invocation, inputs: list[Input], location: str | None = None) -> list[Input]:
    """A unit calling an operation that pages one page at a time takes the ``continuation`` its
    previous result gave."""
    op = inv.call.operation if inv.call is not None else None
    if op is None or op.pagination is None or op.pagination.mode != "page" or \
            any(i.name == "continuation" for i in inputs):
        return inputs
    return [*inputs, Input("continuation", op.pagination.pointer, in_=location, type="string",
                           description="The `continuation` of the previous result, for the next page.",
                           origin="reference")]


def _tool_inputs(r: Reader, spec: dict[str, Any], pointer: str, inv: Invocation, scope: Scope,
                 inherited: tuple[Input, ...] | None) -> tuple[tuple[Input, ...], bool]:
    """(inputs, inferred): declared, inherited from a ``ref`` function, or read from ``with``;
    plus ``continuation`` when the operation pages one page at a time."""
    inputs, inferred = _own_inputs(r, spec, pointer, inv, scope, inherited)
    return tuple(_paging(inv, list(inputs))), inferred


def _own_inputs(r: Reader, spec: dict[str, Any], pointer: str, inv: Invocation, scope: Scope,
                inherited: tuple[Input, ...] | None) -> tuple[tuple[Input, ...], bool]:
    raw, _ = r.child(spec, "inputParameters", pointer)
    if isinstance(raw, list):
        declared = _declared(params(r, spec, pointer, required_default=True), location=False)
        return tuple(_with_placeholders(inv, declared, scope, declared=True)), False
    if inherited is not None:
        return inherited, False
    inputs = _with_placeholders(inv, inferred_inputs(inv, (), route=False), scope, declared=False)
    return tuple(inputs), True


# ----------------------------------------------------------------------------------------- functions


def build_functions(r: Reader, cap: dict[str, Any], consumers: Mapping[str, Consumer],
                    bind_names: frozenset[str] = frozenset()) -> list[Function]:
    # functions cannot call functions (rules report it), but a `call` naming one must be recognised
    refs = {f"{n}.{f}": None for p, a in r.entries(cap, "aggregates", "/capability")
            if (n := r.text(a, "namespace", p)) for fp, fn in r.entries(a, "functions", p)
            if (f := r.text(fn, "name", fp))}
    scope = Scope(consumers, refs, _namespaces(r, cap), bind_names)  # type: ignore[arg-type]
    functions: list[Function] = []
    for aptr, aggregate in r.entries(cap, "aggregates", "/capability"):
        namespace = r.text(aggregate, "namespace", aptr)
        if namespace is None:
            continue
        for fptr, spec in r.entries(aggregate, "functions", aptr):
            name = r.text(spec, "name", fptr)
            if name is None:
                continue
            inv = invocation(r, fptr, spec, namespace, scope)
            inputs, inferred = _tool_inputs(r, spec, fptr, inv, scope, None)
            semantics, _ = r.child(spec, "semantics", fptr)
            semantics = semantics if isinstance(semantics, dict) else {}
            functions.append(Function(
                kind="function", name=name, pointer=fptr, exposure=namespace,
                description=r.text(spec, "description", fptr), inputs=inputs, input_schema=input_schema(inputs),
                invocation=inv, inputs_inferred=inferred, semantics=freeze(semantics),
                annotations=freeze(hints_from_semantics(semantics)),
            ))
    return functions


# ----------------------------------------------------------------------------------------- exposures


def build_exposures(r: Reader, cap: dict[str, Any], consumers: Mapping[str, Consumer],
                    functions: Mapping[str, Function], base_dir: Path, bind_names: frozenset[str] = frozenset(),
                    ) -> tuple[Exposure, ...]:
    scope = Scope(consumers, functions, _namespaces(r, cap), bind_names)
    built: list[Exposure] = []
    for ptr, spec in r.entries(cap, "exposes", "/capability"):
        kind = r.text(spec, "type", ptr)
        namespace = r.text(spec, "namespace", ptr) or ""
        common = dict(namespace=namespace, pointer=ptr, address=r.text(spec, "address", ptr),
                      port=r.integer(spec, "port", ptr), description=r.text(spec, "description", ptr),
                      authentication=auth(r, spec, ptr))
        if kind == "mcp":
            built.append(_mcp(r, spec, ptr, namespace, scope, base_dir, common))
        elif kind == "rest":
            built.append(RestExposure(type="rest", resources=_rest_resources(r, spec, ptr, namespace, scope),
                                      **common))  # type: ignore[arg-type]
        elif kind == "control":
            built.append(_control(r, spec, ptr, common))
        elif kind == "skill":
            built.append(SkillExposure(type="skill", skills=_skills(r, spec, ptr, base_dir),
                                       **common))  # type: ignore[arg-type]
    return _resolve_skills(tuple(built))


def _mcp(r: Reader, spec: dict[str, Any], ptr: str, namespace: str, scope: Scope, base_dir: Path,
         common: dict[str, Any]) -> McpExposure:
    tools = tuple(t for p, s in r.entries(spec, "tools", ptr) if (t := _tool(r, p, s, namespace, scope)))
    resources = tuple(x for p, s in r.entries(spec, "resources", ptr)
                      if (x := _resource(r, p, s, namespace, scope, base_dir)))
    prompts = tuple(y for p, s in r.entries(spec, "prompts", ptr) if (y := _prompt(r, p, s, namespace, base_dir)))
    return McpExposure(type="mcp", transport=r.text(spec, "transport", ptr) or "http",
                       stateless=r.flag(spec, "stateless", ptr), tools=tools, resources=resources, prompts=prompts,
                       **common)


def _tool(r: Reader, ptr: str, spec: dict[str, Any], namespace: str, scope: Scope) -> Tool | None:
    inv = invocation(r, ptr, spec, namespace, scope)
    function = inv.ref.function if inv.ref is not None else None
    name = r.text(spec, "name", ptr) or (function.name if function else None)
    if name is None:
        return None
    inputs, inferred = _tool_inputs(r, spec, ptr, inv, scope, function.inputs if function else None)
    raw_hints, _ = r.child(spec, "hints", ptr)
    annotations = dict(function.annotations) if function else {}
    annotations.update(hints(raw_hints if isinstance(raw_hints, dict) else None))
    title = r.text(spec, "label", ptr)
    if title:
        annotations["title"] = title
    resolved = inv.resolved()
    return Tool(
        kind="tool", name=name, pointer=ptr, exposure=namespace,
        description=r.text(spec, "description", ptr) or (function.description if function else None) or "",
        inputs=inputs, input_schema=input_schema(inputs), invocation=inv, inputs_inferred=inferred,
        title=title, annotations=freeze(annotations), hints=freeze(raw_hints if isinstance(raw_hints, dict) else {}),
        output_schema=output_schema(resolved.outputs) if resolved.mode == "call" else None,
    )


def _resource(r: Reader, ptr: str, spec: dict[str, Any], namespace: str, scope: Scope,
              base_dir: Path) -> Resource | None:
    name, uri = r.text(spec, "name", ptr), r.text(spec, "uri", ptr)
    if name is None or uri is None:
        return None
    dynamic = "call" in spec or "steps" in spec
    location = r.text(spec, "location", ptr)
    inputs = tuple(Input(p, join(ptr, "uri"), type="string", required=True) for p in _URI_PARAM(uri))
    return Resource(
        kind="resource", name=name, pointer=ptr, exposure=namespace, description=r.text(spec, "description", ptr),
        inputs=inputs, input_schema=input_schema(inputs),
        invocation=invocation(r, ptr, spec, namespace, scope) if dynamic else None,
        title=r.text(spec, "label", ptr), uri=uri, mime_type=r.text(spec, "mimeType", ptr), location=location,
        folder=resolve_location(location, base_dir) if location and not dynamic else None,
    )


def _prompt(r: Reader, ptr: str, spec: dict[str, Any], namespace: str, base_dir: Path) -> Prompt | None:
    name = r.text(spec, "name", ptr)
    if name is None:
        return None
    arguments = tuple(Input(p.name, p.pointer, description=p.description, required=p.required)
                      for p in params(r, spec, ptr, "arguments", required_default=True))
    messages = tuple(
        PromptMessage("assistant" if r.text(m, "role", mptr) == "assistant" else "user",
                      compile_template(content), mptr)
        for mptr, m in r.entries(spec, "template", ptr) if (content := r.text(m, "content", mptr)) is not None
    )
    location = r.text(spec, "location", ptr)
    return Prompt(kind="prompt", name=name, pointer=ptr, exposure=namespace,
                  description=r.text(spec, "description", ptr), inputs=arguments, input_schema=input_schema(arguments),
                  title=r.text(spec, "label", ptr), messages=messages, location=location,
                  file=resolve_location(location, base_dir) if location else None)


# ------------------------------------------------------------------------------------------------ REST


def _rest_resources(r: Reader, spec: dict[str, Any], ptr: str, namespace: str,
                    scope: Scope) -> tuple[RestResource, ...]:
    server = params(r, spec, ptr)
    found = []
    for rptr, res in r.entries(spec, "resources", ptr):
        path = r.text(res, "path", rptr)
        if path is None:
            continue
        level = params(r, res, rptr)
        routes = tuple(_route(r, optr, op, path, namespace, scope, (*server, *level), _has_list(r, res, rptr))
                       for optr, op in r.entries(res, "operations", rptr))
        found.append(RestResource(path, rptr, r.text(res, "name", rptr), r.text(res, "description", rptr), routes,
                                  _forward(r, res, rptr, path, namespace, scope)))
    return tuple(found)


def _route_inputs(declared: Iterable[Param], path: str, method: str, function: Function | None) -> list[Input]:
    """Declared inputs by name (server < resource < operation), the function's for a ``ref`` route
    without its own, then every path variable nobody declared, as a required string."""
    merged: dict[str, Input] = {i.name: i for i in _declared(declared, location=True)}
    variables = placeholders(path)
    if function is not None:
        for item in function.inputs:
            where = "path" if item.name in variables else "body" if method in BODY_METHODS else "query"
            merged.setdefault(item.name, replace(item, in_=where))
    for name in variables:
        if name not in merged:
            merged[name] = Input(name, "", in_="path", type="string", required=True, origin="path")
    return [replace(i, required=True) if i.in_ == "path" else i for i in merged.values()]


def _route(r: Reader, optr: str, op: dict[str, Any], path: str, namespace: str, scope: Scope,
           outer: tuple[Param, ...], resource_declared: bool) -> Route:
    method = (r.text(op, "method", optr) or "GET").upper()
    inv = invocation(r, optr, op, namespace, scope)
    own = params(r, op, optr)
    function = inv.ref.function if inv.ref is not None and not own else None
    inputs = _route_inputs((*outer, *own), path, method, function)
    inv = _path_feeds(_match_case(inv, {i.name for i in inputs}), placeholders(path))
    declared = resource_declared or _has_list(r, op, optr) or function is not None
    if not declared:
        inputs += inferred_inputs(inv, {i.name for i in inputs}, route=True)
    inputs = _paging(inv, _with_placeholders(inv, inputs, scope, declared=declared, location="query"), "query")
    resolved = inv.resolved()
    name = r.text(op, "name", optr)
    return Route(
        kind="route", name=name or f"{method} {path}", pointer=optr, exposure=namespace,
        description=r.text(op, "description", optr), inputs=tuple(inputs), input_schema=input_schema(inputs),
        invocation=inv, inputs_inferred=not declared, method=method, path=path, declared_name=name,
        title=r.text(op, "label", optr),
        output_schema=output_schema(resolved.outputs) if resolved.mode == "call" else None,
        binary_media_type=_binary_media_type(op),
    )


def _binary_media_type(op: dict[str, Any]) -> str | None:
    """The media type an operation's ``responseBinary`` or ``responses`` give its binary success answer."""
    short = op.get("responseBinary")
    if isinstance(short, dict) and isinstance(short.get("mediaType"), str):
        return short["mediaType"]
    responses = op.get("responses")
    for status, response in sorted(responses.items()) if isinstance(responses, dict) else ():
        content = response.get("content") if isinstance(response, dict) else None
        if str(status).startswith("2") and isinstance(content, dict):
            for media_type, entry in content.items():
                if isinstance(entry, dict) and entry.get("binary") is True:
                    return str(media_type)
    return None


def _has_list(r: Reader, op: dict[str, Any], pointer: str) -> bool:
    raw, _ = r.child(op, "inputParameters", pointer)
    return isinstance(raw, list)


def loose(name: str) -> str:
    """A name as generated files mangle it: ``brandId``, ``brandid``, ``brand-id`` and ``brand_id`` agree."""
    return name.lower().replace("-", "").replace("_", "")


def _path_feeds(inv: Invocation, variables: tuple[str, ...]) -> Invocation:
    """A consumed path placeholder that nothing feeds is fed by the route's path variable of the
    same name, loosely compared (generated files rewrite route paths: ``/brands/{brandid}`` or
    ``/brands/{brand-id}`` for ``/brands/{brandId}``)."""
    loosened = {loose(v): v for v in variables}
    if not loosened or inv.call is None or inv.call.operation is None:
        return inv
    call, operation = inv.call, inv.call.operation
    fed = {e.key for e in call.with_}
    extra = tuple(WithEntry(p, Value.of(f"rest.{loosened[loose(p)]}", call.pointer), Argument(loosened[loose(p)]))
                  for p in operation.placeholders if p not in fed and loose(p) in loosened)
    return replace(inv, call=replace(call, with_=call.with_ + extra)) if extra else inv


def _match_case(inv: Invocation, names: set[str]) -> Invocation:
    """``rest.brandId`` names the path variable ``{brandid}``: generated files rewrite route paths
    but not the references. An argument that matches an input only loosely is that input."""
    loosened = {loose(n): n for n in names}

    def fix(entries: tuple[WithEntry, ...]) -> tuple[WithEntry, ...]:
        out = []
        for entry in entries:
            source = entry.source
            if isinstance(source, Argument) and source.name not in names and loose(source.name) in loosened:
                entry = replace(entry, source=Argument(loosened[loose(source.name)]))
            out.append(entry)
        return tuple(out)

    call = replace(inv.call, with_=fix(inv.call.with_)) if inv.call is not None else None
    steps = tuple(replace(s, call=replace(s.call, with_=fix(s.call.with_))) if s.call is not None else s
                  for s in inv.steps)
    return replace(inv, call=call, steps=steps, with_=fix(inv.with_))


def _forward(r: Reader, res: dict[str, Any], rptr: str, path: str, namespace: str, scope: Scope) -> Forward | None:
    spec, fptr = r.child(res, "forward", rptr)
    if not isinstance(spec, dict):
        return None
    target = r.text(spec, "targetNamespace", fptr) or ""
    headers = r.texts(spec, "trustedHeaders", fptr)
    return Forward(kind="forward", name=f"forward {target}", pointer=fptr, exposure=namespace, path=path,
                   target=target, consumer=scope.consumers.get(target),
                   trusted_headers=tuple(h.lower() for h in headers))


def openapi_path(path: str) -> str:
    """``/ships/{{imo}}`` -> ``/ships/{imo}`` (always with a leading slash)."""
    text = substitute_placeholders(path.strip(), {n: "{" + n + "}" for n in placeholders(path)})
    return text if text.startswith("/") else "/" + text


# ---------------------------------------------------------------------------------------------- skills


def _skills(r: Reader, spec: dict[str, Any], ptr: str, base_dir: Path) -> tuple[Skill, ...]:
    skills = []
    for sptr, skill in r.entries(spec, "skills", ptr):
        name = r.text(skill, "name", sptr)
        if name is None:
            continue
        tools = []
        for tptr, tool in r.entries(skill, "tools", sptr):
            tool_name = r.text(tool, "name", tptr)
            source = r.mapping(tool.get("from"), join(tptr, "from"))
            if tool_name is None:
                continue
            tools.append(SkillTool(
                tool_name, tptr, r.text(tool, "description", tptr),
                source=r.text(source, "sourceNamespace", join(tptr, "from")),
                action=r.text(source, "action", join(tptr, "from")), instruction=r.text(tool, "instruction", tptr)))
        metadata = {k: v for k, v in skill.items() if k not in ("name", "description", "location", "tools")}
        location = r.text(skill, "location", sptr)
        skills.append(Skill(name, sptr, r.text(skill, "description", sptr), freeze(metadata), location,
                            tuple(tools), resolve_location(location, base_dir) if location else None))
    return tuple(skills)


def _resolve_skills(exposures: tuple[Exposure, ...]) -> tuple[Exposure, ...]:
    """Point each skill tool's ``from`` at the tool or route it names in a sibling exposure."""
    targets: dict[str, dict[str, Unit]] = {}
    for exposure in exposures:
        if isinstance(exposure, McpExposure):
            targets[exposure.namespace] = {t.name: t for t in exposure.tools}
        elif isinstance(exposure, RestExposure):
            targets[exposure.namespace] = {r.declared_name: r for res in exposure.resources for r in res.routes
                                           if r.declared_name}
    resolved: list[Exposure] = []
    for exposure in exposures:
        if isinstance(exposure, SkillExposure):
            skills = tuple(replace(skill, tools=tuple(
                replace(t, target=targets.get(t.source or "", {}).get(t.action or "")) for t in skill.tools))
                for skill in exposure.skills)
            exposure = replace(exposure, skills=skills)
        resolved.append(exposure)
    return tuple(resolved)


def _control(r: Reader, spec: dict[str, Any], ptr: str, common: dict[str, Any]) -> ControlExposure:
    management, mptr = r.child(spec, "management", ptr)
    management = management if isinstance(management, dict) else None
    observability, optr = r.child(spec, "observability", ptr)
    observability = observability if isinstance(observability, dict) else None

    def switch(node: dict[str, Any] | None, pointer: str, key: str, default: bool = False) -> bool:
        """``key: true`` or ``key: {enabled: true}`` (the spec writes both)."""
        value, vptr = r.child(node, key, pointer) if node is not None else (None, "")
        if isinstance(value, dict):
            return r.flag(value, "enabled", vptr, True)
        return value if isinstance(value, bool) else default

    def local(kind: str) -> tuple[bool, dict[str, Any] | None]:
        """Whether ``observability.<kind>.local`` is on (a written block is, unless it says otherwise)."""
        if observability is None or observability.get("enabled") is False:
            return False, None
        block, bptr = r.child(observability, kind, optr)
        found, lptr = r.child(block, "local", bptr) if isinstance(block, dict) else (None, "")
        if not isinstance(found, dict):
            return False, None
        return r.flag(found, "enabled", lptr, True), found

    metrics, _ = local("metrics")
    traces, traces_local = local("traces")
    kept = traces_local.get("buffer-size") if traces_local is not None else None
    exporters, eptr = r.child(observability, "exporters", optr) if observability is not None else (None, "")
    otlp, xptr = r.child(exporters, "otlp", eptr) if isinstance(exporters, dict) else (None, "")
    endpoint, endpoint_ptr = r.child(otlp, "endpoint", xptr) if isinstance(otlp, dict) else (None, "")
    return ControlExposure(
        type="control", health=switch(management, mptr, "health", True), info=switch(management, mptr, "info"),
        reload=switch(management, mptr, "reload"), validate=switch(management, mptr, "validate"),
        metrics=metrics, traces=traces,
        traces_kept=kept if isinstance(kept, int) and not isinstance(kept, bool) and kept > 0 else 100,
        otlp_endpoint=Value.of(endpoint, endpoint_ptr) if isinstance(endpoint, str) else None,
        **common)

