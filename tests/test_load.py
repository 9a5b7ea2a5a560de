"""load: discovery, version detection and normalisation, imports with origins, load-time templates."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from textwrap import dedent

import pytest
from click.testing import CliRunner
from conftest import CORPUS, needs_corpus

from naftiko_runtime.cli import main
from naftiko_runtime.codes import CODES
from naftiko_runtime.errors import ConfigError, Diagnostic, Severity
from naftiko_runtime.load import (
    SUPPORTED_VERSIONS,
    Document,
    _read,
    discover,
    load_file,
    load_paths,
    load_text,
    resolve_location,
)

CAPABILITIES = CORPUS / "naftiko" / "capabilities"


def codes(diagnostics: list[Diagnostic]) -> list[str]:
    return [d.code for d in diagnostics]


def only(doc: Document, code: str) -> Diagnostic:
    found = [d for d in doc.diagnostics if d.code == code]
    assert len(found) == 1, doc.diagnostics
    return found[0]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text), encoding="utf-8")
    return path


def load(text: str, tmp_path: Path, name: str = "cap.yaml", **kwargs: object) -> Document:
    return load_file(write(tmp_path / name, text), **kwargs)  # type: ignore[arg-type]


MINIMAL = """\
    naftiko: "{version}"
    capability:
      exposes:
        - type: mcp
          port: 3001
          namespace: tools
          tools: []
    """


# ------------------------------------------------------------------------------------------- versions


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_each_supported_version_is_detected(tmp_path: Path, version: str) -> None:
    doc = load(MINIMAL.format(version=version), tmp_path)
    assert doc.version == version
    assert doc.diagnostics == [] and doc.ok
    assert doc.kind == "capability"
    assert doc.data["naftiko"] == version


def test_unquoted_version_number_is_read_as_text(tmp_path: Path) -> None:
    doc = load(MINIMAL.replace('"{version}"', "0.5"), tmp_path)
    assert doc.version == "0.5"
    assert doc.data["naftiko"] == "0.5"  # normalised: later stages compare strings
    assert doc.diagnostics == []


@pytest.mark.parametrize("legacy", ['"0.4"', "0.4", '"0.3"', '"0.2"'])
def test_legacy_version_is_unsupported_but_still_checked(tmp_path: Path, legacy: str) -> None:
    doc = load(MINIMAL.replace('"{version}"', legacy), tmp_path)
    problem = only(doc, "unsupported-version")
    assert problem.severity is Severity.ERROR
    assert (problem.location.line, problem.location.col) == (1, 10)
    assert problem.hint
    assert doc.version == legacy.strip('"')
    assert doc.data["capability"]["exposes"][0]["port"] == 3001  # kept, so structure checks still run


@pytest.mark.parametrize(("declared", "suggestion"), [("1.0.0-alpha9", "1.0.0-alpha"), ("1.0.0-aplha2", "alpha2")])
def test_unknown_version_is_reported_with_a_hint(tmp_path: Path, declared: str, suggestion: str) -> None:
    doc = load(MINIMAL.format(version=declared), tmp_path)
    problem = only(doc, "unsupported-version")
    assert problem.location.pointer == "/naftiko"
    assert suggestion in (problem.hint or "")
    assert declared in problem.message
    assert doc.version is None and doc.data == {}


def test_unknown_float_version_is_reported(tmp_path: Path) -> None:
    doc = load(MINIMAL.replace('"{version}"', "1.0"), tmp_path)
    assert codes(doc.diagnostics) == ["unsupported-version"]
    assert "'1.0'" in doc.diagnostics[0].message


def test_an_ikanos_version_it_does_not_read_is_named_as_such(tmp_path: Path) -> None:
    doc = load('ikanos: "1.0.0-beta1"\ncapability: {}\n', tmp_path)
    problem = only(doc, "ikanos-document")
    assert (problem.location.line, problem.location.col) == (1, 9)
    assert "1.0.0-beta1" in problem.message
    assert doc.version is None


def test_an_ikanos_document_loads_in_the_naftiko_shape(tmp_path: Path) -> None:
    doc = load('ikanos: "1.0.0-beta5"\ncapability: {}\n', tmp_path)
    assert doc.diagnostics == [] and doc.dialect == "ikanos" and doc.written_version == "1.0.0-beta5"
    assert doc.data == {"naftiko": "1.0.0-alpha3", "capability": {}}
    assert doc.locate("/naftiko").line == 1


def test_legacy_catalog_form_is_named_as_such(tmp_path: Path) -> None:
    doc = load("naftiko:\n  schema: https://naftiko.io/schemas/catalog.json\n  name: x\n", tmp_path)
    problem = only(doc, "legacy-catalog")
    assert problem.location.pointer == "/naftiko" and problem.location.line == 2
    assert "not supported" in problem.message
    assert doc.version is None


def test_missing_version_is_reported_with_a_hint(tmp_path: Path) -> None:
    doc = load("info:\n  label: x\ncapability: {}\n", tmp_path)
    problem = only(doc, "missing-version")
    assert (problem.location.line, problem.location.col) == (1, 1)
    assert "naftiko:" in (problem.hint or "")
    assert doc.version is None and not doc.ok


def test_empty_version_is_a_missing_version_at_the_key(tmp_path: Path) -> None:
    doc = load("info: {label: x}\nnaftiko:\ncapability: {}\n", tmp_path)
    problem = only(doc, "missing-version")
    assert (problem.location.line, problem.location.col) == (2, 1)


def test_root_that_is_not_a_mapping_is_reported(tmp_path: Path) -> None:
    doc = load("- naftiko: 1.0.0-alpha2\n", tmp_path)
    assert codes(doc.diagnostics) == ["not-a-mapping"]
    assert doc.version is None


def test_root_consumes_document_is_a_shared_consumes_file(tmp_path: Path) -> None:
    doc = load('naftiko: "1.0.0-alpha2"\nconsumes: []\n', tmp_path)
    assert doc.kind == "consumes" and doc.diagnostics == []


def test_source_diagnostics_are_kept_on_the_document(tmp_path: Path) -> None:
    doc = load('naftiko: "1.0.0-alpha2"\ncapability: {}\ncapability: {}\n', tmp_path)
    assert codes(doc.diagnostics) == ["duplicate-key"]
    assert doc.diagnostics[0].location.line == 3


def test_every_load_code_is_documented() -> None:
    for code in ("import-cycle", "yaml-unsupported", "import-not-found", "feature-not-in-version"):
        assert CODES.get(code)


# ------------------------------------------------------------------------------------ 0.5 normalisation


def test_externalrefs_of_0_5_become_binds(tmp_path: Path) -> None:
    doc = load(
        """\
        naftiko: "0.5"
        externalRefs:
          - name: notion-env
            type: environment
            resolution: file
            uri: file:///./secrets.json
            keys:
              NOTION_TOKEN: notion-token
          - name: runtime-env
            type: variables
            resolution: runtime
            keys:
              API_KEY: API_KEY
        capability:
          exposes: []
        """,
        tmp_path,
    )
    assert doc.diagnostics == []
    assert "externalRefs" not in doc.data
    assert doc.data["binds"] == [
        {"namespace": "notion-env", "keys": {"NOTION_TOKEN": "notion-token"}, "location": "file:///./secrets.json"},
        {"namespace": "runtime-env", "keys": {"API_KEY": "API_KEY"}},
    ]
    # A problem with a normalised bind points at the externalRefs entry it came from.
    assert doc.locate("/binds/1/keys").line == 13
    assert doc.locate("/binds/0/location").line == 3


def test_externalrefs_are_left_alone_in_later_versions(tmp_path: Path) -> None:
    doc = load('naftiko: "1.0.0-alpha2"\nexternalRefs: []\ncapability: {}\n', tmp_path)
    assert "externalRefs" in doc.data and "binds" not in doc.data


# ------------------------------------------------------------------------------- feature-not-in-version

ALPHA2_FEATURES = """\
    naftiko: "{version}"
    capability:
      aggregates:
        - namespace: crew
          functions: []
      exposes:
        - type: control
          port: 9090
        - type: mcp
          namespace: tools
          tools:
            - name: a
              ref: crew.resolve
            - name: b
              hints:
                readOnly: true
        - type: rest
          namespace: api
          resources:
            - name: r
              path: /r
              operations:
                - method: GET
                  ref: crew.resolve
    """


@pytest.mark.parametrize("version", ["0.5", "1.0.0-alpha1"])
def test_alpha2_features_under_an_older_version_are_located(tmp_path: Path, version: str) -> None:
    doc = load(ALPHA2_FEATURES.format(version=version), tmp_path)
    found = [d for d in doc.diagnostics if d.code == "feature-not-in-version"]
    assert sorted((d.location.line, d.location.col) for d in found) == [
        (3, 3),  # aggregates
        (7, 7),  # type: control
        (13, 11),  # tool ref
        (15, 11),  # tool hints
        (24, 15),  # REST operation ref
    ]
    assert all(version in d.message and d.severity is Severity.WARNING for d in found)  # it still runs


@pytest.mark.parametrize("version", ["1.0.0-alpha2", "1.0.0-alpha3"])
def test_alpha2_features_are_fine_from_alpha2_on(tmp_path: Path, version: str) -> None:
    assert load(ALPHA2_FEATURES.format(version=version), tmp_path).diagnostics == []


@needs_corpus
def test_corpus_16_control_adapter_under_alpha1_points_at_its_type() -> None:
    doc = load_file(CAPABILITIES / "16-capability-example-multi-adapter.yml")
    problem = only(doc, "feature-not-in-version")
    assert (problem.location.line, problem.location.col) == (24, 7)
    assert "control" in problem.message
    assert doc.version == "1.0.0-alpha1"


@needs_corpus
def test_corpus_19_is_a_legacy_0_4_document() -> None:
    doc = load_file(CAPABILITIES / "19-naftiko-v0.4-legacy.yaml")
    assert (only(doc, "unsupported-version").location.line) == 2
    assert doc.version == "0.4"


@needs_corpus
@pytest.mark.parametrize("name", ["20-ikanos-exposed-oauth2.yml", "21-ikanos-step-10-rest-adapter.yml"])
def test_corpus_ikanos_files_load_as_ikanos(name: str) -> None:
    doc = load_file(CAPABILITIES / name)
    assert doc.dialect == "ikanos" and doc.ok
    assert codes(doc.diagnostics) in ([], ["import-not-found"])  # 21's step7 file is not in the corpus


@needs_corpus
def test_whole_corpus_loads_without_crashing() -> None:
    docs, problems = load_paths([CORPUS], env={})
    assert problems == []
    names = {d.path.name for d in docs}
    assert "live-streams.yaml" in names and "01-step-1-shipyard-mock.yml" in names
    assert "secrets.yaml" not in names  # not a Naftiko document
    assert "legacy-consumes.yaml" in names  # a shared consumes file is one


# -------------------------------------------------------------------------------------------- imports

SHARED = """\
    naftiko: "1.0.0-alpha2"
    consumes:
      - namespace: registry
        type: http
        description: Ship registry
        baseUri: https://registry.example.com/v1
        resources:
          - name: ships
            path: /ships
            operations:
              - name: list-ships
                method: GET
      - namespace: dockyard
        type: http
        baseUri: https://dockyard.example.com
        resources: []
    """

IMPORTING = (
    'naftiko: "1.0.0-alpha2"\n'
    "capability:\n"
    "  consumes:\n"
    "    - location: {location}\n"
    "      import: {name}\n"
    "{extra}"
    "  exposes: []\n"
)


def importing(tmp_path: Path, location: str = "./shared/registry.yml", name: str = "registry",
              extra: str = "", **kwargs: object) -> Document:
    write(tmp_path / "shared" / "registry.yml", SHARED)
    text = IMPORTING.format(location=location, name=name, extra=extra)
    return load(text, tmp_path, **kwargs)


def test_import_inlines_the_named_consumes(tmp_path: Path) -> None:
    doc = importing(tmp_path)
    assert doc.diagnostics == [] and doc.unresolved_imports == set()
    adapter = doc.data["capability"]["consumes"][0]
    assert adapter["namespace"] == "registry"
    assert adapter["baseUri"] == "https://registry.example.com/v1"
    assert adapter["resources"][0]["operations"][0]["name"] == "list-ships"


def test_import_with_as_renames_the_namespace(tmp_path: Path) -> None:
    doc = importing(tmp_path, extra="      as: reg\n")
    adapter = doc.data["capability"]["consumes"][0]
    assert adapter["namespace"] == "reg"
    assert doc.diagnostics == []


def test_import_description_fills_in_only_when_missing(tmp_path: Path) -> None:
    doc = importing(tmp_path, extra="      description: Mine\n")
    assert doc.data["capability"]["consumes"][0]["description"] == "Ship registry"
    doc = importing(tmp_path, name="dockyard", extra="      description: Mine\n")
    assert doc.data["capability"]["consumes"][0]["description"] == "Mine"


def test_pointer_inside_an_import_locates_in_the_shared_file(tmp_path: Path) -> None:
    doc = importing(tmp_path, extra="      as: reg\n")
    shared = str(tmp_path / "shared" / "registry.yml")
    loc = doc.locate("/capability/consumes/0/resources/0/operations/0/method")
    assert (loc.file, loc.line, loc.col) == (shared, 12, 21)
    assert loc.pointer == "/capability/consumes/0/resources/0/operations/0/method"
    key = doc.locate("/capability/consumes/0/baseUri", key=True)
    assert (key.file, key.line, key.col) == (shared, 6, 5)
    diagnostic = doc.diag("unknown-ref", "bad", "/capability/consumes/0/resources/0/path")
    assert (diagnostic.location.file, diagnostic.location.line) == (shared, 9)
    assert doc.source_for(shared) is not None
    # Pointers outside the import stay in the capability file.
    assert doc.locate("/capability/exposes").file == str(tmp_path / "cap.yaml")


@pytest.mark.parametrize("form", ["file:///./shared/registry.yml", "file://./shared/registry.yml",
                                  "shared/registry.yml"])
def test_import_location_forms_resolve_against_the_capability_folder(tmp_path: Path, form: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    doc = importing(tmp_path, location=form)
    assert doc.diagnostics == [] and doc.data["capability"]["consumes"][0]["namespace"] == "registry"


def test_absolute_file_uri_import_is_followed(tmp_path: Path) -> None:
    doc = importing(tmp_path, location=(tmp_path / "shared" / "registry.yml").as_uri())
    assert doc.diagnostics == []


def test_text_loaded_without_following_imports_reads_no_other_file(tmp_path: Path) -> None:
    """What the control port's /config/validate does with a posted document."""
    write(tmp_path / "shared" / "registry.yml", SHARED)
    text = IMPORTING.format(location=tmp_path / "shared" / "registry.yml", name="registry", extra="      as: reg\n")
    doc = load_text(text, tmp_path / "posted.yaml", follow_imports=False)
    problem = only(doc, "import-not-followed")
    assert problem.severity is Severity.WARNING and problem.location.pointer == "/capability/consumes/0/location"
    assert doc.imports == [] and doc.unresolved_imports == {"reg"} and doc.ok
    assert doc.data["capability"]["consumes"][0]["import"] == "registry"  # left as written, not inlined
    assert load_text(text, tmp_path / "posted.yaml").data["capability"]["consumes"][0]["namespace"] == "reg"


