"""Bundled API simulators ("sandboxes") that `--sandbox` routes consumers to, in-process (with several
workers, in one process they share: `shared.py`).

The engine stays generic: it asks `sandbox_for(base_uri)` for an ASGI app and gets one only when a
simulator is registered for that upstream host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.types import ASGIApp

from . import hms

if TYPE_CHECKING:
    from .saved import SandboxState

__all__ = ["SANDBOXES", "SANDBOX_HOSTS", "SANDBOX_TOKEN", "sandbox_for", "simulated_host"]

# Credential the engine injects in sandbox mode when the real one is unset; simulators accept it.
SANDBOX_TOKEN = "sandbox-token"

# Short names for running a simulator on its own (`python -m naftiko_runtime.sandbox NAME`).
SANDBOXES: dict[str, Callable[[], ASGIApp]] = {"hms": hms.create_app}

# Upstream host -> simulator factory. Each call builds an app with fresh, private state.
SANDBOX_HOSTS: dict[str, Callable[[], ASGIApp]] = {"api.100ms.live": hms.create_app}


def simulated_host(base_uri: str) -> str | None:
    """The host of `base_uri` when a simulator is bundled for it, else None."""
    try:
        host = urlsplit(base_uri).hostname
    except ValueError:
        return None
    return host if host in SANDBOX_HOSTS else None


def sandbox_for(base_uri: str, state: SandboxState | None = None) -> ASGIApp | None:
    """A new simulator for the host of `base_uri`, or None when none is bundled for it; with `state`,
    it continues from the saved state and is saved back by `state.save()`."""
    host = simulated_host(base_uri)
    if host is None:
        return None
    app = SANDBOX_HOSTS[host]()
    if state is not None:
        state.attach(host, app)
    return app
