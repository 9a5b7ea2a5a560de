"""Logging: our logger names, text or JSON lines on stderr, one line per call.

Everything logs to stderr, never stdout (it may be the MCP stdio wire). With ``--workers``, every line
carries the pid of the process that wrote it (the workers share stderr). uvicorn's own lifecycle lines
would repeat once per listener: they are folded into ``naftiko.http`` at warning level and above
(``serve`` announces the listeners itself). What a flood can repeat thousands of times a second (a
dropped connection, a failed ``accept()``) goes through a ``Tally``: one line per interval, with counts.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from typing import Any

__all__ = ["CALL_LOGGER", "JsonFormatter", "Tally", "TextFormatter", "configure"]

CALL_LOGGER = "naftiko.call"
_NOISY = ("httpx2", "httpcore2", "mcp", "uvicorn.access", "sse_starlette")
_RENAMED = {"uvicorn.error": "naftiko.http", "uvicorn": "naftiko.http"}
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a caller attached with ``extra={"fields": {...}}``."""
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (``pid`` when asked) and the record's fields."""

    def __init__(self, pid: bool = False) -> None:
        super().__init__()
        self.pid = pid

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": _RENAMED.get(record.name, record.name),
            "message": record.getMessage(),
        }
        if self.pid:
            data["pid"] = record.process
        data.update(_fields(record))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger: message`` for people (``logger[pid]`` when asked)."""

    def __init__(self, pid: bool = False) -> None:
        super().__init__()
        self.pid = pid

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        name = _RENAMED.get(record.name, record.name)
        if self.pid:
            name = f"{name}[{record.process}]"
        text = f"{stamp} {record.levelname} {name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _Handler(logging.StreamHandler):
    """Our handler: marked so ``configure`` can replace it instead of stacking another."""


def configure(log_format: str = "text", level: str | int = "info", *, pid: bool = False) -> None:
    """Log to stderr in ``log_format`` at ``level``, each line with the writer's ``pid`` when asked
    (several workers). An application that already configured logging (a root handler of its own)
    keeps it; ours is replaced on a second call."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _Handler)]
    if root.handlers and not ours:
        return
    for handler in ours:
        root.removeHandler(handler)
    # A call line is written on the event loop: skip what a record would gather and no line prints
    # (the caller's file and line, thread and multiprocessing names); keep the pid for workers.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.logProcesses = pid
    handler = _Handler(sys.stderr)
    handler.setFormatter(JsonFormatter(pid) if log_format == "json" else TextFormatter(pid))
    root.addHandler(handler)
    numeric = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
    root.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


class Tally:
    """Events counted by kind and logged together as one warning, at most once per ``interval``
    seconds (the first at once; later ones with the next event after the interval)."""

    def __init__(self, log: logging.Logger, subject: str, interval: float = 10.0) -> None:
        self.log = log
        self.subject = subject
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self.due = 0.0

    def add(self, kind: str) -> None:
        self.counts[kind] += 1
        now = time.monotonic()
        if now < self.due:
            return
        self.due = now + self.interval
        text = ", ".join(f"{count} {kind}" for kind, count in self.counts.items())
        self.log.warning("%s: %s (reported at most every %g s)", self.subject, text, self.interval,
                         extra={"fields": {"event": "tally", "subject": self.subject, "counts": dict(self.counts)}})
        self.counts.clear()
