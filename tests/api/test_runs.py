"""/api/runs/ and /api/artifacts/: roles, filters, ordering, cursor pagination, triggering, cancel, retry."""

from __future__ import annotations

import base64
import json
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs.models import Artifact, PipelineDef, Run, RunEvent, RunStatus, StepRun, StepStatus
from runs.recording import path_of
from tests.factories import make_run, make_stack, make_user
from tests.runs.helpers import execute

from .helpers import TEST_PIPELINES, add_member, error, trigger

pytestmark = pytest.mark.django_db

# How each role signs in for the role matrix: every kind of authentication meets the same rules.
NOT_FOUND = ("not_found", "Not found.")


@pytest.fixture
def queued_run(ready, owner) -> Run:
    run = trigger(ready, "greeting", user=owner, name="Ada")
    Artifact.objects.create(
        run=run, step="hello", name="output", uri=f"inline:ml/{run.pk}/hello/output", data=pickle.dumps("hi"), size=17
    )
    return run


@pytest.fixture
def failed_run(ready, owner) -> Run:
    return make_run(ready, "exploding", RunStatus.FAILED, triggered_by=owner)


def code_and_message(response) -> tuple[str, str]:
    err = error(response)
    return err["code"], err["message"]


# --- the role matrix --------------------------------------------------------------------------

READERS = [("owner", 200), ("member", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)]
WRITERS = [("owner", True), ("member", True), ("viewer", 403), ("outsider", 404), ("anonymous", 401)]


@pytest.mark.parametrize(("who", "status"), READERS)
@pytest.mark.parametrize("suffix", ["", "steps/", "events/", "artifacts/", "logs/"])
def test_reading_a_run_and_its_parts(as_, queued_run, other_project, who, status, suffix):
    response = as_(who).get(f"/api/runs/{queued_run.pk}/{suffix}")
    assert response.status_code == status, response.content
    if status == 404:
        assert code_and_message(response) == NOT_FOUND
        return
    if status == 401:
        assert code_and_message(response) == ("not_authenticated", "Authentication credentials were not provided.")
        return
    body = response.json()
    if suffix == "":
        assert (body["id"], body["pipeline"], body["status"]) == (queued_run.pk, "greeting", "queued")
    elif suffix == "steps/":
        assert [(s["name"], s["status"]) for s in body] == [("hello", "pending")]
    elif suffix == "events/":
        assert [(e["old_status"], e["new_status"], e["reason"], e["actor"]) for e in body] == [
            ("", "queued", "triggered", "olivia")
        ]
    elif suffix == "artifacts/":
        assert [(a["step"], a["name"], a["storage"]) for a in body] == [("hello", "output", "inline")]
    else:
        assert body == {"lines": [], "next_after": 0, "run_status": "queued", "complete": False}


@pytest.mark.parametrize(("who", "status"), READERS)
@pytest.mark.parametrize("suffix", ["", "download/"])
def test_reading_an_artifact(as_, queued_run, other_project, who, status, suffix):
    artifact = queued_run.artifacts.get()
    response = as_(who).get(f"/api/artifacts/{artifact.pk}/{suffix}")
    assert response.status_code == status
    if status != 200:
        return
    if suffix:
        assert pickle.loads(b"".join(response.streaming_content) if response.streaming else response.content) == "hi"
    else:
        assert response.json()["download_url"] == f"http://testserver/api/artifacts/{artifact.pk}/download/"


@pytest.mark.parametrize("who", ["owner", "member", "viewer", "outsider", "anonymous"])
def test_listing_runs_shows_only_runs_of_your_projects(as_, queued_run, other_project, who):
    theirs = trigger(other_project, "greeting")
    response = as_(who).get("/api/runs/")
    if who == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    ids = [r["id"] for r in response.json()["results"]]
    assert ids == ([theirs.pk] if who == "outsider" else [queued_run.pk])


@pytest.mark.parametrize(("who", "outcome"), [*WRITERS[:3], ("outsider", 400), ("anonymous", 401)])
def test_triggering_a_run(as_, ready, other_project, who, outcome):
    response = as_(who).post(
        "/api/runs/", {"project": "ml", "pipeline": "greeting", "params": {"name": "API"}}, format="json"
    )
    if outcome is True:
        assert response.status_code == 201, response.content
        body = response.json()
        run = Run.objects.get(pk=body["id"])
        assert (run.project.slug, run.pipeline.name, run.stack.name) == ("ml", "greeting", "local")
        assert run.status == RunStatus.QUEUED
        assert run.params == {"name": "API", "ledger": ""}
        assert body["triggered_by"] == run.triggered_by.username == {"owner": "olivia", "member": "marco"}[who]
        assert (body["status"], body["steps_total"], body["steps_done"]) == ("queued", 1, 0)
        assert body["links"]["self"] == f"http://testserver/api/runs/{run.pk}/"
        return
    assert response.status_code == outcome
    assert not Run.objects.exists()
    if outcome == 403:
        assert code_and_message(response) == (
            "permission_denied",
            "viewers cannot start runs; ask a project owner for the member role",
        )
    elif outcome == 400:
        assert error(response)["fields"] == {"project": "no project 'ml' that you belong to"}


