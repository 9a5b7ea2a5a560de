"""Response-format conversion: every outputRawFormat becomes a plain JSON tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from naftiko_runtime.errors import DecodeError
from naftiko_runtime.formats import SUPPORTED, UNSUPPORTED, check_css_selector, convert
from naftiko_runtime.formats import yaml as yaml_format

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "naftiko" / "fixtures"

USERS = [
    {"id": "1", "name": "Alice Smith", "email": "alice@example.com"},
    {"id": "2", "name": "Bob Johnson", "email": "bob@example.com"},
    {"id": "3", "name": "Carol White", "email": "carol@example.com"},
]


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"corpus fixture {name} not available")
    return path.read_bytes()


def decode_error(body: bytes, fmt: str | None, schema: str | None = None, **kwargs: Any) -> str:
    with pytest.raises(DecodeError) as info:
        convert(body, fmt, schema, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- dispatch


def test_supported_and_unsupported_format_sets_are_exactly_the_spec_lists() -> None:
    assert {"json", "xml", "csv", "tsv", "psv", "yaml", "html", "markdown"} == SUPPORTED
    assert {"avro", "protobuf"} == UNSUPPORTED


@pytest.mark.parametrize("fmt", ["avro", "protobuf"])
def test_avro_and_protobuf_raise_a_not_supported_decode_error(fmt: str) -> None:
    message = decode_error(b"\x00\x01", fmt)
    assert fmt in message and "not supported" in message


def test_an_unknown_format_raises_a_decode_error_naming_it() -> None:
    assert "'bson'" in decode_error(b"{}", "bson")


def test_format_names_are_matched_case_insensitively() -> None:
    assert convert(b"<r><a>1</a></r>", "XML") == {"a": "1"}


def test_decode_error_is_a_502_undecodable_response() -> None:
    with pytest.raises(DecodeError) as info:
        convert(b"{", "json")
    assert info.value.http_status == 502
    assert info.value.as_dict()["error"] == "undecodable-response"


# --------------------------------------------------------------------------- json


def test_json_is_the_default_format() -> None:
    assert convert(b'{"a": [1, 2.5, true, null, "x"]}', None) == {"a": [1, 2.5, True, None, "x"]}
    assert convert(b"[1]", "json") == [1]


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_an_empty_json_body_is_none(body: bytes) -> None:
    assert convert(body, None) is None


def test_malformed_json_names_the_format_and_position() -> None:
    message = decode_error(b'{"a": }', "json")
    assert "json" in message and "line 1 column 7" in message


def test_json_nan_is_rejected_because_it_is_not_json() -> None:
    assert "NaN" in decode_error(b'{"a": NaN}', "json")


def test_decode_errors_never_echo_the_body() -> None:
    body = b'{"token": "sk-live-SECRETVALUE", ' + b"x" * 500
    message = decode_error(body, "json")
    assert "SECRETVALUE" not in message and len(message) < 200


# --------------------------------------------------------------------------- charsets


def test_the_content_type_charset_is_used_to_decode() -> None:
    body = "name\nJosé\n".encode("latin-1")
    assert convert(body, "csv", content_type='text/csv; charset="ISO-8859-1"') == [{"name": "José"}]


def test_text_defaults_to_utf8_without_a_charset() -> None:
    assert convert('{"city": "Zürich"}'.encode(), None, content_type="application/json") == {"city": "Zürich"}


def test_a_utf8_bom_is_dropped_so_the_first_key_is_clean() -> None:
    assert convert(b"\xef\xbb\xbfid,name\n1,A\n", "csv") == [{"id": "1", "name": "A"}]


def test_a_utf16_bom_selects_utf16() -> None:
    assert convert('{"a": "é"}'.encode("utf-16"), "json") == {"a": "é"}


def test_bytes_invalid_for_the_charset_raise_a_decode_error() -> None:
    message = decode_error(b'{"a": "\xff"}', "json")
    assert "utf-8" in message and "json" in message


def test_an_unknown_charset_raises_a_decode_error_naming_it() -> None:
    assert "klingon" in decode_error(b"{}", "json", content_type="application/json; charset=klingon")


# --------------------------------------------------------------------------- xml


def test_xml_drops_the_root_and_folds_repeated_siblings_into_an_array() -> None:
    body = b"<vessels><vessel><imo>1</imo></vessel><vessel><imo>2</imo></vessel></vessels>"
    assert convert(body, "xml") == {"vessel": [{"imo": "1"}, {"imo": "2"}]}


def test_xml_keeps_a_single_child_as_an_object_and_numbers_as_text() -> None:
    assert convert(b"<r><user><id>42</id><ok>true</ok></user></r>", "xml") == {
        "user": {"id": "42", "ok": "true"}
    }


def test_xml_attributes_become_fields_and_text_goes_under_the_empty_key() -> None:
    body = b'<r><price currency="EUR">9.50</price><tag id="7"/></r>'
    assert convert(body, "xml") == {"price": {"currency": "EUR", "": "9.50"}, "tag": {"id": "7"}}


def test_xml_empty_elements_become_empty_strings() -> None:
    assert convert(b"<r><a/><b>   </b></r>", "xml") == {"a": "", "b": ""}


def test_xml_namespaces_are_stripped_from_tags_and_attributes() -> None:
    body = (
        b'<s:Envelope xmlns:s="urn:s" xmlns:x="urn:x"><s:Body x:kind="k"><x:v>1</x:v></s:Body></s:Envelope>'
    )
    assert convert(body, "xml") == {"Body": {"kind": "k", "v": "1"}}


def test_xml_non_adjacent_repeats_are_merged_into_one_array() -> None:
    assert convert(b"<r><a>1</a><b>x</b><a>2</a></r>", "xml") == {"a": ["1", "2"], "b": "x"}


def test_xml_text_only_root_is_its_text() -> None:
    assert convert(b"<message>hello</message>", "xml") == "hello"


def test_an_empty_xml_body_is_none() -> None:
    assert convert(b"", "xml") is None


def _billion_laughs() -> bytes:
    """Ten levels of ten references each: a billion "lol"s once expanded."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10)
    ]
    return f'<?xml version="1.0"?><!DOCTYPE r [{"".join(entities)}]><r>&lol9;</r>'.encode()


