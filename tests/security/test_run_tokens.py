"""A run token opens its own run's report endpoint and registers only that run's own artifacts."""

from __future__ import annotations

import json

import pytest

from runs.models import Artifact, Run, RunStatus
from tests.api.conftest import api  # noqa: F401
from tests.api.test_worker_api import AT, report, reporting_run
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def artifact(uri: str) -> dict:
    return {"kind": "artifact", "step": "hello", "name": "greeting", "uri": uri, "size": 3, "at": AT}


@pytest.fixture
def reporter(ready, stack):
    stack.config = {**(stack.config or {}), "artifact_uri": "file:///srv/flowsite/remote"}
    stack.save()
    return reporting_run(ready, stack)


def test_a_run_registers_an_artifact_under_its_own_prefix(reporter):
    client, run = reporter
    own = f"file:///srv/flowsite/remote/ml/{run.pk}/hello/greeting.pkl"
    response = report(client, run, json.dumps({"events": [artifact(own)]}).encode())
    assert response.status_code == 200, response.content
    assert list(Artifact.objects.filter(run=run).values_list("uri", flat=True)) == [own]


@pytest.mark.parametrize("name", ["value_type", "type"])
def test_an_artifacts_value_type_is_recorded_under_its_name_or_its_older_one(reporter, name):
    client, run = reporter
    own = f"file:///srv/flowsite/remote/ml/{run.pk}/hello/greeting.pkl"
    response = report(client, run, json.dumps({"events": [{**artifact(own), name: "builtins.str"}]}).encode())
    assert response.status_code == 200, response.content
    assert Artifact.objects.get(run=run).type == "builtins.str"


@pytest.mark.parametrize(
    "uri",
    [
        "file:///srv/flowsite/remote/other/7/train/model.pkl",  # another project's run
        "file:///srv/flowsite/remote/ml/{other}/hello/greeting.pkl",  # another run of this project
        "file:///srv/flowsite/remote/ml/{run}/../{other}/hello/greeting.pkl",  # climbing out
        "file:///srv/flowsite/remote/ml/{run}",  # the prefix itself
        "file:///etc/passwd",
        "gs://someone-elses-bucket/ml/{run}/hello/greeting.pkl",
    ],
)
def test_a_run_cannot_register_another_runs_file(reporter, uri):
    client, run = reporter
    other = Run.objects.trigger(project=make_project("other"), pipeline="greeting")
    uri = uri.format(run=run.pk, other=other.pk)
    response = report(client, run, json.dumps({"events": [artifact(uri)]}).encode())
    assert response.status_code == 400, response.content
    assert "events.0.uri" in response.json()["error"]["fields"]
    assert not Artifact.objects.exists()
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING


def test_a_run_token_past_its_deadline_is_refused_even_while_the_run_is_active(reporter):
    from django.utils import timezone

    from runs.models import RunToken

    client, run = reporter
    assert client.get(f"/api/remote/runs/{run.pk}/secrets/").json() == {"secrets": {"API_TOKEN": "hush-hush-value"}}
    RunToken.objects.filter(run=run).update(expires_at=timezone.now())
    assert client.get(f"/api/remote/runs/{run.pk}/secrets/").status_code == 401
    assert report(client, run, b'{"events": []}').status_code == 401


def test_only_the_runs_own_token_reads_its_secrets(reporter, api, owner):
    client, run = reporter
    other = Run.objects.trigger(project=run.project, pipeline="greeting")
    assert client.get(f"/api/remote/runs/{other.pk}/secrets/").status_code == 403
    assert api(owner, auth="token").get(f"/api/remote/runs/{run.pk}/secrets/").status_code == 401
