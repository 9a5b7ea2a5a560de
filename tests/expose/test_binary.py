"""Binary results (`outputRawFormat: binary`, Ikanos `outputMediaType`) through MCP and REST.

A fake upstream serves bytes that are not text; an MCP client gets them back as base64 content of
their kind (image, audio, else an embedded blob) and decodes the very same bytes; a REST client
gets the raw bytes with the media type. The size limits (`maxBinarySize`, the consumer's
`maxResponseBytes`) bound them.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, types

from naftiko_runtime import app
from naftiko_runtime.expose.mcp import build_server
from naftiko_runtime.model import Capability
from naftiko_runtime.runtime import Runtime

# A 1x1 PNG, then bytes no text codec keeps intact.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
                       "awAAAABJRU5ErkJggg==") + bytes(range(256))
OGG = b"OggS\x00\x02" + bytes(range(255, -1, -1))
PDF = b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n" + bytes(200)

CAPABILITY = """\
ikanos: "1.0.0-beta5"
info:
  display: Media
  description: Files as they are.
capability:
  consumes:
    - namespace: media
      type: http
      baseUri: https://media.example.test
      resilience:
        maxResponseBytes: 4096
      resources:
        files:
          path: /files/{{name}}
          operations:
            get-picture:
              method: GET
              outputRawFormat: binary
              inputParameters:
                name:
                  in: path
            get-sound:
              method: GET
              outputRawFormat: binary
              outputMediaType: audio/ogg
              inputParameters:
                name:
                  in: path
            get-capped:
              method: GET
              outputRawFormat: binary
              maxBinarySize: 1KiB
              inputParameters:
                name:
                  in: path
  exposes:
    - type: mcp
      port: 9700
      namespace: media-mcp
      tools:
        picture:
          description: A picture.
          inputParameters:
            name: {type: string, description: File name.}
          call: media.get-picture
          with: {name: media-mcp.name}
        sound:
          description: A sound.
          inputParameters:
            name: {type: string, description: File name.}
          call: media.get-sound
          with: {name: media-mcp.name}
        capped:
          description: A small file.
          inputParameters:
            name: {type: string, description: File name.}
          call: media.get-capped
          with: {name: media-mcp.name}
      resources:
        picture-file:
          display: Picture
          description: The picture as a resource.
          uri: media://picture
          call: media.get-picture
          with: {name: pixel.png}
    - type: rest
      port: 9701
      namespace: media-rest
      resources:
        files:
          path: /files/{{name}}
          operations:
            get-file:
              method: GET
              inputParameters:
                name: {in: path, type: string, description: File name.}
              call: media.get-picture
              with: {name: media-rest.name}
        declared:
          path: /declared/{{name}}
          operations:
            get-declared:
              method: GET
              inputParameters:
                name: {in: path, type: string, description: File name.}
              call: media.get-picture
              with: {name: media-rest.name}
              responseBinary:
                mediaType: image/webp
"""

FILES = {"pixel.png": (PNG, "image/png"), "beep.ogg": (OGG, "application/octet-stream"),
         "doc.pdf": (PDF, "application/pdf"), "big.bin": (bytes(2048), "application/octet-stream"),
         "huge.bin": (bytes(5000), "application/octet-stream")}


def upstream(request: httpx2.Request) -> httpx2.Response:
    name = request.url.path.rsplit("/", 1)[-1]
    if name not in FILES:
        return httpx2.Response(404, json={"message": "no such file"})
    body, media_type = FILES[name]
    return httpx2.Response(200, content=body, headers={"content-type": media_type})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def capability(tmp_path: Path) -> Capability:
    path = tmp_path / "media.yaml"
    path.write_text(CAPABILITY, encoding="utf-8")
    loaded = app.load([path], {})
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    (found,) = loaded.capabilities
    return found


@pytest.fixture
async def runtime(capability: Capability) -> AsyncIterator[Runtime]:
    async with app.runtime([capability], {}, transports={"media": httpx2.MockTransport(upstream)}) as rt:
        yield rt


async def call(runtime: Runtime, tool: str, **arguments: Any) -> types.CallToolResult:
    ((exposure,),) = [c.mcp for c in runtime.capabilities]
    server = build_server([(exposure, runtime)], name=exposure.namespace, instructions=None)
    async with Client(server) as client:
        return await client.call_tool(tool, arguments)


@pytest.mark.anyio
async def test_an_image_comes_back_as_image_content_with_the_same_bytes(runtime: Runtime) -> None:
    result = await call(runtime, "picture", name="pixel.png")
    assert not result.is_error
    (content,) = result.content
    assert isinstance(content, types.ImageContent) and content.mime_type == "image/png"
    assert base64.b64decode(content.data) == PNG


@pytest.mark.anyio
async def test_output_media_type_names_the_sound_the_upstream_did_not(runtime: Runtime) -> None:
    (content,) = (await call(runtime, "sound", name="beep.ogg")).content
    assert isinstance(content, types.AudioContent) and content.mime_type == "audio/ogg"
    assert base64.b64decode(content.data) == OGG


@pytest.mark.anyio
async def test_other_bytes_are_an_embedded_blob_with_their_media_type(runtime: Runtime) -> None:
    (content,) = (await call(runtime, "picture", name="doc.pdf")).content
    assert isinstance(content, types.EmbeddedResource)
    blob = content.resource
    assert isinstance(blob, types.BlobResourceContents) and blob.mime_type == "application/pdf"
    assert base64.b64decode(blob.blob) == PDF


@pytest.mark.anyio
async def test_max_binary_size_and_max_response_bytes_bound_the_bytes(runtime: Runtime) -> None:
    result = await call(runtime, "capped", name="big.bin")  # 2 KiB over the operation's 1KiB
    assert result.is_error and result.structured_content["error"] == "response-too-large"
    assert "1 KiB" in result.structured_content["message"]
    result = await call(runtime, "picture", name="huge.bin")  # 5000 bytes over the consumer's 4096
    assert result.is_error and result.structured_content["error"] == "response-too-large"
    assert not (await call(runtime, "picture", name="big.bin")).is_error  # 2048 is within 4096


@pytest.mark.anyio
async def test_a_binary_resource_reads_as_a_blob(runtime: Runtime) -> None:
    ((exposure,),) = [c.mcp for c in runtime.capabilities]
    server = build_server([(exposure, runtime)], name=exposure.namespace, instructions=None)
    async with Client(server) as client:
        read = await client.read_resource("media://picture")
    (content,) = read.contents
    assert isinstance(content, types.BlobResourceContents) and content.mime_type == "image/png"
    assert base64.b64decode(content.blob) == PNG


def test_rest_answers_with_the_raw_bytes_and_their_media_type(capability: Capability) -> None:
    from test_rest import serve

    with serve(capability, {"media": upstream}) as client:
        response = client.get("/files/pixel.png")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png" and response.content == PNG
        response = client.get("/files/doc.pdf")
        assert response.headers["content-type"] == "application/pdf" and response.content == PDF
        declared = client.get("/declared/pixel.png")  # the operation's responseBinary names the type
        assert declared.headers["content-type"] == "image/webp" and declared.content == PNG
        too_big = client.get("/files/huge.bin")
        assert too_big.status_code == 502 and too_big.headers["content-type"] == "application/problem+json"
