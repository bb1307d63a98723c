"""bench/dashboard.py keeps working: it signs in, renders the runs page and a run of 200 steps with its whole log
through the production server, and prints the times."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def test_dashboard_benchmark_prints_its_figures():
    result = subprocess.run(
        [sys.executable, "-m", "bench.dashboard", "--runs", "500", "--lines", "2000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for label in ("runs page (first visit)", "run page, 200 steps: graph and steps", "run page: all 2,000 log lines"):
        assert any(line.startswith(label) and line.endswith(" ms") for line in out.splitlines()), out