def test_a_fresh_run_is_recorded_and_shown_as_fresh(as_, ready):
    client = as_("member")
    body = {"project": "ml", "pipeline": "greeting", "cache": False}
    response = client.post("/api/runs/", body, format="json")
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert run.use_cache is False
    assert client.get(f"/api/runs/{run.pk}/").json()["cache"] is False
    plain = client.post("/api/runs/", {**body, "cache": True}, format="json").json()["id"]
    assert client.get(f"/api/runs/{plain}/").json()["cache"] is True

    refused = client.post("/api/runs/", {**body, "cache": "sometimes"}, format="json")
    assert refused.status_code == 400
    assert error(refused)["fields"] == {"cache": "Must be a valid boolean."}


def test_triggering_in_an_unknown_project_names_project(as_, ready):
    response = as_("owner").post("/api/runs/", {"project": "nope", "pipeline": "greeting"}, format="json")
    assert response.status_code == 400
    assert error(response)["fields"] == {"project": "no project 'nope' that you belong to"}


@pytest.mark.parametrize(("who", "outcome"), WRITERS)
def test_cancelling_a_run(as_, queued_run, other_project, who, outcome):
    response = as_(who).post(f"/api/runs/{queued_run.pk}/cancel/")
    queued_run.refresh_from_db()
    if outcome is True:
        assert response.status_code == 202, response.content
        assert response.json()["status"] == "cancelled"
        assert response.json()["cancelled_by"] == {"owner": "olivia", "member": "marco"}[who]
        assert queued_run.status == RunStatus.CANCELLED
        return
    assert response.status_code == outcome
    assert queued_run.status == RunStatus.QUEUED
    if outcome == 403:
        assert code_and_message(response) == ("permission_denied", "your role in this project does not allow this")
    if outcome == 404:
        assert code_and_message(response) == NOT_FOUND


@pytest.mark.parametrize(("who", "outcome"), WRITERS)
def test_retrying_a_run(as_, failed_run, other_project, who, outcome):
    response = as_(who).post(f"/api/runs/{failed_run.pk}/retry/")
    retries = Run.objects.filter(retry_of=failed_run)
    if outcome is True:
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["retry_of"], body["status"], body["pipeline"]) == (failed_run.pk, "queued", "exploding")
        assert [r.pk for r in retries] == [body["id"]]
        return
    assert response.status_code == outcome
    assert not retries.exists()
    if outcome == 403:
        assert code_and_message(response) == ("permission_denied", "your role in this project does not allow this")


def test_staff_are_outsiders_to_projects_they_are_not_in(api, queued_run, staff):
    client = api(staff)
    assert client.get("/api/runs/").json()["results"] == []
    assert client.get(f"/api/runs/{queued_run.pk}/").status_code == 404
    assert client.post(f"/api/runs/{queued_run.pk}/cancel/").status_code == 404


def test_a_superuser_sees_and_acts_on_every_run(api, queued_run):
    root = make_user("root", is_staff=True, is_superuser=True)
    client = api(root)
    assert [r["id"] for r in client.get("/api/runs/").json()["results"]] == [queued_run.pk]
    assert client.post(f"/api/runs/{queued_run.pk}/cancel/").status_code == 202


def test_an_unknown_run_is_404_for_everyone(as_, ready):
    for suffix in ("", "steps/", "events/", "artifacts/", "logs/"):
        assert as_("owner").get(f"/api/runs/999999/{suffix}").status_code == 404
    assert as_("owner").post("/api/runs/999999/cancel/").status_code == 404
    assert as_("owner").post("/api/runs/999999/retry/").status_code == 404
    assert as_("owner").get("/api/artifacts/999999/download/").status_code == 404


@pytest.mark.parametrize("suffix", ["", "steps/", "events/", "artifacts/", "logs/"])
def test_a_run_id_that_is_not_a_number_is_a_404_not_a_500(as_, ready, suffix):
    client = as_("owner")
    client.raise_request_exception = False  # a server error must show as the status a client sees
    response = client.get(f"/api/runs/abc/{suffix}")
    assert response.status_code == 404
    assert code_and_message(response) == NOT_FOUND


def test_runs_cannot_be_edited_or_deleted(as_, queued_run):
    client = as_("owner")
    assert client.patch(f"/api/runs/{queued_run.pk}/", {"status": "completed"}, format="json").status_code == 405
    assert client.delete(f"/api/runs/{queued_run.pk}/").status_code == 405
    assert Run.objects.get(pk=queued_run.pk).status == RunStatus.QUEUED


