"""The scale run: MCP tool calls/s of one ``naftiko serve`` with 1 and 2 workers (4 where the machine
has the cores), and of separate ``naftiko serve`` processes behind a load balancer, side by side.

    python benchmarks/scale.py                      # 3 rounds of 10 s per system, about 4 minutes
    python benchmarks/scale.py --rounds 5 --duration 15 --haproxy PATH --wrk PATH

Every system calls the same local upstream (``upstream.py``, started once) and gets the same load:
self-contained 2026-07-28 ``tools/call`` POSTs over ``--connections`` keep-alive connections (wrk
with ``wrk.lua`` when installed, else ``load.py http --mcp``). In each round every system is
started, waited for (every worker answers ``/health/ready``), loaded after a discarded warm-up,
and stopped; the order rotates between rounds. Ratios are taken inside a round, then the median.

Systems: ``1 worker`` (the default), ``2 workers`` (``--workers 2``), ``4 workers`` when there are
4 cores or more, ``LB 1`` and ``LB 2``: one and two single-worker processes behind a balancer:
haproxy in HTTP mode (round robin per request, like an ingress) when given or on the PATH, else
``balancer.py`` (Python, round robin per connection, like a Kubernetes Service).

CPU time is read from /proc for every process of each role (naftiko's supervisor and workers, the
balancer, the upstream) over the measured window, and for the load driver from its own rusage, so
the report shows how the cores were shared: on a small machine the driver, the upstream and the
balancer compete with naftiko for them, and the ratios say more about the machine than about naftiko.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HERE, Server, free_port, summarize
from run import MODES, Harness, machine_info, progress, request, rotated, tools_listed

CAPABILITY = HERE / "capability.yaml"
BASE = "1 worker"


@dataclasses.dataclass
class Running:
    """A system under load: where to send it, and which processes do what."""

    port: int
    roles: dict[str, list[int]]
    servers: list[Server]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from each process's parent in /proc/*/stat)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                text = (entry / "stat").read_text()
                parents[int(entry.name)] = int(text[text.rindex(")") + 2:].split()[1])
    found, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def worker_pids(port: int, want: int, deadline: float = 30.0) -> set[int]:
    """Probe /health/ready on new connections until ``want`` pids have answered 200."""
    seen: set[int] = set()
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with contextlib.suppress(OSError, ValueError):
            status, body = request(port, "GET", "/health/ready", timeout=2)
            if status == 200:
                seen.add(json.loads(body)["pid"])
                if len(seen) >= want:
                    return seen
        time.sleep(0.01)
    raise RuntimeError(f"only {len(seen)} of {want} workers ready on port {port} after {deadline:.0f} s")


class Scale:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        settings = dataclasses.replace(MODES["quick"], rounds=args.rounds, warmup=args.warmup,
                                       duration=args.duration, connections=args.connections,
                                       driver="python" if args.driver == "python" else "auto")
        self.harness = Harness(settings, work)
        if args.wrk and args.driver != "python":
            self.harness.wrk = args.wrk
        self.args = args
        self.work = work
        self.haproxy = None if args.balancer == "python" else (args.haproxy or shutil.which("haproxy"))
        if args.balancer == "haproxy" and not self.haproxy:
            raise SystemExit("--balancer haproxy: no haproxy (give --haproxy PATH)")
        self.systems = [f"{n} worker{'s' if n > 1 else ''}" for n in args.workers] + ["LB 1", "LB 2"]
        if args.only:
            self.systems = [name for name in self.systems if name in args.only]

    # -------------------------------------------------------------------------------- systems

    def naftiko(self, name: str, workers: int) -> tuple[Server, int]:
        port = free_port()
        argv = [*self.harness.naftiko, "serve", str(CAPABILITY), "--port", str(port),
                "--upstream", f"bench={self.harness.upstream_url}/v2", "--workers", str(workers)]
        return Server(name, argv, self.harness.logs, self.harness.env), port

    @contextlib.contextmanager
    def system(self, name: str) -> Iterator[Running]:
        upstream = [self.harness.upstream.pid] if self.harness.upstream else []
        started: list[Server] = []
        try:
            if not name.startswith("LB"):
                count = int(name.split()[0])
                server, port = self.naftiko(name, count)
                started.append(server)
                server.wait_ready(tools_listed(port))
                worker_pids(port, count)
                yield Running(port, {"naftiko": descendants(server.pid), "upstream": upstream}, started)
                return
            backends = [self.naftiko(f"{name}-{n}", 1) for n in range(int(name.split()[1]))]
            started += [server for server, _ in backends]
            for server, backend_port in backends:
                server.wait_ready(tools_listed(backend_port))
            port = free_port()
            balancer = self.balancer(port, [backend_port for _, backend_port in backends])
            started.append(balancer)
            balancer.wait_ready(tools_listed(port))
            naftiko = [pid for server, _ in backends for pid in descendants(server.pid)]
            yield Running(port, {"naftiko": naftiko, "balancer": descendants(balancer.pid), "upstream": upstream},
                          started)
        finally:
            for server in reversed(started):
                server.close()

    def balancer(self, port: int, backends: list[int]) -> Server:
        if self.haproxy:
            config = self.work / f"haproxy-{port}.cfg"
            servers = "\n".join(f"    server s{n} 127.0.0.1:{p}" for n, p in enumerate(backends))
            config.write_text(f"""\
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend mcp
    bind 127.0.0.1:{port}
    default_backend naftiko
