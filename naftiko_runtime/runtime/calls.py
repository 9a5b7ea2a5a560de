"""One call being executed: ``with`` wiring, the consumed operation (paged when it declares it),
orchestration steps and lookups, aggregate functions and mocks; and prompts rendered."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from naftiko_runtime.consume import HttpConsumer
from naftiko_runtime.errors import InvocationError
from naftiko_runtime.mapping import apply_step_mappings, build_mock, map_outputs, project_consumed_outputs
from naftiko_runtime.model import Argument, Call, Invocation, Prompt, Step, StepOutput, Unresolved, WithEntry
from naftiko_runtime.paging import CONTINUATION, Pages, encode, fetch_pages
from naftiko_runtime.telemetry import CallContext
from naftiko_runtime.templates import render_native, resolve_path

if TYPE_CHECKING:
    from naftiko_runtime.runtime import Bound

__all__ = ["Execution", "as_text", "dot_path", "index_entries", "lookup", "render_prompt"]


class Execution:
    """One invocation: the owning capability's state and the caller's context."""

    def __init__(self, bound: Bound, context: CallContext) -> None:
        self.bound = bound
        self.context = context

    async def run(self, inv: Invocation, args: Mapping[str, Any]) -> Any:
        if inv.ref is not None:
            function = inv.ref.function
            if function is None or function.invocation is None:
                raise InvocationError(f"unknown aggregate function {inv.ref.target}")
            return await self.run(function.invocation, self.apply_with(inv.with_, args))
        if inv.call is not None:
            return await self._call(inv, args)
        if inv.steps:
            return await self._steps(inv, args)
        return build_mock(inv.outputs, self.bound.context(args))

    def apply_with(self, entries: Sequence[WithEntry], params: Mapping[str, Any]) -> dict[str, Any]:
        """``with`` wiring: a reference copies an input (or a step output) when present, templates
        render, literals stay. A reference to nothing is refused: it must never go out as text."""
        result = dict(params)
        context = self.bound.context(params)
        for entry in entries:
            source = entry.source
            if isinstance(source, Argument):
                if source.name in params:
                    result[entry.key] = params[source.name]
            elif isinstance(source, StepOutput):
                value = resolve_path(params.get(source.step), source.path, indices=False)
                if value is not None:
                    result[entry.key] = value
            elif isinstance(source, Unresolved):
                raise InvocationError(f"`{entry.value.raw}` refers to nothing this call has")
            else:
                result[entry.key] = entry.value.native(context)
        return result

    def _consumer(self, call: Call) -> tuple[Any, HttpConsumer]:
        op = call.operation
        consumer = self.bound.consumers.get(op.namespace) if op is not None else None
        if op is None or consumer is None:
            raise InvocationError(f"unknown consumed operation {call.target}", operation=call.target)
        return op, consumer

    async def _call(self, inv: Invocation, args: Mapping[str, Any]) -> Any:
        assert inv.call is not None
        params = self.apply_with(inv.call.with_, args)
        op, consumer = self._consumer(inv.call)
        following: Pages | None = None
        if op.pagination is not None:
            async def page(args: Mapping[str, Any], url: str | None) -> tuple[Any, Any]:
                answer = await consumer.fetch(op, self.bound.context(args), url=url)
                return consumer.decode(op, answer), answer

            following = await fetch_pages(op, params, page)
            tree, response = following.tree, following.response
            self.context.truncated = following.truncation(op.pagination)
        else:
            response = await consumer.fetch(op, self.bound.context(params))
            tree = consumer.decode(op, response)
        self.context.status = response.status
        mapped, value = map_outputs(inv.outputs, tree, self.bound.context(params))
        if following is not None and op.pagination is not None and op.pagination.mode == "page":
            answer = value if mapped else tree
            if isinstance(answer, dict):  # the opaque position of the next page, to call again with
                answer = {**answer, CONTINUATION: encode(op, following.following) if following.following else None}
            return answer
        if mapped:
            return value
        fmt = (op.output_raw_format or "json").lower()
        if fmt == "json" or tree is None or not isinstance(tree, dict | list):
            return tree
        from naftiko_runtime.formats import raw_body

        return raw_body(response.content, fmt, response.content_type)  # as the reference: the upstream text

    async def _steps(self, inv: Invocation, args: Mapping[str, Any]) -> Any:
        params = dict(args)
        outputs: dict[str, Any] = {}
        last: Any = None
        for step in inv.steps:
            if step.kind == "call" and step.call is not None:
                step_params = self.apply_with(step.call.with_, params)
                op, consumer = self._consumer(step.call)
                last = await consumer.call(op, self.bound.context(step_params))
                outputs[step.name] = project_consumed_outputs(op.outputs, last)
                params[step.name] = outputs[step.name]
            elif step.kind == "lookup":
                found = lookup(index_entries(outputs.get(step.index or "")), step.match or "",
                               self._lookup_value(step, outputs, params), step.fields)
                if found is not None:
                    outputs[step.name] = found
            else:
                raise InvocationError(f"step '{step.name}': {step.kind} steps are not supported yet")
        if inv.mappings:
            # Mappings read step outputs and (our extension) the unit's own inputs, steps first.
            mapped = apply_step_mappings(inv.mappings, {**args, **outputs})
            shape = [p.name for p in inv.outputs if p.name]
            if shape:  # a declared result shape is kept: every declared field, null when nothing was found
                return {**dict.fromkeys(shape), **(mapped or {})}
            if mapped is not None:
                return mapped
        return last

    def _lookup_value(self, step: Step, outputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        value = step.lookup_value
        if value is None:
            return None
        if isinstance(value.raw, str) and value.raw.startswith("$."):
            return dot_path(outputs, value.raw[2:])
        return render_native(value.raw, self.bound.context(params))


def render_prompt(prompt: Prompt, arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``{{arg}}`` substitution with the caller's arguments only (bind variables never reach a prompt)."""
    context = {k: v for k, v in arguments.items() if isinstance(v, str)}
    if prompt.file is not None:
        from naftiko_runtime.templates import compile_template

        try:
            text = prompt.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise InvocationError(f"prompt '{prompt.name}' is unavailable", operation=prompt.name) from None
        return [("user", compile_template(text).render(context))]
    return [(message.role, message.content.render(context)) for message in prompt.messages]


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


def lookup(index: Any, match: str, value: Any, fields: Sequence[str]) -> Any:
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
