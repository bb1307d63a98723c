"""Small builders for the objects tests need; each takes overrides as keywords."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from accounts.models import Membership, Project, Role
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
