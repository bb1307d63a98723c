"""The control plane's cache, for units placed on remote jobs.

Keys are the engine's own (`Step.get_cache_key` over a step's inputs and parameters), so a remote unit
is served from what a local run stored and the other way round: a local run reads a remote entry's
output through its stack's own client; a remote unit served from an entry whose outputs another unit's
job will read, but cannot reach where they are (a local run's, in this control plane's database or
disk), has them copied into the run's own prefix of the stack's artifact_uri first. Before a unit is submitted, its steps'
keys are computed here from their input values; if every step has an entry, the unit is served from
the cache and no job is submitted. After a unit's job succeeded, each step the runner reported a key
for (it computes them, and never serves from cache itself) gets an entry pointing at its output.
"""

from __future__ import annotations

import logging
import pickle
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from flowsite.engine import Context
from flowsite.engine.executor import step_params
from flowsite.engine.outputs import SkippedOutput, map_inputs
from flowsite.engine.pipeline import unit_steps
from flowsite.engine.stores import safe_segment
from unitjobs.models import UnitJob, UnitState

from .models import Artifact, CacheEntry, Run, RunEvent, StepRun, StepStatus
from .remote_artifacts import StackArtifacts, readable_by_jobs, run_artifact_prefix

logger = logging.getLogger(__name__)


def outputs_of(run: Run, step_names: list[str]) -> dict[tuple[str, str], Artifact]:
    """Each output of these steps by (step, output name): the run's own, or for a step served from cache,
    those of the run that made them."""
    found = {
        (a.step, a.name): a for a in Artifact.objects.filter(run=run, step__in=step_names).select_related("run__stack")
    }
    reused = StepRun.objects.filter(run=run, name__in=step_names, cached=True, output_artifact__isnull=False)
    for name, source_run in reused.values_list("name", "output_artifact__run_id"):
        for artifact in Artifact.objects.filter(run_id=source_run, step=name).select_related("run__stack"):
            found.setdefault((name, artifact.name), artifact)
    return found


def _value(artifact: Artifact, store: StackArtifacts) -> Any:
    data = Artifact.objects.values_list("data", flat=True).get(pk=artifact.pk)
    return store.value(artifact.uri, bytes(data) if data is not None else None, artifact.run.stack)


def serve(run: Run, pipeline: Any, unit: UnitJob) -> bool:
    """Serve the waiting unit from the cache if every one of its steps has an entry; True if it was."""
    steps = unit_steps(pipeline.unit(unit.unit))
    # Cheap first: without an entry for each step's code, no input need be read to know it misses.
    for step in steps:
        if step.cache is False or step.condition is not None or not step.outputs:
            return False
        if not CacheEntry.objects.filter(step=step.name).exists():
            return False
    producers = {output: s.name for s in pipeline.steps for output in s.outputs}
    consumed = {name for s in pipeline.steps if s.name not in unit.steps for name in s.inputs}
    store = StackArtifacts()
    context = Context(**run.params)
    values: dict[str, Any] = {}
    hits: list[tuple[str, CacheEntry]] = []
    copies: list[Artifact] = []
    try:
        outputs = outputs_of(run, unit.needs)
        for step in steps:
            for name in step.inputs:
                if name in values:
                    continue
                artifact = outputs.get((producers[name], name))
                if artifact is None:
                    return False  # a skipped step's or a None output: the job decides what follows
                values[name] = _value(artifact, store)
            inputs = map_inputs(step, values)
            if any(type(value) is SkippedOutput for value in inputs.values()):
                return False
            key = step.get_cache_key(inputs, step_params(step, context))
            entry = CacheEntry.objects.filter(key=key).select_related("artifact__run__stack").first() if key else None
            if entry is None:
                return False
            for artifact in Artifact.objects.filter(run_id=entry.artifact.run_id, step=entry.step).select_related(
                "run__stack"
            ):
                if artifact.name in consumed and not readable_by_jobs(artifact.uri, run.stack):
                    # A later unit's job will read it: it must be where the job can.
                    copies.append(artifact)
                values[artifact.name] = _value(artifact, store)
            hits.append((step.name, entry))
    except (OSError, ValueError, pickle.UnpicklingError) as exc:
        # An input or an entry that cannot be read costs a job, never a wrong result.
        logger.warning("run %s unit %s: the cache could not be consulted (%s); submitting", run.pk, unit.unit, exc)
        return False
    copied = _copy_for_jobs(run, unit, copies, store)
    if copied is None:
        return False
    now = timezone.now()
    with transaction.atomic():
        if not unit.move(UnitState.SUCCEEDED, (UnitState.WAITING,), ended_at=now):
            return False
        Artifact.objects.bulk_create(copied)
        for name, entry in hits:
            reason = run.sanitize(f"served from cache: the output of run {entry.artifact.run_id}; no job submitted")
            step_pk = StepRun.objects.get(run=run, name=name).pk
            StepRun.objects.filter(pk=step_pk).update(
                status=StepStatus.CACHED, cached=True, cache_key=entry.key, output_artifact_id=entry.artifact_id,
                started_at=now, finished_at=now, duration_seconds=0.0,
            )  # fmt: skip
            RunEvent.objects.create(run=run, step_id=step_pk, old_status=StepStatus.PENDING,
                                    new_status=StepStatus.CACHED, reason=reason)  # fmt: skip
        RunEvent.objects.create(run=run, old_status=run.status, new_status=run.status,
                                reason=f"unit {unit.unit!r} served from cache; no job submitted")  # fmt: skip
    return True


