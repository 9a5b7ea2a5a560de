"""``naftiko install CLIENT SPEC``: register a capability as a stdio MCP server in a client's config.

Desktop clients start their servers themselves, from another folder and outside any virtualenv, so
the entry names absolute paths: this interpreter's ``naftiko`` (or ``python -m naftiko_runtime.cli``)
and the capability file. Variables from ``--env-file`` go into the entry's ``env``. An existing
config is merged, never replaced: other servers and settings stay, a backup of the file is written
first, and the new file replaces the old one atomically.

Where each client reads its servers (``--config`` overrides it):

==============  =================================================================  ============
client          file                                                               servers key
==============  =================================================================  ============
claude-desktop  macOS ``~/Library/Application Support/Claude/claude_desktop_config.json``,
                Windows ``%APPDATA%\\Claude\\claude_desktop_config.json``,
                Linux ``~/.config/Claude/claude_desktop_config.json``             ``mcpServers``
cursor          ``~/.cursor/mcp.json`` (every project)                              ``mcpServers``
vscode          ``.vscode/mcp.json`` of the current folder (the workspace)          ``servers``
claude-code     ``.mcp.json`` of the current folder (the project scope)             ``mcpServers``
mcp-json        printed, not written                                               ``mcpServers``
==============  =================================================================  ============
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from naftiko_runtime import jsontext
from naftiko_runtime.cli.common import EXISTING, fail

CLIENTS = ("claude-desktop", "cursor", "vscode", "claude-code", "mcp-json")
_RESTART = {
    "claude-desktop": "restart Claude Desktop to load it",
    "cursor": "Cursor picks it up in Settings > MCP (reload the window if it does not)",
    "vscode": "VS Code lists it under MCP servers of this workspace (start it from .vscode/mcp.json)",
    "claude-code": "Claude Code asks to approve it the next time it starts in this folder",
}


def config_path(client: str, *, platform: str = sys.platform, home: Path | None = None,
                env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """Where ``client`` reads its MCP servers on this system."""
    home = home or Path.home()
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    if client == "claude-desktop":
        if platform == "darwin":
            return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
        if platform.startswith("win"):
            return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "Claude" / "claude_desktop_config.json"
        return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "Claude" / "claude_desktop_config.json"
    if client == "cursor":
        return home / ".cursor" / "mcp.json"
    if client == "vscode":
        return cwd / ".vscode" / "mcp.json"
    if client == "claude-code":
        return cwd / ".mcp.json"
    raise ValueError(f"{client} has no config file")


def servers_key(client: str) -> str:
    return "servers" if client == "vscode" else "mcpServers"


def naftiko_command() -> list[str]:
    """How to run this installation's ``naftiko`` from anywhere: the script beside this interpreter
    (not resolved through symlinks: a virtualenv's python is one), else ``python -m``."""
    executable = Path(os.path.abspath(sys.executable))
    for name in ("naftiko", "naftiko.exe"):
        script = executable.parent / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    return [str(executable), "-m", "naftiko_runtime.cli"]


def server_entry(client: str, spec: Path, serve_args: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    """The client's entry for ``naftiko serve SPEC --transport stdio SERVE-ARGS``."""
    command, *prefix = naftiko_command()
    args = [*prefix, "serve", str(spec.resolve())]
    if not any(a == "--transport" or a.startswith("--transport=") for a in serve_args):
        args += ["--transport", "stdio"]
    args += list(serve_args)
    entry: dict[str, Any] = {"type": "stdio"} if client in ("vscode", "claude-code") else {}
    entry.update({"command": command, "args": args})
    if env:
        entry["env"] = dict(env)
    return entry


def merged(existing: str | None, key: str, name: str, entry: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The config with ``entry`` under ``key.name``; every other key and server kept. (config, replaced)."""
    config: Any = jsontext.loads(existing) if existing and existing.strip() else {}
    if not isinstance(config, dict):
        raise ValueError("its top level is not a JSON object")
    servers = config.setdefault(key, {})
    if not isinstance(servers, dict):
        raise ValueError(f"its `{key}` is not a JSON object")
    replaced = name in servers
    servers[name] = dict(entry)
    return config, replaced


def write_config(path: Path, text: str, *, private: bool) -> Path | None:
    """Back the old file up (``<file>.bak``), then replace it atomically; the backup's path, if any."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
    mode = path.stat().st_mode & 0o777 if path.exists() else (0o600 if private else 0o644)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            sink.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return backup


def _default_name(spec: Path) -> str:
    from naftiko_runtime.openapi.import_ import kebab

    stem = spec.stem if spec.stem not in ("capability", "naftiko") else spec.resolve().parent.name
    return kebab(stem) or "naftiko"


def _needed_variables(spec: Path) -> list[str]:
    """The environment variables the capability's binds read (it must load without errors)."""
    from naftiko_runtime.app import load
    from naftiko_runtime.cli.common import print_diagnostics

    loaded = load([spec], {}, strict_env=False)
    if loaded.failed() or not loaded.capabilities:
        print_diagnostics(loaded.diagnostics, [c.doc for c in loaded.checked])
        fail(f"not installing {spec}: it has errors (above)" if loaded.capabilities else f"{spec} is no capability")
    if not any(c.mcp for c in loaded.capabilities):
        fail(f"not installing {spec}: it has no MCP exposure (`type: mcp`) for a client to use")
    return list(dict.fromkeys(provider for c in loaded.capabilities for bind in c.binds if bind.location is None
                              for provider in bind.keys.values()))


@click.command(short_help="Add a capability to an MCP client's configuration.")
@click.argument("client", type=click.Choice(CLIENTS), metavar="CLIENT")
@click.argument("spec", type=EXISTING)
@click.argument("serve_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- SERVE-ARGS]...")
@click.option("--name", default=None, help="Server name in the client (default: from the capability file name).")
@click.option("--env-file", type=EXISTING, default=None,
              help="KEY=VALUE variables (the capability's credentials) written into the entry's `env`.")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write this config file instead of the client's usual one.")
def install(client: str, spec: Path, serve_args: tuple[str, ...], name: str | None, env_file: Path | None,
            config: Path | None) -> None:
    """Register SPEC with an MCP client as a stdio server: CLIENT is claude-desktop, cursor, vscode,
    claude-code (a .mcp.json here) or mcp-json (print the entry). Arguments after `--` go to
    `naftiko serve` (e.g. `-- --sandbox`).

    The entry runs this installation's naftiko with absolute paths, so it works from any folder.
    Other servers in the file are kept; the old file is saved as FILE.bak first. Files written:
    claude-desktop, its claude_desktop_config.json (under ~/Library/Application Support/Claude on
    macOS, %APPDATA%\\Claude on Windows, ~/.config/Claude on Linux); cursor, ~/.cursor/mcp.json;
    vscode, .vscode/mcp.json in this folder; claude-code, .mcp.json in this folder.
    """
    if client == "mcp-json" and config is not None:
        raise click.UsageError("mcp-json prints the entry; --config is for the clients that have a file")
    from naftiko_runtime.binding import load_env_file

    needed = _needed_variables(spec)
    env = load_env_file(env_file) if env_file is not None else {}
    name = name or _default_name(spec)
    entry = server_entry(client, spec, serve_args, env)
    missing = [v for v in needed if v not in env]
    if missing and "--sandbox" not in serve_args:
        click.echo(f"naftiko: warning: {', '.join(missing)} not given (--env-file): the client must provide "
                   f"{'them' if len(missing) > 1 else 'it'}, or the server will not start", err=True)
    if client == "mcp-json":
        click.echo(json.dumps({"mcpServers": {name: entry}}, indent=2, ensure_ascii=False))
        return
    path = (config or config_path(client)).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    try:
        existing = path.read_text(encoding="utf-8-sig") if path.exists() else None
        document, replaced = merged(existing, servers_key(client), name, entry)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"not changing {path}: cannot read it as a JSON config ({exc}); fix it or pass --config")
    try:
        backup = write_config(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n", private=bool(env))
    except OSError as exc:
        fail(f"cannot write {path}: {exc}")
    done = "replaced" if replaced else "added"
    click.echo(f"naftiko: {done} MCP server '{name}' in {path}" + (f" (previous file: {backup})" if backup else ""),
               err=True)
    click.echo(f"naftiko: {_RESTART[client]}", err=True)


COMMANDS = (install,)
