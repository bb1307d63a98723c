"""A run placed per unit has a runner per job, each numbering its batches of events from 1, and their
reports interleave: a batch is known by its runner and number, so every runner's batches land and a batch
a runner sends again (its answer lost) is recorded once, whatever the other runners sent in between."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from runs import registry
from runs.models import LogLine, Run, RunnerReport, RunStatus, StepStatus
from runs.remote_units import plan
from stacks.models import Stack
from unitjobs.models import UnitPlan

pytestmark = pytest.mark.django_db(transaction=True)

AT = "2026-01-01T00:00:00+00:00"
LEFT, RIGHT = "a" * 32, "b" * 32


@pytest.fixture
def unit_stack(vertex_stack: Stack) -> Stack:
    vertex_stack.config = {**vertex_stack.config, "placement": "unit"}
    vertex_stack.save()
    return vertex_stack


def planned_run(project) -> tuple[APIClient, Run]:
    """A run placed per unit, planned as its worker plans it; its units' runners share its token."""
    run = Run.objects.trigger(project=project, pipeline="branching")
    run.transition((RunStatus.QUEUED,), RunStatus.RUNNING)
    plan(run, registry.get_pipeline("branching"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {UnitPlan.objects.get(run=run).token}")
    return client, run


def send(client: APIClient, run: Run, runner: str, batch: int, step: str, *texts: str, start: bool = False) -> None:
    events = [{"kind": "start", "step": step, "attempt": 1, "at": AT}] if start else []
    events += [{"kind": "log", "step": step, "stream": "stdout", "level": "INFO", "text": t, "at": AT} for t in texts]
    body = json.dumps({"runner": runner, "batch": batch, "events": events})
    response = client.generic("POST", f"/api/remote/runs/{run.pk}/report/", body, content_type="application/json")
    assert response.status_code == 200, response.content


def test_two_units_runners_batches_with_the_same_numbers_all_land_and_a_replay_lands_once(unit_stack, vertex_project):
    client, run = planned_run(vertex_project)
    send(client, run, LEFT, 1, "go_left", "left 1", start=True)
    send(client, run, RIGHT, 1, "go_right", "right 1", start=True)
    # The left runner's answer was lost: it sends its batch 1 again, after the right runner's batch 1.
    send(client, run, LEFT, 1, "go_left", "left 1", start=True)
    send(client, run, RIGHT, 2, "go_right", "right 2")
    send(client, run, LEFT, 2, "go_left", "left 2")
    send(client, run, RIGHT, 2, "go_right", "right 2")
    send(client, run, LEFT, 1, "go_left", "left 1", start=True)

    lines = list(LogLine.objects.filter(run=run).order_by("seq").values_list("step", "text"))
    assert lines == [("go_left", "left 1"), ("go_right", "right 1"), ("go_right", "right 2"), ("go_left", "left 2")]
    assert dict(run.steps.filter(status=StepStatus.RUNNING).values_list("name", "attempts")) == {
        "go_left": 1, "go_right": 1,
    }  # fmt: skip
    assert dict(RunnerReport.objects.filter(run=run).values_list("runner", "batch")) == {LEFT: 2, RIGHT: 2}


def test_a_unit_submitted_again_has_a_new_runner_whose_batches_land(unit_stack, vertex_project):
    client, run = planned_run(vertex_project)
    send(client, run, LEFT, 1, "go_left", "first attempt", start=True)
    send(client, run, LEFT, 2, "go_left", "lost its machine")
    # The job was preempted and the unit submitted again: its new runner numbers its batches from 1.
    again = "c" * 32
    send(client, run, again, 1, "go_left", "second attempt")
    texts = list(LogLine.objects.filter(run=run).order_by("seq").values_list("text", flat=True))
    assert texts == ["first attempt", "lost its machine", "second attempt"]


def test_a_run_reporting_at_the_upgrade_keeps_its_runners_last_batch(unit_stack, vertex_project):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    client, run = planned_run(vertex_project)
    before = [("runs", "0015_run_remote_refusals")]
    MigrationExecutor(connection).migrate(before)
    try:
        OldRun = MigrationExecutor(connection).loader.project_state(before).apps.get_model("runs", "Run")
        OldRun.objects.filter(pk=run.pk).update(report_runner=LEFT, report_batch=3)
    finally:
        latest = MigrationExecutor(connection)
        latest.migrate(latest.loader.graph.leaf_nodes())
    assert dict(RunnerReport.objects.filter(run=run).values_list("runner", "batch")) == {LEFT: 3}
    # Its batch 3, sent again after the upgrade because the answer was lost, is not recorded twice.
    send(client, run, LEFT, 3, "go_left", "already recorded", start=True)
    send(client, run, LEFT, 4, "go_left", "new")
    assert list(LogLine.objects.filter(run=run).values_list("text", flat=True)) == ["new"]
