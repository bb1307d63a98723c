"""Remote runs placed per execution unit: a job per step or step group, the DAG walked by the control plane.

The worker that claims the run plans it (a `UnitJob` row per unit, and the run token every job will be
given) and submits the units that need nothing; from then on the reconcile loop advances the run on
each pass: it reads the live jobs' states, submits each unit whose input steps have ended well (as many
at once as the stack allows, so independent branches run side by side), stops the rest when a unit
fails, as a local run would, and passes a cancel on to every live job. All of it is in the database,
so whichever process holds the loop after a restart carries on where the last one stopped.

A unit's job reads its inputs from the outputs earlier units wrote under the stack's artifact_uri,
and reports its steps through the run's API like a whole-run job. A job that succeeded completes its
unit only if the runner reported each of the unit's steps ending well.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from flowsite.engine import ExecutionStatus
from flowsite.engine.pipeline import unit_steps
from stacks.kinds.protocol import CancelRefused, JobGone, JobLookupRefused, JobRefused, JobReport, JobSpec
from unitjobs.models import LIVE_UNIT_STATES, UnitJob, UnitPlan, UnitState

from . import registry, unit_cache
from .finishing import fail, finish_cancelled
from .models import (
    ACTIVE_RUN_STATES,
    FINAL_RUN_STATES,
    FailureReason,
    Run,
    RunEvent,
    RunStatus,
    RunToken,
    StepRun,
    StepStatus,
)  # fmt: skip

logger = logging.getLogger(__name__)

UNIT_LABEL = "flowsite-unit"
ATTEMPT_LABEL = "flowsite-attempt"
# A unit claimed for submission with no job recorded after this long lost its process mid-submission
# (longer than a submission may take: the kind's own timeout).
SUBMIT_LEASE_SECONDS = 60
SUBMIT_THREADS = 8
STARTUP_SECONDS = 600
DONE_STEP_STATES = frozenset({StepStatus.COMPLETED, StepStatus.CACHED, StepStatus.SKIPPED})


def start(run: Run, orchestrator: Any) -> None:
    """Plan the claimed run and submit the units that can start now."""
    from .remote_runs import start_reconcile_loop

    pipeline = registry.get_pipeline(run.pipeline.name)
    if pipeline is None:
        fail(run, FailureReason.PIPELINE_MISSING, f"pipeline {run.pipeline.name!r} is not among FLOWSITE_PIPELINES")
        return
    try:
        plan(run, pipeline)
    except ValueError as exc:
        fail(run, FailureReason.STACK_ERROR, f"the run cannot be placed per unit: {exc}")
        return
    submitted = advance(run, orchestrator, pipeline)
    if not run.is_finished:
        run.transition((RunStatus.RUNNING,), RunStatus.PROVISIONING, reason=f"placed per unit: {submitted}")
    start_reconcile_loop()


def plan(run: Run, pipeline: Any) -> None:
    """A row per execution unit, and the one run token all its jobs share; once per run."""
    producers = {output: step.name for step in pipeline.steps for output in step.outputs}
    names = [unit.name for unit in pipeline.execution_units()]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        # A unit is known by its name (its row, its job's label, the runner's FLOWSITE_UNIT).
        raise ValueError(f"a step group and a step, or two groups apart, share the name {twice[0]!r}")
    rows = []
    for position, unit in enumerate(pipeline.execution_units()):
        steps = unit_steps(unit)
        own = [step.name for step in steps]
        needs = sorted({producers[name] for step in steps for name in step.inputs} - set(own))
        rows.append(UnitJob(run=run, unit=unit.name, position=position, steps=own, needs=needs))
    try:
        with transaction.atomic():
            # Issued here, with the plan: issuing it again would end the token of jobs already running.
            UnitPlan.objects.create(run=run, secrets={"token": RunToken.issue(run)})
            UnitJob.objects.bulk_create(rows)
    except IntegrityError:
        if not UnitPlan.objects.filter(run=run).exists():
            raise
        # Planned already, by the process that had the run before.


def advance(run: Run, orchestrator: Any, pipeline: Any = None) -> str:
    """One pass over the run's units; returns what it did, in words, for the run's events."""
    units = list(UnitJob.objects.filter(run=run).order_by("position"))
    _follow_jobs(run, orchestrator, [u for u in units if u.job_name and u.state in LIVE_UNIT_STATES])
    _recover_submissions(run, orchestrator, [u for u in units if u.state == UnitState.SUBMITTING and not u.job_name])
    run.refresh_from_db(fields=["status"])
    if run.is_finished:
        return "the run had ended"
    if run.status == RunStatus.CANCELLING:
        return _cancel(run, orchestrator, units)
    failed = next((u for u in units if u.state == UnitState.FAILED), None)
    if failed is not None:
        return _stop_after(run, orchestrator, units, failed)
    if all(u.state == UnitState.SUCCEEDED for u in units):
        run.transition(ACTIVE_RUN_STATES, RunStatus.COMPLETED, reason="every unit's job succeeded",
                       finished_at=timezone.now())  # fmt: skip
        return "completed"
    if any(u.state == UnitState.RUNNING for u in units):
        run.transition((RunStatus.PROVISIONING,), RunStatus.RUNNING, reason="a unit's job is running")
    did = _submit_ready(run, orchestrator, units, pipeline or registry.get_pipeline(run.pipeline.name))
    if not UnitJob.objects.filter(run=run).exclude(state=UnitState.SUCCEEDED).exists():
        # Every unit served from the cache: no job ran, and none will.
        run.transition(ACTIVE_RUN_STATES, RunStatus.COMPLETED, reason="every unit served from cache",
                       finished_at=timezone.now())  # fmt: skip
    return did


# Following jobs


def _follow_jobs(run: Run, orchestrator: Any, live: list[UnitJob]) -> None:
    """Read every live job's state (side by side: each is a round trip) and move its unit to match."""
    if not live:
        return
    with ThreadPoolExecutor(max_workers=min(SUBMIT_THREADS, len(live))) as pool:
        reports = list(pool.map(lambda unit: _lookup(orchestrator, unit.job_name), live))
    for unit, report in zip(live, reports):
        if isinstance(report, JobGone):
            _end_unit(
                run, unit, UnitState.FAILED, f"its Vertex AI job vanished: {report}", FailureReason.REMOTE_JOB_GONE
            )
        elif isinstance(report, JobLookupRefused):
            _refused(run, orchestrator, unit, report)
        elif isinstance(report, Exception):
            logger.warning("run %s unit %s: could not read its job's state (%s)", run.pk, unit.unit, report)
        else:
            if unit.lookup_refusals:
                UnitJob.objects.filter(pk=unit.pk).update(lookup_refusals=0)
            _apply(run, orchestrator, unit, report)


