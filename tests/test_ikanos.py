"""Ikanos documents: loaded into the Naftiko model, located where written, converted both ways.

The corpus round trip runs over every Naftiko file of the corpus that validates: written the Ikanos
way (``naftiko convert``) it validates too and builds the same model, and converting it back gives
the same document.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import CORPUS, needs_corpus

from naftiko_runtime import ikanos
from naftiko_runtime.cli import main
from naftiko_runtime.convert import convert_data
from naftiko_runtime.errors import ConversionError, Severity
from naftiko_runtime.formats.yaml import dump_yaml
from naftiko_runtime.jsonschemas import Validator
from naftiko_runtime.load import load_text, read_as_written
from naftiko_runtime.model import Capability, Route, plain
from naftiko_runtime.spec.ikanos import ikanos_schema
from naftiko_runtime.validate import validate_paths

CAPABILITIES = CORPUS / "naftiko" / "capabilities"

BETA5 = """\
ikanos: "1.0.0-beta5"
info:
  display: Ships
  description: Ships, the Ikanos way.
capability:
  consumes:
    - namespace: registry
      type: http
      baseUri: https://registry.example.test
      inputParameters:
        Registry-Version:
          in: header
          value: "2"
      resources:
        ships:
          path: /ships/{{imo}}
          operations:
            get-ship:
              method: GET
              inputParameters:
                imo:
                  in: path
  aggregates:
    - display: Fleet
      namespace: fleet
      flows:
        ship-card:
          description: A ship and its flag
          inputParameters:
            imo:
              type: string
              description: IMO number
          steps:
            ship:
              type: call
              call: registry.get-ship
              with:
                imo: "{{imo}}"
          mappings:
            - target: card.name
              value: $.ship.name
          outputParameters:
            card:
              type: object
              properties:
                name:
                  type: string
  exposes:
    - type: mcp
      port: 3000
      namespace: fleet-mcp
      tools:
        get-ship:
          display: Get a ship
          description: One ship by IMO number
          inputParameters:
            imo:
              type: string
              description: IMO number
          call: registry.get-ship
          with:
            imo: fleet-mcp.imo
        ship-card:
          ref: fleet.ship-card
"""

NAFTIKO = """\
naftiko: "1.0.0-alpha3"
info:
  label: Ships
  description: Ships, the Ikanos way.
capability:
  consumes:
    - namespace: registry
      type: http
      baseUri: https://registry.example.test
      inputParameters:
        - name: Registry-Version
          in: header
          value: "2"
      resources:
        - name: ships
          path: /ships/{{imo}}
          operations:
            - name: get-ship
              method: GET
              inputParameters:
                - name: imo
                  in: path
  aggregates:
    - label: Fleet
      namespace: fleet
      functions:
        - name: ship-card
          description: A ship and its flag
          inputParameters:
            - name: imo
              type: string
              description: IMO number
          steps:
            - name: ship
              type: call
              call: registry.get-ship
              with:
                imo: "{{imo}}"
          mappings:
            - targetName: card.name
              value: $.ship.name
          outputParameters:
            - name: card
              type: object
              properties:
                name:
                  name: name
                  type: string
  exposes:
    - type: mcp
      port: 3000
      namespace: fleet-mcp
      tools:
        - name: get-ship
          label: Get a ship
          description: One ship by IMO number
          inputParameters:
            - name: imo
              type: string
              description: IMO number
          call: registry.get-ship
          with:
            imo: fleet-mcp.imo
        - name: ship-card
          ref: fleet.ship-card
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def checked(path: Path) -> tuple[Capability, list[Any]]:
    found, diagnostics = validate_paths([path], env={})
    assert found[0].capability is not None
    return found[0].capability, diagnostics


def spots(diagnostics: list[Any]) -> set[tuple[str, int, int]]:
    return {(d.code, d.location.line, d.location.col) for d in diagnostics}


def line_of(text: str, content: str, nth: int = 1) -> int:
    """The 1-based number of the ``nth`` line of ``text`` whose stripped content is ``content``."""
    found = [i + 1 for i, line in enumerate(text.splitlines()) if line.strip() == content]
    return found[nth - 1]


# ------------------------------------------------------------------------------------ the two shapes


def test_an_ikanos_document_loads_as_its_naftiko_twin(tmp_path: Path) -> None:
    twin = load_text(NAFTIKO, tmp_path / "n.yaml", env={})
    doc = load_text(BETA5, tmp_path / "i.yaml", env={})
    assert doc.diagnostics == [] and doc.dialect == "ikanos" and doc.written_version == "1.0.0-beta5"
    assert doc.data == twin.data


