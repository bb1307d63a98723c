"""Runs on remote stacks (Vertex AI): submit one job per run, then follow it until it ends.

The worker that claims a run submits its job and records it; from then on the reconcile loop
follows the job: it maps the job's state onto the run, passes a cancel request on (once), and
finishes the run. Progress inside the job arrives from the remote runner through the API; a job
that succeeded completes its run only if the runner reported every step ending well.

A job carries this installation's id and the run's uid as labels. That is how a job submitted by
a worker that died before recording it is found again, and only a job whose labels say it is the
run's own is adopted: never one of another control plane, or of this one before a database reset.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.db.models import F
from django.utils import timezone

import flowsite
from flowsite.engine import ExecutionStatus, ResourceConfig
from stacks.kinds.protocol import CancelRefused, JobGone, JobLookupRefused
from stacks.registry import remote_kinds
from unitjobs.models import UnitPlan

from . import registry, remote_units
from .finishing import fail, finish_cancelled
from .models import (
    ACTIVE_RUN_STATES,
    FailureReason,
    Installation,
    Lease,
    LogLine,
    Run,
    RunEvent,
    RunStatus,
    RunToken,
    StepStatus,
)  # fmt: skip

logger = logging.getLogger(__name__)

LOOP_LEASE = "remote-reconcile-loop"
# A claimed run with no job recorded after this long lost its worker mid-submission.
SUBMIT_LEASE_SECONDS = 60
CANCELLING_POLL_SECONDS = 0.5
LOOKUP_THREADS = 8
INSTALLATION_LABEL = "flowsite-installation"
RUN_UID_LABEL = "flowsite-run-uid"
PROJECT_LABEL = "flowsite-project"
# How a step may end for its run to complete.
DONE_STEP_STATES = frozenset({StepStatus.COMPLETED, StepStatus.CACHED, StepStatus.SKIPPED})


def job_environment(run: Run, token: str, orchestrator: Any) -> dict[str, str]:
    """What the job's container is given, visible to anyone who can read the job in GCP: the run token,
    which works for this run only while it is active, and never the stack's secrets (the runner fetches
    those over the report channel)."""
    return {
        **orchestrator.job_environment(),
        "FLOWSITE_API_URL": settings.FLOWSITE_PUBLIC_URL,
        "FLOWSITE_RUN_TOKEN": token,
        "FLOWSITE_RUN_ID": str(run.pk),
        "FLOWSITE_PIPELINES": ",".join(settings.FLOWSITE_PIPELINES),
        # The runner refuses to run if its image holds another Flowsite.
        "FLOWSITE_EXPECTED_VERSION": flowsite.__version__,
    }


def _resources(pipeline_name: str) -> ResourceConfig | None:
    pipeline = registry.get_pipeline(pipeline_name)
    if pipeline is None:
        return None
    merged: ResourceConfig | None = None
    for step in pipeline.steps:
        if step.resources is not None:
            merged = step.resources if merged is None else merged.merge(step.resources)
    return merged


def owner_labels(run: Run) -> dict[str, str]:
    """The labels that make a job this run's and nobody else's. The pk would not: it starts again
    after a database reset, and another control plane in the same cloud project has its own run 1."""
    return {INSTALLATION_LABEL: Installation.current_id(), RUN_UID_LABEL: run.uid.hex}


def submit(run: Run, orchestrator: Any) -> None:
    """Submit the claimed run's job, or adopt the one an earlier attempt submitted, and record it.

    A stack placed per unit gets a job per step or step group instead (runs.remote_units)."""
    if getattr(orchestrator, "placement", "run") == "unit":
        remote_units.start(run, orchestrator)
        return
    owner = owner_labels(run)
    job_name = orchestrator.find_job(owner)
    if job_name is None:
        token = RunToken.issue(run)
        pipeline = registry.get_pipeline(run.pipeline.name)
        if pipeline is None:
            message = f"pipeline {run.pipeline.name!r} is not among FLOWSITE_PIPELINES"
            _fail(run, FailureReason.PIPELINE_MISSING, message)
            return
        submission = orchestrator.run_pipeline(
            pipeline,
            str(run.pk),
            resources=_resources(run.pipeline.name),
            labels={**owner, PROJECT_LABEL: run.project.slug},
            env=job_environment(run, token, orchestrator),
        )
        job_name, reason = submission.job_id, f"submitted as Vertex AI job {submission.job_id}"
    else:
        reason = f"found Vertex AI job {job_name}, submitted by an earlier attempt"
    record_job(run, orchestrator, job_name, reason)
    start_reconcile_loop()


def record_job(run: Run, orchestrator: Any, job_name: str, reason: str) -> None:
    Run.objects.filter(pk=run.pk, remote_job_name="").update(
        remote_job_name=job_name, remote_console_url=orchestrator.console_url(job_name), heartbeat_at=timezone.now()
    )
    run.remote_job_name = job_name
    run.transition((RunStatus.RUNNING,), RunStatus.PROVISIONING, reason=reason)


def start_reconcile_loop() -> None:
    from django_q.tasks import async_task

    async_task("runs.tasks.reconcile_remote_runs", task_name="reconcile-remote-runs")


def active_remote_runs() -> Any:
    return Run.objects.filter(stack__kind__in=remote_kinds(), status__in=ACTIVE_RUN_STATES).select_related(
        "stack", "pipeline", "project"
    )


def reconcile_loop(max_seconds: float | None = None) -> int:
    """Reconcile every few seconds while remote runs are active, or units of ended runs are still live;
    one loop at a time (a lease)."""
    interval = settings.FLOWSITE_RECONCILE_SECONDS
    holder = f"{socket.gethostname()}:{os.getpid()}:{time.monotonic_ns()}"
    deadline = time.monotonic() + (max_seconds if max_seconds is not None else 3600)
    passes = 0
    while time.monotonic() < deadline:
        if not Lease.acquire(LOOP_LEASE, holder, seconds=interval * 6):
            return passes
        if not active_remote_runs().exists() and not remote_units.orphaned_units().exists():
            break
        reconcile_once()
        passes += 1
        close_old_connections()
        # While a cancel is on its way, look more often: the user is waiting to see it land.
        cancelling = active_remote_runs().filter(status=RunStatus.CANCELLING).exists()
        time.sleep(min(interval, CANCELLING_POLL_SECONDS) if cancelling else interval)
    Lease.release(LOOP_LEASE, holder)
    return passes


def reconcile_once() -> dict[str, int]:
    """One pass over every active remote run, then over the units left live by runs that ended; returns how
    many runs it looked at, how many ended, and how many units of ended runs are still live."""
    runs = list(active_remote_runs())
    orchestrators: dict[int, Any] = {}

    def orchestrator_for(stack: Any) -> Any:
        if stack.pk not in orchestrators:
            orchestrators[stack.pk] = _orchestrator(stack)
        return orchestrators[stack.pk]

    for run in runs:
        orchestrator_for(run.stack)
    # Jobs are looked up side by side: each lookup is a round trip to Google, the rest is quick.
    with ThreadPoolExecutor(max_workers=LOOKUP_THREADS) as pool:
        reports = {
            run.pk: pool.submit(_lookup, orchestrators[run.stack_id], run.remote_job_name)
            for run in runs
            if run.remote_job_name and not isinstance(orchestrators[run.stack_id], Exception)
        }
    planned = set(UnitPlan.objects.filter(run__in=runs).values_list("run_id", flat=True))
    counts = {"runs": len(runs), "ended": 0}
    for run in runs:
        try:
            if isinstance(orchestrators[run.stack_id], Exception):
                raise orchestrators[run.stack_id]
            if run.pk in planned:
                remote_units.advance(run, orchestrators[run.stack_id])
                counts["ended"] += run.is_finished
                continue
            report = reports[run.pk].result() if run.pk in reports else None
            if reconcile_run(run, orchestrators[run.stack_id], report):
                counts["ended"] += 1
        except Exception:
            # One run's trouble (a bug, the database) must not stop the others being followed.
            logger.exception("reconciling run %s failed; trying again next pass", run.pk)

    # After the runs: a run this pass failed has its live units cancelled in the same pass.
    counts["orphans"] = remote_units.stop_orphans(orchestrator_for)
    return counts


def _orchestrator(stack: Any) -> Any:
    """The stack's orchestrator, or the exception making it raised (say its config was made invalid since its
    runs began): that stack's runs are passed over this pass, the other stacks' runs still followed."""
    try:
        return stack.orchestrator()
    except Exception as exc:
        return exc


def _lookup(orchestrator: Any, job_name: str) -> Any:
    """The job's report, or the exception that asking for it raised."""
    try:
        return orchestrator.report(job_name)
    except Exception as exc:
        return exc