def test_missing_import_file_is_a_warning_and_records_the_namespace(tmp_path: Path) -> None:
    doc = importing(tmp_path, location="./shared/nowhere.yml", extra="      as: reg\n")
    problem = only(doc, "import-not-found")
    assert problem.severity is Severity.WARNING
    assert (problem.location.line, problem.location.col) == (4, 17)
    assert problem.location.pointer == "/capability/consumes/0/location"
    assert doc.unresolved_imports == {"reg"}
    assert doc.ok
    assert doc.data["capability"]["consumes"][0]["import"] == "registry"  # left as written


def test_missing_namespace_is_an_error_with_a_hint(tmp_path: Path) -> None:
    doc = importing(tmp_path, name="registyr")
    problem = only(doc, "import-namespace-not-found")
    assert problem.severity is Severity.ERROR
    assert (problem.location.line, problem.location.col) == (5, 15)
    assert "registry" in (problem.hint or "")
    assert doc.unresolved_imports == {"registyr"}


def test_problems_in_the_shared_file_are_reported_there(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "bad.yml", 'naftiko: "1.0.0-alpha2"\nconsumes:\n  - namespace: registry\n'
                                           "    type: http\n    type: http\n")
    doc = load(IMPORTING.format(location="./shared/bad.yml", name="registry", extra=""), tmp_path)
    problem = only(doc, "duplicate-key")
    assert problem.location.file == str(tmp_path / "shared" / "bad.yml")
    assert problem.location.line == 5


