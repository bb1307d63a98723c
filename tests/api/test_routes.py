"""Paths under /api/: only the documented ones answer; anything else is a 404 in the API's error shape."""

from __future__ import annotations

import pytest

from .helpers import error, trigger

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/runs.json", "/api/runs/1.json", "/api/runs/1/steps.json", "/api/projects.api", "/api/stacks/1.json"]
)
def test_format_suffixes_are_not_routes(as_, ready, stack, path):
    run = trigger(ready)
    response = as_("member").get(path.replace("runs/1", f"runs/{run.pk}").replace("stacks/1", f"stacks/{stack.pk}"))
    assert response.status_code == 404, response.content
    assert error(response)["code"] == "not_found"
