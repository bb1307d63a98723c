"""/api/pipelines/: the registered pipelines, and each one's run history as the caller may see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs.models import PipelineDef
from runs.registry import get_pipeline
from stacks.models import Stack
from tests.factories import make_project

from .helpers import TEST_PIPELINES, error, trigger

pytestmark = pytest.mark.django_db


def test_the_list_has_every_registered_pipeline_by_name(api, ready, viewer):
    response = api(viewer, auth="token").get("/api/pipelines/")
    assert response.status_code == 200
    names = [p["name"] for p in response.json()]
    assert names == sorted(names)
    assert set(names) == TEST_PIPELINES | {"churn-model"}


def test_a_pipeline_shows_its_code_version_dag_and_parameters(api, ready, outsider):
    # Pipelines are not per project: anyone signed in sees them.
    listed = {p["name"]: p for p in api(outsider).get("/api/pipelines/").json()}
    arithmetic = listed["arithmetic"]
    assert arithmetic["code_version"] == get_pipeline("arithmetic").code_version()
    assert arithmetic["description"] == "Produce numbers, then add them up."
    assert arithmetic["module"] == "tests.pipelines"
    assert [node["name"] for node in arithmetic["dag"]["nodes"]] == ["produce", "add_up"]
    assert arithmetic["dag"]["edges"] == [["produce", "add_up"]]
    assert [node["upstream"] for node in arithmetic["dag"]["nodes"]] == [[], ["produce"]]
    params = {p["name"]: (p["json_type"], p["required"], p["default"]) for p in arithmetic["parameters"]}
    assert params == {"n": ("integer", False, 3), "ledger": ("string", False, ""), "gate": ("string", False, "")}
    assert all(p["type"] == p["json_type"] for p in arithmetic["parameters"]), "the older name stays, deprecated"
    assert arithmetic["dag"]["groups"] == []
    assert arithmetic["runs_url"] == "http://testserver/api/pipelines/arithmetic/runs/"
    lingering = {p["name"]: (p["json_type"], p["default"]) for p in listed["lingering"]["parameters"]}
    assert lingering["seconds"] == ("number", 60.0)
    assert lingering["mode"] == ("string", "python")


def test_a_pipelines_step_groups_are_listed_with_their_steps(api, ready, member):
    churn = api(member).get("/api/pipelines/churn-model/").json()
    grouped = [node["name"] for node in churn["dag"]["nodes"] if node["group"] == "features"]
    assert len(grouped) == 2
    assert churn["dag"]["groups"] == [{"name": "features", "steps": grouped}]


def test_a_parameter_that_takes_any_json_has_a_null_json_type(api, ready, member):
    PipelineDef.objects.filter(name="greeting").update(
        parameters=[
            {"name": "x", "type": "", "required": True, "default": None, "default_repr": "", "steps": ["hello"]}
        ]
    )
    [spec] = api(member).get("/api/pipelines/greeting/").json()["parameters"]
    assert (spec["json_type"], spec["type"], spec["required"]) == (None, "", True)


def test_retrieve_by_name(api, ready, member):
    response = api(member).get("/api/pipelines/greeting/")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "greeting"
    assert body["description"] == "One step that says hello."
    assert [n["name"] for n in body["dag"]["nodes"]] == ["hello"]
    assert body["dag"]["edges"] == []
    assert api(member).get("/api/pipelines/no-such-pipeline/").status_code == 404


def test_only_the_latest_code_version_of_a_pipeline_is_listed(api, ready, member):
    current = PipelineDef.objects.get(name="greeting")
    old = PipelineDef.objects.create(
        name="greeting", module="tests.pipelines", code_version="0ld", dag={}, parameters=[]
    )
    PipelineDef.objects.filter(pk=old.pk).update(created_at=current.created_at - timedelta(days=1))
    listed = [p for p in api(member).get("/api/pipelines/").json() if p["name"] == "greeting"]
    assert [p["code_version"] for p in listed] == [current.code_version]
    assert api(member).get("/api/pipelines/greeting/").json()["code_version"] == current.code_version


def test_anonymous_gets_401(api, ready):
    assert api().get("/api/pipelines/").status_code == 401
    assert api().get("/api/pipelines/greeting/").status_code == 401
    response = api().get("/api/pipelines/greeting/runs/")
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"


def test_pipelines_are_read_only(api, ready, staff):
    assert api(staff).post("/api/pipelines/", {"name": "x"}, format="json").status_code == 405
    assert api(staff).delete("/api/pipelines/greeting/").status_code == 405


def test_a_pipelines_runs_are_only_those_the_caller_may_see(api, ready, other_project, viewer, outsider):
    ours = [trigger(ready, "greeting", name=f"ml{i}") for i in range(3)]
    theirs = trigger(other_project, "greeting", name="lab")
    trigger(ready, "arithmetic")  # another pipeline: never listed under greeting

    mine = api(viewer).get("/api/pipelines/greeting/runs/")
    assert mine.status_code == 200
    body = mine.json()
    assert [r["id"] for r in body["results"]] == [r.pk for r in reversed(ours)], "newest first"
    assert {r["pipeline"] for r in body["results"]} == {"greeting"}
    assert body["next"] is None

    others = api(outsider).get("/api/pipelines/greeting/runs/").json()
    assert [r["id"] for r in others["results"]] == [theirs.pk]


def test_a_pipelines_runs_are_cursor_paginated(api, ready, owner):
    runs = [trigger(ready, "greeting", name=str(i)) for i in range(5)]
    now = timezone.now()
    for age, run in enumerate(reversed(runs)):
        type(run).objects.filter(pk=run.pk).update(created_at=now - timedelta(seconds=age))
    client = api(owner)
    first = client.get("/api/pipelines/greeting/runs/", {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    ids = [r["id"] for page in (first, second, third) for r in page["results"]]
    assert ids == [r.pk for r in reversed(runs)]
    assert third["next"] is None


def test_a_user_in_no_project_sees_no_runs(api, ready, staff):
    trigger(ready, "greeting")
    make_project("empty")
    assert api(staff).get("/api/pipelines/greeting/runs/").json()["results"] == []


def test_the_pipeline_list_takes_constant_queries(api, ready, member, django_assert_num_queries):
    client = api(member)
    client.get("/api/pipelines/")
    with CaptureQueriesContext(connection) as few:
        count = len(client.get("/api/pipelines/").json())
    queries = len(few)
    PipelineDef.objects.bulk_create(
        PipelineDef(name=f"extra-{i}", module="m", code_version=f"v{i}", dag={"nodes": [], "edges": []}, parameters=[])
        for i in range(30)
    )
    with django_assert_num_queries(queries):
        assert len(client.get("/api/pipelines/").json()) == count + 30


def test_a_pipeline_says_on_which_stacks_no_worker_has_its_code(api, ready, member):
    assert api(member).get("/api/pipelines/greeting/").json()["unavailable_on"] == {}
    current = PipelineDef.objects.filter(name="greeting").latest("created_at")
    PipelineDef.objects.create(name="greeting", module=current.module, code_version="feedface", dag=current.dag)
    Stack.objects.create(name="cloud", kind="vertex", config={"project": "p", "location": "us-central1"})
    listed = {p["name"]: p for p in api(member).get("/api/pipelines/").json()}
    # A Vertex job brings its own image, so only the stacks whose workers run the code are named.
    assert listed["greeting"]["unavailable_on"] == {
        "local": f"no worker has version feedface of pipeline 'greeting' (workers have {current.code_version}): "
        "ship the code to the workers and run sync_pipelines there"
    }
    assert listed["arithmetic"]["unavailable_on"] == {}


def test_the_runs_of_an_unknown_pipeline_are_a_404_naming_it(api, ready, member):
    response = api(member).get("/api/pipelines/nowhere/runs/")
    assert response.status_code == 404
    assert error(response)["message"] == "no pipeline named 'nowhere'"
