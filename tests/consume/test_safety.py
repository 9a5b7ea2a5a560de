"""Review findings: secrets in transport errors and cut messages, dot segments, JSON body injection,
per-call work."""

from __future__ import annotations

import json
import logging
from types import MappingProxyType
from typing import Any

import httpx2
import pytest

from naftiko_runtime.consume import HttpConsumer
from naftiko_runtime.consume.auth import fetch_client_credentials
from naftiko_runtime.consume.messages import upstream_message
from naftiko_runtime.consume.request import render_json_template
from naftiko_runtime.errors import (
    DecodeError,
    InputError,
    InvocationError,
    UpstreamError,
    UpstreamUnavailable,
)
from naftiko_runtime.secrets import Redactor, Secret, secret_forms

TOKEN = "abcdefSECRET123"
BEARER = {"type": "bearer", "token": "{{TOKEN}}"}


# ------------------------------------------------------------------------------------ 1: transport errors


@pytest.mark.anyio
async def test_a_transport_error_quoting_an_escaped_secret_never_shows_any_of_it(kit: Any, upstream: Any) -> None:
    token = "abc\tSECRET123"  # a tab: the library's error text shows it escaped, as \\t

    def reject(request: httpx2.Request) -> httpx2.Response:
        value = request.headers["authorization"].encode()
        raise httpx2.LocalProtocolError(f"Illegal header value {value!r}", request=request)

    upstream.respond = reject
    op = kit.op()
    async with HttpConsumer(kit.consumer(op, base="http://10.0.0.1:8080/api", auth=BEARER),
                            variables={"TOKEN": Secret(token)}, transport=upstream.transport) as consumer:
        with pytest.raises(UpstreamUnavailable) as caught:
            await consumer.call(op, {})
    assert "SECRET" not in str(caught.value)
    assert caught.value.message == "could not reach 10.0.0.1:8080: invalid header value (LocalProtocolError)"


@pytest.mark.anyio
async def test_a_transport_error_text_is_replaced_by_a_fixed_reason(kit: Any, upstream: Any) -> None:
    def fail(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadError("peer said: here is something private", request=request)

    upstream.respond = fail
    op = kit.op()
    async with HttpConsumer(kit.consumer(op, base="http://10.0.0.1/api"), transport=upstream.transport) as consumer:
        with pytest.raises(UpstreamUnavailable) as caught:
            await consumer.call(op, {})
    assert caught.value.message == "could not reach 10.0.0.1: connection lost while reading (ReadError)"


@pytest.mark.anyio
@pytest.mark.parametrize("token", [TOKEN + "\n", TOKEN + "\r\n", "abc\0" + TOKEN])
async def test_a_bearer_token_with_a_control_character_is_refused_naming_the_header(
    kit: Any, upstream: Any, token: str
) -> None:
    op = kit.op()
    async with HttpConsumer(kit.consumer(op, auth=BEARER), variables={"TOKEN": Secret(token)},
                            transport=upstream.transport) as consumer:
        with pytest.raises(InvocationError) as caught:
            await consumer.call(op, {})
    message = str(caught.value)
    assert "Authorization header" in message and "CR, LF or NUL" in message
    assert "SECRET" not in message and caught.value.operation == "api.op"
    assert upstream.requests == []


@pytest.mark.anyio
async def test_an_api_key_header_with_a_line_break_is_refused_naming_the_header(kit: Any, upstream: Any) -> None:
    op = kit.op()
    auth = {"type": "apikey", "key": "X-Api-Key", "value": "{{TOKEN}}"}
    async with HttpConsumer(kit.consumer(op, auth=auth), variables={"TOKEN": Secret(TOKEN + "\n")},
                            transport=upstream.transport) as consumer:
        with pytest.raises(InvocationError) as caught:
            await consumer.call(op, {})
    assert "X-Api-Key header" in str(caught.value) and "SECRET" not in str(caught.value)
    assert upstream.requests == []


@pytest.mark.anyio
async def test_an_oauth2_access_token_with_a_line_break_is_a_decode_error_without_the_token() -> None:
    def token_endpoint(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"access_token": TOKEN + "\n", "expires_in": 60})

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(token_endpoint)) as client:
        with pytest.raises(DecodeError) as caught:
            await fetch_client_credentials(client, "https://auth.example.com/token", "id", "secret-value",
                                           scopes=[], audience=None, operation="api.op")
    assert "SECRET" not in str(caught.value) and "Authorization header" in str(caught.value)


