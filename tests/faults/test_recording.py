"""A run's record under database faults, injected into real processes: a real qcluster, real forked runs.

Connections are cut with pg_terminate_backend (PostgreSQL only: SQLite has no connection to cut);
a database that refuses writes is a trigger that raises, which both databases support.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.models import Max

from runs.models import FINAL_RUN_STATES, FailureReason, LogLine, Run, RunEvent, RunStatus, StepStatus
from tests.cluster import Cluster
from tests.runs.helpers import execute, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STEPS = 30
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="cutting a connection needs PostgreSQL; SQLite has none to cut"
)


def _processes_connections(process_id: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [f"flowsite pid {process_id}"])
        return [row[0] for row in cursor.fetchall()]


def cut_connections(process_id: int) -> int:
    """Terminate the PostgreSQL sessions of one process (named by runs.apps); how many were cut."""
    cut = 0
    with connection.cursor() as cursor:
        for backend in _processes_connections(process_id):
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
            cut += bool(cursor.fetchone()[0])
    return cut


def last_seq(run: Run) -> int:
    return LogLine.objects.filter(run=run).aggregate(m=Max("seq"))["m"] or 0


def finished(run: Run) -> bool:
    return Run.objects.filter(pk=run.pk, status__in=FINAL_RUN_STATES).exists()


def cut_while_it_runs(run: Run, process_id: int, cut_at: list[int], timeout: float) -> int:
    """Cut the process's connections once the run's log passes each mark; how many cuts landed."""
    cuts = 0

    def cut_when_due() -> bool:
        nonlocal cuts
        if cuts < len(cut_at) and last_seq(run) >= cut_at[cuts] and cut_connections(process_id):
            cuts += 1
        return finished(run)

    wait_for(cut_when_due, timeout=timeout, what="the run to finish")
    return cuts


def expected_lines(lines: int) -> list[tuple[str, str]]:
    return [(f"link{i:02d}", f"step {i:02d} line {j:05d}") for i in range(STEPS) for j in range(lines)]


def assert_whole_record(run: Run, lines: int) -> None:
    """Completed, every step completed, every line once, in order, numbered 1..N without a gap."""
    run.refresh_from_db()
    history = list(run.events.values_list("old_status", "new_status", "reason"))
    assert run.status == RunStatus.COMPLETED, history
    assert list(run.steps.values_list("status", flat=True)) == [StepStatus.COMPLETED] * STEPS
    stored = list(LogLine.objects.filter(run=run).order_by("seq").values_list("seq", "step", "text"))
    expected = expected_lines(lines)
    known = set(expected)
    unexpected = [line for line in stored if (line[1], line[2]) not in known]
    assert not unexpected, unexpected[:10]
    assert [seq for seq, _, _ in stored] == list(range(1, STEPS * lines + 1))
    assert [(step, text) for _, step, text in stored] == expected


class RefusedWrites:
    """The database refuses the run's log lines (a full disk, say) until lifted."""

    def __init__(self, run: Run) -> None:
        self.run_id = run.pk

    def __enter__(self) -> RefusedWrites:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "CREATE OR REPLACE FUNCTION flowsite_refuse() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'injected fault: no space left on device'; END $$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    "CREATE TRIGGER flowsite_refuse BEFORE INSERT ON runs_logline FOR EACH ROW "
                    f"WHEN (NEW.run_id = {int(self.run_id)}) EXECUTE FUNCTION flowsite_refuse()"
                )
            else:
                cursor.execute(
                    f"CREATE TRIGGER flowsite_refuse BEFORE INSERT ON runs_logline WHEN NEW.run_id = {int(self.run_id)} "
                    "BEGIN SELECT RAISE(ABORT, 'injected fault: no space left on device'); END"
                )
        return self

    def __exit__(self, *exc: Any) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("DROP TRIGGER IF EXISTS flowsite_refuse ON runs_logline")
            else:
                cursor.execute("DROP TRIGGER IF EXISTS flowsite_refuse")


@postgres_only
def test_a_run_whose_connection_is_cut_five_times_loses_no_line_and_no_step(cluster, ready):
    lines = 2000
    run = Run.objects.trigger(project=ready, pipeline="long-chain", params={"lines": lines, "pause": 0.15})
    child = wait_for(
        lambda: Run.objects.filter(pk=run.pk).values_list("process_group", flat=True).first(), what="the run's process"
    )
    cut_at = [2_000, 12_000, 24_000, 36_000, 48_000]
    cuts = cut_while_it_runs(run, child, cut_at, timeout=120)
    assert cuts == len(cut_at)
    assert_whole_record(run, lines)
    # The recorder's own troubles are in the run's history and the worker's log, not in the user's log.
    interruptions = RunEvent.objects.filter(run=run, reason__startswith="recording interrupted")
    assert 1 <= interruptions.count() <= cuts
    assert not LogLine.objects.filter(run=run, text__contains="Error").exists()
    assert "recording failed" in cluster.log_path.read_text()


