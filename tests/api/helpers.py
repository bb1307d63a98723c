"""Small helpers the API tests share."""

from __future__ import annotations

from typing import Any

from accounts.models import Membership, Project, Role
from flowsite.engine import Pipeline
from runs.models import Run
from tests import pipelines as test_pipelines

# The pipelines the test settings register, besides the examples.
TEST_PIPELINES = {value.name for value in vars(test_pipelines).values() if isinstance(value, Pipeline)}


def trigger(project: Project, pipeline: str = "greeting", user: Any = None, **params: Any) -> Run:
    """A queued run, made without the API."""
    return Run.objects.trigger(project=project, pipeline=pipeline, params=params, user=user)


def error(response: Any) -> dict[str, Any]:
    """The error body every API error has, checked for its shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"status", "code", "message", "fields"} <= set(body["error"]), body
    assert body["error"]["status"] == response.status_code
    return body["error"]


def add_member(project: Project, user: Any, role: str) -> Membership:
    return Membership.objects.create(project=project, user=user, role=Role(role))
