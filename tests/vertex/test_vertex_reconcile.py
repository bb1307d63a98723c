"""Following remote runs: `manage.py reconcile` as an operator runs it, one run's trouble not stopping the
others in a pass, and the lease that lets one reconcile loop run at a time."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.execution import execute_run
from runs.models import Lease, Run, RunStatus
from runs.remote_runs import LOOP_LEASE, reconcile_once
from stacks.models import Stack
from tests.cluster import ROOT
from tests.cluster import test_database_url as database_url
from tests.runs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def start(project, pipeline: str, stack: Stack | None = None, **params) -> Run:
    run = Run.objects.trigger(project=project, pipeline=pipeline, stack=stack, params=params)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.PROVISIONING, run.failure_message
    return run


def job_ended(fake_vertex, run: Run) -> None:
    wait_for(lambda: fake_vertex.jobs[run.remote_job_name].state == "JOB_STATE_SUCCEEDED", 60, "the job to end")


def reconcile(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "reconcile", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "flowsite.test_settings", "DATABASE_URL": database_url(),
             **env},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def test_reconcile_once_moves_a_run_whose_job_ended_and_says_so(vertex_project, fake_vertex):
    run = start(vertex_project, "greeting", name="Ada")
    job_ended(fake_vertex, run)
    result = reconcile("--once")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "looked at 1 active remote run(s); 1 ended"
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.failure_message

    again = reconcile("--once")
    assert again.stdout.strip() == "looked at 0 active remote run(s); 0 ended"


def test_a_run_whose_stack_cannot_be_used_does_not_stop_the_others_being_followed(
    vertex_project, vertex_stack, fake_vertex, caplog
):
    other_stack = Stack.objects.create(
        name="vertex-b", kind="vertex", open_to_all_projects=True, config=dict(vertex_stack.config)
    )
    broken = start(vertex_project, "greeting", stack=other_stack)
    fine = start(vertex_project, "greeting")
    job_ended(fake_vertex, broken)
    job_ended(fake_vertex, fine)
    config = dict(other_stack.config)
    del config["project_id"]
    Stack.objects.filter(pk=other_stack.pk).update(config=config)  # made invalid since its run began

    with caplog.at_level(logging.ERROR, logger="runs.remote_runs"):
        assert reconcile_once() == {"runs": 2, "ended": 1, "orphans": 0}
    fine.refresh_from_db()
    broken.refresh_from_db()
    assert fine.status == RunStatus.COMPLETED, fine.failure_message
    assert broken.status == RunStatus.PROVISIONING
    assert f"reconciling run {broken.pk} failed; trying again next pass" in caplog.messages
    assert "project_id" in caplog.text

    # Once the stack is mended, the next pass follows its run too.
    Stack.objects.filter(pk=other_stack.pk).update(config=vertex_stack.config)
    assert reconcile_once() == {"runs": 1, "ended": 1, "orphans": 0}
    broken.refresh_from_db()
    assert broken.status == RunStatus.COMPLETED, broken.failure_message


def test_one_reconcile_loop_at_a_time_and_a_dead_loops_lease_is_taken_over(vertex_project, fake_vertex):
    run = start(vertex_project, "greeting")
    job_ended(fake_vertex, run)
    assert Lease.acquire(LOOP_LEASE, "another loop", seconds=300)

    second = reconcile(FLOWSITE_RECONCILE_SECONDS="0.1")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "0 pass(es) until no remote run was active"
    run.refresh_from_db()
    assert run.status == RunStatus.PROVISIONING, "the loop holding the lease follows the run, not a second one"

    # The other loop died: once its lease expires, a loop takes over, follows the run to its end and lets go.
    Lease.objects.filter(name=LOOP_LEASE).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken_over = reconcile(FLOWSITE_RECONCILE_SECONDS="0.1")
    assert taken_over.returncode == 0, taken_over.stderr
    assert taken_over.stdout.strip() == "1 pass(es) until no remote run was active"
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.failure_message
    assert not Lease.objects.filter(name=LOOP_LEASE).exists()