# --- filters ----------------------------------------------------------------------------------

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(ready, other_project, owner, member, outsider):
    """Runs of several kinds an hour apart, oldest first; olivia also views "lab"."""
    add_member(other_project, owner, "viewer")
    gpu = make_stack("gpu", is_default=False)
    specs = [
        # project, pipeline, stack, status, triggered_by
        (ready, "greeting", None, RunStatus.COMPLETED, owner),
        (ready, "arithmetic", None, RunStatus.FAILED, member),
        (ready, "greeting", gpu, RunStatus.CANCELLED, member),
        (other_project, "greeting", None, RunStatus.COMPLETED, outsider),
        (ready, "exploding", gpu, RunStatus.FAILED, owner),
        (ready, "greeting", None, RunStatus.QUEUED, None),
    ]
    runs = []
    for hour, (project, pipeline, stack, status, user) in enumerate(specs):
        run = Run.objects.trigger(project=project, pipeline=pipeline, stack=stack, user=user)
        Run.objects.filter(pk=run.pk).update(status=status, created_at=T0 + timedelta(hours=hour))
        runs.append(run)
    return runs


def test_the_runs_list_shows_each_run_exactly_as_the_run_itself_is_shown(as_, history, owner, member):
    """The list writes its rows out by hand (for speed): each must be what the serializer makes of the run."""
    started = T0 + timedelta(minutes=1)
    Run.objects.filter(pk=history[0].pk).update(started_at=started, finished_at=started + timedelta(seconds=90.5))
    Run.objects.filter(pk=history[1].pk).update(
        failure_reason="step_failed", failure_message="ValueError: nope", remote_console_url="https://console/x"
    )
    Run.objects.filter(pk=history[2].pk).update(cancel_requested_at=started, cancelled_by=member)
    Run.objects.filter(pk=history[4].pk).update(retry_of=history[1], params={"n": [1, {"x": None}], "s": "é"})
    client = as_("owner")
    listed = client.get("/api/runs/").json()["results"]
    assert len(listed) == len(history)
    for row in listed:
        shown = client.get(f"/api/runs/{row['id']}/").json()
        assert row == {name: shown[name] for name in row}
    assert [r["stack"] for r in listed].count("gpu") == 2 and any(r["retry_of"] for r in listed)


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


def newest_first(runs, *indexes) -> list[int]:
    return [runs[i].pk for i in sorted(indexes, reverse=True)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, [0, 1, 2, 3, 4, 5]),
        ({"project": "lab"}, [3]),
        ({"project": "ml"}, [0, 1, 2, 4, 5]),
        ({"project": "nope"}, []),
        ({"pipeline": "greeting"}, [0, 2, 3, 5]),
        ({"status": "failed"}, [1, 4]),
        ({"status": ["failed", "cancelled"]}, [1, 2, 4]),
        ({"status": ["completed", "queued"], "project": "ml"}, [0, 5]),
        ({"stack": "gpu"}, [2, 4]),
        ({"triggered_by": "marco"}, [1, 2]),
        ({"triggered_by": "oscar"}, [3]),
        ({"created_after": "2030-01-01T14:00:00Z"}, [2, 3, 4, 5]),
        ({"created_before": "2030-01-01T14:00:00Z"}, [0, 1]),
        ({"created_after": "2030-01-01T13:00:00Z", "created_before": "2030-01-01T15:00:00+00:00"}, [1, 2]),
        ({"created_after": "2030-01-01T14:00:00+02:00"}, [0, 1, 2, 3, 4, 5]),
        ({"pipeline": "greeting", "stack": "local", "status": "completed"}, [0, 3]),
    ],
)
def test_filters(as_, history, query, expected):
    assert ids_of(as_("owner").get("/api/runs/", query)) == newest_first(history, *expected)


def test_filters_never_reveal_other_projects(as_, history):
    assert ids_of(as_("member").get("/api/runs/", {"project": "lab"})) == []
    assert ids_of(as_("member").get("/api/runs/", {"triggered_by": "oscar"})) == []


@pytest.mark.parametrize(
    ("query", "field", "reason"),
    [
        ({"status": "bogus"}, "status", "Select a valid choice. bogus is not one of the available choices."),
        ({"status": ["failed", "nope"]}, "status", "Select a valid choice. nope is not one of the available choices."),
        ({"created_after": "yesterday"}, "created_after", "Enter a valid date/time."),
        ({"created_before": "2030-13-45"}, "created_before", "Enter a valid date/time."),
    ],
)
def test_bad_filter_values_are_a_400_naming_the_field(as_, history, query, field, reason):
    response = as_("viewer").get("/api/runs/", query)
    assert response.status_code == 400
    err = error(response)
    assert err["fields"] == {field: reason}
    assert err["message"] == f"{field}: {reason}"


def test_ordering_is_newest_first_by_default_and_oldest_first_on_request(as_, history):
    client = as_("owner")
    everything = [r.pk for r in history]
    assert ids_of(client.get("/api/runs/")) == everything[::-1]
    assert ids_of(client.get("/api/runs/", {"ordering": "-created_at"})) == everything[::-1]
    assert ids_of(client.get("/api/runs/", {"ordering": "created_at"})) == everything
    assert ids_of(client.get("/api/runs/", {"ordering": "created_at", "status": "failed"})) == [
        history[1].pk,
        history[4].pk,
    ]


