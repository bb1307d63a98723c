"""The benchmarks that time pages in Chromium keep working (their figures are read by people, not asserted here):
bench/metrics_pages.py draws the chart and the comparison, bench/dashboard.py the runs page and a run of 200
steps with its whole log, each through the production server."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def bench_output(*command: str) -> str:
    result = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_metrics_pages_benchmark_prints_its_figures():
    out = bench_output("bench.metrics_pages", "--runs", "1500")
    # Fewer than 1,000 runs of its pipeline at this size: the chart shows each, and says how many.
    charted = next(line for line in out.splitlines() if line.startswith("metric chart over "))
    count = int(charted.split()[3].replace(",", ""))
    assert 10 <= count <= 1000
    assert f"chart caption: accuracy · {count} runs" in out
    assert "first visit" in charted
    assert any(line.startswith("compare page, 10 runs") for line in out.splitlines())


def test_dashboard_benchmark_prints_its_figures():
    out = bench_output("bench.dashboard", "--runs", "500", "--lines", "2000")
    for label in ("runs page (first visit)", "run page, 200 steps: graph and steps", "run page: all 2,000 log lines"):
        assert any(line.startswith(label) and line.endswith(" ms") for line in out.splitlines()), out
