"""End to end through a real `qcluster`: the ORM broker on SQLite, Redis when REDIS_URL is set."""

from __future__ import annotations

import os
import signal
import time

import pytest

from runs.models import FailureReason, Run, RunEvent, RunStatus, StepStatus
from runs.reaper import reap
from tests.conftest import ledger_entries
from tests.timing import within

from .helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def final(run: Run, timeout: float = 30.0) -> Run:
    wait_for(lambda: Run.objects.get(pk=run.pk).is_finished, timeout, f"run {run.pk} to end")
    run.refresh_from_db()
    return run


def test_a_triggered_run_is_executed_by_a_worker(cluster, ready):
    run = Run.objects.trigger(project=ready, pipeline="greeting", params={"name": "worker"})
    run = final(run)
    assert run.status == RunStatus.COMPLETED, run.failure_message
    assert run.worker_pid and run.worker_pid != os.getpid()
    assert run.steps.get().status == StepStatus.COMPLETED
    assert list(run.log_lines.values_list("text", flat=True)) == ["hello worker", "second line"]


def test_a_run_is_cancelled_through_the_worker(cluster, ready):
    run = Run.objects.trigger(project=ready, pipeline="lingering", params={"mode": "python"})
    wait_for(lambda: run.steps.filter(status=StepStatus.RUNNING).exists(), what="the step to start")
    requested = time.monotonic()
    Run.objects.get(pk=run.pk).cancel()
    run = final(run)
    assert run.status == RunStatus.CANCELLED
    assert time.monotonic() - requested < within(3)


def test_two_workers_execute_each_of_100_runs_exactly_once(cluster, ready, ledger):
    runs = [
        Run.objects.trigger(project=ready, pipeline="greeting", params={"name": f"r{i}", "ledger": ledger})
        for i in range(100)
    ]
    for run in runs:
        assert final(run, timeout=120).status == RunStatus.COMPLETED
    assert sorted(ledger_entries(ledger)) == sorted(f"hello r{i}" for i in range(100))
    claims = RunEvent.objects.filter(step=None, old_status=RunStatus.QUEUED, new_status=RunStatus.RUNNING)
    assert claims.count() == 100
    assert len({run.worker_pid for run in Run.objects.all()}) >= 2, "both workers took runs"


def test_a_run_whose_worker_is_killed_is_reaped_as_dead(cluster, ready, settings):
    run = Run.objects.trigger(project=ready, pipeline="lingering", params={"mode": "c", "seconds": 120})
    wait_for(lambda: run.steps.filter(status=StepStatus.RUNNING).exists(), what="the step to start")
    run.refresh_from_db()
    os.kill(run.worker_pid, signal.SIGKILL)
    settings.FLOWSITE_HEARTBEAT_TIMEOUT = 1.0
    dead = wait_for(lambda: reap(), timeout=15, what="the reaper to find the run")
    assert dead == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.DEAD
    assert run.failure_reason == FailureReason.HEARTBEAT_LOST
    assert "no heartbeat for" in run.failure_message
    step = run.steps.get()
    assert step.status == StepStatus.FAILED and "declared dead" in step.error
    # The run's own process group (the orphaned step) was killed by the reaper.
    wait_for(lambda: not _group_alive(run.process_group), timeout=5, what="the run's processes to die")
    assert reap() == []


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
