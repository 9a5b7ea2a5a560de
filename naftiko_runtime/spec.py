"""The shape of a Naftiko capability document, as one JSON Schema (Draft 2020-12).

``SCHEMA`` is the single source of truth for the document's structure: ``naftiko schema``
exports it for editors (yaml-language-server shows the descriptions), and
``validate.structure`` interprets it to produce located diagnostics. It covers every field of
1.0.0-alpha2, the older 0.5 and 1.0.0-alpha1 forms that differ (``externalRefs``, list-shaped
array ``items``), alpha3 (identical to alpha2), and this runtime's own extensions, each marked
"naftiko-runtime extension" in its description.

Only a small set of keywords is used so the checker stays tiny and fast: type, properties,
required, additionalProperties, propertyNames, items, minItems, enum, const, pattern,
minLength, maxLength, minimum, maximum, exclusiveMinimum, $ref, allOf, anyOf (either "one of
these fields is required" or alternatives of different JSON types), not (of ``required``:
fields that exclude each other) and if/then/else (unions discriminated by a field).
Annotations: description, title, default, format, writeOnly (marks secrets: never echoed).
"""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, Any]

SCHEMA_ID = "https://naftiko.dev/schemas/naftiko-runtime.json"
VERSIONS = ("0.5", "1.0.0-alpha1", "1.0.0-alpha2", "1.0.0-alpha3")

# --- patterns (titles say in words what each one accepts) ----------------------------------------

KEBAB = r"^[A-Za-z0-9-]+$"
NAME = r"^[A-Za-z0-9_*-]+$"
VARIABLE = r"^[A-Z][A-Z0-9_]*$"
SCHEME_URI = r"^[A-Za-z][A-Za-z0-9+.-]*://"
FILE_URI = r"^file:///"
CALL_REF = r"^[A-Za-z0-9-]+\.[A-Za-z0-9-]+$"
DATE = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
BASE_URI = r"^https?://[^/]+(/[^{]*)?$"
TARGET_NAME = r"^[A-Za-z0-9_.-]+$"
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
MIME_TYPE = rf'^{_TOKEN}/{_TOKEN}(?:\s*;\s*{_TOKEN}=(?:{_TOKEN}|"[^"]*"))*$'
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
ADDRESS = (rf"^(?:{_LABEL}(?:\.{_LABEL})*"  # host name
           rf"|(?:{_OCTET}\.){{3}}{_OCTET}"  # IPv4
           r"|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})$")  # IPv6 (loose)

TITLES = {
    KEBAB: "an identifier of letters, digits and hyphens",
    NAME: "a name of letters, digits, '-', '_' or '*'",
    VARIABLE: "an UPPER_SNAKE_CASE variable name",
    SCHEME_URI: "a URI with a scheme, such as file:///path or vault://path",
    FILE_URI: "a file:/// URI",
    CALL_REF: "a reference of the form namespace.name",
    DATE: "a date of the form YYYY-MM-DD",
    EMAIL: "an e-mail address",
    BASE_URI: "an http(s) URL without {placeholders} in its path",
    TARGET_NAME: "a name of letters, digits, '-', '_' or '.' (dots nest)",
    MIME_TYPE: "a media type such as application/json",
    ADDRESS: "a host name or an IP address",
}

# --- small builders ----------------------------------------------------------------------------


def _doc(schema: Schema, description: str | None, default: Any = None) -> Schema:
    if description:
        schema["description"] = description
    if default is not None:
        schema["default"] = default
    return schema


def ref(name: str, description: str | None = None) -> Schema:
    return _doc({"$ref": f"#/$defs/{name}"}, description)


def string(description: str | None = None, *, pattern: str | None = None, enum: tuple[str, ...] = (),
           const: str | None = None, min_length: int | None = None, max_length: int | None = None,
           default: str | None = None, uri: bool = False, secret: bool = False) -> Schema:
    schema: Schema = {"type": "string"}
    if const is not None:
        schema["const"] = const
    if enum:
        schema["enum"] = list(enum)
    if pattern:
        schema["pattern"] = pattern
        schema["title"] = TITLES[pattern]
    if min_length is not None:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    if uri:
        schema["format"] = "uri"
    if secret:
        schema["writeOnly"] = True
    return _doc(schema, description, default)


def integer(description: str | None = None, *, minimum: int | None = None, maximum: int | None = None,
            default: int | None = None) -> Schema:
    schema: Schema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return _doc(schema, description, default)


def number(description: str | None = None, *, minimum: float | None = None, maximum: float | None = None,
           above: float | None = None, default: float | None = None) -> Schema:
    schema: Schema = {"type": "number"}
    if minimum is not None:
        schema["minimum"] = minimum
    if above is not None:
        schema["exclusiveMinimum"] = above
    if maximum is not None:
        schema["maximum"] = maximum
    return _doc(schema, description, default)


def boolean(description: str | None = None, *, default: bool | None = None) -> Schema:
    return _doc({"type": "boolean"}, description, default)