def test_a_capability_importing_itself_is_a_cycle(tmp_path: Path) -> None:
    doc = load(IMPORTING.format(location="./cap.yaml", name="registry", extra=""), tmp_path)
    problem = only(doc, "import-cycle")
    assert problem.location.pointer == "/capability/consumes/0/location"
    assert doc.unresolved_imports == {"registry"}


def test_shared_files_importing_each_other_do_not_loop(tmp_path: Path) -> None:
    write(tmp_path / "a.yml", 'naftiko: "1.0.0-alpha2"\nconsumes:\n  - location: ./b.yml\n    import: x\n')
    write(tmp_path / "b.yml", 'naftiko: "1.0.0-alpha2"\nconsumes:\n  - location: ./a.yml\n    import: x\n')
    doc = load(IMPORTING.format(location="./a.yml", name="x", extra=""), tmp_path)
    cycles = [d for d in doc.diagnostics if d.code == "import-cycle"]
    assert cycles and not doc.ok


def test_nested_import_locates_in_the_innermost_file(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "registry.yml", SHARED)
    write(tmp_path / "shared" / "hub.yml",
          'naftiko: "1.0.0-alpha2"\nconsumes:\n  - location: ./registry.yml\n    import: registry\n')
    doc = load(IMPORTING.format(location="./shared/hub.yml", name="registry", extra=""), tmp_path)
    assert doc.diagnostics == []
    loc = doc.locate("/capability/consumes/0/resources/0/path")
    assert (loc.file, loc.line) == (str(tmp_path / "shared" / "registry.yml"), 9)


