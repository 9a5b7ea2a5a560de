"""The ASGI app uvicorn serves on each socket, and the version of the served app behind it: a hot
reload switches the version in place, and the previous one counts the requests it still answers so
that it can be closed once they are done."""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Counted", "Swappable"]


class Counted:
    """One version's app on one socket, counting the requests it is answering, so that a hot reload
    can let them finish before that version closes. The long-lived GET streams of MCP sessions are
    not counted: their endpoints outlive versions (``expose.endpoints``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.active = 0
        self._quiet: anyio.Event | None = None  # made only while someone waits (an event per request costs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope.get("method") == "GET" and str(scope.get("path", "")).startswith("/mcp")):
            await self.app(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            if self.active == 0 and self._quiet is not None:
                self._quiet.set()
                self._quiet = None

    async def quiet(self) -> None:
        """Wait until no counted request is being answered."""
        if self.active:
            if self._quiet is None:
                self._quiet = anyio.Event()
            await self._quiet.wait()


class Swappable:
    """The ASGI app uvicorn serves on one socket; replaced in place on a hot reload (each request
    goes to the version current when it arrives). Each version's lifespan is run by ``Server``."""

    def __init__(self, app: ASGIApp) -> None:
        self.current = Counted(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.current(scope, receive, send)

    def switch(self, app: ASGIApp) -> Counted:
        """Send new requests to ``app``; returns the previous version's app."""
        previous, self.current = self.current, Counted(app)
        return previous
