"""Starting runs: validate what was asked, record the run and its steps, and queue it for a worker.

The run is committed first and handed to the task broker after: a broker that refuses leaves a
queued run with no task id, which the sweeper (`runs.sweeper`) hands over once the broker answers.
A trigger therefore succeeds whenever the database does; the broker only decides when the run starts.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.models import Project
from stacks.models import Stack
from stacks.registry import remote_kinds

from . import registry
from .models import PipelineDef, Run, RunEvent, RunStatus, StepRun
from .parameters import resolve_params

logger = logging.getLogger(__name__)

# What a broker raises when it cannot take a task: Redis down or unreachable, or the database that
# is the ORM broker refusing the write. Anything else is a bug and is left to surface.
BROKER_ERRORS: tuple[type[Exception], ...] = (RedisError, DatabaseError, OSError)


class TriggerError(ValueError):
    """What was asked cannot start a run; `errors` maps each field to its reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors.items()))
        self.errors = errors


class StackNotGranted(TriggerError):
    """The stack exists but the project may not run on it: a refusal of permission, not bad input."""


class CodeUnavailable(TriggerError):
    """The request is valid, but no worker has the pipeline's code: nothing could run it now."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key already started a run from a different request; `differs` names what differs."""

    def __init__(self, run: Run, key: str, differs: list[str]) -> None:
        super().__init__(
            f"the Idempotency-Key {key!r} already started run {run.pk} with a different {' and '.join(differs)}; "
            "use a new key for a different request"
        )
        self.run = run
        self.differs = differs


def trigger_run(
    *,
    project: Project,
    pipeline: str,
    stack: Stack | str | None = None,
    params: Any = None,
    user: Any = None,
    idempotency_key: str | None = None,
    retry_of: Run | None = None,
    use_cache: bool = True,
) -> Run:
    """Create a queued run with its pending steps in one transaction and enqueue it once committed.

    A replayed `idempotency_key` returns the run it first created (see `trigger_or_replay`). When
    the broker is unavailable the run is still returned, queued with no task id, and starts once
    the sweeper hands it over.
    """
    run, _ = trigger_or_replay(
        project=project, pipeline=pipeline, stack=stack, params=params, user=user,
        idempotency_key=idempotency_key, retry_of=retry_of, use_cache=use_cache,
    )  # fmt: skip
    return run


def trigger_or_replay(
    *,
    project: Project,
    pipeline: str,
    stack: Stack | str | None = None,
    params: Any = None,
    user: Any = None,
    idempotency_key: str | None = None,
    retry_of: Run | None = None,
    use_cache: bool = True,
) -> tuple[Run, bool]:
    """`trigger_run`, also saying whether the run is an earlier one that `idempotency_key` replayed.

    A key names one request: replaying it with another pipeline, stack or parameters (compared once
    resolved, so leaving out a default is the same request) raises IdempotencyConflict.
    """
    if idempotency_key:
        existing = _keyed_run(project, idempotency_key)
        if existing is not None:
            return _replay(existing, idempotency_key, pipeline, stack, params, use_cache), True

    definition, stack_row, resolved = check_request(project, pipeline, stack, params)
    # Local workers run only the code versions they have recorded; a remote job brings its own image.
    if stack_row.kind not in remote_kinds():
        missing = registry.unavailable(definition.name, definition.code_version)
        if missing is not None:
            raise CodeUnavailable({"pipeline": missing})

    try:
        with transaction.atomic():
            run = Run.objects.create(
                project=project,
                pipeline=definition,
                stack=stack_row,
                params=resolved,
                triggered_by=user if user is not None and user.is_authenticated else None,
                idempotency_key=idempotency_key or None,
                retry_of=retry_of,
                use_cache=use_cache,
                created_at=timezone.now(),
            )
            StepRun.objects.bulk_create(
                StepRun(run=run, name=node["name"], group=node.get("group") or "", position=position)
                for position, node in enumerate(definition.dag.get("nodes", []))
            )
            reason = f"retry of run {retry_of.pk}" if retry_of is not None else "triggered"
            if not use_cache:
                reason += ", fresh: the cache is not used"
            RunEvent.objects.create(run=run, new_status=RunStatus.QUEUED, reason=reason, actor=run.triggered_by)
            transaction.on_commit(lambda: enqueue(run))
    except IntegrityError:
        if idempotency_key:
            # A concurrent request with the same key won the race: this one is its replay.
            existing = _keyed_run(project, idempotency_key)
            if existing is not None:
                return _replay(existing, idempotency_key, pipeline, stack, params, use_cache), True
        raise
    return run, False


