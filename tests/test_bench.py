"""The benchmark keeps working (its figures are read by people, not asserted here)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_engine_benchmark_prints_its_figures():
    result = subprocess.run(
        [sys.executable, "-m", "bench.engine", "--calls", "200", "--chain", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("execute_step, trivial step, capture off") for line in lines)
    assert any(line.startswith("Pipeline.run, 50-step chain, capture on") for line in lines)
