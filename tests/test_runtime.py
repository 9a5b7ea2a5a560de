"""The runtime executes tools the same way whatever adapter asks: wiring, steps, mocks, refs, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from naftiko_runtime import app
from naftiko_runtime.errors import BindingError, InputError, InvocationError, ShuttingDown, UpstreamError
from naftiko_runtime.load import load_text
from naftiko_runtime.model import Capability, Tool, plain
from naftiko_runtime.runtime import CallContext
from naftiko_runtime.runtime.calls import index_entries, lookup
from naftiko_runtime.templates import render_native
from naftiko_runtime.validate import check_documents

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def capability(text: str, tmp_path: Path | None = None) -> Capability:
    path = (tmp_path or ROOT) / "capability.yaml"
    checked, diagnostics = check_documents([load_text(text, path)])
    errors = [d for d in diagnostics if d.severity == "error"]
    assert not errors, [str(e) for e in errors]
    assert checked[0].capability is not None
    return checked[0].capability


def tool(cap: Capability, name: str) -> Tool:
    return next(t for t in cap.tools() if t.name == name)


class Upstream:
    """A recording fake upstream answering from a route table."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = routes
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx2.Response(404, json={"message": f"no route {request.url.path}"})
        if isinstance(answer, httpx2.Response):
            return answer
        return httpx2.Response(200, json=answer)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)


SHIPS = """
naftiko: "1.0.0-alpha2"
info: {label: Ships, description: Ship registry tools}
binds:
  - namespace: env
    keys: {REGISTRY_TOKEN: TEST_REGISTRY_TOKEN}
capability:
  consumes:
    - type: http
      namespace: registry
      baseUri: https://registry.example.test/v1
      authentication: {type: bearer, token: "{{env.REGISTRY_TOKEN}}"}
      resources:
        - name: ships
          path: /ships
          operations:
            - name: list-ships
              method: GET
              inputParameters:
                - {name: status, in: query}
        - name: ship
          path: /ships/{{imo}}
          operations:
            - name: get-ship
              method: GET
  aggregates:
    - label: Fleet
      namespace: fleet
      functions:
        - name: find-ship
          description: Look a ship up by IMO number.
          semantics: {safe: true, idempotent: true}
          inputParameters:
            - {name: imo, type: string, description: IMO number}
          call: registry.get-ship
          with: {imo: fleet.imo}
          outputParameters:
            - type: object
              properties:
                name: {type: string, mapping: $.vessel_name}
  exposes:
    - type: mcp
      namespace: shipyard
      port: 9191
      tools:
        - name: get-ship
          description: One ship.
          inputParameters:
            - {name: imo, type: string, description: IMO number}
          call: registry.get-ship
          with: {imo: shipyard.imo}
          outputParameters:
            - type: object
              properties:
                imo: {type: string, mapping: $.imo_number}
                name: {type: string, mapping: $.vessel_name}
                flag: {type: string, mapping: $.flag}
        - name: list-active
          description: Ships in service, with a fixed filter.
          call: registry.list-ships
          with: {status: active}
        - name: ship-by-ref
          ref: fleet.find-ship
        - name: crew-summary
          description: Ship and its captain, from two steps.
          inputParameters:
            - {name: imo, type: string, description: IMO number}
          steps:
            - {type: call, name: ship, call: registry.get-ship, with: {imo: shipyard.imo}}
            - {type: call, name: fleet, call: registry.list-ships}
            - type: lookup
              name: captain
              index: fleet
              match: imo_number
              lookupValue: $.ship.imo_number
              outputParameters: [captain]
          mappings:
            - {targetName: ship.name, value: $.ship.vessel_name}
            - {targetName: ship.captain, value: $.captain.captain}
        - name: hello
          description: A mock greeting.
          inputParameters:
            - {name: who, type: string, description: who to greet}
          outputParameters:
            - {name: greeting, type: string, value: "Hello, {{who}}!"}
"""

SHIP = {"imo_number": "IMO-1", "vessel_name": "Aurora", "flag": "NO"}
FLEET = [{"imo_number": "IMO-0", "captain": "Ann"}, {"imo_number": "IMO-1", "captain": "Bo"}]


def ships_upstream() -> Upstream:
    return Upstream({("GET", "/v1/ships/IMO-1"): SHIP, ("GET", "/v1/ships"): FLEET})