def test_root_consumes_imports_are_resolved_too(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "registry.yml", SHARED)
    doc = load('naftiko: "1.0.0-alpha2"\nconsumes:\n  - location: ./shared/registry.yml\n    import: dockyard\n',
               tmp_path)
    assert doc.kind == "consumes"
    assert doc.data["consumes"][0]["baseUri"] == "https://dockyard.example.com"


@needs_corpus
def test_corpus_import_points_into_the_shared_file() -> None:
    doc = load_file(CAPABILITIES / "06-step-11-shipyard-fleet-manifest.yml")
    assert doc.unresolved_imports == set()
    legacy = doc.data["capability"]["consumes"][1]
    assert legacy["namespace"] == "legacy"
    loc = doc.locate("/capability/consumes/1/authentication/value")
    assert Path(loc.file).name == "legacy-consumes.yaml"
    assert (loc.line, loc.col) == (10, 14)


@needs_corpus
def test_corpus_missing_import_is_a_warning_naming_the_namespace() -> None:
    doc = load_file(CAPABILITIES / "03-step-7-shipyard-orchestrated-lookup.yml")
    problem = only(doc, "import-not-found")
    assert (problem.location.line, problem.location.col) == (21, 17)
    assert doc.unresolved_imports == {"registry"}


def test_resolve_location_forms(tmp_path: Path) -> None:
    base = tmp_path / "caps"
    assert resolve_location("./x.yml", base) == base / "x.yml"
    assert resolve_location("file:///./x.yml", base) == base / "x.yml"
    assert resolve_location("file://./x.yml", base) == base / "x.yml"
    assert resolve_location("file:///../x.yml", base) == base / ".." / "x.yml"
    assert resolve_location("file:///etc/x.yml", base) == Path("/etc/x.yml")
    assert resolve_location("file:///a%20b/x.yml", base) == Path("/a b/x.yml")
    assert resolve_location("/abs/x.yml", base) == Path("/abs/x.yml")


