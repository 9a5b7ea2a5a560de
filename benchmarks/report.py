"""Turn raw harness measurements into summaries, same-round ratios, budget verdicts and markdown.

Ratios are always computed inside one round (or one start-up run) first and the median is taken
afterwards: absolute figures on a shared 2-core machine move by 10-25 % between rounds, the
ratios much less.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from common import median, summarize

MIB_PER_MB = 1e6 / 2**20

# (system, load) rows of the throughput table, in display order, with their labels.
ROWS: list[tuple[str, str, str]] = [
    ("B", "rest", "B  Starlette + httpx2 proxy, GET"),
    ("N", "rest", "N-rest  naftiko REST route, GET"),
    ("C", "mcp", "C  low-level mcp server, tools/call 2026 (raw)"),
    ("N", "mcp", "N-mcp  naftiko, tools/call 2026 (raw)"),
    ("C", "sdk-auto", "C  SDK client, 2026-07-28"),
    ("N", "sdk-auto", "N-mcp  SDK client, 2026-07-28"),
    ("C", "sdk-legacy", "C  SDK client, legacy 2025-11-25"),
    ("N", "sdk-legacy", "N-mcp  SDK client, legacy 2025-11-25"),
    ("P", "rest", "P-rest  compared naftiko (--compare), GET"),
    ("P", "mcp", "P-mcp  compared naftiko, tools/call 2026 (raw)"),
    ("P", "sdk-auto", "P-mcp  compared naftiko, SDK client 2026"),
    ("P", "sdk-legacy", "P-mcp  compared naftiko, SDK client legacy"),
]

Round = dict[str, dict[str, Any]]  # system -> {load kind -> result, "rss_warm_mib": ..., ...}


def _load(round_: Round, system: str, kind: str) -> dict[str, Any] | None:
    entry = round_.get(system, {}).get(kind)
    return entry if isinstance(entry, dict) and entry.get("calls") else None


def _metric(result: dict[str, Any] | None, key: str) -> float:
    if result is None:
        return float("nan")
    value = result.get(key)
    return float(value) if isinstance(value, int | float) else float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if a == a and b == b and b else float("nan")


def rows(rounds: Sequence[Round]) -> list[dict[str, Any]]:
    """One summary per (system, load) over the rounds."""
    table = []
    for system, kind, label in ROWS:
        loads = [_load(r, system, kind) for r in rounds]
        present = [x for x in loads if x is not None]
        if not present:
            continue
        table.append({
            "system": system,
            "load": kind,
            "label": label,
            "driver": present[0].get("driver"),
            "throughput": summarize([_metric(x, "throughput") for x in present]),
            "p50_ms": summarize([_metric(x, "p50_ms") for x in present]),
            "p99_ms": summarize([_metric(x, "p99_ms") for x in present]),
            "p99_over_p50": summarize([_ratio(_metric(x, "p99_ms"), _metric(x, "p50_ms")) for x in present]),
            "cpu_ms_per_call": summarize([_metric(x, "cpu_ms_per_call") for x in present]),
            "upstream_cpu_ms_per_call": summarize([_metric(x, "upstream_cpu_ms_per_call") for x in present]),
            "errors": sum(int(x.get("errors", 0)) for x in present),
            "rounds": len(present),
        })
    return table


@dataclass(frozen=True)
class RatioSpec:
    key: str
    label: str
    value: Callable[[Round], float]


def _throughput(system: str, kind: str) -> Callable[[Round], float]:
    return lambda r: _metric(_load(r, system, kind), "throughput")


def _cpu(system: str, kind: str) -> Callable[[Round], float]:
    return lambda r: _metric(_load(r, system, kind), "cpu_ms_per_call")


def _over(a: Callable[[Round], float], b: Callable[[Round], float]) -> Callable[[Round], float]:
    return lambda r: _ratio(a(r), b(r))


def _rss(system: str) -> Callable[[Round], float]:
    return lambda r: float(r.get(system, {}).get("rss_warm_mib") or "nan")


def _spec(key: str, label: str, a: Callable[[Round], float], b: Callable[[Round], float]) -> RatioSpec:
    return RatioSpec(key, label, _over(a, b))


T, CPU = _throughput, _cpu
RATIOS = [
    _spec("nmcp_c", "N-mcp / C throughput, tools/call 2026 (raw)", T("N", "mcp"), T("C", "mcp")),
    _spec("nmcp_c_sdk", "N-mcp / C throughput, SDK client 2026", T("N", "sdk-auto"), T("C", "sdk-auto")),
    _spec("nmcp_c_legacy", "N-mcp / C throughput, SDK client legacy", T("N", "sdk-legacy"), T("C", "sdk-legacy")),
    _spec("nrest_b", "N-rest / B throughput", T("N", "rest"), T("B", "rest")),
    _spec("n_legacy_modern", "N-mcp legacy / 2026 throughput (SDK client)", T("N", "sdk-legacy"), T("N", "sdk-auto")),
    _spec("c_legacy_modern", "C legacy / 2026 throughput (SDK client)", T("C", "sdk-legacy"), T("C", "sdk-auto")),
    _spec("nmcp_c_cpu", "N-mcp / C server CPU per call (raw)", CPU("N", "mcp"), CPU("C", "mcp")),
    _spec("nrest_b_cpu", "N-rest / B server CPU per call", CPU("N", "rest"), CPU("B", "rest")),
    _spec("rss_warm_n_c", "N / C RSS after warm-up", _rss("N"), _rss("C")),
    _spec("pmcp_c", "P-mcp / C throughput, tools/call 2026 (raw)", T("P", "mcp"), T("C", "mcp")),
    _spec("prest_b", "P-rest / B throughput", T("P", "rest"), T("B", "rest")),
    _spec("p_legacy_modern", "P-mcp legacy / 2026 throughput (SDK client)", T("P", "sdk-legacy"), T("P", "sdk-auto")),
    _spec("pmcp_nmcp", "P-mcp / N-mcp throughput (raw)", T("P", "mcp"), T("N", "mcp")),
    _spec("prest_nrest", "P-rest / N-rest throughput", T("P", "rest"), T("N", "rest")),
    _spec("rss_warm_p_c", "P / C RSS after warm-up", _rss("P"), _rss("C")),
]


def ratios(rounds: Sequence[Round]) -> dict[str, dict[str, Any]]:
    return {spec.key: {"label": spec.label, **summarize([spec.value(r) for r in rounds])} for spec in RATIOS}


# (key in RATIOS, load, system, reference) of the paired-window ratios
PAIRED_RATIOS = [("nmcp_c", "mcp", "N", "C"), ("nrest_b", "rest", "N", "B"), ("pmcp_c", "mcp", "P", "C"),
                 ("prest_b", "rest", "P", "B"), ("pmcp_nmcp", "mcp", "P", "N"), ("prest_nrest", "rest", "P", "N")]


def paired(entries: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Ratios of back-to-back windows, one per alternation, then the median; a window with failed
    calls does not count."""

    def good(entry: dict[str, Any], kind: str, system: str) -> float:
        window = entry.get(kind, {}).get(system)
        if not isinstance(window, dict) or window.get("errors"):
            return float("nan")
        return float(window.get("throughput") or "nan")

    labels = {spec.key: spec.label for spec in RATIOS}
    out = {}
    for key, kind, system, reference in PAIRED_RATIOS:
        stat = summarize([_ratio(good(e, kind, system), good(e, kind, reference)) for e in entries])
        if stat["n"]:
            out[key] = {"label": labels[key], **stat}
    return out