def _refused(run: Run, orchestrator: Any, unit: UnitJob, refusal: JobLookupRefused) -> None:
    """Count a refusal that will not heal by itself; after FLOWSITE_RECONCILE_REFUSALS in a row, fail the unit
    (and so the run) saying so, rather than asking every pass for ever (as runs placed whole do)."""
    UnitJob.objects.filter(pk=unit.pk).update(lookup_refusals=F("lookup_refusals") + 1)
    passes = UnitJob.objects.filter(pk=unit.pk).values_list("lookup_refusals", flat=True).first() or 0
    limit = settings.FLOWSITE_RECONCILE_REFUSALS
    if passes < limit:
        logger.warning("run %s unit %s: %s (%d of %d passes before the run fails)", run.pk, unit.unit, refusal,
                       passes, limit)  # fmt: skip
        return
    _end_unit(
        run,
        unit,
        UnitState.FAILED,
        f"{refusal}, on {passes} passes in a row: fix the stack's credentials or permissions, then trigger again "
        "(the job itself may still be running in Vertex AI)",
        FailureReason.STACK_ERROR,
    )
    # Its job may run on, billed: ask once for a cancel, which the same refusal may well refuse too.
    _send_cancel(run, orchestrator, unit, "Vertex AI would not report its state")


def _lookup(orchestrator: Any, job_name: str) -> JobReport | Exception:
    try:
        return orchestrator.report(job_name)
    except Exception as exc:
        return exc


