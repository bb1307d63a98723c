"""Ending a run: the one place that decides its final state from how its execution ended."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from flowsite.engine import PipelineResult

from .models import ACTIVE_RUN_STATES, FailureReason, Run, RunStatus, StepStatus


def finish_cancelled(run: Run, reason: str) -> bool:
    now = timezone.now()
    by = Run.objects.filter(pk=run.pk).values_list("cancelled_by__username", flat=True).first()
    # The run's end and its steps' commit together: nobody sees a finished run with steps still running.
    with transaction.atomic():
        won = run.transition(
            ACTIVE_RUN_STATES,
            RunStatus.CANCELLED,
            reason=reason,
            finished_at=now,
            failure_reason=FailureReason.CANCELLED,
            failure_message=f"Cancelled by {by}" if by else "Cancelled",
        )
        if won:
            run.end_steps((StepStatus.PENDING, StepStatus.RUNNING), StepStatus.CANCELLED, reason, finished_at=now)
    return won


def finish(run: Run, result: PipelineResult | None, crash: str = "", steps_left: bool = True) -> None:
    """Decide the run's end from the pipeline's result, whatever the run's status became meanwhile."""
    now = timezone.now()
    if result is None:
        fail(run, FailureReason.INTERNAL_ERROR, f"the pipeline could not run: {crash.strip().splitlines()[-1]}")
    elif result.stopped:
        finish_cancelled(run, "stopped at the cancel request")
    elif result.success:
        if not run.transition((RunStatus.RUNNING,), RunStatus.COMPLETED, reason="all steps finished", finished_at=now):
            run.transition(
                (RunStatus.CANCELLING,),
                RunStatus.COMPLETED,
                reason="all steps finished; the cancel request came too late",
                finished_at=now,
            )
    else:
        lines = (result.error or "").strip().splitlines()
        message = f"step {result.failed_step!r} failed: {lines[0] if lines else 'failed'}"
        if not fail(run, FailureReason.STEP_FAILED, message, allowed=(RunStatus.RUNNING,)):
            # A step failed while the run was being cancelled: the cancel is what the user asked for.
            finish_cancelled(run, f"cancelled; meanwhile {message}")
    if steps_left:
        # Steps the code no longer has, or that never got a result, must not stay pending.
        run.end_steps(
            (StepStatus.PENDING,), StepStatus.SKIPPED, "not run", skipped=True, finished_at=now, error="Not run"
        )


def fail(run: Run, reason: str, message: str, allowed: tuple[str, ...] | frozenset[str] = ACTIVE_RUN_STATES) -> bool:
    now = timezone.now()
    with transaction.atomic():
        won = run.transition(
            allowed,
            RunStatus.FAILED,
            reason=message,
            finished_at=now,
            failure_reason=reason,
            failure_message=message,
        )
        if won:
            run.end_steps((StepStatus.RUNNING,), StepStatus.FAILED, message, finished_at=now, error=message)
            # Steps that never started will not: they end "not run", saying why, with the run.
            run.end_steps(
                (StepStatus.PENDING,), StepStatus.SKIPPED, "not run", skipped=True, finished_at=now,
                error=f"Not run: {message}",
            )  # fmt: skip
    return won
