"""Work per call, counted instead of timed: each server under valgrind's callgrind.

    python benchmarks/instructions.py                          # B, C, N: about 6 minutes
    python benchmarks/instructions.py --compare /old/venv/bin/naftiko   # and P, that command

Throughput on a shared or virtual machine drifts by 20 % and more from minute to minute, which
hides the few per cent a change on the hot path makes. The instructions a server executes per
call do not drift: each system (the same B, C, N and upstream as ``run.py``) runs under callgrind
with its cache simulation, gets 32 warm-up calls of each load, then ``--calls`` calls of each load
(4 connections, keep-alive), with a counter dump before and after each, so start-up, warm-up and
shutdown fall outside the figures. Reported per call: instructions (Ir) and callgrind's cycle
estimate (Ir + 10 x L1 misses + 100 x last-level misses), each also as a ratio to its reference
(B for REST, C for MCP). Only user space is counted: system calls cost the same kernel work in every
system here (one ``strace -c`` shows it), and the interpreter is the same.

Needs valgrind (``apt-get install valgrind``): ``valgrind`` and ``callgrind_control`` on PATH.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HERE, STREAM_ID, TOOL, Server, free_port, mcp_body, mcp_headers, mcp_ok, naftiko_command

WARMUP = 32
CONNECTIONS = 4  # more would queue calls past the references' 5 s upstream timeout under callgrind
LOADS = {"B": ["rest"], "C": ["mcp"], "N": ["rest", "mcp"], "P": ["rest", "mcp"]}
REFERENCE = {"rest": "B", "mcp": "C"}


def call(kind: str) -> Callable[[http.client.HTTPConnection], str | None]:
    body = mcp_body("tools/call", {"name": TOOL, "arguments": {"id": STREAM_ID}})
    headers = mcp_headers("tools/call", TOOL)

    def one(connection: http.client.HTTPConnection) -> str | None:
        """None for a good answer, else what was wrong."""
        if kind == "rest":
            connection.request("GET", f"/live-streams/{STREAM_ID}")
        else:
            connection.request("POST", "/mcp", body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        good = response.status == 200 if kind == "rest" else mcp_ok(response.status, data)
        return None if good else f"{response.status} {data[:300]!r}"

    return one


def drive(port: int, kind: str, calls: int) -> None:
    """``calls`` calls over ``CONNECTIONS`` keep-alive connections; raises on any bad answer."""
    one = call(kind)
    failures: list[str] = []

    def worker(count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        try:
            for _ in range(count):
                wrong = one(connection)
                if wrong is not None:
                    failures.append(wrong)
        except (OSError, http.client.HTTPException) as exc:
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(calls // CONNECTIONS,)) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} bad {kind} answers, e.g. {failures[0]}")


def totals(path: Path) -> dict[str, int]:
    """The event totals of one callgrind dump."""
    text = path.read_text()
    events = re.search(r"^events:\s+(.*)$", text, re.M)
    found = re.search(r"^(?:summary|totals):\s+(.*)$", text, re.M)
    if events is None or found is None:
        raise RuntimeError(f"{path}: not a callgrind dump")
    return dict(zip(events.group(1).split(), (int(v) for v in found.group(1).split()), strict=False))


def cycles(t: dict[str, int]) -> int:
    return t["Ir"] + 10 * (t["I1mr"] + t["D1mr"] + t["D1mw"]) + 100 * (t["ILmr"] + t["DLmr"] + t["DLmw"])


class Counter:
    """One server under callgrind; ``dump()`` returns the counts since the previous dump."""

    def __init__(self, name: str, argv: list[str], work: Path) -> None:
        self.out = work / f"{name}.callgrind"
        self.dumps = 0
        valgrind = ["valgrind", "--tool=callgrind", "--cache-sim=yes", "--dump-instr=no",
                    f"--callgrind-out-file={self.out}"]
        self.server = Server(name, valgrind + argv, work, dict(os.environ, PYTHONHASHSEED="0"))

    def dump(self) -> dict[str, int]:
        self.dumps += 1
        subprocess.run(["callgrind_control", "--dump", str(self.server.pid)], check=True, capture_output=True,
                       timeout=600)
        return totals(Path(f"{self.out}.{self.dumps}"))


def measure(name: str, argv: list[str], calls: int, work: Path) -> dict[str, Any]:
    port = free_port()
    counter = Counter(name, [a.replace("{port}", str(port)) for a in argv], work)
    try:
        ready = "rest" if name == "B" else "mcp"
        counter.server.wait_ready(lambda: _answers(port, ready), deadline=600, interval=0.5)
        for kind in LOADS[name]:
            drive(port, kind, WARMUP)
        start = counter.dump()
        result: dict[str, Any] = {"startup_and_warmup": {"Ir": start["Ir"], "cycles": cycles(start)}}
        for kind in LOADS[name]:
            drive(port, kind, calls)
            counted = counter.dump()
            result[kind] = {"Ir": counted["Ir"] / calls, "cycles": cycles(counted) / calls}
        return result
    finally:
        counter.server.close(timeout=60)


def report(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| system | load | Ir per call | est. cycles per call | Ir / reference | cycles / reference |",
             "|---|---|---:|---:|---:|---:|"]
    for name, result in results.items():
        for kind in LOADS[name]:
            mine, ref = result[kind], results.get(REFERENCE[kind], {}).get(kind)
            ratio = (f"{mine['Ir'] / ref['Ir']:.3f} | {mine['cycles'] / ref['cycles']:.3f}" if ref else "- | -")
            lines.append(f"| {name} | {kind} | {mine['Ir'] / 1e3:,.0f} k | {mine['cycles'] / 1e3:,.0f} k | {ratio} |")
    lines += ["", "| system | start-up + warm-up Ir | est. cycles |", "|---|---:|---:|"]
    for name, result in results.items():
        start = result["startup_and_warmup"]
        lines.append(f"| {name} | {start['Ir'] / 1e9:.2f} G | {start['cycles'] / 1e9:.2f} G |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=384, help="measured calls per load (a multiple of 4)")
    parser.add_argument("--compare", metavar="COMMAND", help="also count P: another naftiko command")
    parser.add_argument("--only", action="append", choices=list(LOADS), help="count only these systems")
    args = parser.parse_args()
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"{' and '.join(missing)} not found: install valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="naftiko-instr-") as tmp:
        work = Path(tmp)
        upstream_port = free_port()
        upstream = Server("upstream", [sys.executable, str(HERE / "upstream.py"), "--port", str(upstream_port)], work)
        url = f"http://127.0.0.1:{upstream_port}"
        try:
            upstream.wait_ready(lambda: _status(upstream_port, "/health") == 204)
            serve = ["serve", str(HERE / "capability.yaml"), "--port", "{port}", "--upstream", f"bench={url}/v2"]
            systems = {"B": [sys.executable, str(HERE / "proxy_b.py"), "--port", "{port}", "--upstream", url],
                       "C": [sys.executable, str(HERE / "mcp_c.py"), "--port", "{port}", "--upstream", url],
                       "N": [*naftiko_command(), *serve]}
            if args.compare:
                systems["P"] = [*args.compare.split(), *serve]
            results = {}
            for name, argv in systems.items():
                if args.only and name not in args.only:
                    continue
                results[name] = measure(name, argv, args.calls, work)
                print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
        finally:
            upstream.close()
    text = report(results)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    (out / f"instructions-{stamp}.json").write_text(json.dumps({"calls": args.calls, "results": results}, indent=1))
    (out / "instructions-latest.md").write_text(text + "\n")


def _answers(port: int, kind: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        return call(kind)(connection) is None
    finally:
        connection.close()


def _status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


if __name__ == "__main__":
    main()