def test_naftiko_to_ikanos_is_the_inverse(tmp_path: Path) -> None:
    twin = load_text(NAFTIKO, tmp_path / "n.yaml", env={})
    written = load_text(BETA5, tmp_path / "i.yaml", env={}).source.data
    assert ikanos.to_ikanos(twin.data) == written


def test_both_dialects_build_the_same_model_and_validate_clean(tmp_path: Path) -> None:
    first, found_first = checked(write(tmp_path, "n.yaml", NAFTIKO))
    second, found_second = checked(write(tmp_path, "i.yaml", BETA5))
    assert [d for d in found_first + found_second if d.severity is Severity.ERROR] == []
    assert model_summary(first) == model_summary(second)


# ------------------------------------------------------------------------------------ locations


def test_problems_point_at_the_ikanos_text(tmp_path: Path) -> None:
    broken = (BETA5.replace("display: Get a ship", "display: 5")
              .replace("        ship-card:\n          ref:", "        Ship Card:\n          ref:")
              .replace("- target: card.name", "- target: card name")
              .replace("              method: GET", "              method: GETT"))
    path = write(tmp_path, "i.yaml", broken)
    _, found = checked(path)
    at = {d.code: d for d in found if d.severity is Severity.ERROR}
    assert spots(found) >= {
        ("schema-type", line_of(broken, "display: 5"), 20),  # its value
        ("schema-pattern", line_of(broken, "Ship Card:"), 9),  # the key, a tool name
        ("schema-pattern", line_of(broken, "- target: card name"), 23),
        ("schema-enum", line_of(broken, "method: GETT"), 23),
    }
    assert "`display`" in at["schema-type"].message  # the field as the author wrote it


def test_an_unknown_field_suggests_the_ikanos_name(tmp_path: Path) -> None:
    text = BETA5.replace("display: Get a ship", "displya: Get a ship")
    _, found = checked(write(tmp_path, "i.yaml", text))
    (unknown,) = [d for d in found if d.code == "unknown-field"]
    assert unknown.location.line == line_of(text, "displya: Get a ship")
    assert unknown.hint is not None and unknown.hint.startswith("did you mean `display`?")


def test_a_synthesised_name_and_a_renamed_field_locate_their_key(tmp_path: Path) -> None:
    doc = load_text(BETA5, tmp_path / "i.yaml", env={})
    tool = "/capability/exposes/0/tools/0"
    name = doc.locate(f"{tool}/name")
    assert (name.line, name.col) == (line_of(BETA5, "get-ship:", 2), 9)
    assert doc.locate(f"{tool}/label", key=True).line == line_of(BETA5, "display: Get a ship")
    where = doc.locate(f"{tool}/inputParameters/0/type").line
    assert where > name.line and BETA5.splitlines()[where - 1].strip() == "type: string"
    flow = "/capability/aggregates/0/functions/0"
    assert doc.locate(f"{flow}/steps/0/call").line == line_of(BETA5, "call: registry.get-ship")
    assert doc.locate(f"{flow}/outputParameters/0/properties/name/name").line == line_of(BETA5, "name:")
    assert doc.written_pointer(f"{tool}/label") == "/capability/exposes/0/tools/get-ship/display"


def test_an_ikanos_file_imported_from_an_ikanos_file_is_located_in_its_own_text(tmp_path: Path) -> None:
    write(tmp_path, "shared.yaml", """\
ikanos: "1.0.0-beta5"
consumes:
  - namespace: registry
    type: http
    baseUri: https://registry.example.test
    resources:
      ships:
        path: /ships
        operations:
          list-ships:
            method: FETCH
""")
    path = write(tmp_path, "cap.yaml", """\
ikanos: "1.0.0-beta5"
capability:
  consumes:
    - import: registry
      from: ./shared.yaml
  exposes:
    - type: mcp
      port: 3000
      namespace: tools
      tools:
        list-ships:
          description: Ships
          call: registry.list-ships
""")
    _, found = checked(path)
    (enum,) = [d for d in found if d.code == "schema-enum"]
    assert (Path(enum.location.file).name, enum.location.line, enum.location.col) == ("shared.yaml", 11, 21)


def test_a_missing_ikanos_import_is_reported_at_its_from(tmp_path: Path) -> None:
    path = write(tmp_path, "cap.yaml", """\
ikanos: "1.0.0-beta5"
capability:
  consumes:
    - import: registry
      from: ./nowhere.yaml
  exposes:
    - type: mcp
      port: 3000
      namespace: tools
      tools:
        list-ships:
          description: Ships
          call: registry.list-ships
""")
    _, found = checked(path)
    assert ("import-not-found", 5, 13) in spots(found)
    assert [d for d in found if d.severity is Severity.ERROR] == []  # calls into it are not checked


