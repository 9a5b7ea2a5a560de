"""Hot reload for ``naftiko serve --reload``: watch the files, swap in what changed.

The paths given on the command line (files, and the capability files in folders given) are polled,
with the files each capability was read from (its imports, followed through shared files) and the
files it binds (``binds[].location``). When one changes, the new set is loaded, checked and bound in a
worker thread; if it is valid, it is swapped in on the same sockets and new requests go to it while
in-flight calls finish on the old version. A change that does not validate is reported in one line
and the running version keeps serving.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from naftiko_runtime.errors import ServeError
from naftiko_runtime.load import resolve_location
from naftiko_runtime.model import Capability
from naftiko_runtime.runtime import Runtime

if TYPE_CHECKING:
    from naftiko_runtime.expose.serve import Server

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
    load: Callable[[], Runtime | str | None],
    run: Callable[[Runtime, anyio.Event, Callable[[Server], None]], Awaitable[int]],
    *,
    log: Callable[[str], None],
    interval: float = 0.5,
) -> int:
    """Serve ``runtime`` with ``run(runtime, stop_when, server_ready)``; each time the files change
    into a valid set, swap the new version in on the same sockets (in-flight calls finish on the old
    one). A change that needs other listeners (a port) restarts them. ``load`` runs in a worker
    thread, so validating a large or broken edit never holds up the calls being served; it returns
    the new runtime, or None or a one-line reason when the change cannot be served."""
    while True:
        restart = anyio.Event()
        pending: list[Runtime] = []
        holder: list[Server] = []
        # Taken before serving starts, so an edit made as soon as the server answers is still seen.
        baseline = await _scan(paths, runtime.capabilities)

        async def watch(current: Runtime, before: Snapshot, restart: anyio.Event, pending: list[Runtime],
                        holder: list[Server]) -> None:
            while True:
                await anyio.sleep(interval)
                now = await _scan(paths, current.capabilities)
                if now == before:
                    continue
                before = now
                fresh = await anyio.to_thread.run_sync(load)
                if not isinstance(fresh, Runtime):  # None, or why, in one line
                    log(f"reload refused: {fresh or 'the changed files have errors'}; still serving the previous "
                        "version")
                    continue
                try:
                    swapped = bool(holder) and await holder[0].swap(fresh)
                except ServeError:  # a signal arrived meanwhile: the server is stopping, not reloading
                    return
                if swapped:
                    current = fresh
                    # files the new version reads for the first time (a new import) are watched from now on
                    seen = await _scan(paths, fresh.capabilities)
                    before = {path: now.get(path, state) for path, state in seen.items()}
                    log("reloaded: now serving the changed capabilities")
                    continue
                pending.append(fresh)  # other listeners: restart them
                restart.set()
                return

        async with anyio.create_task_group() as group:
            group.start_soon(watch, runtime, baseline, restart, pending, holder)
            code = await run(runtime, restart, holder.append)
            group.cancel_scope.cancel()
        if not pending:
            return code
        runtime = pending[-1]
        log("restarting with the changed capabilities on their new listeners")
