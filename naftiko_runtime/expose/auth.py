"""Inbound authentication for exposures (MCP and REST alike): bearer, apikey, basic, OAuth2.

``InboundAuth.from_spec(spec, variables)`` builds a checker from an exposure's ``authentication``
object; secrets are ``{{VAR}}`` templates over the capability's bind variables, rendered once.
``await auth.check(request)`` returns ``None`` when the request may pass, otherwise the 401/403
response to send. ``AuthMiddleware`` wraps any ASGI app with a checker.

Every secret comparison is constant-time (``hmac.compare_digest``), and no secret, presented or
configured, ever appears in a response or a log line.

OAuth2 makes the server a resource server: JWTs are verified against the authorization server's
JWKS (discovered from ``{AS}/.well-known/oauth-authorization-server``, then
``/.well-known/openid-configuration``), with ``iss``/``aud``/``exp``/``nbf``/scope checks, and RFC
9728 protected resource metadata is served at ``/.well-known/oauth-protected-resource<path>``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from naftiko_runtime.consume.documents import DocumentUnavailable, document_client, get_json
from naftiko_runtime.errors import AuthConfigError
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
    "OAuth2ResourceServer",
]

logger = logging.getLogger("naftiko.auth")

REALM = "naftiko"
JWKS_TTL = 300.0  # seconds a fetched key set is trusted
JWKS_REFRESH_FLOOR = 30.0  # an unknown kid refetches the key set at most this often
CLOCK_LEEWAY = 30.0  # seconds of clock skew tolerated on exp/nbf
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
METADATA_PATH = "/.well-known/oauth-protected-resource"

HttpClientFactory = Callable[[], "httpx2.AsyncClient"]
CALLER = "naftiko.caller"  # the ASGI scope key that names who passed inbound authentication


def caller_of(scope: Mapping[str, Any]) -> str | None:
    """Who the request authenticated as (a subject, a user name, ``apikey:<name>``), if anyone."""
    value = scope.get(CALLER)
    return value if isinstance(value, str) else None


def _problem(status: int, detail: str, challenge: str) -> Response:
    title = "Unauthorized" if status == 401 else "Forbidden" if status == 403 else "Service Unavailable"
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    headers = {"WWW-Authenticate": challenge} if challenge else {}
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


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


# ----------------------------------------------------------------------------------------- OAuth2


def _discovery_urls(issuer: str) -> list[str]:
    """RFC 8414 / OIDC discovery documents to try, in order (appended, then RFC 8414 inserted)."""
    base = issuer.rstrip("/")
    parts = urlsplit(base)
    urls = [f"{base}/.well-known/oauth-authorization-server"]
    if parts.path not in ("", "/"):
        urls.append(f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path}")
    urls.append(f"{base}/.well-known/openid-configuration")
    return urls


def _token_scopes(claims: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(str(v) for v in value)
    return found


class OAuth2ResourceServer(InboundAuth):
    """JWT bearer tokens verified against the authorization server's JWKS."""

    kind = "oauth2"

    def __init__(
        self,
        *,
        issuer: str,
        resource: str,
        scopes: Iterable[str] = (),
        audience: str | None = None,
        http_client_factory: HttpClientFactory | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.resource = resource
        self.scopes = [s for s in scopes if s]
        self.audience = audience or resource
        self._client_factory = http_client_factory or document_client
        self._clock = clock
        self._monotonic = monotonic
        self._jwks_uri: str | None = None
        self._keys: dict[str | None, Any] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = anyio.Lock()
        parts = urlsplit(resource)
        self.metadata_path = METADATA_PATH + parts.path.rstrip("/")
        self.metadata_url = f"{parts.scheme}://{parts.netloc}{self.metadata_path}"

    @classmethod
    def from_spec_oauth2(
        cls, spec: Mapping[str, Any], variables: Mapping[str, Any], http_client_factory: HttpClientFactory | None
    ) -> OAuth2ResourceServer:
        validation = str(spec.get("tokenValidation") or "jwks").lower()
        if validation != "jwks":
            raise AuthConfigError(f"authentication.tokenValidation {validation!r} is not supported (use jwks)")
        scopes = spec.get("scopes") or []
        if isinstance(scopes, str):
            scopes = scopes.split()
        rendered = [compile_template(str(s)).render(variables) for s in scopes]
        return cls(
            issuer=_render(spec, "authorizationServerUri", variables, secret=False),
            resource=_render(spec, "resource", variables, secret=False),
            scopes=rendered,
            audience=_render(spec, "audience", variables, required=False, secret=False) or None,
            http_client_factory=http_client_factory,
        )

    # ---------------------------------------------------------------------------------- metadata

    def metadata(self) -> dict[str, Any]:
        """RFC 9728 protected resource metadata."""
        data: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "bearer_methods_supported": ["header"],
        }
        if self.scopes:
            data["scopes_supported"] = list(self.scopes)
        return data

    def identity(self) -> tuple[Any, ...]:
        return (self.kind, self.issuer.rstrip("/"), self.resource, tuple(sorted(self.scopes)), self.audience)

    def metadata_route(self, path: str) -> Route:
        """``GET path`` answers this resource's metadata."""

        async def endpoint(request: Request) -> Response:
            return JSONResponse(self.metadata(), headers={"Cache-Control": "max-age=3600"})

        return Route(path, endpoint, methods=["GET"])

    def routes(self) -> list[BaseRoute]:
        """The metadata at the path derived from ``resource`` and at the bare well-known path (an app
        serving this one resource; ``naftiko serve`` decides per listener instead)."""
        return [self.metadata_route(path) for path in dict.fromkeys([self.metadata_path, METADATA_PATH])]

    # ------------------------------------------------------------------------------------- checks

    def _challenge(self, error: str | None = None, description: str | None = None) -> str:
        parts = [f"realm={_quote(REALM)}"]
        if error:
            parts.append(f"error={_quote(error)}")
        if description:
            parts.append(f"error_description={_quote(description)}")
        if error == "insufficient_scope" and self.scopes:
            parts.append(f"scope={_quote(' '.join(self.scopes))}")
        parts.append(f"resource_metadata={_quote(self.metadata_url)}")
        return "Bearer " + ", ".join(parts)

    def _invalid(self, description: str) -> Response:
        return _problem(401, description, self._challenge("invalid_token", description))

    async def check(self, request: Request) -> Response | None:
        import jwt  # PyJWT and cryptography (2 MiB, 30 ms) load only when a token is checked

        token = bearer_token(request)
        if token is None:
            return _problem(401, "a bearer token is required", self._challenge())
        try:
            claims = await self.verify(token)
        except DocumentUnavailable:
            return _problem(503, "the authorization server's keys are unavailable; try again later", "")
        except jwt.PyJWTError as exc:
            return self._invalid(_describe(exc))
        missing = [s for s in self.scopes if s not in _token_scopes(claims)]
        if missing:
            description = "the token lacks the required scope"
            return _problem(403, description, self._challenge("insufficient_scope", description))
        request.scope["naftiko.auth"] = {"sub": claims.get("sub"), "scopes": sorted(_token_scopes(claims))}
        subject = claims.get("sub") or claims.get("client_id")
        request.scope[CALLER] = str(subject) if subject else "oauth2"
        return None

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once signature, ``exp``, ``nbf``, ``iss`` and ``aud`` are checked."""
        import jwt

        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise jwt.InvalidAlgorithmError("the token's signing algorithm is not accepted")
        key = await self._key(header.get("kid"))
        if key is None:
            raise jwt.InvalidSignatureError("the token was not signed by a known key")
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            audience=[self.audience],
            leeway=CLOCK_LEEWAY,
            options={"require": ["exp", "iss"], "verify_iss": False},
        )
        if str(claims.get("iss", "")).rstrip("/") != self.issuer.rstrip("/"):
            raise jwt.InvalidIssuerError("the token was issued by another authorization server")
        return claims

    def _fresh(self) -> bool:
        return self._fetched_at is not None and self._monotonic() - self._fetched_at < JWKS_TTL

    async def _key(self, kid: str | None) -> Any:
        """The verification key for ``kid``: cached for ``JWKS_TTL``; an unknown kid refetches the
        set (at most every ``JWKS_REFRESH_FLOOR`` seconds); stale keys serve while the AS is down."""
        found = self._find(kid)
        if found is not None and self._fresh():
            return found
        async with self._lock:  # concurrent requests share one fetch
            found = self._find(kid)
            if found is not None and self._fresh():
                return found
            now = self._monotonic()
            if self._attempted_at is None or now - self._attempted_at >= JWKS_REFRESH_FLOOR:
                self._attempted_at = now
                try:
                    await self._refresh()
                except DocumentUnavailable:
                    if found is None:
                        raise
                    logger.warning("using cached keys: the authorization server's JWKS is unavailable")
                    return found
            if self._fetched_at is None:
                raise DocumentUnavailable  # never fetched: a retry may work, the token may be fine
            return self._find(kid)

    def _find(self, kid: str | None) -> Any:
        if kid is not None:
            return self._keys.get(kid)
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _refresh(self) -> None:
        import jwt

        async with self._client_factory() as client:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover(client)
            document = await get_json(client, self._jwks_uri)
        keys: dict[str | None, Any] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC", "OKP"):
                continue  # symmetric keys are never accepted
            if entry.get("use") not in (None, "sig"):
                continue
            try:
                keys[entry.get("kid")] = jwt.PyJWK(entry).key
            except jwt.PyJWTError:
                logger.warning("skipping an unusable key in the authorization server's JWKS")
        self._keys = keys
        self._fetched_at = self._monotonic()

    async def _discover(self, client: httpx2.AsyncClient) -> str:
        for url in _discovery_urls(self.issuer):
            try:
                document = await get_json(client, url)
            except DocumentUnavailable:
                continue
            jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
            if isinstance(jwks_uri, str) and jwks_uri.startswith(("https://", "http://")):
                return jwks_uri
        logger.error("no jwks_uri found in the metadata of %s", self.issuer)
        raise DocumentUnavailable


def _describe(exc: Exception) -> str:
    import jwt

    if isinstance(exc, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "the token is not valid yet"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "the token is not meant for this resource"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "the token was issued by another authorization server"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token has no '{exc.claim}' claim"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "the token's signing algorithm is not accepted"
    if isinstance(exc, jwt.InvalidSignatureError | jwt.InvalidKeyError):
        return "the token's signature is not valid"
    return "the token is malformed"


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
