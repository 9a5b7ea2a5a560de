"""The one registry of diagnostic codes: every code any stage can report, with its default severity,
a one-line summary and the hint shown when the diagnostic carries none of its own.

Codes are stable kebab-case strings; rule codes reuse the reference Spectral rule names where one
exists (without the ``naftiko-`` prefix). Severity follows harm: an error means "this cannot work as
written", a warning means "this works, but probably not as you meant" or "ignored harmlessly".
"""

from __future__ import annotations

from dataclasses import dataclass

from naftiko_runtime.errors import Diagnostic, Location, Severity

__all__ = ["CODES", "Code", "diagnostic"]

_E, _W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True, slots=True)
class Code:
    severity: Severity
    summary: str
    hint: str


def _table(*rows: tuple[str, Severity, str, str]) -> dict[str, Code]:
    return {code: Code(severity, summary, hint) for code, severity, summary, hint in rows}


# ----------------------------------------------------------------------------------- source and load
_LOAD = _table(
    ("yaml-syntax", _E, "the file is not valid YAML", "fix the YAML at the caret; indent with spaces"),
    ("empty-document", _E, "the file holds no YAML document", "start the file with `naftiko: \"1.0.0-alpha2\"`"),
    ("multiple-documents", _E, "a file holds more than one YAML document", "one capability per file"),
    ("duplicate-key", _E, "a mapping repeats a key", "remove or rename one of them"),
    ("non-string-key", _E, "a mapping key is not a string", "quote the key"),
    ("yaml-1-1-key", _E, "a key such as on/yes/no is a boolean in YAML 1.1", "quote the key"),
    ("yaml-1-1-boolean", _W, "a value such as yes/no/on/off is a boolean in YAML 1.1",
     "write true/false, or quote the string"),
    ("yaml-unsupported", _E, "YAML that is not plain data: custom tags, recursive or exploding aliases, bad merges",
     "capability files hold only JSON-like data"),
    ("file-too-large", _E, "a capability or imported file is over the size limit",
     "split the capability, or raise the limit with NAFTIKO_MAX_SPEC_BYTES"),
    ("not-a-mapping", _E, "the document root is not a mapping", "a capability is a mapping with a `naftiko` key"),
    ("missing-version", _E, "the document has no `naftiko` version key",
     "add `naftiko: \"1.0.0-alpha2\"` as the first line"),
    ("unsupported-version", _E, "the declared `naftiko` version is not one this runtime runs",
     "declare `naftiko: \"1.0.0-alpha2\"`"),
    ("ikanos-document", _E, "an `ikanos:` document of a version this runtime does not read",
     "declare `ikanos: \"1.0.0-beta5\"`"),
    ("ikanos-shape", _E, "an Ikanos document uses the Naftiko list form where Ikanos has a map keyed by name",
     "write `tools: {name: {...}}`, not `tools: [{name: ..., ...}]`"),
    ("feature-not-run", _W, "a field this runtime reads but does not act on",
     "remove it, or see docs/ikanos.md for what runs"),
    ("legacy-catalog", _E, "the pre-engine `naftiko: {schema: ...}` catalog format",
     "rewrite it as a `naftiko: \"1.0.0-alpha2\"` capability"),
    ("feature-not-in-version", _W, "a field used under a version that does not define it (this runtime runs it)",
     "declare `naftiko: \"1.0.0-alpha2\"`"),
    ("import-not-found", _W, "an imported file could not be read",
     "paths are relative to this capability's folder"),
    ("import-namespace-not-found", _E, "the imported file has no entry with that namespace in that section",
     "`import` names a namespace of the imported file, in the same section"),
    ("import-cycle", _E, "an import leads back to a file that is already being imported",
     "shared consumes files should not import the files that use them"),
    ("import-not-followed", _W, "an import is not followed where a document is checked on its own",
     "check the capability with its imported files: `naftiko validate PATH`"),
    ("import-not-capability", _E, "an import points at a file that is not a capability YAML file",
     "import a Naftiko YAML file that declares `consumes`"),
    ("load-time-template", _E, "a `<<...>>` load-time template could not be rendered",
     "set the variable, or give a default: <<env.NAME | default('...')>>"),
    ("file-not-found", _E, "a capability path does not exist or cannot be read", "check the path"),
)

