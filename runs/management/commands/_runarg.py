"""Shared by the run commands: finding a run by id with a clear error."""

from __future__ import annotations

from django.core.management.base import CommandError

from runs.models import Run


def get_run(run_id: int) -> Run:
    run = Run.objects.select_related("pipeline", "project", "stack").filter(pk=run_id).first()
    if run is None:
        raise CommandError(f"there is no run {run_id}")
    return run
