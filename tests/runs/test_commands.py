"""The management commands an operator types: what they print, what they change, how they fail."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Membership, Project, Role
from runs.models import FailureReason, LogLine, PipelineDef, Run, RunStatus, StepStatus
from runs.registry import pipelines as registered_pipelines
from stacks.models import Stack
from tests.factories import make_run

from .helpers import execute


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def trigger(project, pipeline, **params):
    return Run.objects.trigger(project=project, pipeline=pipeline, params=params)


# sync_pipelines


def test_sync_pipelines_records_and_lists_every_pipeline(db):
    assert not PipelineDef.objects.exists()
    output = run_command("sync_pipelines")
    expected = registered_pipelines()
    assert {"greeting", "arithmetic", "exploding", "lingering", "chatty"} <= set(expected)
    assert sorted(PipelineDef.objects.values_list("name", flat=True)) == sorted(expected)
    lines = output.splitlines()
    for definition in PipelineDef.objects.all():
        assert f"{definition.name}  code {definition.code_version}  ({definition.module})" in lines
    assert len(lines) == len(expected)

    run_command("sync_pipelines")
    assert PipelineDef.objects.count() == len(expected), "unchanged code records nothing new"


# run_pipeline


def test_run_pipeline_prints_the_id_of_a_queued_run(ready):
    output = run_command("run_pipeline", "arithmetic", "--project", ready.slug, "--param", "n=3")
    run = Run.objects.get()
    assert output == f"{run.pk}\n"
    assert run.status == RunStatus.QUEUED
    assert run.pipeline.name == "arithmetic" and run.project == ready
    assert run.params["n"] == 3 and type(run.params["n"]) is int
    assert [s.status for s in run.steps.all()] == [StepStatus.PENDING, StepStatus.PENDING]


def test_run_pipeline_fresh_records_a_run_that_ignores_the_cache(ready):
    run_command("run_pipeline", "greeting", "--project", ready.slug, "--fresh")
    assert Run.objects.get().use_cache is False


def test_run_pipeline_reads_non_json_values_as_text(ready):
    run_command("run_pipeline", "greeting", "--project", ready.slug, "--param", "name=Ada Lovelace")
    assert Run.objects.get().params["name"] == "Ada Lovelace"


def test_run_pipeline_refuses_a_parameter_of_the_wrong_type(ready):
    with pytest.raises(CommandError) as caught:
        run_command("run_pipeline", "arithmetic", "--project", ready.slug, "--param", "n=three")
    assert str(caught.value) == "params.n: must be of type integer, not str 'three'"
    assert not Run.objects.exists()


def test_run_pipeline_refuses_a_parameter_without_a_value(ready):
    with pytest.raises(CommandError) as caught:
        run_command("run_pipeline", "arithmetic", "--project", ready.slug, "--param", "bad")
    assert str(caught.value) == "--param takes name=value, not 'bad'"
    assert not Run.objects.exists()


def test_run_pipeline_refuses_an_unknown_project(ready):
    with pytest.raises(CommandError) as caught:
        run_command("run_pipeline", "arithmetic", "--project", "nope")
    assert str(caught.value) == "there is no project 'nope'"
    assert not Run.objects.exists()


def test_run_pipeline_refuses_an_unknown_pipeline(ready):
    with pytest.raises(CommandError) as caught:
        run_command("run_pipeline", "nope", "--project", ready.slug)
    assert str(caught.value).startswith("pipeline: unknown pipeline 'nope' (pipelines: ")
    assert not Run.objects.exists()


# cancel_run


def test_cancel_run_cancels_a_queued_run(ready):
    run = trigger(ready, "arithmetic")
    assert run_command("cancel_run", str(run.pk)) == f"run {run.pk}: cancelled\n"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.CANCELLED}


def test_cancel_run_on_a_finished_run_says_there_is_nothing_to_cancel(ready):
    run = make_run(ready, "arithmetic", RunStatus.COMPLETED)
    with pytest.raises(CommandError) as caught:
        run_command("cancel_run", str(run.pk))
    assert str(caught.value) == f"run {run.pk} is already completed; there is nothing to cancel"
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED and run.cancel_requested_at is None


def test_cancel_run_of_an_unknown_run(db):
    with pytest.raises(CommandError) as caught:
        run_command("cancel_run", "424242")
    assert str(caught.value) == "there is no run 424242"


# logs


@pytest.mark.django_db(transaction=True)
def test_logs_prints_the_lines_in_order_and_filters_by_step(ready):
    other = execute(trigger(ready, "greeting", name="Bob"))
    assert other.status == RunStatus.COMPLETED, other.failure_message
    greeting = execute(trigger(ready, "greeting", name="Ada"))
    assert greeting.status == RunStatus.COMPLETED, greeting.failure_message

    last = LogLine.objects.filter(run=greeting).order_by("-seq").first()
    LogLine.objects.create(
        run=greeting, step="", seq=last.seq + 1, stream="stdout", level="info", text="all done", at=timezone.now()
    )

    output = run_command("logs", str(greeting.pk))
    assert output == "hello | hello Ada\nhello | second line\nrun | all done\n"
    assert run_command("logs", str(greeting.pk), "--step", "hello") == "hello | hello Ada\nhello | second line\n"
    assert run_command("logs", str(greeting.pk), "--step", "nope") == ""


def test_logs_of_an_unknown_run(db):
    with pytest.raises(CommandError) as caught:
        run_command("logs", "424242")
    assert str(caught.value) == "there is no run 424242"


# reap


def test_reap_marks_a_run_without_a_heartbeat_dead_and_leaves_a_live_one(ready):
    now = timezone.now()
    stale = trigger(ready, "arithmetic")
    live = trigger(ready, "arithmetic")
    Run.objects.filter(pk=stale.pk).update(
        status=RunStatus.RUNNING, started_at=now - timedelta(minutes=11), heartbeat_at=now - timedelta(minutes=10)
    )
    Run.objects.filter(pk=live.pk).update(
        status=RunStatus.RUNNING, started_at=now - timedelta(minutes=11), heartbeat_at=now
    )
    for run in (stale, live):
        run.steps.filter(name="produce").update(status=StepStatus.RUNNING)

    output = run_command("reap")

    limit = settings.FLOWSITE_HEARTBEAT_TIMEOUT
    assert output == f"marked dead (no heartbeat for over {limit:g} s): runs {stale.pk}\n"
    stale.refresh_from_db()
    assert stale.status == RunStatus.DEAD
    assert stale.failure_reason == FailureReason.HEARTBEAT_LOST
    assert re.match(rf"no heartbeat for 60\d s \(limit {limit:g} s\): worker \? pid \? stopped", stale.failure_message)
    assert stale.finished_at is not None
    assert dict(stale.steps.values_list("name", "status")) == {
        "produce": StepStatus.FAILED,
        "add_up": StepStatus.CANCELLED,
    }
    assert stale.events.filter(new_status=RunStatus.DEAD).count() == 1

    live.refresh_from_db()
    assert live.status == RunStatus.RUNNING and live.failure_reason == ""
    assert dict(live.steps.values_list("name", "status")) == {
        "produce": StepStatus.RUNNING,
        "add_up": StepStatus.PENDING,
    }

    assert run_command("reap") == f"no run has gone {limit:g} s without a heartbeat\n"


# seed_demo


def test_seed_demo_creates_what_a_newcomer_needs_once(db, monkeypatch):
    monkeypatch.delenv("FLOWSITE_DEMO_USER", raising=False)
    monkeypatch.delenv("FLOWSITE_DEMO_PASSWORD", raising=False)
    User = get_user_model()

    first = run_command("seed_demo")
    assert "Created the demo admin: sign in as 'admin' with password 'flowsite'." in first
    admin = User.objects.get()
    assert admin.username == "admin" and admin.is_superuser and admin.is_staff
    assert admin.check_password("flowsite")
    project = Project.objects.get()
    assert project.slug == "demo"
    assert Membership.objects.get(project=project).user == admin
    assert Membership.objects.get(project=project).role == Role.OWNER
    stack = Stack.objects.get()
    assert (stack.name, stack.kind, stack.is_default) == ("local", "local", True)
    names = sorted(PipelineDef.objects.values_list("name", flat=True))
    assert names == sorted(registered_pipelines())
    assert first.splitlines()[-1].startswith("Project 'demo', stack 'local', pipelines: ")
    demo_run = Run.objects.get()
    assert (demo_run.pipeline.name, demo_run.status, demo_run.triggered_by) == ("churn-model", "queued", admin)
    assert f"Queued a first churn-model run (#{demo_run.pk}) for the portal to show." in first

    counts = [model.objects.count() for model in (User, Project, Membership, Stack, PipelineDef, Run)]
    second = run_command("seed_demo")
    assert "The demo admin 'admin' exists already" in second
    assert "Created" not in second and "Queued" not in second
    assert [model.objects.count() for model in (User, Project, Membership, Stack, PipelineDef, Run)] == counts
