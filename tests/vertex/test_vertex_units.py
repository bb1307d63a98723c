"""Vertex stacks placed per unit: a CustomJob per step or step group, the DAG walked by the control plane.

The fake Vertex runs each job's real command (`python -m flowsite.remote` with the unit's name), so a
unit really reads its inputs from the files earlier units wrote and reports through the live API.
"""

from __future__ import annotations

import pytest
from google.cloud.aiplatform_v1.types import Scheduling

from runs.execution import execute_run
from runs.models import FailureReason, LogLine, Run, RunStatus, StepStatus
from runs.remote_runs import reconcile_once
from stacks.models import Stack
from tests.runs.helpers import wait_for
from unitjobs.models import UnitJob, UnitState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unit_stack(vertex_stack: Stack) -> Stack:
    vertex_stack.config = {**vertex_stack.config, "placement": "unit", "max_concurrent_jobs": 3}
    vertex_stack.save()
    return vertex_stack


def start(project, pipeline: str, **params) -> Run:
    run = Run.objects.trigger(project=project, pipeline=pipeline, params=params)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def reconcile_until(run: Run, condition, timeout: float = 60.0, what: str = "the run to end") -> Run:
    def check() -> bool:
        reconcile_once()
        run.refresh_from_db()
        return condition(run)

    wait_for(check, timeout, what)
    return run


def job_of(fake_vertex, run: Run, unit: str):
    return fake_vertex.jobs[UnitJob.objects.get(run=run, unit=unit).job_name]


def machine(job) -> str:
    return job.body["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["machineType"]


def test_three_parallel_branches_and_a_join_run_their_branch_units_at_once(
    unit_stack, vertex_project, fake_vertex, tmp_path
):
    # Each branch waits until the three have started: the run completes only if they ran side by side.
    run = start(vertex_project, "branching", barrier=str(tmp_path / "barrier"))
    assert run.status == RunStatus.PROVISIONING
    assert run.remote_job_name == "", "no single job for the run"
    assert [(u.unit, u.state) for u in run.unit_jobs.order_by("position")] == [
        ("sow", UnitState.QUEUED), ("go_left", UnitState.WAITING), ("middle", UnitState.WAITING),
        ("go_right", UnitState.WAITING), ("join", UnitState.WAITING),
    ]  # fmt: skip
    assert len(fake_vertex.jobs) == 1, "only the unit that needs nothing is submitted at first"

    run = reconcile_until(run, lambda r: r.is_finished)
    assert run.status == RunStatus.COMPLETED, run.failure_message
    assert len(fake_vertex.jobs) == 5, "a job per unit: the step group is one"
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.COMPLETED}
    assert "total 3331" in LogLine.objects.filter(run=run).values_list("text", flat=True)
    # Each unit has the machine its own resources ask for.
    assert machine(job_of(fake_vertex, run, "go_left")) == "n1-standard-8"
    assert machine(job_of(fake_vertex, run, "go_right")) == "n1-standard-2"
    env = {e["name"]: e["value"] for e in job_of(fake_vertex, run, "middle").body["jobSpec"]["workerPoolSpecs"][0]
           ["containerSpec"]["env"]}  # fmt: skip
    assert env["FLOWSITE_UNIT"] == "middle"
    # Every output is under the run's own prefix of the stack's artifact_uri.
    prefix = f"{unit_stack.config['artifact_uri']}/remote/{run.pk}/"
    assert run.artifacts.count() == 6 and all(a.uri.startswith(prefix) for a in run.artifacts.all())
    statuses = [e.new_status for e in run.events.filter(step=None) if e.new_status != e.old_status]
    assert statuses == ["queued", "running", "provisioning", "running", "completed"]
    submitted = run.events.filter(reason__contains="submitted as Vertex AI job").count()
    assert submitted == 5