def _copy_for_jobs(run: Run, unit: UnitJob, artifacts: list[Artifact], store: StackArtifacts) -> list[Artifact] | None:
    """Copies, in the run's own prefix of the stack's artifact_uri, of cached outputs later units' jobs will
    read but cannot reach where they are (a local run's, in this control plane's database or disk): rows
    to record with the unit, or None if they could not be made (then the unit's job runs instead)."""
    prefix = run_artifact_prefix(run)
    copies = []
    for artifact in artifacts:
        uri = f"{prefix}{safe_segment(artifact.step)}/{safe_segment(artifact.name)}.pkl"
        if not prefix or not readable_by_jobs(uri, run.stack):
            return None
        data = Artifact.objects.values_list("data", flat=True).get(pk=artifact.pk)
        try:
            store.write(uri, store.payload(artifact.uri, bytes(data) if data is not None else None,
                                           artifact.run.stack), run.stack)  # fmt: skip
        except DatabaseError:
            raise
        except Exception as exc:
            # A bucket this control plane may not write, Google unreachable: a job costs more, but runs.
            logger.warning("run %s unit %s: the cached output %r of run %s could not be copied for its jobs "
                           "(%s: %s); submitting", run.pk, unit.unit, artifact.name, artifact.run_id,
                           type(exc).__name__, exc)  # fmt: skip
            return None
        copies.append(
            Artifact(
                run=run,
                step=artifact.step,
                name=artifact.name,
                uri=uri,
                size=artifact.size,
                digest=artifact.digest,
                type=artifact.type,
                preview=artifact.preview,
            )  # fmt: skip
        )
    return copies


def remember(run: Run, pipeline: Any, unit: UnitJob) -> None:
    """Cache entries for the steps of a unit whose job succeeded, from the keys its runner reported."""
    steps = {step.name: step for step in unit_steps(pipeline.unit(unit.unit))}
    reported = StepRun.objects.filter(run=run, name__in=list(steps), status=StepStatus.COMPLETED).exclude(cache_key="")
    for name, key in reported.values_list("name", "cache_key"):
        first = Artifact.objects.filter(run=run, step=name).order_by("id").first()
        if first is None:
            continue  # nothing stored (the step returned None): nothing to serve later
        CacheEntry.objects.update_or_create(
            key=key, defaults={"step": name, "code_hash": steps[name].get_code_hash(), "artifact": first}
        )
