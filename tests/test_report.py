"""report: diagnostics as text (with source line and caret), JSON and GitHub annotations."""

from __future__ import annotations

import json

import pytest

from naftiko_runtime.errors import Diagnostic, Location, Severity
from naftiko_runtime.report import effective, format_github, format_json, format_text, summary

SOURCE = {
    "cap.yaml": ["naftiko: x", "info:", "  label: Shipyard", "\tkey:\tvalue"],
    "bom.yaml": ["\ufeffnaftiko: 1"],
}


def line_of(file: str, line: int) -> str:
    lines = SOURCE.get(file, [])
    return lines[line - 1] if 0 < line <= len(lines) else ""


def diag(code: str = "example-code", severity: Severity = Severity.ERROR, message: str = "key 'label' repeats",
         file: str = "cap.yaml", line: int = 3, col: int = 3, hint: str | None = None,
         pointer: str = "/info/label") -> Diagnostic:
    return Diagnostic(code, severity, message, Location(file, pointer, line, col), hint)


# ----------------------------------------------------------------------------------------------- text


def test_text_format_is_header_source_caret_and_hint() -> None:
    text = format_text([diag(col=10, hint="remove one")], line_of)
    assert text.splitlines() == [
        "cap.yaml:3:10: error[example-code] key 'label' repeats",
        "    3 |   label: Shipyard",
        "      |          ^",
        "      = hint: remove one",
    ]


def test_caret_sits_under_the_column() -> None:
    for col in (1, 3, 10, 17):
        source_line, caret_line = format_text([diag(col=col)], line_of).splitlines()[1:3]
        assert caret_line.index("^") == len("    3 | ") + col - 1
        assert source_line[caret_line.index("^")] == "  label: Shipyard"[col - 1]


def test_caret_keeps_tabs_so_it_lines_up_when_expanded() -> None:
    text = format_text([diag(line=4, col=7)], line_of)  # the `v` after the second tab
    _, source_line, caret_line = text.splitlines()
    assert source_line == "    4 | \tkey:\tvalue"
    assert caret_line == "      | \t    \t^"
    assert source_line.expandtabs()[caret_line.expandtabs().index("^")] == "v"


def test_caret_past_the_end_of_the_line_still_points_at_the_column() -> None:
    caret_line = format_text([diag(line=1, col=15)], line_of).splitlines()[2]
    assert caret_line.index("^") == len("    1 | ") + 14


def test_byte_order_mark_does_not_shift_the_caret() -> None:
    _, source_line, caret_line = format_text([diag(file="bom.yaml", line=1, col=10)], line_of).splitlines()
    assert source_line == "    1 | naftiko: 1"
    assert source_line[caret_line.index("^")] == "1"


def test_without_a_source_line_only_the_header_and_hint_print() -> None:
    text = format_text([diag(file="gone.yaml", line=1, col=1, hint="check the path")], line_of)
    assert text.splitlines() == ["gone.yaml:1:1: error[example-code] key 'label' repeats",
                                 "      = hint: check the path"]


def test_without_a_hint_there_is_no_hint_line() -> None:
    assert len(format_text([diag()], line_of).splitlines()) == 3


def test_each_diagnostic_keeps_to_its_own_lines() -> None:
    text = format_text([diag(message="first\nsecond", hint="a\nb", file="gone.yaml")], line_of)
    assert text.splitlines() == ["gone.yaml:3:3: error[example-code] first second", "      = hint: a b"]


def test_several_diagnostics_print_in_order() -> None:
    text = format_text([diag(line=1, col=1, code="a"), diag(line=2, col=1, code="b")], line_of)
    headers = [line for line in text.splitlines() if line.startswith("cap.yaml")]
    assert headers == ["cap.yaml:1:1: error[a] key 'label' repeats", "cap.yaml:2:1: error[b] key 'label' repeats"]
    assert format_text([], line_of) == ""


def test_wide_line_numbers_keep_the_gutter_aligned() -> None:
    text = format_text([diag(line=123456, col=2)], lambda _file, _line: "xy")
    _, source_line, caret_line = text.splitlines()
    assert source_line == "123456 | xy"
    assert caret_line.index("|") == source_line.index("|")
    assert source_line[caret_line.index("^")] == "y"