# ------------------------------------------------------------------------------------------- structure
_STRUCTURE = _table(
    ("unknown-field", _W, "a field the spec does not define at this place (a warning; --strict makes it an error)",
     "remove it, or check its spelling against the schema (`naftiko schema`)"),
    ("auth-unknown-field", _E, "an `authentication` block has a field its type does not define, so the credential "
     "would not be sent", "check the field names of this authentication type"),
    ("schema-required", _E, "a required field is missing, or none of several alternative fields is present",
     "add the missing field"),
    ("schema-type", _E, "a value has the wrong JSON type (string, number, list, object...)",
     "change the value to the expected type"),
    ("schema-enum", _E, "a value is not one of the allowed values", "use one of the allowed values"),
    ("schema-const", _E, "a value differs from the single value allowed here", "use the allowed value"),
    ("schema-pattern", _E, "a string (or a key) does not have the expected format", "follow the expected format"),
    ("schema-min-items", _W, "a list has fewer items than the spec asks for (an empty list serves nothing)",
     "add an item, or remove the empty list"),
    ("schema-range", _E, "a number is outside its allowed range", "use a value within the range"),
    ("schema-min-length", _E, "a string is shorter than allowed (usually: empty)", "give it a value"),
    ("schema-max-length", _E, "a string is longer than allowed", "shorten it"),
    ("schema-conflict", _E, "fields that exclude each other are used together", "keep only one of them"),
)