@pytest.mark.parametrize(
    "body",
    [
        _billion_laughs(),
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>',
        b'<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]><r>&secret;</r>',
        b'<!DOCTYPE r SYSTEM "http://example.com/evil.dtd"><r/>',
    ],
    ids=["billion-laughs", "internal-entity", "external-entity", "external-dtd"],
)
def test_xml_with_a_dtd_or_entity_declaration_is_refused(body: bytes) -> None:
    message = decode_error(body, "xml")
    assert "xml" in message and "not allowed" in message
    assert "passwd" not in message and "example.com" not in message


def test_xml_dtd_lookalikes_in_comments_and_cdata_are_just_text() -> None:
    body = b"<r><!-- <!DOCTYPE x> --><a><![CDATA[<!ENTITY y>]]></a></r>"
    assert convert(body, "xml") == {"a": "<!ENTITY y>"}


@pytest.mark.parametrize("body", [b"<r><a></r>", b'<r><!ENTITY x "y"></r>', b"<r>&undeclared;</r>"])
def test_malformed_xml_raises_a_decode_error_with_the_position(body: bytes) -> None:
    message = decode_error(body, "xml")
    assert "xml" in message and "line 1" in message


def test_xml_encoding_declaration_is_honoured_without_a_charset() -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><r><city>Málaga</city></r>'.encode("latin-1")
    assert convert(body, "xml") == {"city": "Málaga"}


def test_xml_content_type_charset_overrides_the_declaration() -> None:
    body = '<?xml version="1.0" encoding="UTF-8"?><r><c>ñ</c></r>'.encode("latin-1")
    assert convert(body, "xml", content_type="application/xml; charset=latin-1") == {"c": "ñ"}


# --------------------------------------------------------------------------- csv / tsv / psv


@pytest.mark.parametrize(("fmt", "sep"), [("csv", ","), ("tsv", "\t"), ("psv", "|")])
def test_delimited_formats_map_rows_to_header_keyed_string_objects(fmt: str, sep: str) -> None:
    body = sep.join(["id", "name"]) + "\n" + sep.join(["1", "Ann"]) + "\n"
    assert convert(body.encode(), fmt) == [{"id": "1", "name": "Ann"}]


def test_csv_handles_quotes_crlf_blank_lines_short_and_long_rows() -> None:
    body = b'id,name,note\r\n1,"Smith, J","say ""hi"""\r\n\r\n2,Bo\r\n3,Cy,n,extra\r\n'
    assert convert(body, "csv") == [
        {"id": "1", "name": "Smith, J", "note": 'say "hi"'},
        {"id": "2", "name": "Bo", "note": ""},
        {"id": "3", "name": "Cy", "note": "n"},
    ]


