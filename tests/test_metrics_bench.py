"""bench/metrics_pages.py keeps working: it draws the chart and the comparison and prints their times."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def test_metrics_pages_benchmark_prints_its_figures():
    result = subprocess.run(
        [sys.executable, "-m", "bench.metrics_pages", "--runs", "1500"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # Fewer than 1,000 runs of its pipeline at this size: the chart shows each, and says how many.
    charted = next(line for line in out.splitlines() if line.startswith("metric chart over "))
    count = int(charted.split()[3].replace(",", ""))
    assert 10 <= count <= 1000
    assert f"chart caption: accuracy · {count} runs" in out
    assert "first visit" in charted
    assert any(line.startswith("compare page, 10 runs") for line in out.splitlines())