def _apply(run: Run, orchestrator: Any, unit: UnitJob, report: JobReport) -> None:
    status, state = report.status, report.state
    if status in (ExecutionStatus.RUNNING, ExecutionStatus.CANCELLING):
        unit.move(UnitState.RUNNING, (UnitState.QUEUED,))
    elif status == ExecutionStatus.COMPLETED:
        unfinished = _unfinished(run, unit)
        if unfinished and _silent(run, unit):
            unfinished += silent_job_logs(orchestrator, unit.job_name)
        if unfinished:
            _end_unit(run, unit, UnitState.FAILED, f"its job {state}, but {unfinished}",
                      FailureReason.REMOTE_STEPS_UNFINISHED)  # fmt: skip
        else:
            _end_unit(run, unit, UnitState.SUCCEEDED, f"job {state}")
            pipeline = registry.get_pipeline(run.pipeline.name)
            if pipeline is not None:
                unit_cache.remember(run, pipeline, unit)
    elif status == ExecutionStatus.CANCELLED:
        _end_unit(run, unit, UnitState.CANCELLED, f"job {state}")
    elif status == ExecutionStatus.FAILED and report.capacity_lost:
        _capacity_lost(run, orchestrator, unit, report)
    elif status == ExecutionStatus.FAILED:
        why = f"Vertex AI job {state}: {report.error or 'no error message'}"
        if _silent(run, unit):
            why += silent_job_logs(orchestrator, unit.job_name)
        _end_unit(run, unit, UnitState.FAILED, why)


def silent_job_logs(orchestrator: Any, job_name: str) -> str:
    """For a job whose runner never said anything: its last log entries, read once, as the run's failure
    ends it (an image that cannot start or a wrong entrypoint says why only there)."""
    try:
        lines = orchestrator.job_logs(job_name)
    except Exception as exc:
        # Said as it is: the run still fails for the job's own reason, given before this.
        return f"; its log could not be read: {type(exc).__name__}: {exc}"
    if not lines:
        return "; its log has no entries"
    return f"; the last {len(lines)} entries of its log:\n" + "\n".join(lines)


def _silent(run: Run, unit: UnitJob) -> bool:
    """Whether the unit's runner reported none of its steps: then only the job's own log says why."""
    return not StepRun.objects.filter(run=run, name__in=unit.steps).exclude(status=StepStatus.PENDING).exists()


def _capacity_lost(run: Run, orchestrator: Any, unit: UnitJob, report: JobReport) -> None:
    """A job lost to preemption or a stockout: the unit waits, then goes again, up to the stack's limit.
    Its own failures are never retried here (a step's `retry` is the runner's business)."""
    losses = unit.capacity_losses + 1
    why = f"its job {unit.job_name} lost its capacity: {report.error or report.state}"
    if losses > orchestrator.capacity_retries:
        _end_unit(run, unit, UnitState.FAILED, f"{why}; lost {losses} times, more than the stack's "
                  f"capacity_retries ({orchestrator.capacity_retries})")  # fmt: skip
        return
    backoff = orchestrator.capacity_backoff_seconds * 2 ** (losses - 1)
    if unit.move(UnitState.WAITING, LIVE_UNIT_STATES, job_name="", console_url="", capacity_losses=losses,
                 retry_at=timezone.now() + timedelta(seconds=backoff), claimed_at=None):  # fmt: skip
        _event(run, f"unit {unit.unit!r}: {why}; submitting it again in {backoff:g} s "
                    f"(retry {losses} of {orchestrator.capacity_retries})")  # fmt: skip


def _unfinished(run: Run, unit: UnitJob) -> str:
    """Why a unit whose job succeeded did not end well, or "" if each of its steps did."""
    steps = dict(StepRun.objects.filter(run=run, name__in=unit.steps).values_list("name", "status"))
    left = [f"{name} ({steps.get(name, 'unknown')})" for name in unit.steps if steps.get(name) not in DONE_STEP_STATES]
    if not left:
        return ""
    if all(steps.get(name) == StepStatus.PENDING for name in unit.steps):
        return "its runner reported no steps (is Flowsite's remote runner in the image?)"
    return f"its runner left steps unfinished: {', '.join(left)}"


