"""OpenAPI 3.1 export: describe a capability's REST exposures (routes, inputs, results, security).

Pure functions over the model: no I/O, no server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from naftiko_runtime.errors import ConfigError
from naftiko_runtime.model import Capability, Input, Invocation, OutputParam, RestExposure, RestResource, Route, plain
from naftiko_runtime.model.exposes import BODY_METHODS, GREEDY_VARIABLE, openapi_path
from naftiko_runtime.model.refs import placeholders
from naftiko_runtime.model.schemas import JSON_TYPES, output_schema, usable

__all__ = ["export_openapi", "export_openapi_many"]

OPENAPI_VERSION = "3.1.0"
FORWARD_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_SIMPLE_PATH = re.compile(r"^\$((?:\.[A-Za-z0-9_\-]+)+)$")


def export_openapi(capability: Capability, exposure_namespace: str | None = None) -> dict[str, Any]:
    """An OpenAPI 3.1 document for the capability's REST exposures (or the one named).

    Raises ``ConfigError`` when there is no such REST exposure.
    """
    exposures = [e for e in capability.rest if exposure_namespace is None or e.namespace == exposure_namespace]
    if not exposures:
        wanted = f" named {exposure_namespace!r}" if exposure_namespace else ""
        raise ConfigError(f"the capability has no REST exposure{wanted}")
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
    exposures differ, its security schemes; operationIds stay unique. Raises ``ConfigError`` like
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
    out["operationId"] = unique(str(out["operationId"]), ids)
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


def _raw(exposure: RestExposure, field: str) -> Any:
    value = exposure.authentication.get(field) if exposure.authentication is not None else None
    return value.raw if value is not None else None


def _scopes(exposure: RestExposure) -> list[str]:
    if exposure.authentication is None or exposure.authentication.type != "oauth2":
        return []
    scopes = _raw(exposure, "scopes")
    return [str(s) for s in scopes] if isinstance(scopes, tuple) else []


def _security_scheme(exposure: RestExposure) -> dict[str, Any] | None:
    """Inbound auth -> an OpenAPI security scheme. Only names, never a secret value."""
    if exposure.authentication is None:
        return None
    kind = exposure.authentication.type
    if kind in ("basic", "digest", "bearer"):
        return {"type": "http", "scheme": kind}
    if kind == "apikey":
        placement = _raw(exposure, "placement") or "header"
        return {"type": "apiKey", "in": placement if placement in ("header", "query") else "header",
                "name": str(_raw(exposure, "key") or "X-API-Key")}
    if kind == "oauth2":
        token_url = _raw(exposure, "tokenEndpoint") or _raw(exposure, "authorizationServerUri") or ""
        scopes = {s: s for s in _scopes(exposure)}
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
    for route in resource.routes:
        yield route.method, _export_operation(capability, exposure, resource, route, ids)
    if resource.forward is not None:
        declared = {route.method for route in resource.routes}
        for method in FORWARD_METHODS:
            if method not in declared:
                yield method, _export_forward(exposure, resource, method, ids)


def unique(candidate: str, taken: set[str]) -> str:
    name, n = candidate, 2
    while name in taken:
        name, n = f"{candidate}-{n}", n + 1
    taken.add(name)
    return name


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-").lower() or "root"


def _export_operation(capability: Capability, exposure: RestExposure, resource: RestResource,
                      route: Route, ids: set[str]) -> dict[str, Any]:
    inputs = [i for i in route.inputs if not i.is_constant]
    fallback = f"{route.method.lower()}-{_slug(openapi_path(resource.path))}"
    out: dict[str, Any] = {"operationId": unique(route.declared_name or fallback, ids)}
    invocation = route.invocation
    function = invocation.ref.function if invocation is not None and invocation.ref is not None else None
    if route.title:
        out["summary"] = route.title
    description = route.description or (function.description if function else None) or resource.description
    if description:
        out["description"] = description
    out["tags"] = [exposure.namespace]
    parameters = [_parameter(i) for i in inputs if i.in_ in ("path", "query", "header", "cookie")]
    if parameters:
        out["parameters"] = parameters
    body = [i for i in inputs if i.in_ == "body"]
    if body:
        out["requestBody"] = _request_body(body)
    assert invocation is not None
    out["responses"] = _responses(invocation, bool(inputs), exposure)
    if exposure.authentication is not None and len(capability.rest) > 1:
        out["security"] = [{_scheme_name(exposure): _scopes(exposure)}]
    return out


def _export_forward(exposure: RestExposure, resource: RestResource, method: str, ids: set[str]) -> dict[str, Any]:
    target = resource.forward.target if resource.forward is not None else ""
    out: dict[str, Any] = {
        "operationId": unique(f"forward-{method.lower()}-{_slug(openapi_path(resource.path))}", ids),
        "summary": f"Forwarded to {target}",
        "description": resource.description or f"Passed through to the `{target}` API unchanged.",
        "tags": [exposure.namespace],
    }
    variables = placeholders(resource.path)
    if variables:
        out["parameters"] = [
            _parameter(Input(v, "", in_="path", type="string", required=True,
                             description="The rest of the path, passed through." if v == GREEDY_VARIABLE else None))
            for v in variables
        ]
    if method in BODY_METHODS:
        out["requestBody"] = {"content": {"*/*": {"schema": {}}}}
    out["responses"] = {
        "default": {"description": "The upstream response, passed through.", "content": {"*/*": {"schema": {}}}},
    }
    return out


def param_schema(param: Input) -> dict[str, Any]:
    """The JSON Schema of one exposed input."""
    schema: dict[str, Any] = {"type": param.type} if param.type in JSON_TYPES else {}
    if param.schema and usable(param.schema):  # the `schema` extension's keywords
        schema.update(plain(param.schema))
    if param.pattern and schema.get("type") == "string":
        schema["pattern"] = param.pattern
    return schema


def _parameter(param: Input) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": param.in_, "required": param.in_ == "path" or param.required}
    if param.description:
        out["description"] = param.description
    out["schema"] = param_schema(param)
    return out


def _request_body(params: list[Input]) -> dict[str, Any]:
    """Body inputs -> one JSON object schema; a ``$.a.b`` value nests the property; an input that
    is the whole body (``$``, ``rest.body``) is the body's schema."""
    whole = next((p for p in params if p.value is None and p.path is not None), None)
    if whole is not None:
        schema = param_schema(whole)
        if whole.description:
            schema["description"] = whole.description
        return {"required": whole.required, "content": {"application/json": {"schema": schema}}}
    root: dict[str, Any] = {"type": "object", "properties": {}}
    required_any = False
    for param in params:
        schema = param_schema(param)
        if param.description:
            schema["description"] = param.description
        raw = param.value.raw if param.value is not None else None
        match = _SIMPLE_PATH.match(raw.strip()) if isinstance(raw, str) else None
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


