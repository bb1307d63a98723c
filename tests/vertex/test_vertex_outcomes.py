"""A remote run completes only if its steps did: a job's success means only that its command exited 0.

The jobs here run images that are not Flowsite's runner, or a runner that exits 0 whatever happened:
the fake Vertex runs the job's real command (`python -m flowsite.remote`) in a directory standing
for the image's files, and what that image's `flowsite.remote` does decides what the control plane
hears.
"""

from __future__ import annotations

import json

import pytest

from runs.execution import execute_run
from runs.models import FailureReason, Run, RunStatus, StepStatus
from runs.remote_runs import reconcile_once
from tests.runs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

IMAGE = "europe-docker.pkg.dev/test/other:1"

# A runner that reports the events it was built with through the real API, then exits 0.
REPORTING_RUNNER = """
import json, os, urllib.request
from datetime import datetime, timezone

events = json.loads({events!r})
for event in events:
    event["at"] = datetime.now(timezone.utc).isoformat()
request = urllib.request.Request(
    f"{{os.environ['FLOWSITE_API_URL']}}/api/remote/runs/{{os.environ['FLOWSITE_RUN_ID']}}/report/",
    data=json.dumps({{"events": events}}).encode(),
    headers={{"Authorization": f"Bearer {{os.environ['FLOWSITE_RUN_TOKEN']}}", "Content-Type": "application/json"}},
)
urllib.request.urlopen(request, timeout=30).read()
"""


@pytest.fixture
def image(tmp_path, vertex_stack, fake_vertex):
    """`image(code)`: the stack's jobs run an image whose `flowsite/remote.py` is `code`."""

    def build(code: str) -> None:
        files = tmp_path / "image"
        (files / "flowsite").mkdir(parents=True)
        (files / "flowsite" / "__init__.py").write_text("")
        (files / "flowsite" / "remote.py").write_text(code)
        fake_vertex.images[IMAGE] = files
        vertex_stack.config = {**vertex_stack.config, "image": IMAGE}
        vertex_stack.save()

    return build


def run_to_the_end(project, pipeline: str, fake_vertex) -> Run:
    run = Run.objects.trigger(project=project, pipeline=pipeline)
    execute_run(run.pk)
    run.refresh_from_db()

    def finished() -> bool:
        reconcile_once()
        return Run.objects.get(pk=run.pk).is_finished

    wait_for(finished, timeout=30, what="the run to end")
    run.refresh_from_db()
    assert fake_vertex.jobs[run.remote_job_name].state == "JOB_STATE_SUCCEEDED"
    return run


def steps(run: Run) -> list[tuple[str, str, str]]:
    return [(step.name, step.status, step.error) for step in run.steps.order_by("position")]


def test_a_job_whose_command_exits_0_without_reporting_fails_its_run(vertex_project, fake_vertex, image):
    image('print("flowsite.remote of another project: nothing to do here")\n')
    run = run_to_the_end(vertex_project, "arithmetic", fake_vertex)
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == FailureReason.REMOTE_STEPS_UNFINISHED
    assert "Vertex AI job JOB_STATE_SUCCEEDED, but its runner reported no steps" in run.failure_message
    assert [(name, status) for name, status, _ in steps(run)] == [("produce", "skipped"), ("add_up", "skipped")]
    assert all(error == f"Not run: {run.failure_message}" for _, _, error in steps(run))
    assert run.events.filter(step=None).last().new_status == RunStatus.FAILED


def test_a_runner_that_stops_after_its_first_report_leaves_no_step_pending_or_running(
    vertex_project, fake_vertex, image
):
    image(REPORTING_RUNNER.format(events=json.dumps([{"kind": "start", "step": "produce", "attempt": 1}])))
    run = run_to_the_end(vertex_project, "arithmetic", fake_vertex)
    assert (run.status, run.failure_reason) == (RunStatus.FAILED, FailureReason.REMOTE_STEPS_UNFINISHED)
    assert run.failure_message == (
        "Vertex AI job JOB_STATE_SUCCEEDED, but its runner left steps unfinished: produce (running), add_up (pending)"
    )
    assert steps(run) == [
        ("produce", StepStatus.FAILED, run.failure_message),
        ("add_up", StepStatus.SKIPPED, f"Not run: {run.failure_message}"),
    ]


def test_a_job_that_succeeded_while_a_step_failed_is_a_failed_run(vertex_project, fake_vertex, image):
    failed = {"success": False, "error": "ValueError: bad input\nmore", "duration_seconds": 0.1}
    events = [
        {"kind": "start", "step": "produce", "attempt": 1},
        {"kind": "finish", "step": "produce", "result": failed},
    ]
    image(REPORTING_RUNNER.format(events=json.dumps(events)))
    run = run_to_the_end(vertex_project, "arithmetic", fake_vertex)
    assert (run.status, run.failure_reason) == (RunStatus.FAILED, FailureReason.STEP_FAILED)
    assert run.failure_message == "step 'produce' failed: ValueError: bad input (job JOB_STATE_SUCCEEDED)"
    assert [(name, status) for name, status, _ in steps(run)] == [("produce", "failed"), ("add_up", "skipped")]


def test_flowsites_own_runner_still_completes_the_run(vertex_project, fake_vertex):
    run = run_to_the_end(vertex_project, "arithmetic", fake_vertex)
    assert run.status == RunStatus.COMPLETED, run.failure_message
    assert [(name, status) for name, status, _ in steps(run)] == [("produce", "completed"), ("add_up", "completed")]