def _end_unit(run: Run, unit: UnitJob, to: str, why: str, reason: str = FailureReason.REMOTE_JOB_FAILED) -> None:
    failed = to == UnitState.FAILED
    if unit.move(to, LIVE_UNIT_STATES, ended_at=timezone.now(), error=why if failed else "",
                 failure_reason=reason if failed else ""):  # fmt: skip
        _event(run, f"unit {unit.unit!r} {to}: {why} ({unit.job_name})")


def _event(run: Run, reason: str) -> None:
    RunEvent.objects.create(run=run, old_status=run.status, new_status=run.status, reason=run.sanitize(reason))


# Submitting


def _submit_ready(run: Run, orchestrator: Any, units: list[UnitJob], pipeline: Any) -> str:
    """Submit each waiting unit whose inputs exist, within the stack's limit of live jobs."""
    if pipeline is None:
        fail(run, FailureReason.PIPELINE_MISSING, f"pipeline {run.pipeline.name!r} is not among FLOWSITE_PIPELINES")
        return "failed: the pipeline is missing"
    slots = orchestrator.max_concurrent_jobs - sum(u.state in LIVE_UNIT_STATES for u in units)
    while True:
        # Those that may start now consult the cache first (reading their inputs, so not every unit
        # waiting for a slot on every pass); one served from it frees its slot and may make others ready.
        done = set(StepRun.objects.filter(run=run, status__in=DONE_STEP_STATES).values_list("name", flat=True))
        now = timezone.now()
        ready = [
            u for u in units
            if u.state == UnitState.WAITING and set(u.needs) <= done and (u.retry_at is None or u.retry_at <= now)
        ][: max(slots, 0)]  # fmt: skip
        if not any([unit_cache.serve(run, pipeline, unit) for unit in ready]):
            break
    claimed = [
        u for u in ready if u.move(UnitState.SUBMITTING, (UnitState.WAITING,), attempt=u.attempt + 1, claimed_at=now)
    ]
    if not claimed:
        return "nothing to submit"
    token = UnitPlan.objects.get(run=run).token
    specs = [_job_spec(run, orchestrator, pipeline, unit, token) for unit in claimed]
    # Side by side: a fan-out of twenty units is twenty round trips to Google.
    with ThreadPoolExecutor(max_workers=min(SUBMIT_THREADS, len(claimed))) as pool:
        outcomes = list(pool.map(lambda spec: _submit(orchestrator, spec), specs))
    names = []
    for unit, outcome in zip(claimed, outcomes):
        if isinstance(outcome, JobRefused):
            _end_unit(run, unit, UnitState.FAILED, str(outcome))
        elif isinstance(outcome, Exception):
            # The job may exist all the same: the stale claim is recovered with find_job.
            logger.warning("run %s unit %s: submitting failed (%s); recovered later", run.pk, unit.unit, outcome)
        else:
            _record_job(run, orchestrator, unit, outcome, "submitted")
            names.append(unit.unit)
    return f"submitted {', '.join(names)}" if names else "nothing submitted"


def _submit(orchestrator: Any, spec: JobSpec) -> str | Exception:
    try:
        return orchestrator.submit(spec)
    except Exception as exc:
        return exc


def _record_job(run: Run, orchestrator: Any, unit: UnitJob, job_name: str, how: str) -> None:
    if unit.move(UnitState.QUEUED, (UnitState.SUBMITTING,), job_name=job_name,
                 console_url=orchestrator.console_url(job_name), submitted_at=timezone.now()):  # fmt: skip
        _event(run, f"unit {unit.unit!r} {how} as Vertex AI job {job_name} (attempt {unit.attempt})")


def unit_labels(run: Run, unit: UnitJob) -> dict[str, str]:
    from .remote_runs import PROJECT_LABEL, owner_labels

    return {**owner_labels(run), PROJECT_LABEL: run.project.slug, "flowsite-run": str(run.pk),
            UNIT_LABEL: unit.unit, ATTEMPT_LABEL: str(unit.attempt)}  # fmt: skip


