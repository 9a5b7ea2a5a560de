"""docs/authoring.md stays true: every YAML block is a whole capability that validates without a single
diagnostic, each step keeps what the previous one had, the tools and the route answer as the guide
says against a fake of its library API, and every command it shows parses."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import httpx2
import pytest

from naftiko_runtime import app
from naftiko_runtime.cli import main
from naftiko_runtime.errors import InputError
from naftiko_runtime.model import Capability, plain

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", GUIDE, flags=re.S)
COMMANDS = [line.split("  #")[0].strip() for block in re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.S)
            for line in block.splitlines() if line.strip().startswith("naftiko ")]
KEY = "test-library-key"
BOOK = {"id": "b-1", "title": "The Dispossessed", "author": "Ursula K. Le Guin", "year": 1974, "copies": 3,
        "available": 1}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def capability(tmp_path: Path, text: str) -> Capability:
    path = tmp_path / "library.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = app.load([path], {})
    assert [str(d) for d in loaded.diagnostics] == []  # not even a warning
    (cap,) = loaded.capabilities
    return cap


class Library:
    """The guide's made-up library API."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path, params = request.url.path, request.url.params
        if request.headers.get("x-api-key") not in (None, KEY):
            return httpx2.Response(401, json={"message": "bad key"})
        if path == "/v1/books":
            return httpx2.Response(200, json={"total": 1, "items": [BOOK]})
        if path == "/v1/books/b-1":
            return httpx2.Response(200, json=BOOK)
        if path == "/v1/books/b-1/loans" and request.method == "POST":
            loan = json.loads(request.content)
            return httpx2.Response(201, json={"loan_id": "l-9", "book_id": "b-1", "due": "2026-12-20", **loan})
        if path == "/v1/loans":
            items = [{"loan_id": "l-9", "book_id": "b-1", "due": "2026-12-20"}] if params.get("member") == "m-7" else []
            return httpx2.Response(200, json={"items": items})
        return httpx2.Response(404, json={"message": "no such thing"})


def running(cap: Capability, library: Library) -> Any:
    return app.runtime([cap], {"LIBRARY_API_KEY": KEY}, transports={"library": httpx2.MockTransport(library)})


def test_the_guide_has_six_whole_capabilities() -> None:
    assert len(BLOCKS) == 6
    assert all(block.startswith('naftiko: "1.0.0-alpha2"') for block in BLOCKS)


@pytest.mark.parametrize("step", range(1, len(BLOCKS)), ids=lambda i: f"step {i + 1}")
def test_each_step_keeps_what_the_previous_one_built(tmp_path: Path, step: int) -> None:
    before, after = capability(tmp_path, BLOCKS[step - 1]), capability(tmp_path, BLOCKS[step])
    assert {t.name for t in before.tools()} <= {t.name for t in after.tools()}
    assert set(before.consumers) <= set(after.consumers)


@pytest.mark.anyio
@pytest.mark.parametrize("step", range(len(BLOCKS)), ids=lambda i: f"step {i + 1}")
async def test_every_step_searches_the_catalog(tmp_path: Path, step: int) -> None:
    cap = capability(tmp_path, BLOCKS[step])
    library = Library()
    tools = {t.name: t for t in cap.tools()}
    async with running(cap, library) as runtime:
        result = await runtime.invoke(tools["search-books"], {"text": "dispossessed"})
    assert library.requests[0].url.params["q"] == "dispossessed"
    if step >= 1:
        assert library.requests[0].headers["x-api-key"] == KEY
    if step >= 3:
        assert result == {"total": 1, "books": [{"id": "b-1", "title": BOOK["title"], "author": BOOK["author"]}]}
    else:
        assert result == {"total": 1, "items": [BOOK]}


@pytest.mark.anyio
async def test_the_finished_capability_answers_as_the_guide_says(tmp_path: Path) -> None:
    cap = capability(tmp_path, BLOCKS[-1])
    library = Library()
    tools = {t.name: t for t in cap.tools()}
    (route,) = cap.routes()
    loan_schema = plain(tools["borrow-book"].input_schema)["properties"]["loan"]
    assert loan_schema["required"] == ["member"]
    assert plain(tools["borrow-book"].output_schema)["required"] == ["loan_id", "due"]
    async with running(cap, library) as runtime:
        book = await runtime.invoke(tools["get-book"], {"id": "b-1"})
        borrowed = await runtime.invoke(tools["borrow-book"], {"id": "b-1", "loan": {"member": "m-7", "days": "14"}})
        with pytest.raises(InputError):
            await runtime.invoke(tools["borrow-book"], {"id": "b-1", "loan": {"days": 14}})
        sent = len(library.requests)
        due = await runtime.invoke(tools["when-is-it-due"], {"member": "m-7", "book_id": "b-1"})
        none = await runtime.invoke(tools["when-is-it-due"], {"member": "m-8", "book_id": "b-1"})
        rest = await runtime.invoke(route, {"id": "b-1"})
    assert book == {"title": BOOK["title"], "author": BOOK["author"], "year": 1974, "on_shelf": 1}
    assert borrowed["loan_id"] == "l-9" and borrowed["due"] == "2026-12-20"
    assert json.loads(library.requests[1].content) == {"member": "m-7", "days": 14}  # "14" became 14
    assert sent == 2  # the refused loan sent nothing
    assert due == {"book": "b-1", "title": BOOK["title"], "due": "2026-12-20"}
    assert none == {"book": "b-1", "title": BOOK["title"], "due": None}
    assert rest == {"title": BOOK["title"], "on_shelf": 1}


@pytest.mark.parametrize("line", COMMANDS)
def test_every_command_in_the_guide_parses(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "library.yaml").write_text(BLOCKS[-1], encoding="utf-8")
    (tmp_path / ".env").write_text(f"LIBRARY_API_KEY={KEY}\n", encoding="utf-8")
    args = shlex.split(line)[1:]
    command: click.Command = main
    context: Any = main.make_context("naftiko", list(args))
    while isinstance(command, click.Group):
        pending = [*getattr(context, "_protected_args", ()), *context.args]  # click 8.2+ keeps them apart
        name, sub, rest = command.resolve_command(context, pending)
        assert sub is not None, line
        command, context = sub, sub.make_context(name, rest, parent=context)
    assert context.command is command
