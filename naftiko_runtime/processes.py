"""Process helpers shared by the worker supervisor and the simulator process the workers share."""

from __future__ import annotations

import contextlib
import os

__all__ = ["cores", "die_with_parent"]


def die_with_parent(signum: int, parent: int) -> None:
    """Have the kernel send ``signum`` to this process when its parent dies (Linux), so that a
    supervisor killed outright leaves no worker serving on its own; a parent already gone counts too."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signum, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)


def cores() -> int:
    """The cores this process may run on (``--workers auto``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
