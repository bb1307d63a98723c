"""Dashboard render times in a real browser, with 100,000 runs and a run of 200 steps and 50,000 log lines.

    python -m bench.dashboard [--runs N] [--lines L]

Builds a scratch SQLite database (as bench/api.py does), serves it with the production server
(`manage.py serve`, gunicorn), signs in with Debian's Chromium through Playwright, and reads the
Performance API: milliseconds from navigation start until the runs table, and the run page's graph,
steps and full log, are on screen.
Target (issue 6): each page's first render under one second.
"""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

from django.utils import timezone  # noqa: E402

from bench import scratch
from bench.api import SCRATCH, populate  # sets Django up, before any model is imported

# isort: split
from accounts.models import Project  # noqa: E402
from runs.models import LogLine, PipelineDef, Run, StepRun  # noqa: E402
from stacks.models import Stack  # noqa: E402

STEPS = 200


def big_run(lines: int) -> int:
    nodes = [{"name": f"step_{i:03d}", "group": None, "inputs": [], "outputs": [f"o{i}"],
              "upstream": [f"step_{i - 1:03d}"] if i else [], "retry": 0, "timeout": None, "cache": True,
              "conditional": False, "tags": {}} for i in range(STEPS)]  # fmt: skip
    dag = {"nodes": nodes, "edges": [[f"step_{i - 1:03d}", f"step_{i:03d}"] for i in range(1, STEPS)]}
    definition = PipelineDef.objects.create(name="big", module="bench", code_version="big", dag=dag, parameters=[])
    start = timezone.now() - timedelta(hours=1)
    run = Run.objects.create(
        project=Project.objects.get(slug="p0"), pipeline=definition, stack=Stack.objects.get(name="local"),
        status="completed", started_at=start, finished_at=start + timedelta(minutes=20), created_at=timezone.now(),
    )  # fmt: skip
    StepRun.objects.bulk_create(
        StepRun(run=run, name=f"step_{i:03d}", position=i, status="completed", attempts=1,
                started_at=start + timedelta(seconds=6 * i), finished_at=start + timedelta(seconds=6 * i + 5),
                duration_seconds=5.0) for i in range(STEPS)
    )  # fmt: skip
    LogLine.objects.bulk_create(
        (LogLine(run=run, seq=i + 1, step=f"step_{i * STEPS // lines:03d}", stream="stdout", level="INFO",
                 text=f"epoch {i}: loss {1 / (i + 1):.6f}", at=start) for i in range(lines)),
        batch_size=5000,
    )  # fmt: skip
    return run.pk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=50_000, help="log lines of the run of 200 steps")
    args = parser.parse_args()
    populate(args.runs)
    run_id = big_run(args.lines)
    lines = args.lines
    server = scratch.ProductionServer(SCRATCH, workers=1)  # one browser: one process of 4 threads is plenty
    base = server.url
    try:
        with scratch.signed_in_page(server, "bench") as page:
            results = {}
            for label in ("first", "second"):
                page.goto(f"{base}/runs/")
                page.wait_for_selector("table.runs tbody tr")
                results[f"runs page ({label} visit)"] = page.evaluate("performance.now()")
            page.goto(f"{base}/runs/{run_id}/")
            page.wait_for_selector("svg.dag .node")
            page.wait_for_selector("table.steps tbody tr")
            results["run page, 200 steps: graph and steps"] = page.evaluate("performance.now()")
            page.wait_for_selector(".log-viewport .line")
            results["run page: first log lines"] = page.evaluate("performance.now()")
            # A locator, not wait_for_function: the production server's Content-Security-Policy forbids eval.
            page.locator(".log-panel .count", has_text=re.compile(f"^{lines:,}")).wait_for(timeout=60_000)
            results[f"run page: all {lines:,} log lines loaded"] = page.evaluate("performance.now()")
            rows = page.evaluate("document.querySelectorAll('.log-viewport .line').length")
    finally:
        server.stop()
    print(f"scratch database {SCRATCH}; Chromium headless; times from navigation start")
    for label, ms in results.items():
        print(f"{label:<45} {ms:7.0f} ms")
    print(f"log rows in the DOM while showing {lines:,} lines: {rows}")


if __name__ == "__main__":
    main()
