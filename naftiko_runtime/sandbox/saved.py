"""Simulator state kept in a JSON file between runs (``naftiko call --sandbox --sandbox-state FILE``).

One file holds the state of every simulator used, by upstream host. It is read once before the
simulators start and written once after the call, atomically (a temporary file renamed over it), so
an interrupted run leaves the previous state. The file stays small: each simulator bounds what it
keeps (``dump``), and a file over ``MAX_BYTES`` is neither read nor written.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from naftiko_runtime import jsontext
from naftiko_runtime.errors import SandboxStateError

__all__ = ["MAX_BYTES", "SandboxState"]

FORMAT = "naftiko-sandbox-state"
VERSION = 1
MAX_BYTES = 1_000_000
# A call's arguments may nest 64 levels (jsontext.MAX_DEPTH) and a simulator keeps them a few levels
# down: room for both, so a state the simulators wrote is never refused.
MAX_DEPTH = 2 * jsontext.MAX_DEPTH


def _unfit(data: Any) -> str | None:
    """Where and why ``data`` holds what the simulators could not have written, nor write back
    (``jsontext.unfit``: a lone surrogate, NaN or Infinity, nesting past ``MAX_DEPTH``)."""
    problems = jsontext.unfit(data, MAX_DEPTH)
    return " ".join(problems[0]) if problems else None


class SandboxState:
    """The saved state of the simulators, and the live ones to save back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: dict[str, Any] = self._read()
        self._live: dict[str, Any] = {}

    def _read(self) -> dict[str, Any]:
        try:
            if not self.path.exists() or self.path.stat().st_size == 0:
                return {}
            if self.path.stat().st_size > MAX_BYTES:
                raise SandboxStateError(f"{self.path} is over {MAX_BYTES} bytes: not a sandbox state file")
            data = jsontext.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise SandboxStateError(f"cannot read {self.path} as sandbox state: {exc}") from None
        problem = _unfit(data)
        if problem:  # refused now: it would crash a later call, or the save
            raise SandboxStateError(f"{self.path} is not a sandbox state file (at {problem})")
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("simulators"), dict):
            raise SandboxStateError(f"{self.path} is not a sandbox state file (written by --sandbox-state)")
        if data.get("version") != VERSION:
            raise SandboxStateError(f"{self.path} holds sandbox state of another version; remove it to start afresh")
        return dict(data["simulators"])

    def attach(self, host: str, app: Any) -> None:
        """Give a new simulator its saved state, and save its state back later."""
        store = getattr(getattr(app, "state", None), "store", None)
        if store is None or not hasattr(store, "dump"):
            return  # a simulator without saved state
        if host in self.saved:
            try:
                store.restore(self.saved[host])
            except ValueError as exc:
                raise SandboxStateError(f"{self.path}: the {host} simulator state is unusable: {exc}") from None
        self._live[host] = store

    def save(self) -> None:
        """Write every simulator's state (hosts not used this time keep theirs)."""
        if not self._live:
            return
        simulators = {**self.saved, **{host: store.dump() for host, store in self._live.items()}}
        document = {"format": FORMAT, "version": VERSION, "simulators": simulators}
        problem = _unfit(document)
        if problem:  # never write what the next run would refuse
            raise SandboxStateError(f"sandbox state not written to {self.path} (at {problem})")
        text = json.dumps(document, ensure_ascii=False)
        if len(text.encode("utf-8")) > MAX_BYTES:
            raise SandboxStateError(f"sandbox state would be over {MAX_BYTES} bytes: {self.path} not written")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as sink:
                sink.write(text + "\n")
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.saved = simulators
