"""Metrics pages in a real browser: a chart of each metric over 1,000 runs, and 10 runs compared.

    python -m bench.metrics_pages [--runs N]

Builds the scratch SQLite database of bench/api.py (N runs, 100,000 by default), gives the latest 1,000
runs of one pipeline in the project the page shows three metrics each (two scores and a 20-point series),
serves it with the production server (`manage.py serve`, gunicorn) and reads Chromium's Performance API:
milliseconds from navigation start until the pipeline page's charts and the compare page's table are on
screen. Target (issue 11): first render under 500 ms.
"""

from __future__ import annotations

import argparse

from django.utils import timezone  # noqa: E402

from bench import scratch
from bench.api import SCRATCH, populate  # sets Django up, before any model is imported

# isort: split
from accounts.models import Project  # noqa: E402
from runs.models import Metric, Run, StepRun  # noqa: E402

CHARTED = 1000
SERIES = 20


def add_metrics(pipeline: str) -> list[int]:
    """Three metrics on each of the pipeline's latest CHARTED runs in the project the page shows; their ids,
    newest first."""
    # The portal shows the first of the user's projects by slug until another is chosen, and the bench's user,
    # in every project, chooses none; the pipeline's runs are spread over the projects, so taking its latest
    # runs of all projects left half of them off the chart.
    shown = Project.objects.order_by("slug").first()
    runs = list(
        Run.objects.filter(pipeline__name=pipeline, project=shown)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)[:CHARTED]
    )
    steps = dict(StepRun.objects.filter(run_id__in=runs, name="s3").values_list("run_id", "pk"))
    now = timezone.now()
    rows = []
    for n, run_id in enumerate(runs):
        points = [("train_error", 1 / (i + 1) + n / 1e4, i) for i in range(SERIES)]
        points += [("accuracy", 0.8 + (n % 17) / 100, None), ("log_loss", 0.3 - (n % 13) / 100, None)]
        rows += [Metric(run_id=run_id, step_id=steps[run_id], seq=seq, name=name, value=value, step_index=index, at=now)
                 for seq, (name, value, index) in enumerate(points, start=1)]  # fmt: skip
    Metric.objects.bulk_create(rows, batch_size=5000)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    _, pipeline = populate(args.runs)
    runs = add_metrics(pipeline)
    server = scratch.ProductionServer(SCRATCH, workers=1)  # one browser: one process of 4 threads is plenty
    base = server.url
    results: dict[str, list[float]] = {}
    try:
        with scratch.signed_in_page(server, "bench") as page:
            chart = "metric chart (pipeline page)"
            compare = "compare page, 10 runs"
            for _ in range(5):
                page.goto(f"{base}/pipelines/{pipeline}/")
                page.wait_for_selector("figure.metric-chart[data-metric=log_loss] path.line")
                results.setdefault(chart, []).append(page.evaluate("performance.now()"))
                shown = page.evaluate("document.querySelector('figure.metric-chart figcaption').textContent")
                page.goto(f"{base}/runs/compare/?ids={','.join(map(str, runs[:10]))}")
                page.wait_for_selector("table.compare tr[data-row='Steps:s4']")
                results.setdefault(compare, []).append(page.evaluate("performance.now()"))
    finally:
        server.stop()
    print(f"scratch database {SCRATCH}; {args.runs:,} runs; Chromium headless; ms from navigation start, 5 visits")
    print(f"chart caption: {shown}")
    # The runs the chart drew: those of the project the page shows (the caption's count), at most 1,000.
    charted = int(shown.rsplit("·", 1)[1].split()[0].replace(",", ""))
    results = {label.replace("metric chart", f"metric chart over {charted:,} runs"): v for label, v in results.items()}
    for label, times in results.items():
        first, ordered = times[0], sorted(times)
        print(f"{label:<45} first visit {first:5.0f}  median {ordered[2]:5.0f}  max {ordered[-1]:5.0f} ms")


if __name__ == "__main__":
    main()