def test_a_failed_unit_stops_the_rest_and_not_run_steps_say_why(unit_stack, vertex_project, fake_vertex, tmp_path):
    run = start(vertex_project, "branching", barrier=str(tmp_path / "barrier"), fail_branch="right")
    run = reconcile_until(run, lambda r: r.is_finished)
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == FailureReason.STEP_FAILED
    assert run.failure_message == "step 'go_right' failed: ValueError: the right branch broke"
    steps = {step.name: step for step in run.steps.all()}
    assert steps["go_right"].status == StepStatus.FAILED
    # The branches running beside it were cancelled, each job confirmed; the join never started. Every
    # step of a cancelled unit says it was stopped, whether or not its runner's report of starting it
    # arrived before the cancel (go_left's and middle_first's did run: go_right broke only after they signed).
    for name in ("go_left", "middle_first", "middle_second"):
        assert steps[name].status == StepStatus.CANCELLED, name
        assert steps[name].error.startswith("Stopped: step 'go_right' failed")
    assert (steps["join"].status, steps["join"].error) == (
        StepStatus.SKIPPED,
        "Not run: step 'go_right' failed: ValueError: the right branch broke",
    )
    units = {u.unit: u for u in run.unit_jobs.all()}
    assert units["go_right"].attempt == 1, "a unit that failed for its own reasons is not submitted again"
    assert units["join"].state == UnitState.NOT_RUN and units["join"].job_name == ""
    for name in ("go_left", "middle"):
        assert units[name].state == UnitState.CANCELLED
        assert fake_vertex.jobs[units[name].job_name].state == "JOB_STATE_CANCELLED"
        assert run.events.filter(reason__startswith=f"unit {name!r}: cancel sent to Vertex AI job").count() == 1
        assert run.events.filter(reason__startswith=f"unit {name!r} cancelled: job JOB_STATE_CANCELLED").exists()


def test_cancel_cancels_every_live_job_and_confirms_each(unit_stack, vertex_project, fake_vertex, tmp_path):
    # Two of three branches start; the barrier holds them until the cancel.
    unit_stack.config = {**unit_stack.config, "max_concurrent_jobs": 2}
    unit_stack.save()
    run = start(vertex_project, "branching", barrier=str(tmp_path / "barrier"))
    reconcile_until(run, lambda r: r.steps.filter(status=StepStatus.RUNNING).count() == 2, what="two branches to run")
    assert UnitJob.objects.filter(run=run, state__in=[UnitState.QUEUED, UnitState.RUNNING]).count() == 2
    Run.objects.get(pk=run.pk).cancel()
    run = reconcile_until(run, lambda r: r.is_finished)
    assert run.status == RunStatus.CANCELLED
    live = [u for u in run.unit_jobs.all() if u.job_name and u.unit != "sow"]
    assert len(live) == 2
    for unit in live:
        assert unit.state == UnitState.CANCELLED
        assert fake_vertex.jobs[unit.job_name].state == "JOB_STATE_CANCELLED"
        assert fake_vertex.jobs[unit.job_name].process.poll() is not None
    cancels = [path for method, path in fake_vertex.requests if path.endswith(":cancel")]
    assert len(cancels) == 2, "one cancel per live job"
    assert set(run.unit_jobs.filter(job_name="").values_list("state", flat=True)) == {UnitState.NOT_RUN}
    assert not run.steps.filter(status__in=[StepStatus.PENDING, StepStatus.RUNNING]).exists()


def test_the_limit_of_concurrent_jobs_holds(unit_stack, vertex_project, fake_vertex):
    unit_stack.config = {**unit_stack.config, "max_concurrent_jobs": 1}
    unit_stack.save()
    run = start(vertex_project, "branching")
    most = 0

    def finished() -> bool:
        nonlocal most
        reconcile_once()
        live = sum(job.state not in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
                   for job in list(fake_vertex.jobs.values()))  # fmt: skip
        most = max(most, live)
        return Run.objects.get(pk=run.pk).is_finished

    wait_for(finished, 60, "the run to end")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.failure_message
    assert most == 1 and len(fake_vertex.jobs) == 5