def array(items: Schema, description: str | None = None, *, min_items: int | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if min_items is not None:
        schema["minItems"] = min_items
    return _doc(schema, description)


def map_of(values: Schema, description: str | None = None, *, keys: str | None = None) -> Schema:
    """An object used as a dictionary: any key (matching ``keys``), each value matching ``values``."""
    schema: Schema = {"type": "object"}
    if keys:
        schema["propertyNames"] = {"pattern": keys, "title": TITLES[keys]}
    schema["additionalProperties"] = values
    return _doc(schema, description)


def obj(props: dict[str, Schema], *, required: tuple[str, ...] = (), rules: tuple[Schema, ...] = (),
        description: str | None = None, title: str | None = None) -> Schema:
    """A closed object: fields not listed in ``props`` are reported."""
    schema: Schema = {"type": "object"}
    if title:
        schema["title"] = title
    _doc(schema, description)
    if required:
        schema["required"] = list(required)
    schema["properties"] = props
    schema["additionalProperties"] = False
    if rules:
        schema["allOf"] = list(rules)
    return schema


def either(*alternatives: Schema, description: str | None = None) -> Schema:
    """Alternatives told apart by JSON type (string or object, ...): errors follow the matching one."""
    return _doc({"anyOf": list(alternatives)}, description)


def has(*fields: str) -> Schema:
    return {"required": list(fields)}


def one_of_fields(*fields: str) -> Schema:
    """At least one of ``fields`` must be present."""
    return {"anyOf": [has(f) for f in fields]}


def exclusive(*fields: str, why: str) -> Schema:
    """``fields`` may not all be present together; ``why`` becomes the diagnostic's hint."""
    return {"not": {"required": list(fields), "description": why}}


def when(condition: Schema, then: Schema, otherwise: Schema | None = None) -> Schema:
    rule: Schema = {"if": condition, "then": then}
    if otherwise is not None:
        rule["else"] = otherwise
    return rule


def is_(field: str, value: str) -> Schema:
    return {"required": [field], "properties": {field: {"const": value}}}


def tagged(field: str, variants: dict[str, str], *, what: str, required: tuple[str, ...] = (),
           legacy: dict[str, str] | None = None, description: str | None = None) -> Schema:
    """A union told apart by ``field`` (usually ``type``): each value selects one ``$defs`` entry.

    Only the selected variant is checked, so errors name the fields that variant expects.
    ``legacy`` values are not allowed, but the rest of the object is still checked as the variant
    that replaced them, so an old document learns everything it has to change at once. ``what``
    describes the discriminator field.
    """
    rules = [when(is_(field, value), ref(target)) for value, target in {**variants, **(legacy or {})}.items()]
    return _doc({
        "type": "object",
        "required": [field, *required],
        "properties": {field: {"enum": list(variants), "description": what}},
        "allOf": rules,
    }, description)


def outputs(items: Schema, *, min_items: int | None = None) -> Schema:
    schema: Schema = {"items": items}
    if min_items is not None:
        schema["minItems"] = min_items
    return {"properties": {"outputParameters": schema}}


# --- reusable field schemas ---------------------------------------------------------------------

CALL = string("The consumed operation to invoke, as `consumes-namespace.operation-name`.", pattern=CALL_REF)
REF = string("An aggregate function to delegate to, as `aggregate-namespace.function-name`. Its name, "
             "description, inputs and hints are inherited unless given here.", pattern=CALL_REF)
WITH = ref("WithInjector")
STEPS = array(ref("OperationStep"), "Orchestration: steps run in order; each step's output is available "
              "to later steps and to `mappings` under the step's name.", min_items=1)
MAPPINGS = array(ref("StepOutputMapping"), "Orchestration: copies step outputs into the result.")
PORT = integer("TCP port to listen on.", minimum=1, maximum=65535)
ADDRESS_FIELD = string("Interface to listen on (host name or IP). Use 0.0.0.0 inside containers.",
                       pattern=ADDRESS)
LABEL = string("Human-readable display name.")
DESCRIPTION = string("What this is for. Agents read it to decide when to use it.")
OUTPUT_TYPES = ("string", "number", "boolean", "object", "array")
INPUT_TYPES = ("string", "number", "integer", "boolean", "array", "object")
METHOD = string("HTTP method.", enum=("GET", "POST", "PUT", "PATCH", "DELETE"), default="GET")
LANGUAGES = ("javascript", "python", "groovy")


# With steps, a named output documents a field filled by `mappings`; an unnamed one is mapped
# from the last response (alpha2 accepts both).
STEP_OUTPUT = when(has("name"), ref("OrchestratedOutputParameter"), ref("MappedOutputParameter"))


def _output_modes() -> Schema:
    """MCP tools and aggregate functions: the mode (steps, call, ref, else mock) sets the output shape."""
    simple = outputs(ref("MappedOutputParameter"))
    mocked = outputs(ref("MockOutputParameter"), min_items=1)
    return when(has("steps"), outputs(STEP_OUTPUT), when(has("call"), simple, when(has("ref"), simple, mocked)))


# --- definitions --------------------------------------------------------------------------------

DEFS: dict[str, Schema] = {}

DEFS["Info"] = obj({
    "label": string("Display name of the capability."),
    "description": string("What the capability offers. The richer, the easier agents discover it."),
    "tags": array(string(), "Keywords for search and filtering."),
    "created": string("Creation date (YYYY-MM-DD).", pattern=DATE),
    "modified": string("Date of the last change (YYYY-MM-DD).", pattern=DATE),
    "stakeholders": array(ref("Person"), "People responsible for the capability."),
}, required=("label", "description"), description="Human-readable metadata about the capability.")

DEFS["Person"] = obj({
    "role": string("Relation to the capability, e.g. owner or editor."),
    "fullName": string("The person's name."),
    "email": string("Contact address.", pattern=EMAIL),
}, required=("role", "fullName"), description="Someone responsible for the capability.")

DEFS["Binding"] = obj({
    "namespace": string("Name of this binding; qualifies its variables as `{{namespace.VAR}}`.",
                        pattern=KEBAB),
    "description": DESCRIPTION,
    "location": string("Where the values come from (e.g. file:///./secrets.yaml). Without it, each key "
                       "names an environment variable.", pattern=SCHEME_URI),
    "keys": map_of(string("Key to read in the source (or environment variable name).", pattern=NAME),
                   "Variables to define: VARIABLE_NAME -> key in the source. Use them as `{{VARIABLE_NAME}}`.",
                   keys=VARIABLE),
}, required=("namespace", "keys"), description="Variables (often secrets) injected from a file, "
   "the environment or another provider.")

DEFS["ExternalRef"] = tagged("resolution", {"file": "ExternalRefFile", "runtime": "ExternalRefRuntime"},
                             what="`file` (read `uri` when loading) or `runtime` (environment).",
                             description="0.5 only (replaced by `binds` in 1.0.0-alpha1): variables "
                                         "read from a file or from the runtime environment.")
_EXTERNAL_KEYS = map_of(string(pattern=NAME), "Variables to define: name -> key in the source.", keys=NAME)
DEFS["ExternalRefFile"] = obj({
    "name": string("Identifier of this reference.", pattern=KEBAB),
    "description": DESCRIPTION,
    "type": string("Always `environment` for file references.", const="environment"),
    "resolution": string("Read the variables from the file at `uri` when loading.", const="file"),
    "uri": string("The file to read."),
    "keys": _EXTERNAL_KEYS,
}, required=("name", "type", "uri", "keys"), description="0.5: variables read from a file.")
DEFS["ExternalRefRuntime"] = obj({
    "name": string("Identifier of this reference.", pattern=KEBAB),
    "description": DESCRIPTION,
    "type": string("Always `variables` for runtime references.", const="variables"),
    "resolution": string("Read the variables from the environment at run time.", const="runtime"),
    "keys": _EXTERNAL_KEYS,
}, required=("name", "type", "keys"), description="0.5: variables read from the environment.")

DEFS["Capability"] = obj({
    "binds": array(ref("Binding"), "Variable sources for this capability.", min_items=1),
    "exposes": array(ref("Exposes"), "Servers this capability runs: MCP, REST, skill catalog, control port.",
                     min_items=1),
    "consumes": array(ref("ConsumesEntry"), "Upstream HTTP APIs this capability calls.", min_items=1),
    "aggregates": array(ref("Aggregate"), "Reusable domain functions that tools and operations can `ref`.",
                        min_items=1),
}, rules=(one_of_fields("exposes", "consumes"),), description="What the capability consumes and exposes.")

# --- consumes -----------------------------------------------------------------------------------

DEFS["ConsumesEntry"] = {
    "description": "An upstream API: declared inline (`type: http`) or imported from a shared file "
                   "(`location` + `import`).",
    "type": "object",
    "allOf": [when({"not": has("type"), "anyOf": [has("import"), has("location")]},
                   ref("ImportedConsumesHttp"), ref("ConsumesHttp"))],
}

DEFS["ImportedConsumesHttp"] = obj({
    "location": string("Path (relative to this file) or file URI of a document with root-level `consumes`."),
    "import": string("Namespace of the adapter to take from that file.", pattern=KEBAB),
    "as": string("Local namespace for the imported adapter (defaults to `import`).", pattern=KEBAB),
    "description": DESCRIPTION,
}, required=("location", "import"), description="Reuses an HTTP adapter declared in another file.")

DEFS["ConsumesHttp"] = obj({
    "type": string("Consumer kind; only `http` exists.", const="http"),
    "namespace": string("Unique name of this upstream; used in `call: namespace.operation`.", pattern=KEBAB),
    "description": string("What the upstream API does; helps agents and readers."),
    "baseUri": string("Root URL of the API, e.g. https://api.example.com/v1 (no trailing slash, no "
                      "placeholders). `--upstream NAMESPACE=URL` replaces it.", pattern=BASE_URI),
    "authentication": ref("ConsumerAuthentication", "Credentials sent with every request to this API."),
    "inputParameters": array(ref("ConsumedInputParameter"), "Parameters sent with every operation "
                             "(typically fixed headers)."),
    "resources": array(ref("ConsumedHttpResource"), "Paths of the API and their operations.", min_items=1),
    "timeout": obj({
        "connect": number("Seconds to wait for a connection.", above=0),
        "read": number("Seconds to wait for response data.", above=0),
        "total": number("Seconds one request may take in all.", above=0),
    }, description="naftiko-runtime extension: time limits for calls to this API, in seconds."),
    "retry": obj({
        "attempts": integer("Total tries, the first one included.", minimum=1, maximum=10),
        "backoff": number("Seconds to wait before the first retry; later waits grow.", minimum=0),
        "statuses": array(integer(minimum=100, maximum=599), "HTTP statuses that cause a retry."),
    }, description="naftiko-runtime extension: how failed calls to this API are retried."),
}, required=("type", "namespace", "baseUri"), description="An upstream HTTP API.")

DEFS["ConsumedHttpResource"] = obj({
    "name": string("Identifier of this resource.", pattern=KEBAB),
    "label": LABEL,
    "description": DESCRIPTION,
    "path": string("Path appended to `baseUri`; placeholders `{{name}}` or `{name}` take parameter values."),
    "inputParameters": array(ref("ConsumedInputParameter"), "Parameters shared by this resource's operations."),
    "operations": array(ref("ConsumedHttpOperation"), "HTTP methods available on this path.", min_items=1),
}, required=("name", "path", "operations"), description="One path of the upstream API.")

DEFS["ConsumedHttpOperation"] = obj({
    "name": string("Identifier used in `call: namespace.name`.", pattern=KEBAB),
    "label": LABEL,
    "description": DESCRIPTION,
    "method": METHOD,
    "inputParameters": array(ref("ConsumedInputParameter"), "Parameters of this operation."),
    "outputRawFormat": string("Format of the response body; it is converted to JSON before mapping.",
                              enum=("json", "xml", "avro", "protobuf", "csv", "tsv", "psv", "yaml", "html",
                                    "markdown"), default="json"),
    "outputSchema": string("Schema file (avro, protobuf), CSS selector (html) or heading prefix (markdown)."),
    "outputParameters": array(ref("ConsumedOutputParameter"), "Named values extracted from the response "
                              "(used by orchestration steps)."),
    "body": ref("RequestBody"),
}, required=("name", "method"), description="One HTTP call to the upstream API.")

DEFS["ConsumedInputParameter"] = obj({
    "name": string("Parameter name (header, query key, path placeholder...).", pattern=NAME),
    "in": string("Where the value goes in the request.",
                 enum=("query", "header", "path", "cookie", "body", "environment")),
    "value": string("Fixed value or `{{template}}`; without it the argument of the same name is used."),
    "type": string("naftiko-runtime extension: expected type, used to infer tool input schemas.",
                   enum=INPUT_TYPES),
    "required": boolean("naftiko-runtime extension: whether a value must be supplied."),
    "description": string("naftiko-runtime extension: what the parameter means."),
}, required=("name", "in"), description="A value sent to the upstream API.")

DEFS["ConsumedOutputParameter"] = obj({
    "name": string("Name of the extracted value.", pattern=NAME),
    "type": string("Type of the extracted value.", enum=OUTPUT_TYPES),
    "value": string("JSONPath into the response body, e.g. $.data.id."),
}, required=("name", "type", "value"), description="A named value taken from the upstream response.")

DEFS["RequestBody"] = either(
    string("Raw body template, often a YAML block of JSON with `{{placeholders}}`."),
    ref("StructuredRequestBody"),
    description="Request body: a raw template string or a typed body.",
)
DEFS["StructuredRequestBody"] = tagged("type", {
    "json": "RequestBodyJson", "text": "RequestBodyText", "xml": "RequestBodyText",
    "sparql": "RequestBodyText", "formUrlEncoded": "RequestBodyFormUrlEncoded",
    "multipartForm": "RequestBodyMultipartForm",
}, what="Content type of the body.", required=("data",),
   description="A typed request body; `type` selects the content type.")
DEFS["RequestBodyJson"] = obj({
    "type": string("Sent as application/json.", const="json"),
    "data": either(string(), {"type": "object"}, {"type": "array"},
                   description="The JSON payload, or a template string producing it."),
}, description="JSON body.")
DEFS["RequestBodyText"] = obj({
    "type": string("text/plain, application/xml or application/sparql-query.", enum=("text", "xml", "sparql")),
    "data": string("The body text (templates allowed)."),
}, description="Text, XML or SPARQL body.")
DEFS["RequestBodyFormUrlEncoded"] = obj({
    "type": string("Sent as application/x-www-form-urlencoded.", const="formUrlEncoded"),
    "data": either(string(), map_of(string()), description="Pre-encoded text, or fields by name."),
}, description="URL-encoded form body.")
DEFS["RequestBodyMultipartForm"] = obj({
    "type": string("Sent as multipart/form-data.", const="multipartForm"),
    "data": array(ref("RequestBodyMultipartFormPart"), "The parts, in order."),
}, description="Multipart form body.")
DEFS["RequestBodyMultipartFormPart"] = obj({
    "name": string("Form field name."),
    "value": string("Content of the part."),
    "filename": string("File name; makes this part a file upload."),
    "contentType": string("Media type of the part."),
}, required=("name", "value"), description="One part of a multipart body.")

# --- authentication -----------------------------------------------------------------------------

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
_AUTH_COMMON = {"basic": "AuthBasic", "apikey": "AuthApiKey", "bearer": "AuthBearer", "digest": "AuthDigest"}
DEFS["ConsumerAuthentication"] = tagged("type", {**_AUTH_COMMON, "oauth2": "AuthOAuth2Client"},
                                        what="Authentication scheme.",
                                        description="How requests to the upstream API authenticate.")
DEFS["ServerAuthentication"] = tagged("type", {**_AUTH_COMMON, "oauth2": "AuthOAuth2Server"},
                                      what="Authentication scheme.",
                                      description="What incoming requests must present.")

# --- exposes ------------------------------------------------------------------------------------

DEFS["Exposes"] = tagged("type", {"rest": "ExposesRest", "mcp": "ExposesMcp", "skill": "ExposesSkill",
                                  "control": "ExposesControl"}, legacy={"api": "ExposesRest"},
                         what="Kind of server: rest, mcp, skill or control.",
                         description="A server adapter; `type` selects which (0.4's `api` is now `rest`).")

DEFS["ExposesRest"] = obj({
    "type": string("A REST API.", const="rest"),
    "address": ADDRESS_FIELD,
    "port": PORT,
    "namespace": string("Unique name of this API.", pattern=KEBAB),
    "authentication": ref("ServerAuthentication", "Protects every route of this API."),
    "resources": array(ref("ExposedResource"), "Routes of this API.", min_items=1),
}, required=("type", "port", "namespace"), description="Serves routes that call the consumed APIs.")

DEFS["ExposedResource"] = obj({
    "path": string("Route path; `{name}` or `{{name}}` captures a segment, `{path}` the rest of the path."),
    "name": string("Identifier of this resource.", pattern=KEBAB),
    "label": LABEL,
    "description": DESCRIPTION,
    "inputParameters": array(ref("ExposedInputParameter"), "Inputs shared by this resource's operations."),
    "operations": array(ref("ExposedOperation"), "Methods served on this path."),
    "forward": ref("ForwardConfig"),
}, required=("path",), rules=(one_of_fields("operations", "forward"),), description="One route.")

DEFS["ExposedOperation"] = obj({
    "method": METHOD,
    "name": string("Identifier of this operation.", pattern=KEBAB),
    "label": LABEL,
    "description": DESCRIPTION,
    "inputParameters": array(ref("ExposedInputParameter"), "Inputs read from the request."),
    "ref": REF,
    "call": CALL,
    "with": WITH,
    "steps": STEPS,
    "mappings": MAPPINGS,
    "outputParameters": array({}, "Shape of the response: mapped from the upstream response (`call`), "
                              "filled by `mappings` (`steps`)."),
}, required=("method",), rules=(
    when(has("steps"), outputs(STEP_OUTPUT), outputs(ref("MappedOutputParameter"))),
), description="One HTTP method on a route: `call` one operation, run `steps`, or `ref` a function.")

DEFS["ExposedInputParameter"] = obj({
    "name": string("Parameter name.", pattern=NAME),
    "in": string("Where to read it from the request.", enum=("query", "header", "path", "cookie", "body")),
    "type": string("Expected type.", enum=INPUT_TYPES),
    "description": DESCRIPTION,
    "pattern": string("Regular expression a string value must match."),
    "value": string("Fixed value, or a JSONPath ($...) into the JSON request body."),
}, required=("name", "in", "type", "description"), description="An input of a REST operation.")

DEFS["ForwardConfig"] = obj({
    "targetNamespace": string("Consumed API to forward requests to.", pattern=KEBAB),
    "trustedHeaders": array(string(), "Incoming headers passed on; all others are dropped.", min_items=1),
}, required=("targetNamespace",), description="Proxies requests on this path to a consumed API.")

DEFS["ExposesMcp"] = obj({
    "type": string("An MCP server.", const="mcp"),
    "transport": string("`http` (Streamable HTTP at /mcp) or `stdio`.", enum=("http", "stdio"),
                        default="http"),
    "address": ADDRESS_FIELD,
    "port": PORT,
    "namespace": string("Unique name of this server; `tools.x`-style `with` values use it.", pattern=KEBAB),
    "description": string("Sent to clients as the server's instructions."),
    "authentication": ref("ServerAuthentication", "Protects every tool, resource and prompt."),
    "stateless": boolean("naftiko-runtime extension: serve Streamable HTTP without sessions.",
                         default=False),
    "tools": array(ref("McpTool"), "Tools offered to agents.", min_items=1),
    "resources": array(ref("McpResource"), "Readable data offered to agents.", min_items=1),
    "prompts": array(ref("McpPrompt"), "Prompt templates offered to agents.", min_items=1),
}, required=("type", "namespace", "tools"), rules=(
    when(is_("transport", "stdio"), exclusive("port", why="a stdio server listens on no port"),
         has("port")),
), description="Serves tools, resources and prompts over the Model Context Protocol.")

DEFS["McpTool"] = obj({
    "name": string("Tool name shown to agents.", pattern=KEBAB),
    "label": string("Display title."),
    "description": string("What the tool does; agents choose tools by it."),
    "inputParameters": array(ref("McpToolInputParameter"), "Arguments; they form the tool's input schema. "
                             "When omitted, they are inferred from `with` and the consumed parameters."),
    "ref": REF,
    "call": CALL,
    "with": WITH,
    "steps": STEPS,
    "mappings": MAPPINGS,
    "hints": ref("McpToolHints"),
    "outputParameters": array({}, "Shape of the result: mapped (`call`), filled by `mappings` (`steps`), "
                              "or fixed values (neither: mock mode)."),
}, rules=(one_of_fields("call", "steps", "ref", "outputParameters"),
          _output_modes(), when({"not": has("ref")}, has("name", "description"))),
   description="A tool: `call` one operation, run `steps`, `ref` a function, or return fixed values.")

DEFS["McpToolHints"] = obj({
    "readOnly": boolean("The tool changes nothing."),
    "destructive": boolean("The tool may delete or overwrite data."),
    "idempotent": boolean("Repeating the call has no further effect."),
    "openWorld": boolean("The tool talks to systems outside this capability."),
}, description="Behaviour hints, sent as MCP tool annotations.")

DEFS["McpToolInputParameter"] = obj({
    "name": string("Argument name.", pattern=NAME),
    "type": string("Expected type.", enum=INPUT_TYPES),
    "description": string("What the argument means; shown to agents."),
    "required": boolean("Whether the argument must be given.", default=True),
}, required=("name", "type", "description"), description="An argument of a tool or function.")

DEFS["McpResource"] = obj({
    "name": string("Resource name.", pattern=NAME),
    "label": string("Display title."),
    "uri": string("Resource URI (any scheme); `{param}` makes it a template."),
    "description": DESCRIPTION,
    "mimeType": string("Media type of the content.", pattern=MIME_TYPE),
    "call": CALL,
    "with": WITH,
    "steps": STEPS,
    "mappings": MAPPINGS,
    "outputParameters": array({}, "Shape of the content."),
    "location": string("Static content: a file:/// directory whose files are served.", pattern=FILE_URI,
                       uri=True),
}, required=("name", "label", "uri", "description"), rules=(
    one_of_fields("call", "steps", "location"),
    exclusive("call", "steps", why="a resource is read by `call` or by `steps`, not both"),
    exclusive("call", "location", why="a resource is either dynamic (`call`) or static (`location`)"),
    exclusive("steps", "location", why="a resource is either dynamic (`steps`) or static (`location`)"),
    when(has("steps"), outputs(STEP_OUTPUT), when(has("call"), outputs(ref("MappedOutputParameter")))),
), description="Data agents can read: fetched (`call`/`steps`) or files (`location`).")

DEFS["McpPrompt"] = obj({
    "name": string("Prompt name.", pattern=NAME),
    "label": string("Display title."),
    "description": DESCRIPTION,
    "arguments": array(ref("McpPromptArgument"), "Arguments substituted for `{{name}}`.", min_items=1),
    "template": array(ref("McpPromptMessage"), "The messages of the prompt.", min_items=1),
    "location": string("A file:/// file holding the prompt text (one user message).", pattern=FILE_URI,
                       uri=True),
}, required=("name", "label", "description"), rules=(
    one_of_fields("template", "location"),
    exclusive("template", "location", why="give the messages inline (`template`) or in a file (`location`)"),
), description="A reusable prompt template.")

DEFS["McpPromptArgument"] = obj({
    "name": string("Argument name, used as `{{name}}`.", pattern=NAME),
    "label": string("Display title."),
    "description": DESCRIPTION,
    "required": boolean("Whether the argument must be given.", default=True),
}, required=("name", "description"), description="A prompt argument (always a string).")

DEFS["McpPromptMessage"] = obj({
    "role": string("Who speaks.", enum=("user", "assistant")),
    "content": string("Message text with `{{argument}}` placeholders."),
}, required=("role", "content"), description="One message of a prompt template.")

DEFS["ExposesSkill"] = obj({
    "type": string("A skill catalog.", const="skill"),
    "address": ADDRESS_FIELD,
    "port": PORT,
    "namespace": string("Unique name of this catalog.", pattern=KEBAB),
    "description": DESCRIPTION,
    "authentication": ref("ServerAuthentication", "Protects the catalog."),
    "skills": array(ref("ExposedSkill"), "The skills listed.", min_items=1),
}, required=("type", "port", "namespace", "skills"),
   description="Publishes Agent Skills that describe tools of sibling adapters. Runs nothing itself.")

DEFS["ExposedSkill"] = obj({
    "name": string("Skill identifier.", pattern=KEBAB, max_length=64),
    "description": string("What the skill does and when to use it.", max_length=1024),
    "license": string("License name, e.g. Apache-2.0."),
    "compatibility": string("Requirements and compatibility notes.", max_length=500),
    "metadata": map_of(string(), "Free key/value metadata."),
    "allowed-tools": string("Space-separated tools the skill may use without asking.", max_length=1024),
    "argument-hint": string("Hint shown when the skill is invoked as a command."),
    "user-invocable": boolean("Users may invoke it as a command.", default=True),
    "disable-model-invocation": boolean("Never load it automatically.", default=False),
    "location": string("A file:/// directory holding SKILL.md and the instruction files.", pattern=FILE_URI,
                       uri=True),
    "tools": array(ref("SkillTool"), "Tools of this skill.", min_items=1),
}, required=("name", "description"), description="One skill (Agent Skills front matter).")

DEFS["SkillTool"] = obj({
    "name": string("Tool identifier.", pattern=KEBAB),
    "description": string("What the tool does."),
    "from": obj({
        "sourceNamespace": string("Namespace of the sibling REST or MCP adapter."),
        "action": string("Operation or tool name in that adapter."),
    }, required=("sourceNamespace", "action"), description="The adapter operation this tool stands for."),
    "instruction": string("Instruction file, relative to the skill's `location`."),
}, required=("name", "description"), rules=(
    one_of_fields("from", "instruction"),
    exclusive("from", "instruction", why="a skill tool comes `from` an adapter or is an `instruction`"),
), description="A tool of a skill.")

DEFS["ExposesControl"] = obj({
    "type": string("The management port.", const="control"),
    "address": string("Interface to listen on; keep the default unless protected.", pattern=ADDRESS,
                      default="localhost"),
    "port": PORT,
    "authentication": ref("ServerAuthentication", "Protects the control port."),
    "management": ref("ControlManagementSpec"),
    "observability": ref("ObservabilitySpec"),
}, required=("type", "port"), description="Health, status, logs and metrics endpoints.")

DEFS["ControlManagementSpec"] = obj({
    "health": boolean("Serve /health/live and /health/ready.", default=True),
    "info": boolean("Serve /status and /config.", default=False),
    "reload": boolean("Serve POST /config/reload.", default=False),
    "validate": boolean("Serve POST /config/validate.", default=False),
    "logs": either(boolean(), ref("ControlLogsEndpointSpec"),
                   description="Log endpoints: true/false, or detailed settings."),
    "scripting": ref("ScriptingManagementSpec"),
}, description="Which management endpoints are on.")

DEFS["ControlLogsEndpointSpec"] = obj({
    "level-control": boolean("Allow changing log levels.", default=True),
    "stream": boolean("Stream logs over SSE at /logs/stream.", default=False),
    "max-subscribers": integer("Most concurrent log streams.", minimum=1, maximum=20, default=5),
}, description="Log endpoint settings.")

DEFS["ScriptingManagementSpec"] = obj({
    "enabled": boolean("Allow script steps to run.", default=True),
    "defaultLocation": string("Scripts directory for steps without `location`.", pattern=FILE_URI, uri=True),
    "defaultLanguage": string("Language for steps without `language`.", enum=LANGUAGES),
    "timeout": integer("Milliseconds a script may run.", minimum=1, default=60000),
    "statementLimit": integer("Most statements a script may execute.", minimum=1, default=100000),
    "allowedLanguages": array(string(enum=LANGUAGES), "Languages allowed (all when omitted)."),
}, description="Defaults and limits for script steps.")

DEFS["ObservabilitySpec"] = obj({
    "enabled": boolean("Collect traces and metrics.", default=True),
    "metrics": obj({"local": ref("ObservabilityLocalEndpointSpec", "The /metrics endpoint.")},
                   description="Metrics settings."),
    "traces": obj({
        "sampling": number("Share of requests traced, 0 to 1.", minimum=0, maximum=1, default=1.0),
        "propagation": string("Trace context header format.", enum=("w3c", "b3"), default="w3c"),
        "local": obj({
            "enabled": boolean("Serve /traces.", default=True),
            "buffer-size": integer("Recent traces kept.", minimum=10, maximum=10000, default=100),
        }, description="The /traces endpoint."),
    }, description="Tracing settings."),
    "exporters": obj({
        "otlp": obj({"endpoint": string("OTLP endpoint URL (templates allowed).")},
                    required=("endpoint",), description="OpenTelemetry exporter."),
    }, description="Where telemetry is sent."),
}, description="Tracing and metrics.")
DEFS["ObservabilityLocalEndpointSpec"] = obj({"enabled": boolean("Serve the endpoint.", default=True)})

# --- aggregates ---------------------------------------------------------------------------------

DEFS["Aggregate"] = obj({
    "label": string("Display name."),
    "namespace": string("First part of `ref: namespace.function`.", pattern=KEBAB),
    "functions": array(ref("AggregateFunction"), "The functions.", min_items=1),
}, required=("label", "namespace", "functions"), description="A group of reusable domain functions.")

DEFS["AggregateFunction"] = obj({
    "name": string("Second part of `ref: namespace.function`.", pattern=KEBAB),
    "description": string("What the function does."),
    "semantics": ref("Semantics"),
    "inputParameters": array(ref("McpToolInputParameter"), "Arguments of the function."),
    "call": CALL,
    "with": WITH,
    "steps": STEPS,
    "mappings": MAPPINGS,
    "outputParameters": array({}, "Shape of the result: mapped (`call`), filled by `mappings` (`steps`), "
                              "or fixed values (mock mode)."),
}, required=("name", "description"), rules=(
    one_of_fields("call", "steps", "outputParameters"),
    _output_modes(),
), description="A function that tools and REST operations reuse through `ref`.")

DEFS["Semantics"] = obj({
    "safe": boolean("Changes nothing (tools get readOnly hints)."),
    "idempotent": boolean("Repeating it has no further effect."),
    "cacheable": boolean("Results may be cached."),
}, description="How the function behaves, independent of transport.")

# --- steps, mappings, with ----------------------------------------------------------------------

DEFS["OperationStep"] = tagged("type", {"call": "OperationStepCall", "lookup": "OperationStepLookup",
                                        "script": "OperationStepScript"}, required=("name",),
                               what="Kind of step: call, lookup or script.",
                               description="One orchestration step; `type` selects call, lookup or script.")
_STEP_ID = string("Step name; later steps and mappings read its output as `$.name`.", pattern=KEBAB)
DEFS["OperationStepCall"] = obj({
    "type": string("Call a consumed operation.", const="call"),
    "name": _STEP_ID,
    "call": CALL,
    "with": WITH,
}, required=("call",), description="Calls a consumed operation.")
DEFS["OperationStepLookup"] = obj({
    "type": string("Find entries in an earlier step's list.", const="lookup"),
    "name": _STEP_ID,
    "index": string("Name of the earlier step whose output is searched.", pattern=KEBAB),
    # Ours: upstream field names are often snake_case, so any identifier (the schema said kebab-case).
    "match": string("Field of each entry compared with `lookupValue`.", pattern=NAME),
    "lookupValue": string("Value(s) to find: `$.step.field` or a template."),
    "outputParameters": array(string(), "Fields kept from each matching entry.", min_items=1),
}, required=("index", "match", "lookupValue", "outputParameters"), description="Looks entries up by a field.")
DEFS["OperationStepScript"] = obj({
    "type": string("Run a script.", const="script"),
    "name": _STEP_ID,
    "language": string("Script language.", enum=LANGUAGES),
    "location": string("file:/// directory holding the scripts.", pattern=FILE_URI, uri=True),
    "file": string("Main script, relative to `location`; it must set `result`.", min_length=1),
    "dependencies": array(string(min_length=1), "Scripts run first, relative to `location`.", min_items=1),
    "with": WITH,
}, required=("file",), description="Runs a sandboxed script over the steps' outputs.")

DEFS["StepOutputMapping"] = obj({
    "targetName": string("Output field to fill; dots nest (route.from).", pattern=TARGET_NAME),
    "value": string("Where to read: `$.step-name.field.field`."),
}, required=("targetName", "value"), description="Copies one step output into the result.")

DEFS["WithInjector"] = map_of(
    {"type": ["string", "number", "boolean"],
     "description": "A literal, a `{{template}}`, or `namespace.argument` to pass a caller argument "
                    "(booleans are a naftiko-runtime extension)."},
    "Values passed to the called operation, by parameter name.")

# --- output parameters --------------------------------------------------------------------------

_MAPPING = string("JSONPath into the upstream response, e.g. $.data.name.")
_VALUE = string("Fixed value or `{{template}}`; used instead of `mapping`.")
_CONST = {"description": "Expected value, for documentation and linting only."}


def _mapped(kind: str, extra: dict[str, Schema], rules: tuple[Schema, ...], description: str) -> Schema:
    props = {"type": string(f"Always `{kind}` here.", const=kind), "mapping": _MAPPING, "value": _VALUE,
             "const": _CONST, **extra}
    return obj(props, rules=rules, description=description)


_SCALAR_RULES = (one_of_fields("mapping", "value"),
                 exclusive("mapping", "value", why="a value is either mapped (`mapping`) or fixed (`value`)"))
DEFS["MappedOutputParameter"] = tagged("type", {
    "string": "MappedOutputParameterScalar", "number": "MappedOutputParameterScalar",
    "boolean": "MappedOutputParameterScalar", "object": "MappedOutputParameterObject",
    "array": "MappedOutputParameterArray",
}, what="JSON type of the value.", description="A result value mapped from the upstream response.")
DEFS["MappedOutputParameterScalar"] = obj({
    "type": string("Scalar type.", enum=("string", "number", "boolean")),
    "mapping": _MAPPING, "value": _VALUE, "const": _CONST,
    "maxLength": integer("Longest string kept; longer ones are cut (as the reference engine does).", minimum=0),
}, rules=_SCALAR_RULES, description="A string, number or boolean.")
DEFS["MappedOutputParameterObject"] = _mapped("object", {
    "properties": map_of(ref("MappedOutputParameter"), "Fields of the object, each mapped from the response."),
    "values": {**ref("MappedOutputParameter"), "description": (
        "With `mapping` pointing at an object: every entry keeps its key and its value is mapped by this, "
        "relative to the entry (the reference engine's map form).")},
}, (one_of_fields("properties", "mapping"),),
    "An object: its `properties`, or (naftiko-runtime extension) the whole value at `mapping`.")
DEFS["MappedOutputParameterArray"] = _mapped("array", {
    "items": either(ref("MappedOutputParameter"), array(ref("MappedOutputParameter"), min_items=1),
                    description="Shape of each element, relative to the element (a one-item list in 0.5)."),
}, (one_of_fields("items", "mapping"),),
    "A list found at `mapping`; `items` reshapes each element (without it, elements are kept as is).")

DEFS["OrchestratedOutputParameter"] = tagged("type", {
    "string": "OrchestratedOutputParameterScalar", "number": "OrchestratedOutputParameterScalar",
    "boolean": "OrchestratedOutputParameterScalar", "object": "OrchestratedOutputParameterObject",
    "array": "OrchestratedOutputParameterArray",
}, what="JSON type of the field.", required=("name",),
   description="A named result field filled by `mappings` (documents the shape).")
_ORCH_NAME = string("Field name, matching a mapping's `targetName`.", pattern=NAME)
DEFS["OrchestratedOutputParameterScalar"] = obj({
    "name": _ORCH_NAME, "type": string("Scalar type.", enum=("string", "number", "boolean")),
}, description="A string, number or boolean field.")
DEFS["OrchestratedOutputParameterArray"] = obj({
    "name": _ORCH_NAME, "type": string("A list.", const="array"),
    "items": array(ref("OrchestratedOutputParameter"), "Fields of each element.", min_items=1),
}, required=("items",), description="A list field.")
DEFS["OrchestratedOutputParameterObject"] = obj({
    "name": _ORCH_NAME, "type": string("An object.", const="object"),
    "properties": map_of(ref("OrchestratedOutputParameter"), "Fields of the object."),
}, required=("properties",), description="An object field.")

DEFS["MockOutputParameter"] = obj({
    "name": string("Field name in the result.", pattern=NAME),
    "type": string("Scalar type.", enum=("string", "number", "boolean")),
    "value": string("The value returned; `{{argument}}` templates allowed."),
}, required=("name", "type", "value"), description="A fixed result field (mock mode: no call, no steps).")

# --- root ---------------------------------------------------------------------------------------

SCHEMA: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "Naftiko capability",
    "description": "A Naftiko capability (versions 0.5 to 1.0.0-alpha3) as run by naftiko-runtime: "
                   "the HTTP APIs it consumes and the MCP, REST, skill and control servers it exposes.",
    "type": "object",
    "required": ["naftiko"],
    "properties": {
        "naftiko": {"enum": [*VERSIONS, 0.5],
                    "description": "Spec version of this document, e.g. \"1.0.0-alpha2\". Keep it the "
                                   "first key; quote it."},
        "info": ref("Info"),
        "capability": ref("Capability"),
        "consumes": array(ref("ConsumesEntry"), "Shared upstream APIs: a file of only `consumes` is imported "
                          "by capabilities (`location` + `import`).", min_items=1),
        "binds": array(ref("Binding"), "Variable sources (secrets, settings) for `{{VARIABLE}}` templates.",
                       min_items=1),
        "externalRefs": array(ref("ExternalRef"), "0.5 only: variable sources (replaced by `binds`).",
                              min_items=1),
    },
    "additionalProperties": False,
    "allOf": [
        one_of_fields("capability", "consumes"),
        exclusive("capability", "consumes",
                  why="a document is a capability or a shared-consumes file; move `consumes` under "
                      "`capability`"),
        when({"not": {"required": ["naftiko"], "properties": {"naftiko": {"enum": ["0.5", 0.5]}}}},
             exclusive("externalRefs", why="`externalRefs` exists only in 0.5; use `binds`")),
    ],
    "$defs": DEFS,
}