def test_a_header_parameter_with_a_nul_is_an_input_error_naming_the_header_not_the_value(kit: Any) -> None:
    op = kit.op(params=[{"name": "X-Note", "in": "header"}])
    with pytest.raises(InputError) as caught:
        HttpConsumer(kit.consumer(op)).build_request(op, {"X-Note": "hidden\0value"})
    assert caught.value.problems[0]["pointer"] == "/X-Note"
    assert "X-Note" in caught.value.problems[0]["message"]
    assert "hidden" not in str(caught.value)


@pytest.mark.anyio
async def test_forward_refuses_a_configured_header_with_a_line_break(kit: Any, upstream: Any) -> None:
    model = kit.consumer(params=[{"name": "X-Tenant", "in": "header", "value": "{{TENANT}}"}])
    async with HttpConsumer(model, variables={"TENANT": "acme\r\nX-Admin: 1"},
                            transport=upstream.transport) as consumer:
        with pytest.raises(InputError) as caught:
            await consumer.forward("GET", "x", query="", headers={}, body=None)
    assert caught.value.problems[0]["pointer"] == "/X-Tenant"
    assert upstream.requests == []


def test_secret_forms_cover_stripped_and_escaped_spellings() -> None:
    forms = secret_forms([TOKEN + "\n", "abc\tSECRET456", "caf\u00e9-SECRET789"])
    texts = [
        f"Illegal header value b'Bearer {TOKEN}\\n'",  # repr of the bytes
        f"token was {TOKEN}.",  # the stripped value
        "value 'abc\\tSECRET456' refused",  # repr of the text
        '{"v": "abc\\tSECRET456"}',  # JSON escaping
        "b'caf\\xc3\\xa9-SECRET789'",  # repr of non-ASCII bytes
        'he said "caf\\u00e9-SECRET789"',  # ASCII-only JSON
    ]
    for text in texts:
        assert "SECRET" not in Redactor(forms=forms).text(text), text


# ------------------------------------------------------------------------------------ 2: redact, then cut


def test_a_secret_straddling_the_message_limit_is_redacted_before_the_cut() -> None:
    body = {"message": "m" * 290 + TOKEN}
    message = upstream_message(body, json.dumps(body).encode(), secret_forms([TOKEN]))
    assert "abcdef" not in message and "***" in message


def test_a_secret_straddling_the_text_limit_is_redacted_before_the_cut() -> None:
    content = ("t" * 195 + TOKEN).encode()
    message = upstream_message(None, content, secret_forms([TOKEN]))
    assert "abcde" not in message and message.startswith("t" * 195)


@pytest.mark.anyio
async def test_an_upstream_echoing_a_token_at_the_cut_leaks_no_part_of_it(kit: Any, upstream: Any) -> None:
    upstream.respond = lambda r: httpx2.Response(401, json={"message": "x" * 283 + r.headers["authorization"]})
    op = kit.op()
    async with HttpConsumer(kit.consumer(op, auth=BEARER), variables={"TOKEN": Secret(TOKEN)},
                            transport=upstream.transport) as consumer:
        with pytest.raises(UpstreamError) as caught:
            await consumer.call(op, {})
    assert "abcdef" not in str(caught.value)


