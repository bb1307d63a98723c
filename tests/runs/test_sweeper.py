"""The sweeper's choice of runs, against the configured broker (the database, or Redis with REDIS_URL).

Runs triggered inside a test's transaction are never handed to the broker (their on-commit hook
never fires): exactly the state a broker refusal leaves behind.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker

from runs.models import Run, RunEvent, RunStatus
from runs.sweeper import sweep
from runs.triggering import enqueue

pytestmark = pytest.mark.django_db

DELAY = 5.0


@pytest.fixture
def broker(settings):
    settings.FLOWSITE_REQUEUE_SECONDS = DELAY
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()


def trigger(project) -> Run:
    return Run.objects.trigger(project=project, pipeline="arithmetic")


def age(run: Run, seconds: float) -> None:
    """As if the run had been triggered, and last offered to the broker, `seconds` ago."""
    then = timezone.now() - timedelta(seconds=seconds)
    Run.objects.filter(pk=run.pk).update(created_at=then)
    RunEvent.objects.filter(run=run).update(at=then)


def last_reason(run: Run) -> str:
    return RunEvent.objects.filter(run=run).latest("at", "id").reason


def test_a_run_never_handed_over_is_left_alone_until_the_delay_has_passed(ready, broker):
    run = trigger(ready)
    assert sweep() == []
    age(run, DELAY - 1)
    assert sweep() == []

    age(run, DELAY + 1)
    assert sweep() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.task_id
    assert broker.queue_size() == 1
    assert last_reason(run) == "handed to the task broker again: it was never handed over"
    # Just offered again: the next sweep waits for a new delay.
    assert sweep() == []


def test_a_run_whose_task_is_gone_is_handed_over_only_when_the_queue_is_empty(ready, broker):
    run = trigger(ready)
    assert enqueue(run)
    first_task = run.task_id
    age(run, DELAY + 1)
    assert sweep() == [], "its task may still be in the queue"

    broker.purge_queue()  # what a Redis restart does to it
    assert sweep() == [run.pk]
    run.refresh_from_db()
    assert run.task_id and run.task_id != first_task
    assert (
        last_reason(run) == "handed to the task broker again: the broker's queue is empty but the run has not started"
    )


@pytest.mark.parametrize(
    "status",
    [
        RunStatus.PROVISIONING,
        RunStatus.RUNNING,
        RunStatus.CANCELLING,
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.DEAD,
    ],
)
def test_a_run_claimed_or_past_queued_is_never_touched(ready, broker, status):
    run = trigger(ready)
    # As a worker's claim does (a conditional UPDATE from queued), then wherever the run went next.
    assert run.transition((RunStatus.QUEUED,), status, reason="moved on by the test")
    age(run, DELAY * 100)
    assert sweep() == []
    assert broker.queue_size() == 0
    run.refresh_from_db()
    assert run.status == status and run.task_id == ""


def test_a_cancelled_run_is_never_handed_over(ready, broker):
    never_handed, handed = trigger(ready), trigger(ready)
    assert enqueue(handed)
    for run in (never_handed, handed):
        run.cancel()
        age(run, DELAY * 100)
    broker.purge_queue()
    assert sweep() == []
    assert broker.queue_size() == 0


def test_manage_py_reap_hands_stranded_runs_over(ready, broker):
    run = trigger(ready)
    age(run, DELAY + 1)
    out = io.StringIO()
    call_command("reap", stdout=out)
    assert out.getvalue().splitlines()[-1] == f"handed to the task broker again (no live task): runs {run.pk}"
    assert Run.objects.get(pk=run.pk).task_id
