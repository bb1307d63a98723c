"""The benchmark keeps working (its figures are read by people, not asserted here)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

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


def test_runs_list_benchmark_loads_the_production_server_without_errors(tmp_path):
    # On PostgreSQL (the suite's DATABASE_URL) a scratch database of its own beside the suite's, which
    # the bench drops and creates; on SQLite a file, and no connection count.
    database = os.environ.get("DATABASE_URL", "")
    scratch = f"{database}_bench" if database.startswith("postgres") else f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "-m", "bench.runs_list", "--runs", "300", "--requests", "40", "--clients", "4",
         "--workers", "1", "--threads", "2"],
        cwd=ROOT,
        env={**os.environ, "BENCH_DATABASE_URL": scratch},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "300 runs" in out
    for case in (
        "floor: GET /healthz (no database, no sign-in)",
        "first page",
        "status=failed&project=fraud",
        "mixed, 1 trigger in 20",
    ):
        assert f"{case}: 40 requests in " in out
    assert "polling with If-None-Match, 1 trigger in 20: 40 requests in " in out
    assert " of them 304 Not Modified)" in out, "the polling clients' unchanged pages answer 304"
    assert out.count(", 0 errors; connections ") == 5
    assert "'too many clients': 0" in out
    if database.startswith("postgres"):
        assert out.count("of 2 (") == 5  # the peak, within gunicorn's 1 x 2 threads


def test_schedules_benchmark_fires_with_two_schedulers_and_no_doubles(tmp_path):
    # A scratch database of its own, as the runs list's bench has (PostgreSQL beside the suite's, or a file).
    database = os.environ.get("DATABASE_URL", "")
    scratch = (
        f"{database}_schedules_bench" if database.startswith("postgres") else f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bench.schedules", "--fires", "4", "--every", "1"],
        cwd=ROOT,
        env={**os.environ, "BENCH_DATABASE_URL": scratch},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "2 schedule(s) every 1 s, 2 schedulers, 2 workers" in out
    assert "fire lateness (fire time -> fire and run committed), first 4 fires: p50 " in out
    assert "doubles: 0 (fire times fired twice 0, runs claimed twice 0, runs without a fire 0)" in out


def test_webhooks_benchmark_loses_no_delivery():
    result = subprocess.run(
        [sys.executable, "-m", "bench.webhooks", "--runs", "40", "--threads", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "delivered: 40" in lines and "lost: 0" in lines