def test_imports_work_in_every_section(tmp_path: Path) -> None:
    write(tmp_path, "shared.yaml", """\
ikanos: "1.0.0-beta5"
binds:
  - namespace: env
    keys:
      SHIP_TOKEN: SHIP_TOKEN
aggregates:
  - display: Fleet
    namespace: fleet
    flows:
      hello:
        description: Says hello
        outputParameters:
          greeting:
            type: string
            value: hello
""")
    path = write(tmp_path, "cap.yaml", """\
ikanos: "1.0.0-beta5"
binds:
  - import: env
    from: ./shared.yaml
capability:
  aggregates:
    - import: fleet
      from: ./shared.yaml
  exposes:
    - type: mcp
      port: 3000
      namespace: tools
      tools:
        hello:
          ref: fleet.hello
""")
    capability, found = checked(path)
    assert [d for d in found if d.severity is Severity.ERROR] == []
    assert [b.namespace for b in capability.binds][:1] == ["env"]
    assert "fleet.hello" in capability.functions


def test_naftiko_field_names_in_an_ikanos_file_are_flagged_and_ignored(tmp_path: Path) -> None:
    text = BETA5.replace("display: Get a ship", "label: Get a ship")
    doc = load_text(text, tmp_path / "i.yaml", env={})
    found = [(d.code, d.location.line) for d in doc.diagnostics]
    assert found == [("unknown-field", line_of(text, "label: Get a ship"))]
    assert "label" not in doc.data["capability"]["exposes"][0]["tools"][0]


# ------------------------------------------------------------------------------------ the Ikanos schema


def test_the_ikanos_schema_takes_the_beta5_example_and_refuses_the_naftiko_shape(tmp_path: Path) -> None:
    validator = Validator(ikanos_schema())
    assert validator.problems(load_text(BETA5, tmp_path / "i.yaml").source.data) == []
    naftiko_shaped = load_text(NAFTIKO, tmp_path / "n.yaml").source.data
    assert validator.problems({**{k: v for k, v in naftiko_shaped.items() if k != "naftiko"},
                               "ikanos": "1.0.0-beta5"}) != []


def test_naftiko_schema_prints_the_ikanos_schema_for_editors() -> None:
    result = CliRunner().invoke(main, ["schema", "--dialect", "ikanos"])
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    assert printed["required"] == ["ikanos"] and "ikanos" in printed["properties"]
    tools = printed["$defs"]["ExposesMcp"]["properties"]["tools"]
    assert tools["type"] == "object" and "name" not in printed["$defs"]["McpTool"]["properties"]
    assert "display" in printed["$defs"]["McpTool"]["properties"]


@needs_corpus
@pytest.mark.parametrize("name", ["20-ikanos-exposed-oauth2.yml", "21-ikanos-step-10-rest-adapter.yml"])
def test_the_corpus_ikanos_files_meet_the_ikanos_schema(name: str) -> None:
    raw = read_as_written(CAPABILITIES / name).source.data
    assert Validator(ikanos_schema()).problems({**raw, "ikanos": ikanos.CURRENT}) == []


# ------------------------------------------------------------------------------------ naftiko convert