@pytest.mark.parametrize(
    ("severity", "strict", "shown"),
    [(Severity.WARNING, False, "warning"), (Severity.WARNING, True, "error"), (Severity.INFO, True, "info"),
     (Severity.ERROR, False, "error")],
)
def test_strict_promotes_only_warnings(severity: Severity, strict: bool, shown: str) -> None:
    header = format_text([diag(severity=severity)], line_of, strict=strict).splitlines()[0]
    assert header == f"cap.yaml:3:3: {shown}[example-code] key 'label' repeats"
    assert effective(diag(severity=severity), strict) == Severity(shown)


# ----------------------------------------------------------------------------------------------- json


def test_json_lists_objects_with_the_documented_keys() -> None:
    items = json.loads(format_json([diag(hint="h"), diag(severity=Severity.WARNING, hint=None)]))
    assert items[0] == {
        "file": "cap.yaml", "line": 3, "column": 3, "pointer": "/info/label", "severity": "error",
        "code": "example-code", "message": "key 'label' repeats", "hint": "h",
    }
    assert items[1]["severity"] == "warning" and items[1]["hint"] is None


def test_json_strict_promotes_warnings() -> None:
    items = json.loads(format_json([diag(severity=Severity.WARNING)], strict=True))
    assert items[0]["severity"] == "error"


def test_json_of_nothing_is_an_empty_list() -> None:
    assert json.loads(format_json([])) == []


# --------------------------------------------------------------------------------------------- github


def test_github_annotation_per_severity() -> None:
    lines = format_github([diag(), diag(severity=Severity.WARNING), diag(severity=Severity.INFO)]).splitlines()
    assert lines[0] == "::error file=cap.yaml,line=3,col=3,title=example-code::key 'label' repeats"
    assert lines[1].startswith("::warning file=cap.yaml,")
    assert lines[2].startswith("::notice file=cap.yaml,")


def test_github_strict_promotes_warnings() -> None:
    assert format_github([diag(severity=Severity.WARNING)], strict=True).startswith("::error ")


def test_github_hint_is_appended_to_the_message() -> None:
    line = format_github([diag(hint="did you mean `x`?")])
    assert line.endswith("::key 'label' repeats (did you mean `x`?)")


def test_github_escapes_properties_and_message() -> None:
    weird = diag(file="dir,a:b/100%.yaml", code="a,b:c", message="50% done: a, b\nnext\rline")
    line = format_github([weird])
    assert line == (
        "::error file=dir%2Ca%3Ab/100%25.yaml,line=3,col=3,title=a%2Cb%3Ac::"
        "50%25 done: a, b%0Anext%0Dline"
    )
    assert "\n" not in line


def test_github_of_nothing_is_empty() -> None:
    assert format_github([]) == ""


# -------------------------------------------------------------------------------------------- summary


def test_summary_counts_errors_and_warnings() -> None:
    assert summary([], 1) == "1 file valid"
    assert summary([], 3) == "3 files valid"
    both = [diag(), diag(), diag(severity=Severity.WARNING)]
    assert summary(both, 2) == "2 errors, 1 warning in 2 files"
    assert summary([diag(severity=Severity.WARNING)], 1) == "0 errors, 1 warning in 1 file"
    assert summary([diag(severity=Severity.WARNING)], 1, strict=True) == "1 error, 0 warnings in 1 file"
    assert summary([diag(severity=Severity.INFO)], 1) == "1 file valid"


def test_a_parsed_problem_renders_against_its_own_source() -> None:
    from naftiko_runtime.source import parse

    doc, diagnostics = parse("info:\n\tlabel: x\n", "tabs.yaml")
    text = format_text(diagnostics, lambda _file, line: doc.line_text(line))
    header, source_line, caret_line, hint = text.splitlines()
    assert header.startswith("tabs.yaml:2:1: error[yaml-syntax] ")
    assert source_line == "    2 | \tlabel: x"
    assert caret_line == "      | ^"
    assert hint.startswith("      = hint: ") and "tab" in hint


def test_a_registered_code_without_its_own_hint_gets_the_registry_hint() -> None:
    text = format_text([diag(code="duplicate-key")], line_of)
    assert text.splitlines()[-1] == "      = hint: remove or rename one of them"
    assert json.loads(format_json([diag(code="duplicate-key")]))[0]["hint"] == "remove or rename one of them"