def test_csv_values_stay_strings_and_an_empty_header_gets_a_column_name() -> None:
    assert convert(b"a,,c\n1,2,3\n", "csv") == [{"a": "1", "column2": "2", "c": "3"}]


@pytest.mark.parametrize("body", [b"", b"\n\n", b"id,name\n"])
def test_csv_without_data_rows_is_an_empty_array(body: bytes) -> None:
    assert convert(body, "csv") == []


@pytest.mark.parametrize("body", [b'id,name\n1,"unterminated\n2,b\n', b'id,name\n1,"a"b\n'])
def test_csv_with_broken_quoting_raises_a_decode_error_with_the_line(body: bytes) -> None:
    message = decode_error(body, "csv")
    assert "csv" in message and "line" in message


# --------------------------------------------------------------------------- yaml


def test_yaml_dates_become_iso_strings_and_the_tree_is_json_serialisable() -> None:
    body = b"when: 2024-05-01\nat: 2024-05-01T10:00:00Z\nn: 3\nf: .nan\n1: one\nnull: z\nb: !!binary aGk=\n"
    result = convert(body, "yaml")
    assert result == {
        "when": "2024-05-01",
        "at": "2024-05-01T10:00:00+00:00",
        "n": 3,
        "f": None,
        "1": "one",
        "null": "z",
        "b": "aGk=",
    }
    json.dumps(result, allow_nan=False)


def test_yaml_empty_body_is_none() -> None:
    assert convert(b"", "yaml") is None


def test_malformed_yaml_names_the_format_and_line() -> None:
    message = decode_error(b"a: [1, 2\nb: 3\n", "yaml")
    assert "yaml" in message and "line" in message


def test_yaml_refuses_python_object_tags() -> None:
    assert "yaml" in decode_error(b"!!python/object/apply:os.system ['true']", "yaml")


def test_yaml_with_several_documents_is_refused() -> None:
    assert "yaml" in decode_error(b"a: 1\n---\nb: 2\n", "yaml")


def test_yaml_alias_expansion_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_format, "_MAX_NODES", 1000)
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdef":
        prev = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n".encode()
    assert "more than 1000" in decode_error(bomb, "yaml")


def test_yaml_recursive_aliases_raise_a_decode_error() -> None:
    assert "yaml" in decode_error(b"a: &a [*a]\n", "yaml")


# --------------------------------------------------------------------------- html

PAGE = b"""
<html><body>
  <div id="main">
    <table class="results wide" data-kind="people">
      <thead><tr><th>Name</th><th> Age </th></tr></thead>
      <tbody>
        <tr><td>Ann &amp; Co</td><td>30</td></tr>
        <tr><th>subtotal</th><td>x</td></tr>
        <tr><td>Bo<br>Lee</td><td>
            41 </td></tr>
      </tbody>
    </table>
  </div>
  <section><table id="plain"><tr><td>a</td><td>b</td></tr></table></section>
  <table class="results"><tr><th>K</th></tr><tr><td>v</td></tr></table>
</body></html>
"""


def test_html_extracts_every_table_in_document_order() -> None:
    assert convert(PAGE, "html") == {
        "tables": [
            [{"Name": "Ann & Co", "Age": "30"}, {"Name": "Bo Lee", "Age": "41"}],
            [{"column1": "a", "column2": "b"}],
            [{"K": "v"}],
        ]
    }


@pytest.mark.parametrize(
    ("selector", "headers"),
    [
        ("table", ["Name", "column1", "K"]),
        (".results", ["Name", "K"]),
        ("table.wide", ["Name"]),
        ("#plain", ["column1"]),
        ("table#plain", ["column1"]),
        ("#main", ["Name"]),
        ("div > table", ["Name"]),
        ("body > table", ["K"]),
        ("body table.results", ["Name", "K"]),
        ("section", ["column1"]),
        ("[data-kind]", ["Name"]),
        ("[data-kind=people]", ["Name"]),
        ('[data-kind="nobody"]', []),
        ("[class~=wide]", ["Name"]),
        ("#plain, table.wide", ["Name", "column1"]),
        ("*", ["Name", "column1", "K"]),
        ("span", []),
    ],
)
def test_html_selector_scopes_which_tables_are_extracted(selector: str, headers: list[str]) -> None:
    tables = convert(PAGE, "html", selector)["tables"]
    assert [next(iter(rows[0])) for rows in tables] == headers


