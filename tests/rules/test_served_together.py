"""Exposures served together: what can share an address:port and what cannot."""

from __future__ import annotations

from pathlib import Path

from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.validate import validate_paths

HEAD = """\
naftiko: "1.0.0-alpha2"
info:
  label: Served together
  description: One of several capabilities served by one process.
capability:
  exposes:
"""


def _mcp(namespace: str, port: int, tool: str = "ping", address: str | None = None) -> str:
    where = f"      address: {address}\n" if address else ""
    return f"""\
    - type: mcp
{where}      port: {port}
      namespace: {namespace}
      tools:
        - name: {tool}
          description: Answers with a constant.
          outputParameters:
            - name: answer
              type: string
              value: pong
"""


def _rest(namespace: str, port: int, path: str, address: str | None = None) -> str:
    where = f"      address: {address}\n" if address else ""
    return f"""\
    - type: rest
{where}      port: {port}
      namespace: {namespace}
      resources:
        - path: {path}
          description: A constant answer.
          operations:
            - name: answer
              method: GET
              outputParameters:
                - type: string
                  value: pong
"""


def _skill(namespace: str, port: int) -> str:
    return f"""\
    - type: skill
      port: {port}
      namespace: {namespace}
      skills:
        - name: {namespace}-skill
          description: A descriptive skill.
"""


def _control(port: int) -> str:
    return f"    - type: control\n      port: {port}\n"


def _validate(tmp_path: Path, *exposes: str) -> list[Diagnostic]:
    """One capability file per argument, validated (and so served) together."""
    paths = []
    for i, text in enumerate(exposes):
        path = tmp_path / f"cap{i}.yaml"
        path.write_text(HEAD + text, encoding="utf-8")
        paths.append(path)
    _, diagnostics = validate_paths(paths, env={}, together=True)
    return diagnostics


def _summary(diagnostics: list[Diagnostic]) -> list[tuple[str, str]]:
    return [(Path(d.location.file).name, d.code) for d in diagnostics]


def test_mcp_rest_and_skill_share_one_port(tmp_path: Path) -> None:
    text = _mcp("a-mcp", 3000) + _rest("a-rest", 3000, "/answer") + _skill("a-skills", 3000)
    assert _validate(tmp_path, text) == []


def test_same_tool_name_on_a_shared_port_clashes_in_the_union_at_mcp(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _mcp("a-mcp", 3000), _mcp("b-mcp", 3000))
    assert _summary(diagnostics) == [("cap1.yaml", "tool-name-duplicate")]
    assert Path(diagnostics[0].related[0].file).name == "cap0.yaml"


def test_same_tool_name_on_different_ports_is_fine(tmp_path: Path) -> None:
    assert _validate(tmp_path, _mcp("a-mcp", 3000), _mcp("b-mcp", 3001)) == []


def test_two_mcp_exposures_of_one_capability_on_one_port_need_distinct_tool_names(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _mcp("a-mcp", 3000) + _mcp("b-mcp", 3000))
    assert _summary(diagnostics) == [("cap0.yaml", "tool-name-duplicate")]


def test_same_mcp_namespace_on_a_shared_port_would_share_its_path(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _mcp("a-mcp", 3000, "one"), _mcp("a-mcp", 3000, "two"))
    assert _summary(diagnostics) == [("cap1.yaml", "address-port-conflict")]


def test_two_literals_for_the_same_host_cannot_share_a_port(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _mcp("a-mcp", 3000, address="localhost"),
                            _rest("b-rest", 3000, "/answer", address="127.0.0.1"))
    assert _summary(diagnostics) == [("cap1.yaml", "address-port-conflict")]


def test_a_wildcard_address_overlaps_every_other_address_on_its_port(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _mcp("a-mcp", 3000, address="0.0.0.0"), _mcp("b-mcp", 3000, "other"))
    assert _summary(diagnostics) == [("cap1.yaml", "address-port-conflict")]


def test_distinct_interfaces_may_use_the_same_port(tmp_path: Path) -> None:
    text = _mcp("a-mcp", 3000, address="10.0.0.1") + _mcp("b-mcp", 3000, address="10.0.0.2")
    assert _validate(tmp_path, text) == []


def test_overlapping_routes_of_two_rest_exposures_conflict(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _rest("a-rest", 3000, "/items/{id}"), _rest("b-rest", 3000, "/items/search"))
    assert _summary(diagnostics) == [("cap1.yaml", "rest-route-conflict")]


def test_disjoint_routes_of_two_rest_exposures_share_a_port(tmp_path: Path) -> None:
    assert _validate(tmp_path, _rest("a-rest", 3000, "/items/{id}"), _rest("b-rest", 3000, "/orders/{id}")) == []


def test_greedy_forward_path_overlaps_everything_below_it(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _rest("a-rest", 3000, "/api/{{path}}"), _rest("b-rest", 3000, "/api/v1/items"))
    assert _summary(diagnostics) == [("cap1.yaml", "rest-route-conflict")]


def test_rest_route_under_mcp_collides_with_the_mcp_endpoint(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _mcp("a-mcp", 3000), _rest("b-rest", 3000, "/mcp/status"))
    assert _summary(diagnostics) == [("cap1.yaml", "rest-route-conflict")]


def test_one_port_holds_one_skill_catalog(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _skill("a-skills", 3000), _skill("b-skills", 3000))
    assert _summary(diagnostics) == [("cap1.yaml", "address-port-conflict")]


def test_control_port_is_never_shared_even_across_capabilities(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _mcp("a-mcp", 3000) + _control(9090), _control(9090))
    assert _summary(diagnostics) == [("cap1.yaml", "control-port-singleton-and-unique")]


def test_one_capability_has_at_most_one_control_adapter(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _mcp("a-mcp", 3000) + _control(9090) + _control(9091))
    assert _summary(diagnostics) == [("cap0.yaml", "control-port-singleton-and-unique")]


def test_stdio_mcp_exposures_have_no_endpoint_to_share(tmp_path: Path) -> None:
    stdio = _mcp("a-mcp", 0).replace("      port: 0\n", "      transport: stdio\n")
    assert _validate(tmp_path, stdio, stdio.replace("a-mcp", "b-mcp")) == []


def test_clashes_between_files_are_warnings_unless_checked_together(tmp_path: Path) -> None:
    paths = []
    for i in range(2):
        path = tmp_path / f"cap{i}.yaml"
        path.write_text(HEAD + _mcp(f"tools-{i}", 9100), encoding="utf-8")
        paths.append(path)
    _, alone = validate_paths(paths, env={})
    _, together = validate_paths(paths, env={}, together=True)
    assert [(d.code, d.severity) for d in alone] == [("tool-name-duplicate", Severity.WARNING)]
    assert [(d.code, d.severity) for d in together] == [("tool-name-duplicate", Severity.ERROR)]
