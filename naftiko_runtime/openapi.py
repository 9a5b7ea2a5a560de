"""OpenAPI: describe a capability's REST exposures (export) and start a capability from an API (import).

Pure functions over dicts: no I/O, no server. ``export_openapi`` turns the model of a capability into
an OpenAPI 3.1 document; ``import_openapi`` turns an OpenAPI 3.x or Swagger 2.0 document into a
capability document (a consumes block plus an MCP exposure with one tool per operation).
The route helpers at the top (path templates, the inputs of a route) are shared with ``expose.rest``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import yaml

from naftiko_runtime.mapping import plain
from naftiko_runtime.model import (
    PATH_PLACEHOLDER,
    Capability,
    Invocable,
    Param,
    RestExposure,
    RestOperation,
    RestResource,
    Tool,
)

__all__ = [
    "BODY_METHODS",
    "dump_yaml",
    "export_openapi",
    "export_openapi_many",
    "import_openapi",
    "openapi_path",
    "path_variables",
    "route_parameters",
]

OPENAPI_VERSION = "3.1.0"
NAFTIKO_VERSION = "1.0.0-alpha2"
IMPORTED_MCP_PORT = 9090
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
FORWARD_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
GREEDY_VARIABLE = "path"  # `{path}` matches several segments (forward resources)
_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_SIMPLE_PATH = re.compile(r"^\$((?:\.[A-Za-z0-9_\-]+)+)$")


# ----------------------------------------------------------------------------------------------------
# Route helpers (shared with expose.rest)
# ----------------------------------------------------------------------------------------------------


def path_variables(path: str) -> list[str]:
    """Names of the ``{x}`` / ``{{x}}`` placeholders of an exposed path, in order, once each."""
    return list(dict.fromkeys(PATH_PLACEHOLDER.findall(path)))


def openapi_path(path: str) -> str:
    """``/ships/{{imo}}`` -> ``/ships/{imo}`` (always with a leading slash)."""
    text = PATH_PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", path.strip())
    return text if text.startswith("/") else "/" + text


def route_parameters(exposure: RestExposure, resource: RestResource, operation: RestOperation,
                     functions: Mapping[str, Tool]) -> tuple[Param, ...]:
    """The inputs of one route operation.

    Declared parameters merge by name with server < resource < operation precedence. A ``ref``
    operation that declares none of its own takes the aggregate function's parameters (from the path
    when the path names them, else from the body for POST/PUT/PATCH and the query otherwise), like an
    MCP tool inherits them. Path variables nobody declared are required strings.
    """
    merged: dict[str, Param] = {}
    for param in (*exposure.input_parameters, *resource.input_parameters, *operation.input_parameters):
        merged[param.name] = param
    variables = path_variables(resource.path)
    invocable = operation.invocable
    if invocable.mode == "ref" and not operation.input_parameters:
        function = functions.get(invocable.ref or "")
        for param in function.input_parameters if function else ():
            if param.name not in merged:
                where = "path" if param.name in variables else (
                    "body" if operation.method in BODY_METHODS else "query")
                merged[param.name] = replace(param, in_=where)
    for name in variables:
        if name not in merged:
            merged[name] = Param(name, in_="path", type="string", required=True)
    return tuple(merged.values())


def is_input(param: Param) -> bool:
    """A parameter the caller supplies (a ``value`` that is not a JSONPath is a constant)."""
    return param.value is None or (isinstance(param.value, str) and param.value.strip().startswith("$"))


# ----------------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------------


def export_openapi(capability: Capability, exposure_namespace: str | None = None) -> dict[str, Any]:
    """An OpenAPI 3.1 document for the capability's REST exposures (or the one named).

    Raises ValueError when there is no such REST exposure.
    """
    exposures = [e for e in capability.exposures if isinstance(e, RestExposure)
                 and (exposure_namespace is None or e.namespace == exposure_namespace)]
    if not exposures:
        wanted = f" named {exposure_namespace!r}" if exposure_namespace else ""
        raise ValueError(f"the capability has no REST exposure{wanted}")
    several = len(exposures) > 1
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": _export_info(capability, exposures),
    }
    if not several:
        doc["servers"] = [_server(exposures[0])]
    paths: dict[str, Any] = {}
    components: dict[str, Any] = _problem_components()
    schemes: dict[str, Any] = {}
    ids: set[str] = set()
    for exposure in exposures:
        scheme = _security_scheme(exposure)
        if scheme is not None:
            schemes[_scheme_name(exposure)] = scheme
            if not several:
                doc["security"] = [{_scheme_name(exposure): _scopes(exposure)}]
        for resource in exposure.resources:
            item = paths.setdefault(openapi_path(resource.path), {})
            if several:
                item.setdefault("servers", [_server(exposure)])
            for method, operation in _export_operations(capability, exposure, resource, ids):
                item.setdefault(method.lower(), operation)
    doc["paths"] = paths
    if schemes:
        components["securitySchemes"] = schemes
    doc["components"] = components
    return doc


def export_openapi_many(targets: Sequence[tuple[Capability, str]]) -> dict[str, Any]:
    """One OpenAPI document for several REST exposures ``(capability, namespace)``, possibly of
    different capabilities (every REST exposure on one listener).

    Each exposure's own document is merged in: its paths (the first exposure declaring a path and
    method keeps it, as routing does), its security and servers moved onto its operations when the
    exposures differ, its security schemes; operationIds stay unique. Raises ValueError like
    ``export_openapi``.
    """
    documents = [export_openapi(capability, namespace) for capability, namespace in targets]
    if len(documents) == 1:
        return documents[0]
    titles = list(dict.fromkeys(str(doc["info"]["title"]) for doc in documents))
    info = documents[0]["info"] if len(titles) == 1 else {"title": " + ".join(titles), "version": "1.0.0"}
    merged: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    shared_servers = all(doc.get("servers") == documents[0].get("servers") for doc in documents)
    if shared_servers and documents[0].get("servers"):
        merged["servers"] = documents[0]["servers"]
    paths: dict[str, Any] = {}
    components = _problem_components()
    schemes: dict[str, Any] = {}
    ids: set[str] = set()
    for doc in documents:
        for path, item in doc["paths"].items():
            target = paths.setdefault(path, {})
            for key, value in item.items():
                if key in target:
                    continue
                target[key] = _merged_operation(doc, value, ids, shared_servers) if key in _OPERATION_KEYS else value
        schemes.update(doc["components"].get("securitySchemes", {}))
    merged["paths"] = paths
    if schemes:
        components["securitySchemes"] = schemes
    merged["components"] = components
    return merged


_OPERATION_KEYS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _merged_operation(doc: Mapping[str, Any], operation: Mapping[str, Any], ids: set[str],
                      shared_servers: bool) -> dict[str, Any]:
    """An operation of ``doc`` carrying what the merged document no longer says at its top level."""
    out = dict(operation)
    out["operationId"] = _unique(str(out["operationId"]), ids)
    if "security" in doc:
        out.setdefault("security", doc["security"])
    if not shared_servers and doc.get("servers"):
        out.setdefault("servers", doc["servers"])
    return out


def _export_info(capability: Capability, exposures: list[RestExposure]) -> dict[str, Any]:
    info: dict[str, Any] = {"title": capability.label or exposures[0].namespace, "version": "1.0.0"}
    if capability.description:
        info["description"] = capability.description
    return info


def _server(exposure: RestExposure) -> dict[str, Any]:
    host = exposure.address or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "localhost"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return {"url": f"http://{host}:{exposure.port}", "description": f"REST exposure {exposure.namespace}"}


def _scheme_name(exposure: RestExposure) -> str:
    return f"{exposure.namespace}-auth"


def _scopes(exposure: RestExposure) -> list[str]:
    auth = exposure.authentication or {}
    if auth.get("type") != "oauth2":
        return []
    return [str(s) for s in auth.get("scopes") or ()]


def _security_scheme(exposure: RestExposure) -> dict[str, Any] | None:
    """Inbound auth -> an OpenAPI security scheme. Only names, never a secret value."""
    auth = exposure.authentication
    if not auth:
        return None
    kind = auth.get("type")
    if kind in ("basic", "digest", "bearer"):
        return {"type": "http", "scheme": kind}
    if kind == "apikey":
        placement = auth.get("placement") or "header"
        return {"type": "apiKey", "in": placement if placement in ("header", "query") else "header",
                "name": str(auth.get("key") or "X-API-Key")}
    if kind == "oauth2":
        token_url = auth.get("tokenEndpoint") or auth.get("authorizationServerUri") or ""
        scopes = {str(s): str(s) for s in auth.get("scopes") or ()}
        return {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": str(token_url), "scopes": scopes}}}
    return None


def _problem_components() -> dict[str, Any]:
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    return {
        "schemas": {
            "Problem": {
                "type": "object",
                "description": "An RFC 9457 problem.",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                    "operation": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object"}},
                },
                "required": ["type", "title", "status"],
            },
        },
        "responses": {
            "Problem": {"description": "The call failed.",
                        "content": {"application/problem+json": {"schema": problem_ref}}},
            "BadRequest": {"description": "Some inputs are missing or invalid; `errors` lists every one.",
                           "content": {"application/problem+json": {"schema": problem_ref}}},
            "Unauthorized": {"description": "The request carries no valid credentials.",
                             "content": {"application/problem+json": {"schema": problem_ref}}},
        },
    }


def _export_operations(capability: Capability, exposure: RestExposure, resource: RestResource,
                       ids: set[str]) -> Iterable[tuple[str, dict[str, Any]]]:
    for operation in resource.operations:
        yield operation.method, _export_operation(capability, exposure, resource, operation, ids)
    if resource.forward is not None:
        declared = {op.method for op in resource.operations}
        for method in FORWARD_METHODS:
            if method not in declared:
                yield method, _export_forward(exposure, resource, method, ids)


def _unique(candidate: str, taken: set[str]) -> str:
    name, n = candidate, 2
    while name in taken:
        name, n = f"{candidate}-{n}", n + 1
    taken.add(name)
    return name


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-").lower() or "root"


def _export_operation(capability: Capability, exposure: RestExposure, resource: RestResource,
                      operation: RestOperation, ids: set[str]) -> dict[str, Any]:
    params = [p for p in route_parameters(exposure, resource, operation, capability.functions) if is_input(p)]
    fallback = f"{operation.method.lower()}-{_slug(openapi_path(resource.path))}"
    out: dict[str, Any] = {"operationId": _unique(operation.name or fallback, ids)}
    function = capability.functions.get(operation.invocable.ref or "")
    if operation.label:
        out["summary"] = operation.label
    description = operation.description or (function.description if function else None) or resource.description
    if description:
        out["description"] = description
    out["tags"] = [exposure.namespace]
    parameters = [_parameter(p) for p in params if p.in_ in ("path", "query", "header", "cookie")]
    if parameters:
        out["parameters"] = parameters
    body = [p for p in params if p.in_ == "body"]
    if body:
        out["requestBody"] = _request_body(body)
    out["responses"] = _responses(capability, operation.invocable, bool(params), exposure)
    if exposure.authentication and len([e for e in capability.exposures if isinstance(e, RestExposure)]) > 1:
        out["security"] = [{_scheme_name(exposure): _scopes(exposure)}]
    return out


def _export_forward(exposure: RestExposure, resource: RestResource, method: str, ids: set[str]) -> dict[str, Any]:
    target = (resource.forward or {}).get("targetNamespace", "")
    out: dict[str, Any] = {
        "operationId": _unique(f"forward-{method.lower()}-{_slug(openapi_path(resource.path))}", ids),
        "summary": f"Forwarded to {target}",
        "description": resource.description or f"Passed through to the `{target}` API unchanged.",
        "tags": [exposure.namespace],
    }
    variables = path_variables(resource.path)
    if variables:
        out["parameters"] = [
            _parameter(Param(v, in_="path", type="string", required=True,
                             description="The rest of the path, passed through." if v == GREEDY_VARIABLE
                             else None))
            for v in variables
        ]
    if method in BODY_METHODS:
        out["requestBody"] = {"content": {"*/*": {"schema": {}}}}
    out["responses"] = {
        "default": {"description": "The upstream response, passed through.", "content": {"*/*": {"schema": {}}}},
    }
    return out


def param_schema(param: Param) -> dict[str, Any]:
    """The JSON Schema of one exposed input parameter."""
    schema: dict[str, Any] = {"type": param.type if param.type in _JSON_TYPES else "string"}
    if param.pattern and schema["type"] == "string":
        schema["pattern"] = param.pattern
    return schema


def _parameter(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": param.in_,
                           "required": param.in_ == "path" or param.required}
    if param.description:
        out["description"] = param.description
    out["schema"] = param_schema(param)
    return out


def _request_body(params: list[Param]) -> dict[str, Any]:
    """Body parameters -> one JSON object schema; a ``$.a.b`` value nests the property."""
    root: dict[str, Any] = {"type": "object", "properties": {}}
    required_any = False
    for param in params:
        schema = param_schema(param)
        if param.description:
            schema["description"] = param.description
        match = _SIMPLE_PATH.match(param.value.strip()) if isinstance(param.value, str) else None
        keys = match.group(1)[1:].split(".") if match else [param.name]
        holder = root
        for key in keys[:-1]:
            holder = holder["properties"].setdefault(key, {"type": "object", "properties": {}})
            holder.setdefault("properties", {})
        holder["properties"][keys[-1]] = schema
        if param.required:
            holder.setdefault("required", []).append(keys[-1])
            required_any = True
    return {"required": required_any, "content": {"application/json": {"schema": root}}}


def _responses(capability: Capability, invocable: Invocable, has_inputs: bool,
               exposure: RestExposure) -> dict[str, Any]:
    schema = _result_schema(capability, invocable)
    success: dict[str, Any] = {"description": "The result.", "content": {"application/json": {"schema": schema}}}
    responses: dict[str, Any] = {"200": success}
    if invocable.mode != "mock":
        responses["204"] = {"description": "The call succeeded with nothing to return."}
    if has_inputs:
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    if exposure.authentication:
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    responses["default"] = {"$ref": "#/components/responses/Problem"}
    return responses


def _result_schema(capability: Capability, invocable: Invocable, depth: int = 0) -> dict[str, Any]:
    from naftiko_runtime.mapping import output_schema

    if invocable.mode == "ref":
        function = capability.functions.get(invocable.ref or "")
        return _result_schema(capability, function.invocable, depth + 1) if function and depth < 4 else {}
    params = [dict(p) for p in invocable.output_parameters]
    if invocable.mode == "mock":
        return {"type": "object",
                "properties": {str(p.get("name") or "value"): _declared_schema(p, mock=True) for p in params}}
    if invocable.mode == "steps":
        named = [p for p in params if p.get("name")]
        if invocable.mappings and named:
            return {"type": "object", "properties": {str(p["name"]): _declared_schema(p) for p in named}}
        return {}
    mapped = output_schema(params)
    if mapped is not None:
        return mapped
    if params and params[0].get("type") == "array":
        return {"type": "array"}
    return {}


def _declared_schema(param: Mapping[str, Any], *, mock: bool = False) -> dict[str, Any]:
    """The schema a declared output parameter documents (orchestrated and mock outputs)."""
    kind = param.get("type")
    if mock and param.get("value") is not None:
        return {"type": "string"}  # mock values render as text
    if kind == "object":
        props = param.get("properties")
        if isinstance(props, Mapping):
            return {"type": "object", "properties": {str(k): _declared_schema(v, mock=mock)
                                                     for k, v in props.items() if isinstance(v, Mapping)}}
        return {"type": "object"}
    if kind == "array":
        items = param.get("items")
        if isinstance(items, list) and items and all(isinstance(i, Mapping) and i.get("name") for i in items):
            return {"type": "array", "items": {"type": "object", "properties": {
                str(i["name"]): _declared_schema(i, mock=mock) for i in items}}}
        if isinstance(items, Mapping):
            return {"type": "array", "items": _declared_schema(items, mock=mock)}
        return {"type": "array"}
    return {"type": kind} if kind in _JSON_TYPES else {}


# ----------------------------------------------------------------------------------------------------
# Import
# ----------------------------------------------------------------------------------------------------

_HTTP_METHODS = ("get", "put", "post", "delete", "patch")  # the methods a consumed operation may use
_SKIPPED_HEADERS = frozenset({"accept", "content-type", "authorization"})  # OpenAPI ignores these too
_ARG_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_NAME = 60
_FORMATS = (  # response media type -> outputRawFormat (json is the default, so not listed)
    ("xml", "xml"), ("csv", "csv"), ("tab-separated", "tsv"), ("yaml", "yaml"),
    ("html", "html"), ("markdown", "markdown"), ("avro", "avro"), ("protobuf", "protobuf"),
)


def kebab(text: str) -> str:
    """``listShips`` / ``List ships`` / ``list_ships`` -> ``list-ships``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", text)
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def import_openapi(document: Mapping[str, Any], *, namespace: str | None = None,
                   base_uri: str | None = None) -> dict[str, Any]:
    """An OpenAPI 3.x or Swagger 2.0 document -> a capability document (a plain dict).

    The capability consumes the API (one resource per path, one operation per method, parameters,
    request bodies, the first security scheme as ``authentication`` bound to environment variables)
    and exposes every operation as an MCP tool. Raises ValueError when the document is neither.
    """
    if not isinstance(document, Mapping):
        raise ValueError("an OpenAPI document must be a mapping")
    swagger = str(document.get("swagger", "")).startswith("2")
    if not swagger and not str(document.get("openapi", "")).startswith("3"):
        raise ValueError("not an OpenAPI 3.x or Swagger 2.0 document (no `openapi: 3.x` or `swagger: '2.0'`)")
    reader = _Reader(document, swagger)
    info = document.get("info") if isinstance(document.get("info"), Mapping) else {}
    title = str(info.get("title") or "imported-api")
    ns = kebab(namespace or title) or "api"
    mcp_ns = f"{ns}-mcp"
    auth, variables = reader.authentication(ns)
    consumer: dict[str, Any] = {
        "type": "http",
        "namespace": ns,
        "description": _first_line(info.get("description")) or title,
        "baseUri": (base_uri or reader.base_uri()).rstrip("/") or "http://localhost",
    }
    if auth:
        consumer["authentication"] = auth
    resources, tools = reader.resources_and_tools(ns, mcp_ns)
    consumer["resources"] = resources
    capability_doc: dict[str, Any] = {
        "naftiko": NAFTIKO_VERSION,
        "info": {"label": title, "description": _first_line(info.get("description")) or title},
    }
    if variables:
        capability_doc["binds"] = [{
            "namespace": f"{ns}-env",
            "description": f"Credentials for the {title} API, read from environment variables.",
            "keys": {name: name for name in variables},
        }]
    capability_doc["capability"] = {
        "consumes": [consumer],
        "exposes": [{
            "type": "mcp",
            "port": IMPORTED_MCP_PORT,
            "namespace": mcp_ns,
            "description": f"Tools for the {title} API.",
            "tools": tools,
        }],
    }
    return capability_doc


