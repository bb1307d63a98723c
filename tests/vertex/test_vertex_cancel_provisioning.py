"""Cancelling a Vertex run while it is still provisioning: its job is queued on Vertex, no step has begun."""

from __future__ import annotations

import pytest

from runs.execution import execute_run
from runs.models import Run, RunStatus, StepStatus
from runs.remote_runs import reconcile_once
from tests.fake_vertex import FakeVertex
from tests.runs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_vertex():
    """A Vertex whose jobs wait in the queue for the whole test (no machine comes), and cancel at once."""
    server = FakeVertex(step_seconds=3600, cancel_seconds=0.05)
    yield server
    server.stop()


def test_a_cancel_while_provisioning_cancels_the_job_and_ends_the_run_cancelled(vertex_project, fake_vertex):
    run = Run.objects.trigger(project=vertex_project, pipeline="greeting")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.PROVISIONING, run.failure_message
    reconcile_once()  # Vertex has the job queued: the run stays provisioning
    run.refresh_from_db()
    assert run.status == RunStatus.PROVISIONING
    job = fake_vertex.jobs[run.remote_job_name]
    assert job.state == "JOB_STATE_QUEUED"

    run.cancel()
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLING

    def cancelled() -> bool:
        reconcile_once()
        run.refresh_from_db()
        return run.is_finished

    wait_for(cancelled, 30, "the run to end")
    assert run.status == RunStatus.CANCELLED, run.failure_message
    assert job.state == "JOB_STATE_CANCELLED"
    assert job.process is None, "the job never started"
    assert [path for _, path in fake_vertex.requests if path.endswith(":cancel")] == [
        f"/v1/{run.remote_job_name}:cancel"
    ]
    assert [s.status for s in run.steps.all()] == [StepStatus.CANCELLED]
    events = [(e.old_status, e.new_status, e.reason) for e in run.events.filter(step=None)]
    assert events[-3:] == [
        ("provisioning", "cancelling", "cancel requested"),
        ("cancelling", "cancelling", f"cancel sent to Vertex AI job {run.remote_job_name}"),
        ("cancelling", "cancelled", "job JOB_STATE_CANCELLED"),
    ]