# ---------------------------------------------------------------------------------------------- rules
_RULES = _table(
    # references
    ("unknown-call", _E, "a `call` names no consumed operation", "write `call: <consumes-namespace>.<operation>`"),
    ("unknown-ref", _E, "a `ref` names no aggregate function", "write `ref: <aggregate-namespace>.<function>`"),
    ("ref-chain", _E, "an aggregate function refers to another aggregate function",
     "give the function its own call or steps"),
    ("unknown-forward-target", _E, "`forward.targetNamespace` names no consumed adapter",
     "name a `consumes` namespace of this capability"),
    # names
    ("namespaces-unique", _E, "a namespace is declared twice (consumes, exposes, aggregates, binds)",
     "namespaces route calls, forwards and templates: rename one"),
    ("operation-name-duplicate", _E, "two operations share a name within one adapter", "rename one of them"),
    ("aggregate-function-duplicate", _E, "two aggregate functions share the same `namespace.name`",
     "rename one of them"),
    ("tool-name-invalid", _E, "a tool or route operation name is not valid for LLM clients",
     "use 1-64 letters, digits, `_` or `-`"),
    ("tool-name-duplicate", _E, "two tools are served under the same name", "rename one of them"),
    ("step-name-duplicate", _E, "two steps of one operation share a name", "rename one of them"),
    # wiring and values
    ("with-key-unused", _W, "a `with` key feeds nothing the consumed operation uses",
     "name a parameter, path placeholder or template variable of the operation"),
    ("with-unknown-input", _E, "a `with` value names an input the tool or operation does not have, so it would "
     "be sent as literal text", "declare the input in `inputParameters`, or fix the name"),
    ("with-foreign-namespace", _E, "a `with` value names another adapter's input, so it would be sent as literal "
     "text", "write `<this-adapter-namespace>.<input>`"),
    ("path-placeholder-unbound", _E, "a consumed path placeholder has no value source for a caller",
     "add a `with` entry or an input parameter of that name"),
    ("path-placeholder-undeclared", _W, "a consumed path placeholder no parameter declares: it becomes a required "
     "string input", "declare it as an input parameter with `in: path`"),
    ("unknown-template-variable", _W, "a `{{NAME}}` template names no parameter or bind variable",
     "declare the name as an input or a bind variable, or fix its spelling"),
    ("unbound-credential", _E, "a credential, header or base URI template names no bind variable, so an empty "
     "value would be sent", "declare the variable under `binds`"),
    ("undeclared-env-variable", _W, "`{{env.NAME}}` with no `binds` entry: the environment variable NAME is read",
     "declare it: `binds: [{namespace: env, keys: {NAME: NAME}}]`"),
    ("bare-bind-name", _W, "a value equals a bind variable name without `{{ }}`", "write `{{NAME}}`"),
    ("lookup-index-unknown", _E, "a lookup `index` names no earlier step", "name an earlier call step"),
    ("step-reference-unknown", _E, "a `$.<step>` reference names no step of the operation",
     "name an earlier step"),
    ("json-schema-invalid", _E, "a `schema` (naftiko-runtime extension) is not a valid JSON Schema, or an output "
     "`schema` does not describe an object",
     "write JSON Schema 2020-12 keywords, e.g. `{type: object, properties: {...}, required: [...]}`"),
    ("jsonpath-invalid", _E, "a JSONPath expression does not parse", "JSONPath starts with `$`, e.g. `$.data.id`"),
    # Valid spec this runtime cannot run yet: a warning, and the call fails with a clear error.
    ("unsupported-format", _W, "an `outputRawFormat` this runtime cannot decode yet",
     "use json, xml, yaml, csv, tsv, psv, html, markdown, text or binary"),
    ("unsupported-step", _W, "a step type this runtime cannot run yet (script)",
     "use call and lookup steps, or an aggregate function"),
    ("aggregate-semantics-consistency", _W, "hints or HTTP method contradict the function's semantics",
     "align the hints (or method) with the function's `semantics`"),
    # skills, resources, prompts
    ("skill-source-unknown", _E, "`from.sourceNamespace` names no sibling rest or mcp adapter",
     "name a rest or mcp exposure of this capability"),
    ("skill-action-unknown", _E, "`from.action` names no operation or tool of its source adapter",
     "name a tool (mcp) or an operation name (rest) of the source adapter"),
    ("skill-instruction-without-location", _E, "a skill tool uses `instruction` but the skill has no `location`",
     "add `location: file:///path/to/skill-dir`"),
    ("resource-template-static", _E, "a static (`location`) MCP resource has a `{param}` uri template",
     "only call or steps resources can be templates"),
    ("prompt-argument-unknown", _W, "a prompt `{{placeholder}}` names no declared argument",
     "declare it under `arguments`"),
    # transports and endpoints
    ("mcp-auth-stdio-conflict", _W, "an MCP adapter with `transport: stdio` declares `authentication`",
     "credentials come from the environment of the launching client"),
    ("control-port-singleton-and-unique", _E, "more than one control adapter, or its port is shared",
     "give the control adapter a port of its own"),
    ("control-address-localhost-warning", _W, "the control adapter listens beyond localhost",
     "use localhost and reach it through a tunnel or a network policy"),
    ("address-port-conflict", _E, "exposures cannot share this address:port",
     "use the same address literal to share a port, or another port"),
    ("rest-route-conflict", _E, "REST routes served on one address:port overlap",
     "give each route a distinct path"),
    ("address-not-example", _W, "a server `address` points at example.com", "use a real host or 0.0.0.0"),
    # paths and URIs
    ("baseuri-invalid", _E, "a consumed `baseUri` is not an absolute http(s) URL once its bind variables are filled",
     "a part that varies is a bind variable (https://sqs.{{AWS_REGION}}.amazonaws.com); or serve with "
     "--upstream NAMESPACE=URL"),
    ("resilience-per-api", _W, "an operation sets a limit that is kept per consumed API, so its value is not used",
     "set concurrency, rateLimit, circuitBreaker and the cache's sizes on the consumed API"),
    ("consumes-baseuri-no-trailing-slash", _W, "a consumed `baseUri` ends with a slash",
     "resource paths are appended to it: drop the trailing slash"),
    ("consumed-resource-no-query-in-path", _W, "a consumed resource `path` holds a query string",
     "declare query values as inputParameters with `in: query`"),
    ("rest-resource-path-no-trailing-slash", _W, "an exposed REST resource `path` ends with a slash",
     "drop the trailing slash"),
    ("rest-resource-path-no-query", _W, "an exposed REST resource `path` holds a query string",
     "declare query inputs as inputParameters with `in: query`"),
    # security
    ("oauth2-https-authserver", _E, "an OAuth2 `authorizationServerUri` is not https", "use an https URL"),
    ("oauth2-resource-https", _W, "an OAuth2 `resource` is not https", "use an https URL"),
    ("oauth2-scopes-defined", _W, "an OAuth2 server authentication declares no `scopes`",
     "list the scopes callers need"),
    ("no-script-tags-in-markdown", _E, "a description or label holds a <script> tag", "remove the tag"),
    ("no-eval-in-markdown", _E, "a description or label holds an eval( call", "remove the call"),
)

CODES: dict[str, Code] = {**_LOAD, **_STRUCTURE, **_RULES}


def diagnostic(code: str, message: str, location: Location, *, hint: str | None = None,
               severity: Severity | None = None, related: tuple[Location, ...] = ()) -> Diagnostic:
    """A diagnostic of a registered code: its default severity and hint unless given."""
    entry = CODES[code]
    return Diagnostic(code, severity or entry.severity, message, location, hint or entry.hint, related)
