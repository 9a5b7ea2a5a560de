"""Import keeps request-body, parameter and response schemas: ``$ref``s inlined (cycles bounded),
OpenAPI 3.0 / Swagger 2.0 dialect translated, descriptions kept; the chosen operations only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from test_openapi import imported

from naftiko_runtime import app
from naftiko_runtime.errors import ConfigError, InputError
from naftiko_runtime.model import plain
from naftiko_runtime.openapi import import_openapi
from naftiko_runtime.openapi.schemas import MAX_REF_DEPTH

SHOP: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Shop", "version": "1"},
    "servers": [{"url": "https://shop.test/api"}],
    "components": {
        "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        "schemas": {
            "NewOrder": {
                "type": "object",
                "description": "An order to place.",
                "required": ["item", "quantity"],
                "properties": {
                    "id": {"type": "string", "readOnly": True},
                    "item": {"type": "string", "description": "Catalog number of the item."},
                    "quantity": {"type": "integer", "minimum": 1, "description": "How many."},
                    "gift": {"type": "boolean", "nullable": True},
                    "note": {"type": "string", "example": "leave at the door", "x-internal": True},
                    "category": {"$ref": "#/components/schemas/Category"},
                },
            },
            "Category": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "parent": {"$ref": "#/components/schemas/Category"}},
            },
            "Order": {
                "allOf": [{"$ref": "#/components/schemas/NewOrder"},
                          {"type": "object", "required": ["id", "status"], "properties": {
                              "status": {"type": "string", "enum": ["open", "shipped"]},
                              "secret": {"type": "string", "writeOnly": True}}}],
            },
        },
    },
    "security": [{"key": []}],
    "paths": {
        "/orders": {
            "post": {
                "operationId": "placeOrder", "tags": ["orders"], "summary": "Place an order",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/NewOrder"}}}},
                "responses": {"201": {"description": "Placed", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Order"}}}}},
            },
            "get": {
                "operationId": "listOrders", "tags": ["orders"],
                "parameters": [{"name": "status", "in": "query", "description": "Only these.",
                                "schema": {"type": "string", "enum": ["open", "shipped"]}},
                               {"name": "limit", "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": 50}}],
                "responses": {"200": {"description": "Orders", "content": {"application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}}}}},
            },
        },
        "/health": {"get": {"operationId": "health", "tags": ["ops"],
                            "responses": {"200": {"description": "up"}}}},
    },
}


def tools_of(tmp_path: Path, document: dict[str, Any] = SHOP, **options: Any) -> dict[str, Any]:
    _, cap, _ = imported(tmp_path, document, **options)
    return {t.name: t for t in cap.tools()}


def test_the_body_schema_is_inlined_and_its_required_fields_are_required(tmp_path: Path) -> None:
    tools = tools_of(tmp_path)
    body = plain(tools["place-order"].input_schema)["properties"]["body"]
    assert body["type"] == "object" and body["required"] == ["item", "quantity"]
    assert "id" not in body["properties"]  # readOnly: the server sets it
    assert body["properties"]["item"]["description"] == "Catalog number of the item."
    assert body["properties"]["quantity"] == {"type": "integer", "minimum": 1, "description": "How many."}
    assert body["properties"]["gift"]["type"] == ["boolean", "null"]  # OpenAPI 3.0 `nullable`
    assert body["properties"]["note"] == {"type": "string", "examples": ["leave at the door"]}
    assert plain(tools["place-order"].input_schema)["required"] == ["body"]


def test_a_recursive_schema_is_expanded_to_a_bounded_depth(tmp_path: Path) -> None:
    tools = tools_of(tmp_path)
    category = plain(tools["place-order"].input_schema)["properties"]["body"]["properties"]["category"]
    depth = 0
    while "properties" in category:
        category, depth = category["properties"]["parent"], depth + 1
    assert depth == MAX_REF_DEPTH and "not expanded" in category["description"]
    assert len(json.dumps(plain(tools["place-order"].input_schema))) < 20_000


def test_parameter_schemas_keep_their_enum_and_bounds(tmp_path: Path) -> None:
    schema = plain(tools_of(tmp_path)["list-orders"].input_schema)["properties"]
    assert schema["status"] == {"type": "string", "enum": ["open", "shipped"], "description": "Only these."}
    assert schema["limit"]["minimum"] == 1 and schema["limit"]["maximum"] == 50


def test_an_object_answer_becomes_a_loose_output_schema(tmp_path: Path) -> None:
    tools = tools_of(tmp_path)
    out = plain(tools["place-order"].output_schema)
    assert out["type"] == "object"
    fields = {k: v for part in out["allOf"] for k, v in part.get("properties", {}).items()}
    assert "secret" not in fields  # writeOnly: never in an answer
    assert fields["status"] == {"type": ["string", "null"]}  # no enum: the schema must not fail an answer
    assert "required" not in json.dumps(out)
    assert tools["list-orders"].output_schema is None  # an array answer: MCP output schemas are objects
    assert tools["health"].output_schema is None


@pytest.mark.anyio
async def test_the_imported_tool_checks_the_body_before_calling(tmp_path: Path) -> None:
    tools = tools_of(tmp_path, base_uri="http://shop.test")
    _, cap, _ = imported(tmp_path, SHOP, base_uri="http://shop.test")
    tool = next(t for t in cap.tools() if t.name == "place-order")
    seen: list[httpx2.Request] = []

    def upstream(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(201, json={"id": "o-1", "status": "open", "item": "A-1", "quantity": 2})

    transports = {"shop": httpx2.MockTransport(upstream)}
    async with app.runtime([cap], {"SHOP_API_KEY": "k"}, transports=transports) as runtime:
        with pytest.raises(InputError) as caught:
            await runtime.invoke(tool, {"body": {"item": "A-1"}})
        assert "quantity" in caught.value.problems[0]["message"] and seen == []
        result = await runtime.invoke(tool, {"body": {"item": "A-1", "quantity": "2"}})
    assert json.loads(seen[0].content) == {"item": "A-1", "quantity": 2}
    assert seen[0].headers["x-api-key"] == "k"
    assert result["status"] == "open"
    assert set(tools) == {"place-order", "list-orders", "health"}


def test_swagger_20_body_and_response_schemas_from_definitions(tmp_path: Path) -> None:
    document = {
        "swagger": "2.0", "info": {"title": "Notes", "version": "1"}, "host": "notes.test",
        "definitions": {"Note": {"type": "object", "required": ["text"], "properties": {
            "text": {"type": "string", "maxLength": 280}, "pinned": {"type": "boolean", "x-nullable": True}}}},
        "paths": {"/notes": {"post": {
            "operationId": "addNote",
            "parameters": [{"name": "note", "in": "body", "required": True,
                            "schema": {"$ref": "#/definitions/Note"}},
                           {"name": "tags", "in": "query", "type": "array", "items": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Note"}}}}}},
    }
    tool = tools_of(tmp_path, document)["add-note"]
    schema = plain(tool.input_schema)["properties"]
    assert schema["body"]["required"] == ["text"] and schema["body"]["properties"]["text"]["maxLength"] == 280
    assert schema["body"]["properties"]["pinned"]["type"] == ["boolean", "null"]
    assert schema["tags"] == {"type": "array", "items": {"type": "string"}, "description": "The tags query parameter."}
    assert plain(tool.output_schema)["properties"]["text"] == {"type": ["string", "null"]}


def test_only_the_chosen_operations_are_imported(tmp_path: Path) -> None:
    assert set(tools_of(tmp_path, operations=["placeOrder", "health"])) == {"place-order", "health"}
    assert set(tools_of(tmp_path, operations=["list-orders"])) == {"list-orders"}
    assert set(tools_of(tmp_path, tag="orders")) == {"place-order", "list-orders"}
    with pytest.raises(ConfigError, match=r"'cancelOrder'.*place-order"):
        import_openapi(SHOP, operations=["cancelOrder"])
    with pytest.raises(ConfigError, match=r"tagged 'billing'.*ops, orders"):
        import_openapi(SHOP, tag="billing")


def test_a_rest_inputs_schema_reaches_the_exported_openapi(tmp_path: Path) -> None:
    from openapi_spec_validator import validate
    from test_openapi import capability_from

    from naftiko_runtime.openapi import export_openapi

    text = """\
naftiko: "1.0.0-alpha2"
info: {label: Counter, description: Counts.}
capability:
  consumes:
    - type: http
      namespace: api
      baseUri: https://api.example.test
      resources:
        - name: things
          path: /things
          operations:
            - {name: make, method: POST, inputParameters: [{name: count, in: body, type: integer}]}
  exposes:
    - type: rest
      namespace: counter
      port: 8089
      resources:
        - path: /things
          operations:
            - method: POST
              name: make
              inputParameters:
                - {name: count, in: body, type: integer, description: How many., schema: {minimum: 1, maximum: 9}}
              call: api.make
              with: {count: counter.count}
"""
    document = export_openapi(capability_from(tmp_path, text))
    validate(document)
    body = document["paths"]["/things"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["count"] == {"type": "integer", "minimum": 1, "maximum": 9, "description": "How many."}