@pytest.mark.anyio
async def test_a_token_endpoint_echoing_the_client_secret_at_the_cut_leaks_no_part_of_it() -> None:
    secret = "client-SECRET-0123456789"

    def token_endpoint(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(400, json={"error": "invalid_client", "error_description": "z" * 270 + secret})

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(token_endpoint)) as client:
        with pytest.raises(UpstreamError) as caught:
            await fetch_client_credentials(client, "https://auth.example.com/token", "id", secret,
                                           scopes=[], audience=None, operation="api.op")
    assert "client-SEC" not in str(caught.value)


@pytest.mark.anyio
async def test_a_decode_error_excerpt_of_a_body_holding_a_secret_is_dropped(kit: Any, upstream: Any) -> None:
    upstream.respond = lambda r: httpx2.Response(200, content=b"{broken " + TOKEN.encode() * 10)
    op = kit.op()
    async with HttpConsumer(kit.consumer(op, auth=BEARER), variables={"TOKEN": Secret(TOKEN)},
                            transport=upstream.transport) as consumer:
        with pytest.raises(DecodeError) as caught:
            await consumer.call(op, {})
    assert "abc" not in str(caught.value)
    assert str(caught.value) == "could not decode the response as json"


# ------------------------------------------------------------------------------------ 3: dot segments


@pytest.mark.parametrize("value", ["..", ".", "%2e", "%2E%2e", ".%2E", "%252e%252e"])
@pytest.mark.anyio
async def test_a_dot_segment_path_value_is_an_input_error_naming_the_parameter(
    kit: Any, upstream: Any, value: str
) -> None:
    op = kit.op("/rooms/{room_id}/streams", params=[{"name": "room_id", "in": "path"}])
    async with HttpConsumer(kit.consumer(op), transport=upstream.transport) as consumer:
        with pytest.raises(InputError) as caught:
            await consumer.call(op, {"room_id": value})
    (problem,) = caught.value.problems
    assert problem["pointer"] == "/room_id" and "room_id" in problem["message"]
    assert upstream.requests == []


@pytest.mark.parametrize("path", ["..", "a/../b", "a/./b", "a/%2e%2E/b", "%2E", "a/%252e%252e"])
@pytest.mark.anyio
async def test_a_forwarded_path_with_a_dot_segment_is_an_input_error(kit: Any, upstream: Any, path: str) -> None:
    async with HttpConsumer(kit.consumer(), transport=upstream.transport) as consumer:
        with pytest.raises(InputError) as caught:
            await consumer.forward("GET", path, query="", headers={}, body=None)
    assert caught.value.problems[0]["pointer"] == "/path"
    assert caught.value.operation == "api"
    assert upstream.requests == []


@pytest.mark.anyio
async def test_dots_inside_a_segment_are_still_forwarded(kit: Any, upstream: Any) -> None:
    async with HttpConsumer(kit.consumer(), transport=upstream.transport) as consumer:
        _, _, _, close = await consumer.forward("GET", "files/.hidden/a..b/...", query="", headers={}, body=None)
        await close()
    assert upstream.last.url.raw_path == b"/v1/files/.hidden/a..b/..."


# ------------------------------------------------------------------------------------ 4: JSON injection


def test_a_string_outside_json_quotes_becomes_a_string_literal_and_adds_no_key() -> None:
    text = render_json_template('{"role": "viewer", "name": {{name}}}', {"name": '"x", "role": "admin"'})
    assert json.loads(text) == {"role": "viewer", "name": '"x", "role": "admin"'}


def test_values_outside_json_quotes_render_as_json_values() -> None:
    context = {"n": 3, "f": 1.5, "ok": False, "ids": ["A", "B"], "obj": MappingProxyType({"k": [1]}),
               "none": None, "secret": Secret("s-1")}
    template = '{"n": {{n}}, "f": {{f}}, "ok": {{ok}}, "ids": {{ids}}, "obj": {{obj}}, "none": {{none}}, ' \
               '"secret": {{secret}}}'
    assert json.loads(render_json_template(template, context)) == {
        "n": 3, "f": 1.5, "ok": False, "ids": ["A", "B"], "obj": {"k": [1]}, "none": None, "secret": "s-1"}