# -------------------------------------------------------------------------------- load-time templates

TEMPLATED = """\
    naftiko: "1.0.0-alpha2"
    capability:
      exposes:
        - type: mcp
          port: <<env.PORT>>
          address: "<<env.HOST | default('127.0.0.1')>>"
          namespace: "<<env.PORT>>"
      consumes:
        - namespace: a
          baseUri: "<<env.BASE>>/v1"
    """


def test_load_time_templates_render_from_the_given_environment(tmp_path: Path) -> None:
    doc = load(TEMPLATED, tmp_path, env={"PORT": "8080", "BASE": "https://api.example.com"})
    assert doc.diagnostics == []
    mcp = doc.data["capability"]["exposes"][0]
    assert mcp["port"] == 8080  # unquoted in the file: typed
    assert mcp["namespace"] == "8080"  # quoted: stays text
    assert mcp["address"] == "127.0.0.1"
    assert doc.data["capability"]["consumes"][0]["baseUri"] == "https://api.example.com/v1"
    assert {"/capability/exposes/0/port", "/capability/consumes/0/baseUri"} <= doc.templated


def test_missing_variable_is_a_warning_when_validating(tmp_path: Path) -> None:
    doc = load(TEMPLATED, tmp_path, env={"PORT": "1"})
    problem = only(doc, "load-time-template")
    assert problem.severity is Severity.WARNING
    assert (problem.location.line, problem.location.col) == (10, 16)
    assert "BASE" in problem.message and "BASE" in (problem.hint or "")
    assert doc.ok


