"""Stage 4, model: a valid ``Document`` -> an immutable, typed ``Capability``.

Only runs on documents without errors. References (``call: ns.op``, ``ref: agg.fn``) are
resolved here once, and each tool's JSON Schemas are computed once, so request handling does
no spec walking at all. Attribute names are the spec's keys in snake_case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from naftiko_runtime.load import Document

JSON = Any
# A path placeholder, `{x}` or `{{x}}`: one definition for the model, consumer, rules and OpenAPI.
PATH_PLACEHOLDER = re.compile(r"\{\{?\s*([A-Za-z0-9_.\-]+)\s*\}?\}")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ARG_NAMESPACE = "tools"  # the published dialect's "this tool's argument" prefix
_JSON_TYPES = {"string", "number", "integer", "boolean", "array", "object"}


def _frozen(mapping: dict[str, Any] | None) -> MappingProxyType[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Param:
    """An input parameter: consumed (``in`` = where it goes) or exposed (``in`` = where it comes from)."""

    name: str
    in_: str | None = None
    type: str | None = None
    description: str | None = None
    required: bool = False
    value: Any = None
    pattern: str | None = None

    @classmethod
    def from_spec(cls, spec: dict[str, Any], *, required_default: bool = False) -> Param:
        return cls(
            name=str(spec["name"]), in_=spec.get("in"), type=spec.get("type"),
            description=spec.get("description"), required=bool(spec.get("required", required_default)),
            value=spec.get("value"), pattern=spec.get("pattern"),
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """One consumed HTTP operation, addressed as ``namespace.name``."""

    namespace: str
    resource: str
    name: str
    method: str
    path: str
    description: str | None
    input_parameters: tuple[Param, ...]
    resource_parameters: tuple[Param, ...]
    body: Any
    output_raw_format: str | None
    output_schema: str | None
    output_parameters: tuple[dict[str, Any], ...]

    @property
    def ref(self) -> str:
        return f"{self.namespace}.{self.name}"

    def placeholders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(PATH_PLACEHOLDER.findall(self.path)))


@dataclass(frozen=True, slots=True)
class Consumer:
    namespace: str
    base_uri: str
    description: str | None
    authentication: MappingProxyType[str, Any] | None
    input_parameters: tuple[Param, ...]
    operations: MappingProxyType[str, Operation]
    timeout: MappingProxyType[str, Any]
    retry: MappingProxyType[str, Any]


@dataclass(frozen=True, slots=True)
class Bind:
    namespace: str
    keys: MappingProxyType[str, str]
    location: str | None
    base_dir: Path


@dataclass(frozen=True, slots=True)
class Step:
    type: str  # call | lookup | script
    name: str
    call: str | None = None
    with_: MappingProxyType[str, Any] = field(default_factory=lambda: _frozen(None))
    index: str | None = None
    match: str | None = None
    lookup_value: Any = None
    output_parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Invocable:
    """What runs when a tool, route operation, resource or aggregate function is invoked."""

    mode: str  # call | steps | mock | ref
    namespace: str  # the exposing adapter's (or aggregate's) namespace, for `ns.arg` references in `with`
    call: str | None = None
    with_: MappingProxyType[str, Any] = field(default_factory=lambda: _frozen(None))
    steps: tuple[Step, ...] = ()
    mappings: tuple[dict[str, Any], ...] = ()
    output_parameters: tuple[dict[str, Any], ...] = ()
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    """An MCP tool (also the shape of an aggregate function once resolved)."""

    name: str
    title: str | None
    description: str
    input_parameters: tuple[Param, ...]
    input_schema: MappingProxyType[str, Any]
    annotations: MappingProxyType[str, Any]
    invocable: Invocable
    pointer: str = ""


@dataclass(frozen=True, slots=True)
class McpResource:
    name: str
    label: str | None
    uri: str
    description: str | None
    mime_type: str | None
    location: str | None
    invocable: Invocable | None

    @property
    def is_template(self) -> bool:
        return "{" in self.uri


@dataclass(frozen=True, slots=True)
class McpPrompt:
    name: str
    label: str | None
    description: str | None
    arguments: tuple[Param, ...]
    template: tuple[MappingProxyType[str, Any], ...]
    location: str | None


@dataclass(frozen=True, slots=True)
class McpExposure:
    namespace: str
    address: str
    port: int | None
    transport: str
    description: str | None
    authentication: MappingProxyType[str, Any] | None
    tools: tuple[Tool, ...]
    resources: tuple[McpResource, ...]
    prompts: tuple[McpPrompt, ...]
    stateless: bool = False
    type: str = "mcp"


@dataclass(frozen=True, slots=True)
class RestOperation:
    method: str
    name: str | None
    label: str | None
    description: str | None
    input_parameters: tuple[Param, ...]
    invocable: Invocable


@dataclass(frozen=True, slots=True)
class RestResource:
    path: str
    name: str | None
    description: str | None
    input_parameters: tuple[Param, ...]
    operations: tuple[RestOperation, ...]
    forward: MappingProxyType[str, Any] | None


@dataclass(frozen=True, slots=True)
class RestExposure:
    namespace: str
    address: str
    port: int
    authentication: MappingProxyType[str, Any] | None
    resources: tuple[RestResource, ...]
    input_parameters: tuple[Param, ...] = ()
    type: str = "rest"


@dataclass(frozen=True, slots=True)
class OtherExposure:
    """Skill and control adapters: kept as their spec mapping."""

    type: str
    namespace: str | None
    address: str
    port: int | None
    spec: MappingProxyType[str, Any]


Exposure = McpExposure | RestExposure | OtherExposure


@dataclass(frozen=True, slots=True)
class Capability:
    file: str
    path: Path
    label: str | None
    description: str | None
    binds: tuple[Bind, ...]
    consumers: MappingProxyType[str, Consumer]
    exposures: tuple[Exposure, ...]
    functions: MappingProxyType[str, Tool]

    def operation(self, ref: str) -> Operation:
        namespace, _, name = ref.partition(".")
        return self.consumers[namespace].operations[name]


# --------------------------------------------------------------------------------------- building


def build(doc: Document) -> Capability:
    """Build the model of a document that validated without errors."""
    data = doc.data
    cap = data.get("capability") or {}
    binds = tuple(_bind(b, doc.path.parent) for b in [*data.get("binds", []), *cap.get("binds", [])])
    consumers = {c["namespace"]: _consumer(c) for c in cap.get("consumes", []) if "namespace" in c}
    ops = {op.ref: op for c in consumers.values() for op in c.operations.values()}
    functions: dict[str, Tool] = {}
    for aggregate in cap.get("aggregates", []):
        for fn in aggregate.get("functions", []):
            tool = _tool(fn, aggregate["namespace"], ops, {}, semantics=fn.get("semantics"))
            functions[f"{aggregate['namespace']}.{fn['name']}"] = tool
    exposures = tuple(_exposure(e, ops, functions) for e in cap.get("exposes", []))
    info = data.get("info") or {}
    return Capability(
        file=doc.file, path=doc.path, label=info.get("label"), description=info.get("description"),
        binds=binds, consumers=_frozen(consumers), exposures=exposures, functions=_frozen(functions),
    )


def _bind(spec: dict[str, Any], base_dir: Path) -> Bind:
    return Bind(spec["namespace"], _frozen(spec.get("keys")), spec.get("location"), base_dir)


def _params(specs: list[dict[str, Any]] | None, *, required_default: bool = False) -> tuple[Param, ...]:
    return tuple(Param.from_spec(p, required_default=required_default) for p in specs or [] if "name" in p)


def _consumer(spec: dict[str, Any]) -> Consumer:
    namespace = spec["namespace"]
    operations: dict[str, Operation] = {}
    for resource in spec.get("resources", []):
        for op in resource.get("operations", []):
            operations[op["name"]] = Operation(
                namespace=namespace, resource=resource.get("name", ""), name=op["name"],
                method=str(op.get("method", "GET")).upper(), path=resource.get("path", ""),
                description=op.get("description") or resource.get("description"),
                input_parameters=_params(op.get("inputParameters")),
                resource_parameters=_params(resource.get("inputParameters")),
                body=op.get("body"), output_raw_format=op.get("outputRawFormat"),
                output_schema=op.get("outputSchema"),
                output_parameters=tuple(op.get("outputParameters") or ()),
            )
    auth = spec.get("authentication")
    return Consumer(
        namespace=namespace, base_uri=str(spec["baseUri"]), description=spec.get("description"),
        authentication=_frozen(auth) if auth else None, input_parameters=_params(spec.get("inputParameters")),
        operations=_frozen(operations), timeout=_frozen(spec.get("timeout")), retry=_frozen(spec.get("retry")),
    )


def _invocable(spec: dict[str, Any], namespace: str) -> Invocable:
    steps = tuple(_step(s) for s in spec.get("steps", []) or [])
    if spec.get("ref"):
        mode = "ref"
    elif spec.get("call"):
        mode = "call"
    elif steps:
        mode = "steps"
    else:
        mode = "mock"
    return Invocable(
        mode=mode, namespace=namespace, call=spec.get("call"), with_=_frozen(spec.get("with")), steps=steps,
        mappings=tuple(spec.get("mappings") or ()), output_parameters=tuple(spec.get("outputParameters") or ()),
        ref=spec.get("ref"),
    )


def _step(spec: dict[str, Any]) -> Step:
    outputs = spec.get("outputParameters") or ()
    return Step(
        type=spec.get("type", "call"), name=spec["name"], call=spec.get("call"), with_=_frozen(spec.get("with")),
        index=spec.get("index"), match=spec.get("match"), lookup_value=spec.get("lookupValue"),
        output_parameters=tuple(str(o) for o in outputs if isinstance(o, str)),
    )


def _tool(spec: dict[str, Any], namespace: str, ops: dict[str, Operation], functions: dict[str, Tool],
          *, semantics: dict[str, Any] | None = None, pointer: str = "") -> Tool:
    """A tool, or an aggregate function (``semantics`` given), or a tool that refs a function."""
    base = functions.get(spec.get("ref") or "")
    invocable = _invocable(spec, namespace)
    params = _params(spec.get("inputParameters"), required_default=True)
    if base is not None and not params:
        params = base.input_parameters
    schema = input_schema(params, invocable, ops) if params or base is None else dict(base.input_schema)
    hints = dict(base.annotations) if base is not None else _hints_from_semantics(semantics)
    hints.update(_hints(spec.get("hints")))
    title = spec.get("label") or (base.title if base else None)
    if title:
        hints["title"] = title
    return Tool(
        name=spec.get("name") or (base.name if base else ""), title=title,
        description=spec.get("description") or (base.description if base else ""),
        input_parameters=params, input_schema=_frozen(schema), annotations=_frozen(hints),
        invocable=invocable, pointer=pointer,
    )


def _hints(spec: dict[str, Any] | None) -> dict[str, Any]:
    names = {"readOnly": "readOnlyHint", "destructive": "destructiveHint",
             "idempotent": "idempotentHint", "openWorld": "openWorldHint"}
    return {names[k]: bool(v) for k, v in (spec or {}).items() if k in names}


def _hints_from_semantics(semantics: dict[str, Any] | None) -> dict[str, Any]:
    """Aggregate semantics -> MCP hints (safe -> read-only and not destructive)."""
    if not semantics:
        return {}
    hints: dict[str, Any] = {}
    if "safe" in semantics:
        hints["readOnlyHint"] = bool(semantics["safe"])
        if semantics["safe"]:
            hints["destructiveHint"] = False
    if "idempotent" in semantics:
        hints["idempotentHint"] = bool(semantics["idempotent"])
    return hints


def _json_type(declared: str | None) -> str:
    return declared if declared in _JSON_TYPES else "string"


def input_schema(params: tuple[Param, ...], invocable: Invocable, ops: dict[str, Operation]) -> dict[str, Any]:
    """The JSON Schema of a tool's arguments: declared, or inferred from ``with`` (published dialect)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    if params:
        for p in params:
            prop: dict[str, Any] = {"type": _json_type(p.type)}
            if p.description:
                prop["description"] = p.description
            if p.pattern and prop["type"] == "string":
                prop["pattern"] = p.pattern
            properties[p.name] = prop
            if p.required:
                required.append(p.name)
    else:
        for arg, param in inferred_arguments(invocable, ops):
            prop = {"type": _json_type(param.type if param else None)}
            if param and param.description:
                prop["description"] = param.description
            properties[arg] = prop
            if param is not None and param.required:
                required.append(arg)
    # Closed: an undeclared argument would otherwise flow by name into a consumed parameter.
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def inferred_arguments(invocable: Invocable, ops: dict[str, Operation]) -> list[tuple[str, Param | None]]:
    """Arguments a tool without ``inputParameters`` takes: each ``with`` value ``tools.X`` or ``<ns>.X``,
    typed by the consumed parameter it feeds."""
    found: dict[str, Param | None] = {}
    sources = [(invocable.call, invocable.with_)] + [(s.call, s.with_) for s in invocable.steps]
    for call, with_ in sources:
        op = ops.get(call or "")
        for target, value in with_.items():
            arg = argument_reference(value, invocable.namespace)
            if arg is None:
                continue
            fed = next((p for p in op.input_parameters if p.name == target), None) if op else None
            if found.get(arg) is None:
                found[arg] = fed
    return list(found.items())


