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


def test_a_unit_is_served_from_a_local_runs_outputs_copied_where_the_next_units_jobs_read_them(
    vertex_stack, local_stack, vertex_project, fake_vertex, fake_gcs
):
    vertex_stack.config = {**vertex_stack.config, "placement": "unit", "artifact_uri": "gs://team-bucket/flowsite",
                           "storage_endpoint": fake_gcs.url}  # fmt: skip
    vertex_stack.save()
    here = run_on(vertex_project, local_stack)
    assert here.steps.get(name="sow").output_artifact.uri.startswith("inline:"), "kept in the database"

    # The outer branches read a changed parameter and run as jobs. What they read from sow, and the join
    # from the middle group, comes from the local run, copied into this run's prefix of the stack's
    # bucket, where their jobs read it; the join's inputs come out the same, so it is served too.
    remote = run_on(vertex_project, vertex_stack, fail_branch="none")
    statuses = dict(remote.steps.values_list("name", "status"))
    assert statuses == {"sow": "cached", "go_left": "completed", "middle_first": "cached",
                        "middle_second": "cached", "go_right": "completed", "join": "cached"}  # fmt: skip
    assert len(fake_vertex.jobs) == 2
    assert remote.steps.get(name="join").output_artifact.run_id == here.pk
    prefix = f"gs://team-bucket/flowsite/remote/{remote.pk}/"
    assert sorted(remote.artifacts.values_list("step", "name", "uri")) == [
        ("go_left", "left", f"{prefix}go_left/left.pkl"), ("go_right", "right", f"{prefix}go_right/right.pkl"),
        ("middle_second", "middle", f"{prefix}middle_second/middle.pkl"), ("sow", "seed", f"{prefix}sow/seed.pkl"),
    ]  # fmt: skip
    assert sorted(fake_gcs.uris()) == sorted(remote.artifacts.values_list("uri", flat=True))
    assert LogLine.objects.filter(run=here, text="total 3331").exists()