def test_missing_variable_is_an_error_when_serving(tmp_path: Path) -> None:
    doc = load(TEMPLATED, tmp_path, env={}, strict_env=True)
    found = [d for d in doc.diagnostics if d.code == "load-time-template"]
    assert {d.location.line for d in found} == {5, 7, 10}
    assert all(d.severity is Severity.ERROR for d in found)
    assert not doc.ok


def test_environment_defaults_to_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "7000")
    monkeypatch.setenv("BASE", "https://from-env.example.com")
    doc = load(TEMPLATED, tmp_path)
    assert doc.data["capability"]["exposes"][0]["port"] == 7000


def test_strict_environment_applies_inside_imported_files(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "registry.yml", SHARED.replace("https://registry.example.com/v1", "<<env.REG>>"))
    doc = load(IMPORTING.format(location="./shared/registry.yml", name="registry", extra=""), tmp_path,
               env={}, strict_env=True)
    problem = only(doc, "load-time-template")
    assert problem.severity is Severity.ERROR
    assert problem.location.file == str(tmp_path / "shared" / "registry.yml")
    assert problem.location.line == 6


def test_merge_keys_are_not_mistaken_for_templates(tmp_path: Path) -> None:
    doc = load('naftiko: "1.0.0-alpha2"\nx: &d {a: 1}\ncapability:\n  <<: *d\n  exposes: []\n', tmp_path, env={})
    assert doc.diagnostics == []
    assert doc.data["capability"] == {"exposes": [], "a": 1}


