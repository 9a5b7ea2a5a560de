"""`naftiko serve --reload --sandbox` under steady load: 20 edits that each change the tool list are
all picked up with no failed call and every open session told (notifications/tools/list_changed);
a broken edit is one clear log line and serving goes on; a port edit moves the listener."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, types
from processes import ROOT, SERVE, child_env, free_port, start, stop, wait_for_port
from test_reload_e2e import wait_for_log

pytestmark = pytest.mark.timeout(300)
EDITS = 20
TOOL = """
        - name: hms-ping-{n}
          description: Answers pong, without calling 100ms.
          outputParameters:
            - {{name: answer, type: string, value: pong}}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Load:
    """Clients calling a tool in a loop, each on one long-lived session, until ``stop`` is set."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = anyio.Event()
        self.ok = 0
        self.failed: list[str] = []
        self.longest = 0.0

    async def client(self, mode: str) -> None:
        while not self.stop.is_set():
            try:
                async with Client(self.url, mode=mode) as client:
                    while not self.stop.is_set():
                        started = time.monotonic()
                        result = await client.call_tool("hms-list-live-streams", {})
                        self.longest = max(self.longest, time.monotonic() - started)
                        if result.is_error:
                            self.failed.append(result.content[0].text)  # type: ignore[union-attr]
                        else:
                            self.ok += 1
            except Exception as exc:  # a dropped connection or session counts as a failed call
                self.failed.append(repr(exc))


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.mark.anyio
async def test_twenty_reloads_under_load_drop_no_call_and_reach_every_session(tmp_path: Path) -> None:
    port, moved = free_port(), free_port()
    spec = tmp_path / "capability.yaml"
    original = (ROOT / "capabilities" / "hms-live-streams.yaml").read_text(encoding="utf-8")
    original = original.replace("port: 9090", f"port: {port}")
    spec.write_text(original, encoding="utf-8")
    process = start([*SERVE, str(spec), "--sandbox", "--reload"], tmp_path / "serve.log", child_env())
    load = Load(f"http://127.0.0.1:{port}/mcp")
    told = {"count": 0}

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            told["count"] += 1

    try:
        wait_for_port(process, port)
        with anyio.fail_after(240):  # about 20 s on an idle machine; reloads slow down under CPU contention
            async with anyio.create_task_group() as group, \
                    Client(load.url, mode="legacy", message_handler=on_message) as listener:
                await listener.list_tools()  # its session is known before the first edit
                for mode in ("auto", "auto", "legacy"):
                    group.start_soon(load.client, mode)
                for n in range(EDITS):
                    spec.write_text(original.rstrip("\n") + "\n" + "".join(TOOL.format(n=i) for i in range(n + 1)),
                                    encoding="utf-8")
                    await anyio.to_thread.run_sync(wait_for_log, process, "reloaded: now serving", n)
                    print(f"edit {n}: told {told['count']}, {load.ok} calls", flush=True)
                with anyio.move_on_after(30):  # the last notification may still be on its way
                    while told["count"] < EDITS:
                        await anyio.sleep(0.01)
                assert told["count"] == EDITS  # one notification per reload to the session that stayed open
                tools = {t.name for t in (await listener.list_tools()).tools}
                assert {f"hms-ping-{n}" for n in range(EDITS)} <= tools

                during = load.ok
                spec.write_text(original.replace("call: live-streams.getlivestream", "call: live-streams.nope"),
                                encoding="utf-8")
                await anyio.to_thread.run_sync(wait_for_log, process, "reload refused", 0)
                with anyio.move_on_after(30):  # and serving goes on
                    while load.ok < during + 10:
                        await anyio.sleep(0.01)
                assert load.ok >= during + 10 and load.failed == []
                assert "hms-ping-0" in {t.name for t in (await listener.list_tools()).tools}
                load.stop.set()

            spec.write_text(original.replace(f"port: {port}", f"port: {moved}"), encoding="utf-8")
            await anyio.to_thread.run_sync(wait_for_log, process, "restarting with the changed capabilities", 0)
            wait_for_port(process, moved)
            async with Client(f"http://127.0.0.1:{moved}/mcp") as client:
                assert "hms-get-live-stream" in {t.name for t in (await client.list_tools()).tools}
            assert refused(port)
        process.proc.send_signal(signal.SIGTERM)
        assert process.proc.wait(timeout=30) == 0
    finally:
        stop(process)
    output = process.output()
    print(f"\n{load.ok + len(load.failed)} calls across {EDITS} reloads, {len(load.failed)} failed, "
          f"longest {load.longest * 1000:.0f} ms")
    assert load.failed == []
    assert load.ok > EDITS
    assert output.count("reloaded: now serving") == EDITS
    (refusal,) = [line for line in output.splitlines() if "reload refused" in line]
    assert "error[unknown-call]" in refusal and refusal.endswith("still serving the previous version")
    assert "Traceback" not in output
