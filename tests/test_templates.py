"""Runtime Mustache templates (templates.py) and load-time ``<<env.X>>`` templates (loadtime.py)."""

from __future__ import annotations

from typing import Any

import pytest

from naftiko_runtime.loadtime import LoadTimeProblem, load_time_names, render_load_time
from naftiko_runtime.secrets import Secret, redact
from naftiko_runtime.templates import (
    Template,
    compile_template,
    format_value,
    render_native,
    resolve_path,
)


def render(text: str, **context: Any) -> str:
    return Template.compile(text).render(context)


# --------------------------------------------------------------------------------------------------
# Variables
# --------------------------------------------------------------------------------------------------


def test_simple_variable_renders_its_value() -> None:
    assert render("/rooms/{{room_id}}", room_id="r-1") == "/rooms/r-1"


def test_whitespace_inside_braces_is_ignored() -> None:
    assert render("{{ name }}|{{name   }}", name="x") == "x|x"


def test_missing_variable_renders_empty_string() -> None:
    assert render("/ships/{{imo}}") == "/ships/"


def test_kebab_case_names_resolve() -> None:
    assert render("{{room-id}}", **{"room-id": "abc"}) == "abc"


def test_html_is_never_escaped() -> None:
    assert render("{{v}}", v="<a href='x'>&</a>") == "<a href='x'>&</a>"


def test_triple_braces_and_ampersand_render_like_plain_variables() -> None:
    assert render("{{{v}}} {{& v}} {{v}}", v="a&b") == "a&b a&b a&b"


def test_dotted_name_prefers_the_literal_key() -> None:
    context = {"a.b": "literal", "a": {"b": "nested"}}
    assert Template.compile("{{a.b}}").render(context) == "literal"


def test_dotted_name_walks_nested_mappings() -> None:
    context = {"step": {"data": {"id": 7}}}
    assert Template.compile("{{step.data.id}}").render(context) == "7"


def test_dotted_name_falls_back_to_a_longest_literal_prefix() -> None:
    context = {"env.HMS_TOKEN": "tok", "outer": {"a.b": {"c": "deep"}}}
    assert Template.compile("{{env.HMS_TOKEN}}").render(context) == "tok"
    assert Template.compile("{{outer.a.b.c}}").render(context) == "deep"


def test_qualified_name_resolves_through_a_namespace_mapping() -> None:
    context = {"env": {"HMS_MANAGEMENT_TOKEN": "t0k"}}
    assert Template.compile("Bearer {{env.HMS_MANAGEMENT_TOKEN}}").render(context) == "Bearer t0k"


def test_dotted_name_can_index_into_a_list() -> None:
    assert render("{{items.1}}", items=["a", "b"]) == "b"


def test_lists_render_as_compact_json() -> None:
    assert render('{"crewIds": {{crewIds}}}', crewIds=["A", "B"]) == '{"crewIds": ["A","B"]}'


def test_mappings_render_as_compact_json() -> None:
    assert render("{{obj}}", obj={"a": 1, "b": [True, None]}) == '{"a":1,"b":[true,null]}'


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (None, ""), (3, "3"), (2.5, "2.5"), (0, "0"), ("é", "é")],
)
def test_scalars_render_as_their_json_like_text(value: Any, text: str) -> None:
    assert render("{{v}}", v=value) == text
    assert format_value(value) == text


def test_invalid_tag_text_stays_literal() -> None:
    assert render("{{}} {{$.x}} {{a b}}", a="A") == "{{}} {{$.x}} {{a b}}"


def test_unclosed_braces_are_literal_text() -> None:
    assert render("price {{ total", total=3) == "price {{ total"
    assert render("{{a}} then {{b", a="x") == "x then {{b"


def test_json_body_with_adjacent_braces_renders() -> None:
    assert render('{"room": {"id": "{{id}}"}}', id="r1") == '{"room": {"id": "r1"}}'


# --------------------------------------------------------------------------------------------------
# Sections, inverted sections, comments
# --------------------------------------------------------------------------------------------------


