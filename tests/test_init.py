"""``naftiko init``: a blank capability, or one from an OpenAPI document, that validates at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner
from test_openapi_schemas import SHOP

from naftiko_runtime import app
from naftiko_runtime.cli import main
from naftiko_runtime.model import plain


def init(tmp_path: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", *args], catch_exceptions=False)
    return result.exit_code, result.stderr


def loaded(path: Path) -> Any:
    result = app.load([path], {})
    assert [str(d) for d in result.diagnostics] == []
    (capability,) = result.capabilities
    return capability


def test_a_blank_capability_validates_cleanly_and_says_what_to_do_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = init(tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    written = tmp_path / "capability.yaml"
    assert "naftiko validate capability.yaml" in err and "naftiko serve capability.yaml" in err
    capability = loaded(written)
    assert [t.name for t in capability.tools()] == ["echo"]
    assert capability.label == tmp_path.name  # the folder names it
    text = written.read_text(encoding="utf-8")
    assert text.count("\n# ") + text.count("\n  # ") >= 10  # it explains itself
    assert "naftiko call capability.yaml echo message=hello" in text


@pytest.mark.anyio
async def test_the_blank_capability_serves_its_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert init(tmp_path, "--name", "Greeter", monkeypatch=monkeypatch)[0] == 0
    capability = loaded(tmp_path / "capability.yaml")
    assert capability.label == "Greeter" and capability.mcp[0].namespace == "greeter-mcp"
    seen: list[httpx2.Request] = []

    def echo(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"args": dict(request.url.params), "url": str(request.url)})

    (tool,) = capability.tools()
    async with app.runtime([capability], {}, transports={"echo-api": httpx2.MockTransport(echo)}) as runtime:
        result = await runtime.invoke(tool, {"message": "hello"})
    assert result == {"message": "hello", "url": "https://postman-echo.com/get?message=hello"}
    assert plain(tool.output_schema)["required"] == ["message", "url"]


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "capability.yaml"
    mine.write_text("my work\n", encoding="utf-8")
    code, err = init(tmp_path, monkeypatch=monkeypatch)
    assert code == 1 and "--force" in err
    assert mine.read_text(encoding="utf-8") == "my work\n"
    assert init(tmp_path, "--force", monkeypatch=monkeypatch)[0] == 0
    assert mine.read_text(encoding="utf-8").startswith("# A first Naftiko capability")


def test_a_folder_path_gets_capability_yaml_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert init(tmp_path, "weather/", monkeypatch=monkeypatch)[0] == 0
    assert loaded(tmp_path / "weather" / "capability.yaml").label == "weather"
    assert init(tmp_path, "other.yaml", "--name", "Other", monkeypatch=monkeypatch)[0] == 0
    assert loaded(tmp_path / "other.yaml").label == "Other"


def test_from_openapi_keeps_the_chosen_operations_with_their_schemas_auth_and_hints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shop.json").write_text(json.dumps(SHOP), encoding="utf-8")
    code, err = init(tmp_path, "--from-openapi", "shop.json", "--operations", "placeOrder,listOrders",
                     monkeypatch=monkeypatch)
    assert code == 0, err
    assert "SHOP_API_KEY" in err  # the variable to set before serving
    capability = loaded(tmp_path / "capability.yaml")
    tools = {t.name: t for t in capability.tools()}
    assert set(tools) == {"place-order", "list-orders"}
    body = plain(tools["place-order"].input_schema)["properties"]["body"]
    assert body["required"] == ["item", "quantity"]
    assert tools["list-orders"].annotations["readOnlyHint"] is True
    assert tools["place-order"].annotations["readOnlyHint"] is False
    (consumer,) = capability.consumers.values()
    assert consumer.authentication is not None and consumer.authentication.type == "apikey"
    assert [b.keys for b in capability.binds] == [{"SHOP_API_KEY": "SHOP_API_KEY"}]

    code, _ = init(tmp_path, "tagged.yaml", "--from-openapi", "shop.json", "--tag", "ops", "--name", "Ops",
                   monkeypatch=monkeypatch)
    assert code == 0
    assert [t.name for t in loaded(tmp_path / "tagged.yaml").tools()] == ["health"]


def test_init_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shop.json").write_text(json.dumps(SHOP), encoding="utf-8")
    assert init(tmp_path, "--tag", "x", monkeypatch=monkeypatch)[0] == 2  # --tag needs --from-openapi
    assert init(tmp_path, "--from-openapi", "shop.json", "--tag", "ops", "--operations", "health",
                monkeypatch=monkeypatch)[0] == 2
    code, err = init(tmp_path, "--from-openapi", "shop.json", "--operations", "nope", monkeypatch=monkeypatch)
    assert code == 1 and "'nope'" in err and not (tmp_path / "capability.yaml").exists()
