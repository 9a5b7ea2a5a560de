"""Ikanos capabilities run against the same local fakes as the tutorial files (tests/test_tutorials.py).

Corpus file 21 is the Ikanos form of the step-10 tutorial; file 20 the reference engine's e2e
capability. Their tools and routes run through `naftiko call` and give what the fixtures say.
Then the same capability written both ways (a tutorial file and its `naftiko convert --to ikanos`
form) is called unit by unit: the results and the requests sent upstream are the same.
Skipped when ../shared is absent.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_tutorials as tutorials
from click.testing import CliRunner
from test_tutorials import (
    CAPABILITIES,
    IMO,
    NO_PROXY,
    Upstream,
    example,
    legacy_vessels,
    naftiko_call,
    place,
    registry_headers,
    request_example,
    ship_detail,
    ship_with_crew,
    summary,
)

from naftiko_runtime.cli import main
from naftiko_runtime.convert import convert_file

upstream = tutorials.upstream
fake = tutorials.fake
workspace = tutorials.workspace

STEP10_IKANOS = "21-ikanos-step-10-rest-adapter.yml"


def both_upstreams(fake: Upstream) -> dict[str, str]:
    return {"registry": fake.url("registry"), "legacy": fake.url("legacy")}


def calls(fake: Upstream) -> dict[str, tuple[list[str], Callable[[Any], bool]]]:
    """Unit -> (arguments, what its result must be), from the fixtures."""
    voyage = request_example(fake.registry, "post", "/voyages")
    ship, crew = ship_detail(fake.registry, IMO), ship_with_crew(fake.registry, IMO)
    ships = [summary(s) for s in example(fake.registry, "get", "/ships", "?status=maintenance")]
    created = example(fake.registry, "post", "/voyages", "created")
    return {
        "list-ships": (["status=maintenance"], lambda out: out == ships),
        "get-ship": ([f"imo={IMO}"], lambda out: out["imo"] == IMO and out["specs"]["yearBuilt"] == ship["year_built"]),
        "get-ship-with-crew": ([f"imo={IMO}"], lambda out: out == crew),
        "list-legacy-vessels": ([], lambda out: out == legacy_vessels(fake.legacy, "allVessels")),
        "create-voyage": (["--json", json.dumps(voyage)], lambda out: out["voyageId"] == created["voyageId"]),
        "GET /ships": (["status=maintenance"], lambda out: out == ships),
        "GET /ships/{{imo}}": ([f"imo={IMO}"], lambda out: out["imo"] == IMO),
        "GET /ships/{{imo}}/crew": ([f"imo={IMO}"], lambda out: out == crew),
        "GET /ships/{imo}": ([f"imo={IMO}"], lambda out: out["imo"] == IMO),
        "GET /ships/{imo}/crew": ([f"imo={IMO}"], lambda out: out == crew),
        "GET /legacy/vessels": ([], lambda out: out == legacy_vessels(fake.legacy, "allVessels")),
        "POST /voyages": (["--json", json.dumps(voyage)],
                          lambda out: out["route"] == {"from": voyage["departurePort"], "to": voyage["arrivalPort"]}),
    }


def units(spec: Path) -> list[str]:
    result = CliRunner().invoke(main, ["list", str(spec), "--format", "json"], env=NO_PROXY)
    assert result.exit_code == 0, result.output
    return list(dict.fromkeys(entry["name"] for entry in json.loads(result.stdout)
                              if entry["kind"] in ("tool", "route")))


def test_the_ikanos_step10_file_runs_every_tool_and_route(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, STEP10_IKANOS)
    expected = calls(fake)
    served = units(spec)
    assert set(served) <= set(expected) and len(served) == 10
    for unit in served:
        fake.journal.clear()
        args, check = expected[unit]
        code, out, err = naftiko_call(spec, unit, *args, upstreams=both_upstreams(fake))
        assert code == 0, (unit, err)
        assert check(out), (unit, out)
    # the imported registry authenticates with the bound secret, as the Naftiko tutorial does
    fake.journal.clear()
    naftiko_call(spec, "get-ship", f"imo={IMO}", upstreams=both_upstreams(fake))
    assert registry_headers(fake, "/registry/") == {
        (f"Bearer {fake.secrets['registry-bearer-token']}", fake.secrets["registry-api-version"])}


def test_the_ikanos_e2e_file_calls_the_registry_with_its_bound_token(workspace: Path, fake: Upstream) -> None:
    text = (CAPABILITIES / "20-ikanos-exposed-oauth2.yml").read_text(encoding="utf-8")
    # written for the engine's container (/app); here the secrets sit in ./shared
    spec = workspace / "20.yml"
    spec.write_text(text.replace("file:///app/shared/", "file:///./shared/"), encoding="utf-8")
    ships = [summary(s) for s in example(fake.registry, "get", "/ships", "?status=maintenance")]
    registry = {"registry": fake.url("registry")}
    code, out, err = naftiko_call(spec, "list-ships", "status=maintenance", upstreams=registry)
    assert code == 0, err
    assert out == ships
    code, out, err = naftiko_call(spec, "get-ship", f"imo={IMO}", upstreams=registry)
    assert code == 0, err
    assert out == {**summary(ship_detail(fake.registry, IMO))}
    assert registry_headers(fake, "/registry/") == {
        (f"Bearer {fake.secrets['registry-bearer-token']}", fake.secrets["registry-api-version"])}


@pytest.mark.parametrize("name", ["03-step-7-shipyard-orchestrated-lookup.yml", "04-step-9-shipyard-aggregates.yml",
                                  "05-step-10-shipyard-rest-adapter.yml", STEP10_IKANOS])
def test_the_same_capability_written_both_ways_gives_the_same_results(
        workspace: Path, fake: Upstream, name: str) -> None:
    original = place(workspace, name)
    other = workspace / f"other-{name}"
    other.write_text(convert_file(original, "naftiko" if name == STEP10_IKANOS else "ikanos"), encoding="utf-8")
    expected = calls(fake)
    served = units(original)
    assert served == [u for u in units(other) if u in served]  # an Ikanos route may also answer to its key
    for unit in served:
        args, _ = expected[unit]
        results = []
        for spec in (original, other):
            fake.journal.clear()
            code, out, err = naftiko_call(spec, unit, *args, upstreams=both_upstreams(fake))
            assert code == 0, (spec.name, unit, err)
            sent = [(r.method, r.path, r.query, r.body, r.headers.get("authorization")) for r in fake.journal.requests]
            results.append((out, sent))
        assert results[0] == results[1], unit
        assert results[0][1], unit  # it did call upstream (03's REST legacy route maps `$.` over XML: raw)


def test_conversion_keeps_the_shared_files_where_they_were(workspace: Path) -> None:
    converted = convert_file(place(workspace, "05-step-10-shipyard-rest-adapter.yml"), "ikanos")
    assert "from: ./shared/step7-registry-consumes.yml" in converted
    shutil.rmtree(workspace / "shared")  # nothing was inlined: the converted text stands alone as written
    assert "step7" in converted
