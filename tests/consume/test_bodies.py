"""Request bodies: the exact bytes and content type each body kind puts on the wire."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import HTTP
from typing import Any

import httpx2
import pytest

from naftiko_runtime.consume import HttpConsumer
from naftiko_runtime.errors import InvocationError


def wire(kit: Any, body: Any = None, params: dict[str, Any] | None = None, *, op_params: Any = (),
         consumer_params: Any = ()) -> httpx2.Request:
    model = kit.consumer(kit.op(method="POST", body=body, params=op_params), params=consumer_params)
    request = HttpConsumer(model).build_request(model.operations["op"], params or {})
    request.read()
    return request


def test_json_object_body_keeps_native_values_of_whole_tags_and_renders_other_strings(kit: Any) -> None:
    body = {"type": "json", "data": {"ids": "{{ids}}", "greeting": "Hi {{name}}", "n": "{{n}}", "fixed": 3,
                                     "nested": [{"flag": "{{flag}}"}]}}
    request = wire(kit, body, {"ids": ["A", "B"], "name": "Ann", "n": 7, "flag": True})
    assert request.content == b'{"ids":["A","B"],"greeting":"Hi Ann","n":7,"fixed":3,"nested":[{"flag":true}]}'
    assert request.headers["content-type"] == "application/json"


def test_json_string_body_escapes_values_inside_string_literals_only(kit: Any) -> None:
    body = {"type": "json", "data": '{"name": "{{name}}", "ids": {{ids}}, "note": "{{{raw}}}"}'}
    request = wire(kit, body, {"name": 'say "hi"\n\\', "ids": ["A", "B"], "raw": 'x\\"y'})
    assert request.content == b'{"name": "say \\"hi\\"\\n\\\\", "ids": ["A","B"], "note": "x\\"y"}'
    assert json.loads(request.content)["name"] == 'say "hi"\n\\'


def test_raw_string_body_is_a_json_template_sent_as_application_json(kit: Any) -> None:
    template = '{\n  "shipImo": "{{imo}}",\n  "crew": {{crew}},\n  "count": {{count}}\n}\n'
    request = wire(kit, template, {"imo": "IMO 9", "crew": ["A"], "count": 2})
    assert request.content == b'{\n  "shipImo": "IMO 9",\n  "crew": ["A"],\n  "count": 2\n}\n'
    assert request.headers["content-type"] == "application/json"


def test_a_json_template_value_left_out_is_null_so_the_body_stays_json(kit: Any) -> None:
    request = wire(kit, '{"title": "{{title}}", "tags": {{tags}}}', {"title": "t"})
    assert request.content == b'{"title": "t", "tags": null}'


@pytest.mark.parametrize("body", ['{"note": {{{raw}}}}', {"type": "json", "data": '{"note": "{{{raw}}}"}'}])
def test_a_json_template_that_does_not_fill_to_json_is_refused_before_sending(kit: Any, body: Any) -> None:
    with pytest.raises(InvocationError, match=r"the body of \S+ is not JSON once its template is filled") as caught:
        wire(kit, body, {"raw": 'x", "admin": true, "y": "'[:-1]})
    assert "admin" not in str(caught.value)  # the reason only, never the text


@pytest.mark.parametrize(("content_type", "raw"), [("application/x-ndjson", '{"a": 1}\n{"b": 2}'),
                                                    ("application/json", "")])
def test_json_lines_and_an_empty_render_are_sent_as_they_are(kit: Any, content_type: str, raw: str) -> None:
    request = wire(kit, "{{{raw}}}", {"raw": raw}, op_params=[{"name": "Content-Type", "in": "header",
                                                                "value": content_type}])
    assert request.content == raw.encode()


def test_raw_string_body_follows_a_content_type_header_parameter_without_json_escaping(kit: Any) -> None:
    request = wire(kit, 'say "{{word}}"', {"word": 'a"b'},
                   op_params=[{"name": "Content-Type", "in": "header", "value": "text/plain"}])
    assert request.content == b'say "a"b"'
    assert request.headers.get_list("content-type") == ["text/plain"]


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("text", "text/plain"), ("xml", "application/xml"), ("sparql", "application/sparql-query")],
)
def test_text_xml_and_sparql_bodies_render_their_data_with_their_content_type(
    kit: Any, kind: str, content_type: str
) -> None:
    request = wire(kit, {"type": kind, "data": "<q id='{{id}}'>{{text}}</q>"}, {"id": 5, "text": "a & b"})
    assert request.content == b"<q id='5'>a & b</q>"
    assert request.headers["content-type"] == content_type


def test_form_body_from_a_map_is_really_url_encoded(kit: Any) -> None:
    body = {"type": "formUrlEncoded", "data": {"a": "1", "b": "{{b}}", "c": "é"}}
    request = wire(kit, body, {"b": "x y&z=1"})
    assert request.content == b"a=1&b=x+y%26z%3D1&c=%C3%A9"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


def test_form_body_from_a_string_keeps_its_encoding_and_encodes_interpolated_values(kit: Any) -> None:
    body = {"type": "formUrlEncoded", "data": "grant_type=client_credentials&user={{user}}&x=a+b"}
    request = wire(kit, body, {"user": "ann&admin=1"})
    assert request.content == b"grant_type=client_credentials&user=ann%26admin%3D1&x=a+b"


def test_multipart_body_is_real_multipart_form_data_with_ordered_parts(kit: Any) -> None:
    body = {"type": "multipartForm", "data": [
        {"name": "title", "value": "{{title}}"},
        {"name": "file", "value": "id,name\n1,{{who}}\n", "filename": "crew.csv", "contentType": "text/csv"},
        {"name": "count", "value": 3},
    ]}
    request = wire(kit, body, {"title": "Crew list", "who": "Ann"})
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    assert request.content == (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="title"\r\n\r\nCrew list\r\n'
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="crew.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\nid,name\n1,Ann\n\r\n"
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="count"\r\n\r\n3\r\n'
        b"--" + boundary + b"--\r\n"
    )
    parsed = message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.content,
                                policy=HTTP)
    parts = list(parsed.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["title", "file", "count"]
    assert parts[1].get_filename() == "crew.csv"


def test_multipart_ignores_a_content_type_header_parameter_so_the_boundary_stays_correct(kit: Any) -> None:
    request = wire(kit, {"type": "multipartForm", "data": [{"name": "a", "value": "1"}]},
                   op_params=[{"name": "Content-Type", "in": "header", "value": "multipart/form-data"}])
    assert request.headers.get_list("content-type")[0].startswith("multipart/form-data; boundary=")


def test_a_single_object_body_parameter_is_the_whole_json_body(kit: Any) -> None:
    params = [{"name": "room_id", "in": "path", "type": "string"}, {"name": "body", "in": "body", "type": "object"}]
    op = kit.op("/rooms/{room_id}/start", "POST", params=params)
    request = HttpConsumer(kit.consumer(op)).build_request(op, {"room_id": "r1", "body": {"meeting_url": "u"}})
    request.read()
    assert request.content == b'{"meeting_url":"u"}'
    assert request.url.path == "/v1/rooms/r1/start"


def test_several_body_parameters_form_a_json_object_by_name_omitting_missing_ones(kit: Any) -> None:
    params = [{"name": "name", "in": "body"}, {"name": "size", "in": "body"},
              {"name": "tags", "in": "body"}, {"name": "label", "in": "body", "value": "{{name}}!"}]
    request = wire(kit, op_params=params, params={"name": "x", "tags": ["a"]})
    assert json.loads(request.content) == {"name": "x", "tags": ["a"], "label": "x!"}
    assert request.headers["content-type"] == "application/json"


def test_no_body_and_no_content_type_when_nothing_provides_one(kit: Any) -> None:
    request = wire(kit, op_params=[{"name": "size", "in": "body"}], params={})
    assert request.content == b""
    assert "content-type" not in request.headers


def test_body_templates_see_bind_variables_by_plain_and_qualified_name(kit: Any) -> None:
    op = kit.op(method="POST", body={"type": "json", "data": {"a": "{{ORG}}", "b": "{{env.ORG}}"}})
    consumer = HttpConsumer(kit.consumer(op), variables={"ORG": "acme", "env.ORG": "acme"})
    request = consumer.build_request(op, {})
    request.read()
    assert request.content == b'{"a":"acme","b":"acme"}'