backend naftiko
    balance roundrobin
    http-reuse always
{servers}
""", encoding="utf-8")
            return Server("haproxy", [self.haproxy, "-q", "-db", "-f", str(config)], self.harness.logs,
                          self.harness.env)
        argv = [sys.executable, str(HERE / "balancer.py"), "--port", str(port)]
        for backend in backends:
            argv += ["--backend", f"127.0.0.1:{backend}"]
        return Server("balancer", argv, self.harness.logs, self.harness.env)

    # ---------------------------------------------------------------------------------- load

    def load(self, running: Running) -> dict[str, Any]:
        pids = [pid for group in running.roles.values() for pid in group]
        url = f"http://127.0.0.1:{running.port}/mcp"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        if self.harness.wrk:
            result = self.harness._wrk(url, True, pids)
        else:
            result = self.harness._python("http", url, pids, "--mcp")
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = result.pop("server_cpu_s", {})
        window = result["window_s"]
        result["cores"] = {role: sum(cpu.get(str(pid), 0.0) for pid in group) / window
                           for role, group in running.roles.items()}
        # the driver ran for warm-up + window: its average share over that time
        result["cores"]["driver"] = result.pop("driver_cpu_share", None) or (
            (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall)
        calls = result.get("calls") or 0
        result["naftiko_cpu_ms_per_call"] = (result["cores"]["naftiko"] * window * 1000 / calls) if calls else None
        if result.get("errors"):  # keep what the servers said, to tell why
            result["log_tails"] = {s.name: problems(s) for s in running.servers}
        if result.get("errors", 0) > calls:
            raise RuntimeError(f"most calls failed ({result['errors']} errors, {calls} good): "
                               + json.dumps(result["log_tails"], indent=1)[:4000])
        return result

    def rounds(self) -> list[dict[str, Any]]:
        out = []
        for index in range(self.args.rounds):
            round_: dict[str, Any] = {}
            for name in rotated(tuple(self.systems), index):
                try:
                    with self.system(name) as running:
                        round_[name] = self.load(running)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                    round_[name] = {"error": str(exc)[-2000:]}
                progress(f"round {index + 1}/{self.args.rounds} {name}: {brief(round_[name])}")
            out.append(round_)
        return out


def problems(server: Server) -> list[str]:
    """The first and the last lines of a server's log that are not a successful call."""
    lines = [line for line in server.log_tail(1_000_000).splitlines() if " ok " not in line]
    return lines[:12] + (["...", *lines[-5:]] if len(lines) > 17 else lines[12:])


def brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return "error: " + result["error"].splitlines()[0]
    cores = ", ".join(f"{k} {v:.2f}" for k, v in result["cores"].items() if v is not None)
    return (f"{result['throughput']:.0f} calls/s, p99 {result['p99_ms']:.0f} ms, errors {result['errors']}; "
            f"cores: {cores}")


