"""Vertex jobs are found again by whose they are, never by a run id another database may also have.

A worker that dies between submitting a job and recording it leaves a job to adopt. Beside it in
the same cloud project there may be jobs of another control plane, or of this one before its
database was reset or restored: same run id, other installation or run uid. Only the run's own job
may be adopted, even from a server whose list ignores the filter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from runs.models import Installation, Run, RunStatus
from runs.registry import get_pipeline
from runs.remote_runs import INSTALLATION_LABEL, RUN_UID_LABEL, owner_labels, reconcile_once
from tests.cluster import ROOT
from tests.cluster import test_database_url as database_url
from tests.fake_vertex import FakeVertex

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=[False, True], ids=["filter-honoured", "filter-ignored"])
def server(request, vertex_stack):
    """The stack's Vertex: one that filters lists, and one that answers every list with every job."""
    fake = FakeVertex(step_seconds=3600, ignore_filter=request.param)  # jobs stay queued: nothing runs
    vertex_stack.config = {**vertex_stack.config, "api_endpoint": fake.url}
    vertex_stack.save()
    yield fake
    fake.stop()


def orphaned_run(project) -> Run:
    """What a worker that died right after claiming (and maybe submitting) leaves: no job recorded."""
    run = Run.objects.trigger(project=project, pipeline="greeting")
    long_ago = timezone.now() - timedelta(minutes=5)
    run.transition((RunStatus.QUEUED,), RunStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    return run


def submit_as(run: Run, installation: str, uid: str) -> str:
    """A job for run id `run.pk`, labelled as submitted by `installation` for its run `uid`."""
    labels = {INSTALLATION_LABEL: installation, RUN_UID_LABEL: uid}
    return run.stack.orchestrator().run_pipeline(get_pipeline("greeting"), str(run.pk), env={}, labels=labels).job_id


def strangers(run: Run) -> list[str]:
    """Jobs with the run's id that are not the run's: another control plane's, and this database's
    from before a restore from backup (same installation, other run)."""
    return [
        submit_as(run, uuid.uuid4().hex, uuid.uuid4().hex),
        submit_as(run, Installation.current_id(), uuid.uuid4().hex),
    ]


def test_jobs_of_other_installations_or_earlier_databases_are_never_adopted(vertex_project, server):
    run = orphaned_run(vertex_project)
    others = strangers(run)
    assert all(server.jobs[name].labels["flowsite-run"] == str(run.pk) for name in others)

    reconcile_once()
    run.refresh_from_db()
    assert run.remote_job_name and run.remote_job_name not in others, "a stranger's job was adopted"
    assert len(server.jobs) == 3, "the run submitted its own job"
    own = server.jobs[run.remote_job_name].labels
    assert {k: own[k] for k in (INSTALLATION_LABEL, RUN_UID_LABEL)} == owner_labels(run)
    assert run.events.filter(reason__startswith="submitted as Vertex AI job").exists()
    assert all(server.jobs[name].state == "JOB_STATE_QUEUED" for name in others), "strangers' jobs are left alone"


def test_the_job_a_dead_worker_submitted_is_adopted_from_among_strangers(vertex_project, server):
    run = orphaned_run(vertex_project)
    first_stranger = strangers(run)[0]
    own = submit_as(run, Installation.current_id(), run.uid.hex)
    strangers(run)
    assert list(server.jobs).index(own) == 2, "the run's job is listed among strangers'"

    reconcile_once()
    run.refresh_from_db()
    assert run.remote_job_name == own != first_stranger
    assert len(server.jobs) == 5, "no second job was submitted"
    assert run.events.filter(reason__contains="after its worker stopped").exists()


def test_the_installation_id_survives_restarts_and_a_database_reset_gives_a_new_one():
    def read_in_a_new_process() -> str:
        code = "import django; django.setup(); from runs.models import Installation; print(Installation.current_id())"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "flowsite.test_settings", "DATABASE_URL": database_url()}
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    first = Installation.current_id()
    assert re.fullmatch(r"[0-9a-f]{32}", first), "a label value"
    assert read_in_a_new_process() == first
    Installation.objects.all().delete()  # what a new database has
    assert read_in_a_new_process() != first


def test_the_migration_gives_every_existing_run_its_own_uid():
    executor = MigrationExecutor(connection)
    adding_uids = executor.loader.get_migration("runs", "0008_run_uid_installation")
    before, after = [dep for dep in adding_uids.dependencies if dep[0] == "runs"], executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    project = old.get_model("runs", "Project").objects.create(slug="p", name="P")
    pipeline = old.get_model("runs", "PipelineDef").objects.create(name="greeting", module="m", code_version="v")
    stack = old.get_model("stacks", "Stack").objects.create(name="s", kind="local")
    for _ in range(3):
        old.get_model("runs", "Run").objects.create(project=project, pipeline=pipeline, stack=stack)
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    assert len(set(Run.objects.values_list("uid", flat=True))) == 3
