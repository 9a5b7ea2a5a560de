"""Inbound authentication for exposures (MCP and REST alike): bearer, apikey, basic, OAuth2.

``InboundAuth.from_spec(spec, variables)`` builds a checker from an exposure's ``authentication``
object; secrets are ``{{VAR}}`` templates over the capability's bind variables, rendered once.
``await auth.check(request)`` returns ``None`` when the request may pass, otherwise the 401/403
response to send. ``AuthMiddleware`` wraps any ASGI app with a checker.

Every secret comparison is constant-time (``hmac.compare_digest``), and no secret, presented or
configured, ever appears in a response or a log line.

OAuth2 (the server as a resource server) is in ``expose.oauth2``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from naftiko_runtime.errors import AuthConfigError
from naftiko_runtime.expose.answers import status_problem
from naftiko_runtime.model import Auth
from naftiko_runtime.templates import compile_template

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "ApiKeyAuth",
    "AuthConfigError",
    "AuthMiddleware",
    "BasicAuth",
    "BearerAuth",
    "InboundAuth",
]

logger = logging.getLogger("naftiko.auth")

REALM = "naftiko"

HttpClientFactory = Callable[[], "httpx2.AsyncClient"]
CALLER = "naftiko.caller"  # the ASGI scope key that names who passed inbound authentication


def caller_of(scope: Mapping[str, Any]) -> str | None:
    """Who the request authenticated as (a subject, a user name, ``apikey:<name>``), if anyone."""
    value = scope.get(CALLER)
    return value if isinstance(value, str) else None


def _problem(status: int, detail: str, challenge: str) -> Response:
    return status_problem(status, detail, headers={"WWW-Authenticate": challenge} if challenge else None)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _equal(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def _render(
    spec: Mapping[str, Any], field: str, variables: Mapping[str, Any], *, required: bool = True, secret: bool = True
) -> str:
    """A field's value with ``{{VAR}}`` rendered; unbound names and empty secrets refuse to start."""
    raw = spec.get(field)
    if raw is None or raw == "":
        if required:
            raise AuthConfigError(f"authentication.{field} is required")
        return ""
    template = compile_template(str(raw))
    unbound = [name for name in template.names if name not in variables]
    if unbound:
        raise AuthConfigError(f"authentication.{field} uses unbound variables: {', '.join(unbound)}")
    value = template.render(variables)
    if required and not value:
        raise AuthConfigError(f"authentication.{field} is empty" + (" (check its variable)" if secret else ""))
    return value


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class InboundAuth:
    """Base of every checker. ``check`` -> None (allowed) or the rejection response."""

    kind = "none"

    async def check(self, request: Request) -> Response | None:
        raise NotImplementedError

    def routes(self) -> list[BaseRoute]:
        """Extra unauthenticated routes the scheme needs (OAuth2: RFC 9728 metadata)."""
        return []

    def identity(self) -> tuple[Any, ...]:
        """What the checker accepts: equal identities accept exactly the same requests.

        Holds configured secrets: compare it, never print it.
        """
        raise NotImplementedError

    def query_parameters(self) -> tuple[str, ...]:
        """Query parameters that carry the credential (never to be passed on upstream)."""
        return ()

    @classmethod
    def from_model(cls, auth: Auth | None, variables: Mapping[str, Any],
                   http_client_factory: HttpClientFactory | None = None) -> InboundAuth | None:
        """The checker for an exposure's model ``authentication`` (None when there is none)."""
        if auth is None:
            return None
        spec = {"type": auth.type, **{key: value.raw for key, value in auth.fields.items()}}
        return cls.from_spec(spec, variables, http_client_factory)

    @classmethod
    def from_spec(
        cls,
        spec: Mapping[str, Any] | None,
        variables: Mapping[str, Any],
        http_client_factory: HttpClientFactory | None = None,
    ) -> InboundAuth | None:
        """The checker for an exposure's ``authentication`` (None when there is none).

        Raises ``AuthConfigError`` (message names fields and variables, never values).
        """
        if not spec:
            return None
        kind = str(spec.get("type", "")).lower()
        if kind == "bearer":
            alias = spec.get("token") is None and spec.get("value") is not None  # published dialect
            token = _render(spec, "value" if alias else "token", variables)
            return BearerAuth(token)
        if kind == "apikey":
            placement = str(spec.get("placement") or "header").lower()
            if placement not in ("header", "query"):
                raise AuthConfigError(f"authentication.placement must be header or query, not {placement!r}")
            return ApiKeyAuth(
                _render(spec, "key", variables, secret=False), _render(spec, "value", variables), placement
            )
        if kind == "basic":
            return BasicAuth(_render(spec, "username", variables), _render(spec, "password", variables))
        if kind == "oauth2":
            from naftiko_runtime.expose.oauth2 import OAuth2ResourceServer  # PyJWT only when configured

            return OAuth2ResourceServer.from_spec_oauth2(spec, variables, http_client_factory)
        raise AuthConfigError(
            f"inbound authentication type {kind or '(none)'!r} is not supported (use bearer, apikey, basic or oauth2)"
        )


