"""OpenAPI export (capability -> OpenAPI 3.1) and import (OpenAPI 3.x / Swagger 2.0 -> capability)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from conftest import CORPUS, needs_corpus
from openapi_spec_validator import validate

from naftiko_runtime import app
from naftiko_runtime.errors import ConfigError
from naftiko_runtime.formats.yaml import dump_yaml
from naftiko_runtime.model import Capability, McpExposure
from naftiko_runtime.openapi import export_openapi, import_openapi

CAPABILITIES = CORPUS / "naftiko" / "capabilities"
FIXTURES = CORPUS / "naftiko" / "fixtures" / "openapi"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def capability_from(tmp_path: Path, text: str, name: str = "capability.yaml") -> Capability:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return checked_capability(path)


def checked_capability(path: Path) -> Capability:
    """The file through load, structure, model and rules (as ``naftiko validate`` checks it): no error."""
    loaded = app.load([path], {})
    errors = [str(d) for d in loaded.diagnostics if str(d.severity) == "error"]
    assert errors == []
    (capability,) = loaded.capabilities
    return capability


def imported(tmp_path: Path, document: dict[str, Any], **options: Any) -> tuple[dict[str, Any], Capability, Path]:
    """Import, write as YAML, load and check: the result must be a capability that validates."""
    result = import_openapi(document, **options)
    path = tmp_path / "imported.yaml"
    path.write_text(dump_yaml(result), encoding="utf-8")
    return result, checked_capability(path), path


# ------------------------------------------------------------------------------------------------ export

EXPORTED = """\
naftiko: "1.0.0-alpha2"
info:
  label: Orders
  description: Orders over REST.
capability:
  consumes:
    - type: http
      namespace: shop
      baseUri: "http://shop.test"
      resources:
        - name: order
          path: "/orders/{{id}}"
          operations:
            - {name: get-order, method: GET}
  aggregates:
    - label: Orders
      namespace: orders
      functions:
        - name: find
          description: Find orders by customer.
          inputParameters:
            - {name: customer, type: string, description: customer id}
            - {name: limit, type: integer, description: how many, required: false}
          outputParameters:
            - {name: found, type: string, value: "yes"}
  exposes:
    - type: rest
      address: 0.0.0.0
      port: 8080
      namespace: api
      resources:
        - path: "/orders/{{id}}"
          description: One order.
          operations:
            - method: GET
              name: get-order
              label: Get an order
              inputParameters:
                - {name: id, in: path, type: string, description: order id, pattern: "^O[0-9]+$"}
                - {name: expand, in: query, type: boolean, description: expand lines}
                - {name: X-Trace, in: header, type: string, description: trace, required: true}
                - {name: session, in: cookie, type: string, description: session}
                - {name: constant, in: query, type: string, description: fixed, value: "k"}
              call: shop.get-order
              outputParameters:
                - type: object
                  properties:
                    id: {type: string, mapping: "$.id"}
                    total: {type: number, mapping: "$.total"}
            - method: PATCH
              name: patch-order
              inputParameters:
                - {name: note, in: body, type: string, description: a note, required: true}
                - {name: colour, in: body, type: string, description: nested, value: "$.meta.colour"}
              call: shop.get-order
        - path: "/customers/{customer}/orders"
          operations:
            - method: GET
              ref: orders.find
        - path: "/raw/{{path}}"
          forward: {targetNamespace: shop, trustedHeaders: [Accept]}
