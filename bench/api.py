"""Run history at scale: how fast the runs list answers with 100,000 runs, first page and deep pages.

    python -m bench.api [--runs N] [--repeats R] [--no-statistics]
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/flowsite_bench python -m bench.api

Uses a scratch database (SQLite unless BENCH_DATABASE_URL names a PostgreSQL one, which is dropped and created
afresh) with N runs (5 steps each) and the API in-process (no network); prints the median and p95 of R requests.
Target (issue 11): every filter, several statuses included, p95 <= 50 ms at 100,000 runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta

from bench import scratch

SCRATCH = scratch.start("api", database_url=os.environ.get("BENCH_DATABASE_URL"), ALLOWED_HOSTS="testserver")

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import Membership, Project, Role  # noqa: E402
from runs.models import PipelineDef, Run, RunStatus, StepRun  # noqa: E402
from runs.tasks import refresh_planner_statistics  # noqa: E402

STATUSES = [RunStatus.COMPLETED] * 7 + [RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING]


def populate(runs: int) -> tuple[APIClient, str]:
    stack = scratch.prepare()
    user = get_user_model().objects.create_user("bench", password="pw")
    projects = [Project.objects.create(slug=f"p{i}", name=f"P{i}") for i in range(2)]
    for project in projects:
        Membership.objects.create(user=user, project=project, role=Role.MEMBER)
    pipelines = list(PipelineDef.objects.all())
    start = timezone.now() - timedelta(days=365)
    batch = 5000
    for offset in range(0, runs, batch):
        rows = [
            Run(
                project=projects[i % 2], pipeline=pipelines[i % len(pipelines)], stack=stack, triggered_by=user,
                status=STATUSES[i % len(STATUSES)], created_at=start + timedelta(seconds=i * 300), params={"i": i},
            )
            for i in range(offset, min(runs, offset + batch))
        ]  # fmt: skip
        created = Run.objects.bulk_create(rows)
        StepRun.objects.bulk_create(
            StepRun(run=run, name=f"s{j}", position=j, status="completed") for run in created for j in range(5)
        )
    # Without statistics the planner takes 100,000 runs for a handful and picks plans no deployment would run.
    # A deployment has them soon after a load like this: PostgreSQL's autovacuum analyzes the tables it
    # changed, and on SQLite the hourly schedule does (runs.planner).
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    elif "--no-statistics" not in sys.argv:
        refresh_planner_statistics()
    client = APIClient()
    client.force_authenticate(user)
    return client, pipelines[0].name


def timed(client: APIClient, url: str, repeats: int) -> tuple[str, dict]:
    """The median and p95 of `repeats` requests (after one that warms caches), and the last body."""
    client.get(url)
    times = []
    body: dict = {}
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.content[:200]
        body = response.json()
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    return f"median {statistics.median(times):6.1f} ms, p95 {p95:6.1f} ms", body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--no-statistics", action="store_true", help="on SQLite, skip the hourly ANALYZE: the planner as it was"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    client, pipeline = populate(args.runs)
    print(
        f"{Run.objects.count()} runs, {StepRun.objects.count()} steps (made in {time.perf_counter() - started:.0f} s)"
    )
    print(f"database: {connection.vendor}")
    figure, body = timed(client, "/api/runs/?page_size=50", args.repeats)
    print(f"runs list, first page of 50:                   {figure}")
    url = body["next"]
    for _ in range(199):
        url = client.get(url).json()["next"]
    figure, _ = timed(client, url, args.repeats)
    print(f"runs list, page 201 of 50 (after 10,000 runs):  {figure}")
    for statuses in (("failed", "cancelled"), ("queued", "running", "failed"), ("running",)):
        query = "&".join(f"status={s}" for s in statuses)
        figure, _ = timed(client, f"/api/runs/?page_size=50&{query}", args.repeats)
        print(f"runs list, status {' or '.join(statuses):<26} {figure}")
    for term in ("77777", "no such text", pipeline[:5], "7"):
        figure, _ = timed(client, f"/api/runs/?page_size=50&search={term}", args.repeats)
        print(f"runs list, search {term!r:<27} {figure}")
    response = client.get("/api/runs/?page_size=50")
    start = time.perf_counter()
    unchanged = client.get("/api/runs/?page_size=50", HTTP_IF_NONE_MATCH=response["ETag"])
    assert unchanged.status_code == 304
    print(f"runs list, first page unchanged (304):          {(time.perf_counter() - start) * 1000:6.1f} ms")
    figure, _ = timed(client, f"/api/runs/?page_size=50&pipeline={pipeline}&project=p1", args.repeats)
    print(f"runs list, one pipeline in one project:         {figure}")
    figure, _ = timed(client, "/api/runs/?page_size=50&ordering=created_at", args.repeats)
    print(f"runs list, oldest first:                        {figure}")


if __name__ == "__main__":
    main()