# --- cursor pagination ------------------------------------------------------------------------


@pytest.fixture
def many_runs(ready, stack, owner) -> list[Run]:
    """120 runs a second apart, bulk-created; returned newest first."""
    definition = PipelineDef.objects.get(name="greeting")
    rows = [
        Run(
            project=ready,
            pipeline=definition,
            stack=stack,
            status=[RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.QUEUED][i % 3],
            params={"name": f"r{i}"},
            triggered_by=owner,
            created_at=T0 + timedelta(seconds=i),
        )
        for i in range(120)
    ]
    Run.objects.bulk_create(rows)
    runs = list(Run.objects.order_by("-created_at"))
    # Some steps, so that the step counts have something to count.
    StepRun.objects.bulk_create(
        StepRun(run=run, name=name, position=p, status=StepStatus.COMPLETED if p == 0 else StepStatus.PENDING)
        for run in runs[:60]
        for p, name in enumerate(("a", "b", "c"))
    )
    return runs


def walk(client, url: str, params: dict) -> list[list[dict]]:
    pages = []
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "next_cursor", "previous", "previous_cursor", "results"}
        pages.append(body["results"])
        assert len(pages) < 100, "the pages never end"
        if body["next"] is None:
            assert body["next_cursor"] is None
            return pages
        assert body["next"].startswith("http://testserver/api/runs/?")
        # The cursor alone leads where the link does, with the same query.
        by_cursor = client.get(url, {**params, "cursor": body["next_cursor"]})
        response = client.get(body["next"])
        assert by_cursor.json() == response.json()


def test_walking_every_page_shows_every_run_once_in_order(as_, many_runs):
    pages = walk(as_("viewer"), "/api/runs/", {"page_size": 25})
    assert [len(page) for page in pages] == [25, 25, 25, 25, 20]
    ids = [r["id"] for page in pages for r in page]
    assert ids == [r.pk for r in many_runs]
    assert len(set(ids)) == 120
    stamps = [r["created_at"] for page in pages for r in page]
    assert stamps == sorted(stamps, reverse=True)
    counts = {r["id"]: (r["steps_total"], r["steps_done"]) for page in pages for r in page}
    assert counts[many_runs[0].pk] == (3, 1) and counts[many_runs[-1].pk] == (0, 0)


def test_walking_oldest_first_with_a_filter(as_, many_runs):
    pages = walk(as_("owner"), "/api/runs/", {"page_size": 25, "ordering": "created_at", "status": "failed"})
    ids = [r["id"] for page in pages for r in page]
    assert ids == [r.pk for r in reversed(many_runs) if r.status == RunStatus.FAILED]
    assert [len(page) for page in pages] == [25, 15]


def test_previous_leads_back_to_the_page_before(as_, many_runs):
    client = as_("owner")
    first = client.get("/api/runs/", {"page_size": 25}).json()
    assert first["previous"] is None and first["previous_cursor"] is None
    second = client.get("/api/runs/", {"page_size": 25, "cursor": first["next_cursor"]}).json()
    back = client.get("/api/runs/", {"page_size": 25, "cursor": second["previous_cursor"]}).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert client.get(second["previous"]).json() == back


def test_page_size_defaults_to_50_and_takes_1_to_500(as_, many_runs):
    client = as_("owner")
    assert len(client.get("/api/runs/").json()["results"]) == 50
    assert len(client.get("/api/runs/", {"page_size": 500}).json()["results"]) == 120
    assert len(client.get("/api/runs/", {"page_size": 1}).json()["results"]) == 1


@pytest.mark.parametrize("page_size", ["0", "501", "100000", "-1", "ten", "2.5"])
def test_a_page_size_out_of_range_is_a_400_naming_the_range(as_, ready, page_size):
    for path in ("/api/runs/", "/api/pipelines/greeting/runs/"):
        response = as_("owner").get(path, {"page_size": page_size})
        assert response.status_code == 400, response.content
        assert error(response)["fields"] == {"page_size": f"must be a whole number from 1 to 500, not {page_size!r}"}


@pytest.mark.parametrize("ordering", ["bogus", "-bogus", "created_at,status", "pk"])
def test_an_unknown_ordering_is_a_400_naming_the_allowed_ones(as_, ready, ordering):
    for path in ("/api/runs/", "/api/pipelines/greeting/runs/"):
        response = as_("owner").get(path, {"ordering": ordering})
        assert response.status_code == 400, response.content
        [unknown] = [term for term in ordering.split(",") if term.lstrip("-") != "created_at"]
        assert error(response)["fields"] == {
            "ordering": f"unknown ordering {unknown!r}; one of: created_at, -created_at"
        }