"""


def test_export_describes_paths_parameters_bodies_and_responses_and_validates(tmp_path: Path) -> None:
    document = export_openapi(capability_from(tmp_path, EXPORTED))
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Orders"
    assert document["servers"][0]["url"] == "http://localhost:8080"
    get = document["paths"]["/orders/{id}"]["get"]
    assert get["operationId"] == "get-order" and get["summary"] == "Get an order"
    params = {(p["in"], p["name"]): p for p in get["parameters"]}
    assert set(params) == {("path", "id"), ("query", "expand"), ("header", "X-Trace"), ("cookie", "session")}
    assert params[("path", "id")]["schema"] == {"type": "string", "pattern": "^O[0-9]+$"}
    assert params[("path", "id")]["required"] is True
    assert params[("query", "expand")]["schema"] == {"type": "boolean"}
    assert params[("header", "X-Trace")]["required"] is True
    ok = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(ok["properties"]) == {"id", "total"}
    assert get["responses"]["400"] == {"$ref": "#/components/responses/BadRequest"}
    problem = document["components"]["responses"]["Problem"]["content"]
    assert "application/problem+json" in problem


def test_export_request_bodies_nest_jsonpath_fields(tmp_path: Path) -> None:
    document = export_openapi(capability_from(tmp_path, EXPORTED))
    body = document["paths"]["/orders/{id}"]["patch"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert schema["required"] == ["note"]
    assert schema["properties"]["note"]["type"] == "string"
    assert schema["properties"]["meta"]["properties"]["colour"]["type"] == "string"


def test_export_ref_operation_takes_the_function_parameters_and_forward_lists_every_method(
        tmp_path: Path) -> None:
    document = export_openapi(capability_from(tmp_path, EXPORTED))
    find = document["paths"]["/customers/{customer}/orders"]["get"]
    assert {(p["in"], p["name"]) for p in find["parameters"]} == {("path", "customer"), ("query", "limit")}
    assert find["description"] == "Find orders by customer."
    assert find["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["found"] == {
        "type": "string"}
    raw = document["paths"]["/raw/{path}"]
    assert set(raw) == {"get", "post", "put", "patch", "delete"}
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_export_of_an_unknown_or_missing_rest_exposure_is_an_error(tmp_path: Path) -> None:
    cap = capability_from(tmp_path, EXPORTED)
    with pytest.raises(ConfigError, match="nope"):
        export_openapi(cap, "nope")
    assert export_openapi(cap, "api")["paths"]


@pytest.mark.parametrize(("auth", "scheme"), [
    ('{type: bearer, token: "{{TOKEN}}"}', {"type": "http", "scheme": "bearer"}),
    ('{type: basic, username: u, password: "{{TOKEN}}"}', {"type": "http", "scheme": "basic"}),
    ('{type: apikey, key: api_key, value: "{{TOKEN}}", placement: query}',
     {"type": "apiKey", "in": "query", "name": "api_key"}),
    ("{type: oauth2, authorizationServerUri: 'https://as.test', resource: 'https://api.test', "
     "tokenEndpoint: 'https://as.test/token', scopes: [orders.read]}",
     {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://as.test/token",
                                                        "scopes": {"orders.read": "orders.read"}}}}),
])
def test_export_declares_the_inbound_security_scheme_without_secrets(tmp_path: Path, auth: str,
                                                                     scheme: dict[str, Any]) -> None:
    text = EXPORTED.replace("      namespace: api\n", f"      namespace: api\n      authentication: {auth}\n")
    text += "binds:\n  - namespace: env\n    keys: {TOKEN: TOKEN}\n"  # an unbound credential is an error
    document = export_openapi(capability_from(tmp_path, text))
    validate(document)
    assert document["components"]["securitySchemes"] == {"api-auth": scheme}
    assert "security" in document
    assert "TOKEN" not in json.dumps(document)


def test_export_of_several_rest_exposures_gives_each_path_its_server(tmp_path: Path) -> None:
    second = """\
    - type: rest
      port: 8081
      namespace: admin
      resources:
        - path: /health
          operations:
            - method: GET
              name: health
              outputParameters:
                - {name: status, type: string, value: up}
