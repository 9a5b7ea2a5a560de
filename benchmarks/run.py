"""The one command for naftiko's benchmarks: measure, compare side by side, check the budget.

    python benchmarks/run.py            # quick mode, about 3 minutes
    python benchmarks/run.py --full     # 5 rounds of 10 s, about 10 minutes

Starts a fake upstream once, then in interleaved rounds (the order rotates) starts each system,
waits until it answers, loads it, reads its CPU time and memory from /proc, and stops it:

- B: a bare Starlette + httpx2 proxy route (the Python-proxy reference);
- C: a bare low-level mcp server with one proxying tool (the MCP reference);
- N: ``naftiko serve benchmarks/capability.yaml``: N-mcp (tools/call, both protocol eras) and
  N-rest (the same capability's REST route).

Load comes from wrk when it is installed (raw JSON-RPC for MCP), else from a Python driver with
httpx2, plus the MCP SDK client for both eras. Then start-up to first tools/list, the command
line (``--help``, ``validate``), and 100 capabilities served at once. The throughput budget lines
come from paired windows: every system up at once, loaded in turn for a few seconds each, many times
(the machine drifts over tens of seconds; back-to-back windows see the same machine). Prints a
markdown table and writes it, with every raw figure as JSON, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import http.client
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report
import specs
from common import (
    HERE,
    ROOT,
    STREAM_ID,
    TOOL,
    Server,
    anon_mib,
    cpu_seconds,
    free_port,
    mcp_body,
    mcp_headers,
    mcp_ok,
    naftiko_command,
    rss_mib,
    summarize,
)

CAPABILITY = HERE / "capability.yaml"
VALIDATE_FILE = Path("capabilities/hms-live-streams.yaml")
REPO_CORPUS = [Path("capabilities"), Path("examples"), Path("tests/fixtures/valid"), Path("benchmarks/capability.yaml")]
SYSTEMS = ("B", "C", "N")
LOADS = {"B": ["rest"], "C": ["mcp", "sdk-auto", "sdk-legacy"], "N": ["mcp", "sdk-auto", "sdk-legacy", "rest"]}
LOADS["P"] = LOADS["N"]  # P: another naftiko command (--compare), e.g. with a patch, in the same rounds
PAIRED = ("rest", "mcp")  # the loads of the paired windows
HEAVY_MODULES = ("mcp", "uvicorn", "starlette", "httpx2", "anyio", "pydantic")


@dataclasses.dataclass
class Settings:
    mode: str
    rounds: int
    warmup: int
    duration: int
    startup_runs: int
    cli_runs: int
    scale_runs: int
    pairs: int = 5  # paired-window alternations (the throughput budget lines)
    pair_window: int = 2  # seconds per paired window
    scale_count: int = 100
    corpus_count: int = 200
    connections: int = 16
    sessions: int = 16
    driver: str = "auto"
    sdk: bool = True
    phases: tuple[str, ...] = ("cli", "startup", "load", "paired", "scale")
    driver_label: str = ""
    output: Path = HERE / "results"
    naftiko: tuple[str, ...] = ()  # command that runs naftiko (default: the console script)
    compare: tuple[str, ...] = ()  # a second naftiko command measured as system P
    pyc_cache: bool = True  # give children a private bytecode cache when the environment disables it


MODES = {
    "quick": Settings("quick", rounds=3, warmup=1, duration=3, startup_runs=3, cli_runs=5, scale_runs=2),
    "full": Settings("full", rounds=5, warmup=2, duration=10, startup_runs=15, cli_runs=10, scale_runs=3,
                     pairs=15, pair_window=3),
}


# ------------------------------------------------------------------------------------ HTTP probes


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def tools_listed(port: int, path: str = "/mcp", at_least: int = 1) -> Callable[[], bool]:
    body, headers = mcp_body("tools/list"), mcp_headers("tools/list")

    def probe() -> bool:
        status, data = request(port, "POST", path, body, headers, timeout=2)
        return status == 200 and data.count(b'"inputSchema"') >= at_least

    return probe


def answers_200(port: int, path: str) -> Callable[[], bool]:
    return lambda: request(port, "GET", path, timeout=2)[0] == 200


def call_tool(port: int, name: str, arguments: dict[str, Any], path: str = "/mcp") -> bool:
    status, data = request(port, "POST", path, mcp_body("tools/call", {"name": name, "arguments": arguments}),
                           mcp_headers("tools/call", name))
    return mcp_ok(status, data)


# ---------------------------------------------------------------------------------------- harness


class Harness:
    def __init__(self, settings: Settings, work: Path) -> None:
        self.s = settings
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir()
        self.upstream: Server | None = None
        self.upstream_url = ""
        self.env = child_environment(work / "pycache" if settings.pyc_cache else None)
        self.naftiko = list(settings.naftiko) or naftiko_command()
        self.systems = (*SYSTEMS, "P") if settings.compare else SYSTEMS
        self.wrk = shutil.which("wrk") if settings.driver in ("auto", "wrk") else None
        if settings.driver == "wrk" and not self.wrk:
            raise SystemExit("--driver wrk: wrk is not installed (apt-get install wrk)")

    # ----------------------------------------------------------------------------------- servers

    @contextlib.contextmanager
    def upstream_running(self) -> Iterator[None]:
        port = free_port()
        self.upstream = Server("upstream", [sys.executable, str(HERE / "upstream.py"), "--port", str(port)], self.logs,
                               self.env)
        try:
            self.upstream.wait_ready(lambda: request(port, "GET", "/health", timeout=2)[0] == 204)
            self.upstream_url = f"http://127.0.0.1:{port}"
            yield
        finally:
            self.upstream.close()

    def argv(self, system: str, port: int) -> list[str]:
        if system == "B":
            return [sys.executable, str(HERE / "proxy_b.py"), "--port", str(port), "--upstream", self.upstream_url]
        if system == "C":
            return [sys.executable, str(HERE / "mcp_c.py"), "--port", str(port), "--upstream", self.upstream_url]
        command = list(self.s.compare) if system == "P" else self.naftiko
        return [*command, "serve", str(CAPABILITY), "--port", str(port),
                "--upstream", f"bench={self.upstream_url}/v2"]

    @contextlib.contextmanager
    def system(self, system: str) -> Iterator[tuple[Server, int, float]]:
        """Start ``system`` on a free port, wait for its first good answer, always stop it."""
        port = free_port()
        server = Server(system, self.argv(system, port), self.logs, self.env)
        try:
            probe = answers_200(port, f"/live-streams/{STREAM_ID}") if system == "B" else tools_listed(port)
            ready = server.wait_ready(probe)
            yield server, port, ready
        finally:
            server.close()

    # ------------------------------------------------------------------------------------- loads

    def load(self, kind: str, port: int, server: Server, window: tuple[int, int] | None = None) -> dict[str, Any]:
        """One load of ``server``: ``window`` is (warm-up, measured) seconds, by default the mode's."""
        pids = [server.pid, self.upstream.pid] if self.upstream else [server.pid]
        w = window or (self.s.warmup, self.s.duration)
        if kind == "rest":
            url = f"http://127.0.0.1:{port}/live-streams"
            result = self._wrk(f"{url}/{STREAM_ID}", False, pids, w) if self.wrk else self._python("http", url, pids, w)
        elif kind == "mcp":
            url = f"http://127.0.0.1:{port}/mcp"
            result = self._wrk(url, True, pids, w) if self.wrk else self._python("http", url, pids, w, "--mcp")
        else:
            mode = kind.removeprefix("sdk-")
            url = f"http://127.0.0.1:{port}/mcp"
            result = self._python("sdk", url, pids, w, "--mode", mode, "--sessions", str(self.s.sessions))
        cpu = result.pop("server_cpu_s", {})
        calls = result.get("calls") or 0
        result["cpu_ms_per_call"] = cpu.get(str(server.pid), float("nan")) * 1000 / calls if calls else None
        if self.upstream:
            up = cpu.get(str(self.upstream.pid), float("nan"))
            result["upstream_cpu_ms_per_call"] = up * 1000 / calls if calls else None
        return result

    def _python(self, kind: str, url: str, pids: list[int], window: tuple[int, int], *extra: str) -> dict[str, Any]:
        warmup, duration = window
        argv = [sys.executable, str(HERE / "load.py"), kind, url, "--warmup", str(warmup), "--duration", str(duration),
                *extra]
        if kind == "http":
            argv += ["--connections", str(self.s.connections)]
        for pid in pids:
            argv += ["--pid", str(pid)]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=HERE, env=self.env,
                              timeout=warmup + duration + 60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"load driver failed: {done.stderr.strip()[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["driver"] = "mcp SDK client" if kind == "sdk" else "python httpx2"
        return result

    def _wrk(self, url: str, mcp: bool, pids: list[int], window: tuple[int, int]) -> dict[str, Any]:
        assert self.wrk is not None
        warmup, duration = window
        env = {**os.environ, "BENCH_MCP": "1" if mcp else "0", "BENCH_TOOL": TOOL, "BENCH_VERSION": "2026-07-28",
               "BENCH_BODY": mcp_body("tools/call", {"name": TOOL, "arguments": {"id": STREAM_ID}}).decode()}
        base = [self.wrk, "-t1", f"-c{self.s.connections}", "--timeout", "10s", "-s", str(HERE / "wrk.lua"), url]
        limit = warmup + duration + 30
        if warmup:
            subprocess.run([*base, "-d", f"{warmup}s"], capture_output=True, env=env, timeout=limit, check=False)
        before = {pid: cpu_seconds(pid) for pid in pids}
        done = subprocess.run([*base, "-d", f"{duration}s"], capture_output=True, text=True, env=env,
                              timeout=limit, check=False)
        after = {pid: cpu_seconds(pid) for pid in pids}
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        good = raw["requests"] - raw["bad"]
        seconds = raw["duration_us"] / 1e6
        return {
            "calls": good,
            "errors": raw["bad"] + raw["socket_errors"],
            "window_s": seconds,
            "throughput": good / seconds,
            "p50_ms": raw["p50_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "server_cpu_s": {str(pid): after[pid] - before[pid] for pid in pids},
            "driver": "wrk",
        }

    # ------------------------------------------------------------------------------------ phases

    def rounds(self) -> list[dict[str, Any]]:
        out = []
        for index in range(self.s.rounds):
            order = rotated(self.systems, index)
            round_: dict[str, Any] = {"order": "".join(order)}
            for system in order:
                round_[system] = self.one_system(system)
                progress(f"round {index + 1}/{self.s.rounds} {system}: {brief(round_[system])}")
            out.append(round_)
        return out

    def one_system(self, system: str) -> dict[str, Any]:
        loads = [k for k in LOADS[system] if self.s.sdk or not k.startswith("sdk")]
        result: dict[str, Any] = {}
        try:
            with self.system(system) as (server, port, ready):
                result.update(ready_s=ready, rss_ready_mib=rss_mib(server.pid))
                for kind in loads:
                    result[kind] = self.load(kind, port, server)
                    if "rss_warm_mib" not in result:
                        result.update(rss_warm_mib=rss_mib(server.pid), anon_warm_mib=anon_mib(server.pid))
                result["rss_end_mib"] = rss_mib(server.pid)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            result["error"] = str(exc)[-2000:]
            progress(f"{system} failed: {result['error']}")
        return result

    def paired(self) -> list[dict[str, Any]]:
        """Throughput in short windows taken back to back. Every system runs at once; each load's
        systems are loaded in turn for ``pair_window`` seconds (the order rotating), ``pairs`` times.
        A window's figure is set against the reference's window seconds before or after it, so the
        drift of a shared machine (20 % over tens of seconds here) falls out of the ratio."""
        window = (0, self.s.pair_window)
        serving = {kind: tuple(s for s in self.systems if kind in LOADS[s]) for kind in PAIRED}
        out: list[dict[str, Any]] = []
        with contextlib.ExitStack() as stack:
            up = {s: stack.enter_context(self.system(s)) for s in self.systems}
            for kind, names in serving.items():  # one discarded window each: connections, pools, caches
                for name in names:
                    self.load(kind, up[name][1], up[name][0], window)
            for index in range(self.s.pairs):
                entry: dict[str, Any] = {}
                for kind, names in serving.items():
                    entry[kind] = {}
                    for name in rotated(names, index):
                        result = self.load(kind, up[name][1], up[name][0], window)
                        entry[kind][name] = {"throughput": result["throughput"], "errors": result.get("errors", 0)}
                out.append(entry)
                progress(f"paired {index + 1}/{self.s.pairs}: " + "; ".join(
                    f"{kind} " + ", ".join(f"{n} {v['throughput']:.0f}/s" for n, v in values.items())
                    for kind, values in entry.items()))
        return out

    def startup(self) -> list[dict[str, Any]]:
        runs = []
        for index in range(-1, self.s.startup_runs):  # run -1 warms caches (bytecode, page cache): discarded
            order = rotated(self.systems, index)
            run: dict[str, Any] = {}
            for system in order:
                try:
                    with self.system(system) as (server, _, ready):
                        run[system] = {"ready_s": ready, "rss_ready_mib": rss_mib(server.pid)}
                except RuntimeError as exc:
                    run[system] = {"error": str(exc)[-2000:]}
            if index < 0:
                continue
            runs.append(run)
            progress("startup run {}: {}".format(index + 1, ", ".join(
                f"{k} {v['ready_s']:.3f} s" for k, v in run.items() if "ready_s" in v)))
        return runs

    def cli(self) -> tuple[dict[str, Any], dict[str, Any]]:
        corpus = self.work / "corpus"
        specs.write_capabilities(corpus, self.s.corpus_count, "http://127.0.0.1:9/v2")
        repo = [str(p) for p in REPO_CORPUS if (ROOT / p).exists()]
        commands = {
            "python_s": [sys.executable, "-c", "pass"],
            "help_s": [*self.naftiko, "--help"],
            "validate_file_s": [*self.naftiko, "validate", str(VALIDATE_FILE)],
            "repo_corpus_s": [*self.naftiko, "validate", *repo],
            "corpus_s": [*self.naftiko, "validate", str(corpus)],
            "corpus_together_s": [*self.naftiko, "validate", "--together", str(corpus)],
        }
        raw: dict[str, list[float]] = {k: [] for k in commands}
        notes: dict[str, str] = {}
        for index in range(-1, self.s.cli_runs):  # interleaved, like the rounds; run -1 warms caches
            for key, argv in commands.items():
                seconds, done = timed(argv, self.env)
                if index >= 0:
                    raw[key].append(seconds)
                if done.returncode != 0:
                    notes[key] = (done.stderr or done.stdout)[-500:]
        summary: dict[str, Any] = {k: summarize(v) for k, v in raw.items()}
        repo_files = count_files(repo)
        summary.update(
            file=str(VALIDATE_FILE),
            corpus_files=self.s.corpus_count,
            repo_corpus_files=repo_files,
            specs_per_s=summarize([self.s.corpus_count / v for v in raw["corpus_s"]]),
            repo_specs_per_s=summarize([repo_files / v for v in raw["repo_corpus_s"]]),
            together_specs_per_s=summarize([self.s.corpus_count / v for v in raw["corpus_together_s"]]),
            ms_per_spec=summarize([(c - f) * 1000 / (self.s.corpus_count - 1)
                                   for c, f in zip(raw["corpus_s"], raw["validate_file_s"], strict=True)]),
            heavy_imports=heavy_imports(self.env),
            failures=notes,
        )
        progress(f"cli: --help {summary['help_s']['median']:.3f} s, validate file "
                 f"{summary['validate_file_s']['median']:.3f} s, {summary['specs_per_s']['median']:.0f} specs/s")
        return raw, summary

    def scale(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        count = self.s.scale_count
        folder = self.work / "scale"
        specs.write_capabilities(folder, count, f"{self.upstream_url}/v2")
        runs = []
        for _ in range(self.s.scale_runs):
            port = free_port()
            argv = [*self.naftiko, "serve", str(folder), "--port", str(port)]
            server = Server("scale", argv, self.logs, self.env)
            try:
                ready = server.wait_ready(tools_listed(port, at_least=3 * count), deadline=60)
                run: dict[str, Any] = {"ready_s": ready, "rss_ready_mib": rss_mib(server.pid)}
                _, body = request(port, "POST", "/mcp", mcp_body("tools/list"), mcp_headers("tools/list"))
                run["tools"] = body.count(b'"inputSchema"')
                ok = sum(call_tool(port, name, {"id": STREAM_ID}) for name in specs.tool_names(count))
                ok += sum(request(port, "GET", f"/c{n:03d}/live-streams/{STREAM_ID}")[0] == 200
                          for n in range(1, count + 1))
                run.update(calls_ok=ok, calls=2 * count, rss_warm_mib=rss_mib(server.pid))
            except (RuntimeError, OSError) as exc:
                run = {"error": str(exc)[-2000:]}
            finally:
                server.close()
            runs.append(run)
            progress(f"scale: {brief(run)}")
        good = [r for r in runs if "ready_s" in r]
        summary = {
            "count": count,
            "tools": good[0].get("tools") if good else None,
            "calls_ok": [r.get("calls_ok") for r in good],
            "ready_s": summarize([r["ready_s"] for r in good]),
            "rss_ready_mib": summarize([r["rss_ready_mib"] for r in good]),
            "rss_warm_mib": summarize([r.get("rss_warm_mib", float("nan")) for r in good]),
        }
        return runs, summary


# ---------------------------------------------------------------------------------------- helpers


def rotated(systems: tuple[str, ...], index: int) -> tuple[str, ...]:
    """The order of round ``index``: each system goes first in turn."""
    shift = index % len(systems)
    return systems[shift:] + systems[:shift]


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return "error"
    parts = [f"{k} {v['throughput']:.0f}/s p99 {v['p99_ms']:.0f} ms" for k, v in result.items()
             if isinstance(v, dict) and "throughput" in v]
    parts += [f"{k} {v:.2f}" for k, v in result.items() if k in ("ready_s", "rss_warm_mib")]
    return ", ".join(parts)


def child_environment(pycache: Path | None) -> dict[str, str]:
    """The children's environment. Installed packages ship bytecode and a source checkout writes
    ``__pycache__``; when this environment forbids writing bytecode (PYTHONDONTWRITEBYTECODE), every
    start would compile the project from source, so children get a private cache under ``pycache``."""
    env = dict(os.environ)
    if pycache is not None and env.pop("PYTHONDONTWRITEBYTECODE", None):
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


WARM_MODULES = (
    "mcp.server", "mcp.server.streamable_http_manager", "mcp.client", "mcp.client.streamable_http", "uvicorn",
    "uvicorn.protocols.http.h11_impl", "uvicorn.lifespan.on", "uvicorn.loops.asyncio", "httpx2", "httpcore2",
    "starlette.applications", "jsonschema_rs", "jinja2", "jsonpath_ng.ext", "yaml", "jwt",
)


def warm_bytecode(env: dict[str, str]) -> None:
    """Fill a fresh private bytecode cache before anything is timed: import naftiko's modules and
    the heavy libraries once (errors do not matter here, a missing module is simply not warmed)."""
    script = (
        "import importlib, pkgutil, sys\n"
        "import naftiko_runtime\n"
        "names = [m.name for m in pkgutil.walk_packages(naftiko_runtime.__path__, 'naftiko_runtime.')]\n"
        "for name in [n for n in names if not n.endswith('__main__')] + sys.argv[1:]:\n"
        "    try:\n        importlib.import_module(name)\n    except Exception:\n        pass\n"
    )
    subprocess.run([sys.executable, "-c", script, *WARM_MODULES], capture_output=True, cwd=ROOT, env=env,
                   timeout=300, check=False)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False)
    return time.perf_counter() - start, done


def count_files(paths: list[str]) -> int:
    total = 0
    for p in paths:
        path = ROOT / p
        total += 1 if path.is_file() else sum(1 for f in path.rglob("*") if f.suffix in (".yaml", ".yml"))
    return total


def heavy_imports(env: dict[str, str]) -> dict[str, list[str]]:
    """Which server-side modules ``--help`` and ``validate FILE`` import (in a fresh interpreter)."""
    script = (
        "import sys, json\n"
        "from naftiko_runtime.cli import main\n"
        "try:\n    main(sys.argv[1:], prog_name='naftiko')\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY_MODULES)!r}))),"
        " file=sys.stderr)\n"
    )
    out = {}
    for name, args in (("--help", ["--help"]), ("validate", ["validate", str(VALIDATE_FILE)])):
        done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=60, check=False)
        try:
            out[name] = json.loads(done.stderr.strip().splitlines()[-1])
        except (ValueError, IndexError):
            out[name] = [f"(could not check: {done.stderr.strip()[-200:]})"]
    return out


