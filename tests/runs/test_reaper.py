"""The reaper: runs whose worker stopped looking after them end dead, and no other run is touched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import FailureReason, Run, RunStatus, StepStatus
from runs.reaper import reap

pytestmark = pytest.mark.django_db


@pytest.fixture
def timeout(settings):
    settings.FLOWSITE_HEARTBEAT_TIMEOUT = 30.0
    return 30.0


def claimed(project, *, status=RunStatus.RUNNING, started_ago, heartbeat_ago=None):
    """A run a worker claimed `started_ago` seconds ago, last heard of `heartbeat_ago` seconds ago (or never)."""
    run = Run.objects.trigger(project=project, pipeline="arithmetic", params={"n": 2})
    now = timezone.now()
    heartbeat = None if heartbeat_ago is None else now - timedelta(seconds=heartbeat_ago)
    run.transition(
        (RunStatus.QUEUED,), RunStatus.RUNNING, reason="claimed by worker elsewhere pid 1",
        started_at=now - timedelta(seconds=started_ago), heartbeat_at=heartbeat, worker_host="elsewhere", worker_pid=1,
    )  # fmt: skip
    run.steps.filter(position=0).update(status=StepStatus.RUNNING, started_at=now)
    if status == RunStatus.CANCELLING:
        run.cancel()
    run.refresh_from_db()
    return run


def test_a_cancelling_run_whose_worker_went_silent_ends_dead_with_its_steps(ready, timeout):
    run = claimed(ready, status=RunStatus.CANCELLING, started_ago=120, heartbeat_ago=90)
    assert run.status == RunStatus.CANCELLING
    assert reap() == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.failure_reason) == (RunStatus.DEAD, FailureReason.HEARTBEAT_LOST)
    assert "no heartbeat for 90 s (limit 30 s): worker elsewhere pid 1" in run.failure_message
    assert [s.status for s in run.steps.order_by("position")] == [StepStatus.FAILED, StepStatus.CANCELLED]
    assert list(run.events.filter(step=None).values_list("old_status", "new_status"))[-1] == ("cancelling", "dead")


def test_a_run_that_never_sent_a_heartbeat_is_dead_once_its_start_is_older_than_the_limit(ready, timeout):
    silent = claimed(ready, started_ago=45)
    just_claimed = claimed(ready, started_ago=5)
    assert reap() == [silent.pk]
    silent.refresh_from_db()
    just_claimed.refresh_from_db()
    assert silent.status == RunStatus.DEAD
    assert "no heartbeat for 45 s" in silent.failure_message
    assert just_claimed.status == RunStatus.RUNNING


def test_runs_with_a_recent_heartbeat_or_already_finished_are_left_alone(ready, timeout):
    alive = claimed(ready, started_ago=600, heartbeat_ago=2)
    cancelling = claimed(ready, status=RunStatus.CANCELLING, started_ago=600, heartbeat_ago=2)
    assert reap() == []
    assert {r.status for r in Run.objects.filter(pk__in=[alive.pk, cancelling.pk])} == {
        RunStatus.RUNNING, RunStatus.CANCELLING,
    }  # fmt: skip