def argument_reference(value: Any, namespace: str) -> str | None:
    """``tools.room_id`` or ``<adapter-namespace>.room_id`` -> ``room_id``; anything else -> None."""
    if not isinstance(value, str):
        return None
    for prefix in (namespace, ARG_NAMESPACE):
        if prefix and value.startswith(prefix + ".") and _TOOL_NAME.match(value[len(prefix) + 1:] or "-!"):
            return value[len(prefix) + 1:]
    return None


def _exposure(spec: dict[str, Any], ops: dict[str, Operation], functions: dict[str, Tool]) -> Exposure:
    kind = spec.get("type")
    namespace = spec.get("namespace", "")
    if kind == "mcp":
        transport = spec.get("transport", "http")
        return McpExposure(
            namespace=namespace, address=spec.get("address", "127.0.0.1"), port=spec.get("port"),
            transport=transport, description=spec.get("description"),
            authentication=_frozen(spec["authentication"]) if spec.get("authentication") else None,
            tools=tuple(_tool(t, namespace, ops, functions) for t in spec.get("tools", [])),
            resources=tuple(_resource(r, namespace) for r in spec.get("resources", []) or []),
            prompts=tuple(_prompt(p) for p in spec.get("prompts", []) or []),
            stateless=bool(spec.get("stateless", False)),
        )
    if kind == "rest":
        return RestExposure(
            namespace=namespace, address=spec.get("address", "127.0.0.1"), port=int(spec["port"]),
            authentication=_frozen(spec["authentication"]) if spec.get("authentication") else None,
            resources=tuple(_rest_resource(r, namespace) for r in spec.get("resources", [])),
            input_parameters=_params(spec.get("inputParameters")),
        )
    return OtherExposure(type=str(kind), namespace=spec.get("namespace"),
                         address=spec.get("address", "127.0.0.1"), port=spec.get("port"), spec=_frozen(spec))