def test_section_renders_when_value_is_truthy() -> None:
    assert render("{{#flag}}yes{{/flag}}", flag=True) == "yes"
    assert render("{{#flag}}yes{{/flag}}", flag=False) == ""
    assert render("{{#flag}}yes{{/flag}}") == ""


def test_section_iterates_a_list_with_each_item_on_top_of_the_context() -> None:
    template = "{{#items}}[{{name}}:{{suffix}}]{{/items}}"
    context = {"items": [{"name": "a"}, {"name": "b", "suffix": "own"}], "suffix": "outer"}
    assert Template.compile(template).render(context) == "[a:outer][b:own]"


def test_section_over_scalars_uses_the_dot_name() -> None:
    assert render("{{#ids}}{{.}};{{/ids}}", ids=[1, 2]) == "1;2;"


def test_section_over_a_mapping_pushes_it() -> None:
    assert render("{{#room}}{{id}}{{/room}}", room={"id": "r9"}) == "r9"


def test_inverted_section_renders_only_when_falsy() -> None:
    template = "{{^items}}none{{/items}}"
    assert render(template) == "none"
    assert render(template, items=[]) == "none"
    assert render(template, items=[1]) == ""


def test_comments_render_nothing() -> None:
    assert render("a{{! a comment with {braces }}b") == "ab"


def test_standalone_section_lines_leave_no_blank_lines() -> None:
    template = "[\n  {{#items}}\n  {{.}},\n  {{/items}}\n]"
    assert render(template, items=[1, 2]) == "[\n  1,\n  2,\n]"


def test_unclosed_section_does_not_crash_and_keeps_its_tag() -> None:
    assert render("{{#open}}body {{x}}", x="X") == "{{#open}}body X"


def test_stray_closing_tag_stays_literal() -> None:
    assert render("a{{/nothing}}b") == "a{{/nothing}}b"


# --------------------------------------------------------------------------------------------------
# Compilation, names, secrets
# --------------------------------------------------------------------------------------------------


def test_compile_is_cached() -> None:
    assert Template.compile("{{cached}}") is compile_template("{{cached}}")


def test_names_lists_every_referenced_name_once() -> None:
    template = Template.compile("{{a}} {{#list}}{{b.c}}{{.}}{{/list}} {{^d}}{{a}}{{/d}} {{! e }}")
    assert template.names == ("a", "list", "b.c", "d")


def test_static_templates_are_detected() -> None:
    assert Template.compile("plain text {{! note }}").is_static
    assert not Template.compile("x {{y}}").is_static
    assert Template.compile("plain").render({}) == "plain"


def test_secret_repr_hides_the_value_but_renders_the_value() -> None:
    token = Secret("s3cr3t-value")
    assert "s3cr3t" not in repr(token)
    assert "s3cr3t" not in repr({"token": token})
    assert render("Bearer {{token}}", token=token) == "Bearer s3cr3t-value"


def test_redact_replaces_every_secret_longest_first() -> None:
    text = "key=abcdef short=abc key2=abcdef"
    assert redact(text, ["abc", "abcdef", ""]) == "key=*** short=*** key2=***"


def test_redact_without_secrets_returns_the_text() -> None:
    assert redact("nothing here", []) == "nothing here"
    assert redact("nothing here", [""]) == "nothing here"


# --------------------------------------------------------------------------------------------------
# Escaping modes, native rendering, dot paths
# --------------------------------------------------------------------------------------------------


def test_compile_caches_each_escaping_mode_separately() -> None:
    plain, as_json = compile_template('{"a": {{x}}}'), compile_template('{"a": {{x}}}', "json")
    assert plain is not as_json and as_json is compile_template('{"a": {{x}}}', "json")
    assert plain.render({"x": "v"}) == '{"a": v}'
    assert as_json.render({"x": "v"}) == '{"a": "v"}'