def reconcile_run(run: Run, orchestrator: Any, report: Any = None) -> bool:
    """Bring the run in line with its job (given its report, or asked here); True if the run ended."""
    if not run.remote_job_name:
        _recover_submission(run, orchestrator)
        return False
    if run.status == RunStatus.CANCELLING and run.remote_cancel_requested_at is None:
        _send_cancel(run, orchestrator)
        report = None  # the job's state changed with the cancel: ask again
    if report is None:
        report = _lookup(orchestrator, run.remote_job_name)
    if isinstance(report, JobGone):
        _fail(run, FailureReason.REMOTE_JOB_GONE, f"the job vanished: {report}")
        return True
    if isinstance(report, JobLookupRefused):
        return _refused(run, orchestrator, report)
    if isinstance(report, Exception):
        logger.warning("run %s: could not read its job's state (%s); asking again next pass", run.pk, report)
        return False
    if run.remote_refusals:
        Run.objects.filter(pk=run.pk).update(remote_refusals=0)
    return _apply(run, report, orchestrator)


def _refused(run: Run, orchestrator: Any, refusal: JobLookupRefused) -> bool:
    """Count a refusal that will not heal by itself; after FLOWSITE_RECONCILE_REFUSALS in a row, fail the run
    saying so, rather than asking every pass for ever while the run shows a state nobody can confirm."""
    Run.objects.filter(pk=run.pk).update(remote_refusals=F("remote_refusals") + 1)
    passes = Run.objects.filter(pk=run.pk).values_list("remote_refusals", flat=True).first() or 0
    limit = settings.FLOWSITE_RECONCILE_REFUSALS
    if passes < limit:
        logger.warning("run %s: %s (%d of %d passes before the run fails)", run.pk, refusal, passes, limit)
        return False
    # Its job may run on, billed: ask once for a cancel, which the same refusal may well refuse too.
    _send_cancel(run, orchestrator)
    return _fail(
        run,
        FailureReason.STACK_ERROR,
        f"{refusal}, on {passes} passes in a row: fix the stack's credentials or permissions, then trigger again "
        "(the job itself may still be running in Vertex AI)",
    )


