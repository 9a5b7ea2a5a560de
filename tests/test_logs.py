"""Log lines: a call's level follows the harm; with several workers sharing stderr, each line says which
process wrote it."""

from __future__ import annotations

import json
import logging
import os

import pytest

from naftiko_runtime.telemetry import CallContext, UpstreamCall, log_call
from naftiko_runtime.telemetry.logs import JsonFormatter, TextFormatter


def record() -> logging.LogRecord:
    made = logging.LogRecord("naftiko.call", logging.INFO, __file__, 1, "tool ping ok 1.0ms", None, None)
    made.fields = {"event": "call", "unit": "ping"}
    return made


@pytest.mark.parametrize("pid", [False, True])
def test_json_lines_carry_the_pid_only_when_asked(pid: bool) -> None:
    line = json.loads(JsonFormatter(pid).format(record()))
    assert line["unit"] == "ping" and line["message"] == "tool ping ok 1.0ms"
    assert line.get("pid") == (os.getpid() if pid else None)


@pytest.mark.parametrize("pid", [False, True])
def test_text_lines_name_the_pid_beside_the_logger_only_when_asked(pid: bool) -> None:
    line = TextFormatter(pid).format(record())
    name = f"naftiko.call[{os.getpid()}]" if pid else "naftiko.call"
    assert line.endswith(f" {name}: tool ping ok 1.0ms")


@pytest.mark.parametrize(("outcome", "statuses", "level"), [
    ("ok", [200], logging.INFO),
    ("invalid-arguments", [], logging.INFO),  # the caller's mistake
    ("upstream-error", [404], logging.INFO),  # the upstream refused the caller
    ("upstream-error", [200, 409], logging.INFO),
    ("upstream-error", [503], logging.WARNING),  # the upstream is failing: an operator must see it
    ("upstream-error", [200, 500], logging.WARNING),
    ("upstream-timeout", [None], logging.WARNING),
    ("upstream-unavailable", [None], logging.WARNING),
    ("internal-error", [], logging.WARNING),
])
def test_a_call_logs_at_warning_when_it_failed_for_a_reason_an_operator_must_see(
        outcome: str, statuses: list[int | None], level: int, caplog: pytest.LogCaptureFixture) -> None:
    context = CallContext(transport="mcp")
    context.upstream = [UpstreamCall(f"shop.op{i}", "GET", status=s) for i, s in enumerate(statuses)]
    caplog.set_level(logging.DEBUG, logger="naftiko.call")
    log_call("tool", "list-items", context, outcome, 0.01)
    (logged,) = caplog.records
    assert (logged.levelno, logged.getMessage().split()[:3]) == (level, ["tool", "list-items", outcome])