def _job_spec(run: Run, orchestrator: Any, pipeline: Any, unit: UnitJob, token: str) -> JobSpec:
    from .remote_runs import job_environment

    step_or_group = pipeline.unit(unit.unit)
    steps = unit_steps(step_or_group)
    resources = getattr(step_or_group, "aggregated_resources", None) or getattr(step_or_group, "resources", None)
    env = {
        **job_environment(run, token, orchestrator),
        "FLOWSITE_UNIT": unit.unit,
        "FLOWSITE_UNIT_INPUTS": json.dumps(_inputs(run, pipeline, steps, unit), sort_keys=True),
    }
    name = f"{run.pipeline.name}-{run.pk}-{unit.unit}"
    timeout = unit_timeout(steps)
    capacities = tuple(step.capacity for step in steps)
    return JobSpec(name, unit_labels(run, unit), env, resources, timeout_seconds=timeout, capacities=capacities)


def unit_timeout(steps: list[Any]) -> int | None:
    """Seconds a unit's job may run: each step's timeout for each of its attempts, their backoffs, and
    STARTUP_SECONDS for the machine, the image and the runner. None (Vertex's own limit) when a step
    has no timeout: nothing says how long it may take."""
    if any(step.timeout is None for step in steps):
        return None
    total = sum(
        step.timeout * (step.retry + 1) + sum(step.retry_delay * 2**attempt for attempt in range(step.retry))
        for step in steps
    )
    return int(total + STARTUP_SECONDS + 0.999)


def _inputs(run: Run, pipeline: Any, steps: list[Any], unit: UnitJob) -> dict[str, dict[str, str]]:
    """Where each input the unit takes from other units is: an artifact, or a skipped step's mark.

    An output its step returned as None was not stored: it is described as nothing, read as None.
    """
    producers = {output: step.name for step in pipeline.steps for output in step.outputs}
    wanted = {name: producers[name] for step in steps for name in step.inputs if producers[name] not in unit.steps}
    skipped = set(StepRun.objects.filter(run=run, name__in=unit.needs, status=StepStatus.SKIPPED)
                  .values_list("name", flat=True))  # fmt: skip
    # A step served from cache has its outputs in the run that made them.
    uris = {where: artifact.uri for where, artifact in unit_cache.outputs_of(run, unit.needs).items()}
    described: dict[str, dict[str, str]] = {}
    for name, producer in wanted.items():
        if producer in skipped:
            described[name] = {"skipped_by": producer}
        elif (producer, name) in uris:
            described[name] = {"uri": uris[(producer, name)]}
        else:
            described[name] = {}
    return described


def _recover_submissions(run: Run, orchestrator: Any, claimed: list[UnitJob]) -> None:
    """Units whose submitting process went quiet: adopt the job it made, or let the unit be submitted again."""
    stale = timezone.now() - timedelta(seconds=SUBMIT_LEASE_SECONDS)
    for unit in claimed:
        if unit.claimed_at is None or unit.claimed_at > stale:
            continue
        try:
            job_name = orchestrator.find_job(unit_labels(run, unit))
        except Exception as exc:
            logger.warning("run %s unit %s: could not look for its job (%s)", run.pk, unit.unit, exc)
            continue
        if job_name is not None:
            _record_job(run, orchestrator, unit, job_name, "found after its submitter stopped:")
        elif unit.move(UnitState.WAITING, (UnitState.SUBMITTING,), claimed_at=None):
            _event(run, f"unit {unit.unit!r}: its submission was lost (attempt {unit.attempt}); submitting again")


# Stopping


def _not_run(units: list[UnitJob]) -> None:
    for unit in units:
        if unit.state == UnitState.WAITING:
            unit.move(UnitState.NOT_RUN, (UnitState.WAITING,), ended_at=timezone.now())


def _cancel_live(run: Run, orchestrator: Any, units: list[UnitJob], why: str) -> bool:
    """Ask Vertex to cancel each live job, once each; True while any unit is still live."""
    for unit in units:
        if unit.state in LIVE_UNIT_STATES:
            _send_cancel(run, orchestrator, unit, why)
    return UnitJob.objects.filter(run=run, state__in=LIVE_UNIT_STATES).exists()