def dump_yaml(doc: Mapping[str, Any]) -> str:
    """A capability document as YAML text, keys in document order."""
    return yaml.safe_dump(plain(doc), sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)


def _first_line(text: Any) -> str:
    return " ".join(str(text).split()) if text else ""


class _Reader:
    """Reads one OpenAPI / Swagger document, resolving local ``$ref``s."""

    def __init__(self, document: Mapping[str, Any], swagger: bool) -> None:
        self.doc = document
        self.swagger = swagger

    # -------------------------------------------------------------- references

    def resolve(self, node: Any, depth: int = 0) -> Any:
        """Follow ``{"$ref": "#/a/b"}`` (local references only); unknown -> None."""
        while isinstance(node, Mapping) and "$ref" in node and depth < 32:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return None
            target: Any = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, Mapping) else None
            node, depth = target, depth + 1
        return node

    # -------------------------------------------------------------- base URI

    def base_uri(self) -> str:
        if self.swagger:
            schemes = self.doc.get("schemes") or ["https"]
            scheme = "https" if "https" in schemes else str(schemes[0])
            host = self.doc.get("host") or "localhost"
            return f"{scheme}://{host}{self.doc.get('basePath') or ''}"
        servers = self.doc.get("servers") or []
        server = servers[0] if servers and isinstance(servers[0], Mapping) else {}
        url = str(server.get("url") or "")
        for name, variable in (server.get("variables") or {}).items():
            default = variable.get("default", "") if isinstance(variable, Mapping) else ""
            url = url.replace("{" + str(name) + "}", str(default))
        if not re.match(r"^https?://", url):
            url = "http://localhost" + ("/" + url.lstrip("/") if url.strip("/") else "")
        return url

    # -------------------------------------------------------------- security

    def _schemes(self) -> Mapping[str, Any]:
        if self.swagger:
            return self.doc.get("securityDefinitions") or {}
        return (self.doc.get("components") or {}).get("securitySchemes") or {}

    def _chosen_scheme(self) -> tuple[str, Mapping[str, Any]] | None:
        """The first scheme the API requires (globally, else on any operation), else the first defined."""
        schemes = self._schemes()
        requirements = list(self.doc.get("security") or [])
        for item in (self.doc.get("paths") or {}).values():
            for method in _HTTP_METHODS:
                op = item.get(method) if isinstance(item, Mapping) else None
                if isinstance(op, Mapping):
                    requirements.extend(op.get("security") or [])
        names = [n for r in requirements if isinstance(r, Mapping) for n in r] + list(schemes)
        for name in names:
            scheme = self.resolve(schemes.get(name))
            if isinstance(scheme, Mapping) and _consumer_auth(scheme, "X") is not None:
                return str(name), scheme
        return None

    def authentication(self, ns: str) -> tuple[dict[str, Any] | None, list[str]]:
        """The consumer ``authentication`` with ``{{VAR}}`` templates, and the variables it needs."""
        chosen = self._chosen_scheme()
        if chosen is None:
            return None, []
        prefix = re.sub(r"[^A-Z0-9]+", "_", ns.upper()).strip("_") or "API"
        if not prefix[0].isalpha():
            prefix = "API_" + prefix
        auth = _consumer_auth(chosen[1], prefix)
        assert auth is not None
        variables = [m for v in auth.values() if isinstance(v, str) for m in re.findall(r"\{\{(\w+)\}\}", v)]
        return auth, variables

    # -------------------------------------------------------------- operations

    def resources_and_tools(self, ns: str, mcp_ns: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        resources: list[dict[str, Any]] = []
        tools: list[dict[str, Any]] = []
        resource_names: set[str] = set()
        op_names: set[str] = set()
        for path, raw_item in (self.doc.get("paths") or {}).items():
            item = self.resolve(raw_item)
            if not isinstance(item, Mapping):
                continue
            operations = []
            for method in _HTTP_METHODS:
                op = item.get(method)
                if not isinstance(op, Mapping):
                    continue
                consumed, tool = self._operation(str(path), method, item, op, ns, mcp_ns, op_names)
                operations.append(consumed)
                tools.append(tool)
            if not operations:
                continue
            resource: dict[str, Any] = {
                "name": _unique(kebab(str(path)) or "root", resource_names),
                "path": "/" + str(path).lstrip("/"),
            }
            if item.get("summary") or item.get("description"):
                resource["description"] = _first_line(item.get("description") or item.get("summary"))
            resource["operations"] = operations
            resources.append(resource)
        if not resources:
            raise ValueError("the document describes no operation (no GET/POST/PUT/PATCH/DELETE under `paths`)")
        return resources, tools

    def _parameters(self, item: Mapping[str, Any], op: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Path-item then operation parameters, the operation's winning on the same (name, in)."""
        merged: dict[tuple[str, str], Mapping[str, Any]] = {}
        for raw in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
            param = self.resolve(raw)
            if isinstance(param, Mapping) and param.get("name") and param.get("in"):
                merged[(str(param["name"]), str(param["in"]))] = param
        return list(merged.values())

    def _operation(self, path: str, method: str, item: Mapping[str, Any], op: Mapping[str, Any],
                   ns: str, mcp_ns: str, taken: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        op_id = kebab(str(op.get("operationId") or ""))
        base = (op_id or f"{method}-{kebab(path) or 'root'}")[:_MAX_NAME].strip("-")
        name = _unique(base, taken)  # MCP tool names are at most 64 characters: leave room for a suffix
        consumed_params: list[dict[str, Any]] = []
        tool_params: list[dict[str, Any]] = []
        wiring: dict[str, str] = {}
        args: set[str] = set()
        for param in self._parameters(item, op):
            self._add_parameter(param, consumed_params, tool_params, wiring, args, mcp_ns)
        body = None if self.swagger else self.resolve(op.get("requestBody"))
        if isinstance(body, Mapping) and body.get("content") is not None:
            self._add_body(body, bool(body.get("required")), consumed_params, tool_params, wiring, args, mcp_ns)
        summary = _first_line(op.get("summary"))
        description = _first_line(op.get("description")) or summary or f"{method.upper()} {path}"
        consumed: dict[str, Any] = {"name": name}
        if summary:
            consumed["label"] = summary
        consumed["description"] = description
        consumed["method"] = method.upper()
        if consumed_params:
            consumed["inputParameters"] = consumed_params
        raw_format = self._raw_format(op)
        if raw_format:
            consumed["outputRawFormat"] = raw_format
        tool: dict[str, Any] = {"name": name}
        if summary and summary != description:
            tool["label"] = summary
        tool["description"] = description
        tool["hints"] = _hints(method)
        if tool_params:
            tool["inputParameters"] = tool_params
        tool["call"] = f"{ns}.{name}"
        if wiring:
            tool["with"] = wiring
        return consumed, tool

    def _add_parameter(self, param: Mapping[str, Any], consumed: list[dict[str, Any]],
                       tool: list[dict[str, Any]], wiring: dict[str, str], args: set[str], mcp_ns: str) -> None:
        name, where = str(param["name"]), str(param["in"])
        if where == "header" and name.lower() in _SKIPPED_HEADERS:
            return
        if where == "body":  # Swagger 2.0
            self._add_body(param, bool(param.get("required")), consumed, tool, wiring, args, mcp_ns)
            return
        if where == "formData":  # Swagger 2.0 form fields: sent as body fields by name
            where = "body"
        if where not in ("query", "header", "path", "cookie", "body"):
            return
        kind = self._type(param if self.swagger else param.get("schema"))
        required = where == "path" or bool(param.get("required"))
        description = _first_line(param.get("description"))
        entry: dict[str, Any] = {"name": name, "in": where, "type": kind, "required": required}
        if description:
            entry["description"] = description
        consumed.append(entry)
        _add_argument(name, kind, required, description or f"The {name} {where} parameter.",
                      tool, wiring, args, mcp_ns)

    def _add_body(self, body: Mapping[str, Any], required: bool, consumed: list[dict[str, Any]],
                  tool: list[dict[str, Any]], wiring: dict[str, str], args: set[str], mcp_ns: str) -> None:
        name = "body" if "body" not in {p["name"] for p in consumed} else "request_body"
        description = _first_line(body.get("description")) or "The JSON request body."
        consumed.append({"name": name, "in": "body", "type": "object", "required": required,
                         "description": description})
        _add_argument(name, "object", required, description, tool, wiring, args, mcp_ns)

    def _type(self, schema: Any, depth: int = 0) -> str:
        """The JSON type an OpenAPI schema (or Swagger parameter) declares; ``string`` when unsure."""
        schema = self.resolve(schema)
        if not isinstance(schema, Mapping) or depth > 8:
            return "string"
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind == "file":
            return "string"
        if kind in _JSON_TYPES:
            return str(kind)
        for key in ("allOf", "oneOf", "anyOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self._type(options[0], depth + 1)
        return "object" if "properties" in schema else "string"

    def _raw_format(self, op: Mapping[str, Any]) -> str | None:
        """A non-JSON success response -> the matching ``outputRawFormat``."""
        if self.swagger:
            types = [str(t) for t in op.get("produces") or self.doc.get("produces") or []]
        else:
            types = []
            for code, response in (op.get("responses") or {}).items():
                response = self.resolve(response)
                if str(code).startswith("2") and isinstance(response, Mapping):
                    types.extend(str(t) for t in (response.get("content") or {}))
        if not types or any("json" in t for t in types):
            return None
        for needle, raw in _FORMATS:
            if any(needle in t for t in types):
                return raw
        return None


def _add_argument(name: str, kind: str, required: bool, description: str, tool: list[dict[str, Any]],
                  wiring: dict[str, str], args: set[str], mcp_ns: str) -> None:
    """One tool argument feeding the consumed parameter ``name`` through ``with``."""
    arg = _ARG_NAME.sub("_", name)
    if arg in args:  # same name in two places: one argument feeds both
        return
    args.add(arg)
    tool.append({"name": arg, "type": kind, "description": description, "required": required})
    wiring[name] = f"{mcp_ns}.{arg}"


def _hints(method: str) -> dict[str, bool]:
    """MCP hints from the HTTP method's semantics (RFC 9110: safe, idempotent)."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return {"readOnly": True, "destructive": False, "idempotent": True, "openWorld": True}
    if method == "DELETE":
        return {"readOnly": False, "destructive": True, "idempotent": True, "openWorld": True}
    if method == "PUT":
        return {"readOnly": False, "destructive": False, "idempotent": True, "openWorld": True}
    return {"readOnly": False, "destructive": False, "idempotent": False, "openWorld": True}


def _consumer_auth(scheme: Mapping[str, Any], prefix: str) -> dict[str, Any] | None:
    """An OpenAPI security scheme -> a consumer ``authentication`` bound to ``{{PREFIX_...}}``."""
    kind = str(scheme.get("type", "")).lower()
    http_scheme = str(scheme.get("scheme", "")).lower()
    if kind == "basic" or (kind == "http" and http_scheme == "basic"):
        return {"type": "basic", "username": f"{{{{{prefix}_USERNAME}}}}", "password": f"{{{{{prefix}_PASSWORD}}}}"}
    if kind == "http" and http_scheme == "digest":
        return {"type": "digest", "username": f"{{{{{prefix}_USERNAME}}}}", "password": f"{{{{{prefix}_PASSWORD}}}}"}
    if (kind == "http" and http_scheme == "bearer") or kind in ("oauth2", "openidconnect"):
        # OAuth flows need an interactive grant or client registration: the user supplies a token.
        return {"type": "bearer", "token": f"{{{{{prefix}_TOKEN}}}}"}
    if kind == "apikey" and scheme.get("in") in ("header", "query") and scheme.get("name"):
        return {"type": "apikey", "key": str(scheme["name"]), "value": f"{{{{{prefix}_API_KEY}}}}",
                "placement": str(scheme["in"])}
    return None