def test_json_mode_escapes_inside_strings_writes_json_values_elsewhere_and_leaves_raw_tags() -> None:
    template = compile_template('{"s": "{{v}}", "v": {{v}}, "r": "{{{v}}}", "a": "{{&v}}", "m": {{gone}}}', "json")
    assert template.render({"v": 'q"\n'}) == '{"s": "q\\"\\n", "v": "q\\"\\n", "r": "q"\n", "a": "q"\n", "m": null}'


def test_json_mode_tracks_escaped_quotes_inside_string_literals() -> None:
    template = compile_template('{"s": "say \\"{{v}}\\"", "n": {{v}}}', "json")
    assert template.render({"v": 1}) == '{"s": "say \\"1\\"", "n": 1}'


def test_form_mode_url_encodes_every_plain_value_even_inside_sections() -> None:
    template = compile_template("a={{a}}{{#list}}&b={{.}}{{/list}}&raw={{{a}}}", "form")
    assert template.render({"a": "x&y=z", "list": ["1 2", "+"]}) == "a=x%26y%3Dz&b=1+2&b=%2B&raw=x&y=z"


def test_an_unknown_escaping_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        compile_template("{{x}}", "html")


def test_render_native_keeps_the_type_of_a_whole_plain_tag_only() -> None:
    context = {"ids": ["A", "B"], "n": 3, "none": None, "s": "text"}
    assert render_native(" {{ ids }} ", context) == ["A", "B"]
    assert render_native("{{n}}", context) == 3
    assert render_native("{{none}}", context) is None
    assert render_native("{{s}}", context) == "text"
    assert render_native("{{missing}}", context) == ""
    assert render_native("{{{ids}}}", context) == '["A","B"]'  # the raw tag asks for text
    assert render_native("{{&ids}}", context) == '["A","B"]'
    assert render_native("n={{n}}", context) == "n=3"


def test_render_native_renders_mapping_keys_as_text_and_walks_containers() -> None:
    value = {"{{k}}": ["{{n}}", {"x": "{{n}}"}], "fixed": 1, 2: "two"}
    assert render_native(value, {"k": "key", "n": 7}) == {"key": [7, {"x": 7}], "fixed": 1, 2: "two"}


def test_render_native_is_the_one_implementation_used_by_the_runtime_and_the_consumer() -> None:
    from naftiko_runtime.consume import request
    from naftiko_runtime.runtime import calls

    assert calls.render_native is render_native
    assert request.render_native is render_native


def test_resolve_path_prefers_the_literal_key_then_walks_then_indexes_lists() -> None:
    data = {"env.TOKEN": "literal", "env": {"TOKEN": "nested"}, "a": {"b": [{"c": 1}]}}
    assert resolve_path(data, "env.TOKEN") == "literal"
    assert resolve_path(data, "a.b.0.c") == 1
    assert resolve_path(data, "a.b.0.c", indices=False) is None
    assert resolve_path(data, "a.nope") is None
    assert resolve_path(data, "a.nope", "default") == "default"
    assert resolve_path(data, "") is data


def test_step_paths_and_consumed_paths_share_the_dot_path_lookup() -> None:
    from naftiko_runtime.runtime.calls import dot_path

    outputs = {"step": {"ids": [1, 2], "a.b": "dotted"}}
    assert dot_path(outputs, "step.a.b") == "dotted"  # the literal key below the step
    assert dot_path(outputs, "step.ids.0") is None  # step paths never index lists (spec)
    assert dot_path(outputs, "step.ids") == [1, 2]


# --------------------------------------------------------------------------------------------------
# Load-time templates
# --------------------------------------------------------------------------------------------------


def test_load_time_variable_is_rendered_and_typed() -> None:
    data, problems = render_load_time({"port": "<<env.PORT>>"}, {"PORT": "8080"})
    assert problems == []
    assert data == {"port": 8080}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.5", 1.5), ("true", True), ("false", False), ("-3", -3), ("0x1F", 31), ("abc", "abc"), ("", "")],
)
def test_whole_expression_converts_yaml_core_scalars(text: str, expected: Any) -> None:
    data, problems = render_load_time({"v": "<<env.V>>"}, {"V": text})
    assert problems == []
    assert data["v"] == expected
    assert type(data["v"]) is type(expected)