def startup(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Start-up seconds and RSS at ready per system, and the per-run N/C ratios."""
    out: dict[str, Any] = {}
    for system in ("B", "C", "N", "P"):
        ready = [r[system]["ready_s"] for r in runs if isinstance(r.get(system), dict) and "ready_s" in r[system]]
        rss = [r[system]["rss_ready_mib"] for r in runs if isinstance(r.get(system), dict) and "ready_s" in r[system]]
        out[system] = {"ready_s": summarize(ready), "rss_ready_mib": summarize(rss)}

    def pair(key: str) -> list[float]:
        return [_ratio(r.get("N", {}).get(key, float("nan")), r.get("C", {}).get(key, float("nan"))) for r in runs]

    out["n_over_c_ready"] = summarize(pair("ready_s"))
    out["p_over_c_ready"] = summarize([_ratio(r.get("P", {}).get("ready_s", float("nan")),
                                              r.get("C", {}).get("ready_s", float("nan"))) for r in runs])
    out["n_over_c_rss_ready"] = summarize(pair("rss_ready_mib"))
    return out


@dataclass(frozen=True)
class Budget:
    line: str
    figure: str
    target: str
    met: bool | None  # None: not measured


def _fmt(stat: dict[str, Any] | None, digits: int = 2, unit: str = "") -> str:
    if not stat or stat.get("median") is None:
        return "n/a"
    m, lo, hi = stat["median"], stat["min"], stat["max"]
    if stat.get("n", 1) <= 1 or lo == hi:
        return f"{m:.{digits}f}{unit}"
    return f"{m:.{digits}f}{unit} ({lo:.{digits}f}–{hi:.{digits}f})"


def _check(stat: dict[str, Any] | None, ok: Callable[[float], bool]) -> bool | None:
    if not stat or stat.get("median") is None:
        return None
    return bool(ok(stat["median"]))


def budget(summary: dict[str, Any]) -> list[Budget]:
    """Every line of the performance budget with the measured figure and a verdict."""
    r = summary.get("ratios", {})
    throughput = summary.get("paired") or r  # paired windows when measured: the drift-free figure
    where = "paired windows" if summary.get("paired") else "same rounds"
    by_row = {(x["system"], x["load"]): x for x in summary.get("rows", [])}
    st = summary.get("startup", {})
    cli = summary.get("cli", {})
    scale = summary.get("scale", {})
    lines: list[Budget] = []

    def add(line: str, stat: dict[str, Any] | None, target: str, ok: Callable[[float], bool],
            digits: int = 2, unit: str = "") -> None:
        lines.append(Budget(line, _fmt(stat, digits, unit), target, _check(stat, ok)))

    add(f"MCP tools/call throughput N-mcp / C (2026, raw, {where})", throughput.get("nmcp_c"), "≥ 1.0",
        lambda v: v >= 1.0)
    add(f"REST throughput N-rest / B ({where})", throughput.get("nrest_b"), "≥ 0.9", lambda v: v >= 0.9)
    add("p99 / p50 at 16 connections, N-mcp (raw)", (by_row.get(("N", "mcp")) or {}).get("p99_over_p50"),
        "≤ 1.5", lambda v: v <= 1.5)
    add("p99 / p50 at 16 connections, N-rest", (by_row.get(("N", "rest")) or {}).get("p99_over_p50"),
        "≤ 1.5", lambda v: v <= 1.5)
    add("Older MCP era / 2026 path, N-mcp (SDK client)", r.get("n_legacy_modern"), "≥ 0.6", lambda v: v >= 0.6)
    add("Start-up to first tools/list, N / C", st.get("n_over_c_ready"), "≤ 1.0", lambda v: v <= 1.0)
    add("RSS after warm-up, N / C", r.get("rss_warm_n_c"), "≤ 1.1", lambda v: v <= 1.1)
    add("`naftiko --help` wall time", cli.get("help_s"), "≤ 0.15 s", lambda v: v <= 0.15, 3, " s")
    add("`naftiko validate FILE` wall time", cli.get("validate_file_s"), "≤ 0.3 s", lambda v: v <= 0.3, 3, " s")
    add("Validation throughput (generated corpus, whole command)", cli.get("specs_per_s"), "≥ 200 specs/s",
        lambda v: v >= 200, 0, " specs/s")
    heavy = cli.get("heavy_imports")
    if heavy is not None:
        found = sorted({m for mods in heavy.values() for m in mods})
        lines.append(Budget("`--help` / `validate` import no MCP or HTTP server module",
                            ", ".join(found) or "none imported", "none", not found))
    add("100 capabilities: RSS after warm-up", scale.get("rss_warm_mib"), f"≤ 200 MB ({200 * MIB_PER_MB:.0f} MiB)",
        lambda v: v <= 200 * MIB_PER_MB, 0, " MiB")
    add("100 capabilities: start-up to first tools/list", scale.get("ready_s"), "≤ 3 s", lambda v: v <= 3.0, 2, " s")
    return lines


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("yes" if met else "**no**")


def markdown(summary: dict[str, Any], machine: dict[str, Any], settings: dict[str, Any]) -> str:
    """The report printed by run.py and pasted into the README."""
    out = [
        f"### naftiko benchmarks: {settings['mode']} mode, {machine['date']}",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['arch']}, {machine['kernel']}, "
        f"Python {machine['python']}; mcp {machine['versions'].get('mcp')}, httpx2 "
        f"{machine['versions'].get('httpx2')}, starlette {machine['versions'].get('starlette')}, uvicorn "
        f"{machine['versions'].get('uvicorn')}; commit {machine.get('commit', '?')}.",
        f"Load: {settings['driver_label']}, {settings['connections']} connections (SDK client: "
        f"{settings['sessions']} sessions); {settings['rounds']} interleaved rounds of {settings['duration']} s "
        f"after {settings['warmup']} s warm-up. Medians over rounds, min–max in brackets. "
        f"Load average (1 min) at start {_loadavg(machine, 'loadavg_start')}, "
        f"at end {_loadavg(machine, 'loadavg_end')}; "
        f"bytecode: {machine.get('bytecode', '?')}.",
        "",
        "#### Budget",
        "",
        "| budget line | measured | target | met |",
        "|---|---|---|---|",
    ]
    out += [f"| {b.line} | {b.figure} | {b.target} | {_verdict(b.met)} |" for b in summary["budget"]]
    out += ["", "#### Throughput and latency", "",
            "| system, load | calls/s | p50 ms | p99 ms | p99/p50 | server CPU ms/call | errors |",
            "|---|---|---|---|---|---|---|"]
    for row in summary["rows"]:
        out.append(
            f"| {row['label']} | {_fmt(row['throughput'], 0)} | {_fmt(row['p50_ms'], 1)} | {_fmt(row['p99_ms'], 1)} "
            f"| {_fmt(row['p99_over_p50'], 2)} | {_fmt(row['cpu_ms_per_call'], 2)} | {row['errors']} |"
        )
    if summary.get("paired"):
        out += ["", f"#### Paired windows ({settings.get('pairs')} alternations of {settings.get('pair_window')} s, "
                "all systems up at once)", "", "| ratio | median (min–max) |", "|---|---|"]
        out += [f"| {v['label']} | {_fmt(v)} |" for v in summary["paired"].values()]
    out += ["", "#### Same-round ratios", "", "| ratio | median (min–max) |", "|---|---|"]
    out += [f"| {v['label']} | {_fmt(v)} |" for v in summary["ratios"].values() if v.get("median") is not None]
    out += _startup_md(summary.get("startup", {}), summary.get("rows_rss", {}), summary.get("rows_anon", {}))
    out += _cli_md(summary.get("cli", {}))
    out += _scale_md(summary.get("scale", {}))
    return "\n".join(out) + "\n"


def _loadavg(machine: dict[str, Any], key: str) -> str:
    value = machine.get(key)
    return f"{value[0]:.2f}" if isinstance(value, list | tuple) and value else "?"


def _startup_md(st: dict[str, Any], rss: dict[str, Any], anon: dict[str, Any]) -> list[str]:
    if not st:
        return []
    out = ["", "#### Start-up and memory", "",
           "| system | start to first answer s | RSS at ready MiB | RSS after warm-up MiB | of it anonymous MiB |",
           "|---|---|---|---|---|"]
    names = {"B": "B (first GET)", "C": "C (first tools/list)", "N": "N (first tools/list)",
             "P": "P (compared, first tools/list)"}
    for system in ("B", "C", "N", "P"):
        s = st.get(system, {})
        if system == "P" and not (s.get("ready_s") or {}).get("n"):
            continue
        out.append(f"| {names[system]} | {_fmt(s.get('ready_s'), 3)} | {_fmt(s.get('rss_ready_mib'), 0)} "
                   f"| {_fmt(rss.get(system), 0)} | {_fmt(anon.get(system), 0)} |")
    out += ["", f"Start-up N / C per run: {_fmt(st.get('n_over_c_ready'))}."]
    if (st.get("p_over_c_ready") or {}).get("median") is not None:
        out[-1] += f" P / C: {_fmt(st.get('p_over_c_ready'))}."
    return out


def _cli_md(cli: dict[str, Any]) -> list[str]:
    if not cli:
        return []
    out = ["", "#### Command line", "", "| command | wall s | note |", "|---|---|---|"]
    out.append(f"| `python -c pass` | {_fmt(cli.get('python_s'), 3)} | interpreter floor |")
    out.append(f"| `naftiko --help` | {_fmt(cli.get('help_s'), 3)} | |")
    out.append(f"| `naftiko validate {cli.get('file', 'FILE')}` | {_fmt(cli.get('validate_file_s'), 3)} | |")
    out.append(f"| `naftiko validate` repository corpus | {_fmt(cli.get('repo_corpus_s'), 3)} "
               f"| {cli.get('repo_corpus_files', '?')} files, {_fmt(cli.get('repo_specs_per_s'), 0)} specs/s |")
    out.append(f"| `naftiko validate` generated corpus | {_fmt(cli.get('corpus_s'), 3)} "
               f"| {cli.get('corpus_files', '?')} files, {_fmt(cli.get('specs_per_s'), 0)} specs/s; "
               f"{_fmt(cli.get('ms_per_spec'), 1)} ms per extra spec |")
    if cli.get("corpus_together_s"):
        out.append(f"| `naftiko validate --together` generated corpus | {_fmt(cli.get('corpus_together_s'), 3)} "
                   f"| {cli.get('corpus_files', '?')} files checked as served together (what `serve` does), "
                   f"{_fmt(cli.get('together_specs_per_s'), 0)} specs/s |")
    return out


def _scale_md(scale: dict[str, Any]) -> list[str]:
    if not scale:
        return []
    return ["", f"#### {scale.get('count', 100)} capabilities served at once", "",
            "| start-up to first tools/list s | tools listed | RSS at ready MiB | RSS after warm-up MiB |",
            "|---|---|---|---|",
            f"| {_fmt(scale.get('ready_s'), 2)} | {scale.get('tools', '?')} | {_fmt(scale.get('rss_ready_mib'), 0)} "
            f"| {_fmt(scale.get('rss_warm_mib'), 0)} |"]


def summarize_all(data: dict[str, Any]) -> dict[str, Any]:
    """Everything the report shows, from the raw ``data`` run.py collected."""
    rounds = data.get("rounds", [])
    summary: dict[str, Any] = {"rows": rows(rounds), "ratios": ratios(rounds), "paired": paired(data.get("paired", []))}
    for key, field in (("rows_rss", "rss_warm_mib"), ("rows_anon", "anon_warm_mib")):
        summary[key] = {s: summarize([float(r.get(s, {}).get(field) or "nan") for r in rounds]) for s in "BCNP"}
    summary["startup"] = startup(data.get("startup", [])) if data.get("startup") else {}
    summary["cli"] = data.get("cli_summary", {})
    summary["scale"] = data.get("scale_summary", {})
    summary["budget"] = budget(summary)
    return summary


__all__ = ["Budget", "budget", "markdown", "median", "paired", "rows", "startup", "summarize_all"]