def test_the_schema_lists_the_orderings_and_the_page_size_range(as_):
    schema = as_("owner").get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/runs/"]["get"]["parameters"]}
    assert parameters["ordering"] == {"type": "string", "enum": ["created_at", "-created_at"]}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        base64.b64encode(b"o=notanumber").decode(),
        base64.b64encode(b"p=not-a-date").decode(),
        base64.b64encode(b"p=2030-01-01T00:00:00Z&r=1&o=-5").decode(),
    ],
)
def test_a_garbage_cursor_is_a_400_naming_cursor(as_, many_runs, cursor):
    client = as_("owner")
    client.raise_request_exception = False  # a server error must show as the status a client sees
    response = client.get("/api/runs/", {"cursor": cursor})
    assert response.status_code == 400
    assert error(response)["fields"] == {"cursor": "not a cursor this API gave out"}


# --- constant queries -------------------------------------------------------------------------


def test_the_run_list_takes_the_same_queries_for_5_or_100_runs(
    as_, many_runs, django_assert_max_num_queries, django_assert_num_queries
):
    client = as_("viewer")  # a session: authentication costs the same on every request
    client.get("/api/runs/", {"page_size": 1})  # warm up: first-request work is not the endpoint's
    with django_assert_max_num_queries(5) as small:  # the ETag is read with the page (runs/api/conditional.py)
        response = client.get("/api/runs/", {"page_size": 5})
    queries = len(small)  # now: the log is cleared by the next request
    assert len(response.json()["results"]) == 5
    with django_assert_num_queries(queries):
        response = client.get("/api/runs/", {"page_size": 100, "status": ["completed", "failed", "queued"]})
    assert len(response.json()["results"]) == 100
    deep = client.get("/api/runs/", {"page_size": 100}).json()["next"]
    with django_assert_num_queries(queries):
        response = client.get(deep)
    assert len(response.json()["results"]) == 20


def test_a_pipelines_run_list_takes_the_same_queries_for_5_or_100_runs(
    as_, many_runs, django_assert_max_num_queries, django_assert_num_queries
):
    client = as_("viewer")
    client.get("/api/pipelines/greeting/runs/", {"page_size": 1})
    with django_assert_max_num_queries(6) as small:
        assert len(client.get("/api/pipelines/greeting/runs/", {"page_size": 5}).json()["results"]) == 5
    queries = len(small)
    with django_assert_num_queries(queries):
        assert len(client.get("/api/pipelines/greeting/runs/", {"page_size": 100}).json()["results"]) == 100


def test_a_runs_steps_events_and_artifacts_take_constant_queries(as_, ready, django_assert_num_queries):
    small = trigger(ready, "greeting")
    big = trigger(ready, "greeting")
    StepRun.objects.bulk_create(StepRun(run=big, name=f"extra{i}", position=i + 1) for i in range(50))
    RunEvent.objects.bulk_create(RunEvent(run=big, step=step, new_status="pending") for step in big.steps.all())
    Artifact.objects.bulk_create(Artifact(run=big, step=f"extra{i}", name="output", uri="inline:x") for i in range(50))
    Artifact.objects.create(run=small, step="hello", name="output", uri="inline:x")
    client = as_("viewer")
    for suffix in ("", "steps/", "events/", "artifacts/"):
        client.get(f"/api/runs/{small.pk}/{suffix}")
        with CaptureQueriesContext(connection) as few:
            assert client.get(f"/api/runs/{small.pk}/{suffix}").status_code == 200
        queries = len(few)
        with django_assert_num_queries(queries):
            assert client.get(f"/api/runs/{big.pk}/{suffix}").status_code == 200


# --- triggering: validation and idempotency ---------------------------------------------------


def post_run(client, body, **headers):
    return client.post("/api/runs/", body, format="json", **headers)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"project": "ml", "pipeline": "nope"},
            {"pipeline": f"unknown pipeline 'nope' (pipelines: {', '.join(sorted(TEST_PIPELINES | {'churn-model'}))})"},
        ),
        ({"project": "ml", "pipeline": "greeting", "stack": "moon"}, {"stack": "unknown stack 'moon' (stacks: local)"}),
        (
            {"project": "ml", "pipeline": "arithmetic", "params": {"m": 1}},
            {"params.m": "this pipeline takes no parameter 'm' (parameters: gate, ledger, n)"},
        ),
        (
            {"project": "ml", "pipeline": "arithmetic", "params": {"n": "five"}},
            {"params.n": "must be of type integer, not str 'five'"},
        ),
        (
            {"project": "ml", "pipeline": "arithmetic", "params": {"n": True}},
            {"params.n": "must be of type integer, not bool True"},
        ),
        (
            {"project": "ml", "pipeline": "arithmetic", "params": {"n": 1.5, "gate": 7}},
            {"params.n": "must be of type integer, not float 1.5", "params.gate": "must be of type string, not int 7"},
        ),
        (
            {"project": "ml", "pipeline": "greeting", "params": ["name", "x"]},
            {"params": 'Expected a dictionary of items but got type "list".'},
        ),
        (
            {"project": "ml", "pipeline": "greeting", "params": "name=x"},
            {"params": 'Expected a dictionary of items but got type "str".'},
        ),
        ({"pipeline": "greeting"}, {"project": "This field is required."}),
        ({"project": "ml"}, {"pipeline": "This field is required."}),
        ({"project": "ml", "pipeline": None}, {"pipeline": "This field may not be null."}),
    ],
)
def test_bad_trigger_requests_are_a_400_naming_the_field(as_, ready, body, fields):
    response = post_run(as_("member"), body)
    assert response.status_code == 400, response.content
    err = error(response)
    assert err["code"] == "invalid"
    assert err["fields"] == fields
    assert err["message"] == "; ".join(f"{k}: {v}" for k, v in fields.items())
    assert not Run.objects.exists()


