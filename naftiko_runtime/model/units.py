"""The typed model, exposed side: what clients invoke (units) and the exposures that serve them.

A *unit* is anything ``runtime.invoke`` runs: an MCP tool, a REST route operation, a dynamic MCP
resource, an MCP prompt, an aggregate function, a REST forward. Each invocable unit has an
``Invocation`` (what runs: a call, steps, a mock, or a ``ref`` to a function) whose references are
already resolved: ``Call.operation`` is the consumed operation or None, ``WithEntry.source`` says
where a ``with`` value comes from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naftiko_runtime.jsonpath import JsonPath
from naftiko_runtime.model.nodes import EMPTY, Auth, Consumer, Operation, Value
from naftiko_runtime.templates import Template

# ------------------------------------------------------------------------------------ references


@dataclass(frozen=True, slots=True)
class Argument:
    """``tools.x`` / ``rest.x`` / ``<namespace>.x``: the unit's input ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class StepOutput:
    """``<step>.field``: a field of an earlier step's output."""

    step: str
    path: str


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A value that looks like a reference but names nothing: it must never be sent as text.

    ``why`` is ``input`` (no such input), ``foreign`` (another adapter's namespace), ``consumed``
    (a consumed API's namespace, where the unit's own was meant) or ``step`` (a step that does not
    exist, or runs later)."""

    prefix: str
    name: str
    why: str


Source = Argument | StepOutput | Unresolved


@dataclass(frozen=True, slots=True, eq=False)
class WithEntry:
    """One ``with`` key: a reference (``source``) or a value rendered per call."""

    key: str
    value: Value
    source: Source | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Call:
    """``call: namespace.operation`` with its ``with``; ``operation`` is None when it names nothing."""

    target: str
    operation: Operation | None
    pointer: str
    with_: tuple[WithEntry, ...] = ()
    with_pointer: str = ""
    is_function: bool = False  # the target is an aggregate function, not an operation


@dataclass(frozen=True, slots=True, eq=False)
class Step:
    """An orchestration step: ``call``, ``lookup`` or ``script`` (not run by this runtime)."""

    kind: str
    name: str
    pointer: str
    call: Call | None = None
    index: str | None = None
    match: str | None = None
    lookup_value: Value | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StepMapping:
    """``mappings`` entry: ``target`` (dots nest) <- ``value`` (``$.<step>.<field>...``)."""

    target: str
    value: str
    pointer: str


@dataclass(frozen=True, slots=True, eq=False)
class OutputParam:
    """An exposed output parameter, compiled: JSONPath ``path`` or ``value`` template, and children."""

    pointer: str
    name: str | None = None
    type: str | None = None
    description: str | None = None
    mapping: str | None = None  # the JSONPath as written (`path` is None when it does not parse)
    path: JsonPath | None = None
    value: Value | None = None
    properties: tuple[tuple[str, OutputParam], ...] = ()
    items: tuple[OutputParam, ...] = ()  # one element, or the 0.4/0.5 list form
    items_listed: bool = False
    values: OutputParam | None = None  # the map form: each entry of the object at `path`
    max_length: int | None = None
    schema: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # extension: JSON Schema of the value

    @property
    def item(self) -> OutputParam | None:
        """What describes each array element (the first of a list form)."""
        return self.items[0] if self.items else None

    def walk(self) -> Iterator[OutputParam]:
        yield self
        for _, child in self.properties:
            yield from child.walk()
        for child in self.items:
            yield from child.walk()
        if self.values is not None:
            yield from self.values.walk()


@dataclass(frozen=True, slots=True, eq=False)
class FunctionRef:
    target: str
    function: Function | None
    pointer: str


@dataclass(frozen=True, slots=True, eq=False)
class Invocation:
    """What runs when a unit is invoked."""

    namespace: str  # the prefix that means "this unit's input" in `with` values
    pointer: str
    call: Call | None = None
    steps: tuple[Step, ...] = ()
    mappings: tuple[StepMapping, ...] = ()
    outputs: tuple[OutputParam, ...] = ()
    ref: FunctionRef | None = None
    with_: tuple[WithEntry, ...] = ()  # with a `ref`: applied before the function runs

    @property
    def mode(self) -> str:
        if self.ref is not None:
            return "ref"
        if self.call is not None:
            return "call"
        return "steps" if self.steps else "mock"

    def calls(self) -> Iterator[Call]:
        if self.call is not None:
            yield self.call
        for step in self.steps:
            if step.call is not None:
                yield step.call

    def resolved(self) -> Invocation:
        """Follow ``ref`` to the function whose body actually runs (chains are refused by rules)."""
        invocation: Invocation = self
        for _ in range(8):
            if invocation.ref is None or invocation.ref.function is None:
                break
            if invocation.ref.function.invocation is None:
                break
            invocation = invocation.ref.function.invocation
        return invocation


# ---------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True, eq=False)
class Input:
    """An input of a unit. ``in_`` is where a REST route reads it (None for MCP tools).

    A ``value`` that is not a JSONPath makes the input a constant: callers cannot set it."""

    name: str
    pointer: str
    in_: str | None = None
    type: str = "string"
    description: str | None = None
    required: bool = False
    pattern: str | None = None
    value: Value | None = None
    path: JsonPath | None = None  # body inputs selected from the request body by JSONPath
    origin: str = "declared"  # or: path (a route path variable), reference (`with`), placeholder
    schema: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # extra JSON Schema keywords

    @property
    def is_constant(self) -> bool:
        return self.value is not None and self.path is None


# ----------------------------------------------------------------------------------------- units


@dataclass(frozen=True, slots=True, eq=False)
class Unit:
    """Something a client invokes. ``label`` names it in messages, logs and metrics."""

    kind: str  # tool | route | resource | prompt | function | forward
    name: str
    pointer: str
    exposure: str  # the exposure's (or aggregate's) namespace
    description: str | None = None
    inputs: tuple[Input, ...] = ()
    input_schema: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    invocation: Invocation | None = None
    inputs_inferred: bool = False

    @property
    def label(self) -> str:
        return self.name

    @property
    def constants(self) -> tuple[Input, ...]:
        return tuple(i for i in self.inputs if i.is_constant)


@dataclass(frozen=True, slots=True, eq=False)
class Tool(Unit):
    title: str | None = None
    annotations: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    hints: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # as declared (annotations add inherited ones)
    output_schema: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Function(Unit):
    """An aggregate function: a tool body shared by tools and routes through ``ref``."""

    semantics: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    annotations: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    @property
    def ref(self) -> str:
        return f"{self.exposure}.{self.name}"


@dataclass(frozen=True, slots=True, eq=False)
class Route(Unit):
    """A REST operation: ``method`` on a resource ``path``. Its ``name`` may be None in the spec;
    ``label`` is then ``METHOD /path``."""

    method: str = "GET"
    path: str = "/"
    declared_name: str | None = None
    title: str | None = None
    output_schema: Mapping[str, Any] | None = None
    binary_media_type: str | None = None  # Ikanos `responses`/`responseBinary`: binary answers' media type

    @property
    def label(self) -> str:
        return self.declared_name or f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True, eq=False)
class Resource(Unit):
    """An MCP resource: dynamic (``invocation``), a template (``uri`` with ``{param}``), or static files."""

    title: str | None = None
    uri: str = ""
    mime_type: str | None = None
    location: str | None = None
    folder: Path | None = None  # static resources: the folder whose files are listed

    @property
    def is_template(self) -> bool:
        return "{" in self.uri


@dataclass(frozen=True, slots=True)
class PromptMessage:
    role: str
    content: Template
    pointer: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Prompt(Unit):
    title: str | None = None
    messages: tuple[PromptMessage, ...] = ()
    location: str | None = None
    file: Path | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Forward(Unit):
    """A REST ``forward``: requests under ``path`` proxied to a consumed API."""

    path: str = "/"
    target: str = ""
    consumer: Consumer | None = None
    trusted_headers: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------- exposures


@dataclass(frozen=True, slots=True, eq=False)
class Exposure:
    type: str
    namespace: str
    pointer: str
    address: str | None = None  # None: the runtime's default for the type
    port: int | None = None
    description: str | None = None
    authentication: Auth | None = None


@dataclass(frozen=True, slots=True, eq=False)
class McpExposure(Exposure):
    transport: str = "http"
    stateless: bool = False
    tools: tuple[Tool, ...] = ()
    resources: tuple[Resource, ...] = ()
    prompts: tuple[Prompt, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class RestResource:
    path: str
    pointer: str
    name: str | None = None
    description: str | None = None
    routes: tuple[Route, ...] = ()
    forward: Forward | None = None


@dataclass(frozen=True, slots=True, eq=False)
class RestExposure(Exposure):
    resources: tuple[RestResource, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class SkillTool:
    name: str
    pointer: str
    description: str | None = None
    source: str | None = None  # from.sourceNamespace
    action: str | None = None  # from.action
    target: Unit | None = None  # the tool or route it names, once resolved
    instruction: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Skill:
    name: str
    pointer: str
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # Agent Skills front matter
    location: str | None = None
    tools: tuple[SkillTool, ...] = ()
    folder: Path | None = None  # the `location` folder (SKILL.md and instruction files)


@dataclass(frozen=True, slots=True, eq=False)
class SkillExposure(Exposure):
    skills: tuple[Skill, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class ControlExposure(Exposure):
    """The control port: what its ``management`` and ``observability`` blocks switch on.

    ``health`` (default on), ``info``, ``reload`` and ``validate`` are management endpoints;
    ``metrics`` and ``traces`` are on when their ``observability.<kind>.local`` block is written
    (unless it says ``enabled: false``) and observability is not turned off as a whole;
    ``traces_kept`` is how many spans the traces buffer holds; ``otlp_endpoint`` is the exporter's."""

    health: bool = True
    info: bool = False
    reload: bool = False
    validate: bool = False
    metrics: bool = False
    traces: bool = False
    traces_kept: int = 100
    otlp_endpoint: Value | None = None
