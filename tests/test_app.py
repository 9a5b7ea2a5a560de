"""app, the composition root: load every file, then bind every capability once into a Runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from naftiko_runtime import app
from naftiko_runtime.errors import BindingError, ConfigError
from naftiko_runtime.model import Capability


def capability(tmp_path: Path, name: str, binds: str, port: int, base_uri: str = "") -> Capability:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""\
naftiko: "1.0.0-alpha2"
info: {{label: {name}, description: Binds {name}.}}
binds:
{binds}
capability:
  consumes:
    - type: http
      namespace: {name}-api
      baseUri: '{base_uri or f"https://{name}.example.test"}'
      resources:
        - name: items
          path: /items
          operations:
            - {{name: list-items, method: GET}}
  exposes:
    - type: mcp
      namespace: {name}
      port: {port}
      tools:
        - {{name: {name}-list, description: List items., call: {name}-api.list-items}}
""", encoding="utf-8")
    loaded = app.load([path], {})
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    (cap,) = loaded.capabilities
    return cap


def test_every_missing_variable_of_every_capability_is_named_once(tmp_path: Path) -> None:
    (tmp_path / "keys.yaml").write_text("other: 1\n", encoding="utf-8")
    first = capability(tmp_path, "first", "  - namespace: env\n    keys: {TOKEN: FIRST_TOKEN, PLAIN: PLAIN}", 9401)
    second = capability(tmp_path, "second", "  - namespace: files\n    location: file:///./keys.yaml\n"
                        "    keys: {KEY: api-key}\n  - namespace: vault\n    location: vault://kv/x\n"
                        "    keys: {V: v}", 9402)
    with pytest.raises(BindingError) as caught:
        app.runtime([first, second], {})
    error = caught.value
    assert error.missing == ("PLAIN", "TOKEN (environment variable FIRST_TOKEN)",
                             "KEY (key 'api-key' in file:///./keys.yaml)", "V")
    assert str(error) == (
        "missing bind variables: PLAIN, TOKEN (environment variable FIRST_TOKEN), "
        "KEY (key 'api-key' in file:///./keys.yaml), V "
        "(bind 'vault': vault:// locations are not supported (use file:// or env))")


def test_an_upstream_override_must_name_a_consumed_namespace(tmp_path: Path) -> None:
    first = capability(tmp_path, "first", "  - namespace: env\n    keys: {TOKEN: FIRST_TOKEN}", 9403)
    with pytest.raises(ConfigError, match=r"'firts-api'.*first-api"):
        app.runtime([first], {"FIRST_TOKEN": "t"}, upstreams={"firts-api": "http://127.0.0.1:1"})
    runtime = app.runtime([first], {"FIRST_TOKEN": "t"}, upstreams={"first-api": "http://127.0.0.1:1"})
    assert [(u.namespace, u.target, u.url) for u in runtime.upstreams] == [
        ("first-api", "upstream", "http://127.0.0.1:1")]
    assert not runtime.started


def test_a_base_uri_its_binds_make_unusable_is_refused_at_start_up_without_the_bound_value(tmp_path: Path) -> None:
    binds = "  - namespace: env\n    keys: {TENANT: TENANT_KEY, PORT: API_PORT}"
    first = capability(tmp_path, "first", binds, 9404, "https://{{TENANT}}.example.test:{{PORT}}/v1")
    env = {"TENANT_KEY": "SECRET-canary-123", "API_PORT": "99999"}
    with pytest.raises(ConfigError) as caught:
        app.runtime([first], env)
    assert str(caught.value) == ("the baseUri `https://{{TENANT}}.example.test:{{PORT}}/v1` of `first-api` has a "
                                 "port that is not a number from 1 to 65535 once its binds are filled")
    env = {"TENANT_KEY": "SECRET-canary-123", "API_PORT": "8443"}
    (consumer,) = app.runtime([first], env).bound[0].consumers.values()
    assert consumer.base_uri == "https://SECRET-canary-123.example.test:8443/v1"
