"""Hot reload for ``naftiko serve --reload``.

The paths given on the command line (files, and the capability files in folders given) are polled,
with the files each capability was read from (its imports, followed through shared files) and the
files it binds (``binds[].location``). When one changes and the new set still validates and binds, the
server stops gracefully (in-flight calls finish) and starts again on the same ports with the new
runtime. A change that does not validate is reported and the running version keeps serving.

Polling reads the file system in a worker thread, so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import anyio
import anyio.to_thread

from naftiko_runtime.load import resolve_location
from naftiko_runtime.model import Capability
from naftiko_runtime.runtime import Runtime

__all__ = ["capability_files", "serve_reloading", "snapshot", "watched_files"]

Snapshot = dict[Path, tuple[int, int]]
SUFFIXES = (".yaml", ".yml", ".json")


def _folder_files(folder: Path) -> Iterator[Path]:
    """YAML/JSON files under ``folder``; hidden folders (``.venv``, ``.git``) are not entered."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        yield from (Path(root, name) for name in files if name.endswith(SUFFIXES))


def capability_files(capability: Capability) -> set[Path]:
    """The capability file, the consumes files it imports and the files it binds."""
    files = set(capability.sources) | {capability.path}
    for bind in capability.binds:
        if bind.location and bind.location.startswith("file://"):
            # binding looks in the capability's folder first, then the working directory
            files.update(resolve_location(bind.location, base) for base in (bind.base_dir, Path.cwd()))
    return files


def watched_files(paths: Iterable[Path], capabilities: Iterable[Capability]) -> set[Path]:
    """The explicit files, the YAML/JSON files in the explicit folders, and each capability's files."""
    files: set[Path] = set()
    for path in paths:
        files.update(_folder_files(path) if path.is_dir() else [path])
    for capability in capabilities:
        files.update(capability_files(capability))
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


async def _scan(paths: list[Path], capabilities: list[Capability]) -> Snapshot:
    return await anyio.to_thread.run_sync(lambda: snapshot(watched_files(paths, capabilities)))


async def serve_reloading(
    paths: list[Path],
    runtime: Runtime,
    load: Callable[[], Runtime | None],
    run: Callable[[Runtime, anyio.Event], Awaitable[int]],
    *,
    log: Callable[[str], None],
    interval: float = 0.5,
) -> int:
    """Run ``run(runtime, stop_when)`` again each time the files change into a valid set."""
    while True:
        restart = anyio.Event()
        pending: list[Runtime] = []
        capabilities = runtime.capabilities
        # Taken before serving starts, so an edit made as soon as the server answers is still seen.
        baseline = await _scan(paths, capabilities)

        async def watch(
            current: list[Capability], before: Snapshot, restart: anyio.Event, pending: list[Runtime]
        ) -> None:
            while True:
                await anyio.sleep(interval)
                now = await _scan(paths, current)
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
            group.start_soon(watch, capabilities, baseline, restart, pending)
            code = await run(runtime, restart)
            group.cancel_scope.cancel()
        if not pending:
            return code
        runtime = pending[-1]
        log("restarting with the changed capabilities")