async def run(cap: Capability, name: str, args: dict[str, Any], upstream: Upstream,
              env: dict[str, str] | None = None) -> Any:
    env = {"TEST_REGISTRY_TOKEN": "s3cr3t-token"} if env is None else env
    async with app.runtime([cap], env, transports={"registry": upstream.transport()}) as runtime:
        return await runtime.invoke(tool(cap, name), args)


@pytest.mark.anyio
async def test_call_maps_outputs_and_sends_the_bound_token() -> None:
    upstream = ships_upstream()
    result = await run(capability(SHIPS), "get-ship", {"imo": "IMO-1"}, upstream)
    assert result == {"imo": "IMO-1", "name": "Aurora", "flag": "NO"}
    assert upstream.requests[0].headers["authorization"] == "Bearer s3cr3t-token"


@pytest.mark.anyio
async def test_literal_with_values_reach_the_query() -> None:
    upstream = ships_upstream()
    result = await run(capability(SHIPS), "list-active", {}, upstream)
    assert result == FLEET  # nothing mapped: the raw body passes through
    assert upstream.requests[0].url.params["status"] == "active"


@pytest.mark.anyio
async def test_ref_runs_the_aggregate_function_and_derives_hints() -> None:
    cap = capability(SHIPS)
    ref_tool = tool(cap, "ship-by-ref")
    assert ref_tool.description == "Look a ship up by IMO number."
    assert ref_tool.annotations["readOnlyHint"] is True and ref_tool.annotations["idempotentHint"] is True
    assert plain(ref_tool.input_schema)["required"] == ["imo"]
    assert await run(cap, "ship-by-ref", {"imo": "IMO-1"}, ships_upstream()) == {"name": "Aurora"}


@pytest.mark.anyio
async def test_steps_lookup_and_mappings_build_a_nested_result() -> None:
    result = await run(capability(SHIPS), "crew-summary", {"imo": "IMO-1"}, ships_upstream())
    assert result == {"ship": {"name": "Aurora", "captain": "Bo"}}


@pytest.mark.anyio
async def test_mock_tool_renders_without_any_upstream() -> None:
    upstream = ships_upstream()
    assert await run(capability(SHIPS), "hello", {"who": "crew"}, upstream) == {"greeting": "Hello, crew!"}
    assert upstream.requests == []


@pytest.mark.anyio
async def test_bad_arguments_fail_before_any_upstream_call() -> None:
    upstream = ships_upstream()
    with pytest.raises(InputError) as caught:
        await run(capability(SHIPS), "get-ship", {"imo": 7, "extra": True}, upstream)
    assert upstream.requests == []
    assert caught.value.operation == "get-ship"
    assert [p["pointer"] for p in caught.value.problems] == ["/", "/imo"]  # `extra` is not an argument


@pytest.mark.anyio
async def test_missing_required_argument_is_reported() -> None:
    with pytest.raises(InputError) as caught:
        await run(capability(SHIPS), "get-ship", {}, ships_upstream())
    assert "imo" in caught.value.problems[0]["message"]


@pytest.mark.anyio
async def test_upstream_failure_names_operation_status_and_message_without_the_token() -> None:
    upstream = Upstream({("GET", "/v1/ships/IMO-9"): httpx2.Response(
        403, json={"message": "token s3cr3t-token may not read IMO-9"})})
    with pytest.raises(UpstreamError) as caught:
        await run(capability(SHIPS), "get-ship", {"imo": "IMO-9"}, upstream)
    error = caught.value
    assert error.status == 403
    assert error.operation == "registry.get-ship"
    assert "may not read IMO-9" in str(error)
    assert "s3cr3t-token" not in str(error) and "s3cr3t-token" not in json.dumps(error.as_dict())


@pytest.mark.anyio
async def test_every_missing_bind_variable_is_named_at_start() -> None:
    with pytest.raises(BindingError) as caught:
        await run(capability(SHIPS), "hello", {"who": "x"}, ships_upstream(), env={})
    assert len(caught.value.missing) == 1
    assert "TEST_REGISTRY_TOKEN" in caught.value.missing[0]  # the environment variable to set


