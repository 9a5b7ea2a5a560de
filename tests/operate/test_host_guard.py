"""DNS-rebinding protection on a wildcard address: a foreign Host gets 421 naming the host and how to
accept it; --allowed-host (or NAFTIKO_ALLOWED_HOSTS) accepts it; start-up says which hosts pass."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from operate_support import REST_AUTH, FakeShop, serving, shop_runtime

from naftiko_runtime.cli.serve import _allowed_hosts

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_foreign_host_gets_421_naming_it_and_the_option_that_accepts_it(tmp_path: Path) -> None:
    async with serving(shop_runtime(tmp_path, FakeShop()), address="0.0.0.0") as served:
        port = served.listeners[0].port
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert (await http.get("/items", headers=REST_AUTH)).status_code == 200  # Host: 127.0.0.1:PORT
            refused = await http.get("/items", headers={**REST_AUTH, "Host": f"agents.example.com:{port}"})
    assert refused.status_code == 421
    assert refused.headers["content-type"].startswith("application/problem+json")
    detail = refused.json()["detail"]
    assert f"`agents.example.com:{port}`" in detail
    assert "--allowed-host agents.example.com" in detail and "NAFTIKO_ALLOWED_HOSTS" in detail
    (said,) = [line for line in served.lines if line.startswith(f"0.0.0.0:{port} accepts the Host names")]
    assert "127.0.0.1" in said and "localhost" in said and "--allowed-host" in said


@pytest.mark.anyio
async def test_allowed_hosts_from_the_option_or_the_environment_are_accepted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAFTIKO_ALLOWED_HOSTS", "agents.example.com, tools.example.com")
    hosts = _allowed_hosts(("cli.example.com",))
    assert hosts == ["cli.example.com", "agents.example.com", "tools.example.com"]
    async with serving(shop_runtime(tmp_path, FakeShop()), address="0.0.0.0", allowed_hosts=hosts) as served:
        port = served.listeners[0].port
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for host in hosts:
                answer = await http.get("/items", headers={**REST_AUTH, "Host": f"{host}:{port}"})
                assert answer.status_code == 200, host
            assert (await http.get("/items", headers={**REST_AUTH, "Host": "evil.example"})).status_code == 421
    assert any("tools.example.com" in line for line in served.lines)