@postgres_only
def test_a_worker_whose_own_connection_is_cut_keeps_its_healthy_run_going(cluster, ready):
    lines = 100
    run = Run.objects.trigger(project=ready, pipeline="long-chain", params={"lines": lines, "pause": 0.2})
    worker = wait_for(
        lambda: Run.objects.filter(pk=run.pk).values_list("worker_pid", flat=True).first(), what="a worker"
    )
    wait_for(lambda: Run.objects.filter(pk=run.pk).exclude(process_group=None).exists(), what="the run's process")
    cut_at = [300, 1_200, 2_100]
    assert cut_while_it_runs(run, worker, cut_at, timeout=60) == len(cut_at)
    assert_whole_record(run, lines)
    assert not RunEvent.objects.filter(run=run, reason__contains="killed").exists()
    assert "the supervisor lost its database connection" in cluster.log_path.read_text()


def test_a_database_that_refuses_writes_for_a_while_loses_nothing(cluster, ready):
    lines = 500
    run = Run.objects.trigger(project=ready, pipeline="long-chain", params={"lines": lines, "pause": 0.1})
    wait_for(lambda: last_seq(run) >= 1_000, timeout=30, what="the first lines")
    with RefusedWrites(run):
        wait_for(lambda: "recording failed" in cluster.log_path.read_text(), timeout=15, what="a refused write")
        refused_at = last_seq(run)
        wait_for(lambda: "attempt 3" in cluster.log_path.read_text(), timeout=15, what="replays")
        assert last_seq(run) == refused_at, "nothing is written while the database refuses"
    wait_for(lambda: finished(run), timeout=60, what="the run to finish")
    assert_whole_record(run, lines)
    interruption = RunEvent.objects.get(run=run, reason__startswith="recording interrupted")
    assert "no space left on device" in interruption.reason
    assert not LogLine.objects.filter(run=run, text__contains="no space left").exists()


@pytest.fixture
def impatient_cluster(transactional_db: Any, ready: Any) -> Iterator[Cluster]:
    """A qcluster whose runs give up recording after 2 s."""
    running = Cluster(workers=1, env={"FLOWSITE_RECORDING_DEADLINE": "2"})
    yield running
    running.stop()


def test_a_run_that_cannot_be_recorded_fails_as_recording_lost_never_completed(impatient_cluster, ready):
    run = Run.objects.trigger(project=ready, pipeline="long-chain", params={"lines": 200, "pause": 0.2})
    wait_for(lambda: last_seq(run) >= 200, timeout=30, what="the first lines")
    with RefusedWrites(run):
        wait_for(lambda: finished(run), timeout=30, what="the run to end")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == FailureReason.RECORDING_LOST
    assert "did not take the run's record" in run.failure_message
    # What was recorded is true as far as it goes: a gap-free prefix, and no step left looking alive.
    stored = list(LogLine.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert stored == list(range(1, len(stored) + 1))
    assert not run.steps.filter(status__in=[StepStatus.RUNNING, StepStatus.PENDING]).exists()
    assert run.steps.filter(status=StepStatus.COMPLETED).count() < STEPS


def test_undecodable_names_and_odd_levels_are_stored_visibly_with_every_other_line(ready):
    run = execute(Run.objects.trigger(project=ready, pipeline="unencodable-names"))
    assert run.status == RunStatus.COMPLETED
    step = run.steps.get()
    assert step.status == StepStatus.COMPLETED
    stored = list(LogLine.objects.filter(run=run).order_by("seq").values_list("stream", "level", "text"))
    # The subprocess's line comes through a pipe, read beside the step: stored, but not ordered with the rest.
    from_a_subprocess = ("stdout", "INFO", "r\\xe9sum\\xe9.pdf")
    assert from_a_subprocess in stored
    assert [line for line in stored if line != from_a_subprocess] == [
        ("stdout", "INFO", "caf\\udce9.txt"),
        ("logging", "PROGRESS-OF-THE-", "training: epoch 1"),
        ("stdout", "INFO", "after"),
    ]
