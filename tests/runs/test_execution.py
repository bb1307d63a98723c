"""Runs executed for real: a forked process group per run, the real database, the engine."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from runs.local_runner import run_in_process_group
from runs.models import Artifact, FailureReason, LogLine, Run, RunStatus, StepStatus
from runs.recording import load_artifact
from tests.conftest import ledger_entries
from tests.timing import within

from .helpers import Background, execute, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def trigger(project, pipeline, **params):
    return Run.objects.trigger(project=project, pipeline=pipeline, params=params)


def log_texts(run, step=None):
    lines = LogLine.objects.filter(run=run).order_by("seq")
    if step is not None:
        lines = lines.filter(step=step)
    return [line.text for line in lines]


def test_a_run_completes_with_its_steps_logs_and_artifacts(ready):
    run = execute(trigger(ready, "greeting", name="Ada"))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    assert run.started_at and run.finished_at and run.heartbeat_at and run.process_group
    step = run.steps.get()
    assert (step.status, step.attempts, step.cached) == (StepStatus.COMPLETED, 1, False)
    assert step.duration_seconds is not None and step.started_at <= step.finished_at
    assert log_texts(run, "hello") == ["hello Ada", "second line"]
    seqs = list(LogLine.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    artifact = Artifact.objects.get(run=run)
    assert step.output_artifact == artifact
    assert (artifact.step, artifact.name, artifact.type) == ("hello", "greeting", "builtins.str")
    assert artifact.size > 0 and len(artifact.digest) == 64
    assert artifact.uri == f"inline:ml/{run.pk}/hello/greeting"
    assert load_artifact(artifact.uri, artifact.data) == "hello Ada"
    transitions = [(e.old_status, e.new_status) for e in run.events.filter(step=None)]
    assert transitions == [("", "queued"), ("queued", "running"), ("running", "completed")]


def test_a_failing_step_fails_the_run_with_its_traceback_in_the_logs(ready):
    run = execute(trigger(ready, "exploding"))
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == FailureReason.STEP_FAILED
    assert run.failure_message == "step 'explode' failed: ValueError: bad input"
    texts = log_texts(run, "explode")
    assert texts[0] == "about to fail"
    assert texts[1] == "Traceback (most recent call last):"
    assert texts[-1] == "ValueError: bad input"
    step = run.steps.get()
    assert step.status == StepStatus.FAILED and "raise ValueError(message)" in step.error


def test_retries_are_recorded_as_attempts(ready, ledger):
    run = execute(trigger(ready, "retrying", ledger=ledger))
    assert run.status == RunStatus.COMPLETED
    step = run.steps.get()
    assert (step.status, step.attempts) == (StepStatus.COMPLETED, 3)
    assert ledger_entries(ledger) == ["flaky"] * 3
    reasons = list(run.events.exclude(step=None).values_list("reason", flat=True))
    assert "attempt 2" in reasons and "attempt 3" in reasons
    assert sum(text == "ConnectionError: attempt 1 failed" for text in log_texts(run)) == 1


def test_a_second_run_is_served_from_cache_and_a_changed_input_is_not(ready, ledger):
    first = execute(trigger(ready, "arithmetic", n=4, ledger=ledger))
    second = execute(trigger(ready, "arithmetic", n=4, ledger=ledger))
    assert first.status == second.status == RunStatus.COMPLETED
    assert [s.status for s in second.steps.all()] == [StepStatus.CACHED, StepStatus.CACHED]
    # Each cached step links the artifact it was served, made by the first run.
    served = [step.output_artifact for step in second.steps.select_related("output_artifact")]
    assert [(a.run_id, a.step) for a in served] == [(first.pk, "produce"), (first.pk, "add_up")]
    assert served == [step.output_artifact for step in first.steps.select_related("output_artifact")]
    assert ledger_entries(ledger) == ["produce", "add_up"]
    third = execute(trigger(ready, "arithmetic", n=5, ledger=ledger))
    assert [s.status for s in third.steps.all()] == [StepStatus.COMPLETED, StepStatus.COMPLETED]
    assert ledger_entries(ledger) == ["produce", "add_up", "produce", "add_up"]


def test_a_step_whose_condition_is_false_is_skipped_saying_why(ready):
    run = execute(trigger(ready, "churn-model", min_accuracy=1.1))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    register = run.steps.get(name="register_model")
    assert (register.status, register.error) == (StepStatus.SKIPPED, "Skipped: its condition returned false")
    assert run.events.filter(step=register, new_status=StepStatus.SKIPPED).get().reason == register.error


def test_a_step_past_its_timeout_fails_the_run(ready):
    started = time.monotonic()
    run = execute(trigger(ready, "timing-out", seconds=30))
    assert time.monotonic() - started < within(15)
    assert run.status == RunStatus.FAILED
    assert "timed out after 0.5 s" in run.failure_message
    assert log_texts(run, "overrun") == ["Step 'overrun' timed out after 0.5 s"]


def test_retry_from_failure_executes_only_what_did_not_complete(ready, ledger, tmp_path):
    gate = tmp_path / "gate"
    failed = execute(trigger(ready, "arithmetic", n=3, ledger=ledger, gate=str(gate)))
    assert failed.status == RunStatus.FAILED
    assert [s.status for s in failed.steps.all()] == [StepStatus.COMPLETED, StepStatus.FAILED]
    gate.touch()
    retried = execute(failed.retry())
    assert retried.retry_of == failed
    assert retried.status == RunStatus.COMPLETED
    assert [s.status for s in retried.steps.all()] == [StepStatus.CACHED, StepStatus.COMPLETED]
    assert ledger_entries(ledger) == ["produce", "add_up", "add_up"]


def test_logs_are_sanitised_and_output_of_child_processes_is_kept(ready):
    from stacks.models import Stack

    Stack.objects.filter(is_default=True).update(secrets={"API_TOKEN": "tok-very-secret"})
    run = execute(trigger(ready, "leaky"))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    texts = log_texts(run, "leak")
    assert "token is ****" in texts
    assert not any("tok-very-secret" in t for t in texts)
    assert "nulbyte" in texts
    long_line = next(t for t in texts if t.startswith("xxxx"))
    kept, marker = long_line.split(" …[truncated ")
    assert kept == "x" * len(kept) and len(kept) + int(marker.removesuffix(" characters]")) == 70_000
    assert len(long_line) <= 64 * 1024
    assert "from a child process" in texts


def _cancel_when_running(project, mode, **params):
    run = trigger(project, "lingering", mode=mode, **params)
    background = Background(run)
    wait_for(lambda: run.steps.filter(status=StepStatus.RUNNING).exists(), what="the step to start")
    wait_for(lambda: LogLine.objects.filter(run=run, text__startswith="lingering").exists(), what="the step's output")
    requested = time.monotonic()
    Run.objects.get(pk=run.pk).cancel()
    run = background.wait_finished()
    return run, time.monotonic() - requested


@pytest.mark.parametrize("mode", ["python", "c"])
def test_cancelling_a_running_step_stops_it_within_a_second_or_so(ready, mode):
    run, latency = _cancel_when_running(ready, mode)
    assert run.status == RunStatus.CANCELLED
    assert run.failure_reason == FailureReason.CANCELLED
    assert run.steps.get().status == StepStatus.CANCELLED
    assert latency < within(3), f"cancelled after {latency:.2f} s"
    statuses = [e.new_status for e in run.events.filter(step=None)]
    assert statuses[-2:] == ["cancelling", "cancelled"]


def test_a_cancel_between_the_claim_and_the_first_step_runs_no_step(ready, ledger):
    from django.utils import timezone

    run = trigger(ready, "arithmetic", n=3, ledger=ledger)
    now = timezone.now()
    # What execute_run does first; the cancel lands before it hands the run to its process.
    assert run.transition(
        (RunStatus.QUEUED,),
        RunStatus.RUNNING,
        reason="claimed",
        started_at=now,
        heartbeat_at=now,
        worker_pid=os.getpid(),
    )
    Run.objects.get(pk=run.pk).cancel()
    run_in_process_group(Run.objects.get(pk=run.pk), run.stack.orchestrator().environment())
    run.refresh_from_db()
    assert (run.status, run.failure_reason) == (RunStatus.CANCELLED, FailureReason.CANCELLED)
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.CANCELLED}
    assert ledger_entries(ledger) == [], "no step ran"
    assert [e.new_status for e in run.events.filter(step=None)][-2:] == ["cancelling", "cancelled"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: it runs nothing and its parent will reap it.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def test_cancelling_kills_the_steps_subprocess_and_its_child(ready, tmp_path):
    pidfile = tmp_path / "child.pid"
    run, _ = _cancel_when_running(ready, "subprocess", pidfile=str(pidfile))
    assert run.status == RunStatus.CANCELLED
    child = int(pidfile.read_text())
    grandchild = int(Path(f"{pidfile}.grandchild").read_text())
    wait_for(lambda: not _alive(child) and not _alive(grandchild), timeout=5, what="the step's processes to die")


def test_a_step_that_ignores_the_stop_is_killed_after_the_grace_period(ready, settings):
    run, latency = _cancel_when_running(ready, "stubborn")
    assert run.status == RunStatus.CANCELLED
    grace = 2.0  # FLOWSITE_CANCEL_GRACE in the test settings
    assert grace <= latency < grace + within(3), f"cancelled after {latency:.2f} s"
    assert run.events.filter(reason__contains="process group killed").exists()


def test_large_outputs_are_stored_as_files_under_the_artifact_root(ready, settings):
    run = execute(trigger(ready, "arithmetic", n=50_000))
    assert run.status == RunStatus.COMPLETED
    numbers = Artifact.objects.get(run=run, step="produce")
    assert numbers.data is None and numbers.uri.startswith("file://")
    assert Path(numbers.uri.removeprefix("file://")).is_relative_to(Path(settings.FLOWSITE_ARTIFACT_ROOT).resolve())
    assert load_artifact(numbers.uri, None) == list(range(50_000))
    assert numbers.size == Path(numbers.uri.removeprefix("file://")).stat().st_size


def test_each_output_of_a_step_is_its_own_artifact_and_serves_from_cache(ready):
    from examples.churn import pipeline

    first = execute(trigger(ready, "churn-model"))
    assert first.status == RunStatus.COMPLETED, first.failure_message
    split = {a.name: load_artifact(a.uri, a.data) for a in Artifact.objects.filter(run=first, step="split")}
    assert sorted(split) == ["test", "train"]
    assert len(split["train"]) == 3 * len(split["test"])
    assert set(Artifact.objects.filter(run=first, step="scale_features").values_list("name", flat=True)) == {
        "train_x", "test_x"
    }  # fmt: skip

    # Another number of epochs: the split and the features come from the first run's artifacts, one
    # per output, and training on them gives what training on freshly computed ones gives.
    second = execute(trigger(ready, "churn-model", epochs=40))
    assert second.status == RunStatus.COMPLETED, second.failure_message
    statuses = dict(second.steps.values_list("name", "status"))
    assert statuses["split"] == statuses["scale_features"] == StepStatus.CACHED
    assert statuses["train_model"] == StepStatus.COMPLETED
    metrics = Artifact.objects.get(run=second, step="evaluate", name="metrics")
    assert load_artifact(metrics.uri, metrics.data) == pipeline.run({"epochs": 40})["metrics"]
