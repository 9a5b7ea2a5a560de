"""OAuth2 inbound authentication: the server as a resource server.

JWTs are verified against the authorization server's JWKS (discovered from
``{AS}/.well-known/oauth-authorization-server``, then ``/.well-known/openid-configuration``), with
``iss``/``aud``/``exp``/``nbf``/scope checks; RFC 9728 protected resource metadata is served at
``/.well-known/oauth-protected-resource<path>``. Keys are fetched without redirects, bounded in size
(``consume.documents``), cached for ``JWKS_TTL`` and refetched at most every ``JWKS_REFRESH_FLOOR``
seconds for an unknown key id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from naftiko_runtime.consume.documents import DocumentUnavailable, document_client, get_json
from naftiko_runtime.errors import AuthConfigError
from naftiko_runtime.expose.auth import (
    CALLER,
    REALM,
    HttpClientFactory,
    InboundAuth,
    _problem,
    _quote,
    _render,
    bearer_token,
)
from naftiko_runtime.templates import compile_template

if TYPE_CHECKING:
    import httpx2

__all__ = ["METADATA_PATH", "OAuth2ResourceServer"]

logger = logging.getLogger("naftiko.auth")

JWKS_TTL = 300.0  # seconds a fetched key set is trusted
JWKS_REFRESH_FLOOR = 30.0  # an unknown kid refetches the key set at most this often
CLOCK_LEEWAY = 30.0  # seconds of clock skew tolerated on exp/nbf
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
METADATA_PATH = "/.well-known/oauth-protected-resource"


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