"""
    document = export_openapi(capability_from(tmp_path, EXPORTED + second))
    validate(document)
    assert "servers" not in document
    assert document["paths"]["/health"]["servers"][0]["url"].endswith(":8081")
    assert document["paths"]["/orders/{id}"]["servers"][0]["url"].endswith(":8080")


@needs_corpus
@pytest.mark.parametrize("name", ["07-xml-capability.yaml", "10-http-header-query-capability.yaml",
                                  "11-http-forward-value-capability.yaml", "12-register-basic-forward.yml"])
def test_export_of_corpus_rest_capabilities_validates(name: str) -> None:
    document = export_openapi(checked_capability(CAPABILITIES / name))
    validate(document)
    assert document["paths"]


@needs_corpus
def test_export_of_corpus_05_validates_and_describes_its_five_routes(tmp_path: Path) -> None:
    source = CAPABILITIES
    (tmp_path / "shared").mkdir()
    for name in ("secrets.yaml", "legacy-consumes.yaml"):
        shutil.copy(source / "shared" / name, tmp_path / "shared" / name)
    shutil.copy(source / "shared" / "step11-registry-consumes.yml", tmp_path / "shared" / "step7-registry-consumes.yml")
    shutil.copy(source / "05-step-10-shipyard-rest-adapter.yml", tmp_path / "05.yml")
    document = export_openapi(checked_capability(tmp_path / "05.yml"))
    validate(document)
    assert set(document["paths"]) == {"/ships", "/ships/{imo}", "/ships/{imo}/crew", "/legacy/vessels", "/voyages"}
    assert "crewIds" in document["paths"]["/voyages"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"]


# ------------------------------------------------------------------------------------------------ import

OPENAPI_31: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Pet Store", "version": "1", "description": "Pets and their owners."},
    "servers": [{"url": "https://{region}.pets.test/v2/", "variables": {"region": {"default": "eu"}}}],
    "security": [{"basicAuth": []}],
    "components": {
        "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
        "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}},
        "schemas": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "requestBodies": {"PetBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}},
    },
    "paths": {
        "/pets": {
            "get": {"operationId": "listPets", "summary": "List pets",
                    "parameters": [{"$ref": "#/components/parameters/Limit"},
                                   {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
                                   {"name": "Accept", "in": "header", "schema": {"type": "string"}}]},
            "post": {"operationId": "createPet", "requestBody": {"$ref": "#/components/requestBodies/PetBody"}},
        },
        "/pets/{petId}": {
            "parameters": [{"name": "petId", "in": "path", "required": True,
                            "description": "The pet", "schema": {"type": ["integer", "null"]}}],
            "get": {"operationId": "getPet"},
            "put": {"operationId": "get_pet", "requestBody": {"content": {"application/json": {}}}},
            "delete": {"description": "Remove a pet"},
            "patch": {"operationId": "getPet",
                      "parameters": [{"name": "session", "in": "cookie", "schema": {"type": "string"}}]},
        },
    },
}

SWAGGER_20: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "Legacy Store", "version": "1"},
    "host": "legacy.test:8443",
    "basePath": "/api",
    "schemes": ["http", "https"],
    "produces": ["application/xml"],
    "securityDefinitions": {"key": {"type": "apiKey", "in": "query", "name": "api_key"}},
    "parameters": {"Page": {"name": "page", "in": "query", "type": "integer"}},
    "paths": {
        "/items": {
            "get": {"operationId": "list-items", "parameters": [{"$ref": "#/parameters/Page"}]},
            "post": {"operationId": "addItem", "produces": ["application/json"],
                     "parameters": [{"name": "item", "in": "body", "required": True,
                                     "schema": {"type": "object"}}]},
        },
        "/items/{id}/notes": {
            "post": {"operationId": "addNote",
                     "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"},
                                    {"name": "text", "in": "formData", "type": "string"}]},
        },
    },
}


def _consumer(result: dict[str, Any]) -> dict[str, Any]:
    return result["capability"]["consumes"][0]


def _operations(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["name"]: op for r in _consumer(result)["resources"] for op in r["operations"]}


def _tools(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in result["capability"]["exposes"][0]["tools"]}


def test_import_of_an_openapi_31_document_builds_consumes_auth_binds_and_one_tool_per_operation(
        tmp_path: Path) -> None:
    result, cap, _ = imported(tmp_path, OPENAPI_31)
    assert next(iter(result)) == "naftiko" and result["naftiko"] == "1.0.0-alpha2"
    consumer = _consumer(result)
    assert consumer["namespace"] == "pet-store"
    assert consumer["baseUri"] == "https://eu.pets.test/v2"
    assert consumer["authentication"] == {"type": "basic", "username": "{{PET_STORE_USERNAME}}",
                                          "password": "{{PET_STORE_PASSWORD}}"}
    assert result["binds"][0]["keys"] == {"PET_STORE_USERNAME": "PET_STORE_USERNAME",
                                          "PET_STORE_PASSWORD": "PET_STORE_PASSWORD"}
    assert [(r["name"], r["path"]) for r in consumer["resources"]] == [("pets", "/pets"),
                                                                       ("pets-pet-id", "/pets/{petId}")]
    ops = _operations(result)
    assert list(ops) == ["list-pets", "create-pet", "get-pet", "get-pet-2", "delete-pets-pet-id", "get-pet-3"]
    assert ops["list-pets"]["inputParameters"] == [
        {"name": "limit", "in": "query", "type": "integer", "required": False},
        {"name": "X-Request-Id", "in": "header", "type": "string", "required": False},
    ]
    assert ops["get-pet"]["inputParameters"][0] == {"name": "petId", "in": "path", "type": "integer",
                                                    "required": True, "description": "The pet"}
    assert ops["create-pet"]["inputParameters"] == [{"name": "body", "in": "body", "type": "object",
                                                     "required": True, "description": "The JSON request body."}]
    assert {(p["name"], p["in"]) for p in ops["get-pet-3"]["inputParameters"]} == {("petId", "path"),
                                                                                   ("session", "cookie")}
    mcp = result["capability"]["exposes"][0]
    assert (mcp["type"], mcp["port"], mcp["namespace"]) == ("mcp", 9090, "pet-store-mcp")
    assert isinstance(cap.exposures[0], McpExposure) and len(cap.exposures[0].tools) == 6


def test_imported_tools_wire_their_arguments_and_take_hints_from_the_method(tmp_path: Path) -> None:
    result, cap, _ = imported(tmp_path, OPENAPI_31)
    tools = _tools(result)
    get = tools["get-pet"]
    assert get["call"] == "pet-store.get-pet"
    assert get["with"] == {"petId": "pet-store-mcp.petId"}
    assert get["inputParameters"] == [{"name": "petId", "type": "integer", "description": "The pet",
                                       "required": True}]
    assert tools["create-pet"]["with"] == {"body": "pet-store-mcp.body"}
    assert tools["list-pets"]["description"] == "List pets"  # the summary stands in for a description
    assert "label" not in tools["list-pets"]
    assert tools["delete-pets-pet-id"]["description"] == "Remove a pet"
    hints = {name: tool["hints"] for name, tool in tools.items()}
    assert hints["list-pets"]["readOnly"] is True and hints["list-pets"]["destructive"] is False
    assert hints["get-pet-2"] == {"readOnly": False, "destructive": False, "idempotent": True, "openWorld": True}
    assert hints["delete-pets-pet-id"]["destructive"] is True and hints["delete-pets-pet-id"]["idempotent"] is True
    assert hints["create-pet"]["idempotent"] is False and hints["create-pet"]["readOnly"] is False
    annotations = {t.name: t.annotations for t in cap.exposures[0].tools}  # type: ignore[union-attr]
    assert annotations["list-pets"]["readOnlyHint"] is True


def test_import_of_a_swagger_20_document(tmp_path: Path) -> None:
    result, _, _ = imported(tmp_path, SWAGGER_20, namespace="Store")
    consumer = _consumer(result)
    assert consumer["namespace"] == "store"
    assert consumer["baseUri"] == "https://legacy.test:8443/api"
    assert consumer["authentication"] == {"type": "apikey", "key": "api_key", "value": "{{STORE_API_KEY}}",
                                          "placement": "query"}
    ops = _operations(result)
    assert ops["list-items"]["inputParameters"] == [{"name": "page", "in": "query", "type": "integer",
                                                     "required": False}]
    assert ops["list-items"]["outputRawFormat"] == "xml"
    assert "outputRawFormat" not in ops["add-item"]
    assert ops["add-item"]["inputParameters"][0]["in"] == "body"
    assert ops["add-item"]["inputParameters"][0]["type"] == "object"
    assert [(p["name"], p["in"]) for p in ops["add-note"]["inputParameters"]] == [("id", "path"), ("text", "body")]
    assert _consumer(result)["resources"][1]["path"] == "/items/{id}/notes"  # placeholders kept


def test_import_options_override_namespace_and_base_uri(tmp_path: Path) -> None:
    result, _, _ = imported(tmp_path, OPENAPI_31, namespace="pets", base_uri="http://127.0.0.1:9000/")
    assert _consumer(result)["namespace"] == "pets"
    assert _consumer(result)["baseUri"] == "http://127.0.0.1:9000"
    assert result["capability"]["exposes"][0]["namespace"] == "pets-mcp"
    assert _tools(result)["get-pet"]["with"] == {"petId": "pets-mcp.petId"}


def test_import_rejects_documents_that_are_not_openapi() -> None:
    with pytest.raises(ConfigError, match="OpenAPI"):
        import_openapi({"asyncapi": "2.0.0"})
    with pytest.raises(ConfigError, match="no operation"):
        import_openapi({"openapi": "3.0.3", "info": {"title": "x"}, "paths": {}})


def test_dump_yaml_round_trips_and_keeps_the_version_first() -> None:
    result = import_openapi(OPENAPI_31)
    text = dump_yaml(result)
    assert text.startswith("naftiko: 1.0.0-alpha2\n")
    assert yaml.safe_load(text) == result


@pytest.mark.anyio
async def test_an_imported_capability_serves_calls_with_its_wiring_and_auth(tmp_path: Path) -> None:
    _, cap, _ = imported(tmp_path, OPENAPI_31, base_uri="http://pets.test")
    seen: list[httpx2.Request] = []

    async def upstream(request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        seen.append(request)
        return httpx2.Response(200, json={"ok": request.url.path})

    env = {"PET_STORE_USERNAME": "ada", "PET_STORE_PASSWORD": "pw"}
    tools = {t.name: t for t in cap.tools()}
    async with app.runtime([cap], env, transports={"pet-store": httpx2.MockTransport(upstream)}) as runtime:
        got = await runtime.invoke(tools["get-pet"], {"petId": 7})
        await runtime.invoke(tools["list-pets"], {"limit": 3, "X-Request-Id": "r-1"})
        await runtime.invoke(tools["create-pet"], {"body": {"name": "Rex"}})
    assert got == {"ok": "/pets/7"}
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert seen[1].url.params["limit"] == "3" and seen[1].headers["x-request-id"] == "r-1"
    assert json.loads(seen[2].content) == {"name": "Rex"}


@needs_corpus
def test_import_of_the_corpus_registry_api(tmp_path: Path) -> None:
    document = yaml.safe_load((FIXTURES / "naftiko-shipyard-maritime-registry-api.yaml").read_text())
    result, _, _ = imported(tmp_path, document)
    consumer = _consumer(result)
    assert consumer["baseUri"] == "https://mocks.naftiko.net/rest/naftiko-shipyard-maritime-registry-api/1.0.0-alpha2"
    assert consumer["authentication"]["type"] == "bearer"
    assert consumer["authentication"]["token"] == "{{NAFTIKO_SHIPYARD_MARITIME_REGISTRY_API_TOKEN}}"
    ops = _operations(result)
    assert set(ops) == {"list-ships", "get-ship", "create-voyage", "get-voyage", "list-crew", "list-cargo"}
    assert {"name": "Registry-Version", "in": "header", "type": "string", "required": False,
            "description": "API version identifier"} in ops["get-ship"]["inputParameters"]
    assert [p["name"] for p in ops["create-voyage"]["inputParameters"]] == ["Registry-Version", "body"]
    assert any(r["path"] == "/ships/{imo_number}" for r in consumer["resources"])
    assert _tools(result)["list-ships"]["hints"]["readOnly"] is True


@needs_corpus
def test_import_of_the_corpus_legacy_dockyard_api(tmp_path: Path) -> None:
    document = yaml.safe_load((FIXTURES / "naftiko-shipyard-legacy-dockyard-api.yaml").read_text())
    result, _, _ = imported(tmp_path, document, namespace="legacy")
    assert _consumer(result)["authentication"] == {"type": "apikey", "key": "X-Dock-Key",
                                                   "value": "{{LEGACY_API_KEY}}", "placement": "header"}
    assert {op["outputRawFormat"] for op in _operations(result).values()} == {"xml"}
