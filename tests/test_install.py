"""``naftiko install``: client config entries with absolute paths, merged into existing files with a
backup, on temporary config files only."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from naftiko_runtime.cli import main
from naftiko_runtime.cli.install import config_path, naftiko_command

ROOT = Path(__file__).resolve().parents[1]
HMS = ROOT / "capabilities" / "hms-live-streams.yaml"
OTHERS = {"theme": "dark", "mcpServers": {"files": {"command": "npx", "args": ["-y", "files-server"]}}}


def install(*args: str, cwd: Path | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if cwd is not None and monkeypatch is not None:
        monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, ["install", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_each_client_has_its_config_file_on_each_system(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert config_path("claude-desktop", platform="darwin", home=home) == \
        home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    assert config_path("claude-desktop", platform="win32", home=home, env={"APPDATA": "C:/Users/a/AppData/Roaming"}) \
        == Path("C:/Users/a/AppData/Roaming") / "Claude" / "claude_desktop_config.json"
    assert config_path("claude-desktop", platform="linux", home=home, env={}) == \
        home / ".config" / "Claude" / "claude_desktop_config.json"
    assert config_path("cursor", home=home) == home / ".cursor" / "mcp.json"
    assert config_path("vscode", cwd=tmp_path) == tmp_path / ".vscode" / "mcp.json"
    assert config_path("claude-code", cwd=tmp_path) == tmp_path / ".mcp.json"


def test_the_command_is_this_installations_naftiko_by_absolute_path() -> None:
    command = naftiko_command()
    assert Path(command[0]).is_absolute()
    assert command == [str(Path(os.path.abspath(sys.executable)).parent / "naftiko")] or \
        command[1:] == ["-m", "naftiko_runtime.cli"]


def test_claude_desktop_entry_is_merged_and_the_old_file_backed_up(tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    before = json.dumps(OTHERS, indent=4)
    config.write_text(before, encoding="utf-8")
    code, _, err = install("claude-desktop", str(HMS), "--config", str(config), "--", "--sandbox")
    assert code == 0, err
    written = json.loads(config.read_text(encoding="utf-8"))
    assert written["theme"] == "dark" and written["mcpServers"]["files"] == OTHERS["mcpServers"]["files"]
    entry = written["mcpServers"]["hms-live-streams"]
    assert entry["command"] == naftiko_command()[0]
    assert entry["args"][-5:] == ["serve", str(HMS), "--transport", "stdio", "--sandbox"]
    assert all(Path(a).is_absolute() for a in [entry["command"], entry["args"][-4]])
    assert "env" not in entry and "type" not in entry
    assert (tmp_path / "claude_desktop_config.json.bak").read_text(encoding="utf-8") == before
    assert "added MCP server 'hms-live-streams'" in err and "restart Claude Desktop" in err

    code, _, err = install("claude-desktop", str(HMS), "--config", str(config), "--name", "hms", "--",
                           "--sandbox", "--log-level", "warning")
    assert code == 0, err
    servers = json.loads(config.read_text(encoding="utf-8"))["mcpServers"]
    assert set(servers) == {"files", "hms-live-streams", "hms"}
    assert servers["hms"]["args"][-2:] == ["--log-level", "warning"]
    code, _, err = install("claude-desktop", str(HMS), "--config", str(config), "--name", "hms", "--", "--sandbox")
    assert code == 0 and "replaced MCP server 'hms'" in err


def test_env_file_variables_go_into_env_and_the_file_stays_private(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HMS_MANAGEMENT_TOKEN=tok-123\n", encoding="utf-8")
    config = tmp_path / "cursor" / "mcp.json"
    code, _, err = install("cursor", str(HMS), "--config", str(config), "--env-file", str(env_file))
    assert code == 0, err
    entry = json.loads(config.read_text(encoding="utf-8"))["mcpServers"]["hms-live-streams"]
    assert entry["env"] == {"HMS_MANAGEMENT_TOKEN": "tok-123"}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "warning" not in err
    code, _, err = install("cursor", str(HMS), "--config", str(tmp_path / "other.json"))
    assert code == 0 and "HMS_MANAGEMENT_TOKEN not given" in err  # a server that would not start says so


def test_vscode_uses_servers_with_a_stdio_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = install("vscode", str(HMS), "--", "--sandbox", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    written = json.loads((tmp_path / ".vscode" / "mcp.json").read_text(encoding="utf-8"))
    assert written["servers"]["hms-live-streams"]["type"] == "stdio"
    assert not (tmp_path / ".vscode" / "mcp.json.bak").exists()  # nothing to back up


def test_claude_code_writes_the_project_mcp_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".mcp.json").write_text(json.dumps({"mcpServers": {"db": {"command": "db-mcp"}}}), encoding="utf-8")
    code, _, err = install("claude-code", str(HMS), "--name", "live", "--", "--sandbox", cwd=tmp_path,
                           monkeypatch=monkeypatch)
    assert code == 0, err
    servers = json.loads((tmp_path / ".mcp.json").read_text(encoding="utf-8"))["mcpServers"]
    assert set(servers) == {"db", "live"} and servers["live"]["type"] == "stdio"


def test_mcp_json_prints_the_entry(tmp_path: Path) -> None:
    code, out, _ = install("mcp-json", str(HMS), "--", "--sandbox")
    assert code == 0
    entry = json.loads(out)["mcpServers"]["hms-live-streams"]
    assert entry["args"][-1] == "--sandbox" and Path(entry["command"]).is_absolute()
    assert install("mcp-json", str(HMS), "--config", str(tmp_path / "x.json"))[0] == 2


@pytest.mark.parametrize("text", ["{ not json", "[" * 5000 + "]" * 5000])  # the second: past the recursion limit
def test_a_config_that_is_not_json_is_left_alone(tmp_path: Path, text: str) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(text, encoding="utf-8")
    code, _, err = install("cursor", str(HMS), "--config", str(config))
    assert code == 1 and "not changing" in err
    assert config.read_text(encoding="utf-8") == text and not (tmp_path / "mcp.json.bak").exists()
    config.write_text('{"mcpServers": []}', encoding="utf-8")
    assert install("cursor", str(HMS), "--config", str(config))[0] == 1


def test_a_broken_capability_is_not_installed(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text('naftiko: "1.0.0-alpha2"\ncapability: {exposes: [{type: mcp}]}\n', encoding="utf-8")
    config = tmp_path / "mcp.json"
    code, _, err = install("cursor", str(broken), "--config", str(config))
    assert code == 1 and "has errors" in err and not config.exists()
