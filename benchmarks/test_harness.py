"""Unit tests of the harness's arithmetic and plumbing (no servers, no load).

    pytest -q benchmarks/test_harness.py
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report
import scale
import specs
from common import anon_mib, cpu_seconds, mcp_body, mcp_ok, percentile, rss_mib, summarize


def _load(throughput: float, p50: float = 10.0, p99: float = 20.0, cpu: float = 1.0) -> dict[str, float]:
    return {"calls": 100, "throughput": throughput, "p50_ms": p50, "p99_ms": p99, "cpu_ms_per_call": cpu,
            "errors": 0}


def test_percentile_is_nearest_rank_and_nan_when_empty() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([3.0], 99) == 3.0
    assert math.isnan(percentile([], 50))


def test_summarize_ignores_nan_and_reports_median_and_range() -> None:
    assert summarize([3.0, float("nan"), 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert summarize([float("nan")])["median"] is None


def test_ratios_are_taken_within_each_round_before_the_median() -> None:
    rounds = [
        {"N": {"mcp": _load(200)}, "C": {"mcp": _load(100)}},  # 2.0
        {"N": {"mcp": _load(90)}, "C": {"mcp": _load(100)}},  # 0.9
        {"N": {"mcp": _load(500)}, "C": {"mcp": _load(400)}},  # 1.25
    ]
    ratio = report.ratios(rounds)["nmcp_c"]
    assert ratio["median"] == pytest.approx(1.25)
    assert (ratio["min"], ratio["max"]) == (pytest.approx(0.9), pytest.approx(2.0))


def test_a_round_missing_one_side_does_not_count() -> None:
    rounds = [{"N": {"rest": _load(90)}, "B": {"rest": _load(100)}}, {"N": {"error": "boom"}, "B": {"rest": _load(1)}}]
    assert report.ratios(rounds)["nrest_b"]["n"] == 1


def test_budget_marks_met_missed_and_unmeasured_lines() -> None:
    rounds = [{"N": {"mcp": _load(100, 10, 30), "rest": _load(95, 10, 12)}, "C": {"mcp": _load(100)},
               "B": {"rest": _load(100)}}]
    summary = report.summarize_all({"rounds": rounds})
    verdicts = {b.line: b.met for b in summary["budget"]}
    assert verdicts["MCP tools/call throughput N-mcp / C (2026, raw, same rounds)"] is True
    assert verdicts["REST throughput N-rest / B (same rounds)"] is True
    assert verdicts["p99 / p50 at 16 connections, N-mcp (raw)"] is False
    assert verdicts["p99 / p50 at 16 connections, N-rest"] is True
    assert verdicts["`naftiko --help` wall time"] is None


def test_markdown_report_has_the_budget_and_the_throughput_table() -> None:
    rounds = [{"N": {"mcp": _load(100)}, "C": {"mcp": _load(100)}}]
    summary = report.summarize_all({"rounds": rounds})
    machine = {"date": "d", "nproc": 2, "cpu": "cpu", "arch": "x86_64", "kernel": "Linux", "python": "3.11",
               "versions": {}, "loadavg_start": (1.0, 1.0, 1.0), "loadavg_end": (1.0, 1.0, 1.0)}
    settings = {"mode": "quick", "driver_label": "wrk", "connections": 16, "sessions": 16, "rounds": 1,
                "duration": 3, "warmup": 1}
    text = report.markdown(summary, machine, settings)
    assert "| MCP tools/call throughput N-mcp / C (2026, raw, same rounds) | 1.00 | ≥ 1.0 | yes |" in text
    assert "| N-mcp  naftiko, tools/call 2026 (raw) | 100 |" in text


def _window(throughput: float, errors: int = 0) -> dict[str, float]:
    return {"throughput": throughput, "errors": errors}


def test_paired_windows_decide_the_throughput_lines_and_skip_windows_with_failures() -> None:
    paired = [
        {"rest": {"B": _window(100), "N": _window(95)}, "mcp": {"C": _window(100), "N": _window(102)}},
        {"rest": {"B": _window(200), "N": _window(180)}, "mcp": {"C": _window(50), "N": _window(40)}},
        {"rest": {"B": _window(100), "N": _window(10, errors=3)}, "mcp": {"C": _window(80), "N": _window(84)}},
    ]
    # the rounds alone would miss both lines
    rounds = [{"N": {"mcp": _load(50), "rest": _load(50)}, "C": {"mcp": _load(100)}, "B": {"rest": _load(100)}}]
    summary = report.summarize_all({"rounds": rounds, "paired": paired})
    assert summary["paired"]["nrest_b"]["n"] == 2  # the window with failed calls does not count
    assert summary["paired"]["nrest_b"]["median"] == pytest.approx((0.95 + 0.9) / 2)
    assert summary["paired"]["nmcp_c"]["median"] == pytest.approx(1.02)
    verdicts = {b.line: b.met for b in summary["budget"]}
    assert verdicts["MCP tools/call throughput N-mcp / C (2026, raw, paired windows)"] is True
    assert verdicts["REST throughput N-rest / B (paired windows)"] is True
    assert summary["ratios"]["nrest_b"]["median"] == pytest.approx(0.5)  # still reported beside them


def test_proc_readings_of_this_process_are_positive() -> None:
    assert cpu_seconds(os.getpid()) >= 0
    assert rss_mib(os.getpid()) > 1
    assert 1 < anon_mib(os.getpid()) < rss_mib(os.getpid())  # the interpreter's own pages are file-backed


def test_memory_table_shows_the_anonymous_part_of_rss_after_warm_up() -> None:
    rounds = [{s: {"rss_warm_mib": rss, "anon_warm_mib": anon} for s, rss, anon in
               (("B", 37.0, 20.0), ("C", 71.0, 44.0), ("N", 86.0, 54.0))}]
    startup = [{s: {"ready_s": 0.5, "rss_ready_mib": 60.0} for s in "BCN"}]
    summary = report.summarize_all({"rounds": rounds, "startup": startup})
    assert summary["rows_anon"]["N"]["median"] == 54.0
    text = "\n".join(report._startup_md(summary["startup"], summary["rows_rss"], summary["rows_anon"]))
    assert "| N (first tools/list) | 0.500 | 60 | 86 | 54 |" in text


def test_mcp_call_body_is_a_self_contained_2026_request() -> None:
    body = mcp_body("tools/call", {"name": "t", "arguments": {"id": "x"}}, request_id=7).decode()
    assert '"method":"tools/call"' in body and '"id":7' in body
    assert '"io.modelcontextprotocol/protocolVersion":"2026-07-28"' in body


def test_a_tool_error_or_a_non_200_is_not_a_success() -> None:
    assert mcp_ok(200, b'{"result":{"structuredContent":{},"isError":false}}')
    assert not mcp_ok(200, b'{"result":{"structuredContent":{},"isError":true}}')
    assert not mcp_ok(500, b'{"structuredContent":{}}')


def test_generated_capabilities_validate_cleanly(tmp_path: Path) -> None:
    specs.write_capabilities(tmp_path, 3, "http://127.0.0.1:9/v2")
    done = subprocess.run([sys.executable, "-m", "naftiko_runtime.cli", "validate", "--together", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _scaled(throughput: float, naftiko: float = 1.0) -> dict[str, Any]:
    return {"throughput": throughput, "p50_ms": 10.0, "p99_ms": 20.0, "errors": 0, "calls": 100,
            "naftiko_cpu_ms_per_call": 2.0, "cores": {"naftiko": naftiko, "upstream": 0.2, "driver": 0.1}}


def test_scale_ratios_are_per_round_against_one_worker_and_one_balanced_process() -> None:
    rounds = [{"1 worker": _scaled(100), "2 workers": _scaled(180), "LB 1": _scaled(90), "LB 2": _scaled(162)},
              {"1 worker": _scaled(200), "2 workers": _scaled(300), "LB 1": {"error": "boom"}, "LB 2": _scaled(150)}]
    summary = scale.summarize_rounds(rounds, ["1 worker", "2 workers", "LB 1", "LB 2"])
    assert summary["2 workers"]["vs_1_worker"]["median"] == pytest.approx(1.65)  # median of 1.8 and 1.5
    assert summary["LB 2"]["vs_lb_1"] == {"median": pytest.approx(1.8), "min": pytest.approx(1.8),
                                          "max": pytest.approx(1.8), "n": 1}
    assert summary["LB 1"]["failed_rounds"] == 1
    assert summary["1 worker"]["cores"]["naftiko"] == 1.0


def test_descendants_finds_the_children_of_a_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in scale.descendants(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_instruction_counts_read_a_callgrind_dump_and_compare_each_load_with_its_reference(tmp_path: Path) -> None:
    import instructions

    dump = tmp_path / "x.callgrind.1"
    dump.write_text("version: 1\nevents: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nfn=main\n0 1 2 3 4 5 6 7 8 9\n"
                    "totals: 1000 50 40 3 2 1 2 1 0\n")
    counted = instructions.totals(dump)
    assert counted["Ir"] == 1000 and counted["DLmr"] == 1
    assert instructions.cycles(counted) == 1000 + 10 * (3 + 2 + 1) + 100 * (2 + 1 + 0)
    start = {"Ir": 2e9, "cycles": 3e9}
    results = {"B": {"startup_and_warmup": start, "rest": {"Ir": 4e6, "cycles": 5e6}},
               "C": {"startup_and_warmup": start, "mcp": {"Ir": 5e6, "cycles": 8e6}},
               "N": {"startup_and_warmup": start, "rest": {"Ir": 3e6, "cycles": 4e6},
                     "mcp": {"Ir": 6e6, "cycles": 8e6}}}
    table = instructions.report(results)
    assert "| N | rest | 3,000 k | 4,000 k | 0.750 | 0.800 |" in table
    assert "| N | mcp | 6,000 k | 8,000 k | 1.200 | 1.000 |" in table
    assert "| B | 2.00 G | 3.00 G |" in table
