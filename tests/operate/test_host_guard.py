"""DNS-rebinding protection on a wildcard address: a foreign Host gets 421 naming the host and how to
accept it; --allowed-host (or NAFTIKO_ALLOWED_HOSTS) accepts it; start-up says which hosts pass."""

from __future__ import annotations

import socket
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


def _bindable(address: str) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


@pytest.mark.anyio
async def test_a_wildcard_bind_accepts_this_machines_addresses_and_no_other(tmp_path: Path) -> None:
    # 127.0.0.2 is one of this machine's addresses (Linux answers for all of 127/8) that no list names:
    # it stands for an interface's address that the host name does not resolve to.
    if not _bindable("127.0.0.2"):
        pytest.skip("127.0.0.2 is not an address of this machine here")
    async with serving(shop_runtime(tmp_path, FakeShop()), address="0.0.0.0") as served:
        port = served.listeners[0].port
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            async def status(host: str, origin: str | None = None) -> int:
                headers = {**REST_AUTH, "Host": host, **({"Origin": origin} if origin else {})}
                return (await http.get("/items", headers=headers)).status_code

            assert await status(f"127.0.0.2:{port}") == 200
            assert await status("127.0.0.2") == 200
            assert await status(f"127.0.0.2:{port}", origin=f"http://127.0.0.2:{port}") == 200
            for foreign in (f"192.0.2.7:{port}", f"0.0.0.0:{port}", "[::ffff:0:0]", "224.0.0.1", "255.255.255.255",
                            "[::ffff:224.0.0.1]", "[2001:db8::1]", "999.1.1.1", "127.0.0.2:http", "127.0.0.2x"):
                # not ours; unspecified, multicast or broadcast however written; not an address and port
                assert await status(foreign) == 421, foreign
            assert await status(f"127.0.0.2:{port}", origin="http://192.0.2.7") == 403
        said = next(line for line in served.lines if line.startswith(f"0.0.0.0:{port} accepts the Host names"))
        assert "this machine's addresses" in said
    async with serving(shop_runtime(tmp_path, FakeShop()), address="127.0.0.1") as served:
        port = served.listeners[0].port
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            refused = await http.get("/items", headers={**REST_AUTH, "Host": f"127.0.0.2:{port}"})
    assert refused.status_code == 421  # a specific bind answers only for its own address