def _send_cancel(run: Run, orchestrator: Any, unit: UnitJob, why: str) -> None:
    """Ask the provider to cancel the unit's job, once for the unit's job however often this is called."""
    if not unit.job_name or unit.cancel_requested_at is not None:
        return
    if not UnitJob.objects.filter(pk=unit.pk, job_name=unit.job_name, cancel_requested_at__isnull=True).update(
        cancel_requested_at=timezone.now()
    ):
        return
    try:
        orchestrator.stop_run(unit.job_name)
        _event(run, f"unit {unit.unit!r}: cancel sent to Vertex AI job {unit.job_name} ({why})")
    except CancelRefused as exc:
        # Its state, read next pass, says how the unit ended.
        _event(run, f"unit {unit.unit!r}: the cancel of {unit.job_name} was not taken: {exc}")
    except Exception as exc:
        logger.exception("run %s: sending the cancel of unit %s failed", run.pk, unit.unit)
        _event(run, f"unit {unit.unit!r}: the cancel could not be sent to {unit.job_name}: {type(exc).__name__}: {exc}")


def _cancel(run: Run, orchestrator: Any, units: list[UnitJob]) -> str:
    _not_run(units)
    if _cancel_live(run, orchestrator, units, "the run is being cancelled"):
        return "cancelling"
    states = set(UnitJob.objects.filter(run=run).values_list("state", flat=True))
    if states == {UnitState.SUCCEEDED}:
        run.transition((RunStatus.CANCELLING,), RunStatus.COMPLETED, finished_at=timezone.now(),
                       reason="every unit's job succeeded; the cancel request came too late")  # fmt: skip
        return "completed"
    finish_cancelled(run, "every live unit job cancelled")
    return "cancelled"


def _stop_after(run: Run, orchestrator: Any, units: list[UnitJob], failed: UnitJob) -> str:
    """A unit failed: nothing more starts, live jobs are cancelled, and once none is live the run fails."""
    reason, message = _failure(run, failed)
    _not_run(units)
    if _cancel_live(run, orchestrator, units, f"stopped: {message}"):
        return "stopping"
    now = timezone.now()
    with transaction.atomic():
        # Steps of units cancelled because another failed did not fail themselves; nor can the record say
        # one still pending never ran: its runner may have started it and been stopped before its report
        # of that was posted. Its job was stopped, which is what the record says.
        cancelled = [name for u in UnitJob.objects.filter(run=run, state=UnitState.CANCELLED) for name in u.steps]
        unended = (StepStatus.PENDING, StepStatus.RUNNING)
        for step in StepRun.objects.filter(run=run, name__in=cancelled, status__in=unended):
            if StepRun.objects.filter(pk=step.pk, status=step.status).update(
                status=StepStatus.CANCELLED, finished_at=now, error=run.sanitize(f"Stopped: {message}")
            ):
                RunEvent.objects.create(
                    run=run, step=step, old_status=step.status, new_status=StepStatus.CANCELLED,
                    reason=run.sanitize(f"stopped: {message}"),
                )  # fmt: skip
        fail(run, reason, message)
    return "failed"


# Units of runs that ended elsewhere


def orphaned_units() -> Any:
    """Units whose run has ended but which may still have a job, or may still get one: the run ended through
    a path other than this driver (a reconcile pass that failed it, a stack error, an operator)."""
    return UnitJob.objects.filter(
        run__status__in=FINAL_RUN_STATES, state__in=[*LIVE_UNIT_STATES, UnitState.WAITING]
    ).select_related("run", "run__stack")


def stop_orphans(orchestrator_for: Any) -> int:
    """Cancel every job still live of a run that has ended, and follow each until Vertex confirms it ended,
    whichever way the run ended: the one place that makes sure no unit of an ended run runs on, billed.
    `orchestrator_for(stack)` gives a stack's orchestrator, or the exception making it raised. Returns how
    many units are still live."""
    live = 0
    by_run: dict[int, list[UnitJob]] = {}
    for unit in orphaned_units():
        by_run.setdefault(unit.run_id, []).append(unit)
    for units in by_run.values():
        run = units[0].run
        orchestrator = orchestrator_for(run.stack)
        try:
            if isinstance(orchestrator, Exception):
                raise orchestrator
            live += _stop_orphans_of(run, orchestrator, units)
        except Exception:
            logger.exception("run %s: stopping the units left live after it ended failed; trying again next pass",
                             run.pk)  # fmt: skip
            live += 1
    return live