def test_a_whole_template_keeps_the_json_type_of_its_value() -> None:
    context = {"ids": ["A", "B"], "n": 3, "name": "x"}
    assert render_native("{{ids}}", context) == ["A", "B"]
    assert render_native({"count": "{{n}}", "label": "n={{n}}"}, context) == {"count": 3, "label": "n=3"}
    assert render_native("{{name}}", context) == "x"


def test_lookup_matches_as_text_and_handles_lists_of_values() -> None:
    index = [{"id": 1, "v": "a"}, {"id": "2", "v": "b"}]
    assert lookup(index, "id", "1", ("v",)) == {"v": "a"}
    assert lookup(index, "id", ["2", "9", 1], ("v",)) == [{"v": "b"}, {"v": "a"}]
    assert lookup(index, "id", "9", ("v",)) is None


HMS = ROOT / "capabilities" / "hms-live-streams.yaml"


@pytest.mark.anyio
async def test_sandbox_runs_the_bundled_capability_without_a_token() -> None:
    cap = capability(HMS.read_text(encoding="utf-8"))
    room = "665f1c2e9a1b2c3d4e5f6a7b"
    async with app.runtime([cap], {}, sandbox=True) as runtime:
        started = await runtime.invoke(tool(cap, "hms-start-live-stream"), {"room_id": room, "body": {}})
        listed = await runtime.invoke(tool(cap, "hms-list-live-streams"), {"room_id": room})
    assert started["room_id"] == room and started["status"] == "starting"
    assert [s["id"] for s in listed["data"]] == [started["id"]]


@pytest.mark.anyio
async def test_runtimes_sharing_a_sandbox_process_see_one_state() -> None:
    """``--sandbox --workers N``: every worker's runtime calls the one simulator process over HTTP."""
    from naftiko_runtime.sandbox.shared import SharedSandbox

    cap = capability(HMS.read_text(encoding="utf-8"))
    shared = SharedSandbox()
    try:
        urls = shared.start(app.simulated_hosts([cap]))
        assert list(urls) == ["api.100ms.live"]
        async with app.runtime([cap], {}, sandbox=True, shared_sandbox=urls) as one, \
                app.runtime([cap], {}, sandbox=True, shared_sandbox=urls) as two:
            started = await one.invoke(tool(cap, "hms-start-live-stream"), {"room_id": "665f1c2e9a1b2c3d4e5f6a7b",
                                                                           "body": {}})
            found = await two.invoke(tool(cap, "hms-get-live-stream"), {"stream_id": started["id"]})
        assert found["id"] == started["id"]
        assert [(u.target, u.url) for u in one.upstreams] == [("sandbox", urls["api.100ms.live"] + "/v2")]
    finally:
        shared.close()
    assert shared.pid is None


@pytest.mark.anyio
async def test_upstream_override_replaces_the_base_uri() -> None:
    cap = capability(HMS.read_text(encoding="utf-8"))
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return httpx2.Response(200, json={"limit": 10, "data": [], "last": ""})

    async with app.runtime([cap], {"HMS_MANAGEMENT_TOKEN": "tok-123"},
                           upstreams={"live-streams": "http://127.0.0.1:1/v2"},
                           transports={"live-streams": httpx2.MockTransport(handler)}) as runtime:
        await runtime.invoke(tool(cap, "hms-list-live-streams"), {"limit": 20})
    assert seen == ["http://127.0.0.1:1/v2/live-streams?limit=20"]


def test_a_lookup_searches_the_single_array_of_an_enveloped_projection() -> None:
    rows = [{"id": 1}]
    assert index_entries({"streams": rows}) is rows
    assert index_entries(rows) is rows
    assert index_entries({"a": rows, "b": rows}) == {"a": rows, "b": rows}  # ambiguous: no match


XML_CAPABILITY = """
naftiko: "1.0.0-alpha2"
info: {label: Users, description: Users from an XML API}
capability:
  consumes:
    - type: http
      namespace: users-api
      baseUri: https://users.example.test
      resources:
        - name: users
          path: /users
          operations:
            - {name: list-users, method: GET, outputRawFormat: xml}
  exposes:
    - type: mcp
      namespace: users
      port: 9192
      tools:
        - name: list-users
          description: Users, mapped.
          call: users-api.list-users
          outputParameters:
            - {type: array, mapping: $.user, items: {type: object, properties: {name: {type: string, mapping: $.name}}}}
        - name: list-users-raw
          description: Users, as the API sends them.
          call: users-api.list-users
          outputParameters:
            - {type: array, mapping: $.root.user}
"""
USERS_XML = b"<users><user><name>Ann</name></user><user><name>Bo</name></user></users>"


