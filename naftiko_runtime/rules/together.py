"""Across capabilities served together: what one address:port can hold (see ``model.listeners``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from naftiko_runtime.codes import diagnostic
from naftiko_runtime.errors import Diagnostic, Location
from naftiko_runtime.load import Document
from naftiko_runtime.model import Capability, McpExposure, RestExposure
from naftiko_runtime.model.listeners import Endpoint, endpoints, overlap, segments
from naftiko_runtime.source import join


class _Served:
    """The endpoints of every capability, with the document that locates each one's pointers."""

    def __init__(self, pairs: Sequence[tuple[Document, Capability]]) -> None:
        self.docs = {id(capability): doc for doc, capability in pairs}
        self.endpoints = endpoints([capability for _, capability in pairs])
        self._routes: dict[int, list[tuple[str, str, list[str]]]] = {}

    def doc(self, endpoint: Endpoint) -> Document:
        return self.docs[id(endpoint.capability)]

    def locate(self, endpoint: Endpoint, pointer: str) -> Location:
        return self.doc(endpoint).locate(pointer)

    def report(self, at: Endpoint, code: str, message: str, pointer: str, related: Location,
               hint: str | None = None) -> Diagnostic:
        found = diagnostic(code, message, self.doc(at).locate(pointer), hint=hint)
        return dataclasses.replace(found, related=(related,))

    def routes(self, endpoint: Endpoint) -> list[tuple[str, str, list[str]]]:
        """(pointer, path, segments) of each REST resource, computed once: every pair reads them."""
        key = id(endpoint)
        if key not in self._routes:
            exposure = endpoint.exposure
            resources = exposure.resources if isinstance(exposure, RestExposure) else ()
            self._routes[key] = [(join(r.pointer, "path"), r.path, segments(r.path)) for r in resources]
        return self._routes[key]


def check_together(pairs: Sequence[tuple[Document, Capability]]) -> list[Diagnostic]:
    """Conflicts between the exposures of every capability served together (one included)."""
    served = _Served(pairs)
    by_port: dict[int, list[Endpoint]] = {}
    for endpoint in served.endpoints:  # only exposures on one port can conflict
        by_port.setdefault(endpoint.port, []).append(endpoint)
    out: list[Diagnostic] = []
    for group in by_port.values():
        for i, later in enumerate(group):
            for earlier in group[:i]:
                out.extend(_pair(served, earlier, later))
    return out


def _pair(served: _Served, a: Endpoint, b: Endpoint) -> list[Diagnostic]:
    where = f"{b.address}:{b.port}"
    port_ptr = join(b.exposure.pointer, "port")

    def a_port() -> Location:  # located only when reported: most pairs of a port do not clash
        return served.locate(a, join(a.exposure.pointer, "port"))

    if "control" in (a.kind, b.kind):
        return [served.report(b, "control-port-singleton-and-unique",
                              f"port {b.port} is already used by another exposure; a control port is never shared",
                              port_ptr, a_port())]
    if not a.overlaps(b):
        return []
    if a.address != b.address:
        return [served.report(b, "address-port-conflict",
                              f"`{b.address}` and `{a.address}` both bind port {b.port} on the same host",
                              port_ptr, a_port(),
                              hint=f"use the same address literal (`{a.address}`) to share the port")]
    if a.kind == b.kind == "skill":
        return [served.report(b, "address-port-conflict", f"two skill catalogs cannot share /skills on {where}",
                              port_ptr, a_port(), hint="give one of them another port")]
    if a.kind == b.kind == "mcp":
        return _mcp_pair(served, a, b, where)
    if a.kind == b.kind == "rest":
        found = [_route_pair(served, b, ptr, path, segs, a) for ptr, path, segs in served.routes(b)]
        return [d for d in found if d is not None]
    rest, other = (a, b) if a.kind == "rest" else (b, a)
    if rest.kind == "rest" and other.kind in ("mcp", "skill"):
        prefix = "mcp" if other.kind == "mcp" else "skills"
        return [served.report(rest, "rest-route-conflict", f"route `{path}` collides with /{prefix} of the "
                              f"{other.kind} exposure on {where}", ptr,
                              served.locate(other, join(other.exposure.pointer, "port")))
                for ptr, path, segs in served.routes(rest) if segs[:1] == [prefix]]
    return []


def _mcp_pair(served: _Served, a: Endpoint, b: Endpoint, where: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    ns_a, ns_b = a.exposure.namespace, b.exposure.namespace
    if ns_b and ns_a == ns_b and a.capability is not b.capability:  # same file: namespaces-unique
        out.append(served.report(b, "address-port-conflict", f"two MCP exposures named `{ns_b}` on {where} "
                                 f"would both be served at /mcp/{ns_b}", join(b.exposure.pointer, "namespace"),
                                 served.locate(a, join(a.exposure.pointer, "namespace"))))
    assert isinstance(a.exposure, McpExposure) and isinstance(b.exposure, McpExposure)
    names_a = {t.name: join(t.pointer, "name") for t in a.exposure.tools}
    for tool in b.exposure.tools:
        if tool.name in names_a:
            out.append(served.report(b, "tool-name-duplicate", f"tool `{tool.name}` is also served by exposure "
                                     f"`{ns_a}` on {where}; /mcp serves the union of both", join(tool.pointer, "name"),
                                     served.locate(a, names_a[tool.name]),
                                     hint="rename one tool or move one exposure to another port"))
    return out


def _route_pair(served: _Served, b: Endpoint, ptr: str, path: str, segs: list[str], a: Endpoint) -> Diagnostic | None:
    for other_ptr, other, other_segs in served.routes(a):
        if overlap(segs, other_segs):
            return served.report(b, "rest-route-conflict", f"route `{path}` overlaps `{other}` of REST exposure "
                                 f"`{a.exposure.namespace}` on {b.address}:{b.port}", ptr, served.locate(a, other_ptr),
                                 hint="two REST exposures on one address:port need disjoint routes")
    return None
