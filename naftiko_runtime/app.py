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
from urllib.parse import urlsplit

from naftiko_runtime.errors import BindingError, ConfigError, Diagnostic
from naftiko_runtime.model import Capability, Consumer
from naftiko_runtime.secrets import redact
from naftiko_runtime.urls import http_url_problem
from naftiko_runtime.validate import Checked, has_errors, validate_paths

if TYPE_CHECKING:
    import httpx2

    from naftiko_runtime.consume import HttpConsumer
    from naftiko_runtime.runtime import Runtime, Upstream
    from naftiko_runtime.sandbox.saved import SandboxState
    from naftiko_runtime.telemetry import Telemetry

__all__ = ["Loaded", "check_upstreams", "load", "runtime", "simulated_hosts", "wants_metrics"]


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
    bases: dict[str, str] = field(default_factory=dict)  # namespace -> base URI replacing the spec's


def _sandbox_credentials(consumer: Consumer) -> set[str]:
    """Bind variables a sandboxed consumer's credentials read: they get a sandbox credential."""
    values = list(consumer.authentication.fields.values()) if consumer.authentication else []
    values += [v for _, v in consumer.headers]
    return {name.rsplit(".", 1)[-1] for value in values for name in value.names}


def _plan(capability: Capability, upstreams: Mapping[str, str], sandbox: bool,
          transports: Mapping[str, httpx2.AsyncBaseTransport], shared: Mapping[str, str],
          sandbox_state: SandboxState | None = None) -> _Plan:
    from naftiko_runtime.runtime import Upstream

    plan = _Plan(capability)
    for namespace, consumer in capability.consumers.items():
        if namespace in transports:
            plan.transports[namespace] = transports[namespace]
            if namespace in upstreams:
                plan.bases[namespace] = upstreams[namespace]
            plan.routes.append(Upstream(capability.file, namespace, "injected", upstreams.get(namespace, "")))
            continue
        if namespace in upstreams:
            plan.bases[namespace] = upstreams[namespace]
            plan.routes.append(Upstream(capability.file, namespace, "upstream", upstreams[namespace]))
            continue
        host = _simulated_host(consumer) if sandbox else None
        if host is None:
            plan.routes.append(Upstream(capability.file, namespace, "live", _base(consumer)))
            continue
        from naftiko_runtime.sandbox import SANDBOX_TOKEN

        plan.defaults.update(dict.fromkeys(_sandbox_credentials(consumer), SANDBOX_TOKEN))
        if host in shared:  # the simulator process the workers share: over HTTP, same path
            plan.bases[namespace] = shared[host].rstrip("/") + urlsplit(_base(consumer)).path
            plan.routes.append(Upstream(capability.file, namespace, "sandbox", plan.bases[namespace]))
        else:
            from naftiko_runtime.consume import in_process
            from naftiko_runtime.sandbox import sandbox_for

            plan.transports[namespace] = in_process(sandbox_for(_base(consumer), sandbox_state))
            plan.routes.append(Upstream(capability.file, namespace, "sandbox", _base(consumer)))
    return plan


def _base(consumer: Consumer) -> str:
    return str(consumer.base_uri.raw) if consumer.base_uri is not None else ""


def _simulated_host(consumer: Consumer) -> str | None:
    from naftiko_runtime.sandbox import simulated_host

    return simulated_host(_base(consumer))


def simulated_hosts(capabilities: Iterable[Capability]) -> list[str]:
    """The upstream hosts of these capabilities that ``--sandbox`` would simulate."""
    hosts = (_simulated_host(consumer) for capability in capabilities for consumer in capability.consumers.values())
    return sorted({host for host in hosts if host is not None})


def runtime(capabilities: Iterable[Capability], env: Mapping[str, str], *,
            upstreams: Mapping[str, str] | None = None, sandbox: bool = False,
            transports: Mapping[str, httpx2.AsyncBaseTransport] | None = None,
            telemetry: Telemetry | None = None, shared_sandbox: Mapping[str, str] | None = None,
            sandbox_state: SandboxState | None = None) -> Runtime:
    """Bind every capability once and build the runtime (not started: ``async with`` it).

    With ``sandbox``, a consumer of a simulated host calls an in-process simulator of its own, or the
    one at ``shared_sandbox[host]`` (a base URL: the process several workers share). With
    ``sandbox_state`` the in-process simulators continue from it (``state.save()`` writes theirs back).

    Raises ``BindingError`` naming every missing variable of every capability, ``ConfigError`` for
    an ``--upstream`` naming no consumer or a base URI that its binds make unusable."""
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
    unusable: list[str] = []
    for capability in capabilities:
        plan = _plan(capability, upstreams, sandbox, transports or {}, shared_sandbox or {}, sandbox_state)
        routes += plan.routes
        try:
            variables = resolve_binds(capability.binds, env, defaults=plan.defaults)
        except BindingError as exc:
            missing += [m for m in exc.missing if m not in missing]
            details += [exc.detail] if exc.detail else []
            continue
        consumers = {ns: HttpConsumer(c, variables=variables, base_uri=plan.bases.get(ns),
                                      transport=plan.transports.get(ns), telemetry=telemetry)
                     for ns, c in capability.consumers.items()}
        unusable += _unusable_bases(capability, consumers, plan, variables)
        bound.append(Bound(capability, variables, consumers))
    if missing or details:
        raise BindingError(missing, "; ".join(d for d in details if d))
    if unusable:
        raise ConfigError("; ".join(unusable))
    return Runtime(bound, upstreams=routes, telemetry=telemetry)


def _unusable_bases(capability: Capability, consumers: Mapping[str, HttpConsumer], plan: _Plan,
                    variables: Mapping[str, Any]) -> list[str]:
    """Base URIs that their binds turn into URLs no request can use (the spec check saw them with
    placeholders): refused at start-up rather than failing every call. Bound values are masked."""
    found = []
    for ns, consumer in consumers.items():
        written = _base(capability.consumers[ns])
        if ns in plan.bases or ns in plan.transports or "{{" not in written:
            continue  # replaced, simulated, or checked as written already
        if problem := http_url_problem(consumer.base_uri):
            found.append(f"the baseUri `{written}` of `{ns}` {redact(problem, variables.values())} once its binds "
                         "are filled")
    return found
