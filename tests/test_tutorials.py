"""The tutorial capabilities of the corpus (01-07, 10-13) run through `naftiko call` against local fakes.

The fakes (tests/tutorial_fakes.py) serve the Shipyard registry and legacy dockyard from their OpenAPI
fixtures' examples, and the format fixtures for the engine-test capabilities; expectations are derived
from those same fixtures by the mapping rules of the reference (spec notes 3.8-3.12, 4.3, 4.4, 4.9).
Each capability is copied into a temporary folder with the `shared/` folder it imports, and `naftiko
call` runs there, because `file:///./shared/secrets.yaml` binds are relative to the working directory.
Skipped when ../shared is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import corpus_path
from tutorial_fakes import (
    CORPUS,
    FIXTURES,
    LEGACY_OPENAPI,
    REGISTRY_OPENAPI,
    Journal,
    MockedApi,
    echo_routes,
    example,
    load_yaml,
    mounted,
    query_routes,
    request_example,
    serve,
    static_routes,
)

from naftiko_runtime.cli import main

CAPABILITIES = CORPUS / "capabilities"
IMO = "IMO-9321483"  # the worked example's ship (spec notes 4.4)
VOYAGE = "VOY-2026-042"
# Proxies must not capture loopback calls made by the runtime under test.
NO_PROXY: dict[str, str | None] = {name: None for name in (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")}
NO_PROXY["NO_PROXY"] = NO_PROXY["no_proxy"] = "127.0.0.1,localhost"


@dataclass
class Upstream:
    base: str
    journal: Journal
    registry: dict[str, Any]
    legacy: dict[str, Any]
    secrets: dict[str, str]

    def url(self, mount: str) -> str:
        return f"{self.base}/{mount}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    corpus_path()  # skips when the shared corpus is absent
    secrets = load_yaml(CAPABILITIES / "shared" / "secrets.yaml")
    registry, legacy = load_yaml(REGISTRY_OPENAPI), load_yaml(LEGACY_OPENAPI)
    journal = Journal()
    routes = mounted({
        "/registry": MockedApi(registry, {"bearerAuth": secrets["registry-bearer-token"]}, journal).routes(),
        # step11-registry-consumes.yml writes `token: "REGISTRY_TOKEN"` without braces: the reference sends
        # that literal text (spec notes 3.15), so this mount only accepts the literal.
        "/registry-bare": MockedApi(registry, {"bearerAuth": "REGISTRY_TOKEN"}, journal).routes(),
        "/legacy": MockedApi(legacy, {"apiKeyAuth": secrets["dockyard-api-key"]}, journal).routes(),
        "/users": static_routes("/api/users", FIXTURES / "sample-users.xml", "application/xml", journal),
        "/echo": echo_routes("/items", journal),
        "/db": query_routes("/v1/databases/{datasource}/query", load_yaml(FIXTURES / "sample-users.yaml")["users"],
                            journal),
    })
    with serve(routes) as base:
        yield Upstream(base, journal, registry, legacy, secrets)


@pytest.fixture
def fake(upstream: Upstream) -> Upstream:
    upstream.journal.clear()
    return upstream


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the corpus `shared/` files, made the working directory."""
    corpus_path()  # skips when the shared corpus is absent
    shutil.copytree(CAPABILITIES / "shared", tmp_path / "shared")
    # 03/04/05 import shared/step7-registry-consumes.yml, which the corpus does not hold. It is made here
    # from the final step11 file (same `registry` namespace, a superset of the operations), with the bind
    # variables in braces as every other tutorial file writes them, so that the registry secret really
    # flows through an imported consumer (06 covers step11's bare, literal names).
    text = (tmp_path / "shared" / "step11-registry-consumes.yml").read_text(encoding="utf-8")
    braced = text.replace('"REGISTRY_TOKEN"', '"{{REGISTRY_TOKEN}}"').replace(
        '"REGISTRY_VERSION"', '"{{REGISTRY_VERSION}}"')
    assert braced.count("{{REGISTRY_") == 2
    (tmp_path / "shared" / "step7-registry-consumes.yml").write_text(braced, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def place(workspace: Path, name: str) -> Path:
    target = workspace / name
    shutil.copyfile(CAPABILITIES / name, target)
    return target


def naftiko_call(spec: Path, tool: str, *args: str, upstreams: Mapping[str, str] | None = None
                 ) -> tuple[int, Any, str]:
    """`naftiko call` in-process: (exit code, the printed JSON (or raw text) or None, stderr)."""
    argv = ["call", str(spec), tool, *args]
    for namespace, url in (upstreams or {}).items():
        argv += ["--upstream", f"{namespace}={url}"]
    result = CliRunner().invoke(main, argv, env=NO_PROXY, catch_exceptions=False)
    printed: Any = None
    if result.exit_code in (0, 1) and result.stdout.strip():
        try:
            printed = json.loads(result.stdout)
        except ValueError:  # an unmapped non-JSON upstream body is printed as it came
            printed = result.stdout.removesuffix("\n")
    return result.exit_code, printed, result.stderr


# ------------------------------------------------------------------------------ expectations from fixtures


def summary(ship: Mapping[str, Any]) -> dict[str, Any]:
    """The tutorials' five-field ship projection of a registry ship."""
    return {"imo": ship["imo_number"], "name": ship["vessel_name"], "type": ship["vessel_type"],
            "flag": ship["flag_code"], "status": ship["operational_status"]}


def ship_detail(registry: Mapping[str, Any], imo: str) -> dict[str, Any]:
    return example(registry, "get", "/ships/{imo_number}", f"/imo_number={imo}")


def crew_of(registry: Mapping[str, Any], ids: list[str]) -> list[dict[str, Any]]:
    crew = {c["crewId"]: c for c in example(registry, "get", "/crew")}
    return [{"fullName": crew[i]["fullName"], "role": crew[i]["role"]} for i in ids]


def ship_with_crew(registry: Mapping[str, Any], imo: str) -> dict[str, Any]:
    ship = ship_detail(registry, imo)
    return {**summary(ship), "yearBuilt": ship["year_built"], "tonnage": ship["gross_tonnage"],
            "length": ship["dimensions"]["length_overall"], "crew": crew_of(registry, ship["assignedCrew"])}


def legacy_vessels(legacy: Mapping[str, Any], name: str | None = None) -> list[dict[str, str]]:
    """The vessels of a legacy XML example, read with ElementTree, in the tutorials' projection."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(example(legacy, "get", "/vessels", name))
    return [{"vesselCode": v.findtext("vesselCode"), "name": v.findtext("vesselName"), "type": v.findtext("category"),
             "flag": v.findtext("flagState"), "status": v.findtext("operationalStatus")} for v in root]


def registry_headers(fake: Upstream, path_prefix: str) -> set[tuple[str, str]]:
    return {(r.headers.get("authorization", ""), r.headers.get("registry-version", ""))
            for r in fake.journal.to(path_prefix)}


# ------------------------------------------------------------------------------ 01: mock mode


def test_step1_mock_tool_renders_its_values_without_any_upstream(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "01-step-1-shipyard-mock.yml")
    code, out, err = naftiko_call(spec, "get-ship", f"imo_number={IMO}")
    assert code == 0, err
    assert out == {"imo": IMO, "name": "Northern Star", "type": "cargo", "flag": "NO", "status": "active"}
    assert fake.journal.requests == []


# ------------------------------------------------------------------------------ 02: file binds + bearer


def test_step3_get_ship_gives_the_worked_example_output(workspace: Path, fake: Upstream) -> None:
    """Spec notes 4.4, run as a real process: the tool's object output maps the registry example."""
    spec = place(workspace, "02-step-3-shipyard-auth.yml")
    env = {k: v for k, v in os.environ.items() if k not in NO_PROXY}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    done = subprocess.run(
        [sys.executable, "-m", "naftiko_runtime.cli", "call", str(spec), "get-ship", f"imo={IMO}",
         "--upstream", f"registry={fake.url('registry')}"],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out == summary(ship_detail(fake.registry, IMO))
    assert out["name"] == "Northern Star"
    (sent,) = fake.journal.requests
    assert (sent.method, sent.path) == ("GET", f"/registry/ships/{IMO}")
    assert sent.headers["authorization"] == f"Bearer {fake.secrets['registry-bearer-token']}"
    assert sent.headers["registry-version"] == fake.secrets["registry-api-version"]


@pytest.mark.parametrize("status", ["active", "maintenance", None])
def test_step3_list_ships_sends_the_optional_filter_and_maps_every_ship(
        workspace: Path, fake: Upstream, status: str | None) -> None:
    spec = place(workspace, "02-step-3-shipyard-auth.yml")
    args = [f"status={status}"] if status else []
    code, out, err = naftiko_call(spec, "list-ships", *args, upstreams={"registry": fake.url("registry")})
    assert code == 0, err
    ships = example(fake.registry, "get", "/ships", f"?status={status}" if status else "allShips")
    assert out == [summary(s) for s in ships]
    (sent,) = fake.journal.requests
    assert sent.query == ({"status": status} if status else {})


def test_step3_an_unknown_ship_is_an_error_result_without_the_secret(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "02-step-3-shipyard-auth.yml")
    code, out, err = naftiko_call(spec, "get-ship", "imo=IMO-0000000", upstreams={"registry": fake.url("registry")})
    assert code == 1
    assert out["status"] == 404 and out["operation"] == "registry.get-ship"
    assert example(fake.registry, "get", "/ships/{imo_number}", "notFound")["message"] in out["message"]
    assert fake.secrets["registry-bearer-token"] not in json.dumps(out) + err


def test_step3_a_missing_argument_is_reported_before_any_upstream_call(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "02-step-3-shipyard-auth.yml")
    code, out, _ = naftiko_call(spec, "get-ship", upstreams={"registry": fake.url("registry")})
    assert code == 1
    assert out["error"] == "invalid-arguments" and "imo" in out["problems"][0]["message"]
    assert fake.journal.requests == []


# ------------------------------------------------------------------------------ 03: imports, steps, lookup


def test_step7_get_ship_maps_nested_spec_properties_against_the_root(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "03-step-7-shipyard-orchestrated-lookup.yml")
    code, out, err = naftiko_call(spec, "get-ship", f"imo={IMO}", upstreams={"registry": fake.url("registry")})
    assert code == 0, err
    ship = ship_detail(fake.registry, IMO)
    assert out == {**summary(ship), "specs": {"yearBuilt": ship["year_built"], "tonnage": ship["gross_tonnage"],
                                              "length": ship["dimensions"]["length_overall"]}}
    # the imported consumer authenticates with the bound secret (step7 file: braced bind names)
    assert registry_headers(fake, "/registry/") == {
        (f"Bearer {fake.secrets['registry-bearer-token']}", fake.secrets["registry-api-version"])}


@pytest.mark.parametrize("imo", [IMO, "IMO-9456781"])
def test_step7_get_ship_with_crew_resolves_the_crew_by_multi_lookup(
        workspace: Path, fake: Upstream, imo: str) -> None:
    spec = place(workspace, "03-step-7-shipyard-orchestrated-lookup.yml")
    code, out, err = naftiko_call(spec, "get-ship-with-crew", f"imo={imo}",
                                  upstreams={"registry": fake.url("registry")})
    assert code == 0, err
    assert out == ship_with_crew(fake.registry, imo)
    assert [r.path for r in fake.journal.requests] == [f"/registry/ships/{imo}", "/registry/crew"]


def test_step7_create_voyage_sends_the_json_body_and_maps_the_created_voyage(
        workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "03-step-7-shipyard-orchestrated-lookup.yml")
    voyage = request_example(fake.registry, "post", "/voyages")
    code, out, err = naftiko_call(spec, "create-voyage", "--json", json.dumps(voyage),
                                  upstreams={"registry": fake.url("registry")})
    assert code == 0, err
    (sent,) = fake.journal.requests
    assert (sent.method, sent.path, sent.json()) == ("POST", "/registry/voyages", voyage)
    created = example(fake.registry, "post", "/voyages", "created")
    assert out == {
        "voyageId": created["voyageId"], "shipImo": voyage["shipImo"],
        "route": {"from": voyage["departurePort"], "to": voyage["arrivalPort"]},
        "dates": {"departure": voyage["departureDate"], "arrival": voyage["arrivalDate"]},
        "crewIds": created["crewIds"], "cargoIds": created["cargoIds"], "status": created["status"],
    }


def test_step7_legacy_vessels_decode_xml_behind_the_api_key(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "03-step-7-shipyard-orchestrated-lookup.yml")
    code, out, err = naftiko_call(spec, "list-legacy-vessels", upstreams={"legacy": fake.url("legacy")})
    assert code == 0, err
    assert out == legacy_vessels(fake.legacy, "allVessels")
    (sent,) = fake.journal.requests
    assert sent.headers["x-dock-key"] == fake.secrets["dockyard-api-key"]


# ------------------------------------------------------------------------------ 04: aggregates + ref


def test_step9_a_ref_tool_runs_the_aggregate_function_with_inherited_inputs(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "04-step-9-shipyard-aggregates.yml")
    code, out, err = naftiko_call(spec, "get-ship-with-crew", f"imo={IMO}",
                                  upstreams={"registry": fake.url("registry")})
    assert code == 0, err
    assert out == ship_with_crew(fake.registry, IMO)
    code, out, _ = naftiko_call(spec, "get-ship-with-crew", upstreams={"registry": fake.url("registry")})
    assert code == 1 and out["error"] == "invalid-arguments"  # `imo` is required by the function


# ------------------------------------------------------------------------------ 05: REST adapter


def test_step10_rest_operations_run_when_named_by_route(workspace: Path, fake: Upstream) -> None:
    """Every REST operation name of 05 is also an MCP tool name, so routes are named as `naftiko list` prints."""
    spec = place(workspace, "05-step-10-shipyard-rest-adapter.yml")
    registry = {"registry": fake.url("registry")}
    code, out, err = naftiko_call(spec, "GET /ships/{{imo}}/crew", f"imo={IMO}", upstreams=registry)
    assert code == 0, err
    assert out == ship_with_crew(fake.registry, IMO)  # `ref` to the aggregate function
    code, out, err = naftiko_call(spec, "GET /ships/{imo}", f"imo={IMO}", upstreams=registry)
    assert code == 0, err
    assert out["imo"] == IMO and out["specs"]["yearBuilt"] == ship_detail(fake.registry, IMO)["year_built"]
    code, out, err = naftiko_call(spec, "GET /ships", "status=maintenance", upstreams=registry)
    assert code == 0, err
    assert out == [summary(s) for s in example(fake.registry, "get", "/ships", "?status=maintenance")]


def test_step10_a_rest_route_requires_its_path_inputs(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "05-step-10-shipyard-rest-adapter.yml")
    code, out, _ = naftiko_call(spec, "GET /ships/{{imo}}/crew", upstreams={"registry": fake.url("registry")})
    assert code == 1
    assert out["error"] == "invalid-arguments" and out["operation"] == "get-ship-with-crew"
    assert fake.journal.requests == []


def test_step10_a_rest_post_takes_its_body_inputs_as_arguments(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "05-step-10-shipyard-rest-adapter.yml")
    voyage = request_example(fake.registry, "post", "/voyages")
    code, out, err = naftiko_call(spec, "POST /voyages", "--json", json.dumps(voyage),
                                  upstreams={"registry": fake.url("registry")})
    assert code == 0, err
    assert fake.journal.requests[0].json() == voyage
    assert out["route"] == {"from": voyage["departurePort"], "to": voyage["arrivalPort"]}
    assert out["crewIds"] == voyage["crewIds"]


# ------------------------------------------------------------------------------ 06: fleet manifest


def test_step11_voyage_manifest_assembles_ship_crew_and_cargo(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "06-step-11-shipyard-fleet-manifest.yml")
    code, out, err = naftiko_call(spec, "get-voyage-manifest", f"voyageId={VOYAGE}",
                                  upstreams={"registry": fake.url("registry-bare")})
    assert code == 0, err
    voyage = example(fake.registry, "get", "/voyages/{voyageId}", f"/voyageId={VOYAGE}")
    ship = next(s for s in example(fake.registry, "get", "/ships", "allShips") if s["imo_number"] == voyage["shipImo"])
    cargo = {c["cargoId"]: c for c in example(fake.registry, "get", "/cargo")}
    assert out == {
        "voyageId": voyage["voyageId"], "status": voyage["status"],
        "route": {"from": voyage["departurePort"], "to": voyage["arrivalPort"]},
        "ship": {"name": ship["vessel_name"], "type": ship["vessel_type"], "flag": ship["flag_code"]},
        "crew": crew_of(fake.registry, voyage["crewIds"]),
        "cargo": [{k: cargo[i][k] for k in ("type", "description", "weight", "hazardous")}
                  for i in voyage["cargoIds"]],
    }
    # bare `REGISTRY_TOKEN` / `REGISTRY_VERSION` are literal text, as in the reference
    assert registry_headers(fake, "/registry-bare/") == {("Bearer REGISTRY_TOKEN", "REGISTRY_VERSION")}


# ------------------------------------------------------------------------------ 07: xml


def test_step11_bare_bind_names_are_refused_by_a_registry_expecting_the_secret(
        workspace: Path, fake: Upstream) -> None:
    """The fakes really check credentials: step11's literal `REGISTRY_TOKEN` is not the bound secret."""
    spec = place(workspace, "06-step-11-shipyard-fleet-manifest.yml")
    code, out, _ = naftiko_call(spec, "get-ship", f"imo={IMO}", upstreams={"registry": fake.url("registry")})
    assert code == 1
    assert out["status"] == 401 and out["operation"] == "registry.get-ship"


def test_step11_legacy_vessels_send_the_status_filter_behind_the_api_key(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "06-step-11-shipyard-fleet-manifest.yml")
    code, _, err = naftiko_call(spec, "list-legacy-vessels", "status=laid_up", upstreams={"legacy": fake.url("legacy")})
    assert code == 0, err
    (sent,) = fake.journal.requests
    assert sent.query == {"status": "laid_up"}
    assert sent.headers["x-dock-key"] == fake.secrets["dockyard-api-key"]


def test_step11_a_single_legacy_vessel_maps_nothing_so_the_raw_body_passes_through(
        workspace: Path, fake: Upstream) -> None:
    """One <vessel> under the dropped root is an object, not an array: `$.vessel` gives null (spec notes
    3.10 rule 2), so the reference passes the raw XML through (rule 6)."""
    spec = place(workspace, "06-step-11-shipyard-fleet-manifest.yml")
    code, out, err = naftiko_call(spec, "list-legacy-vessels", "status=laid_up",
                                  upstreams={"legacy": fake.url("legacy")})
    assert code == 0, err
    assert out == example(fake.legacy, "get", "/vessels", "?status=laid_up")


def test_xml_root_path_maps_nothing_so_the_raw_body_passes_through(workspace: Path, fake: Upstream) -> None:
    """The engine drops the XML root, so 07's `$.root.user` finds nothing (spec notes 4.9)."""
    spec = place(workspace, "07-xml-capability.yaml")
    code, out, err = naftiko_call(spec, "GET /xml/users", upstreams={"mock-xml": fake.url("users")})
    assert code == 0, err
    assert [r.path for r in fake.journal.requests] == ["/users/api/users"]
    assert out == (FIXTURES / "sample-users.xml").read_text(encoding="utf-8")


def test_xml_without_the_root_in_the_path_maps_every_user(workspace: Path, fake: Upstream) -> None:
    """The effective path for sample-users.xml is `$.user`; text-only elements stay strings."""
    spec = place(workspace, "07-xml-capability.yaml")
    text = spec.read_text(encoding="utf-8")
    assert '"$.root.user"' in text
    spec.write_text(text.replace('"$.root.user"', '"$.user"'), encoding="utf-8")
    code, out, err = naftiko_call(spec, "GET /xml/users", upstreams={"mock-xml": fake.url("users")})
    assert code == 0, err
    users = load_yaml(FIXTURES / "sample-users.yaml")["users"]  # the same users as the XML fixture
    assert out == [{"id": u["id"], "name": u["name"], "email": u["email"]} for u in users]


# ------------------------------------------------------------------------------ 10: header, query, body


@pytest.mark.parametrize("name", ["search", "POST /search"])
def test_header_query_capability_sends_the_body_input_as_a_query_value(
        workspace: Path, fake: Upstream, name: str) -> None:
    spec = place(workspace, "10-http-header-query-capability.yaml")
    code, out, err = naftiko_call(spec, name, "userId=user-42", upstreams={"testns": fake.url("echo")})
    assert code == 0, err
    # no outputParameters: the upstream body passes through
    assert out == {"method": "POST", "path": "/echo/items", "query": {"q": "user-42"}}
    (sent,) = fake.journal.requests
    assert sent.headers["x-api-key"] == "ABC123"


# ------------------------------------------------------------------------------ 11, 12: forward only


@pytest.mark.parametrize(("name", "tool"), [
    ("11-http-forward-value-capability.yaml", "forward"),
    ("12-register-basic-forward.yml", "get-my-user"),  # a consumed operation, never exposed
])
def test_forward_only_capabilities_have_nothing_to_call(workspace: Path, name: str, tool: str) -> None:
    """A forward resource has no operation: `naftiko call` can only say so (forwarding is served by REST)."""
    spec = place(workspace, name)
    result = CliRunner().invoke(main, ["call", str(spec), tool], env=NO_PROXY, catch_exceptions=False)
    assert result.exit_code == 2
    assert "no tool or REST operation" in result.stderr and "available: none" in result.stderr


# ------------------------------------------------------------------------------ 13: MCP tools


def test_mcp_capability_tool_posts_the_raw_body_and_maps_each_result(workspace: Path, fake: Upstream) -> None:
    spec = place(workspace, "13-mcp-resources-prompts-capability.yaml")
    code, out, err = naftiko_call(spec, "query-database", upstreams={"mock-api": fake.url("db/v1")})
    assert code == 0, err
    assert out == [{"id": u["id"]} for u in load_yaml(FIXTURES / "sample-users.yaml")["users"]]
    (sent,) = fake.journal.requests
    assert (sent.method, sent.path) == ("POST", "/db/v1/databases/test-db-id-123/query")
    assert sent.json() == {"filter": {"property": "Status", "select": {"equals": "Committed"}}}
    assert sent.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("name", ["database-schema", "user-profile", "participant-outreach"])
def test_mcp_resources_and_prompts_are_not_callable(workspace: Path, name: str) -> None:
    spec = place(workspace, "13-mcp-resources-prompts-capability.yaml")
    result = CliRunner().invoke(main, ["call", str(spec), name], env=NO_PROXY, catch_exceptions=False)
    assert result.exit_code == 2
    assert "available: query-database" in result.stderr