def test_html_first_thead_row_gives_headers_even_with_td_cells() -> None:
    body = (
        b"<table><thead><tr><td>A</td><td>B</td></tr><tr><td>x</td></tr></thead><tr><td>1</td></tr></table>"
    )
    assert convert(body, "html") == {"tables": [[{"A": "1", "B": ""}]]}


def test_html_tolerates_omitted_end_tags() -> None:
    body = b"<table><tr><th>A<th>B<tr><td>1<td>2<tr><td>3<td>4</table>"
    assert convert(body, "html") == {"tables": [[{"A": "1", "B": "2"}, {"A": "3", "B": "4"}]]}


def test_html_nested_tables_are_separate_and_their_rows_stay_out_of_the_outer_table() -> None:
    body = (
        b"<table><tr><th>Outer</th></tr><tr><td>"
        b"<table><tr><th>Inner</th></tr><tr><td>i</td></tr></table>"
        b"</td></tr></table>"
    )
    assert convert(body, "html") == {"tables": [[{"Outer": "Inner i"}], [{"Inner": "i"}]]}


def test_html_script_text_is_not_cell_text() -> None:
    body = b"<table><tr><td>a<script>var x = '<td>';</script></td></tr></table>"
    assert convert(body, "html") == {"tables": [[{"column1": "a"}]]}


def test_html_without_tables_gives_an_empty_list() -> None:
    assert convert(b"<p>nothing</p>", "html") == {"tables": []}


@pytest.mark.parametrize("selector", ["table:first-child", "a + b", "a ~ b", "table >", "", "  ", "[x", "!x"])
def test_unsupported_css_selectors_are_reported(selector: str) -> None:
    message = check_css_selector(selector)
    assert message is not None and "CSS selector" in message


@pytest.mark.parametrize(
    "selector",
    ["table.products", "div#main > table", 'section [data-x="a b"]', "a,b", "*.c", "ul li > table[id^=t]"],
)
def test_supported_css_selectors_pass_the_check(selector: str) -> None:
    assert check_css_selector(selector) is None


def test_html_with_a_bad_selector_raises_a_decode_error_naming_it() -> None:
    message = decode_error(PAGE, "html", "tr:nth-child(2)")
    assert "tr:nth-child(2)" in message and "html" in message


# --------------------------------------------------------------------------- markdown

DOC = b"""---
title: Notes
tags: [a, b]
---
Intro text before any heading.

# Guide #

Some *text*.

## Results

| Name | Value \\| unit | Empty |
|:-----|-------------:|:-----:|
| a | 1 \\| kg |
| b | 2 | z | extra |

```
# not a heading
| x | y |
|---|---|
| 1 | 2 |
```

### Details
~~~md
## still code
~~~
tail
## Results archive
"""


def test_markdown_extracts_front_matter_tables_and_sections() -> None:
    result = convert(DOC, "markdown")
    assert result["frontMatter"] == {"title": "Notes", "tags": ["a", "b"]}
    assert result["tables"] == [
        [
            {"Name": "a", "Value | unit": "1 | kg", "Empty": ""},
            {"Name": "b", "Value | unit": "2", "Empty": "z"},
        ]
    ]
    assert [(s["heading"], s["level"]) for s in result["sections"]] == [
        ("Guide", 1),
        ("Results", 2),
        ("Details", 3),
        ("Results archive", 2),
    ]
    assert result["sections"][0]["content"] == "Some *text*."
    assert result["sections"][1]["content"].startswith("| Name | Value \\| unit | Empty |")
    assert "# not a heading" in result["sections"][1]["content"]
    assert result["sections"][2]["content"] == "~~~md\n## still code\n~~~\ntail"
    assert result["sections"][3]["content"] == ""


def test_markdown_heading_prefix_keeps_matching_sections_and_their_tables() -> None:
    result = convert(DOC, "markdown", "Results")
    assert [s["heading"] for s in result["sections"]] == ["Results", "Results archive"]
    assert len(result["tables"]) == 1
    assert result["frontMatter"]["title"] == "Notes"


def test_markdown_prefix_written_with_hashes_also_matches_the_level() -> None:
    assert [s["heading"] for s in convert(DOC, "markdown", "## Results")["sections"]] == [
        "Results",
        "Results archive",
    ]
    assert convert(DOC, "markdown", "# Results")["sections"] == []


