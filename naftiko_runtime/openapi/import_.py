"""OpenAPI import: an OpenAPI 3.x or Swagger 2.0 document -> a capability document (a plain dict).

One consumes block (a resource per path, an operation per method, parameters, request bodies, the
first security scheme bound to environment variables) and an MCP exposure with one tool per
operation, or per chosen operation (by id or by tag). Tool arguments keep their parameter and
request-body schemas and a JSON answer's schema becomes the tool's output schema (``schemas``), as
the ``schema`` extension. Pure functions over dicts: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from naftiko_runtime.errors import ConfigError
from naftiko_runtime.model.schemas import JSON_TYPES
from naftiko_runtime.openapi.export import unique
from naftiko_runtime.openapi.schemas import SchemaReader, beyond_type, content_schema, describes_object

__all__ = ["import_openapi", "kebab"]

NAFTIKO_VERSION = "1.0.0-alpha2"
IMPORTED_MCP_PORT = 9090
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
                   base_uri: str | None = None, operations: Sequence[str] = (),
                   tag: str | None = None) -> dict[str, Any]:
    """An OpenAPI 3.x or Swagger 2.0 document -> a capability document (a plain dict).

    The capability consumes the API (one resource per path, one operation per method, parameters,
    request bodies, the first security scheme as ``authentication`` bound to environment variables)
    and exposes every operation as an MCP tool; ``operations`` (operation ids, as written or in
    kebab case) or ``tag`` keep only those. Raises ``ConfigError`` when the document is neither, or
    when the selection matches nothing.
    """
    if not isinstance(document, Mapping):
        raise ConfigError("an OpenAPI document must be a mapping")
    swagger = str(document.get("swagger", "")).startswith("2")
    if not swagger and not str(document.get("openapi", "")).startswith("3"):
        raise ConfigError("not an OpenAPI 3.x or Swagger 2.0 document (no `openapi: 3.x` or `swagger: '2.0'`)")
    reader = _Reader(document, swagger, _Selection(operations, tag))
    raw_info = document.get("info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
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


def _first_line(text: Any) -> str:
    return " ".join(str(text).split()) if text else ""


@dataclass(frozen=True)
class _Selection:
    """Which operations to import: every one, those ids, or those with a tag."""

    ids: Sequence[str] = ()
    tag: str | None = None

    def wants(self, op: Mapping[str, Any], name: str) -> bool:
        if self.ids:
            raw = str(op.get("operationId") or "")
            return bool({raw, kebab(raw), name} & self.wanted)
        if self.tag is not None:
            return self.tag in [str(t) for t in op.get("tags") or []]
        return True

    @property
    def wanted(self) -> set[str]:
        return {i for raw in self.ids for i in (raw, kebab(raw))}

    def missing(self, seen: set[str]) -> list[str]:
        """Ids asked for that named no operation."""
        return [raw for raw in self.ids if not {raw, kebab(raw)} & seen]


class _Reader:
    """Reads one OpenAPI / Swagger document, resolving local ``$ref``s."""

    def __init__(self, document: Mapping[str, Any], swagger: bool, selection: _Selection | None = None) -> None:
        self.doc = document
        self.swagger = swagger
        self.selection = selection or _Selection()
        self.schemas = SchemaReader(self.resolve)

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
        url = server.get("url") or ""
        if not isinstance(url, str):  # str() would write a Python repr into the baseUri
            raise ConfigError(f"`servers[0].url` is {type(url).__name__}, not a URL")
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
        seen: set[str] = set()  # ids and names of every operation, for the selection's error message
        tags: set[str] = set()
        for path, raw_item in (self.doc.get("paths") or {}).items():
            item = self.resolve(raw_item)
            if not isinstance(item, Mapping):
                continue
            operations = []
            for method in _HTTP_METHODS:
                op = item.get(method)
                if not isinstance(op, Mapping):
                    continue
                generated = f"{method}-{kebab(str(path)) or 'root'}"
                raw_id = str(op.get("operationId") or "")
                seen.update({raw_id, kebab(raw_id), generated} - {""})
                tags.update(str(t) for t in op.get("tags") or [])
                if not self.selection.wants(op, generated):
                    continue
                consumed, tool = self._operation(str(path), method, item, op, ns, mcp_ns, op_names)
                operations.append(consumed)
                tools.append(tool)
            if not operations:
                continue
            resource: dict[str, Any] = {
                "name": unique(kebab(str(path)) or "root", resource_names),
                "path": "/" + str(path).lstrip("/"),
            }
            if item.get("summary") or item.get("description"):
                resource["description"] = _first_line(item.get("description") or item.get("summary"))
            resource["operations"] = operations
            resources.append(resource)
        missing = self.selection.missing(seen)
        if missing:
            raise ConfigError(f"no operation {', '.join(map(repr, missing))}; operations: "
                              f"{', '.join(sorted(i for i in seen if i == kebab(i))) or 'none'}")
        if not resources and self.selection.tag is not None:
            raise ConfigError(f"no operation is tagged {self.selection.tag!r}; "
                              f"tags: {', '.join(sorted(tags)) or 'none'}")
        if not resources:
            raise ConfigError("the document describes no operation (no GET/POST/PUT/PATCH/DELETE under `paths`)")
        return resources, tools

    def _parameters(self, item: Mapping[str, Any], op: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Path-item then operation parameters, the operation's winning on the same (name, in)."""
        merged: dict[tuple[str, str], Mapping[str, Any]] = {}
        for raw in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
            param = self.resolve(raw)
            if isinstance(param, Mapping) and param.get("name") and param.get("in"):
                for key in ("name", "in"):
                    if not isinstance(param[key], str):
                        raise ConfigError(f"a parameter's `{key}` must be text, not {param[key]!r:.60}")
                merged[(param["name"], param["in"])] = param
        return list(merged.values())

    def _operation(self, path: str, method: str, item: Mapping[str, Any], op: Mapping[str, Any],
                   ns: str, mcp_ns: str, taken: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        op_id = kebab(str(op.get("operationId") or ""))
        base = (op_id or f"{method}-{kebab(path) or 'root'}")[:_MAX_NAME].strip("-")
        name = unique(base, taken)  # MCP tool names are at most 64 characters: leave room for a suffix
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
        answer = self.output_schema(op) if not raw_format else None
        if answer is not None:
            tool["outputParameters"] = [{"type": "object", "mapping": "$.", "schema": answer}]
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
                      tool, wiring, args, mcp_ns, self._parameter_schema(param))

    def _add_body(self, body: Mapping[str, Any], required: bool, consumed: list[dict[str, Any]],
                  tool: list[dict[str, Any]], wiring: dict[str, str], args: set[str], mcp_ns: str) -> None:
        name = "body" if "body" not in {p["name"] for p in consumed} else "request_body"
        schema = self.schemas.input(body.get("schema") if self.swagger or "schema" in body else content_schema(body))
        description = (_first_line(body.get("description")) or _first_line((schema or {}).get("description"))
                       or "The JSON request body.")
        kind = self._type(schema) if schema else "object"
        kind = kind if kind in ("object", "array") else "object"
        consumed.append({"name": name, "in": "body", "type": kind, "required": required,
                         "description": description})
        _add_argument(name, kind, required, description, tool, wiring, args, mcp_ns, beyond_type(schema))

    def _parameter_schema(self, param: Mapping[str, Any]) -> dict[str, Any] | None:
        """What a parameter's schema says beyond its type (enum, bounds, items...), as JSON Schema."""
        source: Any = param.get("schema")
        if self.swagger:  # Swagger 2.0 parameters carry the schema keywords themselves
            source = {k: v for k, v in param.items() if k not in ("name", "in", "required", "description")}
        return beyond_type(self.schemas.input(source))

    def output_schema(self, op: Mapping[str, Any]) -> dict[str, Any] | None:
        """The loosened schema of the first 2xx JSON answer, when it describes an object."""
        for code, raw in sorted((op.get("responses") or {}).items(), key=lambda item: str(item[0])):
            response = self.resolve(raw)
            if not str(code).startswith("2") or not isinstance(response, Mapping):
                continue
            node = response.get("schema") if self.swagger else content_schema(response)
            schema = self.schemas.output(node) if node is not None else None
            if schema is None:
                return None
            if not describes_object(schema):
                return None
            return {"type": "object", **{k: v for k, v in schema.items() if k != "type"}}
        return None

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
        if kind in JSON_TYPES:
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
                  wiring: dict[str, str], args: set[str], mcp_ns: str, schema: dict[str, Any] | None = None) -> None:
    """One tool argument feeding the consumed parameter ``name`` through ``with``."""
    arg = _ARG_NAME.sub("_", name)
    if arg in args:  # same name in two places: one argument feeds both
        return
    args.add(arg)
    entry: dict[str, Any] = {"name": arg, "type": kind, "description": description, "required": required}
    if schema:
        entry["schema"] = schema
    tool.append(entry)
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