def test_several_bad_fields_are_all_named(as_, ready):
    response = post_run(as_("member"), {"project": "ml", "pipeline": "arithmetic", "stack": "moon", "params": {"x": 1}})
    assert response.status_code == 400
    assert set(error(response)["fields"]) == {"stack", "params.x"}


def test_a_body_that_is_not_an_object_is_a_400(as_, ready):
    response = post_run(as_("member"), ["ml", "greeting"])
    assert response.status_code == 400
    assert error(response)["message"] == "non_field_errors: Invalid data. Expected a dictionary, but got list."
    assert not Run.objects.exists()


def test_malformed_json_is_a_400(as_, ready):
    response = as_("member").post("/api/runs/", '{"project": "ml", "pipeline": ', content_type="application/json")
    assert response.status_code == 400
    err = error(response)
    assert err["code"] == "parse_error"
    assert err["message"].startswith("JSON parse error - ")
    assert not Run.objects.exists()


def test_a_form_body_is_415(as_, ready):
    response = as_("member").post("/api/runs/", {"project": "ml", "pipeline": "greeting"})  # multipart
    assert response.status_code == 415
    assert error(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("auth", ["token", "session"])
def test_a_body_over_one_mebibyte_is_a_400_not_a_500(api, member, ready, auth):
    body = json.dumps({"project": "ml", "pipeline": "greeting", "params": {"name": "x" * (1024 * 1024)}})
    assert len(body) > 1024 * 1024
    response = api(member, auth=auth).post("/api/runs/", body, content_type="application/json")
    assert response.status_code == 400
    assert code_and_message(response) == ("parse_error", "the request body is larger than 1048576 bytes")
    assert not Run.objects.exists()


def test_a_body_just_under_the_limit_is_accepted(api, member, ready, settings):
    settings.FLOWSITE_MAX_PARAMS_BYTES = 2 * 1024 * 1024  # the body's limit, not the parameters', is under test
    name = "x" * (1024 * 1024 - 200)
    body = json.dumps({"project": "ml", "pipeline": "greeting", "params": {"name": name}})
    assert len(body) <= 1024 * 1024
    response = api(member, auth="token").post("/api/runs/", body, content_type="application/json")
    assert response.status_code == 201
    assert Run.objects.get().params["name"] == name


def test_the_stack_may_be_named_or_left_to_the_default(as_, ready):
    make_stack("gpu", is_default=False)
    named = post_run(as_("member"), {"project": "ml", "pipeline": "greeting", "stack": "gpu"})
    blank = post_run(as_("member"), {"project": "ml", "pipeline": "greeting", "stack": ""})
    assert (named.json()["stack"], blank.json()["stack"]) == ("gpu", "local")


def test_the_same_idempotency_key_returns_the_same_run(as_, ready):
    client = as_("member")
    body = {"project": "ml", "pipeline": "arithmetic", "params": {"n": 4}}
    first = post_run(client, body, HTTP_IDEMPOTENCY_KEY="ci-build-42")
    again = post_run(client, body, HTTP_IDEMPOTENCY_KEY="ci-build-42")
    assert first.status_code in (200, 201) and again.status_code in (200, 201)
    assert first.json()["id"] == again.json()["id"]
    assert Run.objects.count() == 1
    other = post_run(client, body, HTTP_IDEMPOTENCY_KEY="ci-build-43")
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]
    without = post_run(client, body)
    assert without.json()["id"] not in (first.json()["id"], other.json()["id"])
    assert Run.objects.count() == 3


def test_an_idempotency_key_belongs_to_one_project(api, ready, other_project, member, outsider):
    body = {"pipeline": "greeting"}
    ours = post_run(api(member), {**body, "project": "ml"}, HTTP_IDEMPOTENCY_KEY="nightly")
    theirs = post_run(api(outsider), {**body, "project": "lab"}, HTTP_IDEMPOTENCY_KEY="nightly")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != ours.json()["id"]
    assert theirs.json()["project"] == "lab"


def test_an_overlong_idempotency_key_is_a_400(as_, ready):
    response = post_run(as_("member"), {"project": "ml", "pipeline": "greeting"}, HTTP_IDEMPOTENCY_KEY="k" * 201)
    assert response.status_code == 400
    assert error(response)["fields"] == {"Idempotency-Key": "at most 200 characters"}
    assert not Run.objects.exists()