@pytest.mark.anyio
async def test_xml_is_mapped_and_an_unmapped_body_passes_through_as_the_upstream_text() -> None:
    from naftiko_runtime.formats import RawBody

    cap = capability(XML_CAPABILITY)
    upstream = Upstream({("GET", "/users"): httpx2.Response(
        200, content=USERS_XML, headers={"content-type": "application/xml"})})
    async with app.runtime([cap], {}, transports={"users-api": upstream.transport()}) as runtime:
        mapped = await runtime.invoke(tool(cap, "list-users"), {})
        raw = await runtime.invoke(tool(cap, "list-users-raw"), {})
    assert mapped == [{"name": "Ann"}, {"name": "Bo"}]
    assert isinstance(raw, RawBody) and raw == USERS_XML.decode() and raw.media_type == "application/xml"


@pytest.mark.anyio
async def test_arguments_that_cannot_travel_as_utf8_are_refused() -> None:
    upstream = ships_upstream()
    with pytest.raises(InputError) as caught:
        await run(capability(SHIPS), "get-ship", {"imo": "\ud800"}, upstream)
    assert [p["pointer"] for p in caught.value.problems] == ["/imo"] and upstream.requests == []


@pytest.mark.anyio
async def test_a_bound_secret_echoed_by_the_upstream_is_masked_in_the_result() -> None:
    echo = Upstream({("GET", "/v1/ships/IMO-1"): {**SHIP, "vessel_name": "token s3cr3t-token"}})
    result = await run(capability(SHIPS), "get-ship", {"imo": "IMO-1"}, echo)
    assert result["name"] == "token ***"


def test_the_map_form_and_max_length_are_valid_spec() -> None:
    old = "                flag: {type: string, mapping: $.flag}"
    new = ("                flag: {type: string, mapping: $.flag, maxLength: 2}\n"
           "                specs: {type: object, mapping: $.specs, values: {type: string, mapping: $.unit}}")
    text = SHIPS.replace(old, new)
    cap = capability(text)  # asserts no error diagnostics
    invocation = tool(cap, "get-ship").invocation
    assert invocation is not None
    properties = dict(invocation.outputs[0].properties)
    assert properties["flag"].max_length == 2
    assert properties["specs"].values is not None and properties["specs"].values.mapping == "$.unit"


@pytest.mark.anyio
async def test_capability_level_binds_resolve_like_root_ones() -> None:
    root_binds = """binds:
  - namespace: env
    keys: {REGISTRY_TOKEN: TEST_REGISTRY_TOKEN}
capability:
"""
    moved = SHIPS.replace(root_binds, """capability:
  binds:
    - namespace: env
      keys: {REGISTRY_TOKEN: TEST_REGISTRY_TOKEN}
""")
    assert moved != SHIPS
    upstream = ships_upstream()
    await run(capability(moved), "get-ship", {"imo": "IMO-1"}, upstream)
    assert upstream.requests[0].headers["authorization"] == "Bearer s3cr3t-token"


@pytest.mark.anyio
async def test_closing_the_runtime_closes_every_upstream_client() -> None:
    cap = capability(SHIPS)
    transports = {"registry": ships_upstream().transport()}
    runtime = app.runtime([cap], {"TEST_REGISTRY_TOKEN": "t0k3n"}, transports=transports)
    async with runtime:
        consumer = runtime.owner(tool(cap, "get-ship")).consumers["registry"]
        await runtime.invoke(tool(cap, "get-ship"), {"imo": "IMO-1"})
    with pytest.raises(RuntimeError):  # a closed consumer refuses to send
        await consumer.call(cap.operation("registry.get-ship"), {"imo": "IMO-1"})


# ------------------------------------------------------------------------ every unit kind, one runtime