def test_convert_writes_stdout_or_a_file_and_reads_back(tmp_path: Path) -> None:
    source = write(tmp_path, "n.yaml", NAFTIKO)
    result = CliRunner().invoke(main, ["convert", str(source), "--to", "ikanos"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ikanos: 1.0.0-beta5\n")
    out = tmp_path / "back.yaml"
    ikanos_file = write(tmp_path, "i.yaml", result.stdout)
    result = CliRunner().invoke(main, ["convert", str(ikanos_file), "--to", "naftiko", "-o", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    assert load_text(out.read_text(), out).data == load_text(NAFTIKO, source).data


def test_convert_keeps_templates_and_imports_as_written(tmp_path: Path) -> None:
    source = write(tmp_path, "n.yaml", NAFTIKO.replace("https://registry.example.test", "<<env.REGISTRY_URL>>")
                   .replace("  consumes:\n", "  consumes:\n    - import: other\n      location: ./other.yaml\n"))
    data = convert_data(source, "ikanos")
    assert data["capability"]["consumes"][0] == {"import": "other", "from": "./other.yaml"}
    assert data["capability"]["consumes"][1]["baseUri"] == "<<env.REGISTRY_URL>>"


def test_convert_refuses_an_unreadable_file_with_its_diagnostics(tmp_path: Path) -> None:
    source = write(tmp_path, "bad.yaml", 'naftiko: "0.4"\ncapability: {}\n')
    with pytest.raises(ConversionError) as caught:
        convert_data(source, "ikanos")
    assert [d.code for d in caught.value.diagnostics] == ["unsupported-version"]
    result = CliRunner().invoke(main, ["convert", str(source), "--to", "ikanos"])
    assert result.exit_code == 1 and "unsupported-version" in result.stderr


def test_an_unnamed_entry_without_a_key_to_derive_is_not_convertible() -> None:
    with pytest.raises(ikanos.NotConvertible) as caught:
        ikanos.to_ikanos({"naftiko": "1.0.0-alpha2", "capability": {"exposes": [
            {"type": "mcp", "namespace": "x", "port": 1, "tools": [{"description": "no name"}]}]}})
    assert caught.value.pointer == "/capability/exposes/0/tools/0"


def test_unnamed_rest_resources_and_operations_get_keys_from_path_and_method() -> None:
    data = {"naftiko": "1.0.0-alpha2", "capability": {"exposes": [{"type": "rest", "namespace": "api", "port": 1,
            "resources": [{"path": "/ships/{imo}", "operations": [{"method": "GET", "call": "a.b"}]}]}]}}
    resources = ikanos.to_ikanos(data)["capability"]["exposes"][0]["resources"]
    assert resources == {"ships-imo": {"path": "/ships/{imo}", "operations": {"get": {"method": "GET",
                                                                                       "call": "a.b"}}}}


# ------------------------------------------------------------------------------------ the corpus both ways


def model_summary(capability: Capability) -> dict[str, Any]:
    """What a client sees: each unit's name, input schema and the operations it calls."""
    units = {}
    for unit in capability.invocable():
        invocation = unit.invocation
        calls = [call.operation.ref if call.operation is not None else call.target
                 for call in invocation.calls()] if invocation is not None else []
        label = f"{unit.method} {unit.path}" if isinstance(unit, Route) else unit.label  # a name Ikanos gave
        units[f"{unit.kind} {label}"] = (json.dumps(plain(unit.input_schema), sort_keys=True), calls)
    return units


def _corpus_naftiko_files() -> list[str]:
    if not CAPABILITIES.is_dir():
        return []
    # 20 and 21 are Ikanos already; 18 and 19 do not validate as written (tests/test_corpus.py says why)
    return sorted(p.name for p in CAPABILITIES.glob("*.y*ml") if not p.name.startswith(("18-", "19-", "20-", "21-")))


def _without_synthesised_names(original: Any, back: Any) -> Any:
    """``back`` without the names conversion gave REST resources and operations that had none."""
    if isinstance(original, dict) and isinstance(back, dict):
        return {k: _without_synthesised_names(original.get(k), v) for k, v in back.items()
                if k in original or k != "name"}
    if isinstance(original, list) and isinstance(back, list) and len(original) == len(back):
        return [_without_synthesised_names(o, b) for o, b in zip(original, back, strict=True)]
    return back


@needs_corpus
@pytest.mark.parametrize("name", _corpus_naftiko_files())
def test_every_valid_corpus_file_round_trips_through_ikanos(name: str, tmp_path: Path) -> None:
    shutil.copytree(CAPABILITIES, tmp_path / "capabilities")
    original = tmp_path / "capabilities" / name
    found, diagnostics = validate_paths([original], env={})
    assert [str(d) for d in diagnostics if d.severity is Severity.ERROR] == []
    as_ikanos = tmp_path / "capabilities" / f"ikanos-{name}"
    as_ikanos.write_text(dump_yaml(convert_data(original, "ikanos")), encoding="utf-8")
    again, again_diagnostics = validate_paths([as_ikanos], env={})
    assert [str(d) for d in again_diagnostics if d.severity is Severity.ERROR] == []
    # the same findings, but for the version's own: Ikanos has every feature an older Naftiko lacked
    assert sorted(d.code for d in again_diagnostics) == sorted(
        d.code for d in diagnostics if d.code != "feature-not-in-version")
    assert again[0].capability is not None and found[0].capability is not None
    assert model_summary(again[0].capability) == model_summary(found[0].capability)
    assert Validator(ikanos_schema()).problems(read_as_written(as_ikanos).source.data) == []
    written = {**read_as_written(original).data, "naftiko": ikanos.NAFTIKO_VERSION}  # written back as alpha3
    back = convert_data(as_ikanos, "naftiko")
    assert _without_synthesised_names(written, back) == written
