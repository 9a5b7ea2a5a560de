"""End to end: the entry `naftiko install` writes starts a working stdio MCP server when a client runs
it the way desktop clients do: from another folder, with a bare environment (no virtualenv on PATH)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from processes import ROOT

from naftiko_runtime.cli import main

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_installed_entry_serves_from_another_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    env_file = project / ".env"
    env_file.write_text("HMS_MANAGEMENT_TOKEN=not-used-in-the-sandbox\n", encoding="utf-8")
    monkeypatch.chdir(project)
    spec = os.path.relpath(ROOT / "capabilities" / "hms-live-streams.yaml", project)  # as a user types it
    result = CliRunner().invoke(main, ["install", "claude-code", spec, "--env-file", ".env", "--", "--sandbox"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    entry = json.loads((project / ".mcp.json").read_text(encoding="utf-8"))["mcpServers"]["hms-live-streams"]

    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **entry["env"]}  # what a desktop app passes on
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=bare, cwd=str(elsewhere))
    async with Client(params) as client:  # the SDK's stdio transport (mcp.client.stdio) spawns it
        tools = {t.name for t in (await client.list_tools()).tools}
        listed = await client.call_tool("hms-list-live-streams", {"limit": "10"})
    assert "hms-start-live-stream" in tools and len(tools) == 8
    assert listed.is_error is False and listed.structured_content == {"limit": 10, "data": [], "last": ""}