EVERY_KIND = """
naftiko: "1.0.0-alpha2"
info: {label: Kinds, description: Every unit kind through Runtime.invoke}
binds:
  - namespace: env
    keys: {REGION: TEST_REGION}
capability:
  consumes:
    - type: http
      namespace: registry
      baseUri: https://registry.example.test/v1
      resources:
        - name: ship
          path: /ships/{{imo}}
          operations:
            - name: get-ship
              method: GET
        - name: ships
          path: /ships
          operations:
            - name: register-ship
              method: POST
              inputParameters:
                - {name: body, in: body, type: object}
  aggregates:
    - label: Fleet
      namespace: fleet
      functions:
        - name: ship-name
          description: A ship's name.
          inputParameters:
            - {name: imo, type: string, description: IMO number}
          call: registry.get-ship
          with: {imo: fleet.imo}
          outputParameters:
            - {type: string, mapping: $.vessel_name}
  exposes:
    - type: mcp
      namespace: shipyard
      port: 9193
      tools:
        - name: register
          description: Register a ship.
          inputParameters:
            - {name: ship, type: object, description: the ship}
          call: registry.register-ship
          with: {body: shipyard.ship}
      resources:
        - name: ship
          label: Ship
          uri: ships://{imo}
          description: One ship.
          call: registry.get-ship
      prompts:
        - name: brief
          label: Brief
          description: Brief a captain.
          arguments:
            - {name: captain, description: who}
          template:
            - {role: user, content: "Brief {{captain}} in {{REGION}}."}
            - {role: assistant, content: "Aye."}
    - type: rest
      namespace: api
      port: 9194
      resources:
        - path: /ships/{{imo}}/name
          operations:
            - method: GET
              name: name-of
              inputParameters:
                - {name: imo, in: path, type: string, description: IMO number}
                - {name: region, in: query, type: string, description: fixed, value: "{{REGION}}-1"}
              ref: fleet.ship-name
"""


def every_kind_upstream() -> Upstream:
    return Upstream({
        ("GET", "/v1/ships/IMO-1"): SHIP,
        ("POST", "/v1/ships"): httpx2.Response(201, json={"registered": True}),
    })


@pytest.mark.anyio
async def test_invoke_runs_tools_routes_resources_prompts_and_functions_alike() -> None:
    cap = capability(EVERY_KIND)
    upstream = every_kind_upstream()
    (resource,) = cap.mcp[0].resources
    (prompt,) = cap.mcp[0].prompts
    route = next(cap.routes())
    function = cap.functions["fleet.ship-name"]
    async with app.runtime([cap], {"TEST_REGION": "eu"}, transports={"registry": upstream.transport()}) as runtime:
        assert await runtime.invoke(function, {"imo": "IMO-1"}) == "Aurora"
        assert await runtime.invoke(resource, {"imo": "IMO-1"}) == SHIP
        assert await runtime.invoke(route, {"imo": "IMO-1"}) == "Aurora"
        # A route constant is rendered over the binds; callers cannot set it.
        with pytest.raises(InputError):
            await runtime.invoke(route, {"imo": "IMO-1", "region": "us"})
        # A prompt renders the caller's arguments only: bind variables never reach it.
        assert await runtime.invoke(prompt, {"captain": "Ann"}) == [("user", "Brief Ann in ."), ("assistant", "Aye.")]
    assert [r.url.path for r in upstream.requests] == ["/v1/ships/IMO-1"] * 3


@pytest.mark.anyio
async def test_the_call_context_records_the_upstream_status_of_a_single_call() -> None:
    cap = capability(EVERY_KIND)
    upstream = every_kind_upstream()
    context = CallContext()
    async with app.runtime([cap], {"TEST_REGION": "eu"}, transports={"registry": upstream.transport()}) as runtime:
        result = await runtime.invoke(tool(cap, "register"), {"ship": {"imo": "IMO-2"}}, context)
    assert result == {"registered": True}
    assert context.status == 201
    assert json.loads(upstream.requests[0].content) == {"imo": "IMO-2"}


@pytest.mark.anyio
async def test_a_unit_of_another_runtime_is_refused_by_name() -> None:
    served, other = capability(SHIPS), capability(EVERY_KIND)
    async with app.runtime([served], {"TEST_REGISTRY_TOKEN": "t"}) as runtime:
        with pytest.raises(InvocationError, match="register is not served by this runtime"):
            await runtime.invoke(tool(other, "register"), {"ship": {}})


