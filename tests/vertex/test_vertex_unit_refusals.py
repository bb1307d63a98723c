"""A unit's job Vertex refuses for good to report (no permission, rejected credentials) fails its run after
FLOWSITE_RECONCILE_REFUSALS passes in a row, as a run placed whole does, instead of being asked for ever."""

from __future__ import annotations

import pytest

from runs.execution import execute_run
from runs.models import FailureReason, Run, RunStatus
from runs.remote_runs import reconcile_once
from stacks.models import Stack
from unitjobs.models import UnitJob, UnitState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unit_stack(vertex_stack: Stack) -> Stack:
    vertex_stack.config = {**vertex_stack.config, "placement": "unit"}
    vertex_stack.save()
    return vertex_stack


def start(project) -> tuple[Run, UnitJob]:
    run = Run.objects.trigger(project=project, pipeline="lingering", params={"mode": "python", "seconds": 30})
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.PROVISIONING, run.failure_message
    return run, UnitJob.objects.get(run=run)


def refusals_after_a_pass(run: Run, unit: UnitJob) -> tuple[bool, int]:
    reconcile_once()
    run.refresh_from_db()
    unit.refresh_from_db()
    return run.is_finished, unit.lookup_refusals


def test_a_unit_job_vertex_will_not_report_fails_the_run_after_the_set_number_of_passes(
    unit_stack, vertex_project, fake_vertex, settings
):
    settings.FLOWSITE_RECONCILE_REFUSALS = 3
    run, unit = start(vertex_project)
    fake_vertex.refuse("get", 403, "PERMISSION_DENIED")
    assert refusals_after_a_pass(run, unit) == (False, 1)
    assert refusals_after_a_pass(run, unit) == (False, 2)
    reconcile_once()
    run.refresh_from_db()
    unit.refresh_from_db()
    assert unit.state == UnitState.FAILED
    assert (run.status, run.failure_reason) == (RunStatus.FAILED, FailureReason.STACK_ERROR)
    assert run.failure_message.startswith(
        f"unit {unit.unit!r}: Vertex AI refused to report job {unit.job_name}: PERMISSION_DENIED: "
    ), run.failure_message
    assert "on 3 passes in a row: fix the stack's credentials or permissions" in run.failure_message
    fake_vertex.allow("get")


def test_an_answer_between_refusals_starts_the_count_again(unit_stack, vertex_project, fake_vertex, settings):
    settings.FLOWSITE_RECONCILE_REFUSALS = 2
    run, unit = start(vertex_project)
    fake_vertex.refuse("get", 403, "PERMISSION_DENIED")
    assert refusals_after_a_pass(run, unit) == (False, 1)
    fake_vertex.allow("get")
    assert refusals_after_a_pass(run, unit) == (False, 0)
    fake_vertex.refuse("get", 403, "PERMISSION_DENIED")
    assert refusals_after_a_pass(run, unit) == (False, 1)
    fake_vertex.allow("get")