def test_load_text_resolves_imports_against_the_given_path(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "registry.yml", SHARED)
    text = dedent(IMPORTING.format(location="./shared/registry.yml", name="registry", extra=""))
    doc = load_text(text, tmp_path / "virtual.yaml")
    assert doc.diagnostics == [] and doc.data["capability"]["consumes"][0]["namespace"] == "registry"


# ------------------------------------------------------------------------------------ files and folders


def test_unreadable_path_is_a_diagnostic(tmp_path: Path) -> None:
    doc = load_file(tmp_path / "missing.yaml")
    assert codes(doc.diagnostics) == ["file-not-found"]
    assert not doc.ok


def test_non_utf8_file_is_located_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes('naftiko: "1.0.0-alpha2"\ninfo:\n  label: Caf\xe9 ok\n'.encode("latin-1"))
    doc = load_file(path)
    problem = only(doc, "yaml-syntax")
    assert (problem.location.line, problem.location.col) == (3, 13)
    assert "0xe9" in problem.message
    assert doc.version is None


def test_byte_order_mark_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + dedent(MINIMAL.format(version="1.0.0-alpha2")).encode())
    doc = load_file(path)
    assert doc.diagnostics == [] and doc.version == "1.0.0-alpha2"


def make_folder(root: Path) -> None:
    write(root / "cap.yaml", MINIMAL.format(version="1.0.0-alpha2"))
    write(root / "sub" / "other.yml", MINIMAL.format(version="1.0.0-alpha3"))
    write(root / "secrets.yaml", "registry-token: abc\n")
    write(root / "openapi.yaml", "openapi: 3.1.0\ninfo: {title: x}\n")
    write(root / "empty.yaml", "")
    write(root / "notes.txt", 'naftiko: "1.0.0-alpha2"\n')
    write(root / "broken.yaml", 'naftiko: "1.0.0-alpha2"\ncapability:\n  exposes: [\n')
    write(root / "broken-other.yaml", "just: [broken\n")
    write(root / ".hidden" / "cap.yaml", MINIMAL.format(version="1.0.0-alpha2"))
    (root / "latin1.yaml").write_bytes(b'naftiko: "1.0.0-alpha2"\ninfo: {label: caf\xe9}\n')


def test_discover_lists_yaml_files_in_folders_and_explicit_files(tmp_path: Path) -> None:
    make_folder(tmp_path)
    explicit, found, problems = discover([tmp_path / "secrets.yaml", tmp_path, tmp_path / "nope.yaml"])
    assert explicit == [tmp_path / "secrets.yaml"]
    names = sorted(p.relative_to(tmp_path).as_posix() for p in found)
    assert names == ["broken-other.yaml", "broken.yaml", "cap.yaml", "empty.yaml", "latin1.yaml",
                     "openapi.yaml", "secrets.yaml", "sub/other.yml"]
    assert codes(problems) == ["file-not-found"]
    assert problems[0].location.file.endswith("nope.yaml")


def test_folder_named_twice_lists_each_file_once(tmp_path: Path) -> None:
    make_folder(tmp_path)
    _, found, _ = discover([tmp_path, tmp_path, tmp_path / "sub"])
    assert len(found) == len(set(found))