def _apply(run: Run, report: Any, orchestrator: Any) -> bool:
    status, state = report.status, report.state
    if status is None or status == ExecutionStatus.PROVISIONING:
        return False
    if status == ExecutionStatus.RUNNING:
        run.transition((RunStatus.PROVISIONING,), RunStatus.RUNNING, reason=f"job {state}")
        return False
    if status == ExecutionStatus.CANCELLING:
        run.transition((RunStatus.PROVISIONING, RunStatus.RUNNING), RunStatus.CANCELLING, reason=f"job {state}")
        return False
    now = timezone.now()
    if status == ExecutionStatus.CANCELLED:
        return finish_cancelled(run, f"job {state}")
    cancelling = run.status == RunStatus.CANCELLING
    if status == ExecutionStatus.COMPLETED:
        unfinished = _unfinished_steps(run, state)
        if unfinished is None:
            late = "; the cancel request came too late" if cancelling else ""
            return run.transition(ACTIVE_RUN_STATES, RunStatus.COMPLETED, reason=f"job {state}{late}", finished_at=now)
        reason, message = unfinished
    else:
        reason = FailureReason.REMOTE_JOB_FAILED
        message = f"Vertex AI job {state}: {report.error or 'no error message'}"
    if not run.steps.exclude(status=StepStatus.PENDING).exists() and not LogLine.objects.filter(run=run).exists():
        message += remote_units.silent_job_logs(orchestrator, run.remote_job_name)
    return _fail(run, reason, message + (" (the cancel request came too late)" if cancelling else ""))


