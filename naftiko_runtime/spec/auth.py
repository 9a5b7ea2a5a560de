"""Authentication: what requests to a consumed API send, what an exposed server checks."""

from __future__ import annotations

from naftiko_runtime.spec._dsl import Schema, array, exclusive, obj, string, tagged, titled

DEFS: dict[str, Schema] = {}

_USER = string("User name (templates allowed).")
_PASSWORD = string("Password; use a bind variable such as `{{API_PASSWORD}}`.", secret=True)
DEFS["AuthBasic"] = obj({"type": string("HTTP Basic.", const="basic"), "username": _USER, "password": _PASSWORD},
                        description="HTTP Basic authentication.")
DEFS["AuthDigest"] = obj({"type": string("HTTP Digest.", const="digest"), "username": _USER, "password": _PASSWORD},
                         description="HTTP Digest authentication.")
DEFS["AuthApiKey"] = obj({
    "type": string("API key.", const="apikey"),
    "key": string("Header or query parameter name, e.g. X-Api-Key."),
    "value": string("The key; use a bind variable such as `{{API_KEY}}`.", secret=True),
    "placement": string("Send the key as a header or as a query parameter.", enum=("header", "query"),
                        default="header"),
}, description="An API key in a header or query parameter.")
DEFS["AuthBearer"] = obj({
    "type": string("Bearer token.", const="bearer"),
    "token": string("The token; use a bind variable such as `{{API_TOKEN}}`.", secret=True),
    "value": string("naftiko-runtime extension: same as `token`.", secret=True),
    "placement": string("naftiko-runtime extension: where the token goes (only the Authorization header).",
                        enum=("header",)),
}, rules=(exclusive("token", "value", why="`value` is another name for `token`: give only one"),),
   description="`Authorization: Bearer <token>`.")
DEFS["AuthOAuth2Client"] = obj({
    "type": string("OAuth2 client credentials.", const="oauth2"),
    "tokenEndpoint": string("Token URL of the authorization server.", uri=True),
    "clientId": string("naftiko-runtime extension: OAuth2 client id."),
    "clientSecret": string("naftiko-runtime extension: OAuth2 client secret; use a bind variable.",
                           secret=True),
    "scopes": array(string(), "Scopes to request."),
    "audience": string("Audience to request, for servers that need one."),
}, required=("tokenEndpoint", "clientId", "clientSecret"),
   description="naftiko-runtime extension: OAuth2 client credentials. A token is fetched, shared and "
               "renewed before it expires.")
DEFS["AuthOAuth2Server"] = obj({
    "type": string("OAuth 2.1 bearer tokens (JWT).", const="oauth2"),
    "authorizationServerUri": string("Issuer URL of the authorization server (metadata is discovered "
                                     "from it).", uri=True),
    "resource": string("Canonical URL of this server (RFC 8707); the default expected audience.", uri=True),
    "scopes": array(string(), "Scopes a token must carry."),
    "audience": string("Expected `aud` claim; defaults to `resource`."),
    "tokenEndpoint": string("Token URL, advertised in exported OpenAPI documents.", uri=True),
    "tokenValidation": string("How tokens are checked.", enum=("jwks", "introspection"), default="jwks"),
}, required=("authorizationServerUri", "resource"),
   description="OAuth 2.1 resource server: incoming JWT bearer tokens are verified.")
DEFS["AuthNone"] = obj({"type": string("No authentication.", const="none")},
                       description="No credentials (the same as leaving `authentication` out).")
_AUTH_COMMON = {"basic": "AuthBasic", "apikey": "AuthApiKey", "bearer": "AuthBearer", "digest": "AuthDigest",
                "none": "AuthNone"}
DEFS["ConsumerAuthentication"] = tagged("type", {**_AUTH_COMMON, "oauth2": "AuthOAuth2Client"},
                                        what="Authentication scheme.",
                                        description="How requests to the upstream API authenticate.")
DEFS["ServerAuthentication"] = tagged("type", {**_AUTH_COMMON, "oauth2": "AuthOAuth2Server"},
                                      what="Authentication scheme.",
                                      description="What incoming requests must present.")

DEFS = titled(DEFS, {
    "AuthNone": "no authentication",
    "AuthBasic": "basic authentication",
    "AuthDigest": "digest authentication",
    "AuthApiKey": "API key authentication",
    "AuthBearer": "bearer authentication",
    "AuthOAuth2Client": "OAuth2 client authentication",
    "AuthOAuth2Server": "OAuth2 resource-server authentication",
    "ConsumerAuthentication": "authentication",
    "ServerAuthentication": "authentication",
})