class BearerAuth(InboundAuth):
    kind = "bearer"

    def __init__(self, token: str) -> None:
        self._token = token

    def identity(self) -> tuple[Any, ...]:
        return (self.kind, self._token)

    async def check(self, request: Request) -> Response | None:
        presented = bearer_token(request)
        if presented is not None and _equal(presented, self._token):
            request.scope[CALLER] = "bearer"  # one shared token: authenticated, but no one in particular
            return None
        challenge = f"Bearer realm={_quote(REALM)}"
        if presented is None:
            return _problem(401, "a bearer token is required", challenge)
        return _problem(401, "the bearer token is not valid", challenge + ', error="invalid_token"')


class ApiKeyAuth(InboundAuth):
    kind = "apikey"

    def __init__(self, key: str, value: str, placement: str = "header") -> None:
        self.key = key
        self._value = value
        self.placement = placement

    def identity(self) -> tuple[Any, ...]:
        key = self.key.lower() if self.placement == "header" else self.key  # header names are case-blind
        return (self.kind, self.placement, key, self._value)

    def query_parameters(self) -> tuple[str, ...]:
        return (self.key,) if self.placement == "query" else ()

    async def check(self, request: Request) -> Response | None:
        source = request.headers if self.placement == "header" else request.query_params
        presented = source.get(self.key)
        if presented is not None and _equal(presented, self._value):
            request.scope[CALLER] = f"apikey:{self.key}"
            return None
        challenge = f"ApiKey realm={_quote(REALM)}, in={_quote(self.placement)}, name={_quote(self.key)}"
        where = f"header {self.key}" if self.placement == "header" else f"query parameter {self.key}"
        detail = f"an API key is required in the {where}" if presented is None else "the API key is not valid"
        return _problem(401, detail, challenge)


class BasicAuth(InboundAuth):
    kind = "basic"

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password

    def identity(self) -> tuple[Any, ...]:
        return (self.kind, self._username, self._password)

    async def check(self, request: Request) -> Response | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        challenge = f'Basic realm={_quote(REALM)}, charset="UTF-8"'
        if scheme.lower() != "basic" or not encoded.strip():
            return _problem(401, "HTTP basic credentials are required", challenge)
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, sep, password = "", "", ""
        # Both comparisons always run, so timing does not tell which part was wrong.
        user_ok = _equal(user, self._username)
        password_ok = _equal(password, self._password)
        if sep and user_ok and password_ok:
            request.scope[CALLER] = user
            return None
        return _problem(401, "the credentials are not valid", challenge)


# ------------------------------------------------------------------------------------- middleware


class AuthMiddleware:
    """ASGI wrapper: HTTP requests must pass ``auth.check`` before reaching ``app``."""

    def __init__(self, app: ASGIApp, auth: InboundAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            denied = await self.auth.check(Request(scope))
            if denied is not None:
                await denied(scope, receive, send)
                return
        await self.app(scope, receive, send)
