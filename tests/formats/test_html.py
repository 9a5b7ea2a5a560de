"""html tables, scoped by the CSS selector subset."""

from __future__ import annotations

import pytest

from naftiko_runtime.formats import check_css_selector, convert

from .helpers import decode_error, fixture

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


def test_deeply_nested_html_still_yields_its_table() -> None:
    body = b"<div>" * 5000 + b"<table><tr><td>x</td></tr></table>" + b"</div>" * 5000
    assert convert(body, "html", "div > div table") == {"tables": [[{"column1": "x"}]]}
