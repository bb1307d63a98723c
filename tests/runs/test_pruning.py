"""Retention: `manage.py prune` deletes old runs' details in batches and keeps their outcomes."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from runs import pruning
from runs.models import Artifact, CacheEntry, LogLine, Run, RunEvent, RunStatus
from runs.recording import artifact_root
from tests.runs.helpers import execute

pytestmark = pytest.mark.django_db(transaction=True)


def age(run: Run, days: int) -> None:
    Run.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(days=days))


def test_old_runs_lose_their_details_and_keep_their_outcome(ready, monkeypatch):
    old = execute(Run.objects.trigger(project=ready, pipeline="chatty", params={"lines": 25}))
    failed = execute(Run.objects.trigger(project=ready, pipeline="exploding"))
    big = execute(Run.objects.trigger(project=ready, pipeline="leaky"))
    recent = execute(Run.objects.trigger(project=ready, pipeline="chatty", params={"lines": 7}))
    for run in (old, failed, big):
        age(run, 100)
    big_output = artifact_root() / "ml" / str(big.pk) / "leak" / "leak.pkl"
    big_output.parent.mkdir(parents=True, exist_ok=True)
    big_output.write_bytes(b"x" * 100_000)
    Artifact.objects.create(run=big, step="leak", name="leak", uri=big_output.as_uri(), size=100_000)
    monkeypatch.setattr(pruning, "BATCH", 10)  # several batches, as a large log takes

    out = io.StringIO()
    call_command("prune", "--older-than", "90d", "--keep-failed", stdout=out)
    assert "pruned 2 run(s)" in out.getvalue()
    for run in (old, big):
        run.refresh_from_db()
        assert run.pruned_at is not None and run.status == RunStatus.COMPLETED
        assert not LogLine.objects.filter(run=run).exists()
        assert not Artifact.objects.filter(run=run).exists()
        assert not RunEvent.objects.filter(run=run, step__isnull=False).exists()
        assert RunEvent.objects.filter(run=run, step=None).exists(), "the run's own history stays"
        assert run.steps.count() > 0
    assert not big_output.exists()
    assert "(1 files)" in out.getvalue()
    assert not CacheEntry.objects.filter(artifact__run__in=[old, big]).exists()
    assert LogLine.objects.filter(run=failed).exists(), "--keep-failed"
    assert LogLine.objects.filter(run=recent).count() == 7

    call_command("prune", "--older-than", "90d", stdout=out)
    assert not LogLine.objects.filter(run=failed).exists()
    assert LogLine.objects.filter(run=recent).count() == 7


def test_active_runs_are_never_pruned(ready):
    run = Run.objects.trigger(project=ready, pipeline="greeting")
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=400))
    assert pruning.prune(timedelta(days=1)).runs == 0


@pytest.mark.parametrize("bad", ["90", "ninety days", "-3d", "3w"])
def test_a_bad_age_is_refused_saying_how_to_write_it(bad):
    with pytest.raises(CommandError, match="takes a number and a unit"):
        call_command("prune", f"--older-than={bad}")