def test_quoted_scalar_keeps_its_string_type() -> None:
    def typed(pointer: str) -> bool:
        return pointer != "/quoted"

    data, _ = render_load_time({"quoted": "<<env.PORT>>", "plain": "<<env.PORT>>"}, {"PORT": "8080"}, typed)
    assert data == {"quoted": "8080", "plain": 8080}


def test_embedded_expression_stays_text() -> None:
    data, _ = render_load_time({"url": "http://localhost:<<env.PORT>>/v2"}, {"PORT": "8080"})
    assert data == {"url": "http://localhost:8080/v2"}


def test_default_filter_supplies_missing_variables() -> None:
    data, problems = render_load_time({"port": "<<env.PORT | default('8080')>>"}, {})
    assert problems == []
    assert data == {"port": 8080}


def test_missing_variables_are_all_reported_by_name_and_pointer() -> None:
    tree = {"a": ["x", {"b/c~": "<<env.ONE>>-<<env.TWO>>"}]}
    data, problems = render_load_time(tree, {})
    assert {(p.pointer, p.name) for p in problems} == {("/a/1/b~1c~0", "ONE"), ("/a/1/b~1c~0", "TWO")}
    assert data == tree  # failed strings keep their text


def test_syntax_error_is_reported_without_a_name() -> None:
    _, problems = render_load_time({"v": "<<env.PORT +>>"}, {"PORT": "1"})
    assert [(p.pointer, p.name) for p in problems] == [("/v", None)]


def test_bare_name_is_reported_as_unknown() -> None:
    _, problems = render_load_time({"v": "<<PORT>>"}, {"PORT": "1"})
    assert len(problems) == 1
    assert problems[0].name is None
    assert "env.NAME" in problems[0].message


def test_shift_operators_in_plain_text_are_left_alone() -> None:
    tree = {"d": "a << b", "e": "x >> y", "f": 3, "g": None}
    assert render_load_time(tree, {}) == (tree, [])


def test_block_delimiters_work() -> None:
    data, problems = render_load_time({"v": "<% if env.MODE == 'x' %>on<% else %>off<% endif %>"}, {"MODE": "x"})
    assert (data, problems) == ({"v": "on"}, [])


def test_comment_delimiters_work() -> None:
    data, _ = render_load_time({"v": "a<# note #>b<<env.X>>"}, {"X": "c"})
    assert data == {"v": "abc"}


def test_problem_messages_never_contain_variable_values() -> None:
    secret = "hunter2-super-secret"
    env = {"TOKEN": secret}
    tree = {
        "arith": "<<env.TOKEN + 1>>",
        "attr": "<<env.TOKEN.missing>>",
        "call": "<<env.TOKEN.__class__>>",
        "missing": "<<env.TOKEN>> <<env.OTHER>>",
    }
    data, problems = render_load_time(tree, env)
    assert problems
    assert all(isinstance(p, LoadTimeProblem) for p in problems)
    assert all(secret not in p.message for p in problems)
    assert secret not in repr(problems)
    assert data == tree


def test_sandbox_blocks_attribute_escapes() -> None:
    _, problems = render_load_time({"v": "<<env.__class__.__mro__>>"}, {})
    assert problems and problems[0].pointer == "/v"


def test_mapping_keys_are_not_rendered() -> None:
    data, _ = render_load_time({"<<env.K>>": "v"}, {"K": "x"})
    assert data == {"<<env.K>>": "v"}


def test_load_time_names_lists_env_references() -> None:
    text = "<<env.A>> <<env['B']>> <<env.A | default(env.C)>> <% if env.D %>x<% endif %> a << b"
    assert load_time_names(text) == ["A", "B", "C", "D"]


def test_load_time_names_tolerates_plain_and_broken_text() -> None:
    assert load_time_names("no templates") == []
    assert load_time_names("<<env.A +>> and <<env['B'] | x(>>") == ["A", "B"]
