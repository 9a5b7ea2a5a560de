"""binding: binds from the environment or file:// JSON/YAML, all missing names at once, values as secrets."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest

from naftiko_runtime.binding import load_env_file, resolve_binds
from naftiko_runtime.errors import BindingError, ConfigError
from naftiko_runtime.model import Bind
from naftiko_runtime.secrets import Secret

TOKEN = "tok-7f3a9c1e"  # a recognisable fake secret: it must never show up in messages
OTHER = "pw-b81d22"


def bind(namespace: str, keys: dict[str, str], location: str | None = None, base_dir: Path | None = None,
         *, implicit: bool = False) -> Bind:
    return Bind(namespace, MappingProxyType(keys), location, base_dir or Path("/nonexistent"), "/binds/0",
                implicit=implicit)


def fail(binds: list[Bind], env: dict[str, str] | None = None, **kwargs: object) -> BindingError:
    with pytest.raises(BindingError) as caught:
        resolve_binds(binds, env or {}, **kwargs)
    return caught.value


# ----------------------------------------------------------------------------------------- environment


def test_environment_bind_reads_the_named_variable() -> None:
    values = resolve_binds([bind("hms-env", {"HMS_TOKEN": "HMS_MANAGEMENT_TOKEN"})],
                           {"HMS_MANAGEMENT_TOKEN": TOKEN})
    assert values["HMS_TOKEN"] == TOKEN
    assert values["hms-env.HMS_TOKEN"] == TOKEN  # the qualified spelling resolves too
    assert isinstance(values["HMS_TOKEN"], Secret)


def test_an_implicit_env_bind_resolves_only_under_its_qualified_name() -> None:
    """``{{env.X}}`` with no ``binds`` entry reads X, without shadowing a declared ``X``."""
    values = resolve_binds([bind("env", {"API_KEY": "API_KEY"}, implicit=True)], {"API_KEY": TOKEN})
    assert values == {"env.API_KEY": TOKEN}
    assert fail([bind("env", {"API_KEY": "API_KEY"}, implicit=True)]).missing == ("API_KEY",)


def test_empty_environment_value_counts_as_set() -> None:
    assert resolve_binds([bind("env", {"A": "A"})], {"A": ""})["A"] == ""


def test_no_binds_give_no_values() -> None:
    assert resolve_binds([], {"A": "1"}) == {}


def test_every_missing_variable_is_reported_at_once() -> None:
    error = fail([bind("one", {"A": "A", "B": "B"}), bind("two", {"C": "C", "D": "D"})], {"B": TOKEN})
    assert set(error.missing) == {"A", "C", "D"}
    assert "A" in str(error) and "C" in str(error) and "D" in str(error)
    assert TOKEN not in str(error)


def test_missing_environment_variable_with_another_name_says_what_to_set() -> None:
    error = fail([bind("hms-env", {"HMS_TOKEN": "HMS_MANAGEMENT_TOKEN"})])
    assert "HMS_TOKEN" in str(error) and "HMS_MANAGEMENT_TOKEN" in str(error)


def test_sandbox_defaults_fill_only_unset_variables() -> None:
    binds = [bind("env", {"TOKEN": "HMS_TOKEN", "REGION": "HMS_REGION"})]
    values = resolve_binds(binds, {"HMS_REGION": "eu"}, defaults={"TOKEN": "sandbox", "REGION": "us"})
    assert values["TOKEN"] == "sandbox"
    assert values["REGION"] == "eu"  # a real value wins over the default


def test_defaults_do_not_cover_other_missing_variables() -> None:
    error = fail([bind("env", {"TOKEN": "T", "OTHER": "O"})], defaults={"TOKEN": "sandbox"})
    assert [entry.split(" ", 1)[0] for entry in error.missing] == ["OTHER"]


# ---------------------------------------------------------------------------------------------- files


@pytest.fixture
def capability_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "caps"
    (folder / "shared").mkdir(parents=True)
    (folder / "shared" / "secrets.yaml").write_text(
        f"registry-token: {TOKEN}\nport: 8080\nenabled: true\nsince: 2026-01-02\nnested: {{a: 1}}\n")
    (folder / "secrets.json").write_text(json.dumps({"api-key": OTHER, "count": 3}))
    return folder


@pytest.mark.parametrize("location", ["file:///./shared/secrets.yaml", "file://./shared/secrets.yaml"])
def test_yaml_file_bind_is_relative_to_the_capability_folder(capability_dir: Path, location: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    values = resolve_binds([bind("registry-env", {"REGISTRY_TOKEN": "registry-token"}, location, capability_dir)], {})
    assert values["REGISTRY_TOKEN"] == TOKEN
    assert values["registry-env.REGISTRY_TOKEN"] == TOKEN
    assert isinstance(values["REGISTRY_TOKEN"], Secret)


def test_json_file_bind(capability_dir: Path) -> None:
    values = resolve_binds([bind("keys", {"API_KEY": "api-key"}, "file:///./secrets.json", capability_dir)], {})
    assert values["API_KEY"] == OTHER


def test_absolute_file_uri_bind(capability_dir: Path) -> None:
    location = (capability_dir / "secrets.json").as_uri()
    assert resolve_binds([bind("keys", {"API_KEY": "api-key"}, location)], {})["API_KEY"] == OTHER


def test_file_bind_falls_back_to_the_working_directory(tmp_path: Path, capability_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    monkeypatch.chdir(capability_dir)
    values = resolve_binds([bind("keys", {"API_KEY": "api-key"}, "file:///./secrets.json", elsewhere)], {})
    assert values["API_KEY"] == OTHER


def test_capability_folder_wins_over_the_working_directory(tmp_path: Path, capability_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "secrets.json").write_text(json.dumps({"api-key": "from-cwd"}))
    monkeypatch.chdir(cwd)
    values = resolve_binds([bind("keys", {"API_KEY": "api-key"}, "file:///./secrets.json", capability_dir)], {})
    assert values["API_KEY"] == OTHER


def test_non_string_file_values_become_text(capability_dir: Path) -> None:
    keys = {"PORT": "port", "ENABLED": "enabled", "SINCE": "since", "NESTED": "nested"}
    values = resolve_binds([bind("cfg", keys, "file:///./shared/secrets.yaml", capability_dir)], {})
    assert values["PORT"] == "8080" and values["ENABLED"] == "true"
    assert values["SINCE"] == "2026-01-02"
    assert json.loads(values["NESTED"]) == {"a": 1}
    assert all(isinstance(v, Secret) for v in values.values())


def test_missing_keys_in_files_are_all_reported_without_values(capability_dir: Path) -> None:
    binds = [
        bind("registry-env", {"REGISTRY_TOKEN": "registry-token", "VERSION": "registry-version"},
             "file:///./shared/secrets.yaml", capability_dir),
        bind("keys", {"API_KEY": "api-key", "SECRET": "client-secret"}, "file:///./secrets.json", capability_dir),
        bind("env", {"ENV_ONE": "ENV_ONE"}),
    ]
    error = fail(binds)
    names = {entry.split(" ", 1)[0] for entry in error.missing}
    assert names == {"VERSION", "SECRET", "ENV_ONE"}
    message = str(error)
    assert "registry-version" in message and "client-secret" in message  # which key, in which file
    assert TOKEN not in message and OTHER not in message


def test_missing_file_reports_every_key_of_that_bind(capability_dir: Path) -> None:
    error = fail([bind("gone", {"A": "a", "B": "b"}, "file:///./nowhere.yaml", capability_dir),
                  bind("env", {"C": "C"})])
    assert set(error.missing) == {"A", "B", "C"}
    assert "nowhere.yaml" in str(error)


@pytest.mark.parametrize("location", ["vault://secret/data/hms", "k8s-secret://ns/name", "github-secrets://x"])
def test_unsupported_schemes_are_reported(capability_dir: Path, location: str) -> None:
    error = fail([bind("vault-env", {"TOKEN": "token"}, location, capability_dir)])
    assert error.missing == ("TOKEN",)
    assert location.split("://")[0] + "://" in str(error)
    assert "not supported" in str(error)


def test_location_without_a_scheme_is_reported(capability_dir: Path) -> None:
    error = fail([bind("x", {"TOKEN": "token"}, "./shared/secrets.yaml", capability_dir)])
    assert "file://" in str(error)


def test_unreadable_file_content_is_reported_by_kind_only(capability_dir: Path) -> None:
    (capability_dir / "broken.json").write_text('{"api-key": "' + TOKEN + '", oops}')
    error = fail([bind("keys", {"API_KEY": "api-key"}, "file:///./broken.json", capability_dir)])
    assert error.missing == ("API_KEY",)
    assert "broken.json" in str(error) and TOKEN not in str(error)


def test_file_that_is_not_a_mapping_is_reported(capability_dir: Path) -> None:
    (capability_dir / "list.yaml").write_text(f"- {TOKEN}\n")
    error = fail([bind("keys", {"A": "a"}, "file:///./list.yaml", capability_dir)])
    assert "mapping" in str(error) and TOKEN not in str(error)


# -------------------------------------------------------------------------------------------- secrets


def test_secret_repr_hides_the_value() -> None:
    values = resolve_binds([bind("env", {"TOKEN": "T"})], {"T": TOKEN})
    assert TOKEN not in repr(values["TOKEN"])
    assert TOKEN not in repr(values)  # e.g. a dict logged by accident
    assert str(values["TOKEN"]) == TOKEN and f"Bearer {values['TOKEN']}" == f"Bearer {TOKEN}"


# ------------------------------------------------------------------------------------------- env files


def test_env_file_parsing(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "\ufeff# a comment line\n"
        "\n"
        "PLAIN=value\n"
        "export EXPORTED=yes\n"
        "export   SPACED = padded  \n"
        "DOUBLE=\"quoted value\"\n"
        "SINGLE='single # not a comment'\n"
        "INLINE=value # trailing comment\n"
        "HASH=abc#def\n"
        "QUOTED_COMMENT=\"x y\" # note\n"
        "ESCAPES=\"line\\nnext \\\"q\\\"\"\n"
        "LITERAL='a\\nb'\n"
        "EQUALS=a=b=c\n"
        "EMPTY=\n"
        "URL=https://example.com/?a=1&b=2\n"
        "not a variable line\n"
        "=no-key\n"
        "bad key=x\n"
        "exported=1\n"
        "PLAIN=second wins\n",
        encoding="utf-8",
    )
    assert load_env_file(path) == {
        "PLAIN": "second wins",
        "EXPORTED": "yes",
        "SPACED": "padded",
        "DOUBLE": "quoted value",
        "SINGLE": "single # not a comment",
        "INLINE": "value",
        "HASH": "abc#def",
        "QUOTED_COMMENT": "x y",
        "ESCAPES": 'line\nnext "q"',
        "LITERAL": "a\\nb",
        "EQUALS": "a=b=c",
        "EMPTY": "",
        "URL": "https://example.com/?a=1&b=2",
        "exported": "1",
    }


def test_env_file_accepts_str_paths(tmp_path: Path) -> None:
    path = tmp_path / "vars.env"
    path.write_text("A=1\n")
    assert load_env_file(str(path)) == {"A": "1"}


def test_an_env_file_that_cannot_be_read_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.env"
    with pytest.raises(ConfigError, match=f"cannot read env file {missing}: No such file or directory$"):
        load_env_file(missing)
    with pytest.raises(ConfigError, match=f"cannot read env file {tmp_path}: Is a directory$"):
        load_env_file(tmp_path)


def test_an_env_file_that_is_not_utf8_names_the_line_not_the_value(tmp_path: Path) -> None:
    path = tmp_path / "latin1.env"
    path.write_bytes(b"\xef\xbb\xbfA=1\n" + f"TOKEN={TOKEN}\xe9".encode("latin-1") + b"\n")
    with pytest.raises(ConfigError) as caught:
        load_env_file(path)
    assert str(caught.value) == f"cannot read env file {path}: not UTF-8 text (line 2)"
    assert TOKEN not in str(caught.value)
