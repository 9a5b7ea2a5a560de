"""What ``naftiko serve`` says when it starts: where each exposure listens, who may reach it, where
each consumer's calls go; and the in-memory span buffer a control port asks for."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from naftiko_runtime.expose.guards import allowed_hosts_for, is_loopback, is_wildcard
from naftiko_runtime.expose.listeners import Listener
from naftiko_runtime.model import McpExposure
from naftiko_runtime.runtime import Runtime

__all__ = ["Emit", "announce", "keep_traces", "printer"]

McpEntry = tuple[McpExposure, Runtime]
Emit = Callable[[str, dict[str, Any]], None]


def printer(log_format: str) -> Emit:
    def emit(text: str, data: dict[str, Any]) -> None:
        line = json.dumps(data) if log_format == "json" else text
        print(line, file=sys.stderr, flush=True)

    return emit


def announce(emit: Emit, listeners: Sequence[Listener], stdio: Sequence[McpEntry],
             runtime: Runtime | None = None, allowed_hosts: Sequence[str] = ()) -> None:
    """What the process serves, where, who may reach it and where each consumer's calls go."""
    for listener in listeners:
        for kind, namespace, path in listener.endpoints:
            url = listener.url(path)
            emit(f"{kind} {namespace}  {url}", {"event": "listening", "kind": kind, "namespace": namespace, "url": url})
        for text in listener.warnings:
            emit(f"warning: {text}", {"event": "warning", "message": text})
        if listener.unauthenticated and not is_loopback(listener.address):
            names = ", ".join(listener.unauthenticated)
            emit(
                f"warning: {names} on {listener.address}:{listener.port} accept requests without "
                "authentication from anyone who can reach that address",
                {
                    "event": "warning",
                    "message": "unauthenticated exposure on a non-loopback address",
                    "namespaces": listener.unauthenticated,
                    "address": listener.address,
                    "port": listener.port,
                },
            )
        if is_wildcard(listener.address):
            hosts, _ = allowed_hosts_for(listener.address, allowed_hosts)
            shown = "any host" if hosts is None else (", ".join(h for h in hosts if not h.endswith(":*"))
                                                      + " and this machine's addresses")
            emit(f"{listener.address}:{listener.port} accepts the Host names {shown}; add others with "
                 "--allowed-host (or NAFTIKO_ALLOWED_HOSTS)",
                 {"event": "allowed-hosts", "address": listener.address, "port": listener.port,
                  "hosts": hosts if hosts is not None else ["*"]})
    for exposure, _ in stdio:
        emit(
            f"MCP {exposure.namespace}  stdio",
            {"event": "listening", "kind": "MCP", "namespace": exposure.namespace, "transport": "stdio"},
        )
    for upstream in runtime.upstreams if runtime is not None else ():
        if upstream.target == "injected":
            continue  # the embedding program chose that transport itself
        where = "the bundled sandbox" if upstream.target == "sandbox" else upstream.url
        emit(f"upstream {upstream.namespace} -> {where} ({upstream.target})",
             {"event": "upstream", "namespace": upstream.namespace, "target": upstream.target, "url": upstream.url})


def keep_traces(runtime: Runtime, emit: Emit) -> None:
    """A control port asks for the last spans in memory (``observability.traces.local``)."""
    from naftiko_runtime.telemetry import traces

    for capability in runtime.capabilities:
        for control in capability.controls:
            if control.traces:
                warning = traces.keep_locally(control.traces_kept)
                if warning:
                    emit(f"warning: {warning}", {"event": "warning", "message": warning})
