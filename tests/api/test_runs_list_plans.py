"""A page of the runs list costs the same however many runs there are, whatever the filter, once the planner has
statistics: on SQLite the hourly schedule (and each migration) gathers them (runs.planner)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.models import Schedule as QSchedule
from rest_framework.test import APIClient

from runs.models import FEW_PARAM_MATCHES, PipelineDef, Run, RunStatus
from runs.tasks import refresh_planner_statistics
from tests.factories import make_project

from .test_runs import T0

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
sqlite_only = pytest.mark.skipif(
    "connection.vendor != 'sqlite'", reason="PostgreSQL's autovacuum keeps statistics of its own"
)
# Of 10 runs: 7 completed, one each failed, cancelled and running, as in bench/api.py.
STATUSES = [RunStatus.COMPLETED] * 7 + [RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING]
RUNS = 20_000


def work_of_listing(client: APIClient, query: str) -> int:
    """Thousands of SQLite VM instructions run to pick the page's runs (the query as the API sent it): the rows
    it read and sorted, counted exactly, where a time would measure the machine too."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/runs/?page_size=50&{query}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 50
    picking = next(q["sql"] for q in queries.captured_queries if "LIMIT 51" in q["sql"])
    ticks = 0

    def tick() -> int:
        nonlocal ticks
        ticks += 1
        return 0

    connection.connection.set_progress_handler(tick, 1000)
    try:
        with connection.cursor() as cursor:
            cursor.execute(picking)
            assert len(cursor.fetchall()) == 51
    finally:
        connection.connection.set_progress_handler(None, 0)
    return ticks


def test_refreshing_statistics_is_scheduled_hourly():
    schedule = QSchedule.objects.get(name="flowsite-planner-statistics")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "runs.tasks.refresh_planner_statistics", QSchedule.HOURLY, -1,
    )  # fmt: skip


@sqlite_only
def test_a_page_of_several_statuses_reads_a_page_not_every_run(owner, stack, pipelines):
    projects = [make_project(members={"member": owner}) for _ in range(2)]
    definitions = list(PipelineDef.objects.all())
    Run.objects.bulk_create(
        Run(
            project=projects[i % 2], pipeline=definitions[i % len(definitions)], stack=stack, triggered_by=owner,
            status=STATUSES[i % len(STATUSES)], created_at=T0 + timedelta(minutes=i),
        )
        for i in range(RUNS)
    )  # fmt: skip
    client = APIClient()
    client.force_authenticate(owner)
    assert refresh_planner_statistics() == "planner statistics refreshed"
    with connection.cursor() as cursor:
        cursor.execute("SELECT stat FROM sqlite_stat1 WHERE idx = 'run_status_recent'")
        assert cursor.fetchone()[0].startswith(f"{RUNS} ")  # the runs table counted in full, not sampled
    # A page reads a few hundred index entries (a few thousand instructions), not every run of the statuses:
    # joined through the memberships and without statistics, SQLite read and sorted all failed and cancelled
    # runs for one page (68 and 122 thousand instructions here for the first two; 700 ms at 100,000 runs).
    for query in ("status=failed&status=cancelled", "status=queued&status=running&status=failed", "status=running", ""):
        assert work_of_listing(client, query) <= 10, query


@sqlite_only
def test_a_search_reads_the_parameters_from_their_index_not_the_runs_rows(owner, ready):
    # The runs' rows hold failure messages and tracebacks too: read whole, they made a search by a rare text
    # read every page of the runs table.
    client = APIClient()
    client.force_authenticate(owner)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/runs/", {"search": "no such text"}).status_code == 200
    lookup = next(q["sql"] for q in queries.captured_queries if f"LIMIT {FEW_PARAM_MATCHES + 1}" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {lookup}")
        plan = [row[-1] for row in cursor.fetchall()]
    assert plan == ["SCAN runs_run USING COVERING INDEX run_params_text"]
