"""`naftiko serve` flags end to end: --address, --port, --env-file, --log-format json, transport: stdio."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from processes import ROOT, SERVE, child_env, start, stop, wait_for_port

pytestmark = pytest.mark.timeout(60)

CAPABILITY = """\
naftiko: "1.0.0-alpha2"
info: {label: Greeter, description: Greets with a configured word.}
binds:
  - namespace: env
    keys: {GREETING: NAFTIKO_E2E_GREETING}
capability:
  exposes:
    - type: mcp
      namespace: greeter
      port: 9399
      tools:
        - name: greet
          description: Greets someone.
          inputParameters:
            - {name: who, type: string, description: Who to greet.}
          outputParameters:
            - {name: text, type: string, value: "{{GREETING}}, {{who}}!"}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port_on(address: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


@pytest.mark.anyio
async def test_address_port_env_file_and_json_logs(tmp_path: Path) -> None:
    spec = tmp_path / "greeter.yaml"
    spec.write_text(CAPABILITY, encoding="utf-8")
    env_file = tmp_path / ".env"
    env_file.write_text("export NAFTIKO_E2E_GREETING='Ahoy there'\n", encoding="utf-8")
    address = "127.0.0.2"  # any loopback address: the printed URL must work (Host checks included)
    port = free_port_on(address)
    process = start([*SERVE, str(spec), "--address", address, "--port", str(port), "--env-file", str(env_file),
                     "--log-format", "json"], tmp_path / "serve.log", child_env())
    try:
        wait_for_port(process, port, host=address)
        async with Client(f"http://{address}:{port}/mcp") as client:
            result = await client.call_tool("greet", {"who": "crew"})
    finally:
        stop(process)
    assert result.structured_content == {"text": "***, crew!"}  # the bound value loaded, and never shown
    events = [json.loads(line) for line in process.output().splitlines() if line.startswith("{")]
    listening = [e for e in events if e.get("event") == "listening"]
    assert listening and listening[0]["url"] == f"http://{address}:{port}/mcp"


@pytest.mark.anyio
async def test_an_exposure_that_says_stdio_is_served_on_stdio(tmp_path: Path) -> None:
    spec = tmp_path / "greeter.yaml"
    spec.write_text(CAPABILITY.replace("port: 9399", "transport: stdio"), encoding="utf-8")
    params = StdioServerParameters(command=sys.executable, args=[*SERVE, str(spec)],
                                   env=child_env(NAFTIKO_E2E_GREETING="Hi"), cwd=str(ROOT))
    async with Client(params) as client:
        result = await client.call_tool("greet", {"who": "stdio"})
    assert result.structured_content == {"text": "Hi, stdio!"}  # too short to be masked
