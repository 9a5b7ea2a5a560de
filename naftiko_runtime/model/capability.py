"""The root of the model: one ``Capability`` per capability (or shared-consumes) file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from naftiko_runtime.model.nodes import EMPTY, Bind, Consumer, Operation
from naftiko_runtime.model.units import (
    ControlExposure,
    Exposure,
    Forward,
    Function,
    McpExposure,
    Prompt,
    Resource,
    RestExposure,
    Route,
    SkillExposure,
    Tool,
    Unit,
)


@dataclass(frozen=True, slots=True, eq=False)
class Capability:
    """Everything a capability file declares, typed and resolved.

    Built from any document, valid or not: parts with structure errors are absent. ``kind`` is
    ``capability`` or ``consumes`` (a shared-consumes file, only imported by others)."""

    file: str
    path: Path
    kind: str = "capability"
    version: str | None = None
    label: str | None = None
    description: str | None = None
    binds: tuple[Bind, ...] = ()
    consumers: Mapping[str, Consumer] = field(default_factory=lambda: EMPTY)
    functions: Mapping[str, Function] = field(default_factory=lambda: EMPTY)
    exposures: tuple[Exposure, ...] = ()
    unresolved_imports: frozenset[str] = frozenset()  # consumes namespaces whose import failed
    namespaces: tuple[tuple[str, str], ...] = ()  # every declared namespace with the pointer of its key
    declared_functions: tuple[Function, ...] = ()  # every aggregate function, duplicates included
    sources: tuple[Path, ...] = ()  # the files it was read from: itself, then every file it imports

    def operation(self, ref: str) -> Operation | None:
        namespace, _, name = ref.partition(".")
        consumer = self.consumers.get(namespace)
        return consumer.operations.get(name) if consumer is not None else None

    def of_type(self, kind: type[Exposure]) -> Iterator[Exposure]:
        return (e for e in self.exposures if isinstance(e, kind))

    @property
    def mcp(self) -> tuple[McpExposure, ...]:
        return tuple(e for e in self.exposures if isinstance(e, McpExposure))

    @property
    def rest(self) -> tuple[RestExposure, ...]:
        return tuple(e for e in self.exposures if isinstance(e, RestExposure))

    @property
    def skills(self) -> tuple[SkillExposure, ...]:
        return tuple(e for e in self.exposures if isinstance(e, SkillExposure))

    @property
    def controls(self) -> tuple[ControlExposure, ...]:
        return tuple(e for e in self.exposures if isinstance(e, ControlExposure))

    def tools(self) -> Iterator[Tool]:
        for exposure in self.mcp:
            yield from exposure.tools

    def routes(self) -> Iterator[Route]:
        for exposure in self.rest:
            for resource in exposure.resources:
                yield from resource.routes

    def forwards(self) -> Iterator[Forward]:
        for exposure in self.rest:
            for resource in exposure.resources:
                if resource.forward is not None:
                    yield resource.forward

    def units(self) -> Iterator[Unit]:
        """Every unit a client can reach, plus the aggregate functions they share."""
        for exposure in self.mcp:
            yield from exposure.tools
            yield from exposure.resources
            yield from exposure.prompts
        yield from self.routes()
        yield from self.forwards()
        yield from self.functions.values()

    def invocable(self) -> Iterator[Unit]:
        """Units with an ``Invocation`` (tools, routes, dynamic resources, functions)."""
        return (u for u in self.units() if u.invocation is not None)

    @property
    def bind_names(self) -> frozenset[str]:
        """Every bind variable, bare (``VAR``) and qualified (``namespace.VAR``)."""
        names: set[str] = set()
        for bind in self.binds:
            names.update(bind.keys)
            names.update(f"{bind.namespace}.{var}" for var in bind.keys)
        return frozenset(names)


__all__ = ["Capability", "Prompt", "Resource"]
