"""The cache is shared between local runs and units placed on Vertex jobs, where the outputs can be read:
a local run is served from what a unit's job stored in the stack's bucket (read with the stack's own
client), and a unit is served from what a local run stored only when no other unit's job must read it."""

from __future__ import annotations

import pytest

from runs.execution import execute_run
from runs.models import LogLine, Run, RunStatus, StepStatus
from runs.remote_runs import reconcile_once
from stacks.models import Stack
from tests.runs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_gcs():
    from tests.fake_gcs import FakeGCS

    server = FakeGCS()
    yield server
    server.stop()


@pytest.fixture
def local_stack(vertex_stack: Stack) -> Stack:
    return Stack.objects.create(name="here", kind="local", open_to_all_projects=True, config={})


def run_on(project, stack: Stack, **params) -> Run:
    run = Run.objects.trigger(project=project, pipeline="branching", stack=stack, params=params)
    execute_run(run.pk)

    def ended() -> bool:
        reconcile_once()
        return Run.objects.get(pk=run.pk).is_finished

    wait_for(ended, 90, "the run to end")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.failure_message
    return run


def test_a_local_run_is_served_from_the_outputs_units_stored_in_the_stacks_bucket(
    vertex_stack, local_stack, vertex_project, fake_vertex, fake_gcs
):
    vertex_stack.config = {**vertex_stack.config, "placement": "unit", "artifact_uri": "gs://team-bucket/flowsite",
                           "storage_endpoint": fake_gcs.url}  # fmt: skip
    vertex_stack.save()
    remote = run_on(vertex_project, vertex_stack)
    assert len(fake_vertex.jobs) == 5 and len(fake_gcs.uris()) == 6

    here = run_on(vertex_project, local_stack)
    assert set(here.steps.values_list("status", flat=True)) == {StepStatus.CACHED}, "no step ran again"
    join = here.steps.get(name="join")
    assert join.output_artifact.run_id == remote.pk
    assert join.output_artifact.uri.startswith("gs://team-bucket/flowsite/")
    assert len(fake_vertex.jobs) == 5


def test_a_unit_is_served_from_a_local_runs_outputs_only_where_no_job_must_read_them(
    vertex_stack, local_stack, vertex_project, fake_vertex
):
    vertex_stack.config = {**vertex_stack.config, "placement": "unit"}
    vertex_stack.save()
    here = run_on(vertex_project, local_stack)
    assert here.steps.get(name="sow").output_artifact.uri.startswith("inline:"), "kept in the database"

    # The outer branches read a changed parameter and run; what they read from sow and the middle group must
    # be where their jobs and the join's can reach it, so those run too. The join, which no job reads
    # from, and whose inputs come out the same, is served from the local run.
    remote = run_on(vertex_project, vertex_stack, fail_branch="none")
    statuses = dict(remote.steps.values_list("name", "status"))
    assert statuses == {"sow": "completed", "go_left": "completed", "middle_first": "completed",
                        "middle_second": "completed", "go_right": "completed", "join": "cached"}  # fmt: skip
    assert remote.steps.get(name="join").output_artifact.run_id == here.pk
    assert len(fake_vertex.jobs) == 4
    assert not LogLine.objects.filter(run=remote, text__contains="cannot read an input").exists()