def test_a_new_stack_is_placed_per_unit_and_one_made_before_keeps_its_single_job():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from stacks.registry import parse_config

    assert parse_config("vertex", {"project_id": "p"}).placement == "unit"
    before = [("unitjobs", "0001_unit_jobs"), ("stacks", "0004_stack_grants")]
    after = [("unitjobs", "0002_existing_vertex_stacks_keep_run_placement")]
    MigrationExecutor(connection).migrate(before)
    try:
        OldStack = MigrationExecutor(connection).loader.project_state(before).apps.get_model("stacks", "Stack")
        OldStack.objects.create(name="old", kind="vertex", config={"project_id": "p"})
        OldStack.objects.create(name="chosen", kind="vertex", config={"project_id": "p", "placement": "unit"})
        OldStack.objects.create(name="here", kind="local", config={})
        MigrationExecutor(connection).migrate(after)
        configs = dict(Stack.objects.values_list("name", "config"))
        assert configs["old"] == {"project_id": "p", "placement": "run"}
        assert configs["chosen"]["placement"] == "unit" and configs["here"] == {}
    finally:
        # Back to the latest schema (later migrations of these apps), which the tests after this one use.
        latest = MigrationExecutor(connection)
        latest.migrate(latest.loader.graph.leaf_nodes())
    assert Stack.objects.get(name="old").orchestrator().placement == "run"


@pytest.fixture
def fake_gcs():
    from tests.fake_gcs import FakeGCS

    server = FakeGCS()
    yield server
    server.stop()


def test_outputs_go_to_the_stacks_bucket_and_come_back_through_the_api_then_pruning_removes_them(
    unit_stack, vertex_project, fake_vertex, fake_gcs
):
    import pickle
    from datetime import timedelta

    from rest_framework.test import APIClient

    from runs.pruning import prune
    from tests.factories import make_user

    unit_stack.config = {**unit_stack.config, "artifact_uri": "gs://team-bucket/flowsite",
                         "storage_endpoint": fake_gcs.url}  # fmt: skip
    unit_stack.save()
    run = start(vertex_project, "branching")
    run = reconcile_until(run, lambda r: r.is_finished)
    assert run.status == RunStatus.COMPLETED, run.failure_message
    # Units read their inputs from the bucket: the join added what three other jobs wrote there.
    assert "total 3331" in LogLine.objects.filter(run=run).values_list("text", flat=True)
    prefix = f"gs://team-bucket/flowsite/remote/{run.pk}/"
    assert sorted(run.artifacts.values_list("uri", flat=True)) == fake_gcs.uris()
    assert all(uri.startswith(prefix) for uri in fake_gcs.uris()) and len(fake_gcs.uris()) == 6

    total = run.artifacts.get(step="join")
    client = APIClient()
    client.force_authenticate(vertex_project.memberships.get().user)
    response = client.get(f"/api/artifacts/{total.pk}/download/")
    assert response.status_code == 200
    assert pickle.loads(b"".join(response.streaming_content)) == 3331
    outsider = APIClient()
    outsider.force_authenticate(make_user("olga"))
    assert outsider.get(f"/api/artifacts/{total.pk}/download/").status_code == 404

    Run.objects.filter(pk=run.pk).update(finished_at=run.finished_at - timedelta(days=40))
    done = prune(timedelta(days=30))
    assert (done.files, done.file_errors) == (6, 0)
    assert fake_gcs.uris() == []


def test_a_cached_unit_submits_no_job(unit_stack, vertex_project, fake_vertex):
    first = reconcile_until(start(vertex_project, "branching"), lambda r: r.is_finished)
    assert first.status == RunStatus.COMPLETED, first.failure_message
    assert len(fake_vertex.jobs) == 5

    again = start(vertex_project, "branching")
    assert again.status == RunStatus.COMPLETED, "every unit served from cache, at the claim"
    assert len(fake_vertex.jobs) == 5, "no job submitted"
    assert set(again.steps.values_list("status", flat=True)) == {StepStatus.CACHED}
    assert set(again.unit_jobs.values_list("job_name", flat=True)) == {""}
    assert again.events.filter(reason__contains="served from cache; no job submitted").count() == 5

    # A parameter only the two outer branches read: they run again; the rest, and the join (whose
    # inputs come out the same), are served from cache.
    changed = reconcile_until(start(vertex_project, "branching", fail_branch="none"), lambda r: r.is_finished)
    assert changed.status == RunStatus.COMPLETED, changed.failure_message
    assert len(fake_vertex.jobs) == 7
    statuses = dict(changed.steps.values_list("name", "status"))
    assert statuses == {"sow": "cached", "go_left": "completed", "middle_first": "cached", "middle_second": "cached",
                        "go_right": "completed", "join": "cached"}  # fmt: skip


