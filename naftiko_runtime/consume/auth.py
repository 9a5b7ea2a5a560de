"""Outbound authentication of a consumer: bearer, basic, digest, apikey, OAuth2 client credentials.

Every field is a Mustache template over bind variables and call parameters, rendered per request.
Each kind becomes an ``httpx2.Auth`` flow, so digest's challenge-response and OAuth2's
"new token and one retry after a 401" run inside the client's own auth machinery.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from naftiko_runtime.consume.messages import parse_json, upstream_message
from naftiko_runtime.consume.request import has_control
from naftiko_runtime.errors import (
    DecodeError,
    InvocationError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from naftiko_runtime.model.nodes import NON_SECRET_FIELDS, Auth, Value
from naftiko_runtime.secrets import secret_forms

__all__ = ["AuthPlan", "Authenticator", "TokenSource", "fetch_client_credentials", "renew_margin"]

_CACHE_LIMIT = 32
Clock = Callable[[], float]


@dataclass(frozen=True)
class AuthPlan:
    """How one request authenticates: the flow, the rendered secrets, and whether it may resend."""

    auth: httpx2.Auth | None
    secrets: tuple[str, ...] = ()
    resends: bool = False


def _header_safe(value: str) -> str | bytes:
    return value if value.isascii() else value.encode()


class HeaderAuth(httpx2.Auth):
    """Sets one header (bearer token, API key in a header)."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers[self.name] = _header_safe(self.value)  # type: ignore[assignment]
        yield request