def test_markdown_tables_outside_kept_sections_are_dropped() -> None:
    result = convert(DOC, "markdown", "Guide")
    assert result["tables"] == []
    assert [s["heading"] for s in result["sections"]] == ["Guide"]


def test_markdown_without_front_matter_has_an_empty_object() -> None:
    result = convert(b"a | b\n--- | ---\n1 | 2\n\nafter\n", "markdown")
    assert result == {"frontMatter": {}, "tables": [[{"a": "1", "b": "2"}]], "sections": []}


def test_markdown_setext_style_underline_is_not_a_table() -> None:
    assert convert(b"# T\nTitle\n---\n", "markdown")["tables"] == []


def test_markdown_crlf_line_endings_are_normalised() -> None:
    result = convert(b"# A\r\ntext\r\n# B\r\n", "markdown")
    assert result["sections"] == [
        {"heading": "A", "level": 1, "content": "text"},
        {"heading": "B", "level": 1, "content": ""},
    ]


def test_markdown_invalid_front_matter_raises_a_decode_error() -> None:
    assert "front matter" in decode_error(b"---\na: [\n---\n# x\n", "markdown")


def test_markdown_front_matter_that_is_not_a_mapping_is_refused() -> None:
    assert "mapping" in decode_error(b"---\n- a\n---\n", "markdown")


# --------------------------------------------------------------------------- corpus fixtures


@pytest.mark.parametrize(("name", "fmt"), [("sample-users.csv", "csv"), ("sample-users.tsv", "tsv")])
def test_corpus_delimited_users(name: str, fmt: str) -> None:
    assert convert(fixture(name), fmt) == USERS


def test_corpus_pipe_separated_users() -> None:
    assert convert(fixture("sample-users.psv"), "psv") == USERS


def test_corpus_xml_users_fold_into_an_array_under_user() -> None:
    assert convert(fixture("sample-users.xml"), "xml", content_type="application/xml") == {"user": USERS}


def test_corpus_yaml_users() -> None:
    assert convert(fixture("sample-users.yaml"), "yaml") == {"users": USERS}


def test_corpus_html_products_scoped_by_the_fixture_selector() -> None:
    expected = [
        {"Name": "Widget", "Price": "$42", "Stock": "150"},
        {"Name": "Gadget", "Price": "$99", "Stock": "30"},
    ]
    assert convert(fixture("sample-products.html"), "html", "table.products") == {"tables": [expected]}
    assert convert(fixture("sample-products.html"), "html", "section.inventory > table")["tables"] == [
        expected
    ]
    assert convert(fixture("sample-products.html"), "html", "table.orders") == {"tables": []}


def test_corpus_markdown_readme() -> None:
    result = convert(fixture("sample-readme.md"), "markdown")
    assert result["frontMatter"] == {"title": "Product Release Notes", "version": "2.1.0"}
    assert result["tables"] == [
        [{"Feature": "HTML support", "Status": "GA"}, {"Feature": "Markdown support", "Status": "Beta"}]
    ]
    assert len(result["sections"]) == 1
    section = result["sections"][0]
    assert (section["heading"], section["level"]) == ("Overview", 2)
    assert section["content"].startswith("This release introduces **table extraction** for markdown.")
    assert section["content"].endswith("| Markdown support | Beta |")
    assert convert(fixture("sample-readme.md"), "markdown", "## Changes")["tables"] == []


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("sample-users.xml", "xml"),
        ("sample-users.csv", "csv"),
        ("sample-users.yaml", "yaml"),
        ("sample-products.html", "html"),
        ("sample-readme.md", "markdown"),
    ],
)
def test_corpus_results_are_strict_json(name: str, fmt: str) -> None:
    json.dumps(convert(fixture(name), fmt), allow_nan=False)


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        (b"[" * 100_000, "json"),
        (b"[" * 5000 + b"]" * 5000, "json"),
        (b"<r>" + b"<a>" * 3000 + b"x" + b"</a>" * 3000 + b"</r>", "xml"),
        (b"a: " + b"9" * 5000, "yaml"),
        (b"- " * 3000 + b"x", "yaml"),
    ],
)
def test_pathological_inputs_raise_a_decode_error_not_a_crash(body: bytes, fmt: str) -> None:
    assert fmt in decode_error(body, fmt)


def test_deeply_nested_html_still_yields_its_table() -> None:
    body = b"<div>" * 5000 + b"<table><tr><td>x</td></tr></table>" + b"</div>" * 5000
    assert convert(body, "html", "div > div table") == {"tables": [[{"column1": "x"}]]}
