"""Small builders for the objects tests need; each takes overrides as keywords."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import Membership, Project, Role
from runs.models import FINAL_RUN_STATES, FINAL_STEP_STATES, PipelineDef, Run, RunStatus, StepRun, StepStatus
from stacks.models import Stack

_counter = itertools.count(1)


def make_user(username: str | None = None, **fields: Any) -> Any:
    username = username or f"user{next(_counter)}"
    user = get_user_model().objects.create_user(username=username, password="pw", **fields)
    return user


def make_project(slug: str | None = None, members: dict[str, Any] | None = None, **fields: Any) -> Project:
    slug = slug or f"project-{next(_counter)}"
    project = Project.objects.create(slug=slug, name=fields.pop("name", slug.title()), **fields)
    for role, user in (members or {}).items():
        Membership.objects.create(project=project, user=user, role=Role(role))
    return project


def make_stack(name: str = "local", kind: str = "local", **fields: Any) -> Stack:
    """A stack every project may run on, unless the test says otherwise (tests/security/test_stack_grants.py)."""
    fields.setdefault("is_default", True)
    fields.setdefault("open_to_all_projects", True)
    return Stack.objects.create(name=name, kind=kind, **fields)


def make_run(project: Project, pipeline: str = "greeting", status: str = RunStatus.QUEUED, **fields: Any) -> Run:
    """A run row as it stands in `status`, made directly (no steps, no events: see `make_step_run`), for tests
    about reading runs rather than running them. The pipeline's latest recorded definition (one is recorded
    if there is none) and the default stack unless given; a started run has started_at, an ended one
    finished_at too."""
    if "pipeline_def" in fields:
        definition = fields.pop("pipeline_def")
    else:
        definition = PipelineDef.objects.filter(name=pipeline).order_by("-created_at", "-id").first()
        if definition is None:
            definition = PipelineDef.objects.create(name=pipeline, module="tests.pipelines", code_version="test")
    if "stack" not in fields:
        fields["stack"] = Stack.objects.filter(is_default=True).first() or make_stack()
    now = timezone.now()
    if status not in (RunStatus.QUEUED, RunStatus.PROVISIONING):
        fields.setdefault("started_at", now)
    if status in FINAL_RUN_STATES:
        fields.setdefault("finished_at", now)
    return Run.objects.create(project=project, pipeline=definition, status=status, **fields)


def make_step_run(run: Run, name: str, status: str = StepStatus.PENDING, **fields: Any) -> StepRun:
    """A step of the run, after its others; a cached or skipped step is marked so, an ended one has its times."""
    fields.setdefault("position", run.steps.count())
    fields.setdefault("cached", status == StepStatus.CACHED)
    fields.setdefault("skipped", status == StepStatus.SKIPPED)
    now = timezone.now()
    if status in (StepStatus.RUNNING, StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CACHED):
        fields.setdefault("started_at", now)
    if status in FINAL_STEP_STATES:
        fields.setdefault("finished_at", now)
    return StepRun.objects.create(run=run, name=name, status=status, **fields)


STACK_ACTIONS = ("add", "change", "delete", "view")


def give_stack_permissions(user: Any, *actions: str) -> Any:
    """Give `user` the stacks model permissions named ("add", "change", ...), as a superuser does in the admin."""
    codenames = [f"{action}_stack" for action in actions or STACK_ACTIONS]
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="stacks", codename__in=codenames))
    return user


def make_metric(run: Any, step: str, name: str, value: float, step_index: int | None = None) -> Any:
    """A metric the run's step recorded, numbered after the run's others."""
    from django.utils import timezone

    from runs.models import Metric

    seq = Metric.objects.filter(run=run).count() + 1
    return Metric.objects.create(
        run=run,
        step=run.steps.get(name=step),
        seq=seq,
        name=name,
        value=value,
        step_index=step_index,
        at=timezone.now(),
    )