class QueryAuth(httpx2.Auth):
    """Adds one query parameter (API key in the query), URL-encoded."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.url = request.url.copy_merge_params({self.name: self.value})
        yield request


# ------------------------------------------------------------------------------------ OAuth2


def renew_margin(expires_in: float) -> float:
    """Renew when less than min(60 s, 10% of the lifetime) remains."""
    return min(60.0, 0.1 * expires_in)


class TokenSource:
    """Client-credentials access tokens for one (endpoint, client, scopes, audience).

    One fetch at a time (an anyio lock), shared by every concurrent caller; the token is reused until
    it is close to expiry, and renewed at most once per stale token after an upstream 401.
    """

    def __init__(self, fetch: Callable[[str | None], Awaitable[tuple[str, float | None]]], clock: Clock) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = anyio.Lock()
        self._token: str | None = None
        self._renew_at: float | None = None
        self.issued: deque[str] = deque(maxlen=4)  # recent tokens, still redacted once replaced

    def _fresh(self) -> bool:
        return self._token is not None and (self._renew_at is None or self._clock() < self._renew_at)

    async def token(self, operation: str | None = None) -> str:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    await self._refresh(operation)
        assert self._token is not None
        return self._token

    async def renew(self, stale: str, operation: str | None = None) -> str:
        """A new token after ``stale`` was refused, unless another caller already replaced it."""
        async with self._lock:
            if self._token is None or self._token == stale:
                await self._refresh(operation)
        assert self._token is not None
        return self._token

    async def _refresh(self, operation: str | None) -> None:
        self._token = None
        token, expires_in = await self._fetch(operation)
        self.issued.append(token)
        self._token = token
        self._renew_at = None if expires_in is None else self._clock() + expires_in - renew_margin(expires_in)


class OAuth2Auth(httpx2.Auth):
    def __init__(self, source: TokenSource, *, may_resend: bool, operation: str | None = None) -> None:
        self.source = source
        self.may_resend = may_resend
        self.operation = operation

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise RuntimeError("OAuth2 client credentials need the async client")

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self.source.token(self.operation)
        request.headers["Authorization"] = _header_safe(f"Bearer {token}")  # type: ignore[assignment]
        response = yield request
        if response.status_code == 401 and self.may_resend:
            token = await self.source.renew(token, self.operation)
            request.headers["Authorization"] = _header_safe(f"Bearer {token}")  # type: ignore[assignment]
            yield request


def _expires_in(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


async def fetch_client_credentials(
    client: httpx2.AsyncClient, endpoint: str, client_id: str, client_secret: str, *,
    scopes: list[str], audience: str | None, operation: str | None,
) -> tuple[str, float | None]:
    """POST grant_type=client_credentials (client authenticated with HTTP Basic); -> (token, expires_in)."""
    form = {"grant_type": "client_credentials"}
    if scopes:
        form["scope"] = " ".join(scopes)
    if audience:
        form["audience"] = audience
    host = httpx2.URL(endpoint).host
    try:
        response = await client.post(endpoint, data=form, auth=httpx2.BasicAuth(client_id, client_secret),
                                     headers={"Accept": "application/json"})
    except httpx2.TimeoutException:
        raise UpstreamTimeout(f"the OAuth2 token endpoint {host} did not answer in time",
                              operation=operation) from None
    except httpx2.TransportError as exc:
        raise UpstreamUnavailable(f"could not reach the OAuth2 token endpoint {host}: {type(exc).__name__}",
                                  operation=operation) from None
    parsed = parse_json(response.content)
    if not response.is_success:
        reason = upstream_message(parsed, response.content, secret_forms([client_id, client_secret]))
        raise UpstreamError(response.status_code, f"OAuth2 token request failed: {reason}".rstrip(": "),
                            operation=operation)
    token = parsed.get("access_token") if isinstance(parsed, Mapping) else None
    if not isinstance(token, str) or not token:
        raise DecodeError("the OAuth2 token endpoint answered without an access_token", operation=operation)
    if has_control(token):
        raise DecodeError("the OAuth2 token endpoint answered with an access_token that cannot be sent in the "
                          "Authorization header (it contains CR, LF or NUL)", operation=operation)
    return token, _expires_in(parsed.get("expires_in"))


# ------------------------------------------------------------------------------------ per consumer


def _render_field(value: Value, context: Mapping[str, Any]) -> Any:
    raw = value.raw
    if isinstance(raw, tuple):  # scopes
        return [Value.of(item, value.pointer).text(context) if isinstance(item, str) else item for item in raw]
    return value.text(context) if isinstance(raw, str) else raw


class Authenticator:
    """A consumer's authentication: renders its fields per request and keeps digest/token caches."""

    def __init__(self, auth: Auth | None, *, clock: Clock = time.monotonic,
                 client: Callable[[], httpx2.AsyncClient] | None = None) -> None:
        self.auth = auth
        self.kind = auth.type if auth is not None else ""
        self._clock = clock
        self._client = client
        self._digests: dict[tuple[str, str], httpx2.DigestAuth] = {}
        self._sources: dict[tuple[Any, ...], TokenSource] = {}

    @property
    def may_resend(self) -> bool:
        """Whether a request can be sent twice by the flow (its body must then be replayable)."""
        return self.kind == "digest" or (self.kind == "oauth2" and self.auth is not None
                                         and self.auth.get("tokenEndpoint") is not None)

    def tokens(self) -> list[str]:
        return [token for source in self._sources.values() for token in source.issued]

    def render(self, context: Mapping[str, Any]) -> dict[str, Any]:
        fields = self.auth.fields if self.auth is not None else {}
        return {key: _render_field(value, context) for key, value in fields.items()}

    def plan(self, context: Mapping[str, Any], *, operation: str | None = None, replayable: bool = True) -> AuthPlan:
        if self.auth is None or self.kind == "none":
            return AuthPlan(None)
        fields = self.render(context)
        secrets = tuple(v for k, v in fields.items() if k not in NON_SECRET_FIELDS and isinstance(v, str) and v)
        auth = self._auth(fields, replayable=replayable, operation=operation)
        return AuthPlan(auth, secrets, resends=self.may_resend and auth is not None)

    def _auth(self, fields: Mapping[str, Any], *, replayable: bool, operation: str | None) -> httpx2.Auth | None:
        kind = self.kind
        if kind == "bearer":
            token = fields.get("token") or fields.get("value")
            return self._header("Authorization", f"Bearer {token}", "token", operation) if token else None
        if kind == "basic":
            return httpx2.BasicAuth(str(fields.get("username") or ""), str(fields.get("password") or ""))
        if kind == "digest":
            username = self._checked(str(fields.get("username") or ""), "Authorization", "username", operation)
            return self._digest(username, str(fields.get("password") or ""))
        if kind == "apikey":
            key, value = fields.get("key"), fields.get("value")
            if not key or not value:
                return None
            if str(fields.get("placement") or "header").lower() == "query":
                return QueryAuth(str(key), str(value))
            return self._header(str(key), str(value), "value", operation)
        if kind == "oauth2" and fields.get("tokenEndpoint"):
            return OAuth2Auth(self._source(fields), may_resend=replayable, operation=operation)
        return None  # inbound-only oauth2 (resource server fields) or an unknown kind: nothing to send

    def _header(self, name: str, value: str, field: str, operation: str | None) -> HeaderAuth:
        return HeaderAuth(name, self._checked(value, name, field, operation))

    @staticmethod
    def _checked(value: str, header: str, field: str, operation: str | None) -> str:
        """``value`` unless it holds CR, LF or NUL: such a credential could never be sent (and the HTTP
        library would quote it in its error), so say which header and field, never the value."""
        if has_control(value):
            raise InvocationError(
                f"the authentication {field} for the {header} header contains a CR, LF or NUL character; "
                "check the configured credential (a trailing newline is a common cause)", operation=operation)
        return value

    def _digest(self, username: str, password: str) -> httpx2.DigestAuth:
        # kept per credentials so the last challenge is reused and later calls skip the extra round trip
        key = (username, password)
        if key not in self._digests:
            if len(self._digests) >= _CACHE_LIMIT:
                self._digests.clear()
            self._digests[key] = httpx2.DigestAuth(username, password)
        return self._digests[key]

    def _source(self, fields: Mapping[str, Any]) -> TokenSource:
        scopes = fields.get("scopes") or []
        scopes = scopes.split() if isinstance(scopes, str) else [str(s) for s in scopes]
        endpoint, client_id = str(fields["tokenEndpoint"]), str(fields.get("clientId") or "")
        secret, audience = str(fields.get("clientSecret") or ""), fields.get("audience") or None
        key = (endpoint, client_id, secret, tuple(scopes), audience)
        source = self._sources.get(key)
        if source is None:
            if len(self._sources) >= _CACHE_LIMIT:
                self._sources.clear()
            client_of = self._client

            async def fetch(operation: str | None) -> tuple[str, float | None]:
                if client_of is None:
                    raise RuntimeError("no HTTP client to fetch OAuth2 tokens with")
                return await fetch_client_credentials(client_of(), endpoint, client_id, secret, scopes=scopes,
                                                      audience=audience, operation=operation)

            source = self._sources[key] = TokenSource(fetch, self._clock)
        return source
