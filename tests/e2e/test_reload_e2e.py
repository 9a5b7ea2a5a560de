"""`naftiko serve --reload`: a valid change is served after a graceful restart; a broken one is not."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from processes import ROOT, SERVE, Process, child_env, free_port, start, stop, wait_for_port

from naftiko_runtime import app, reload
from naftiko_runtime.model import Capability
from naftiko_runtime.reload import serve_reloading, snapshot, watched_files
from naftiko_runtime.runtime import Runtime

pytestmark = pytest.mark.timeout(90)

PING_TOOL = """
        - name: hms-ping
          description: Answers pong, without calling 100ms.
          outputParameters:
            - {name: answer, type: string, value: pong}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def wait_for_log(process: Process, marker: str, seen: int, deadline: float = 30.0) -> int:
    """Wait until ``marker`` appears in the log for the ``seen + 1``-th time; the pause waits on the process."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.output().count(marker) > seen:
            return seen + 1
        if process.proc.poll() is not None:
            raise AssertionError(f"server exited:\n{process.output()}")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.proc.wait(timeout=0.05)
    raise AssertionError(f"{marker!r} not logged within {deadline}s:\n{process.output()}")


async def tool_names(url: str) -> set[str]:
    async with Client(url) as client:
        return {t.name for t in (await client.list_tools()).tools}


@pytest.mark.anyio
async def test_reload_serves_a_valid_change_and_keeps_serving_through_a_broken_one(tmp_path: Path) -> None:
    spec = tmp_path / "capability.yaml"
    original = (ROOT / "capabilities" / "hms-live-streams.yaml").read_text(encoding="utf-8")
    spec.write_text(original, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    process = start([*SERVE, str(spec), "--sandbox", "--reload", "--port", str(port)], tmp_path / "serve.log",
                    child_env())
    try:
        wait_for_port(process, port)
        assert "hms-ping" not in await tool_names(url)

        spec.write_text(original.rstrip("\n") + "\n" + PING_TOOL, encoding="utf-8")
        wait_for_log(process, "reloaded: now serving the changed capabilities", 0)  # swapped in, same socket
        assert "hms-ping" in await tool_names(url)

        spec.write_text(original.replace("call: live-streams.getlivestream", "call: live-streams.nope"),
                        encoding="utf-8")
        wait_for_log(process, "still serving the previous version", 0)
        assert "hms-ping" in await tool_names(url)
        assert "unknown-call" in process.output()
    finally:
        stop(process)
    assert process.proc.returncode == 0


def test_snapshot_sees_edits_and_new_files(tmp_path: Path) -> None:
    spec = tmp_path / "capability.yaml"
    spec.write_text("a: 1\n", encoding="utf-8")
    before = snapshot(watched_files([tmp_path], []))
    spec.write_text("a: 22\n", encoding="utf-8")
    assert snapshot(watched_files([tmp_path], [])) != before
    now = snapshot(watched_files([tmp_path], []))
    (tmp_path / "shared.yml").write_text("b: 1\n", encoding="utf-8")
    assert snapshot(watched_files([tmp_path], [])) != now


IMPORTING = """\
naftiko: "1.0.0-alpha2"
info: {label: Importing, description: Imports a shared consumes file and binds a secrets file.}
binds:
  - namespace: secrets
    location: file:///./secrets/keys.yaml
    keys: {TOKEN: TOKEN}
capability:
  consumes:
    - {location: ./shared/apis.yaml, import: shop, as: shop}
  exposes:
    - type: mcp
      port: 9100
      namespace: tools
      tools:
        - name: ping
          description: Answers pong.
          outputParameters:
            - {name: answer, type: string, value: pong}
"""
SHARED = """\
naftiko: "1.0.0-alpha2"
consumes:
  - {location: ./more/nested.yaml, import: other, as: other}
  - type: http
    namespace: shop
    baseUri: https://shop.example
    resources:
      - name: items
        path: /items
        operations:
          - {name: list-items, method: GET}
"""
NESTED = """\
naftiko: "1.0.0-alpha2"
consumes:
  - type: http
    namespace: other
    baseUri: https://other.example
    resources:
      - name: things
        path: /things
        operations:
          - {name: list-things, method: GET}
"""


def project(tmp_path: Path) -> tuple[Capability, Path]:
    """A capability at a project root, next to a virtualenv-like hidden folder full of YAML."""
    (tmp_path / "shared" / "more").mkdir(parents=True)
    (tmp_path / "shared" / "apis.yaml").write_text(SHARED, encoding="utf-8")
    (tmp_path / "shared" / "more" / "nested.yaml").write_text(NESTED, encoding="utf-8")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "keys.yaml").write_text("TOKEN: t\n", encoding="utf-8")
    venv = tmp_path / ".venv" / "lib"
    venv.mkdir(parents=True)
    for i in range(50):
        (venv / f"package-{i}.yaml").write_text("x: 1\n", encoding="utf-8")
    (tmp_path / "unrelated.yaml").write_text("x: 1\n", encoding="utf-8")
    spec = tmp_path / "capability.yaml"
    spec.write_text(IMPORTING, encoding="utf-8")
    loaded = app.load([spec], {"TOKEN": "t"})
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    (capability,) = loaded.capabilities
    return capability, spec


def test_a_capability_file_watches_its_imports_and_binds_not_its_whole_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    capability, spec = project(tmp_path)
    watched = {p.resolve() for p in watched_files([spec], [capability])}
    assert watched == {
        spec.resolve(),
        (tmp_path / "shared" / "apis.yaml").resolve(),
        (tmp_path / "shared" / "more" / "nested.yaml").resolve(),  # imported by the shared file
        (tmp_path / "secrets" / "keys.yaml").resolve(),
    }


def test_a_folder_given_explicitly_is_watched_without_its_hidden_folders(tmp_path: Path) -> None:
    capability, _ = project(tmp_path)
    watched = watched_files([tmp_path], [capability])
    assert tmp_path / "unrelated.yaml" in watched
    assert not [p for p in watched if ".venv" in p.parts]


def test_an_edit_to_an_imported_file_changes_the_snapshot(tmp_path: Path) -> None:
    capability, spec = project(tmp_path)
    before = snapshot(watched_files([spec], [capability]))
    (tmp_path / "shared" / "more" / "nested.yaml").write_text(NESTED + "# edited\n", encoding="utf-8")
    assert snapshot(watched_files([spec], [capability])) != before


@pytest.mark.anyio
async def test_polling_reads_the_file_system_off_the_event_loop_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capability, spec = project(tmp_path)
    threads: list[threading.Thread] = []
    scanned = anyio.Event()
    real = reload.watched_files

    def recording(*args: object) -> set[Path]:
        threads.append(threading.current_thread())
        if len(threads) >= 2:  # the first scan and one poll
            scanned.set()
        return real(*args)  # type: ignore[arg-type]

    async def run(runtime: Runtime, stop_when: anyio.Event, server_ready: object) -> int:
        await scanned.wait()
        return 0

    monkeypatch.setattr(reload, "watched_files", recording)
    runtime = app.runtime([capability], {})  # TOKEN comes from secrets/keys.yaml
    with anyio.fail_after(10):
        code = await serve_reloading([spec], runtime, lambda: None, run, log=lambda text: None, interval=0.01)
    assert code == 0
    assert threads and threading.main_thread() not in threads