def _resource(spec: dict[str, Any], namespace: str) -> McpResource:
    dynamic = bool(spec.get("call") or spec.get("steps"))
    return McpResource(
        name=spec["name"], label=spec.get("label"), uri=spec["uri"], description=spec.get("description"),
        mime_type=spec.get("mimeType"), location=spec.get("location"),
        invocable=_invocable(spec, namespace) if dynamic else None,
    )


def _prompt(spec: dict[str, Any]) -> McpPrompt:
    return McpPrompt(
        name=spec["name"], label=spec.get("label"), description=spec.get("description"),
        arguments=_params(spec.get("arguments"), required_default=True),
        template=tuple(_frozen(m) for m in spec.get("template", []) or []), location=spec.get("location"),
    )


def _rest_resource(spec: dict[str, Any], namespace: str) -> RestResource:
    operations = tuple(
        RestOperation(
            method=str(op.get("method", "GET")).upper(), name=op.get("name"), label=op.get("label"),
            description=op.get("description"), input_parameters=_params(op.get("inputParameters")),
            invocable=_invocable(op, namespace),
        )
        for op in spec.get("operations", []) or []
    )
    return RestResource(
        path=spec["path"], name=spec.get("name"), description=spec.get("description"),
        input_parameters=_params(spec.get("inputParameters")), operations=operations,
        forward=_frozen(spec["forward"]) if spec.get("forward") else None,
    )
