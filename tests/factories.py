"""Small builders for the objects tests need; each takes overrides as keywords."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model

from runs.models import Membership, Project, Role
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
    fields.setdefault("is_default", True)
    return Stack.objects.create(name=name, kind=kind, **fields)
