"""The command line: exit codes, output formats, `call` argument coercion, and the README's commands."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from naftiko_runtime.cli import main
from naftiko_runtime.validate import has_errors, validate_paths

ROOT = Path(__file__).resolve().parents[1]
HMS = str(ROOT / "capabilities" / "hms-live-streams.yaml")
ROOM = "665f1c2e9a1b2c3d4e5f6a7b"


def invoke(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_validate_accepts_every_shipped_capability_and_example() -> None:
    code, _, err = invoke("validate", str(ROOT / "capabilities"), str(ROOT / "examples"))
    assert code == 0, err
    assert "valid" in err


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    text = Path(HMS).read_text(encoding="utf-8")
    text = text.replace("call: live-streams.listlivestreams", "call: live-streams.listlivestream", 1)
    text = text.replace("namespace: live-streams-mcp", "namespace: live-streams", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_reports_every_problem_located_with_a_caret(broken: Path) -> None:
    code, out, _ = invoke("validate", str(broken))
    assert code == 1
    headers = re.findall(r"^(\S+):(\d+):(\d+): (\w+)\[([\w-]+)\]", out, flags=re.M)
    codes = {h[4] for h in headers}
    assert {"unknown-call", "namespaces-unique"} <= codes
    assert all(h[0] == str(broken) for h in headers)
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "[unknown-call]" in line)
    col = int(re.match(r".*?:\d+:(\d+):", lines[first]).group(1))
    source, caret = lines[first + 1], lines[first + 2]
    assert "listlivestream" in source
    assert caret.index("^") == source.index("|") + 2 + col - 1
    assert "did you mean `live-streams.listlivestreams`" in out


def test_validate_json_and_github_formats(broken: Path) -> None:
    code, out, _ = invoke("validate", "--format", "json", str(broken))
    assert code == 1
    items = json.loads(out)
    assert {"file", "line", "column", "pointer", "severity", "code", "message"} <= set(items[0])
    assert any(i["code"] == "unknown-call" and i["pointer"].endswith("/call") for i in items)
    code, out, _ = invoke("validate", "--format", "github", str(broken))
    assert code == 1
    assert re.search(r"^::error file=.+,line=\d+,col=\d+,title=unknown-call::", out, flags=re.M)


def test_strict_turns_warnings_into_errors(tmp_path: Path) -> None:
    text = Path(HMS).read_text(encoding="utf-8").replace("baseUri: https://api.100ms.live/v2",
                                                         "baseUri: https://api.100ms.live/v2/")
    path = tmp_path / "slash.yaml"
    path.write_text(text, encoding="utf-8")
    assert invoke("validate", str(path))[0] == 0
    code, out, _ = invoke("validate", "--strict", str(path))
    assert code == 1 and "error[consumes-baseuri-no-trailing-slash]" in out


def test_usage_errors_exit_2() -> None:
    assert invoke("validate")[0] == 2
    assert invoke("validate", "does-not-exist.yaml")[0] == 2
    assert invoke("validate", "--format", "xml", HMS)[0] == 2
    assert invoke("call", HMS, "no-such-tool", "--sandbox")[0] == 2


def test_schema_prints_a_2020_12_json_schema() -> None:
    code, out, _ = invoke("schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_call_coerces_arguments_by_the_input_schema() -> None:
    code, out, err = invoke("call", HMS, "hms-list-live-streams", "limit=10", f"room_id={ROOM}", "--sandbox")
    assert code == 0, err
    assert json.loads(out) == {"limit": 10, "data": [], "last": ""}


def test_call_prints_an_error_result_and_exits_1() -> None:
    code, out, _ = invoke("call", HMS, "hms-get-live-stream", "stream_id=ffffffffffffffffffffffff", "--sandbox")
    assert code == 1
    error = json.loads(out)
    assert error["status"] == 404 and error["operation"] == "live-streams.getlivestream"


def test_call_reports_bad_arguments_before_calling_upstream() -> None:
    code, out, _ = invoke("call", HMS, "hms-list-live-streams", "limit=ten", "--sandbox")
    assert code == 1
    assert json.loads(out)["problems"][0]["pointer"] == "/limit"


def test_live_mode_without_the_token_names_the_variable() -> None:
    code, out, err = invoke("call", HMS, "hms-list-live-streams", env={"HMS_MANAGEMENT_TOKEN": None})
    assert code == 1
    assert "HMS_MANAGEMENT_TOKEN" in err and out == ""


def test_list_names_every_tool() -> None:
    code, out, _ = invoke("list", "--format", "json", HMS)
    assert code == 0
    names = {e["name"] for e in json.loads(out) if e["kind"] == "tool"}
    assert {"hms-start-live-stream", "hms-stop-live-stream", "hms-send-timed-metadata",
            "hms-list-live-streams", "hms-get-live-stream"} <= names


def test_list_shows_each_tools_arguments_and_result_shape() -> None:
    code, out, _ = invoke("list", "--format", "json", HMS)
    assert code == 0
    tools = {e["name"]: e for e in json.loads(out) if e["kind"] == "tool"}
    listed = tools["hms-list-live-streams"]
    limit = next(a for a in listed["arguments"] if a["name"] == "limit")
    assert limit == {"name": "limit", "type": "integer", "required": False,
                     "description": "Page size, from 10 to 100 (the API's default is 10)."}
    cue = tools["hms-send-timed-metadata"]
    body = next(a for a in cue["arguments"] if a["name"] == "body")
    assert body["required"] is True and body["schema"]["required"] == ["payload", "duration"]
    assert cue["output"]["type"] == "object" and "status" in cue["output"]["properties"]

    code, text, _ = invoke("list", HMS)
    assert code == 0
    block = text.split("hms-send-timed-metadata", 1)[1].split("\ntool ", 1)[0]
    assert "    stream_id: string, required  Id of the live stream" in block
    assert "      object {payload*, duration*}" in block
    assert "    returns: object {id*, room_id, session_id, status*" in block


def test_list_shows_route_inputs_with_where_they_are_read() -> None:
    code, out, _ = invoke("list", "--format", "json", str(ROOT / "examples" / "hms-stream-status" / "capability.yaml"))
    assert code == 0
    routes = {e["name"]: e for e in json.loads(out) if e["kind"] == "route"}
    post = routes["POST /rooms/{room_id}/live"]
    assert [(a["name"], a["in"], a["required"]) for a in post["arguments"]] == [
        ("room_id", "path", True), ("record", "query", False)]
    assert routes["GET /rooms/{room_id}/live"]["output"]["required"] == ["room", "stream"]


# Commands that write outside the repository (a client's configuration) or a file in it are run by
# their own tests (test_install.py, test_init.py) on temporary files, not from the README.
WRITES = ("install", "init", "sandbox")
READ_ONLY = ("validate", "schema", "list", "convert", "export")


def readme_commands() -> list[list[str]]:
    """`naftiko ...` lines of the README that run offline and end (no `serve`)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            runnable = line.startswith("naftiko ") and " serve " not in f" {line} " and "..." not in line
            if not runnable or line.split()[1] in WRITES:
                continue
            if "--sandbox" in line or line.split()[1] in READ_ONLY:
                commands.append(shlex.split(line)[1:])
    return commands