# --- cancel and retry -------------------------------------------------------------------------


def test_cancelling_a_queued_run_then_again_is_a_409_with_its_status(as_, queued_run):
    client = as_("member")
    first = client.post(f"/api/runs/{queued_run.pk}/cancel/")
    assert first.status_code == 202
    body = first.json()
    assert (body["status"], body["cancelled_by"], body["failure_reason"]) == ("cancelled", "marco", "cancelled")
    assert body["cancel_requested_at"] and body["finished_at"]
    steps = client.get(f"/api/runs/{queued_run.pk}/steps/").json()
    assert [s["status"] for s in steps] == ["cancelled"]
    again = client.post(f"/api/runs/{queued_run.pk}/cancel/")
    assert again.status_code == 409
    err = error(again)
    assert err["run_status"] == "cancelled"
    assert err["code"] == "conflict"
    assert err["message"] == f"run {queued_run.pk} is already cancelled; there is nothing to cancel"


def test_cancelling_a_running_run_asks_it_to_stop(as_, queued_run):
    Run.objects.filter(pk=queued_run.pk).update(status=RunStatus.RUNNING)
    response = as_("owner").post(f"/api/runs/{queued_run.pk}/cancel/")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelling"
    # Asking again while it stops is no error.
    assert as_("owner").post(f"/api/runs/{queued_run.pk}/cancel/").json()["status"] == "cancelling"


def test_retrying_an_unfinished_run_is_a_409(as_, queued_run):
    response = as_("owner").post(f"/api/runs/{queued_run.pk}/retry/")
    assert response.status_code == 409
    err = error(response)
    assert err["run_status"] == "queued"
    assert err["message"] == f"run {queued_run.pk} is still queued; wait for it to finish or cancel it"


@pytest.mark.django_db(transaction=True)
def test_retrying_a_failed_run_makes_a_new_run(as_, ready):
    failed = execute(trigger(ready, "exploding", message="boom"))
    assert failed.status == RunStatus.FAILED
    response = as_("member").post(f"/api/runs/{failed.pk}/retry/")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["retry_of"] == failed.pk
    assert body["id"] != failed.pk
    assert (body["pipeline"], body["stack"], body["params"], body["status"]) == (
        "exploding",
        "local",
        {"message": "boom"},
        "queued",
    )
    assert body["triggered_by"] == "marco"
    retried = Run.objects.get(pk=body["id"])
    assert retried.retry_of_id == failed.pk
    assert retried.events.get().reason == f"retry of run {failed.pk}"


@pytest.mark.django_db(transaction=True)
def test_retrying_a_completed_run_is_a_409(as_, ready):
    done = execute(trigger(ready, "greeting"))
    assert done.status == RunStatus.COMPLETED
    response = as_("member").post(f"/api/runs/{done.pk}/retry/")
    assert response.status_code == 409
    err = error(response)
    assert (err["run_status"], err["message"]) == ("completed", f"run {done.pk} completed; there is nothing to retry")
    assert Run.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_finished_run_is_a_409_with_its_status(as_, ready):
    done = execute(trigger(ready, "exploding"))
    response = as_("owner").post(f"/api/runs/{done.pk}/cancel/")
    assert response.status_code == 409
    err = error(response)
    assert err["run_status"] == "failed"
    assert err["message"] == f"run {done.pk} is already failed; there is nothing to cancel"


# --- an executed run's details, steps, events, artifacts --------------------------------------


