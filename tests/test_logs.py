"""Log formatters: with several workers sharing stderr, each line says which process wrote it."""

from __future__ import annotations

import json
import logging
import os

import pytest

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
