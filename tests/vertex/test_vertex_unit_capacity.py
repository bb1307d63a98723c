"""Capacity per step: a step may ask for other machines than its stack gives (spot, standard, flex-start, a
wait for capacity, restarts); its unit's CustomJob is scheduled so, and a step group's job so as to satisfy
every member (the most reliable strategy, the shortest wait, a restart if any asks)."""

from __future__ import annotations

import pytest
from google.cloud.aiplatform_v1.types import Scheduling

from flowsite.engine import Capacity, Step
from flowsite.engine.capacity import unit_capacity
from runs import registry
from runs.execution import execute_run
from runs.models import Run, RunStatus
from runs.registry import sync_pipelines
from runs.remote_runs import reconcile_once
from stacks.models import Stack
from tests.runs.helpers import wait_for
from unitjobs.models import UnitJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unit_stack(vertex_stack: Stack, settings, monkeypatch) -> Stack:
    vertex_stack.config = {**vertex_stack.config, "placement": "unit", "scheduling_strategy": "spot",
                           "max_wait_seconds": 3600}  # fmt: skip
    vertex_stack.save()
    # The runners in the jobs import what the control plane names, so they load this module too.
    settings.FLOWSITE_PIPELINES = [*settings.FLOWSITE_PIPELINES, "tests.vertex.capacity_pipelines"]
    monkeypatch.setattr(registry, "_loaded", None)
    return vertex_stack


def scheduling_of(fake_vertex, run: Run, unit: str) -> tuple[str, str | None, bool]:
    body = fake_vertex.jobs[UnitJob.objects.get(run=run, unit=unit).job_name].body["jobSpec"]["scheduling"]
    strategy = Scheduling.Strategy(body["strategy"]).name
    return strategy, body.get("maxWaitDuration"), bool(body.get("restartJobOnWorkerRestart", False))


def test_a_spot_step_and_a_standard_step_of_one_run_become_jobs_scheduled_as_each_asks(
    unit_stack, vertex_project, fake_vertex
):
    sync_pipelines()
    run = Run.objects.trigger(project=vertex_project, pipeline="capacities")
    execute_run(run.pk)
    assert len(fake_vertex.jobs) == 4, "four independent units, the step group one of them"
    assert scheduling_of(fake_vertex, run, "thrifty") == ("SPOT", "600s", False)
    assert scheduling_of(fake_vertex, run, "steady") == ("STANDARD", "3600s", False), "the stack's wait"
    assert scheduling_of(fake_vertex, run, "ordinary") == ("SPOT", "3600s", False), "the stack's settings"
    # One machine for the group: flex-start (surer than spot), the shorter wait, and the restart one asks for.
    assert scheduling_of(fake_vertex, run, "pair") == ("FLEX_START", "300s", True)

    def ended() -> bool:
        reconcile_once()
        return Run.objects.get(pk=run.pk).is_finished

    wait_for(ended, 60, "the run to end")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.failure_message


def test_a_group_with_a_standard_member_runs_standard_and_one_silent_member_takes_the_stacks_setting():
    stack = Capacity("spot", None, False)
    assert unit_capacity([Capacity("standard"), Capacity("spot", 120)], stack) == Capacity("standard", 120, False)
    # A member that asks nothing wants what the stack gives: on a standard stack, a spot member cannot
    # make its group spot.
    assert unit_capacity([None, Capacity("spot")], Capacity("standard")).strategy == "standard"
    assert unit_capacity([None, Capacity("spot")], stack).strategy == "spot"


@pytest.mark.parametrize(
    "capacity, message",
    [
        ({"strategy": "cheap"}, "capacity strategy must be one of standard, flex-start, spot, not 'cheap'"),
        ({"max_wait_seconds": 5}, "capacity max_wait_seconds must be a whole number of seconds from 60"),
        ({"max_wait_seconds": "1h"}, "capacity max_wait_seconds must be a whole number"),
        ({"restart_job_on_worker_restart": "yes"}, "capacity restart_job_on_worker_restart must be true or false"),
        ({"strategy": "spot", "preemptible": True}, "capacity has no setting 'preemptible'"),
        ("spot", "capacity must be a mapping such as"),
    ],
)
def test_a_step_asking_for_capacity_wrongly_is_refused_when_defined(capacity, message):
    with pytest.raises(ValueError, match=f"^step 'train': {message}"):
        Step(lambda: 1, name="train", capacity=capacity)
