"""A run placed per unit that ends through any path but its unit driver (a reconcile pass that fails it, a
stack error, an operator declaring it dead) has every job still live cancelled, each confirmed: none runs on, billed.
"""

from __future__ import annotations

import pytest

from runs import registry
from runs.execution import execute_run
from runs.finishing import fail
from runs.models import FailureReason, Run, RunStatus, StepStatus
from runs.remote_runs import reconcile_loop, reconcile_once
from stacks.models import Stack
from tests.runs.helpers import wait_for
from unitjobs.models import LIVE_UNIT_STATES, UnitJob, UnitState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unit_stack(vertex_stack: Stack) -> Stack:
    # Two of the three branches start; the barrier holds them, running, until they are stopped.
    vertex_stack.config = {**vertex_stack.config, "placement": "unit", "max_concurrent_jobs": 2}
    vertex_stack.save()
    return vertex_stack


def two_branches_running(project, tmp_path) -> tuple[Run, list[UnitJob]]:
    run = Run.objects.trigger(project=project, pipeline="branching", params={"barrier": str(tmp_path / "barrier")})
    execute_run(run.pk)

    def running() -> bool:
        reconcile_once()
        return Run.objects.get(pk=run.pk).steps.filter(status=StepStatus.RUNNING).count() == 2

    wait_for(running, 60, "two branches to run")
    live = list(UnitJob.objects.filter(run=run, state__in=LIVE_UNIT_STATES))
    assert len(live) == 2 and all(u.job_name for u in live)
    return run, live


def assert_cancelled_once_each(fake_vertex, run: Run, units: list[UnitJob], why: str) -> None:
    for unit in units:
        unit.refresh_from_db()
        job = fake_vertex.jobs[unit.job_name]
        assert unit.state == UnitState.CANCELLED, unit
        assert job.state == "JOB_STATE_CANCELLED" and job.process.poll() is not None, "its container was stopped"
        sent = run.events.filter(reason=f"unit {unit.unit!r}: cancel sent to Vertex AI job {unit.job_name} ({why})")
        assert sent.count() == 1
        assert run.events.filter(reason__startswith=f"unit {unit.unit!r} cancelled: job JOB_STATE_CANCELLED").exists()
    cancels = [path for method, path in fake_vertex.requests if path.endswith(":cancel")]
    assert sorted(cancels) == sorted(f"/v1/{u.job_name}:cancel" for u in units), "one cancel per live job"
    # Nothing is submitted for a run that has ended.
    assert set(UnitJob.objects.filter(run=run, job_name="").values_list("state", flat=True)) == {UnitState.NOT_RUN}


def test_a_run_a_reconcile_pass_fails_has_its_other_live_jobs_cancelled(
    unit_stack, vertex_project, fake_vertex, tmp_path, settings, monkeypatch
):
    run, live = two_branches_running(vertex_project, tmp_path)
    # A deploy dropped the pipeline from the control plane while its units run: the next pass fails the run
    # outside the unit driver's own stop (which waits for the live jobs first).
    settings.FLOWSITE_PIPELINES = ["examples.churn"]
    monkeypatch.setattr(registry, "_loaded", None)
    counts = reconcile_once()
    run.refresh_from_db()
    assert (run.status, run.failure_reason) == (RunStatus.FAILED, FailureReason.PIPELINE_MISSING)
    assert counts["orphans"] == 2, "the same pass sent their cancels; both are still live until Vertex confirms"
    assert UnitJob.objects.filter(run=run, cancel_requested_at__isnull=False).count() == 2

    wait_for(lambda: reconcile_once()["orphans"] == 0, 60, "Vertex to confirm both cancels")
    assert_cancelled_once_each(fake_vertex, run, live, "the run ended failed")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED, "the run's end is not rewritten by its units' ends"


@pytest.mark.parametrize("how", ["stack error", "declared dead"])
def test_a_run_ended_elsewhere_keeps_the_reconcile_loop_going_until_its_jobs_are_cancelled(
    unit_stack, vertex_project, fake_vertex, tmp_path, settings, how
):
    settings.FLOWSITE_RECONCILE_SECONDS = 0.1
    run, live = two_branches_running(vertex_project, tmp_path)
    if how == "stack error":
        assert fail(run, FailureReason.STACK_ERROR, "the stack was withdrawn")
    else:
        assert run.transition((RunStatus.RUNNING, RunStatus.PROVISIONING), RunStatus.DEAD, reason="an operator declared it dead",
                              failure_reason=FailureReason.HEARTBEAT_LOST)  # fmt: skip
    # No run is active now; the loop carries on all the same while the ended run's jobs are live.
    assert reconcile_loop(max_seconds=60) >= 2
    final = "failed" if how == "stack error" else "dead"
    assert_cancelled_once_each(fake_vertex, run, live, f"the run ended {final}")
    assert not UnitJob.objects.filter(run=run, state__in=[*LIVE_UNIT_STATES, UnitState.WAITING]).exists()
    assert reconcile_loop(max_seconds=60) == 0, "nothing left to follow"


def test_a_unit_vertex_will_not_report_is_asked_once_to_cancel_when_it_fails_the_run(
    unit_stack, vertex_project, fake_vertex, settings
):
    settings.FLOWSITE_RECONCILE_REFUSALS = 2
    run = Run.objects.trigger(project=vertex_project, pipeline="lingering", params={"seconds": 30})
    execute_run(run.pk)
    unit = UnitJob.objects.get(run=run)
    fake_vertex.refuse("get", 403, "PERMISSION_DENIED")
    reconcile_once()
    reconcile_once()
    run.refresh_from_db()
    assert (run.status, run.failure_reason) == (RunStatus.FAILED, FailureReason.STACK_ERROR)
    # Its job would otherwise run on for its full 30 s, billed, with nobody able to see it.
    wait_for(lambda: fake_vertex.jobs[unit.job_name].state == "JOB_STATE_CANCELLED", 20, "the job to be cancelled")
    assert [p for _, p in fake_vertex.requests if p.endswith(":cancel")] == [f"/v1/{unit.job_name}:cancel"]
    assert run.events.filter(reason__startswith=f"unit {unit.unit!r}: cancel sent to Vertex AI job").count() == 1
    fake_vertex.allow("get")