def test_the_readme_has_offline_commands_to_run() -> None:
    names = {args[0] for args in readme_commands()}
    assert {"call", "validate", "list"} <= names


@pytest.mark.parametrize("args", readme_commands(), ids=" ".join)
def test_readme_commands_work(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, _, err = invoke(*args)
    assert code == 0, err


def test_readme_shows_the_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -e . && naftiko serve capabilities/hms-live-streams.yaml --sandbox" in text
    assert "pip install -e '.[test]' && pytest" in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet -e '.[test]'" in ci and "pytest" in ci


def test_console_script_is_installed_and_runs() -> None:
    """``pip install -e '.[test]'`` puts the ``naftiko`` script beside the interpreter running the tests."""
    folder = Path(sys.executable).parent
    script = shutil.which("naftiko", path=str(folder))
    assert script is not None, f"no naftiko script in {folder}"
    run = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("naftiko, version ")


def test_an_upstream_url_no_request_could_use_is_a_usage_error() -> None:
    code, _, err = invoke("call", HMS, "hms-list-live-streams", "--upstream", "live-streams=http://127.0.0.1:99999/v2")
    assert code == 2 and "'http://127.0.0.1:99999/v2' has a port that is not a number from 1 to 65535" in err


def test_a_mistyped_upstream_namespace_is_a_usage_error() -> None:
    code, _, err = invoke("call", HMS, "hms-list-live-streams", "--upstream", "live-stream=http://127.0.0.1:1/v2",
                          "--sandbox")
    assert code == 2 and "live-streams" in err


def test_a_load_time_port_that_renders_to_garbage_is_a_diagnostic_when_serving(tmp_path: Path) -> None:
    text = Path(HMS).read_text(encoding="utf-8").replace("port: 9090", "port: <<env.NAFTIKO_TEST_PORT>>")
    path = tmp_path / "templated.yaml"
    path.write_text(text, encoding="utf-8")
    assert invoke("validate", str(path))[0] == 0  # unknown until served: not checked
    code, _, err = invoke("serve", str(path), "--sandbox", env={"NAFTIKO_TEST_PORT": "abc"})
    assert code == 1 and "[schema-type]" in err


@pytest.mark.parametrize("port", ['"²"', "9" * 5000])
def test_validate_survives_odd_ports(tmp_path: Path, port: str) -> None:
    text = Path(HMS).read_text(encoding="utf-8").replace("port: 9090", f"port: {port}")
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, _ = invoke("validate", str(path))
    assert code == 1 and "[schema-" in out


def test_import_of_a_malformed_openapi_document_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths: {/a: {get: [1, 2]}}\n", encoding="utf-8")
    code, out, err = invoke("import", "openapi", str(path))
    assert code == 1 and err.startswith("naftiko: cannot import") and out == ""


OPENAPI = "openapi: 3.0.0\ninfo: {title: x, version: '1'}\nservers: [{url: %s}]\n" \
          "paths: {/a: {get: {operationId: get-a, parameters: [{name: %s, in: query}]}}}\n"


@pytest.mark.parametrize(("url", "name", "why"), [
    ("{a: 1}", "q", "`servers[0].url` is dict, not a URL"),
    ("'https://api.example.test'", "{k: v}", "a parameter's `name` must be text, not {'k': 'v'}"),
])
def test_import_refuses_values_of_the_wrong_type_instead_of_writing_their_repr(
        tmp_path: Path, url: str, name: str, why: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(OPENAPI % (url, name), encoding="utf-8")
    code, out, err = invoke("import", "openapi", str(path), "-o", str(tmp_path / "cap.yaml"))
    assert (code, out) == (1, "") and err == f"naftiko: cannot import {path}: {why}\n"
    assert not (tmp_path / "cap.yaml").exists()


def test_import_checks_what_it_made_and_writes_nothing_with_errors(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(OPENAPI % ("'http://api.example.test:99999/v1'", "q"), encoding="utf-8")
    for output in ([], ["-o", str(tmp_path / "cap.yaml")]):
        code, out, err = invoke("import", "openapi", str(path), *output)
        assert (code, out) == (1, "") and "error[baseuri-invalid]" in err
        assert err.endswith(f"naftiko: not {'writing ' + output[1] if output else 'printing the capability'}: "
                            "the capability made has errors (above)\n")
    assert not (tmp_path / "cap.yaml").exists()
    path.write_text(OPENAPI % ("'http://api.example.test:8080/v1'", "q"), encoding="utf-8")
    code, out, err = invoke("import", "openapi", str(path))
    assert code == 0 and "baseUri: http://api.example.test:8080/v1" in out and not err


def test_export_openapi_without_a_rest_exposure_is_a_clear_error() -> None:
    code, out, err = invoke("export", "openapi", HMS)
    assert code == 1 and out == "" and err.startswith("naftiko: ")


def test_export_openapi_writes_the_rest_example(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    code, _, err = invoke("export", "openapi", str(ROOT / "examples" / "hms-stream-status" / "capability.yaml"),
                          "-o", str(target))
    assert code == 0, err
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.1") and "/rooms/{room_id}/live" in document["paths"]


NO_BASE_URI = """\
naftiko: "1.0.0-alpha2"
info: {label: No base, description: A consumer without baseUri.}
capability:
  consumes:
    - type: http
      namespace: api
      resources:
        - name: items
          path: /items
          operations:
            - {name: list-items, method: GET}
  exposes:
    - type: mcp
      namespace: tools
      port: 9391
      tools:
        - {name: list-items, description: List items., call: api.list-items}
    - type: rest
      namespace: rest
      port: 9392
      resources:
        - path: /items
          operations:
            - {method: GET, name: list-items, call: api.list-items}
"""


def invalid_files(tmp_path: Path) -> list[Path]:
    """A capability without ``baseUri`` (``serve`` once printed a KeyError traceback for it) and every
    golden fixture that has an error (a fixture with only warnings would really be served)."""
    no_base = tmp_path / "no-base-uri.yaml"
    no_base.write_text(NO_BASE_URI, encoding="utf-8")
    fixtures = sorted((ROOT / "tests" / "fixtures" / "invalid").glob("*/capability.yaml"))
    with_errors = [p for p in fixtures if has_errors(validate_paths([p], env={}, together=True)[1])]
    assert len(with_errors) >= 40
    return [no_base, *with_errors]


@pytest.mark.parametrize("command", [["validate"], ["list"], ["call", "{file}", "list-items"],
                                     ["export", "openapi"], ["serve", "{file}", "--port", "0"]], ids=" ".join)
def test_every_command_refuses_an_invalid_file_with_diagnostics_and_no_traceback(
        tmp_path: Path, command: list[str]) -> None:
    for path in invalid_files(tmp_path):
        args = [str(path) if a == "{file}" else a for a in command]
        if str(path) not in args:
            args.append(str(path))
        result = CliRunner().invoke(main, args, env={"HMS_MANAGEMENT_TOKEN": None})
        output = result.stdout + result.stderr
        where = f"{' '.join(command)} {path.parent.name}/{path.name}"
        assert result.exception is None or isinstance(result.exception, SystemExit), (where, result.exception)
        assert result.exit_code == 1, (where, output)
        assert "Traceback" not in output, where
        assert re.search(r":\d+:\d+: error\[[\w-]+\]", output), (where, output)


def test_serve_pauses_the_collector_while_it_starts_and_always_gives_it_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up only adds to the heap, so `serve` runs it without cyclic collections; a start-up
    that fails (here: an invalid file) still leaves the collector on when the command ends."""
    import gc

    from naftiko_runtime.cli import serve as serve_command

    seen: list[bool] = []
    load = serve_command.load_or_none

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(serve_command, "load_or_none", spy)
    path = tmp_path / "no-base-uri.yaml"
    path.write_text(NO_BASE_URI, encoding="utf-8")
    assert gc.isenabled()
    code, _, err = invoke("serve", str(path), "--port", "0")
    assert code == 1, err
    assert seen == [False]
    assert gc.isenabled()


def test_sandbox_names_an_unknown_simulator_in_naftikos_own_usage_error() -> None:
    code, out, err = invoke("sandbox", "nope", "--port", "18914")
    assert code == 2 and not out
    assert "Usage: main sandbox [OPTIONS] [NAME]" in err  # CliRunner names the program `main`
    assert "'nope' is not a bundled simulator; choose from hms" in err
    assert "python -m" not in err and "--host" not in err


def test_validate_of_a_path_that_cannot_be_read_says_why_once() -> None:
    code, out, err = invoke("validate", "/dev/null")
    assert code == 1 and "error[file-not-found] not a regular file or folder: /dev/null" in out
    assert "no capability file" not in err


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_validate_fails_a_folder_without_capability_files_and_says_so(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "notes.txt").write_text("not a capability", encoding="utf-8")
    code, out, err = invoke("validate", "--format", fmt, str(tmp_path))
    assert code == 1
    assert err.strip() == f"naftiko: no capability file (*.yaml, *.yml) in {tmp_path}"
    assert out.strip() == ("[]" if fmt == "json" else "")


def test_call_refuses_json_arguments_nested_too_deeply_as_a_usage_error() -> None:
    code, out, err = invoke("call", HMS, "hms-list-live-streams", "--sandbox", "--json", "[" * 5000 + "]" * 5000)
    assert code == 2 and not out
    assert "Invalid value for --json: not JSON: the JSON is nested too deeply" in err


@pytest.mark.parametrize("command", [["call", HMS, "hms-list-live-streams", "--sandbox"],
                                     ["serve", HMS, "--sandbox", "--port", "0"], ["install", "mcp-json", HMS]])
def test_an_unreadable_env_file_exits_1_naming_it(tmp_path: Path, command: list[str]) -> None:
    bad = tmp_path / "bad.env"
    bad.write_bytes(b"HMS_MANAGEMENT_TOKEN=tok-\xff\n")
    for env_file, why in ((bad, "not UTF-8 text (line 1)"), (tmp_path, "Is a directory")):
        code, out, err = invoke(*command, "--env-file", str(env_file))
        assert code == 1 and err == f"naftiko: cannot read env file {env_file}: {why}\n" and "tok-" not in out + err


BOUND_PORT = (NO_BASE_URI  # the same capability, its base URI's port filled by a bind
              .replace("capability:", "binds:\n  - namespace: env\n    keys: {PORT: API_PORT}\ncapability:", 1)
              .replace("namespace: api\n", "namespace: api\n      baseUri: 'http://127.0.0.1:{{PORT}}/v1'\n", 1))


@pytest.mark.parametrize("command", [["call", "list-items"], ["serve", "--port", "0"]])
def test_a_base_uri_its_binds_make_unusable_exits_1_before_any_call_and_is_no_upstream_error(
        tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "bound.yaml"
    path.write_text(BOUND_PORT, encoding="utf-8")
    code, out, err = invoke(command[0], str(path), *command[1:], env={"API_PORT": "99999"})
    assert (code, out) == (1, "") and "--upstream" not in err
    assert err == ("naftiko: the baseUri `http://127.0.0.1:{{PORT}}/v1` of `api` has a port that is not a number "
                   "from 1 to 65535 once its binds are filled\n")
