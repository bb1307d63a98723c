"""What a worker does with a queued run: claim it, then hand it to its stack's orchestrator."""

from __future__ import annotations

import logging
import os
import threading

from django.conf import settings
from django.utils import timezone

from stacks.registry import KINDS

from . import registry, remote_runs
from .finishing import fail
from .local_runner import run_in_process_group
from .models import FailureReason, Run, RunStatus

logger = logging.getLogger(__name__)
_synced = threading.Event()


def ensure_pipelines_recorded() -> None:
    """Record this worker's pipelines once per process, so every run can name the code it ran."""
    if not _synced.is_set():
        registry.sync_pipelines()
        _synced.set()


def record_pipelines_at_worker_start(sender: object = None, **kwargs: object) -> None:
    """django-q2's post_spawn: a new worker records its pipelines before its first task."""
    try:
        ensure_pipelines_recorded()
    except Exception:
        # The worker must still start; each run it takes will then fail saying why.
        logger.exception("this worker cannot record its pipelines")


def execute_run(run_id: int) -> str:
    """Claim the run and execute it; a run already claimed, cancelled or gone is left alone."""
    run = Run.objects.select_related("pipeline", "project", "stack").filter(pk=run_id).first()
    if run is None:
        return f"run {run_id} does not exist"
    now = timezone.now()
    # The worker's name (by default its host's): what the reaper and the run's record know it by.
    worker, pid = settings.FLOWSITE_WORKER_NAME, os.getpid()
    if not run.transition(
        (RunStatus.QUEUED,),
        RunStatus.RUNNING,
        reason=f"claimed by worker {worker} pid {pid}",
        started_at=now,
        heartbeat_at=now,
        worker_host=worker,
        worker_pid=pid,
    ):
        return f"run {run_id} was not queued ({run.refresh_status()}); nothing to do"
    if not run.stack.is_granted_to(run.project):
        # Withdrawn while the run waited: it must not start on a stack its project may no longer use.
        fail(
            run,
            FailureReason.STACK_ERROR,
            f"stack {run.stack.name!r} is no longer granted to project {run.project.slug!r}; "
            "the grant was withdrawn after the run was queued",
        )
        return f"run {run_id} failed to start"
    try:
        ensure_pipelines_recorded()
    except Exception as exc:
        logger.exception("run %s: the worker cannot load its pipelines", run_id)
        fail(run, FailureReason.PIPELINE_MISSING, f"the worker cannot load its pipelines: {exc}")
        return f"run {run_id} failed to start"
    try:
        orchestrator = run.stack.orchestrator()
    except Exception as exc:
        logger.exception("run %s cannot start on stack %s", run_id, run.stack)
        fail(run, FailureReason.STACK_ERROR, f"stack {run.stack.name!r} cannot run it: {exc}")
        return f"run {run_id} failed to start"
    # Execution goes one way: runs/ drives the kinds, which know nothing of runs.
    if KINDS[run.stack.kind].remote:
        remote_runs.submit(run, orchestrator)
    else:
        run_in_process_group(run, orchestrator.environment())
    return f"run {run_id} {run.refresh_status()}"
