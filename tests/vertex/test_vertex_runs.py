"""Vertex AI runs end to end: the real aiplatform SDK, a local Vertex server, the live API."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from runs.execution import execute_run
from runs.models import FailureReason, Installation, LogLine, Run, RunStatus, StepStatus
from runs.remote_runs import owner_labels, reconcile_once
from tests.cluster import ROOT
from tests.cluster import test_database_url as database_url
from tests.runs.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def start(project, pipeline, **params) -> Run:
    run = Run.objects.trigger(project=project, pipeline=pipeline, params=params)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def reconcile_until(run: Run, condition, timeout: float = 30.0, what: str = "the run to change") -> Run:
    def check():
        reconcile_once()
        run.refresh_from_db()
        return condition(run)

    wait_for(check, timeout, what)
    return run


def test_a_vertex_run_completes_with_steps_logs_and_artifacts_reported_by_the_runner(vertex_project, fake_vertex):
    run = start(vertex_project, "greeting", name="Vertex")
    assert run.status == RunStatus.PROVISIONING
    assert run.remote_job_name.startswith("projects/test-project/locations/us-central1/customJobs/")
    assert run.remote_console_url.startswith("https://console.cloud.google.com/vertex-ai/")
    job = fake_vertex.jobs[run.remote_job_name]
    assert job.labels == {
        "flowsite-run": str(run.pk), "flowsite-project": "remote",
        "flowsite-installation": Installation.current_id(), "flowsite-run-uid": run.uid.hex,
    }  # fmt: skip
    spec = job.body["jobSpec"]["workerPoolSpecs"][0]
    env = {item["name"]: item["value"] for item in spec["containerSpec"]["env"]}
    assert env["FLOWSITE_RUN_ID"] == str(run.pk) and env["FLOWSITE_RUN_TOKEN"].startswith(f"fsr_{run.pk}_")
    assert spec["containerSpec"]["command"] == ["python", "-m", "flowsite.remote"]
    assert spec["replicaCount"] == "1" and spec["machineSpec"]["machineType"] == "n1-standard-2"

    run = reconcile_until(run, lambda r: r.is_finished, what="the run to finish")
    assert run.status == RunStatus.COMPLETED, run.failure_message
    step = run.steps.get()
    assert (step.status, step.attempts) == (StepStatus.COMPLETED, 1)
    assert list(LogLine.objects.filter(run=run).values_list("text", flat=True)) == ["hello Vertex", "second line"]
    artifact = run.artifacts.get()
    assert artifact.uri.startswith("file://") and artifact.size > 0
    assert Path(artifact.uri.removeprefix("file://")).exists()
    statuses = [e.new_status for e in run.events.filter(step=None)]
    assert statuses == ["queued", "running", "provisioning", "running", "completed"]


def test_a_failing_job_fails_the_run_with_vertex_error(vertex_project, fake_vertex):
    run = start(vertex_project, "exploding")
    run = reconcile_until(run, lambda r: r.is_finished)
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == FailureReason.REMOTE_JOB_FAILED
    assert "exited with a non-zero status of 1" in run.failure_message
    assert run.steps.get().status == StepStatus.FAILED
    assert "ValueError: bad input" in LogLine.objects.filter(run=run).values_list("text", flat=True)


def test_cancel_reaches_cancelled_and_the_job_process_is_gone(vertex_project, fake_vertex):
    run = start(vertex_project, "lingering", mode="python", seconds=60)
    reconcile_until(run, lambda r: r.steps.filter(status=StepStatus.RUNNING).exists(), what="the step to run")
    Run.objects.get(pk=run.pk).cancel()
    run = reconcile_until(run, lambda r: r.is_finished, what="the run to be cancelled")
    assert run.status == RunStatus.CANCELLED
    job = fake_vertex.jobs[run.remote_job_name]
    assert job.state == "JOB_STATE_CANCELLED"
    assert job.process is not None and job.process.poll() is not None
    cancels = [path for method, path in fake_vertex.requests if path.endswith(":cancel")]
    assert len(cancels) == 1, "the cancel is sent once"
    assert run.events.filter(reason__startswith="cancel sent to Vertex AI job").count() == 1


def test_a_cancel_that_comes_after_the_job_finished_keeps_the_jobs_outcome(vertex_project, fake_vertex):
    run = start(vertex_project, "greeting")
    wait_for(lambda: fake_vertex.jobs[run.remote_job_name].state == "JOB_STATE_SUCCEEDED", what="the job to end")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    Run.objects.get(pk=run.pk).cancel()
    run = reconcile_until(run, lambda r: r.is_finished)
    assert run.status == RunStatus.COMPLETED
    reasons = list(run.events.values_list("reason", flat=True))
    assert any(
        reason.startswith(f"the cancel of Vertex AI job {run.remote_job_name} was not taken: the job had already ended")
        for reason in reasons
    ), reasons
    assert any("the cancel request came too late" in reason for reason in reasons)


def test_a_cancel_the_stack_may_not_send_says_so(vertex_project, fake_vertex):
    run = start(vertex_project, "lingering", mode="python", seconds=30)
    fake_vertex.refuse("cancel", 403, "PERMISSION_DENIED")
    Run.objects.get(pk=run.pk).cancel()
    reconcile_once()
    reason = run.events.filter(reason__contains="cancel").latest("pk").reason
    assert reason.startswith(
        f"the cancel of Vertex AI job {run.remote_job_name} was not taken: the stack may not cancel"
    )
    assert "may not cancel the job: PERMISSION_DENIED: " in reason
    fake_vertex.allow("cancel")


def test_a_job_vertex_will_not_report_fails_the_run_after_the_set_number_of_passes(
    vertex_project, fake_vertex, settings
):
    settings.FLOWSITE_RECONCILE_REFUSALS = 3
    run = start(vertex_project, "lingering", mode="python", seconds=30)
    fake_vertex.refuse("get", 403, "PERMISSION_DENIED")
    for passes in (1, 2):
        reconcile_once()
        run.refresh_from_db()
        assert (run.is_finished, run.remote_refusals) == (False, passes)
    reconcile_once()
    run.refresh_from_db()
    assert (run.status, run.failure_reason) == (RunStatus.FAILED, FailureReason.STACK_ERROR)
    assert run.failure_message.startswith(f"Vertex AI refused to report job {run.remote_job_name}: PERMISSION_DENIED: ")
    assert "on 3 passes in a row: fix the stack's credentials or permissions" in run.failure_message
    # Its job would otherwise run on for its full 30 s, billed, with nobody able to see it: one cancel is sent.
    assert [p for _, p in fake_vertex.requests if p.endswith(":cancel")] == [f"/v1/{run.remote_job_name}:cancel"]
    assert run.events.filter(reason=f"cancel sent to Vertex AI job {run.remote_job_name}").count() == 1
    fake_vertex.allow("get")


def test_an_outage_or_an_answer_between_refusals_does_not_count_towards_failing(vertex_project, fake_vertex, settings):
    settings.FLOWSITE_RECONCILE_REFUSALS = 2
    run = start(vertex_project, "greeting")
    fake_vertex.refuse("get", 503, "UNAVAILABLE")  # may heal by itself: asked again, never counted
    for _ in range(3):
        reconcile_once()
    run.refresh_from_db()
    assert (run.is_finished, run.remote_refusals) == (False, 0)
    fake_vertex.refuse("get", 403, "PERMISSION_DENIED")
    reconcile_once()
    run.refresh_from_db()
    assert run.remote_refusals == 1
    fake_vertex.allow("get")  # an answer: the count starts again
    run = reconcile_until(run, lambda r: r.is_finished)
    assert run.status == RunStatus.COMPLETED
    assert run.remote_refusals == 0


def test_a_worker_killed_between_submit_and_record_does_not_cause_a_second_job(vertex_project, fake_vertex):
    run = Run.objects.trigger(project=vertex_project, pipeline="greeting")
    long_ago = timezone.now() - timedelta(minutes=5)
    # What a worker that died right after submitting leaves: a claimed run, a job, nothing recorded.
    run.transition((RunStatus.QUEUED,), RunStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    orchestrator = run.stack.orchestrator()
    from runs.registry import get_pipeline

    orchestrator.run_pipeline(get_pipeline("greeting"), str(run.pk), env={}, labels=owner_labels(run))
    assert len(fake_vertex.jobs) == 1
    reconcile_once()
    run.refresh_from_db()
    assert run.remote_job_name == next(iter(fake_vertex.jobs))
    assert len(fake_vertex.jobs) == 1
    assert run.events.filter(reason__contains="after its worker stopped").exists()


def test_the_reconciler_needs_nothing_but_the_database_to_carry_on(vertex_project, fake_vertex):
    run = start(vertex_project, "greeting")

    def reconcile_in_a_new_process() -> bool:
        subprocess.run(
            [sys.executable, "manage.py", "reconcile", "--once"],
            cwd=ROOT,
            env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "flowsite.test_settings",
                 "DATABASE_URL": database_url()},
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        return Run.objects.get(pk=run.pk).is_finished

    wait_for(reconcile_in_a_new_process, timeout=60, what="a fresh process to finish the run")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED


def test_a_job_that_vanished_fails_its_run_and_lookup_failures_do_not(vertex_project, fake_vertex):
    run = start(vertex_project, "lingering", mode="c", seconds=60)
    fake_vertex.stop()  # Vertex unreachable: not a reason to fail the run
    reconcile_once()
    run.refresh_from_db()
    assert run.status in (RunStatus.PROVISIONING, RunStatus.RUNNING)
    other = start_on_new_server(vertex_project, run)
    assert other.status == RunStatus.FAILED
    assert other.failure_reason == FailureReason.REMOTE_JOB_GONE
    assert "vanished" in other.failure_message


def start_on_new_server(project, run: Run) -> Run:
    """Point the stack at a fresh (empty) Vertex: the run's job is gone there."""
    from tests.fake_vertex import FakeVertex

    server = FakeVertex()
    try:
        stack = run.stack
        stack.config = {**stack.config, "api_endpoint": server.url}
        stack.save()
        reconcile_once()
        run.refresh_from_db()
        return run
    finally:
        server.stop()


