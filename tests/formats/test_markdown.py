"""markdown: front matter, GFM tables and heading sections."""

from __future__ import annotations

from naftiko_runtime.formats import convert

from .helpers import decode_error, fixture

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
