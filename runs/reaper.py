"""Runs whose worker stopped sending heartbeats are dead: say so, and stop what is left of them."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stacks.registry import remote_kinds

from .models import FailureReason, Run, RunStatus, StepStatus

REAPED_STATES = (RunStatus.RUNNING, RunStatus.CANCELLING)


def reap() -> list[int]:
    """Mark every running or cancelling run with a stale heartbeat dead; returns their ids."""
    timeout = settings.FLOWSITE_HEARTBEAT_TIMEOUT
    now = timezone.now()
    cutoff = now - timedelta(seconds=timeout)
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    # A process group id means something only on the machine that recorded it, which its worker names.
    worker = settings.FLOWSITE_WORKER_NAME
    dead = []
    # Remote runs have no local worker to lose; the reconciler follows them instead.
    local = Run.objects.exclude(stack__kind__in=remote_kinds())
    for run in local.filter(stale, status__in=REAPED_STATES):
        seen = run.heartbeat_at or run.started_at
        message = (
            f"no heartbeat for {(now - seen).total_seconds():.0f} s (limit {timeout:g} s): "
            f"worker {run.worker_host or '?'} pid {run.worker_pid or '?'} stopped looking after it"
        )
        with transaction.atomic():
            if not run.transition(
                REAPED_STATES,
                RunStatus.DEAD,
                reason=message,
                condition=stale,
                finished_at=now,
                failure_reason=FailureReason.HEARTBEAT_LOST,
                failure_message=message,
            ):
                continue
            step_error = f"Run declared dead: {message}"
            run.end_steps((StepStatus.RUNNING,), StepStatus.FAILED, step_error, finished_at=now, error=step_error)
            run.end_steps((StepStatus.PENDING,), StepStatus.CANCELLED, "run declared dead")
        if run.process_group and run.worker_host == worker:
            try:
                os.killpg(run.process_group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        dead.append(run.pk)
    return dead