# Human names, shown by editors and used in diagnostics ("unknown field `x` in a REST adapter").
_TITLES = {
    "Info": "info", "Person": "stakeholder", "Binding": "binding", "ExternalRef": "external reference",
    "ExternalRefFile": "file external reference", "ExternalRefRuntime": "runtime external reference",
    "Capability": "capability", "ConsumesEntry": "consumed API", "ImportedConsumesHttp": "consumes import",
    "ConsumesHttp": "consumed HTTP API", "ConsumedHttpResource": "consumed resource",
    "ConsumedHttpOperation": "consumed operation", "ConsumedInputParameter": "consumed input parameter",
    "ConsumedOutputParameter": "consumed output parameter", "RequestBody": "request body",
    "StructuredRequestBody": "request body", "RequestBodyJson": "JSON body", "RequestBodyText": "text body",
    "RequestBodyFormUrlEncoded": "form body", "RequestBodyMultipartForm": "multipart body",
    "RequestBodyMultipartFormPart": "multipart part", "AuthBasic": "basic authentication",
    "AuthDigest": "digest authentication", "AuthApiKey": "API key authentication",
    "AuthBearer": "bearer authentication", "AuthOAuth2Client": "OAuth2 client authentication",
    "AuthOAuth2Server": "OAuth2 resource-server authentication",
    "ConsumerAuthentication": "authentication", "ServerAuthentication": "authentication",
    "Exposes": "exposed adapter", "ExposesRest": "REST adapter", "ExposedResource": "REST resource",
    "ExposedOperation": "REST operation", "ExposedInputParameter": "REST input parameter",
    "ForwardConfig": "forward", "ExposesMcp": "MCP adapter", "McpTool": "MCP tool",
    "McpToolHints": "tool hints", "McpToolInputParameter": "input parameter", "McpResource": "MCP resource",
    "McpPrompt": "MCP prompt", "McpPromptArgument": "prompt argument", "McpPromptMessage": "prompt message",
    "ExposesSkill": "skill adapter", "ExposedSkill": "skill", "SkillTool": "skill tool",
    "ExposesControl": "control adapter", "ControlManagementSpec": "management settings",
    "ControlLogsEndpointSpec": "log settings", "ScriptingManagementSpec": "scripting settings",
    "ObservabilitySpec": "observability settings", "ObservabilityLocalEndpointSpec": "endpoint settings",
    "Aggregate": "aggregate", "AggregateFunction": "aggregate function", "Semantics": "semantics",
    "OperationStep": "step", "OperationStepCall": "call step", "OperationStepLookup": "lookup step",
    "OperationStepScript": "script step", "StepOutputMapping": "mapping", "WithInjector": "`with`",
    "MappedOutputParameter": "output parameter", "MappedOutputParameterScalar": "output parameter",
    "MappedOutputParameterObject": "object output parameter",
    "MappedOutputParameterArray": "array output parameter", "OrchestratedOutputParameter": "output parameter",
    "OrchestratedOutputParameterScalar": "output parameter",
    "OrchestratedOutputParameterArray": "array output parameter",
    "OrchestratedOutputParameterObject": "object output parameter",
    "MockOutputParameter": "mock output parameter",
}
for _name, _title in _TITLES.items():
    DEFS[_name] = {"title": _title, **DEFS[_name]}


def schema_json() -> str:
    """The schema as pretty JSON (key order as written here, stable across runs)."""
    return json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"