def check_request(
    project: Project, pipeline: str, stack: Stack | str | None, params: Any
) -> tuple[PipelineDef, Stack, dict[str, Any]]:
    """The pipeline's latest definition, the stack and the resolved parameters a run would get.

    TriggerError names each bad field (`pipeline`, `stack`, `params.<name>`); StackNotGranted comes first.
    Schedules check what they are given here too, so a schedule takes exactly what a trigger takes.
    """
    errors: dict[str, str] = {}
    definition = PipelineDef.objects.filter(name=pipeline).order_by("-created_at", "-id").first()
    if definition is None:
        known = ", ".join(sorted(set(PipelineDef.objects.values_list("name", flat=True)))) or "none registered"
        errors["pipeline"] = f"unknown pipeline {pipeline!r} (pipelines: {known})"
    stack_row = _resolve_stack(stack, project, errors)
    resolved: dict[str, Any] = {}
    if definition is not None:
        resolved, param_errors = resolve_params(definition.parameters, params)
        errors.update({f"params.{name}" if name != "params" else name: reason for name, reason in param_errors.items()})
    if errors or definition is None or stack_row is None:
        raise TriggerError(errors)
    return definition, stack_row, resolved


def _keyed_run(project: Project, key: str) -> Run | None:
    return Run.objects.filter(project=project, idempotency_key=key).select_related("pipeline").first()


def _replay(existing: Run, key: str, pipeline: str, stack: Stack | str | None, params: Any, use_cache: bool) -> Run:
    """The run `key` started, if this request is the one that started it; IdempotencyConflict if not."""
    differs = []
    if pipeline != existing.pipeline.name:
        differs.append("pipeline")
    stack_errors: dict[str, str] = {}
    stack_row = _resolve_stack(stack, existing.project, stack_errors)
    if stack_errors or stack_row is None or stack_row.pk != existing.stack_id:
        differs.append("stack")
    # Resolved against the code version the run was triggered for: a newer version with a new
    # default must not turn a faithful replay into a conflict.
    resolved, param_errors = resolve_params(existing.pipeline.parameters, params)
    if param_errors or resolved != existing.params:
        differs.append("params")
    if use_cache != existing.use_cache:
        differs.append("cache")
    if differs:
        raise IdempotencyConflict(existing, key, differs)
    return existing


def stack_for(project: Project, stack: Stack | str | None = None) -> Stack:
    """The stack a run of `project` would go to; StackNotGranted or TriggerError if there is none it may use."""
    errors: dict[str, str] = {}
    found = _resolve_stack(stack, project, errors)
    if found is None:
        raise TriggerError(errors)
    return found


def _resolve_stack(stack: Stack | str | None, project: Project, errors: dict[str, str]) -> Stack | None:
    """The stack asked for (or the default), if the project may run on it.

    A stack the project may not use raises StackNotGranted at once: whatever else is wrong with the
    request, that is the answer that matters. An unknown stack is named beside the project's own.
    """
    if isinstance(stack, Stack):
        found: Stack | None = stack
    elif stack:
        found = Stack.objects.filter(name=stack).first()
        if found is None:
            usable = ", ".join(Stack.objects.granted_to(project).values_list("name", flat=True))
            usable = usable or f"none granted to project {project.slug!r}"
            errors["stack"] = f"unknown stack {stack!r} (stacks: {usable})"
    else:
        found = Stack.default()
        if found is None:
            errors["stack"] = "no stack given and no default stack is configured"
    if found is not None and not found.is_granted_to(project):
        which = f"stack {found.name!r}" if stack else f"no stack given, and the default stack {found.name!r}"
        raise StackNotGranted(
            {"stack": f"{which} is not granted to project {project.slug!r}; staff grant stacks to projects"}
        )
    return found


def enqueue(run: Run, broker: Any = None) -> bool:
    """Hand the committed run to the task broker and record the task id; False if the broker refused.

    A refusal leaves the run queued with its task id unchanged, logs why for the operator and tells
    the run's history why it waits; the run itself is never undone.
    """
    from django_q.tasks import async_task

    try:
        task_id = async_task("runs.tasks.execute_run", run.pk, task_name=f"run-{run.pk}", hook=None, broker=broker)
    except BROKER_ERRORS as exc:
        logger.warning("run %s stays queued: the task broker refused it (%s: %s)", run.pk, type(exc).__name__, exc)
        # The broker's address and error stay in the operator's log; the run's viewers learn why it waits.
        RunEvent.objects.create(
            run_id=run.pk,
            old_status=RunStatus.QUEUED,
            new_status=RunStatus.QUEUED,
            reason="the task broker was unavailable; the run waits and is handed to it again once it answers",
        )
        return False
    Run.objects.filter(pk=run.pk).update(task_id=str(task_id or ""))
    run.task_id = str(task_id or "")
    return True
