"""Bundled API simulators ("sandboxes") that `--sandbox` routes consumers to, in-process.

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

__all__ = ["SANDBOXES", "SANDBOX_HOSTS", "SANDBOX_TOKEN", "sandbox_for"]

# Credential the engine injects in sandbox mode when the real one is unset; simulators accept it.
SANDBOX_TOKEN = "sandbox-token"

# Short names for running a simulator on its own (`python -m naftiko_runtime.sandbox NAME`).
SANDBOXES: dict[str, Callable[[], ASGIApp]] = {"hms": hms.create_app}

# Upstream host -> simulator factory. Each call builds an app with fresh, private state.
SANDBOX_HOSTS: dict[str, Callable[[], ASGIApp]] = {"api.100ms.live": hms.create_app}


def sandbox_for(base_uri: str, state: SandboxState | None = None) -> ASGIApp | None:
    """A new simulator for the host of `base_uri`, or None when none is bundled for it; with `state`,
    it continues from the saved state and is saved back by `state.save()`."""
    try:
        host = urlsplit(base_uri).hostname
    except ValueError:
        return None
    factory = SANDBOX_HOSTS.get(host or "")
    if factory is None:
        return None
    app = factory()
    if state is not None:
        state.attach(host or "", app)
    return app
