"""Which exposures share a listener: one planner for ``validate --together`` and ``naftiko serve``.

What one address:port can hold (how ``serve`` mounts exposures):

* MCP (http), REST and skill exposures with the same address literal and port share one listener:
  MCP at ``/mcp`` (the union of tools) and ``/mcp/<namespace>``, skills at ``/skills``, REST at its
  routes. So tool names must be unique across those MCP exposures, MCP namespaces must differ, only
  one skill catalog fits, and REST routes must not overlap each other, ``/mcp`` or ``/skills``.
* Two different address literals for the same port cannot share a listener: when they name the
  same host (localhost vs 127.0.0.1) or one is a wildcard (0.0.0.0, ::) the second bind fails.
* A control adapter never shares its port.
* stdio MCP exposures have no endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from naftiko_runtime.model.capability import Capability
from naftiko_runtime.model.refs import PATH_PLACEHOLDER
from naftiko_runtime.model.units import (
    ControlExposure,
    Exposure,
    McpExposure,
    RestExposure,
    SkillExposure,
)

DEFAULT_ADDRESS = "127.0.0.1"
CONTROL_ADDRESS = "localhost"
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
WILDCARD = frozenset({"0.0.0.0", "::", "[::]", "*", ""})


@dataclass(frozen=True, slots=True, eq=False)
class Endpoint:
    """One exposure bound to an address:port."""

    capability: Capability
    exposure: Exposure
    address: str
    port: int

    @property
    def kind(self) -> str:
        return self.exposure.type

    @property
    def host(self) -> str:
        address = self.address.lower()
        return "*" if address in WILDCARD else "loopback" if address in LOOPBACK else address

    def overlaps(self, other: Endpoint) -> bool:
        return self.port == other.port and (self.host == other.host or "*" in (self.host, other.host))


@dataclass(slots=True)
class Listener:
    """Every exposure served on one address:port."""

    address: str
    port: int
    mcp: list[tuple[McpExposure, Capability]] = field(default_factory=list)
    rest: list[tuple[RestExposure, Capability]] = field(default_factory=list)
    skill: list[tuple[SkillExposure, Capability]] = field(default_factory=list)
    control: list[tuple[ControlExposure, Capability]] = field(default_factory=list)


def transport_of(exposure: McpExposure, transport: str | None = None) -> str:
    return transport or exposure.transport or "http"


def endpoints(capabilities: Iterable[Capability], *, address: str | None = None, port: int | None = None,
              transport: str | None = None, kinds: Sequence[str] = ("mcp", "rest", "skill", "control"),
              ) -> list[Endpoint]:
    """The network endpoints of the exposures (``address``/``port`` override each exposure's own;
    an exposure with no port and no override is left out: ``serve`` reports it)."""
    found: list[Endpoint] = []
    for capability in capabilities:
        for exposure in capability.exposures:
            if exposure.type not in kinds:
                continue
            if isinstance(exposure, McpExposure) and transport_of(exposure, transport) != "http":
                continue
            bind_port = port if port is not None and exposure.type != "control" else exposure.port
            if bind_port is None:
                continue
            default = CONTROL_ADDRESS if exposure.type == "control" else DEFAULT_ADDRESS
            bind_address = (address if exposure.type != "control" else None) or exposure.address or default
            found.append(Endpoint(capability, exposure, bind_address, bind_port))
    return found


def plan(capabilities: Iterable[Capability], *, address: str | None = None, port: int | None = None,
         transport: str | None = None) -> list[Listener]:
    """One ``Listener`` per address:port, in the order the exposures are declared."""
    listeners: dict[tuple[str, int], Listener] = {}
    for endpoint in endpoints(capabilities, address=address, port=port, transport=transport):
        key = (endpoint.address, endpoint.port)
        listener = listeners.setdefault(key, Listener(*key))
        getattr(listener, endpoint.kind).append((endpoint.exposure, endpoint.capability))
    return list(listeners.values())


def stdio(capabilities: Iterable[Capability], transport: str | None = None) -> list[tuple[McpExposure, Capability]]:
    """The MCP exposures served on stdin/stdout."""
    return [(e, c) for c in capabilities for e in c.mcp if transport_of(e, transport) == "stdio"]


def unlisted(capabilities: Iterable[Capability], *, port: int | None = None,
             transport: str | None = None) -> list[Exposure]:
    """HTTP exposures that have no port to listen on."""
    return [e for c in capabilities for e in c.exposures
            if e.type in ("mcp", "rest") and e.port is None and port is None
            and not (isinstance(e, McpExposure) and transport_of(e, transport) != "http")]


# ------------------------------------------------------------------------------------------- routes


def segments(path: str) -> list[str]:
    """Route segments; a placeholder becomes ``*``, the greedy ``{path}`` becomes ``**``."""
    out = []
    for part in path.strip("/").split("/"):
        match = PATH_PLACEHOLDER.fullmatch(part)
        out.append(("**" if match.group(1) == "path" else "*") if match else part)
    return [s for s in out if s != ""]


def overlap(a: list[str], b: list[str]) -> bool:
    """True when some concrete path matches both routes."""
    if not a or not b:
        return (not a and not b) or a[:1] == ["**"] or b[:1] == ["**"]
    if a[0] == "**" or b[0] == "**":
        return True
    if a[0] == "*" or b[0] == "*" or a[0] == b[0]:
        return overlap(a[1:], b[1:])
    return False