def test_folders_keep_capabilities_and_skip_other_yaml(tmp_path: Path) -> None:
    make_folder(tmp_path)
    docs, problems = load_paths([tmp_path], env={})
    assert problems == []
    by_name = {d.path.relative_to(tmp_path).as_posix(): d for d in docs}
    assert sorted(by_name) == ["broken.yaml", "cap.yaml", "latin1.yaml", "sub/other.yml"]
    assert codes(by_name["broken.yaml"].diagnostics) == ["yaml-syntax"]  # broken, but clearly a capability
    assert codes(by_name["latin1.yaml"].diagnostics) == ["yaml-syntax"]
    assert by_name["cap.yaml"].ok and by_name["sub/other.yml"].version == "1.0.0-alpha3"


def test_a_file_named_explicitly_must_be_a_capability(tmp_path: Path) -> None:
    make_folder(tmp_path)
    docs, _ = load_paths([tmp_path / "secrets.yaml"], env={})
    assert [codes(d.diagnostics) for d in docs] == [["missing-version"]]


def test_a_file_named_and_inside_a_named_folder_loads_once(tmp_path: Path) -> None:
    make_folder(tmp_path)
    docs, _ = load_paths([tmp_path / "cap.yaml", tmp_path], env={})
    assert [d.path.name for d in docs].count("cap.yaml") == 1


def test_missing_path_is_reported_by_load_paths(tmp_path: Path) -> None:
    docs, problems = load_paths([tmp_path / "nope"], env={})
    assert docs == [] and codes(problems) == ["file-not-found"]


def test_a_path_that_is_neither_file_nor_folder_is_named_so_and_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opened for reading, it would wait for a writer forever
    docs, problems = load_paths([fifo, tmp_path / "nope.yaml"], env={})
    assert docs == [] and [p.message for p in problems] == [
        f"not a regular file or folder: {fifo}", f"no such file or folder: {tmp_path / 'nope.yaml'}"]


# ----------------------------------------------------------------------------------- size limit


def test_a_huge_size_limit_allocates_only_what_the_file_holds(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "cap.yaml", MINIMAL.format(version="1.0.0-alpha2"))
    for limit in ("1000000000", "99999999999999999999999", "9" * 5000):  # 1 GB up front; overflow; int() refuses
        monkeypatch.setenv("NAFTIKO_MAX_SPEC_BYTES", limit)
        tracemalloc.start()
        try:
            doc = load_file(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert doc.ok and peak < 10_000_000, (limit, peak)


def test_a_file_that_grows_while_read_is_still_cut_at_the_limit(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # A pipe has no size to go by: the reader must still stop one byte past the limit.
    monkeypatch.setenv("NAFTIKO_MAX_SPEC_BYTES", "100")
    assert len(_read(Path("/dev/zero"))) == 101


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "²", "-" + "9" * 5000])
def test_an_unusable_size_limit_is_refused_before_any_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   value: str) -> None:
    monkeypatch.setenv("NAFTIKO_MAX_SPEC_BYTES", value)
    write(tmp_path / "a.yaml", MINIMAL.format(version="1.0.0-alpha2"))
    with pytest.raises(ConfigError) as caught:
        load_paths([tmp_path], env={})
    assert str(caught.value) == f"NAFTIKO_MAX_SPEC_BYTES must be a positive whole number of bytes, not {value!r}"


def test_validate_refuses_an_unusable_size_limit_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = str(Path(__file__).resolve().parents[1] / "capabilities" / "hms-live-streams.yaml")
    monkeypatch.setenv("NAFTIKO_MAX_SPEC_BYTES", "abc")
    result = CliRunner().invoke(main, ["validate", spec], catch_exceptions=False)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "naftiko: NAFTIKO_MAX_SPEC_BYTES must be a positive whole number of bytes, not 'abc'\n"
    monkeypatch.setenv("NAFTIKO_MAX_SPEC_BYTES", "99999999999999999999999")
    result = CliRunner().invoke(main, ["validate", spec], catch_exceptions=False)
    assert result.exit_code == 0, result.output
