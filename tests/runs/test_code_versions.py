"""The code that ran is the code recorded: real qclusters whose pipeline code lives in their own folders."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runs.models import FailureReason, LogLine, PipelineDef, Run, RunStatus, StepStatus
from tests import cluster as clusters
from tests.cluster import ROOT, Cluster
from tests.runs.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MODULE = "flowsite_editable_pipeline"


def write_pipeline(folder: Path, says: str) -> Path:
    """A pipeline module, as a team's checkout on one worker machine would hold it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{MODULE}.py").write_text(
        "from flowsite.engine import Pipeline, step\n\n\n"
        "@step(cache=False)\n"
        "def speak() -> str:\n"
        f"    print({says!r})\n"
        f"    return {says!r}\n\n\n"
        'editable = Pipeline("editable", [speak])\n'
    )
    return folder


def machine_env(folder: Path, name: str) -> dict[str, str]:
    return {
        "PYTHONPATH": f"{folder}{os.pathsep}{ROOT}",
        "FLOWSITE_PIPELINES": f"tests.pipelines,{MODULE}",
        "FLOWSITE_WORKER_NAME": name,
    }


def sync_pipelines(env: dict[str, str]) -> None:
    """`manage.py sync_pipelines`, as an operator runs it on a machine after changing its code."""
    subprocess.run(
        [sys.executable, "manage.py", "sync_pipelines"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "flowsite.test_settings",
            "DATABASE_URL": clusters.test_database_url(),
            **env,
        },
        check=True,
        capture_output=True,
    )


def final(run: Run, timeout: float = 30) -> Run:
    wait_for(lambda: Run.objects.get(pk=run.pk).is_finished, timeout=timeout, what=f"run {run.pk} to finish")
    run.refresh_from_db()
    return run


def said(run: Run) -> list[str]:
    return list(LogLine.objects.filter(run=run).values_list("text", flat=True))


@pytest.fixture
def machines(tmp_path: Path, ready: Any) -> Iterator[dict[str, Any]]:
    clusters: list[Cluster] = []

    def start(name: str, says: str) -> dict[str, str]:
        env = machine_env(write_pipeline(tmp_path / name, says), name)
        clusters.append(Cluster(workers=1, env=env))
        return env

    yield {"start": start, "folder": lambda name: tmp_path / name}
    for cluster in clusters:
        cluster.stop()


def test_an_edited_pipeline_runs_its_new_code_without_restarting_the_worker(machines, ready):
    env = machines["start"]("alpha", "version one")
    wait_for(lambda: PipelineDef.objects.filter(name="editable").exists(), what="the worker to record its pipelines")
    first = final(Run.objects.trigger(project=ready, pipeline="editable"))
    assert first.status == RunStatus.COMPLETED, first.failure_message
    assert said(first) == ["version one"]

    write_pipeline(machines["folder"]("alpha"), "version two, edited")
    sync_pipelines(env)
    second = final(Run.objects.trigger(project=ready, pipeline="editable"))
    assert second.status == RunStatus.COMPLETED, second.failure_message
    assert said(second) == ["version two, edited"]
    assert second.pipeline.code_version != first.pipeline.code_version


def test_a_worker_with_other_code_fails_the_run_at_once_naming_both_versions(machines, ready):
    env = machines["start"]("alpha", "version one")
    wait_for(lambda: PipelineDef.objects.filter(name="editable").exists(), what="the worker to record its pipelines")
    old = PipelineDef.objects.get(name="editable").code_version
    # Another machine ("beta") has newer code and records it; alpha keeps the old code on disk.
    write_pipeline(machines["folder"]("beta"), "version two, edited")
    sync_pipelines(machine_env(machines["folder"]("beta"), "beta"))
    new = PipelineDef.objects.exclude(code_version=old).get(name="editable").code_version

    run = final(Run.objects.trigger(project=ready, pipeline="editable"), timeout=15)
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == FailureReason.CODE_MISMATCH
    assert old in run.failure_message and new in run.failure_message
    assert said(run) == [], "the old code never ran"
    step = run.steps.get()
    assert step.status == StepStatus.SKIPPED and step.error.startswith("Not run: worker alpha has code version")
    assert env["FLOWSITE_WORKER_NAME"] == "alpha"


def test_two_machines_with_different_code_never_run_the_wrong_version(machines, ready):
    machines["start"]("alpha", "version one")
    wait_for(lambda: PipelineDef.objects.filter(name="editable").exists(), what="alpha to record its pipelines")
    machines["start"]("beta", "version two, edited")
    wait_for(lambda: PipelineDef.objects.filter(name="editable").count() == 2, what="beta to record its pipelines")
    outcomes = []
    while RunStatus.COMPLETED not in outcomes:
        assert len(outcomes) < 20, outcomes
        run = final(Run.objects.trigger(project=ready, pipeline="editable"))
        # Triggered for beta's (newest) version: it ran that code, or was refused at once; never alpha's code.
        if run.status == RunStatus.COMPLETED:
            assert said(run) == ["version two, edited"]
        else:
            assert (run.status, run.failure_reason) == (RunStatus.FAILED, FailureReason.CODE_MISMATCH)
            assert said(run) == []
        outcomes.append(run.status)