def test_a_preempted_unit_is_submitted_again_and_each_attempt_is_an_event(unit_stack, vertex_project, fake_vertex):
    unit_stack.config = {**unit_stack.config, "scheduling_strategy": "spot", "max_wait_seconds": 3600,
                         "capacity_retries": 2, "capacity_backoff_seconds": 0}  # fmt: skip
    unit_stack.save()
    fake_vertex.lose_capacity({"flowsite-unit": "go_left"}, times=1)
    fake_vertex.lose_capacity({"flowsite-unit": "go_right"}, times=1, code=8, message="Resources are insufficient.")
    run = reconcile_until(start(vertex_project, "branching"), lambda r: r.is_finished)
    assert run.status == RunStatus.COMPLETED, run.failure_message
    assert len(fake_vertex.jobs) == 7, "five units, two of them twice"
    units = {u.unit: u for u in run.unit_jobs.all()}
    assert (units["go_left"].attempt, units["go_left"].capacity_losses) == (2, 1)
    assert (units["go_right"].attempt, units["go_right"].capacity_losses) == (2, 1)
    assert units["sow"].attempt == 1
    reasons = list(run.events.values_list("reason", flat=True))
    lost = [r for r in reasons if r.startswith("unit 'go_left'") and "lost its capacity" in r]
    assert len(lost) == 1 and "was preempted" in lost[0] and "retry 1 of 2" in lost[0]
    assert any("'go_right'" in r and "Resources are insufficient" in r for r in reasons)
    attempts = [r for r in reasons if r.startswith("unit 'go_left' submitted as Vertex AI job")]
    assert [r.rsplit("(", 1)[1] for r in attempts] == ["attempt 1)", "attempt 2)"]
    scheduling = job_of(fake_vertex, run, "go_left").body["jobSpec"]["scheduling"]
    assert Scheduling.Strategy(scheduling["strategy"]).name == "SPOT" and scheduling["maxWaitDuration"] == "3600s"


def test_a_unit_lost_more_often_than_the_stack_allows_fails_the_run(unit_stack, vertex_project, fake_vertex):
    unit_stack.config = {**unit_stack.config, "capacity_retries": 1, "capacity_backoff_seconds": 0}
    unit_stack.save()
    fake_vertex.lose_capacity({"flowsite-unit": "sow"}, times=2)
    run = reconcile_until(start(vertex_project, "branching"), lambda r: r.is_finished)
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == FailureReason.REMOTE_JOB_FAILED
    assert "lost 2 times, more than the stack's capacity_retries (1)" in run.failure_message
    assert len(fake_vertex.jobs) == 2
    assert run.steps.get(name="join").error.startswith("Not run: unit 'sow'")


def test_units_that_would_share_a_name_are_refused_before_anything_is_planned(unit_stack, vertex_project):
    from flowsite.engine import Pipeline, Step
    from runs.remote_units import plan

    def make() -> int:
        return 1

    def use(x: int) -> int:
        return x

    clash = Pipeline("clash", [Step(make, name="prep", outputs=["x"]),
                               Step(use, name="use", inputs=["x"], execution_group="prep")])  # fmt: skip
    run = Run.objects.trigger(project=vertex_project, pipeline="greeting")
    with pytest.raises(ValueError, match="share the name 'prep'"):
        plan(run, clash)
    assert not run.unit_jobs.exists()