ENV_ONLY = """
naftiko: "1.0.0-alpha2"
info: {label: Env, description: A credential read from the environment without a binds entry}
capability:
  consumes:
    - type: http
      namespace: registry
      baseUri: https://registry.example.test/v1
      authentication: {type: apikey, key: X-Api-Key, value: "{{env.NAFTIKO_TEST_API_KEY}}"}
      resources:
        - name: ship
          path: /ships/{{imo}}
          operations:
            - {name: get-ship, method: GET}
  exposes:
    - type: mcp
      namespace: shipyard
      port: 9195
      tools:
        - name: get-ship
          description: One ship.
          inputParameters:
            - {name: imo, type: string, description: IMO number}
          call: registry.get-ship
          with: {imo: shipyard.imo}
"""


@pytest.mark.anyio
async def test_an_undeclared_env_template_reads_the_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "capability.yaml"
    path.write_text(ENV_ONLY, encoding="utf-8")
    loaded = app.load([path], {})
    assert [(d.code, str(d.severity)) for d in loaded.diagnostics] == [("undeclared-env-variable", "warning")]
    (cap,) = loaded.capabilities
    with pytest.raises(BindingError) as missing:
        app.runtime([cap], {})
    assert missing.value.missing == ("NAFTIKO_TEST_API_KEY",)
    upstream = ships_upstream()
    async with app.runtime([cap], {"NAFTIKO_TEST_API_KEY": "k-123"},
                           transports={"registry": upstream.transport()}) as runtime:
        assert (await runtime.invoke(tool(cap, "get-ship"), {"imo": "IMO-1"}))["vessel_name"] == "Aurora"
    assert upstream.requests[0].headers["x-api-key"] == "k-123"


CAPTAIN = SHIPS.replace("""        - name: hello
""", """        - name: captain-of
          description: The captain of one ship, or null.
          inputParameters:
            - {name: imo, type: string, description: IMO number}
          steps:
            - {type: call, name: fleet, call: registry.list-ships}
            - {type: lookup, name: found, index: fleet, match: imo_number, lookupValue: "{{imo}}",
               outputParameters: [captain]}
          mappings:
            - {targetName: imo, value: $.imo}
            - {targetName: captain, value: $.found.captain}
          outputParameters:
            - {name: imo, type: string}
            - {name: captain, type: string}
        - name: hello
""")


@pytest.mark.anyio
async def test_a_declared_result_shape_is_kept_when_nothing_is_found() -> None:
    """Mappings may read the unit's own inputs (`$.imo`); the declared fields are always there, null
    when the steps found nothing, instead of the last call's raw answer (the reference's fallback)."""
    cap = capability(CAPTAIN)
    assert await run(cap, "captain-of", {"imo": "IMO-1"}, ships_upstream()) == {"imo": "IMO-1", "captain": "Bo"}
    assert await run(cap, "captain-of", {"imo": "IMO-7"}, ships_upstream()) == {"imo": "IMO-7", "captain": None}


@pytest.mark.anyio
async def test_idle_waits_for_the_running_calls_and_cut_ends_them_with_a_retryable_error() -> None:
    cap = capability(SHIPS)
    arrived, release = anyio.Event(), anyio.Event()

    async def slow(request: httpx2.Request) -> httpx2.Response:
        arrived.set()
        await release.wait()
        return httpx2.Response(200, json=SHIP)

    outcomes: list[Any] = []

    async def call(runtime: Any) -> None:
        try:
            outcomes.append(await runtime.invoke(tool(cap, "get-ship"), {"imo": "IMO-1"}))
        except ShuttingDown as exc:
            outcomes.append(exc)

    env = {"TEST_REGISTRY_TOKEN": "t"}
    async with app.runtime([cap], env, transports={"registry": httpx2.MockTransport(slow)}) as runtime:
        await runtime.idle()  # nothing running: returns at once
        async with anyio.create_task_group() as group:
            group.start_soon(call, runtime)
            await arrived.wait()
            assert runtime.in_flight == 1
            with anyio.move_on_after(0.05) as waited:  # still running: idle() does not return
                await runtime.idle()
            assert waited.cancelled_caught
            release.set()
            await runtime.idle()
        assert runtime.in_flight == 0 and outcomes == [{"imo": "IMO-1", "name": "Aurora", "flag": "NO"}]

        arrived, release = anyio.Event(), anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(call, runtime)
            await arrived.wait()
            runtime.cut()
            await runtime.idle()
    cut = outcomes[1]
    assert isinstance(cut, ShuttingDown) and cut.retry_after == 1 and runtime.in_flight == 0