def _stop_orphans_of(run: Run, orchestrator: Any, units: list[UnitJob]) -> int:
    why = f"the run ended {run.status}"
    _not_run(units)
    stale = timezone.now() - timedelta(seconds=SUBMIT_LEASE_SECONDS)
    for unit in units:
        if unit.state != UnitState.SUBMITTING or unit.job_name or (unit.claimed_at and unit.claimed_at > stale):
            continue
        # Its submitter went quiet: a job it made must be found to be cancelled; without one, nothing will run.
        job_name = orchestrator.find_job(unit_labels(run, unit))
        if job_name is not None:
            _record_job(run, orchestrator, unit, job_name, "found after its submitter stopped:")
        elif unit.move(UnitState.NOT_RUN, (UnitState.SUBMITTING,), claimed_at=None, ended_at=timezone.now()):
            _event(run, f"unit {unit.unit!r}: its submission was lost, and {why}: not run")
    with_jobs = [u for u in units if u.job_name and u.state in LIVE_UNIT_STATES]
    if with_jobs:
        with ThreadPoolExecutor(max_workers=min(SUBMIT_THREADS, len(with_jobs))) as pool:
            reports = list(pool.map(lambda unit: _lookup(orchestrator, unit.job_name), with_jobs))
        for unit, report in zip(with_jobs, reports):
            _settle_orphan(run, unit, report, why)
        _cancel_live(run, orchestrator, [u for u in with_jobs if u.state in LIVE_UNIT_STATES], why)
    return UnitJob.objects.filter(run=run, state__in=LIVE_UNIT_STATES).count()


def _settle_orphan(run: Run, unit: UnitJob, report: JobReport | Exception, why: str) -> None:
    """Move a unit of an ended run to the end its job reached; never submitted again (not even after a
    lost capacity), and never counted into the run, whose end is written."""
    after = f"after {why}"
    if isinstance(report, JobGone):
        _end_unit(run, unit, UnitState.FAILED, f"its Vertex AI job vanished {after}: {report}",
                  FailureReason.REMOTE_JOB_GONE)  # fmt: skip
    elif isinstance(report, JobLookupRefused):
        UnitJob.objects.filter(pk=unit.pk).update(lookup_refusals=F("lookup_refusals") + 1)
        if unit.lookup_refusals + 1 >= settings.FLOWSITE_RECONCILE_REFUSALS:
            # Nothing more can be learnt or done from here: say so, rather than ask for ever.
            _end_unit(run, unit, UnitState.FAILED, f"{report} {after}; whether its job still runs is not known: "
                      "check it in the Vertex AI console", FailureReason.STACK_ERROR)  # fmt: skip
    elif isinstance(report, Exception) or report.status not in (
        ExecutionStatus.COMPLETED, ExecutionStatus.CANCELLED, ExecutionStatus.FAILED
    ):  # fmt: skip
        return
    elif report.status == ExecutionStatus.COMPLETED:
        _end_unit(run, unit, UnitState.SUCCEEDED, f"job {report.state} {after}")
    elif report.status == ExecutionStatus.CANCELLED:
        _end_unit(run, unit, UnitState.CANCELLED, f"job {report.state} {after}")
    else:
        _end_unit(run, unit, UnitState.FAILED, f"Vertex AI job {report.state} {after}: {report.error or 'no error'}")


def _failure(run: Run, unit: UnitJob) -> tuple[str, str]:
    step = (
        StepRun.objects.filter(run=run, name__in=unit.steps, status=StepStatus.FAILED)
        .exclude(Q(error="") | Q(error__startswith="Not run"))
        .order_by("position")
        .first()
    )
    if step is not None:
        lines = step.error.strip().splitlines()
        return FailureReason.STEP_FAILED, f"step {step.name!r} failed: {lines[0] if lines else 'failed'}"
    return unit.failure_reason or FailureReason.REMOTE_JOB_FAILED, f"unit {unit.unit!r}: {unit.error}"
