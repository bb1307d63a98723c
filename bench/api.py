"""Run history at scale: how fast the runs list answers with 100,000 runs, first page and deep pages.

    python -m bench.api [--runs N]

Uses a scratch SQLite database with N runs (5 steps each) and the API in-process (no network).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from bench import scratch

SCRATCH = scratch.start("api", ALLOWED_HOSTS="testserver")

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from runs.models import Membership, PipelineDef, Project, Role, Run, RunStatus, StepRun  # noqa: E402

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
    client = APIClient()
    client.force_authenticate(user)
    return client, pipelines[0].name


def timed(client: APIClient, url: str, repeats: int = 5) -> tuple[float, dict]:
    times = []
    body: dict = {}
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.content[:200]
        body = response.json()
    return statistics.median(times), body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    client, pipeline = populate(args.runs)
    print(f"{Run.objects.count()} runs, {StepRun.objects.count()} steps (made in {time.perf_counter() - started:.0f} s)")
    ms, body = timed(client, "/api/runs/?page_size=50")
    print(f"runs list, first page of 50:                   {ms:6.1f} ms")
    url = body["next"]
    for _ in range(199):
        url = client.get(url).json()["next"]
    ms, _ = timed(client, url)
    print(f"runs list, page 201 of 50 (after 10,000 runs):  {ms:6.1f} ms")
    ms, _ = timed(client, "/api/runs/?page_size=50&status=failed&status=cancelled")
    print(f"runs list, status failed or cancelled:          {ms:6.1f} ms")
    ms, _ = timed(client, f"/api/runs/?page_size=50&pipeline={pipeline}&project=p1")
    print(f"runs list, one pipeline in one project:         {ms:6.1f} ms")
    ms, _ = timed(client, "/api/runs/?page_size=50&ordering=created_at")
    print(f"runs list, oldest first:                        {ms:6.1f} ms")


if __name__ == "__main__":
    main()
