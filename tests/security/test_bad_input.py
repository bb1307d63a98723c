"""Input no database can store is a 400 in the API's error shape, never a 500 (PostgreSQL and SQLite)."""

from __future__ import annotations

import pytest

from runs.models import Run
from tests.api.conftest import api, member, outsider, project, staff, viewer  # noqa: F401
from tests.api.helpers import error

BODIES = {
    "NUL in a parameter": '{"project": "ml", "pipeline": "greeting", "params": {"name": "a\\u0000b"}}',
    "lone surrogate": '{"project": "ml", "pipeline": "greeting", "params": {"name": "caf\\udce9"}}',
    "NUL in a key": '{"project": "ml", "pipeline": "greeting", "params": {"na\\u0000me": "x"}}',
    "infinity": '{"project": "ml", "pipeline": "arithmetic", "params": {"n": 1e400}}',
    "NaN": '{"project": "ml", "pipeline": "arithmetic", "params": {"n": NaN}}',
    "nested 5,000 deep": '{"project": "ml", "pipeline": "greeting", "params": {"name": ' + "[" * 5000 + "]" * 5000 + "}}",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_a_trigger_with_unstorable_json_is_a_400(api, member, ready, body):
    response = api(member, auth="token").post("/api/runs/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert error(response)["message"].startswith("JSON parse error")
    assert not Run.objects.exists()


def test_a_stack_config_key_with_a_nul_is_a_400(api, staff):
    body = '{"name": "nul", "kind": "local", "config": {"env": {"A\\u0000": "1"}}}'
    response = api(staff, auth="token").post("/api/stacks/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    error(response)


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/?pipeline=gree%00ting",
        "/api/runs/?search=%00",
        "/api/pipelines/gre%00eting/",
        "/api/pipelines/gre%00eting/runs/",
        "/api/projects/m%00l/",
        "/api/projects/ml/members/?username=ol%00ivia",
    ],
)
def test_a_nul_in_a_path_or_query_is_never_a_500(api, member, ready, path):
    response = api(member, auth="token").get(path)
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code != 200:
        error(response)


def test_a_nul_in_a_log_filter_is_never_a_500(api, member, ready):
    run = Run.objects.trigger(project=ready, pipeline="greeting")
    response = api(member, auth="token").get(f"/api/runs/{run.pk}/logs/?step=hel%00lo")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        error(response)
