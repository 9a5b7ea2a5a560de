"""The composition root: load -> structure -> model -> rules, then bind once -> ``Runtime``.

``load`` reads and checks capability files and returns every diagnostic with the models;
``runtime`` resolves every capability's binds (all missing names reported at once), chooses each
consumer's transport (a ``--upstream`` override, the bundled sandbox, or the live API) and builds
the ``Runtime``. The CLI, the server and tests all start here, so a capability behaves the same
everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from naftiko_runtime.errors import BindingError, ConfigError, Diagnostic
from naftiko_runtime.model import Capability, Consumer
from naftiko_runtime.validate import Checked, has_errors, validate_paths

if TYPE_CHECKING:
    import httpx2

    from naftiko_runtime.runtime import Runtime, Upstream
    from naftiko_runtime.sandbox.saved import SandboxState
    from naftiko_runtime.telemetry import Telemetry

__all__ = ["Loaded", "check_upstreams", "load", "runtime", "wants_metrics"]


@dataclass(frozen=True, slots=True)
class Loaded:
    """What ``load`` found: every document checked, its model, and every diagnostic."""

    checked: list[Checked]
    diagnostics: list[Diagnostic]

    @property
    def capabilities(self) -> list[Capability]:
        """The models of the capability files (shared-consumes files are only imported)."""
        return [c.capability for c in self.checked if c.capability is not None and c.capability.kind == "capability"]

    def failed(self, *, strict: bool = False) -> bool:
        return has_errors(self.diagnostics, strict=strict)


def load(paths: Iterable[str | Path], env: Mapping[str, str] | None = None, *, together: bool = True,
         strict_env: bool = True, upstreams: Iterable[str] = ()) -> Loaded:
    """Load and check every capability under ``paths`` (``together``: as ``serve`` would serve them).

    A consumer whose base URI ``--upstream`` replaces (``upstreams``: their namespaces) may have an
    unusable one in the file: that error is dropped."""
    checked, diagnostics = validate_paths(paths, env=env, strict_env=strict_env, together=together)
    replaced = {consumer.base_uri.pointer for c in checked if c.capability is not None
                for ns, consumer in c.capability.consumers.items() if ns in set(upstreams) and consumer.base_uri}
    kept = [d for d in diagnostics if not (d.code == "baseuri-invalid" and d.location.pointer in replaced)]
    return Loaded(checked, kept)


def wants_metrics(capabilities: Iterable[Capability]) -> bool:
    """Whether a control exposure asks for metrics (``observability.metrics.local.enabled``)."""
    return any(control.metrics for capability in capabilities for control in capability.controls)


def check_upstreams(upstreams: Mapping[str, str], capabilities: Iterable[Capability]) -> None:
    """A mistyped ``--upstream`` namespace would silently send calls to the real API: refuse it."""
    consumed = {ns for capability in capabilities for ns in capability.consumers}
    unknown = sorted(set(upstreams) - consumed)
    if unknown:
        raise ConfigError(f"no consumed namespace {', '.join(map(repr, unknown))}; "
                          f"consumed: {', '.join(sorted(consumed)) or 'none'}")


@dataclass(slots=True)
class _Plan:
    capability: Capability
    transports: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    routes: list[Upstream] = field(default_factory=list)


def _sandbox_credentials(consumer: Consumer) -> set[str]:
    """Bind variables a sandboxed consumer's credentials read: they get a sandbox credential."""
    values = list(consumer.authentication.fields.values()) if consumer.authentication else []
    values += [v for _, v in consumer.headers]
    return {name.rsplit(".", 1)[-1] for value in values for name in value.names}


def _plan(capability: Capability, upstreams: Mapping[str, str], sandbox: bool,
          transports: Mapping[str, httpx2.AsyncBaseTransport], sandbox_state: SandboxState | None = None) -> _Plan:
    from naftiko_runtime.runtime import Upstream

    plan = _Plan(capability)
    for namespace, consumer in capability.consumers.items():
        if namespace in transports:
            plan.transports[namespace] = transports[namespace]
            plan.routes.append(Upstream(capability.file, namespace, "injected", upstreams.get(namespace, "")))
            continue
        if namespace in upstreams:
            plan.routes.append(Upstream(capability.file, namespace, "upstream", upstreams[namespace]))
            continue
        simulator = _sandbox(consumer, sandbox_state) if sandbox else None
        if simulator is not None:
            from naftiko_runtime.consume import in_process

            plan.transports[namespace] = in_process(simulator)
            from naftiko_runtime.sandbox import SANDBOX_TOKEN

            plan.defaults.update(dict.fromkeys(_sandbox_credentials(consumer), SANDBOX_TOKEN))
            plan.routes.append(Upstream(capability.file, namespace, "sandbox", _base(consumer)))
        else:
            plan.routes.append(Upstream(capability.file, namespace, "live", _base(consumer)))
    return plan


def _base(consumer: Consumer) -> str:
    return str(consumer.base_uri.raw) if consumer.base_uri is not None else ""


def _sandbox(consumer: Consumer, state: SandboxState | None) -> Any:
    from naftiko_runtime.sandbox import sandbox_for

    return sandbox_for(_base(consumer), state)


def runtime(capabilities: Iterable[Capability], env: Mapping[str, str], *,
            upstreams: Mapping[str, str] | None = None, sandbox: bool = False,
            transports: Mapping[str, httpx2.AsyncBaseTransport] | None = None,
            telemetry: Telemetry | None = None, sandbox_state: SandboxState | None = None) -> Runtime:
    """Bind every capability once and build the runtime (not started: ``async with`` it).

    ``sandbox_state``: the simulators continue from it (``state.save()`` writes theirs back).

    Raises ``BindingError`` naming every missing variable of every capability, ``ConfigError`` for
    an ``--upstream`` naming no consumer."""
    from naftiko_runtime.binding import resolve_binds
    from naftiko_runtime.consume import HttpConsumer
    from naftiko_runtime.runtime import Bound, Runtime

    capabilities = list(capabilities)
    upstreams = dict(upstreams or {})
    check_upstreams(upstreams, capabilities)
    bound: list[Bound] = []
    missing: list[str] = []
    details: list[str] = []
    routes: list[Upstream] = []
    for capability in capabilities:
        plan = _plan(capability, upstreams, sandbox, transports or {}, sandbox_state)
        routes += plan.routes
        try:
            variables = resolve_binds(capability.binds, env, defaults=plan.defaults)
        except BindingError as exc:
            missing += [m for m in exc.missing if m not in missing]
            details += [exc.detail] if exc.detail else []
            continue
        consumers = {ns: HttpConsumer(c, variables=variables, base_uri=upstreams.get(ns),
                                      transport=plan.transports.get(ns), telemetry=telemetry)
                     for ns, c in capability.consumers.items()}
        bound.append(Bound(capability, variables, consumers))
    if missing or details:
        raise BindingError(missing, "; ".join(d for d in details if d))
    return Runtime(bound, upstreams=routes, telemetry=telemetry)