def _unfinished_steps(run: Run, state: str) -> tuple[str, str] | None:
    """Why a run whose job succeeded did not complete, or None if every step ended well.

    A job's success says only that its command exited 0: a wrong command, a runner that stopped
    before its first report or one that exits 0 whatever happened must not pass for a completed run.
    """
    steps = list(run.steps.order_by("position").values_list("name", "status", "error"))
    failed = [(name, error) for name, status, error in steps if status == StepStatus.FAILED]
    if failed:
        name, error = failed[0]
        lines = error.strip().splitlines()
        return FailureReason.STEP_FAILED, f"step {name!r} failed: {lines[0] if lines else 'failed'} (job {state})"
    if steps and all(status == StepStatus.PENDING for _, status, _ in steps):
        return (
            FailureReason.REMOTE_STEPS_UNFINISHED,
            f"Vertex AI job {state}, but its runner reported no steps: the job's command exited 0 "
            "without running the pipeline (is Flowsite's remote runner in the image?)",
        )
    left = [f"{name} ({status})" for name, status, _ in steps if status not in DONE_STEP_STATES]
    if left:
        return (
            FailureReason.REMOTE_STEPS_UNFINISHED,
            f"Vertex AI job {state}, but its runner left steps unfinished: {', '.join(left)}",
        )
    return None


def _fail(run: Run, reason: str, message: str) -> bool:
    """Fail the run; steps its job never ran end "not run" with it (`finishing.fail`), as a local run's do."""
    return fail(run, reason, message)


def _send_cancel(run: Run, orchestrator: Any) -> None:
    """Ask Vertex to cancel the job, once: the run stays cancelling until Vertex says CANCELLED."""
    if not Run.objects.filter(pk=run.pk, remote_cancel_requested_at__isnull=True).update(
        remote_cancel_requested_at=timezone.now()
    ):
        return
    try:
        orchestrator.stop_run(run.remote_job_name)
        reason = f"cancel sent to Vertex AI job {run.remote_job_name}"
    except CancelRefused as exc:
        # The job's state, read next, decides how the run ends.
        reason = f"the cancel of Vertex AI job {run.remote_job_name} was not taken: {exc}"
    except Exception as exc:
        logger.exception("run %s: sending the cancel failed", run.pk)
        reason = f"the cancel could not be sent to Vertex AI job {run.remote_job_name}: {type(exc).__name__}: {exc}"
    RunEvent.objects.create(run=run, old_status=run.status, new_status=run.status, reason=run.sanitize(reason))


def _recover_submission(run: Run, orchestrator: Any) -> None:
    """A claimed run without a job: if its worker went quiet, adopt the job it submitted, or submit."""
    stale = timezone.now() - timedelta(seconds=SUBMIT_LEASE_SECONDS)
    if run.status != RunStatus.RUNNING or (run.heartbeat_at and run.heartbeat_at > stale):
        return
    # Take the submission over; if someone else just did, leave it to them.
    if not Run.objects.filter(pk=run.pk, heartbeat_at=run.heartbeat_at, remote_job_name="").update(
        heartbeat_at=timezone.now()
    ):
        return
    job_name = orchestrator.find_job(owner_labels(run))
    if job_name is not None:
        record_job(run, orchestrator, job_name, f"found Vertex AI job {job_name} after its worker stopped")
    else:
        submit(run, orchestrator)
