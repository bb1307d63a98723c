"""Triggering validates what was asked and records a queued run with its pending steps."""

import pytest

from runs.models import Run, RunEvent, RunStatus, StepStatus
from runs.triggering import IdempotencyConflict, TriggerError


def trigger(project, pipeline="arithmetic", **kwargs):
    return Run.objects.trigger(project=project, pipeline=pipeline, **kwargs)


def test_trigger_records_a_queued_run_with_pending_steps_and_an_event(ready, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = trigger(ready, params={"n": 5}, user=owner)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert run.params == {"n": 5, "ledger": "", "gate": ""}
    assert run.triggered_by == owner
    assert [(s.name, s.status) for s in run.steps.all()] == [
        ("produce", StepStatus.PENDING),
        ("add_up", StepStatus.PENDING),
    ]
    event = RunEvent.objects.get(run=run)
    assert (event.old_status, event.new_status, event.actor) == ("", RunStatus.QUEUED, owner)
    assert run.task_id, "the run was handed to the task queue"


@pytest.mark.parametrize(
    ("kwargs", "field", "reason"),
    [
        ({"pipeline": "nope"}, "pipeline", "unknown pipeline 'nope'"),
        ({"stack": "moon"}, "stack", "unknown stack 'moon'"),
        ({"params": {"m": 1}}, "params.m", "this pipeline takes no parameter 'm'"),
        ({"params": {"n": "five"}}, "params.n", "must be of type integer, not str"),
        ({"params": {"n": True}}, "params.n", "must be of type integer, not bool"),
        ({"params": [1, 2]}, "params", "must be a JSON object"),
    ],
)
def test_bad_requests_name_the_field_and_the_reason(ready, kwargs, field, reason):
    kwargs.setdefault("pipeline", "arithmetic")
    with pytest.raises(TriggerError) as caught:
        Run.objects.trigger(project=ready, **kwargs)
    assert reason in caught.value.errors[field]
    assert not Run.objects.exists()


def test_without_a_default_stack_the_error_says_so(project, pipelines):
    with pytest.raises(TriggerError) as caught:
        trigger(project)
    assert caught.value.errors["stack"] == "no stack given and no default stack is configured"


def test_an_idempotency_key_replay_returns_the_same_run(ready):
    first = trigger(ready, idempotency_key="ci-build-42", params={"n": 9})
    again = trigger(ready, idempotency_key="ci-build-42", params={"n": 9})
    assert again.pk == first.pk
    with pytest.raises(IdempotencyConflict, match="already started run .* with a different params"):
        trigger(ready, idempotency_key="ci-build-42", params={"n": 10})
    assert Run.objects.count() == 1
    assert trigger(ready, idempotency_key="ci-build-43").pk != first.pk


def test_cancelling_a_queued_run_cancels_it_and_its_steps_at_once(ready, owner):
    run = trigger(ready)
    run.cancel(by=owner)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.cancelled_by == owner
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.CANCELLED}


def test_cancelling_a_finished_run_is_a_clear_error(ready):
    from runs.models import RunStateError

    run = trigger(ready)
    run.cancel()
    with pytest.raises(RunStateError, match="already cancelled; there is nothing to cancel"):
        run.cancel()


def test_cancelling_a_dead_run_is_a_clear_error_and_changes_nothing(ready):
    from runs.models import RunStateError

    run = trigger(ready)
    run.transition((RunStatus.QUEUED,), RunStatus.DEAD, reason="its worker was lost")
    with pytest.raises(RunStateError, match=f"run {run.pk} is already dead; there is nothing to cancel"):
        Run.objects.get(pk=run.pk).cancel()
    run.refresh_from_db()
    assert (run.status, run.cancel_requested_at) == (RunStatus.DEAD, None)


def test_a_lost_claim_does_nothing(ready):
    from runs.execution import execute_run

    run = trigger(ready)
    run.cancel()
    assert "was not queued (cancelled)" in execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.started_at is None