def _responses(invocation: Invocation, has_inputs: bool, exposure: RestExposure) -> dict[str, Any]:
    schema = result_schema(invocation.resolved())
    success: dict[str, Any] = {"description": "The result.", "content": {"application/json": {"schema": schema}}}
    responses: dict[str, Any] = {"200": success}
    if invocation.resolved().mode != "mock":
        responses["204"] = {"description": "The call succeeded with nothing to return."}
    if has_inputs:
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    if exposure.authentication is not None:
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    responses["default"] = {"$ref": "#/components/responses/Problem"}
    return responses


def result_schema(invocation: Invocation) -> dict[str, Any]:
    """The JSON Schema of what ``invocation`` returns, as far as the capability says ({}: anything)."""
    outputs = invocation.outputs
    if invocation.mode == "ref":
        return {}  # an unresolved function
    if invocation.mode == "mock":
        return {"type": "object", "properties": {p.name or "value": _declared_schema(p, mock=True) for p in outputs}}
    if invocation.mode == "steps":
        named = [p for p in outputs if p.name]
        if invocation.mappings and named:  # every declared field is present, null when nothing was found
            return {"type": "object", "properties": {str(p.name): _nullable(_declared_schema(p)) for p in named},
                    "required": list(dict.fromkeys(str(p.name) for p in named))}
        return {}
    mapped = output_schema(outputs)
    if mapped is not None:
        return plain(mapped)
    if outputs and outputs[0].type == "array":
        return {"type": "array"}
    return {}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return schema  # no type: any value, null included


def _declared_schema(param: OutputParam, *, mock: bool = False) -> dict[str, Any]:
    """The schema a declared output parameter documents (orchestrated and mock outputs)."""
    if mock and param.value is not None:
        return {"type": "string"}  # mock values render as text
    if param.type == "object":
        if param.properties:
            return {"type": "object", "properties": {k: _declared_schema(v, mock=mock) for k, v in param.properties}}
        return {"type": "object"}
    if param.type == "array":
        if param.items_listed and param.items and all(i.name for i in param.items):
            return {"type": "array", "items": {"type": "object", "properties": {
                str(i.name): _declared_schema(i, mock=mock) for i in param.items}}}
        if param.item is not None:
            return {"type": "array", "items": _declared_schema(param.item, mock=mock)}
        return {"type": "array"}
    return {"type": param.type} if param.type in JSON_TYPES else {}
