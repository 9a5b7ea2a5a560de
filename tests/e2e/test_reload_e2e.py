"""`naftiko serve --reload`: a valid change is served after a graceful restart; a broken one is not."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import pytest
from mcp import Client
from processes import ROOT, SERVE, Process, child_env, free_port, start, stop, wait_for_port

from naftiko_runtime.reload import snapshot, watched_files

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
        wait_for_log(process, "restarting with the changed capabilities", 0)
        wait_for_port(process, port)
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
