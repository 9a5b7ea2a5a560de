"""Stage 7, runtime: invoke(tool or route, arguments) -> result. Knows nothing of MCP or REST.

The one place where a call is executed: arguments are validated, ``with`` wiring applied, the
consumed operation (or the steps, the mock, the aggregate function) run and outputs mapped.
Adapters turn the result, or the ``InvocationError`` raised, into their protocol's answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from naftiko_runtime.binding import resolve_binds
from naftiko_runtime.errors import InputError, InvocationError
from naftiko_runtime.model import Capability, Invocable, McpExposure, Operation, Tool, argument_reference
from naftiko_runtime.templates import Secret, compile_template, render_native, resolve_path

if TYPE_CHECKING:
    import httpx2

    from naftiko_runtime.consume import HttpConsumer, UpstreamResponse
    from naftiko_runtime.jsonschemas import Validator
    from naftiko_runtime.mapping import OutputMapper


class CapabilityRuntime:
    """One capability's live state: bound variables and one HTTP consumer per consumed namespace."""

    def __init__(self, capability: Capability, variables: Mapping[str, Secret],
                 consumers: Mapping[str, HttpConsumer]) -> None:
        self.capability = capability
        self.variables = dict(variables)
        self.consumers = dict(consumers)
        self._validators: dict[int, Validator] = {}
        self._mappers: dict[int, OutputMapper] = {}
        self._secrets = _secret_pattern(self.variables.values())

    # ------------------------------------------------------------------ entry points for adapters

    async def call_tool(self, tool: Tool, arguments: Mapping[str, Any] | None) -> Any:
        """Validate ``arguments`` against the tool's input schema, then run it."""
        args = dict(arguments or {})
        self.check_arguments(tool, args)
        return await self.invoke(tool.invocable, args, operation=tool.name)

    def check_arguments(self, tool: Tool, args: Mapping[str, Any]) -> None:
        validator = self._validators.get(id(tool))
        if validator is None:
            from naftiko_runtime.jsonschemas import Validator
            from naftiko_runtime.mapping import plain

            validator = Validator(plain(tool.input_schema))
            self._validators[id(tool)] = validator
        problems = [{"pointer": problem.pointer or "/", "message": _short(problem.message)}
                    for problem in sorted(validator.problems(args), key=lambda p: p.path)]
        problems += [{"pointer": pointer, "message": "is not valid Unicode text (a lone surrogate)"}
                     for pointer in _unencodable(args, "")]
        if problems:
            raise InputError(problems, operation=tool.name)

    async def invoke(self, invocable: Invocable, arguments: Mapping[str, Any], *,
                     operation: str | None = None) -> Any:
        """Run a tool, route operation, resource or function body with already-checked arguments.

        Bound values never reach a caller: an upstream echoing one back gets it masked as ``***``."""
        result = await self._invoke(invocable, arguments, operation=operation)
        return result if self._secrets is None else _redact(result, self._secrets)

    async def _invoke(self, invocable: Invocable, arguments: Mapping[str, Any], *,
                      operation: str | None = None) -> Any:
        try:
            if invocable.mode == "ref":
                function = self.capability.functions[invocable.ref or ""]
                params = self.apply_with(invocable.with_, arguments, invocable.namespace)
                return await self._invoke(function.invocable, params, operation=operation)
            if invocable.mode == "mock":
                from naftiko_runtime.mapping import build_mock

                return build_mock(list(invocable.output_parameters), self.context(arguments))
            if invocable.mode == "steps":
                return await self._run_steps(invocable, arguments)
            return await self._run_call(invocable, arguments)
        except InvocationError as exc:
            if exc.operation is None:
                exc.operation = operation
            raise

    # ------------------------------------------------------------------ wiring

    def context(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Template context: parameters, then bind variables (configuration wins over callers)."""
        return {**params, **self.variables}

    def apply_with(self, with_: Mapping[str, Any], params: Mapping[str, Any], namespace: str) -> dict[str, Any]:
        """``with`` wiring: ``ns.arg`` copies a caller argument, templates render, literals stay."""
        result = dict(params)
        context = self.context(params)
        for key, value in with_.items():
            arg = argument_reference(value, namespace)
            if arg is not None:
                if arg in params:
                    result[key] = params[arg]
                continue
            result[key] = render_native(value, context)
        return result

    def _mapper(self, invocable: Invocable) -> OutputMapper:
        mapper = self._mappers.get(id(invocable))
        if mapper is None:
            from naftiko_runtime.mapping import OutputMapper

            mapper = OutputMapper(list(invocable.output_parameters))
            self._mappers[id(invocable)] = mapper
        return mapper

    async def _call_operation(self, ref: str, params: Mapping[str, Any]) -> Any:
        op = self._operation(ref)
        return await self.consumers[op.namespace].call(op, self.context(params))

    async def _call_keeping_body(self, ref: str, params: Mapping[str, Any]) -> tuple[Any, UpstreamResponse]:
        op = self._operation(ref)
        consumer = self.consumers[op.namespace]
        response = await consumer.fetch(op, self.context(params))
        return consumer.decode(op, response), response

    def _operation(self, ref: str) -> Operation:
        try:
            return self.capability.operation(ref)
        except KeyError:
            raise InvocationError(f"unknown consumed operation {ref}", operation=ref) from None

    async def _run_call(self, invocable: Invocable, arguments: Mapping[str, Any]) -> Any:
        params = self.apply_with(invocable.with_, arguments, invocable.namespace)
        tree, response = await self._call_keeping_body(invocable.call or "", params)
        mapped, value = self._mapper(invocable).map(tree, self.context(params))
        if mapped:
            return value
        fmt = (self._operation(invocable.call or "").output_raw_format or "json").lower()
        if fmt == "json" or tree is None:
            return tree
        from naftiko_runtime.formats import raw_body

        return raw_body(response.content, fmt, response.content_type)  # as the reference: the upstream text

    async def _run_steps(self, invocable: Invocable, arguments: Mapping[str, Any]) -> Any:
        from naftiko_runtime.mapping import apply_step_mappings, project_consumed_outputs

        params = dict(arguments)
        outputs: dict[str, Any] = {}
        last: Any = None
        for step in invocable.steps:
            if step.type == "call":
                step_params = self.apply_with(step.with_, params, invocable.namespace)
                op = self._operation(step.call or "")
                last = await self._call_operation(op.ref, step_params)
                named = [p for p in op.output_parameters if "name" in p]
                outputs[step.name] = project_consumed_outputs(named, last) if named else last
                params[step.name] = outputs[step.name]
            elif step.type == "lookup":
                found = lookup(index_entries(outputs.get(step.index or "")), step.match or "",
                               self._lookup_value(step.lookup_value, outputs, params), step.output_parameters)
                if found is not None:
                    outputs[step.name] = found
            else:
                raise InvocationError(f"step '{step.name}': {step.type} steps are not supported yet")
        if invocable.mappings:
            mapped = apply_step_mappings(list(invocable.mappings), outputs)
            if mapped is not None:
                return mapped
        return last

    def _lookup_value(self, value: Any, outputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        if isinstance(value, str) and value.startswith("$."):
            return dot_path(outputs, value[2:])
        return render_native(value, self.context(params))


class Runtime:
    """Every capability being served: binds resolved, consumers started, closed on exit."""

    def __init__(self, capabilities: Iterable[Capability], *, env: Mapping[str, str],
                 upstreams: Mapping[str, str] | None = None, sandbox: bool = False,
                 transports: Mapping[str, httpx2.AsyncBaseTransport] | None = None) -> None:
        self.capabilities = list(capabilities)
        self.env = env
        self.upstreams = dict(upstreams or {})
        self.sandbox = sandbox
        self.transports = dict(transports or {})
        self.units: list[CapabilityRuntime] = []
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def bind_all(self) -> list[CapabilityRuntime]:
        """Resolve every capability's binds (raises ``BindingError`` naming all that are missing)."""
        from naftiko_runtime.consume import HttpConsumer

        units = []
        for capability in self.capabilities:
            sandboxed = {ns: self._sandbox_transport(c.base_uri) for ns, c in capability.consumers.items()}
            sandboxed = {ns: t for ns, t in sandboxed.items() if t is not None}
            variables = resolve_binds(capability.binds, self.env, defaults=self._sandbox_defaults(
                capability, sandboxed))
            consumers = {
                ns: HttpConsumer(consumer, variables=variables, base_uri=self.upstreams.get(ns),
                                 transport=self.transports.get(ns) or sandboxed.get(ns))
                for ns, consumer in capability.consumers.items()
            }
            units.append(CapabilityRuntime(capability, variables, consumers))
        return units

    async def start(self) -> None:
        self.units = self.bind_all()
        for unit in self.units:
            for consumer in unit.consumers.values():
                await consumer.start()
                self._stack.push_async_callback(consumer.aclose)

    async def aclose(self) -> None:
        await self._stack.aclose()

    def mcp_exposures(self) -> list[tuple[McpExposure, CapabilityRuntime]]:
        return [(e, u) for u in self.units for e in u.capability.exposures if isinstance(e, McpExposure)]

    def _sandbox_transport(self, base_uri: str) -> httpx2.AsyncBaseTransport | None:
        if not self.sandbox:
            return None
        import httpx2

        from naftiko_runtime.sandbox import sandbox_for

        app = sandbox_for(base_uri)
        return httpx2.ASGITransport(app=app) if app is not None else None

    def _sandbox_defaults(self, capability: Capability, sandboxed: Mapping[str, Any]) -> dict[str, str]:
        """Bind variables used only by a sandboxed consumer's authentication get a sandbox credential."""
        if not sandboxed:
            return {}
        from naftiko_runtime.sandbox import SANDBOX_TOKEN

        names: set[str] = set()
        for ns in sandboxed:
            auth = capability.consumers[ns].authentication or {}
            for value in auth.values():
                if isinstance(value, str):
                    names.update(n.rsplit(".", 1)[-1] for n in compile_template(value).names)
        return dict.fromkeys(names, SANDBOX_TOKEN)


# ---------------------------------------------------------------------------------------- helpers




def dot_path(data: Any, path: str) -> Any:
    """``$.step.a.b`` step-context paths: plain dot traversal, no list indices (the spec's rule)."""
    return resolve_path(data, path, indices=False)


def as_text(value: Any) -> str:
    """How a lookup compares values: strings as-is, everything else as JSON text."""
    return value if isinstance(value, str) else json.dumps(value)


def index_entries(output: Any) -> Any:
    """What a lookup searches: the step's array output or, an extension of ours, the one array of a
    projection such as ``{streams: [...]}`` (APIs that wrap lists in an envelope)."""
    if isinstance(output, Mapping):
        arrays = [v for v in output.values() if isinstance(v, list)]
        if len(arrays) == 1:
            return arrays[0]
    return output


def lookup(index: Any, match: str, value: Any, fields: tuple[str, ...]) -> Any:
    """First entry of ``index`` whose ``match`` field equals ``value``; a list value looks up each."""
    if not isinstance(index, list):
        return None
    if isinstance(value, list):
        found = [lookup(index, match, v, fields) for v in value]
        return [f for f in found if f is not None]
    wanted = as_text(value)
    for entry in index:
        if isinstance(entry, Mapping) and match in entry and as_text(entry[match]) == wanted:
            return {f: entry.get(f) for f in fields} if fields else dict(entry)
    return None


def _short(message: str, limit: int = 200) -> str:
    """Argument errors quote the value; a huge argument must not make a huge error."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _unencodable(value: Any, pointer: str) -> Iterable[str]:
    """Pointers of strings that cannot travel as UTF-8 (lone surrogates from JSON ``\\ud800``)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            yield pointer or "/"
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from _unencodable(child, f"{pointer}/{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _unencodable(child, f"{pointer}/{i}")


def _secret_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching every bound value long enough to be recognisable (3+ characters)."""
    secrets = sorted({str.__str__(v) for v in values if len(v) >= 3}, key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in secrets)) if secrets else None


def _redact(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        if not pattern.search(value):
            return value
        masked = pattern.sub("***", value)
        return type(value)(masked, value.media_type) if hasattr(value, "media_type") else masked
    if isinstance(value, dict):
        return {k: _redact(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, pattern) for v in value]
    return value