def machine_info(wrk: str | None) -> dict[str, Any]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("mcp", "httpx2", "starlette", "uvicorn", "pydantic", "jsonschema-rs", "naftiko"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "arch": platform.machine(),
        "kernel": f"{platform.system()} {platform.release()}",
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": versions,
        "wrk": None,
        "loadavg_start": os.getloadavg(),
        "bytecode": "inherited environment",
    }
    if wrk:
        done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        text = (done.stdout or done.stderr).strip()
        info["wrk"] = text.splitlines()[0].split(" [")[0] if text else wrk
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                                timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=ROOT, timeout=10, check=False).stdout.strip()
        info["commit"] = (commit + ("+changes" if dirty else "")) or "?"
    return info


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="5 rounds of 10 s (default: quick, 3 rounds of 3 s)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=int, help="measurement window per load, seconds")
    parser.add_argument("--warmup", type=int, help="discarded warm-up per load, seconds")
    parser.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto",
                        help="raw HTTP load generator (auto: wrk when installed)")
    parser.add_argument("--no-sdk", action="store_true", help="skip the MCP SDK client loads (and the legacy era)")
    parser.add_argument("--pairs", type=int, help="paired-window alternations (the throughput budget lines)")
    parser.add_argument("--only", action="append", choices=["cli", "startup", "load", "paired", "scale"],
                        help="run only these phases (repeatable)")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    parser.add_argument("--naftiko", metavar="COMMAND",
                        help="how to run naftiko, e.g. 'python wrapper.py' to try a patch (default: naftiko)")
    parser.add_argument("--compare", metavar="COMMAND",
                        help="also measure this naftiko command (system P) in the same rounds, e.g. a patched copy")
    parser.add_argument("--no-pyc-cache", action="store_true",
                        help="run children with the inherited environment even if it disables bytecode caching")
    args = parser.parse_args(argv)
    settings = dataclasses.replace(MODES["full" if args.full else "quick"], driver=args.driver, sdk=not args.no_sdk,
                                   output=args.output, pyc_cache=not args.no_pyc_cache,
                                   naftiko=tuple(shlex.split(args.naftiko)) if args.naftiko else (),
                                   compare=tuple(shlex.split(args.compare)) if args.compare else ())
    for name in ("rounds", "duration", "warmup", "pairs"):
        if getattr(args, name) is not None:
            setattr(settings, name, max(0 if name == "warmup" else 1, getattr(args, name)))
    if args.only:
        settings.phases = tuple(args.only)
    return settings


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    output = settings.output
    data: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="naftiko-bench-") as tmp:
        harness = Harness(settings, Path(tmp))
        settings.driver_label = (f"wrk -t1 ({Path(harness.wrk).name})" if harness.wrk
                                 else "Python driver (httpx2)" if settings.driver == "python"
                                 else "Python driver (httpx2; wrk not installed)")
        machine = machine_info(harness.wrk)
        if harness.env.get("PYTHONPYCACHEPREFIX") and not os.environ.get("PYTHONPYCACHEPREFIX"):
            machine["bytecode"] = "private cache (PYTHONDONTWRITEBYTECODE was set)"
        if harness.wrk and machine.get("wrk"):
            settings.driver_label = f"{machine['wrk']} -t1"
        progress(f"{settings.mode} mode; load: {settings.driver_label}; work dir {tmp}")
        if harness.env.get("PYTHONPYCACHEPREFIX") != os.environ.get("PYTHONPYCACHEPREFIX"):
            warm_bytecode(harness.env)
        if "cli" in settings.phases:
            data["cli"], data["cli_summary"] = harness.cli()
        with harness.upstream_running():
            if "startup" in settings.phases:
                data["startup"] = harness.startup()
            if "load" in settings.phases:
                data["rounds"] = harness.rounds()
            if "paired" in settings.phases:
                data["paired"] = harness.paired()
            if "scale" in settings.phases:
                data["scale"], data["scale_summary"] = harness.scale()
    machine["loadavg_end"] = os.getloadavg()
    summary = report.summarize_all(data)
    settings_out = dataclasses.asdict(settings)
    text = report.markdown(summary, machine, settings_out)
    print(text)
    output.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    document = {"settings": settings_out, "machine": machine, "raw": data,
                "summary": {**summary, "budget": [dataclasses.asdict(b) for b in summary["budget"]]}}
    for name in (f"bench-{stamp}.json", "latest.json"):
        (output / name).write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    (output / "latest.md").write_text(text, encoding="utf-8")
    progress(f"wrote {output / f'bench-{stamp}.json'} and {output / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