def test_triple_braces_stay_the_raw_opt_out_outside_json_quotes() -> None:
    assert render_json_template('{"filter": {{{raw}}}}', {"raw": '{"a": 1}'}) == '{"filter": {"a": 1}}'


def test_values_inside_a_json_section_are_escaped_too() -> None:
    template = '[{{#items}}{"name": "{{name}}", "id": {{id}}},{{/items}}{}]'
    items = [{"name": 'a"b', "id": '1, "admin": true'}]
    assert json.loads(render_json_template(template, {"items": items})) == [
        {"name": 'a"b', "id": '1, "admin": true'}, {}]


def test_a_dict_inside_a_json_string_is_its_escaped_json_text() -> None:
    text = render_json_template('{"note": "{{obj}}"}', {"obj": {"a": "b"}})
    assert json.loads(text) == {"note": '{"a":"b"}'}


# ------------------------------------------------------------------------------------ 5: per-call work


@pytest.mark.anyio
async def test_a_successful_call_computes_no_secret_forms_when_debug_is_off(
    kit: Any, upstream: Any, monkeypatch: Any, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="naftiko.consume")
    op = kit.op()
    consumer = HttpConsumer(kit.consumer(op, auth=BEARER), variables={"TOKEN": Secret(TOKEN)},
                            transport=upstream.transport)
    calls: list[object] = []
    original = consumer._secrets
    monkeypatch.setattr(consumer, "_secrets", lambda *a: calls.append(a) or original(*a))
    async with consumer:
        await consumer.call(op, {})
        await consumer.forward("GET", "x", query="", headers={}, body=None)
    assert calls == []


@pytest.mark.anyio
async def test_the_debug_line_of_a_call_is_still_redacted(kit: Any, upstream: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="naftiko.consume")
    op = kit.op()
    auth = {"type": "apikey", "key": "k", "value": "{{TOKEN}}", "placement": "query"}
    async with HttpConsumer(kit.consumer(op, auth=auth), variables={"TOKEN": Secret(TOKEN)},
                            transport=upstream.transport) as consumer:
        await consumer.call(op, {})
    lines = [r.getMessage() for r in caplog.records if r.name == "naftiko.consume"]
    assert any("GET" in line and "***" in line for line in lines)
    assert not any(TOKEN in line for line in lines)


@pytest.mark.anyio
async def test_parameters_and_auth_templates_are_prepared_once_not_per_call(
    kit: Any, upstream: Any, monkeypatch: Any
) -> None:
    """Parameters are merged and templates compiled when the model is built; a call compiles nothing."""
    from naftiko_runtime import templates

    compiled: list[str] = []
    init = templates.Template.__init__

    def counting(self: Any, source: str, escape: str | None = None) -> None:
        compiled.append(source)
        init(self, source, escape)

    op = kit.op("/items/{id}", params=[{"name": "id", "in": "path"}])
    consumer = HttpConsumer(kit.consumer(op, auth=BEARER), variables={"TOKEN": Secret(TOKEN)},
                            transport=upstream.transport)
    monkeypatch.setattr(templates.Template, "__init__", counting)
    templates._compile.cache_clear()  # a cached template would hide a per-call compile
    async with consumer:
        for n in range(3):
            await consumer.call(op, {"id": str(n)})
    assert compiled == []
    assert upstream.last.headers["authorization"] == f"Bearer {TOKEN}"
    assert [r.url.path for r in upstream.requests] == ["/v1/items/0", "/v1/items/1", "/v1/items/2"]


def test_an_error_body_nested_past_the_recursion_limit_is_read_as_text_not_a_crash() -> None:
    from naftiko_runtime.consume.messages import parse_json

    deep = b"[" * 5000 + b"]" * 5000
    assert parse_json(deep) is None
    assert upstream_message(parse_json(deep), deep).startswith("[[[")
