"""Ending a run: the one place that decides its final state from how its execution ended."""

from __future__ import annotations

from django.utils import timezone

from flowsite.engine import PipelineResult

from .models import ACTIVE_RUN_STATES, FailureReason, Run, RunStatus, StepRun, StepStatus


def finish_cancelled(run: Run, reason: str) -> bool:
    now = timezone.now()
    won = run.transition(
        ACTIVE_RUN_STATES,
        RunStatus.CANCELLED,
        reason=reason,
        finished_at=now,
        failure_reason=FailureReason.CANCELLED,
        failure_message="Cancelled" + (f" by {run.cancelled_by}" if run.cancelled_by_id else ""),
    )
    if won:
        StepRun.objects.filter(run=run, status__in=(StepStatus.PENDING, StepStatus.RUNNING)).update(
            status=StepStatus.CANCELLED, finished_at=now
        )
    return won


def finish(run: Run, result: PipelineResult | None, crash: str = "") -> None:
    now = timezone.now()
    run.refresh_from_db(fields=["status", "cancelled_by", "cancel_requested_at"])
    if result is None:
        fail(run, FailureReason.INTERNAL_ERROR, f"the pipeline could not run: {crash.strip().splitlines()[-1]}")
    elif result.stopped or (run.status == RunStatus.CANCELLING and not result.success):
        finish_cancelled(run, "stopped at the cancel request")
    elif result.success:
        late = run.status == RunStatus.CANCELLING
        reason = "all steps finished" + ("; the cancel request came too late" if late else "")
        run.transition(ACTIVE_RUN_STATES, RunStatus.COMPLETED, reason=reason, finished_at=now)
    else:
        first_line = (result.error or "").strip().splitlines()
        summary = first_line[0] if first_line else "failed"
        fail(run, FailureReason.STEP_FAILED, f"step {result.failed_step!r} failed: {summary}")
    # Steps the code no longer has, or that never got a result, must not stay pending.
    StepRun.objects.filter(run=run, status=StepStatus.PENDING).update(
        status=StepStatus.SKIPPED, skipped=True, finished_at=now, error="Not run"
    )


def fail(run: Run, reason: str, message: str) -> None:
    now = timezone.now()
    if run.transition(
        ACTIVE_RUN_STATES,
        RunStatus.FAILED,
        reason=message,
        finished_at=now,
        failure_reason=reason,
        failure_message=message,
    ):
        StepRun.objects.filter(run=run, status=StepStatus.RUNNING).update(
            status=StepStatus.FAILED, finished_at=now, error=message
        )