def summarize_rounds(rounds: list[dict[str, Any]], systems: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in systems:
        good = [r[name] for r in rounds if "throughput" in r.get(name, {})]
        ratios = [r[name]["throughput"] / r[BASE]["throughput"] for r in rounds
                  if "throughput" in r.get(name, {}) and "throughput" in r.get(BASE, {}) and r[BASE]["throughput"]]
        lb = [r[name]["throughput"] / r["LB 1"]["throughput"] for r in rounds if name.startswith("LB")
              and "throughput" in r.get(name, {}) and "throughput" in r.get("LB 1", {}) and r["LB 1"]["throughput"]]
        roles = sorted({role for g in good for role in g["cores"]})
        summary[name] = {
            "throughput": summarize([g["throughput"] for g in good]),
            "vs_1_worker": summarize(ratios),
            "vs_lb_1": summarize(lb),
            "p50_ms": summarize([g["p50_ms"] for g in good]),
            "p99_ms": summarize([g["p99_ms"] for g in good]),
            "errors": sum(g.get("errors", 0) for g in good),
            "naftiko_cpu_ms_per_call": summarize([g["naftiko_cpu_ms_per_call"] for g in good
                                                  if g.get("naftiko_cpu_ms_per_call")]),
            "cores": {role: statistics.median([g["cores"][role] for g in good if g["cores"].get(role) is not None]
                                              or [float("nan")]) for role in roles},
            "failed_rounds": sum(1 for r in rounds if "error" in r.get(name, {})),
        }
    return summary


def fmt(stat: dict[str, Any], digits: int = 0, suffix: str = "") -> str:
    if stat.get("median") is None:
        return "-"
    return (f"{stat['median']:.{digits}f}{suffix} ({stat['min']:.{digits}f}-{stat['max']:.{digits}f})"
            if stat["n"] > 1 else f"{stat['median']:.{digits}f}{suffix}")


def markdown(summary: dict[str, Any], machine: dict[str, Any], args: argparse.Namespace, driver: str,
             balancer: str) -> str:
    lines = [
        "# naftiko scale run",
        "",
        f"{machine['date']}; {machine['cpu']}, {machine['nproc']} cores; Python {machine['python']}; "
        f"commit {machine.get('commit', '?')}; load average {machine['loadavg_start'][0]:.2f} at start, "
        f"{machine['loadavg_end'][0]:.2f} at end.",
        f"{args.rounds} rounds x {args.duration} s (warm-up {args.warmup} s), {args.connections} connections, "
        f"load: {driver}; balancer: {balancer}. Median (min-max) over rounds; ratios are per round.",
        "",
        "| system | calls/s | x 1 worker | x LB 1 | p50 ms | p99 ms | naftiko CPU ms/call | cores used: "
        "naftiko / upstream / balancer / driver | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        cores = s["cores"]
        used = " / ".join(f"{cores[r]:.2f}" if r in cores else "-"
                          for r in ("naftiko", "upstream", "balancer", "driver"))
        failed = f" ({s['failed_rounds']} failed rounds)" if s["failed_rounds"] else ""
        lines.append(f"| {name} | {fmt(s['throughput'])} | {fmt(s['vs_1_worker'], 2)} | {fmt(s['vs_lb_1'], 2)} | "
                     f"{fmt(s['p50_ms'], 1)} | {fmt(s['p99_ms'], 1)} | {fmt(s['naftiko_cpu_ms_per_call'], 2)} | "
                     f"{used} | {s['errors']}{failed} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="measured window per system and round, seconds")
    parser.add_argument("--warmup", type=int, default=3, help="discarded warm-up, seconds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=None,
                        help="worker counts to measure, e.g. 1,2,4 (default: 1,2, and 4 with 4 cores or more)")
    parser.add_argument("--driver", choices=["auto", "python"], default="auto", help="auto: wrk when found")
    parser.add_argument("--wrk", help="path of wrk (default: on the PATH)")
    parser.add_argument("--balancer", choices=["auto", "haproxy", "python"], default="auto",
                        help="auto: haproxy when found, else balancer.py")
    parser.add_argument("--haproxy", help="path of haproxy (default: on the PATH)")
    parser.add_argument("--only", action="append", metavar="SYSTEM", help="measure only this system, e.g. 'LB 2'")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = [1, 2, 4] if (os.cpu_count() or 1) >= 4 else [1, 2]
    if 1 not in args.workers:
        args.workers.insert(0, 1)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="naftiko-scale-") as tmp:
        scale = Scale(args, Path(tmp))
        machine = machine_info(scale.harness.wrk)
        driver = f"{machine['wrk']} -t1" if scale.harness.wrk else "Python driver (httpx2)"
        balancer = "haproxy (HTTP mode, round robin per request, 1 thread)" if scale.haproxy else \
            "balancer.py (Python asyncio, round robin per connection)"
        progress(f"systems: {', '.join(scale.systems)}; load: {driver}; balancer: {balancer}")
        with scale.harness.upstream_running():
            rounds = scale.rounds()
    machine["loadavg_end"] = os.getloadavg()
    summary = summarize_rounds(rounds, scale.systems)
    text = markdown(summary, machine, args, driver, balancer)
    print(text)
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    document = {"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine, "driver": driver,
                "balancer": balancer, "raw": rounds, "summary": summary}
    for name in (f"scale-{stamp}.json", "scale-latest.json"):
        (args.output / name).write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    (args.output / "scale-latest.md").write_text(text, encoding="utf-8")
    progress(f"wrote {args.output / f'scale-{stamp}.json'} and {args.output / 'scale-latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