@pytest.mark.django_db(transaction=True)
def test_run_detail_has_steps_durations_and_links(as_, ready, owner):
    run = execute(trigger(ready, "arithmetic", user=owner, n=4))
    assert run.status == RunStatus.COMPLETED
    client = as_("viewer")
    response = client.get(f"/api/runs/{run.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["steps_total"], body["steps_done"]) == ("completed", 2, 2)
    assert body["triggered_by"] == "olivia"
    assert body["duration_seconds"] == pytest.approx((run.finished_at - run.started_at).total_seconds())
    assert body["duration_seconds"] > 0
    assert body["params"] == {"n": 4, "ledger": "", "gate": ""}
    assert body["code_version"] == run.pipeline.code_version
    assert body["worker_host"] and body["heartbeat_at"]
    assert [(s["name"], s["status"], s["attempts"], s["position"]) for s in body["steps"]] == [
        ("produce", "completed", 1, 0),
        ("add_up", "completed", 1, 1),
    ]
    for step in body["steps"]:
        assert step["duration_seconds"] is not None and step["duration_seconds"] >= 0
        assert step["started_at"] <= step["finished_at"]
    base = f"http://testserver/api/runs/{run.pk}/"
    for name in ("self", "steps", "events", "logs", "artifacts"):
        link = body["links"][name]
        assert link == base + ("" if name == "self" else f"{name}/")
        assert client.get(link).status_code == 200, name
    assert body["links"]["cancel"] == base + "cancel/" and body["links"]["retry"] == base + "retry/"


@pytest.mark.django_db(transaction=True)
def test_steps_events_and_artifacts_of_an_executed_run(as_, ready, owner):
    run = execute(trigger(ready, "greeting", user=owner, name="Ada"))
    client = as_("viewer")

    steps = client.get(f"/api/runs/{run.pk}/steps/").json()
    assert len(steps) == 1
    step = run.steps.get()
    assert steps[0]["name"] == "hello" and steps[0]["status"] == "completed" and steps[0]["cached"] is False
    assert steps[0]["duration_seconds"] == pytest.approx(step.duration_seconds)
    assert steps[0]["output_artifact"] == step.output_artifact_id

    events = client.get(f"/api/runs/{run.pk}/events/").json()
    run_level = [(e["old_status"], e["new_status"]) for e in events if e["step"] is None]
    assert run_level == [("", "queued"), ("queued", "running"), ("running", "completed")]
    assert events[0]["actor"] == "olivia"
    step_level = [(e["old_status"], e["new_status"]) for e in events if e["step"] == "hello"]
    assert ("running", "completed") in step_level
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)

    artifacts = client.get(f"/api/runs/{run.pk}/artifacts/").json()
    artifact = Artifact.objects.get(run=run)
    assert artifacts == [
        {
            "id": artifact.pk,
            "run": run.pk,
            "step": "hello",
            "name": "greeting",
            "value_type": "builtins.str",
            "type": "builtins.str",
            "size": artifact.size,
            "digest": artifact.digest,
            "storage": "inline",
            "preview": {"kind": "text", "text": "hello Ada", "length": 9, "type": "builtins.str"},
            "created_at": artifacts[0]["created_at"],
            "download_url": f"http://testserver/api/artifacts/{artifact.pk}/download/",
        }
    ]

    download = client.get(artifacts[0]["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"] == f'attachment; filename="run{run.pk}-hello-greeting.pkl"'
    data = b"".join(download.streaming_content) if download.streaming else download.content
    assert data == bytes(artifact.data)
    assert pickle.loads(data) == "hello Ada"


@pytest.mark.django_db(transaction=True)
def test_a_large_artifact_is_streamed_from_its_file(api, ready, viewer, outsider):
    run = execute(trigger(ready, "arithmetic", n=30000))
    artifact = Artifact.objects.get(run=run, step="produce")
    assert artifact.uri.startswith("file://"), "big enough to be stored as a file"
    response = api(viewer, auth="token").get(f"/api/artifacts/{artifact.pk}/download/")
    assert response.status_code == 200
    assert response.streaming
    data = b"".join(response.streaming_content)
    assert data == path_of(artifact.uri).read_bytes()
    assert len(data) == artifact.size
    assert pickle.loads(data) == list(range(30000))
    assert response["Content-Disposition"] == f'attachment; filename="run{run.pk}-produce-numbers.pkl"'

    denied = api(outsider).get(f"/api/artifacts/{artifact.pk}/download/")
    assert denied.status_code == 404
    assert code_and_message(denied) == NOT_FOUND


@pytest.mark.django_db(transaction=True)
def test_an_artifact_whose_file_is_gone_is_404(api, ready, viewer):
    run = execute(trigger(ready, "arithmetic", n=30000))
    artifact = Artifact.objects.get(run=run, step="produce")
    Path(path_of(artifact.uri)).unlink()
    response = api(viewer).get(f"/api/artifacts/{artifact.pk}/download/")
    assert response.status_code == 404
    assert error(response)["message"] == "the artifact's file is not available on this server"


def test_an_artifact_pointing_outside_the_artifact_root_is_not_served(api, queued_run, viewer):
    artifact = Artifact.objects.create(run=queued_run, step="hello", name="evil", uri="file:///etc/passwd")
    response = api(viewer).get(f"/api/artifacts/{artifact.pk}/download/")
    assert response.status_code == 404
    assert b"root:" not in response.content


def test_a_pipeline_no_worker_has_is_refused_with_a_409_naming_why(as_, ready):
    PipelineDef.objects.create(name="nowhere", module="elsewhere", code_version="0123abcd", dag={"nodes": []})
    response = post_run(as_("member"), {"project": "ml", "pipeline": "nowhere"})
    assert response.status_code == 409, response.content
    assert "no worker has pipeline 'nowhere'" in error(response)["message"]
    # A newer version that only the web tier recorded is refused too, naming the versions workers have.
    current = PipelineDef.objects.filter(name="greeting").latest("created_at")
    PipelineDef.objects.create(name="greeting", module=current.module, code_version="feedface", dag=current.dag)
    response = post_run(as_("member"), {"project": "ml", "pipeline": "greeting"})
    assert response.status_code == 409, response.content
    assert (
        f"no worker has version feedface of pipeline 'greeting' (workers have {current.code_version})"
        in (error(response)["message"])
    )
    assert not Run.objects.exists()
