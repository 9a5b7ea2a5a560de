"""Hot reload for ``naftiko serve --reload``.

The capability files (and the files they import or bind) are polled; when one changes and the new
set still validates and binds, the server stops gracefully (in-flight calls finish) and starts
again on the same ports with the new capabilities. A change that does not validate is reported and
the running version keeps serving.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import anyio

from naftiko_runtime.model import Capability

Snapshot = dict[Path, tuple[int, int]]


def watched_files(paths: Iterable[Path], capabilities: Iterable[Capability]) -> set[Path]:
    """Every YAML file under ``paths`` plus each capability's own folder's YAML files (imports, binds)."""
    files: set[Path] = set()
    for path in paths:
        if path.is_dir():
            files.update(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        else:
            files.add(path)
    for capability in capabilities:
        folder = capability.path.parent
        files.update(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
    return files


def snapshot(files: Iterable[Path]) -> Snapshot:
    """Modification time and size of each file (a missing file is recorded as absent)."""
    result: Snapshot = {}
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            continue
        result[file] = (stat.st_mtime_ns, stat.st_size)
    return result


async def serve_reloading(
    paths: list[Path],
    capabilities: list[Capability],
    load: Callable[[], list[Capability] | None],
    run: Callable[[list[Capability], anyio.Event], Awaitable[int]],
    *,
    log: Callable[[str], None],
    interval: float = 0.5,
) -> int:
    """Run ``run(capabilities, stop_when)`` again each time the files change into a valid set."""
    while True:
        restart = anyio.Event()
        pending: list[list[Capability]] = []

        async def watch(current: list[Capability], restart: anyio.Event, pending: list[list[Capability]]) -> None:
            before = snapshot(watched_files(paths, current))
            while True:
                await anyio.sleep(interval)
                now = snapshot(watched_files(paths, current))
                if now == before:
                    continue
                before = now
                log("change detected: reloading")
                fresh = load()
                if fresh is None:
                    log("the changed capability has errors (above); still serving the previous version")
                    continue
                pending.append(fresh)
                restart.set()
                return

        async with anyio.create_task_group() as group:
            group.start_soon(watch, capabilities, restart, pending)
            code = await run(capabilities, restart)
            group.cancel_scope.cancel()
        if not pending:
            return code
        capabilities = pending[-1]
        log("restarting with the changed capabilities")