def test_the_run_token_works_for_its_own_active_run_only(vertex_project, fake_vertex, live_server):
    from rest_framework.test import APIClient

    first = start(vertex_project, "lingering", mode="c", seconds=60)
    second = Run.objects.trigger(project=vertex_project, pipeline="greeting")
    env = fake_vertex.jobs[first.remote_job_name].body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"]
    token = next(item["value"] for item in env if item["name"] == "FLOWSITE_RUN_TOKEN")
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(f"/api/remote/runs/{first.pk}/").status_code == 200
    refused = client.get(f"/api/remote/runs/{second.pk}/")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "this run token is for another run, or its run has ended"
    assert client.get("/api/runs/").status_code == 401, "a run token opens nothing but its run's endpoints"
    assert client.post(f"/api/remote/runs/{second.pk}/report/", {"events": []}, format="json").status_code == 403
    Run.objects.get(pk=first.pk).cancel()
    reconcile_until(first, lambda r: r.is_finished)
    assert client.get(f"/api/remote/runs/{first.pk}/").status_code == 403, "the token expires with its run"
    client.credentials(HTTP_AUTHORIZATION=f"Bearer fsr_{first.pk}_forged")
    assert client.get(f"/api/remote/runs/{first.pk}/").status_code == 401


def test_the_runner_stops_its_step_when_a_report_reply_says_the_run_is_cancelling(vertex_stack, vertex_project):
    from tests.fake_vertex import FakeVertex

    # Vertex takes its time to kill the job here, so the runner's own stop is what ends the step.
    slow_cancel = FakeVertex(step_seconds=0.05, cancel_seconds=30)
    try:
        vertex_stack.config = {**vertex_stack.config, "api_endpoint": slow_cancel.url}
        vertex_stack.save()
        run = start(vertex_project, "lingering", mode="python", seconds=60)
        reconcile_until(run, lambda r: r.steps.filter(status=StepStatus.RUNNING).exists(), what="the step to run")
        Run.objects.get(pk=run.pk).cancel()
        reconcile_once()  # sends the cancel; Vertex now says CANCELLING for 30 s
        step = run.steps.get()
        wait_for(lambda: run.steps.get().status == StepStatus.CANCELLED, timeout=15, what="the runner to stop the step")
        step.refresh_from_db()
        assert step.error == "Execution stopped by user"
        job = slow_cancel.jobs[run.remote_job_name]
        wait_for(lambda: job.process.poll() is not None, timeout=15, what="the runner to exit")
        run.refresh_from_db()
        assert run.status == RunStatus.CANCELLING, "the run waits for Vertex to say CANCELLED"
    finally:
        slow_cancel.stop()


def test_the_stacks_secrets_reach_the_step_but_never_the_jobs_spec(vertex_project, fake_vertex):
    run = start(vertex_project, "leaky")
    job = fake_vertex.jobs[run.remote_job_name]
    assert "remote-secret-value" not in json.dumps(job.body)
    env = {item["name"] for item in job.body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"]}
    assert "API_TOKEN" not in env
    run = reconcile_until(run, lambda r: r.is_finished, what="the run to finish")
    assert run.status == RunStatus.COMPLETED, run.failure_message
    # The step read the secret from its environment (fetched by the runner); the log masks it.
    assert "token is ****" in LogLine.objects.filter(run=run).values_list("text", flat=True)
